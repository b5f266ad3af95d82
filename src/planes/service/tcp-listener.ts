import { createServer, type Server, Socket, type SocketConstructorOpts } from "node:net";
import type { Endpoint } from "../../snapshot/snapshot.ts";
import { isDescriptorExhaustion } from "../../util/fd-budget.ts";
import { ConnectionGate, type RefusalCounters, SharedCount } from "./fd-guard.ts";
import { ForwardedConnection, type Spliced, type Timers } from "./forwarded.ts";
import type { ListenerPlan } from "./plan.ts";
import type { Pool } from "./pool.ts";
import { readBuffers } from "./read-buffers.ts";
import { SniTable } from "./sni.ts";
import { compileSourceRanges, type SourceMatcher } from "./source-ranges.ts";
import { Sweep } from "./sweep.ts";
import { probeTcpHandles, type TcpHandle } from "./tcp-handles.ts";
import { HandleSplice, resetHandle, useHandles } from "./tcp-splice-handles.ts";
import { HandleHello, type HelloLimits, socketHello } from "./tls-hello.ts";

export interface TcpProxyOptions {
  dialTimeoutMs: number;
  /** further endpoints tried after a failed connect */
  dialRetries: number;
  tcpIdleTimeoutMs: number;
  /** SO_REUSEPORT, shared with sibling workers */
  reusePort?: boolean | undefined;
  /** most connections this listener holds at once (default: no cap of its own) */
  maxConnections?: number | undefined;
  /** the plane's connection count and cap, shared by its TCP listeners (default: this listener's own) */
  shared?: SharedCount | undefined;
  /** counts what the caps refuse */
  refused?: RefusalCounters | undefined;
  /** accept or an upstream socket hit EMFILE/ENFILE: told with the back-off it starts */
  onExhausted?: ((pauseMs: number) => void) | undefined;
  /**
   * TLS passthrough (a plan with `gateway.sni`): how the ClientHello is read, and the plane's pools
   * by id (the SNI entries' pools, swapped on reconcile like the listener's own).
   */
  tls?: { hello: HelloLimits; pools: (id: string) => Pool | undefined } | undefined;
}

const NO_COUNT = { inc(): void {} };
const UNCOUNTED: RefusalCounters = { listener: NO_COUNT, total: NO_COUNT, source: NO_COUNT, exhausted: NO_COUNT };

/**
 * One TCP socket of the service plane. `forward`: each accepted connection is spliced to an endpoint
 * of the current pool; `drop`: each is reset at once. The plan and pool are swapped in place on
 * reconcile, so established connections never notice.
 *
 * The server accepts paused: no client byte is read before the upstream is connected (a retried dial
 * must not lose any). Nagle is off on both sides. Forwarding itself is in `HandleSplice`
 * (tcp-splice-handles.ts, on the libuv handles, when the start-up probe of tcp-handles.ts passes) or
 * in `Splice` below (net.Socket, the fallback).
 *
 * Each connection holds a slot of the listener's `ConnectionGate` (fd-guard.ts) from accept until both
 * of its sockets are closed; over a cap, or in the pause after an EMFILE on a dial (or on accept, when
 * libuv's own remedy fails: it accepts and closes the backlog with a reserved descriptor and does not
 * tell Node), a new connection is reset at once, so the listener holds nothing it cannot forward.
 */
export class TcpListener {
  readonly key: string;
  private plan: ListenerPlan;
  private pool: Pool;
  private allowed: SourceMatcher;
  private readonly server: Server;
  private readonly options: TcpProxyOptions;
  /** dial and idle timeouts of this socket's connections (they outlive the socket) */
  private readonly timers: Timers;
  readonly gate: ConnectionGate;

  constructor(plan: ListenerPlan, pool: Pool, options: TcpProxyOptions) {
    this.key = plan.key;
    this.plan = plan;
    this.pool = pool;
    this.options = options;
    this.timers = {
      dial: new Sweep<Spliced>(
        options.dialTimeoutMs,
        (s) => s.dialPending(),
        (s) => s.dialTimedOut(),
      ),
      idle: new Sweep<Spliced>(
        options.tcpIdleTimeoutMs,
        (s) => s.idleSince(),
        (s) => s.close(),
      ),
    };
    this.gate = new ConnectionGate(
      options.maxConnections ?? Number.MAX_SAFE_INTEGER,
      options.shared ?? new SharedCount(Number.MAX_SAFE_INTEGER),
      options.refused ?? UNCOUNTED,
      options.onExhausted ?? noop,
    );
    this.allowed = compileSourceRanges(plan.sourceRanges);
    this.sni = sniTable(plan);
    this.server = createServer({ pauseOnConnect: true, allowHalfOpen: true, noDelay: true }, (socket) =>
      this.accept(socket),
    );
    // Accept errors (EMFILE and friends) must not crash the process; the server keeps listening.
    this.server.on("error", (err: NodeJS.ErrnoException) => {
      if (isDescriptorExhaustion(err.code)) this.gate.exhausted();
    });
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.server.once("error", onError);
      const { ip, port } = this.plan;
      const reusePort = this.options.reusePort === true;
      this.server.listen({ host: ip, port, ipv6Only: ip.includes(":"), reusePort }, () => {
        this.server.off("error", onError);
        this.acceptHandles();
        resolve();
      });
    });
  }

  update(plan: ListenerPlan, pool: Pool): void {
    if (plan.sourceRanges.join(",") !== this.plan.sourceRanges.join(","))
      this.allowed = compileSourceRanges(plan.sourceRanges);
    if (plan.gateway?.sni !== this.plan.gateway?.sni) this.sni = sniTable(plan);
    this.plan = plan;
    this.pool = pool;
  }

  /** TLS passthrough: SNI host → pool id (undefined: a plain TCP socket) */
  private sni: SniTable<string> | undefined;

  /** Stops accepting; established connections stay with their pool (closed by it or by the peers). */
  close(): void {
    this.server.close();
  }

  /** Which forwarding path this socket's connections take (see tcp-handles.ts). */
  get path(): "handles" | "sockets" {
    return this.handlePath ? "handles" : "sockets";
  }

  private handlePath = false;

  /**
   * Takes the accepted libuv handles straight from the server's handle, before net.Server wraps them
   * in a net.Socket, when the handle path is usable here (probed once at start-up).
   */
  private acceptHandles(): void {
    const handles = probeTcpHandles();
    if (typeof handles === "string") return;
    const serverHandle = (this.server as unknown as { _handle?: { onconnection?: unknown } })._handle;
    if (!serverHandle || typeof serverHandle.onconnection !== "function") return;
    useHandles(handles);
    serverHandle.onconnection = (status: number, handle: TcpHandle | undefined) => this.acceptHandle(status, handle);
    this.handlePath = true;
  }

  private acceptHandle(status: number, handle: TcpHandle | undefined): void {
    // an accept error (EMFILE and friends): the server keeps listening, like net.Server's
    if (status !== 0 || handle === undefined) {
      if (isDescriptorExhaustion(status)) this.gate.exhausted();
      return;
    }
    const pool = this.pool;
    const metrics = pool.metrics;
    const filtered = this.plan.sourceRanges.length > 0;
    let clientIp: string | undefined;
    if (pool.balancer.needsClient || filtered) {
      const peer: { address?: string } = {};
      handle.getpeername(peer);
      clientIp = peer.address;
    }
    if (this.plan.action === "drop" || (filtered && !this.allowed(clientIp))) {
      metrics.rejected.inc();
      resetHandle(handle);
      return;
    }
    if (this.sni !== undefined) {
      this.helloOnHandle(handle, clientIp);
      return;
    }
    const now = pool.balancer.needsClient ? Date.now() : 0;
    const attempts = pool.balancer.attempts(clientIp, now, 1 + this.options.dialRetries);
    if (attempts.length === 0 || !this.gate.acquire()) {
      metrics.rejected.inc();
      resetHandle(handle);
      return;
    }
    metrics.total.inc();
    handle.setNoDelay(true);
    new HandleSplice(handle, this.timers, pool, clientIp, attempts, this.gate).dial();
  }

  private accept(accepted: Socket): void {
    const pool = this.pool;
    const metrics = pool.metrics;
    const filtered = this.plan.sourceRanges.length > 0;
    const clientIp = pool.balancer.needsClient || filtered ? accepted.remoteAddress : undefined;
    if (this.plan.action === "drop" || (filtered && !this.allowed(clientIp))) {
      metrics.rejected.inc();
      accepted.on("error", noop);
      accepted.resetAndDestroy();
      return;
    }
    if (this.sni !== undefined) {
      this.helloOnSocket(accepted, clientIp);
      return;
    }
    const now = pool.balancer.needsClient ? Date.now() : 0;
    const attempts = pool.balancer.attempts(clientIp, now, 1 + this.options.dialRetries);
    if (attempts.length === 0 || !this.gate.acquire()) {
      metrics.rejected.inc();
      accepted.on("error", noop);
      accepted.resetAndDestroy();
      return;
    }
    metrics.total.inc();
    const buffer = readBuffers.take(false);
    new Splice(adopt(accepted, this.server, buffer), buffer, this.timers, pool, clientIp, attempts, this.gate).dial();
  }

  // TLS passthrough. The connection holds a slot of the gate from accept; the hello is read (bounded
  // in bytes and time), its server name picks the SNI entry's pool, and the connection is spliced
  // like any other with the bytes read so far written to the backend first. No match, no SNI or a
  // malformed hello resets that connection only.

  private helloOnHandle(handle: TcpHandle, clientIp: string | undefined): void {
    const handles = probeTcpHandles();
    if (typeof handles === "string" || !this.gate.acquire()) {
      this.pool.metrics.rejected.inc();
      resetHandle(handle);
      return;
    }
    new HandleHello(handle, handles, this.options.tls!.hello, (bytes, sni, failed) => {
      const found = this.sniPool(failed, sni, clientIp);
      if (!found) {
        this.gate.release();
        resetHandle(handle);
        return;
      }
      handle.setNoDelay(true);
      new HandleSplice(handle, this.timers, found.pool, clientIp, found.attempts, this.gate, bytes).dial();
    });
  }

  private helloOnSocket(accepted: Socket, clientIp: string | undefined): void {
    if (!this.gate.acquire()) {
      this.pool.metrics.rejected.inc();
      accepted.on("error", noop);
      accepted.resetAndDestroy();
      return;
    }
    socketHello(accepted, this.options.tls!.hello, (bytes, sni, failed) => {
      const found = this.sniPool(accepted.destroyed ? "client gone" : failed, sni, clientIp);
      if (!found) {
        this.gate.release();
        accepted.resetAndDestroy();
        return;
      }
      const buffer = readBuffers.take(false);
      const client = adopt(accepted, this.server, buffer);
      new Splice(client, buffer, this.timers, found.pool, clientIp, found.attempts, this.gate, bytes).dial();
    });
  }

  /** The SNI entry's pool and the endpoints to dial; undefined (counted as reset) when there is none. */
  private sniPool(
    failed: string | undefined,
    sni: string | undefined,
    clientIp: string | undefined,
  ): { pool: Pool; attempts: Endpoint[] } | undefined {
    const id = failed === undefined ? this.sni?.match(sni) : undefined;
    const pool = id === undefined ? undefined : this.options.tls!.pools(id);
    const attempts = pool ? pool.balancer.attempts(clientIp, 0, 1 + this.options.dialRetries) : [];
    if (!pool || attempts.length === 0) {
      this.pool.metrics.rejected.inc();
      return undefined;
    }
    pool.metrics.total.inc();
    return { pool, attempts };
  }
}

function sniTable(plan: ListenerPlan): SniTable<string> | undefined {
  const sni = plan.gateway?.sni;
  return sni ? new SniTable(sni.map((e) => ({ host: e.host, value: e.poolId }))) : undefined;
}

// ---------------------------------------------------------------------------------------------------
// Forwarding
//
// Each proxied connection is one Splice holding both sockets. The event handlers are shared module
// functions that find their Splice through a symbol on the socket (`this` is the socket), so a
// connection costs no closures. Reads use `onread`: libuv reads straight into a buffer from the read
// buffer pool, and the bytes are written to the other socket from there. A write that completes at
// once (the common case: the kernel takes the bytes) leaves the buffer free for the next read; a write
// that has to wait keeps its buffer until the other socket drains, and reading goes on into another
// buffer until the write side's high-water mark says stop (then reading pauses until 'drain'). So at
// most one high-water mark (plus one read) is buffered per direction, nothing unbounded.

const LINK = Symbol("nodeplane.splice");

type Linked = Socket & { [LINK]: Splice };

/**
 * The next read buffer, passed to Node through `onread.buffer`: Node calls that function without
 * telling which socket it is for, right after the read callback (and once when a socket gets its
 * handle), so the callback (or the code creating the socket) leaves the buffer here for it.
 */
let handOver: Buffer | undefined;
function takeHandOver(): Buffer {
  const buffer = handOver;
  handOver = undefined;
  // undefined keeps the socket's current buffer (Node checks for a Uint8Array).
  return buffer as Buffer;
}

const READ: SocketConstructorOpts["onread"] = { buffer: takeHandOver, callback: onRead };

/** Upstream sockets (the options object is copied by Node, so one serves every connection). */
const UPSTREAM_SOCKET: SocketConstructorOpts = { allowHalfOpen: true, noDelay: true, onread: READ };

/**
 * The server's accepted sockets cannot be given `onread`, so the accepted handle is wrapped in a new
 * socket that has it. Node's own accept path does the same (`new Socket({ handle })`); `_server`
 * keeps the server's connection count right (the first wrapper is never destroyed, this one is).
 */
function adopt(accepted: Socket, server: Server, buffer: Buffer): Socket {
  const handle = (accepted as unknown as { _handle: unknown })._handle;
  if (typeof handle !== "object" || handle === null) throw new Error("net.Socket without _handle: Node changed");
  handOver = buffer;
  const socket = new Socket({
    handle,
    allowHalfOpen: true,
    readable: true,
    writable: true,
    pauseOnCreate: true,
    onread: READ,
  } as unknown as SocketConstructorOpts);
  handOver = undefined;
  (socket as unknown as { _server: Server })._server = server;
  return socket;
}

class Splice extends ForwardedConnection {
  readonly client: Socket;
  upstream: Socket | undefined;
  private closed = 0;
  /** the buffers the sockets read into now */
  clientBuffer: Buffer;
  upstreamBuffer: Buffer | undefined;
  /** buffers still read by pending writes: client → upstream, upstream → client */
  private heldUp: Buffer[] | undefined;
  private heldDown: Buffer[] | undefined;
  /** reading stopped until the other side drains */
  clientPaused = false;
  upstreamPaused = false;
  /** TLS passthrough: the bytes read before the upstream was chosen, written to it first */
  private readonly prelude: Buffer | undefined;

  constructor(
    client: Socket,
    clientBuffer: Buffer,
    timers: Timers,
    pool: Pool,
    clientIp: string | undefined,
    attempts: Endpoint[],
    gate: ConnectionGate,
    prelude?: Buffer,
  ) {
    super(timers, pool, clientIp, attempts, gate);
    this.prelude = prelude;
    this.client = client;
    this.clientBuffer = clientBuffer;
    (client as Linked)[LINK] = this;
    client.on("error", onError);
    client.on("close", onClose);
  }

  dial(): void {
    const endpoint = this.attempts[this.attempt]!;
    const buffer = readBuffers.take(false);
    handOver = buffer;
    const upstream = new Socket(UPSTREAM_SOCKET) as Linked;
    upstream[LINK] = this;
    this.upstream = upstream;
    upstream.on("error", onError);
    upstream.on("close", onClose);
    upstream.on("connect", onConnect);
    upstream.connect(endpoint.port, endpoint.ip);
    this.dialSeen = false;
    this.timers.dial.add(this);
    handOver = undefined;
    this.upstreamBuffer = buffer;
  }

  /** The current upstream connected. */
  connectedUp(): void {
    const upstream = this.upstream!;
    const client = this.client;
    this.timers.dial.delete(this);
    if (client.destroyed) {
      upstream.destroy();
      return;
    }
    this.connectedTo();
    client.on("end", onEnd);
    upstream.on("end", onEnd);
    client.on("drain", onDrain);
    upstream.on("drain", onDrain);
    if (this.prelude !== undefined) upstream.write(this.prelude);
    client.resume();
  }

  /** A connect failed or timed out: next endpoint, or reset the client when none is left. */
  dialFailed(upstream: Socket): void {
    if (upstream !== this.upstream) return;
    this.timers.dial.delete(this);
    this.pool.metrics.dialFailures.inc();
    upstream.destroy();
    this.upstream = undefined;
    if (this.client.destroyed) return;
    if (++this.attempt < this.attempts.length) {
      this.dial();
    } else {
      this.pool.metrics.rejected.inc();
      this.client.resetAndDestroy();
    }
  }

  /** Writes what `from` read into `buffer` to the other socket; false stops reading `from`. */
  relay(from: Socket, nread: number, buffer: Buffer): boolean {
    this.activity++;
    const up = from === this.client;
    const to = up ? this.upstream! : this.client;
    const ok = to.write(nread === buffer.length ? buffer : buffer.subarray(0, nread));
    let next: Buffer | undefined;
    if (to.writableLength !== 0) {
      // The write still reads from `buffer`: keep it until `to` drains, read on into another one.
      this.hold(up, buffer);
      next = readBuffers.successor(buffer, nread);
    } else {
      if (up ? this.heldUp : this.heldDown) this.release(up);
      next = readBuffers.resized(buffer, nread);
    }
    if (next !== undefined) {
      handOver = next;
      if (up) this.clientBuffer = next;
      else this.upstreamBuffer = next;
    }
    if (ok) return true;
    if (up) this.clientPaused = true;
    else this.upstreamPaused = true;
    return false;
  }

  /** `to` has no pending writes left: their buffers are free, and its source may read again. */
  drained(to: Socket): void {
    const up = to === this.upstream;
    this.release(up);
    if (up) {
      if (this.clientPaused) {
        this.clientPaused = false;
        this.client.resume();
      }
    } else if (this.upstreamPaused) {
      this.upstreamPaused = false;
      this.upstream!.resume();
    }
  }

  private hold(up: boolean, buffer: Buffer): void {
    const held = up ? this.heldUp : this.heldDown;
    if (held) held.push(buffer);
    else if (up) this.heldUp = [buffer];
    else this.heldDown = [buffer];
  }

  private release(up: boolean): void {
    const held = up ? this.heldUp : this.heldDown;
    if (!held) return;
    for (const buffer of held) readBuffers.give(buffer);
    if (up) this.heldUp = undefined;
    else this.heldDown = undefined;
  }

  /** Both sockets are closed: account, untrack, and hand the buffers back. */
  finished(): void {
    const pool = this.pool;
    const metrics = pool.metrics;
    metrics.active.dec();
    metrics.bytesIn.inc(this.client.bytesRead + (this.prelude?.length ?? 0));
    metrics.bytesOut.inc(this.client.bytesWritten);
    pool.untrack(this.endpoint, this);
    this.timers.idle.delete(this);
    this.release(true);
    this.release(false);
    readBuffers.give(this.clientBuffer);
    if (this.upstreamBuffer) readBuffers.give(this.upstreamBuffer);
    this.gate.release();
  }

  /** Tracked: the endpoint left (after its grace period), the idle timeout, or plane shutdown. */
  close(): void {
    this.client.destroy();
    this.upstream?.destroy();
  }

  dialTimedOut(): void {
    if (!this.connected) this.upstream?.destroy(new Error("connect timeout"));
  }

  closedOne(socket: Socket): void {
    if (!this.connected) {
      // The client left while we dialled: stop dialling for it. (Closes of failed dials are ignored.)
      if (socket === this.client) {
        this.timers.dial.delete(this);
        this.upstream?.destroy();
        this.gate.release();
      }
      return;
    }
    if (socket !== this.client && socket !== this.upstream) return;
    if (++this.closed === 2) this.finished();
  }
}

function onRead(this: Socket, nread: number, buffer: Uint8Array): boolean {
  return (this as Linked)[LINK].relay(this, nread, buffer as Buffer);
}

function onConnect(this: Socket): void {
  const splice = (this as Linked)[LINK];
  if (this === splice.upstream) splice.connectedUp();
}

// A reset (or any error) on one side is passed on as a reset; a clean close on one side never
// truncates the other (its end was passed on, it flushes and closes by itself).
function onError(this: Socket, err: NodeJS.ErrnoException): void {
  const splice = (this as Linked)[LINK];
  if (!splice.connected) {
    if (this !== splice.client) {
      if (isDescriptorExhaustion(err.code)) splice.gate.exhausted();
      splice.dialFailed(this);
    }
    return;
  }
  const other = this === splice.client ? splice.upstream! : splice.client;
  if (other.destroyed) return;
  // A socket whose FIN may still be in flight (end() called, not finished) is closed, not reset:
  // libuv refuses a reset while a shutdown is pending, and Node then leaves the handle open for good
  // (a leaked descriptor per such connection, and a process that does not exit).
  if (other.writableEnded && !other.writableFinished) other.destroy();
  else other.resetAndDestroy();
}

function onClose(this: Socket): void {
  (this as Linked)[LINK].closedOne(this);
}

/**
 * Half-close: one side's FIN goes to the other once its pending bytes are written. When the other
 * side has finished sending too and nothing is left to write, closing it sends the same FIN without
 * a shutdown(2) first (one system call less per connection).
 */
function onEnd(this: Socket): void {
  const splice = (this as Linked)[LINK];
  const other = this === splice.client ? splice.upstream! : splice.client;
  if (other.readableEnded && other.writableLength === 0) other.destroy();
  else other.end();
}

function onDrain(this: Socket): void {
  (this as Linked)[LINK].drained(this);
}

function noop(): void {}
