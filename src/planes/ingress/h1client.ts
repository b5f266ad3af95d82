/**
 * The hand-tuned HTTP/1.1 keep-alive client for plain-HTTP endpoints, behind the same dispatch-with-handler
 * seam as undici (see upstream.ts for which requests it serves). Per endpoint it keeps persistent sockets
 * (`noDelay`), one request at a time on each (no pipelining). A request head is written as one latin1 string;
 * responses are read with `onread` into one shared buffer (each read is parsed synchronously, body bytes are
 * copied out before they are handed on) and parsed by the strict ResponseParser. A malformed response closes
 * the socket and fails the request (→ 502); bytes after a complete response, or while idle, close it too.
 * Timeouts are deadlines checked by one coarse sweeper timer instead of a timer per request.
 *
 * One unit, over 500 lines: the pool (H1Pool), its connections (H1Connection), the per-request Controller,
 * the module-level socket listeners and the batched head writes (sendHeads) share one read buffer and one
 * write batch, and a connection moves between its pool's idle list and a request, its deadlines checked by
 * its pool's sweep; apart they would need each other's private state.
 */
import type { IncomingHttpHeaders } from "node:http";
import { connect, type Socket } from "node:net";
import type { Dispatcher } from "undici";
import type { Sweeper } from "../sweeper.ts";
import { turnNow } from "./clock.ts";
import {
  DEFAULT_PARSER_LIMITS,
  type HeadLines,
  type ParserLimits,
  ResponseParser,
  type ResponseSink,
} from "./h1parser.ts";

/**
 * The receiver of a response sent with `H1Pool.dispatchDirect`: the ingress fast path (direct.ts). It gets the
 * parser's events as they happen, with body bytes still in the shared read buffer (valid only during the
 * call), so nothing is copied or allocated per response on this side; no Controller is made either.
 */
export interface DirectSink {
  /** the final response head: `headers` already without hop-by-hop headers, names and values validated */
  onDirectHead(status: number, buf: Buffer, lines: HeadLines): void;
  /** body bytes (chunked framing removed), `buf[start, end)`, valid only during the call */
  onDirectBody(buf: Buffer, start: number, end: number): void;
  /** one read from the upstream was parsed and the response is not complete yet */
  onDirectReadEnd(): void;
  /** the response is complete (the connection is already back in its pool or closed) */
  onDirectEnd(): void;
  /** the request failed (the connection is closed); codes as undici's, see `upstreamError` */
  onDirectError(err: Error): void;
}

export interface H1Timeouts {
  connectTimeoutMs: number;
  headerTimeoutMs: number;
  idleTimeoutMs: number;
}

/** Errors carry undici's codes where the proxy already knows them (retry and 504 decisions). */
export function upstreamError(code: string, message: string): Error & { code: string } {
  const err = new Error(message) as Error & { code: string };
  err.code = code;
  return err;
}

const EMPTY_HEADERS: IncomingHttpHeaders = Object.freeze({}) as IncomingHttpHeaders;
const READ_BUFFER_SIZE = 64 * 1024;
/** Reads are parsed synchronously and never kept, so every connection reads into the same memory. */
let sharedReadBuffer: Buffer | undefined;

/** How often a Sweeper of pools (sweepPools) checks every connection's deadline. */
export const SWEEP_INTERVAL_MS = 100;

/** A Sweeper's pass over pools (../sweeper.ts): one per UpstreamPools, every SWEEP_INTERVAL_MS. */
export function sweepPools(pools: ReadonlySet<H1Pool>, now: number): void {
  for (const pool of pools) pool.sweep(now);
}

/** Keep-alive connections to one endpoint. */
export class H1Pool {
  readonly host: string;
  readonly port: number;
  readonly timeouts: H1Timeouts;
  readonly limits: ParserLimits;
  /** `host:port`, sent as Host when the request has none */
  readonly authority: string;
  readonly connections = new Set<H1Connection>();
  private readonly idle: H1Connection[] = [];
  private readonly sweeper: Sweeper<H1Pool>;
  closed = false;

  constructor(
    host: string,
    port: number,
    timeouts: H1Timeouts,
    sweeper: Sweeper<H1Pool>,
    limits = DEFAULT_PARSER_LIMITS,
  ) {
    this.host = host;
    this.port = port;
    this.timeouts = timeouts;
    this.limits = limits;
    this.authority = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
    this.sweeper = sweeper;
    sweeper.add(this);
  }

  dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    if (options.body != null) throw new TypeError("H1Pool sends requests without a body only");
    let conn = this.idle.pop();
    while (conn?.destroyed) conn = this.idle.pop();
    if (conn === undefined) conn = new H1Connection(this);
    conn.start(options, handler);
    return true;
  }

  /**
   * Sends `head` (a complete request head without body, as one latin1 string) on a pooled connection; the
   * response goes to `sink`. Returns the connection, the handle to pause, resume or abort it with.
   */
  dispatchDirect(
    head: string,
    isHead: boolean,
    headerTimeoutMs: number,
    bodyTimeoutMs: number,
    sink: DirectSink,
  ): H1Connection {
    let conn = this.idle.pop();
    while (conn?.destroyed) conn = this.idle.pop();
    if (conn === undefined) conn = new H1Connection(this);
    conn.startDirect(head, isHead, headerTimeoutMs, bodyTimeoutMs, sink);
    return conn;
  }

  release(conn: H1Connection): void {
    if (this.closed) conn.destroy();
    else {
      conn.idleSince = turnNow();
      this.idle.push(conn);
    }
  }

  forget(conn: H1Connection): void {
    this.connections.delete(conn);
    const i = this.idle.indexOf(conn);
    if (i >= 0) this.idle.splice(i, 1);
  }

  sweep(now: number): void {
    for (const conn of this.connections) {
      try {
        conn.check(now);
      } catch (err) {
        conn.fault(err);
      }
    }
  }

  /** Idle connections close now, busy ones after their response. */
  close(): void {
    this.closed = true;
    for (const conn of this.idle.splice(0)) conn.destroy();
    if (this.connections.size === 0) this.sweeper.delete(this);
  }

  destroy(): void {
    this.closed = true;
    for (const conn of [...this.connections]) conn.fail(upstreamError("UND_ERR_DESTROYED", "upstream pool closed"));
    this.sweeper.delete(this);
  }

  /** a closed pool's last connection went away */
  drained(): void {
    if (this.closed && this.connections.size === 0) this.sweeper.delete(this);
  }
}

/** The per-request handle given to the handler; detached when the request ends, so a stale one is inert. */
class Controller implements Dispatcher.DispatchController {
  conn: H1Connection | null;
  rawHeaders: string[] | null = null;
  rawTrailers: string[] | null = null;
  private abortReason: Error | null = null;
  private isPaused = false;

  constructor(conn: H1Connection) {
    this.conn = conn;
  }

  get aborted(): boolean {
    return this.abortReason !== null;
  }

  get paused(): boolean {
    return this.isPaused;
  }

  get reason(): Error | null {
    return this.abortReason;
  }

  abort(reason: Error): void {
    if (this.abortReason !== null) return;
    this.abortReason = reason;
    this.conn?.abortFrom(this, reason);
  }

  pause(): void {
    this.isPaused = true;
    this.conn?.pauseFrom(this);
  }

  resume(): void {
    this.isPaused = false;
    this.conn?.resumeFrom(this);
  }
}

type ConnSocket = Socket & { nodeplaneConn?: H1Connection };

// Socket callbacks: an exception while handling one (in the parser, or in the handler it calls, which writes to
// the client) ends that request and closes this upstream connection (H1Connection.fault), never the process.
function onRead(this: ConnSocket, nread: number, buf: Buffer): boolean {
  try {
    this.nodeplaneConn?.onRead(nread, buf);
  } catch (err) {
    this.nodeplaneConn?.fault(err);
  }
  return true;
}

function onConnect(this: ConnSocket): void {
  try {
    this.nodeplaneConn?.onConnect();
  } catch (err) {
    this.nodeplaneConn?.fault(err);
  }
}

function onError(this: ConnSocket, err: Error): void {
  try {
    this.nodeplaneConn?.fail(err);
  } catch (thrown) {
    this.nodeplaneConn?.fault(thrown);
  }
}

function onEnd(this: ConnSocket): void {
  try {
    this.nodeplaneConn?.onEnd();
  } catch (err) {
    this.nodeplaneConn?.fault(err);
  }
}

function onClose(this: ConnSocket): void {
  try {
    this.nodeplaneConn?.onClose();
  } catch (err) {
    this.nodeplaneConn?.fault(err);
  }
}

export class H1Connection implements ResponseSink {
  private readonly pool: H1Pool;
  private readonly socket: ConnSocket;
  private readonly parser: ResponseParser;
  private handler: Dispatcher.DispatchHandler | null = null;
  private controller: Controller | null = null;
  /** a fast-path request head waiting for sendHeads */
  private outgoingHead = "";
  /** the fast path's receiver of the current response (instead of handler and controller) */
  private direct: DirectSink | null = null;
  private connecting = true;
  /** any byte of the current response seen */
  private gotBytes = false;
  private completed = false;
  private bodyTimeoutMs = 0;
  private socketPaused = false;
  /** when the current request (or the connect) times out; 0 = no deadline */
  private deadline = 0;
  private deadlineCode = "";
  /** the header timeout of a request sent while still connecting starts at the connect */
  private headerTimeoutAfterConnect = 0;
  idleSince = 0;
  destroyed = false;

  constructor(pool: H1Pool) {
    this.pool = pool;
    this.parser = new ResponseParser(this, pool.limits);
    sharedReadBuffer ??= Buffer.allocUnsafe(READ_BUFFER_SIZE);
    const socket = connect({
      host: pool.host,
      port: pool.port,
      noDelay: true,
      onread: { buffer: sharedReadBuffer, callback: onRead },
    }) as ConnSocket;
    socket.nodeplaneConn = this;
    socket.on("connect", onConnect);
    socket.on("error", onError);
    socket.on("end", onEnd);
    socket.on("close", onClose);
    this.socket = socket;
    this.deadline = performance.now() + pool.timeouts.connectTimeoutMs;
    this.deadlineCode = "UND_ERR_CONNECT_TIMEOUT";
    pool.connections.add(this);
  }

  start(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): void {
    const controller = new Controller(this);
    this.handler = handler;
    this.controller = controller;
    this.gotBytes = false;
    this.completed = false;
    const method = options.method;
    this.parser.reset(method === "HEAD");
    const headerTimeout = options.headersTimeout ?? this.pool.timeouts.headerTimeoutMs;
    this.bodyTimeoutMs = options.bodyTimeout ?? this.pool.timeouts.headerTimeoutMs;
    if (!this.connecting) {
      this.deadline = headerTimeout > 0 ? turnNow() + headerTimeout : 0;
      this.deadlineCode = "UND_ERR_HEADERS_TIMEOUT";
    } else this.headerTimeoutAfterConnect = headerTimeout;
    handler.onRequestStart?.(controller, null);
    if (this.controller !== controller) return; // aborted at once
    this.socket.write(requestHead(method, options.path, options.headers as string[] | null, this.pool), "latin1");
  }

  startDirect(head: string, isHead: boolean, headerTimeout: number, bodyTimeout: number, sink: DirectSink): void {
    this.direct = sink;
    this.gotBytes = false;
    this.completed = false;
    this.parser.reset(isHead, true);
    this.bodyTimeoutMs = bodyTimeout;
    if (!this.connecting) {
      this.deadline = headerTimeout > 0 ? turnNow() + headerTimeout : 0;
      this.deadlineCode = "UND_ERR_HEADERS_TIMEOUT";
    } else this.headerTimeoutAfterConnect = headerTimeout;
    this.outgoingHead = head;
    headsToSend.push(this);
    if (!headsScheduled) {
      headsScheduled = true;
      setImmediate(sendHeads);
    }
  }

  /** writes the request head deferred by startDirect */
  sendHead(): void {
    const head = this.outgoingHead;
    this.outgoingHead = "";
    if (head.length > 0 && !this.destroyed) this.socket.write(head, "latin1");
  }

  /** the fast path's client stops reading: stop reading the upstream too (backpressure) */
  pauseDirect(sink: DirectSink): void {
    if (this.direct === sink) this.pauseSocket();
  }

  resumeDirect(sink: DirectSink): void {
    if (this.direct === sink) this.resumeSocket();
  }

  /** the fast path's client went away: drop the request, and the connection (its response is unread) */
  abortDirect(sink: DirectSink): void {
    if (this.direct !== sink) return;
    this.direct = null;
    this.deadline = 0;
    this.destroy();
  }

  private get busy(): boolean {
    return this.handler !== null || this.direct !== null;
  }

  onConnect(): void {
    this.connecting = false;
    if (this.busy) {
      const t = this.headerTimeoutAfterConnect;
      this.deadline = t > 0 ? performance.now() + t : 0;
      this.deadlineCode = "UND_ERR_HEADERS_TIMEOUT";
    } else this.deadline = 0;
  }

  onRead(nread: number, buf: Buffer): void {
    if (!this.busy) {
      // Nothing was asked: a confused upstream. Never let these bytes become the next response.
      this.destroy();
      return;
    }
    this.gotBytes = true;
    const used = this.parser.execute(buf, 0, nread);
    if (!this.busy) return; // aborted by the handler meanwhile (the socket is gone)
    if (used < 0) {
      this.fail(upstreamError("NODEPLANE_BAD_RESPONSE", `malformed upstream response: ${this.parser.error}`));
      return;
    }
    if (this.completed) this.endResponse(used === nread);
    else {
      if (this.bodyTimeoutMs > 0 && this.parser.headDone) this.deadline = turnNow() + this.bodyTimeoutMs;
      this.direct?.onDirectReadEnd();
    }
  }

  // ResponseSink
  onHead(status: number, reason: string, headers: string[]): void {
    this.deadline = this.bodyTimeoutMs > 0 ? turnNow() + this.bodyTimeoutMs : 0;
    this.deadlineCode = "UND_ERR_BODY_TIMEOUT";
    const controller = this.controller!;
    controller.rawHeaders = headers;
    this.handler!.onResponseStart?.(controller, status, EMPTY_HEADERS, reason);
  }

  onRawHead(status: number, buf: Buffer, lines: HeadLines): void {
    this.deadline = this.bodyTimeoutMs > 0 ? turnNow() + this.bodyTimeoutMs : 0;
    this.deadlineCode = "UND_ERR_BODY_TIMEOUT";
    this.direct?.onDirectHead(status, buf, lines);
  }

  onBody(buf: Buffer, start: number, end: number): void {
    if (end === start) return;
    const direct = this.direct;
    if (direct !== null) {
      direct.onDirectBody(buf, start, end);
      return;
    }
    if (this.handler === null) return;
    this.handler.onResponseData?.(this.controller!, Buffer.copyBytesFrom(buf, start, end - start));
  }

  onComplete(): void {
    this.completed = true;
  }

  /** The response is complete: hand the connection back (or close it), then tell the handler. */
  private endResponse(reusable: boolean): void {
    // one request at a time: either the fast path's sink or a handler with its controller
    const direct = this.direct;
    const handler = this.handler;
    const controller = this.controller;
    this.direct = null;
    this.handler = null;
    this.controller = null;
    if (controller !== null) controller.conn = null;
    this.deadline = 0;
    this.resumeSocket();
    if (reusable && this.parser.keepAlive && !this.destroyed) this.pool.release(this);
    else this.destroy();
    if (direct !== null) direct.onDirectEnd();
    else handler!.onResponseEnd?.(controller!, EMPTY_HEADERS);
  }

  onEnd(): void {
    if (this.busy && this.parser.finish()) {
      if (this.completed) this.endResponse(false);
      return;
    }
    this.fail(this.closedError());
  }

  onClose(): void {
    this.destroyed = true;
    this.pool.forget(this);
    if (this.busy) this.fail(this.closedError());
    this.pool.drained();
  }

  private closedError(): Error {
    // Closed before any byte of the answer: the request may be sent again (the proxy decides).
    return this.gotBytes
      ? upstreamError("NODEPLANE_UPSTREAM_CLOSED", "upstream closed the connection mid-response")
      : upstreamError("ECONNRESET", "upstream closed the connection before answering");
  }

  check(now: number): void {
    if (this.deadline !== 0 && now >= this.deadline) {
      const code = this.deadlineCode;
      this.fail(upstreamError(code, code === "UND_ERR_CONNECT_TIMEOUT" ? "connect timeout" : "upstream timeout"));
      return;
    }
    if (!this.busy && !this.connecting && now - this.idleSince >= this.pool.timeouts.idleTimeoutMs) this.destroy();
  }

  /** Ends the current request with `err` (if any) and closes the connection. */
  fail(err: Error): void {
    const direct = this.direct;
    if (direct !== null) {
      this.direct = null;
      this.deadline = 0;
      this.destroy();
      direct.onDirectError(err);
      return;
    }
    const handler = this.handler;
    const controller = this.controller;
    this.handler = null;
    this.controller = null;
    this.deadline = 0;
    this.destroy();
    if (handler !== null && controller !== null) {
      controller.conn = null;
      handler.onResponseError?.(controller, err);
    }
  }

  /**
   * An exception escaped while handling this connection: close it, and end its request with that error (the
   * client gets a 502, or its response is cut). Throwing again here only leaves the connection closed.
   */
  fault(err: unknown): void {
    this.destroy();
    try {
      this.fail(err instanceof Error ? err : new Error(String(err)));
    } catch {
      // the handler failed too: the upstream side is closed, the client's own timers and fault handling remain
    }
  }

  abortFrom(controller: Controller, reason: Error): void {
    if (this.controller === controller) this.fail(reason);
  }

  pauseFrom(controller: Controller): void {
    if (this.controller === controller) this.pauseSocket();
  }

  resumeFrom(controller: Controller): void {
    if (this.controller === controller) this.resumeSocket();
  }

  /** stop reading the upstream while the current request's client does not drain */
  private pauseSocket(): void {
    if (this.socketPaused) return;
    this.socketPaused = true;
    this.socket.pause();
  }

  private resumeSocket(): void {
    if (!this.socketPaused) return;
    this.socketPaused = false;
    this.socket.resume();
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.deadline = 0;
    this.pool.forget(this);
    this.socket.destroy();
  }
}

let headsToSend: H1Connection[] = [];
let spareHeads: H1Connection[] = [];
let headsScheduled = false;

/**
 * Fast-path request heads go out together once the event loop has handled all ready events (setImmediate),
 * not one by one as their client requests are parsed: the backend is then woken once per batch instead of
 * once per request (waking a sleeping receiver was ~13% of the proxy's CPU, in the kernel).
 */
function sendHeads(): void {
  headsScheduled = false;
  const list = headsToSend;
  headsToSend = spareHeads;
  spareHeads = list;
  for (let i = 0; i < list.length; i++) {
    const conn = list[i]!;
    try {
      conn.sendHead();
    } catch (err) {
      conn.fault(err);
    }
  }
  list.length = 0;
}

/**
 * `METHOD path HTTP/1.1`, the given header pairs (already stripped of hop-by-hop headers by the proxy) and a
 * Host when there is none, as one string.
 */
function requestHead(method: string, path: string, headers: string[] | null, pool: H1Pool): string {
  let head = `${method} ${path} HTTP/1.1\r\n`;
  let host = false;
  if (headers !== null) {
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i]!;
      if (name.length === 4 && !host && name.toLowerCase() === "host") host = true;
      head += `${name}: ${headers[i + 1]}\r\n`;
    }
  }
  if (!host) head += `host: ${pool.authority}\r\n`;
  return `${head}\r\n`;
}
