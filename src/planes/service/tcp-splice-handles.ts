import type { Endpoint } from "../../snapshot/snapshot.ts";
import { isDescriptorExhaustion } from "../../util/fd-budget.ts";
import type { ConnectionGate } from "./fd-guard.ts";
import { ForwardedConnection, type Timers } from "./forwarded.ts";
import type { Pool } from "./pool.ts";
import { readBuffers } from "./read-buffers.ts";
import type { ShutdownRequest, TcpHandle, TcpHandles, WriteRequest } from "./tcp-handles.ts";

const LINK = Symbol("nodeplane.handle-splice");
type Linked<T> = T & { [LINK]?: HandleSplice | undefined };

/** set by `useHandles` before the first HandleSplice exists */
let H: TcpHandles;

/**
 * The write request handed to every write: a write the kernel takes at once (the common case) never
 * binds it, so one object serves them all; a write that has to wait keeps it, and a new spare is made.
 */
let spareWrite: Linked<WriteRequest>;

/** connections spliced on handles so far (tests check which path served them) */
export const handleSplices = { count: 0 };

export function useHandles(handles: TcpHandles): void {
  if (H === handles) return;
  H = handles;
  spareWrite = handles.newWrite();
}

/**
 * One proxied connection spliced on the libuv TCP handles themselves (see tcp-handles.ts for why and
 * the fallback). Same behaviour as the `net.Socket` Splice in tcp-listener.ts:
 *
 * - the client is not read before the upstream is connected (so a retried dial loses nothing);
 * - each side reads straight into a pooled buffer (`useUserBuffer`, 4 KiB, 256 KiB once a read fills
 *   one) and the bytes are written to the other side from there. A write the kernel does not take at
 *   once keeps its buffer and stops reading its source until it completes: at most one read buffer in
 *   flight per direction, backpressure both ways, nothing unbounded;
 * - an end of stream from one side is passed on as a FIN (shutdown) once its bytes are written; when
 *   both sides have ended, both handles are closed (the close sends the last FIN, no shutdown needed);
 * - a reset or any error on one side resets the other;
 * - dial retry on the next endpoint, dial and idle timeouts by the listener's sweeps, tracked in the
 *   pool for the endpoint grace period, metrics as plain counters.
 *
 * Measured (proxy pinned to one core, wrk on the other, CPU from /proc, A/B in one window, Node 24):
 * l4-connrate (-c32, `Connection: close`) 96-122 µs of CPU per connection on the net.Socket path,
 * 63-74 µs here (HAProxy mode tcp: 42-51 µs); l4-keepalive (-c64) 11.3-13.4 µs per request on the
 * net.Socket path, 11.1-11.9 µs here (HAProxy 9.7-10.5 µs); V8 heap per idle connection 3.3 → 1.4 KiB.
 * What is left is mostly the kernel (72-82% of the process's CPU: connect, write, close and the
 * wake-ups of the peers) and Node's C++ callback entry per read.
 */
export class HandleSplice extends ForwardedConnection {
  private readonly client: Linked<TcpHandle>;
  private upstream: Linked<TcpHandle> | undefined;
  done = false;
  private clientBuffer: Buffer | undefined;
  private upstreamBuffer: Buffer | undefined;
  /** the buffer of the write in flight towards upstream / towards the client (its source is stopped) */
  private upBusy: Buffer | undefined;
  private downBusy: Buffer | undefined;
  /** that side sent its FIN */
  private clientEnded = false;
  private upstreamEnded = false;
  /**
   * A shutdown is in flight on that side. Such a handle must be closed, not reset: libuv refuses the
   * reset (EINVAL) and Node then marks the handle closing without closing it, so it would stay open.
   */
  private clientShutting = false;
  private upstreamShutting = false;
  /** TLS passthrough: the bytes read before the upstream was chosen, written to it first */
  private prelude: Buffer | undefined;

  constructor(
    client: TcpHandle,
    timers: Timers,
    pool: Pool,
    clientIp: string | undefined,
    attempts: Endpoint[],
    gate: ConnectionGate,
    prelude?: Buffer,
  ) {
    super(timers, pool, clientIp, attempts, gate);
    this.client = client;
    this.prelude = prelude;
    handleSplices.count++;
  }

  dial(): void {
    const endpoint = this.attempts[this.attempt]!;
    const upstream: Linked<TcpHandle> = H.newSocket();
    upstream.setNoDelay(true);
    upstream[LINK] = this;
    this.upstream = upstream;
    const req: Linked<ReturnType<TcpHandles["newConnect"]>> = H.newConnect();
    req[LINK] = this;
    req.oncomplete = onConnect;
    const err = endpoint.ip.includes(":")
      ? upstream.connect6(req, endpoint.ip, endpoint.port)
      : upstream.connect(req, endpoint.ip, endpoint.port);
    if (err !== 0) {
      if (isDescriptorExhaustion(err)) this.gate.exhausted();
      this.dialFailed(upstream);
      return;
    }
    this.dialSeen = false;
    this.timers.dial.add(this);
  }

  connectedUp(upstream: TcpHandle): void {
    if (upstream !== this.upstream || this.done) return;
    this.timers.dial.delete(this);
    this.connectedTo();
    const client = this.client;
    client[LINK] = this;
    this.clientBuffer = readBuffers.take(false);
    this.upstreamBuffer = readBuffers.take(false);
    client.onread = onRead;
    upstream.onread = onRead;
    client.useUserBuffer(this.clientBuffer);
    upstream.useUserBuffer(this.upstreamBuffer);
    if (this.prelude !== undefined && this.writePrelude(upstream)) {
      // the client is read once the prelude is written (see `written`)
      if (!this.done && upstream.readStart() !== 0) this.closeBoth(true);
      return;
    }
    if (client.readStart() !== 0 || upstream.readStart() !== 0) this.closeBoth(true);
  }

  /** Writes the prelude upstream; true when the write has to wait (it then holds the client's reading). */
  private writePrelude(upstream: TcpHandle): boolean {
    const prelude = this.prelude!;
    this.prelude = undefined;
    const req = spareWrite;
    if (upstream.writeBuffer(req, prelude) !== 0) {
      this.closeBoth(true);
      return true;
    }
    if (H.state[H.kLastWriteWasAsync] === 0) return false;
    spareWrite = H.newWrite();
    req.handle = upstream;
    req[LINK] = this;
    req.oncomplete = onWritten;
    this.upBusy = prelude;
    return true;
  }

  /** A connect failed or timed out: next endpoint, or reset the client when none is left. */
  dialFailed(upstream: TcpHandle): void {
    if (upstream !== this.upstream || this.done) return;
    this.timers.dial.delete(this);
    this.pool.metrics.dialFailures.inc();
    this.upstream = undefined;
    upstream.close();
    if (++this.attempt < this.attempts.length) {
      this.dial();
    } else {
      this.pool.metrics.rejected.inc();
      this.done = true;
      this.gate.release();
      resetHandle(this.client);
    }
  }

  /** `from` read `nread` bytes into its buffer: write them to the other side; returns the next buffer. */
  relay(from: TcpHandle, nread: number): Buffer | undefined {
    this.activity++;
    const up = from === this.client;
    const to = up ? this.upstream! : this.client;
    const buffer = (up ? this.clientBuffer : this.upstreamBuffer)!;
    const req = spareWrite;
    const err = to.writeBuffer(req, nread === buffer.length ? buffer : buffer.subarray(0, nread));
    if (err !== 0) {
      this.closeBoth(true);
      return undefined;
    }
    let next: Buffer | undefined;
    if (H.state[H.kLastWriteWasAsync] !== 0) {
      // The kernel did not take it all: the write keeps the buffer (and the request), `from` stops
      // reading until it completes.
      spareWrite = H.newWrite();
      req.handle = to;
      req[LINK] = this;
      req.oncomplete = onWritten;
      if (up) this.upBusy = buffer;
      else this.downBusy = buffer;
      from.readStop();
      next = readBuffers.successor(buffer, nread);
    } else {
      next = readBuffers.resized(buffer, nread);
    }
    if (next !== undefined) {
      if (up) this.clientBuffer = next;
      else this.upstreamBuffer = next;
    }
    return next;
  }

  /** A write that had to wait completed: its buffer is free, its source reads again. */
  written(to: TcpHandle, status: number): void {
    if (this.done) return;
    const up = to === this.upstream;
    const buffer = up ? this.upBusy : this.downBusy;
    if (up) this.upBusy = undefined;
    else this.downBusy = undefined;
    if (buffer) readBuffers.give(buffer);
    if (status !== 0) {
      this.closeBoth(true);
      return;
    }
    // (a source whose write is in flight is stopped, so it cannot have ended meanwhile)
    const from = up ? this.client : this.upstream!;
    if (from.readStart() !== 0) this.closeBoth(true);
  }

  /** `from` sent its FIN (all its bytes are written on, see `written`): pass it on. */
  ended(from: TcpHandle): void {
    const up = from === this.client;
    if (up) this.clientEnded = true;
    else this.upstreamEnded = true;
    if (this.clientEnded && this.upstreamEnded) {
      this.closeBoth(false);
      return;
    }
    const to = up ? this.upstream! : this.client;
    if (up) this.upstreamShutting = true;
    else this.clientShutting = true;
    const req: Linked<ShutdownRequest> = H.newShutdown();
    req.handle = to;
    req[LINK] = this;
    req.oncomplete = onShutdown;
    if (to.shutdown(req) !== 0) this.closeBoth(true);
  }

  shutdownDone(to: TcpHandle, status: number): void {
    if (this.done) return;
    if (to === this.client) this.clientShutting = false;
    else this.upstreamShutting = false;
    if (status !== 0) this.closeBoth(true);
  }

  /** A read error (a reset, mostly) on one side: reset the other. */
  failed(): void {
    this.closeBoth(true);
  }

  /** Closes both handles (resetting them after an error) and accounts the connection. */
  private closeBoth(reset: boolean): void {
    if (this.done) return;
    this.done = true;
    this.gate.release();
    const client = this.client;
    const upstream = this.upstream!;
    const pool = this.pool;
    const metrics = pool.metrics;
    metrics.active.dec();
    metrics.bytesIn.inc(client.bytesRead);
    metrics.bytesOut.inc(client.bytesWritten);
    pool.untrack(this.endpoint, this);
    this.timers.idle.delete(this);
    if (reset) {
      if (this.clientShutting) client.close();
      else resetHandle(client);
      if (this.upstreamShutting) upstream.close();
      else resetHandle(upstream);
    } else {
      client.close();
      upstream.close();
    }
    // Closed handles read no more; buffers of writes still in flight are left to the collector.
    if (this.clientBuffer) readBuffers.give(this.clientBuffer);
    if (this.upstreamBuffer) readBuffers.give(this.upstreamBuffer);
    this.clientBuffer = undefined;
    this.upstreamBuffer = undefined;
  }

  /** Tracked: the endpoint left (after its grace period), the idle timeout, or plane shutdown. */
  close(): void {
    if (this.connected) {
      this.closeBoth(false);
      return;
    }
    if (this.done) return;
    this.done = true;
    this.gate.release();
    this.timers.dial.delete(this);
    this.upstream?.close();
    this.upstream = undefined;
    this.client.close();
  }

  dialTimedOut(): void {
    if (!this.connected && this.upstream) this.dialFailed(this.upstream);
  }
}

function onRead(this: Linked<TcpHandle>): Uint8Array | undefined {
  const splice = this[LINK]!;
  // (a closed handle reads no more; this guards the pooled buffers should that ever change)
  if (splice.done) {
    this.readStop();
    return undefined;
  }
  const nread = H.state[H.kReadBytesOrError]!;
  if (nread > 0) return splice.relay(this, nread);
  if (nread === H.EOF) splice.ended(this);
  else if (nread < 0) splice.failed();
  return undefined;
}

function onConnect(this: Linked<ReturnType<TcpHandles["newConnect"]>>, status: number, handle: TcpHandle): void {
  const splice = this[LINK]!;
  this[LINK] = undefined;
  if (status === 0) splice.connectedUp(handle);
  else splice.dialFailed(handle);
}

function onWritten(this: Linked<WriteRequest>, status: number): void {
  const splice = this[LINK]!;
  this[LINK] = undefined;
  splice.written(this.handle!, status);
}

function onShutdown(this: Linked<ShutdownRequest>, status: number): void {
  const splice = this[LINK]!;
  this[LINK] = undefined;
  splice.shutdownDone(this.handle!, status);
}

/** Closes with a RST (SO_LINGER 0). Only for handles without a shutdown in flight (see above). */
export function resetHandle(handle: TcpHandle): void {
  if (handle.reset(noop) !== 0) handle.close();
}

function noop(): void {}
