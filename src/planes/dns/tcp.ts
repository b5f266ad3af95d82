import type { Socket } from "node:net";

/** DNS over TCP, bounded (RFC 7766 §6.2.3: the server decides how many connections and for how long). */
export interface DnsTcpLimits {
  /** open connections per process; at the cap the longest-idle one is closed for the new one */
  maxConnections: number;
  /** a connection with no complete query (and no answer owed) for this long is closed */
  idleTimeoutMs: number;
  /** queries of one connection waiting for an answer (forwarded ones); beyond it the connection is not read */
  maxInFlight: number;
  /** the largest query accepted; a longer length prefix closes the connection */
  maxQueryBytes: number;
}

export const DEFAULT_TCP_LIMITS: DnsTcpLimits = {
  maxConnections: 256,
  idleTimeoutMs: 10_000,
  // A stub resolver pipelines a handful (A + AAAA per search domain); 32 leaves room and bounds timers upstream.
  maxInFlight: 32,
  // A query is a header, one question (≤ 259 bytes) and an OPT with a few options (cookie, padding to 468):
  // 4 KiB is far above any real one and keeps a slow sender's buffer small.
  maxQueryBytes: 4096,
};

/** Over half full, idle connections get this much at most (Unbound shrinks its idle timeout the same way). */
const BUSY_IDLE_MS = 1000;
/** A connection owed an answer is kept past the idle timeout, but not past this (an answer is at most seconds away). */
const STUCK_MS = 30_000;

export type CloseReason = "idle" | "evicted" | "refused" | "oversize";

/**
 * Answers one message; returns true when the answer will come later through `connection.send`
 * (exactly once), false when it was sent already or there is none.
 */
export type Answerer = (msg: Buffer, connection: TcpConnection) => boolean;

const EMPTY = Buffer.alloc(0);

/** One client connection: length-prefixed framing in, answers out, with backpressure both ways. */
export class TcpConnection {
  readonly socket: Socket;
  readonly family: 4 | 6;
  readonly address: string;
  /** when the last complete query arrived or the last owed answer left (ms) */
  lastActiveMs: number;
  /** answers owed */
  inFlight = 0;
  private readonly pool: TcpConnections;
  private buffered: Buffer = EMPTY;
  /** inside a synchronous answer: a send then is not one of the owed answers */
  private dispatching = false;
  private writeBlocked = false;
  private paused = false;

  constructor(socket: Socket, pool: TcpConnections, nowMs: number) {
    this.socket = socket;
    this.pool = pool;
    this.family = socket.remoteFamily === "IPv6" ? 6 : 4;
    this.address = socket.remoteAddress ?? "";
    this.lastActiveMs = nowMs;
  }

  /** Frames and writes one answer; never throws. One bound function per connection, not per answer. */
  readonly send = (out: Buffer): void => {
    const owed = !this.dispatching && this.inFlight > 0;
    if (owed) {
      this.inFlight--;
      this.lastActiveMs = Date.now();
      this.pool.touch(this);
    }
    if (this.socket.destroyed) return;
    const framed = Buffer.allocUnsafe(2 + out.length);
    framed.writeUInt16BE(out.length, 0);
    out.copy(framed, 2);
    // A client that pipelines questions but does not read the answers must not grow our buffers.
    if (!this.socket.write(framed) && !this.writeBlocked) {
      this.writeBlocked = true;
      this.socket.once("drain", this.onDrain);
    }
    if (owed) this.process();
    else this.updateReading();
  };

  onData(chunk: Buffer): void {
    this.buffered = this.buffered.length ? Buffer.concat([this.buffered, chunk]) : chunk;
    this.process();
  }

  close(): void {
    this.socket.destroy();
  }

  private readonly onDrain = (): void => {
    this.writeBlocked = false;
    this.process();
  };

  /** Answers the complete messages buffered, while the client reads and owes fewer than maxInFlight. */
  private process(): void {
    const { maxInFlight, maxQueryBytes } = this.pool.limits;
    let took = false;
    while (!this.writeBlocked && this.inFlight < maxInFlight && !this.socket.destroyed) {
      const buffered = this.buffered;
      if (buffered.length < 2) break;
      const length = buffered.readUInt16BE(0);
      if (length > maxQueryBytes) {
        // Nothing this long is a query; waiting for its bytes would only hold memory and a descriptor.
        this.pool.closed("oversize");
        this.socket.destroy();
        return;
      }
      if (buffered.length < 2 + length) break;
      const msg = Buffer.from(buffered.subarray(2, 2 + length));
      this.buffered = buffered.length === 2 + length ? EMPTY : buffered.subarray(2 + length);
      took = true;
      this.dispatching = true;
      let later: boolean;
      try {
        later = this.pool.answer(msg, this);
      } catch {
        // A fault while answering closes this connection, never the process.
        this.socket.destroy();
        return;
      } finally {
        this.dispatching = false;
      }
      if (later) this.inFlight++;
    }
    if (took) {
      // Only complete queries count as activity: a client trickling bytes does not keep its connection.
      this.lastActiveMs = Date.now();
      this.pool.touch(this);
    }
    this.updateReading();
  }

  private updateReading(): void {
    const stop = this.writeBlocked || this.inFlight >= this.pool.limits.maxInFlight;
    if (stop === this.paused || this.socket.destroyed) return;
    this.paused = stop;
    if (stop) this.socket.pause();
    else this.socket.resume();
  }
}

/**
 * The open connections, least recently active first. At the cap a new connection closes the
 * longest-idle one (RFC 7766 §6.2.3 lets a server close idle connections), so idle clients
 * cannot lock new ones out; only when every connection is owed an answer is the new one refused.
 */
export class TcpConnections {
  readonly limits: DnsTcpLimits;
  readonly answer: Answerer;
  private readonly open = new Set<TcpConnection>();
  private readonly onClose: (reason: CloseReason) => void;
  private timer: NodeJS.Timeout | undefined;

  constructor(limits: DnsTcpLimits, answer: Answerer, onClose: (reason: CloseReason) => void = () => {}) {
    this.limits = limits;
    this.answer = answer;
    this.onClose = onClose;
  }

  get size(): number {
    return this.open.size;
  }

  /** Takes a new socket, making room if needed; undefined when it was refused (and destroyed). */
  admit(socket: Socket): TcpConnection | undefined {
    if (this.open.size >= this.limits.maxConnections && !this.evictIdle()) {
      this.closed("refused");
      socket.destroy();
      return undefined;
    }
    const connection = new TcpConnection(socket, this, Date.now());
    this.open.add(connection);
    socket.on("close", () => this.open.delete(connection));
    socket.on("data", (chunk: Buffer) => connection.onData(chunk));
    this.timer ??= setInterval(() => this.sweep(Date.now()), sweepInterval(this.limits.idleTimeoutMs)).unref();
    return connection;
  }

  /** Moves a connection to the most recently active end. */
  touch(connection: TcpConnection): void {
    if (!this.open.delete(connection)) return;
    this.open.add(connection);
  }

  closed(reason: CloseReason): void {
    this.onClose(reason);
  }

  /** Closes connections idle past the timeout (a short one when over half full). */
  sweep(nowMs: number): void {
    const limit = this.idleLimitMs();
    for (const connection of this.open) {
      const idle = nowMs - connection.lastActiveMs;
      // least recently active first: once one is fresh, so are the rest
      if (idle <= limit) break;
      if (connection.inFlight > 0 && idle <= STUCK_MS) continue;
      this.open.delete(connection);
      this.closed("idle");
      connection.close();
    }
    if (this.open.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  closeAll(): void {
    for (const connection of this.open) connection.close();
    this.open.clear();
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private idleLimitMs(): number {
    const { idleTimeoutMs, maxConnections } = this.limits;
    return this.open.size * 2 > maxConnections ? Math.min(idleTimeoutMs, BUSY_IDLE_MS) : idleTimeoutMs;
  }

  private evictIdle(): boolean {
    for (const connection of this.open) {
      if (connection.inFlight > 0) continue;
      this.open.delete(connection);
      this.closed("evicted");
      connection.close();
      return true;
    }
    return false;
  }
}

function sweepInterval(idleTimeoutMs: number): number {
  return Math.max(50, Math.min(BUSY_IDLE_MS, Math.floor(idleTimeoutMs / 4)));
}
