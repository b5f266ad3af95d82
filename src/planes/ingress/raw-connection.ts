/**
 * One client connection of the raw HTTP/1 front end (rawserver.ts): RawConnection, one class and one unit.
 * Its parts (the llhttp callbacks that build requests, the pipelining queue that orders responses, the
 * close and fault paths, the timers) all read and write the same few fields (`queue`, `held`, `current`,
 * `closing`, `finalAnswer`, `upgrade`), and each of them is correct only together with the others; split
 * over files they would need those fields public and the hot path would cross module state it now keeps
 * private. Over 500 lines for that reason.
 */
import type { Socket } from "node:net";
import { Readable } from "node:stream";
import { turnNow } from "./clock.ts";
import { type DirectClient, DirectExchange } from "./direct.ts";
import { withoutEndToEndTokens } from "./headers.ts";
import type { ClientLimits } from "./limits.ts";
import { sniffPreface } from "./prior-knowledge.ts";
import type { ClientRequest, ClientResponse, IngressProxy } from "./proxy.ts";
import {
  type ClientSocket,
  CONNECTION,
  clientErrorAnswer,
  destroySocket,
  freeParser,
  methods,
  onClientClose,
  onClientDrain,
  onClientEnd,
  type PooledParser,
  type RawClient,
  REJECT_HEAD,
  REJECT_VERSION,
  takeParser,
} from "./raw-io.ts";
import { RawRequest } from "./raw-request.ts";
import { RawResponse, type ResponseClient } from "./raw-response.ts";
import { handleUpgrade } from "./upgrade.ts";

const EMPTY = Buffer.alloc(0);

/** What a connection needs from its server (rawserver.ts RawHttpServer). */
export interface ConnectionServer {
  readonly proxy: IngressProxy;
  readonly limits: ClientLimits;
  /** serve what direct.ts can serve through it */
  readonly fastPath: boolean;
  /** requests the fast path took */
  fastPathServed: number;
  /** the listener's port as text */
  portText(socket: Socket): string;
  countFault(stage: string, socket: Socket, err: unknown): void;
  /** the connection closed or became a tunnel: no longer checked or drained */
  forget(conn: RawConnection): void;
  trackTunnel(socket: Socket): void;
  /** a connection that began with the HTTP/2 preface, with the bytes read so far (h2c prior knowledge) */
  serveH2c(socket: Socket, read: Buffer): void;
}

/** Most requests of one connection parsed and not answered yet (pipelining); reading pauses beyond that. */
const MAX_PIPELINE = 32;

function ignore(): void {}

function bodyFull(body: Readable | undefined): boolean {
  return body !== undefined && body.readableLength >= body.readableHighWaterMark;
}

/** A response in a connection's queue: the generic one, or the fast path's (direct.ts). */
type QueuedResponse = RawResponse | DirectExchange;

/** A request parsed while an earlier one of its connection is in flight, waiting for its turn (dispatchNext). */
interface HeldRequest {
  readonly method: string;
  readonly url: string;
  readonly minor: number;
  readonly headers: string[];
  readonly keepAlive: boolean;
  readonly expectContinue: boolean;
  /** made at once when the request has a body, so that the body can be read meanwhile */
  readonly req: RawRequest | undefined;
}

/** One client connection: its parser, the queue of responses in request order, and its timers' state. */
export class RawConnection implements RawClient, ResponseClient, DirectClient {
  readonly socket: Socket;
  private readonly server: ConnectionServer;
  private readonly parser: PooledParser;
  /** the response in flight (one at a time: see dispatchNext) */
  readonly queue: QueuedResponse[] = [];
  /** requests parsed while one is in flight, in order */
  private readonly held: HeldRequest[] = [];
  private dispatching = false;
  get localPortText(): string {
    return this.server.portText(this.socket);
  }
  /** the fast path's exchange, made on first use and reused for each request it takes */
  private direct: DirectExchange | undefined;
  /** the request whose body is being parsed */
  private current: RawRequest | undefined;
  /**
   * Between a head's start and kOnHeadersComplete: llhttp hands a head of more than 31 fields over in batches
   * (kOnHeaders, the target with the first) and then passes no headers and no target to kOnHeadersComplete;
   * after the head, kOnHeaders brings a chunked body's trailers, which belong to no request.
   */
  private inHead = false;
  private headBatches: string[] | null = null;
  private urlBatches = "";
  /** why the head being completed is refused (REJECT_*), answered once the parser stops */
  private rejected: string | undefined;
  /** a fault closed the connection: parse nothing more, never reuse the parser */
  private faulted = false;
  /** when the head being parsed began (performance.now()), or -1 between requests */
  headStart: number;
  /** when the connection went idle, or -1 while a request is in flight or being parsed */
  idleSince = -1;
  private requestStart = -1;
  /** no more requests: close once the queue is done */
  private closing = false;
  /** an answer to write (and close) once the queue is done */
  private finalAnswer: string | undefined;
  private upgrade: { req: RawRequest; head: Buffer } | undefined;
  private paused = false;
  closed = false;
  /**
   * The connection's first bytes are still being compared with the HTTP/2 preface (prior-knowledge.ts):
   * undefined once they differ; the bytes held while they are a prefix of it.
   */
  private preface: Buffer | undefined = EMPTY;

  constructor(server: ConnectionServer, socket: Socket) {
    this.server = server;
    this.socket = socket;
    this.headStart = performance.now();
    const parser = takeParser(server.limits.maxHeaderSize);
    parser.conn = this;
    this.parser = parser;
    socket.setNoDelay(true);
    (socket as ClientSocket)[CONNECTION] = this;
    // module-level listeners (they find the connection through the socket): no closures per connection
    socket.on("drain", onClientDrain);
    socket.on("error", destroySocket);
    // proxy-send-timeout (req.setTimeout) as in http.Server: a socket timeout nobody handles closes the connection
    socket.on("timeout", destroySocket);
    socket.on("end", onClientEnd);
    socket.on("close", onClientClose);
  }

  // llhttp's callbacks (see takeParser in raw-io.ts)
  messageBegin(): void {
    this.headStart = turnNow();
    this.requestStart = this.headStart;
    this.idleSince = -1;
    this.inHead = true;
    this.headBatches = null;
    this.urlBatches = "";
  }

  headerBatch(headers: string[], url: string): void {
    if (!this.inHead) return; // trailers: not forwarded (as nginx), and never part of the next request
    if (this.headBatches === null) this.headBatches = headers;
    else for (let i = 0; i < headers.length; i++) this.headBatches.push(headers[i]!);
    this.urlBatches += url;
  }

  body(chunk: Buffer): void {
    const body = this.current?.body;
    // copied: `chunk` is a view of the shared read buffer
    if (body && !body.destroyed && !body.push(Buffer.from(chunk))) this.pause();
  }

  messageComplete(): void {
    const req = this.current;
    this.current = undefined;
    this.requestStart = -1;
    if (req) {
      req.complete = true;
      req.body?.push(null);
    }
  }

  /** Returns 0, or -1 to stop the parser: it then reports an error, and onData answers `rejected`. */
  headersComplete(
    major: number,
    minor: number,
    headerList: string[] | undefined,
    method: number,
    target: string | undefined,
    upgrade: boolean,
    keepAlive: boolean,
  ): number {
    this.headStart = -1;
    this.inHead = false;
    if (this.faulted) return -1;
    let headers: string[];
    let url: string;
    const batches = this.headBatches;
    if (batches === null) {
      headers = headerList ?? [];
      url = target ?? "";
    } else {
      this.headBatches = null;
      headers = headerList === undefined ? batches : batches.concat(headerList);
      url = this.urlBatches + (target ?? "");
      this.urlBatches = "";
    }
    // llhttp (strict) takes HTTP/0.9, 1.0, 1.1 and 2.0 request lines; only 1.0 and 1.1 are HTTP/1 requests
    if (major !== 1) {
      this.rejected = REJECT_VERSION;
      return -1;
    }
    let hasBody = false;
    let chunked = false;
    let expectContinue = false;
    let hosts = 0;
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i]!;
      switch (name.length) {
        case 4:
          if (name.toLowerCase() === "host") hosts++;
          break;
        case 6:
          if (name.toLowerCase() === "expect") expectContinue = headers[i + 1]!.toLowerCase() === "100-continue";
          break;
        case 10:
          if (name.toLowerCase() === "connection") {
            // beyond keep-alive/close it names headers to drop, which must not be Host or the framing ones
            const value = headers[i + 1]!;
            const plain = value.length === 10 || value.length === 5 ? value.toLowerCase() : "";
            if (plain !== "keep-alive" && plain !== "close") {
              const kept = withoutEndToEndTokens(value);
              if (kept !== undefined) headers[i + 1] = kept;
            }
          }
          break;
        case 14:
          if (name.toLowerCase() === "content-length") hasBody = headers[i + 1]!.trim() !== "0";
          break;
        case 17:
          if (name.toLowerCase() === "transfer-encoding") {
            hasBody = true;
            chunked = true;
          }
          break;
      }
    }
    // one Host (nginx: 400), so the Host routed on is the one the backend gets; no Transfer-Encoding on
    // HTTP/1.0 (RFC 9112 §6.1: the framing is faulty, the connection cannot be trusted)
    if (hosts > 1 || (chunked && minor === 0)) {
      this.rejected = REJECT_HEAD;
      return -1;
    }
    const methodName = methods[method] ?? "GET";
    if (upgrade) {
      this.upgrade = {
        req: new RawRequest(this.socket, methodName, url, major, minor, headers),
        head: Buffer.alloc(0),
      };
      this.closing = true;
      return 0;
    }
    if (!keepAlive) this.closing = true;
    if (this.queue.length === 0 && this.held.length === 0) {
      this.start(methodName, url, minor, headers, keepAlive, hasBody, expectContinue, undefined);
      return 0;
    }
    // Another request is in flight: this one waits for its response (its body, if any, is read meanwhile).
    let req: RawRequest | undefined;
    if (hasBody) {
      req = new RawRequest(this.socket, methodName, url, major, minor, headers);
      this.readBody(req);
    }
    this.held.push({ method: methodName, url, minor, headers, keepAlive, expectContinue, req });
    if (this.queue.length + this.held.length >= MAX_PIPELINE) this.pause();
    return 0;
  }

  private readBody(req: RawRequest): void {
    const conn = this;
    req.body = new Readable({
      // At once, whatever else holds reading back: Readable calls read() once and waits for a push.
      read() {
        conn.resume();
      },
    });
    // a body cut short (client gone, malformed) is reported to the proxy through its reader, never thrown
    req.body.on("error", ignore);
    this.current = req;
  }

  /** Hands a request on: to the fast path when it can take it, else to the proxy. Nothing else is in flight. */
  private start(
    methodName: string,
    url: string,
    minor: number,
    headers: string[],
    keepAlive: boolean,
    hasBody: boolean,
    expectContinue: boolean,
    held: RawRequest | undefined,
  ): void {
    if (!hasBody && this.server.fastPath) {
      // the fast path, when it can serve this request exactly as the generic path would (direct.ts)
      if (this.direct === undefined) this.direct = new DirectExchange(this, this.server.proxy);
      const direct = this.direct;
      this.queue.push(direct);
      if (direct.begin(methodName, url, minor, headers, keepAlive)) {
        this.server.fastPathServed++;
        return;
      }
      this.queue.pop();
    }
    let req = held;
    if (req === undefined) {
      req = new RawRequest(this.socket, methodName, url, 1, minor, headers);
      if (hasBody) this.readBody(req);
      else req.complete = true;
    } else if (!hasBody) req.complete = true;
    const res = new RawResponse(this, req, keepAlive);
    this.queue.push(res);
    if (expectContinue && hasBody && !req.complete && minor === 1) this.socket.write("HTTP/1.1 100 Continue\r\n\r\n");
    this.server.proxy.handle(req as unknown as ClientRequest, res as unknown as ClientResponse, false);
  }

  /** Hands on the held requests, one at a time: each once the response before it is done. */
  private dispatchNext(): void {
    // a loop, not recursion: a response done at once (a 404, say) comes back here through responseDone
    if (this.dispatching) return;
    this.dispatching = true;
    try {
      while (this.queue.length === 0 && this.held.length > 0 && !this.faulted) {
        const next = this.held.shift()!;
        const hasBody = next.req !== undefined;
        this.start(
          next.method,
          next.url,
          next.minor,
          next.headers,
          next.keepAlive,
          hasBody,
          next.expectContinue,
          next.req,
        );
      }
    } catch (err) {
      this.fault("dispatch", err);
    } finally {
      this.dispatching = false;
    }
  }

  onData(data: Buffer): void {
    // After a request that closes the connection, nothing more is read, except the rest of that request's body.
    if (this.faulted || this.finalAnswer !== undefined || (this.closing && this.current === undefined)) return;
    try {
      if (this.preface !== undefined) {
        const held = this.preface.length === 0 ? data : Buffer.concat([this.preface, data]);
        const sniffed = sniffPreface(held);
        if (sniffed === "h1") this.preface = undefined;
        else {
          // copied: `data` is a view of the shared read buffer
          this.preface = held === data ? Buffer.from(data) : held;
          if (sniffed === "h2") this.toH2c();
          return;
        }
        data = held;
      }
      const ret = this.parser.execute(data);
      if (this.faulted) return;
      // A head refused in headersComplete stops llhttp with an error, which Node does not report (a number
      // comes back) when the head asked for an Upgrade: `rejected` says it either way.
      const rejected = this.rejected;
      if (typeof ret !== "number" || rejected !== undefined) {
        this.rejected = undefined;
        this.fail(rejected ?? (ret as { code?: string }).code);
        return;
      }
      // a client that sends but does not read: stop reading until its responses drain
      if (this.socket.writableNeedDrain) this.pause();
      if (this.upgrade !== undefined) {
        this.upgrade.head = Buffer.from(data.subarray(ret));
        this.maybeUpgrade();
      }
    } catch (err) {
      this.fault("parse", err);
    }
  }

  /**
   * A bug met while handling this connection: close it (never reusing its parser), count and log it. The
   * process and every other connection go on.
   */
  fault(stage: string, err: unknown): void {
    const first = !this.faulted;
    this.faulted = true;
    if (first) this.server.countFault(stage, this.socket, err);
    // answers already complete (the fast path corks until the turn's end) go out before the close
    while (this.socket.writableCorked > 0) this.socket.uncork();
    this.socket.destroy();
  }

  /** The client broke the protocol (or was too slow): answer once earlier responses are out, then close. */
  fail(code: string | undefined): void {
    this.closing = true;
    this.finalAnswer = clientErrorAnswer(code);
    const broken = this.current;
    this.current = undefined;
    if (broken !== undefined) {
      // The body of the request being read is malformed: as http.Server, answer the error instead of that
      // request if its response has not started, else cut the connection.
      const held = this.held.findIndex((h) => h.req === broken);
      if (held >= 0) this.held.splice(held, 1);
      else {
        const res = this.queue[this.queue.length - 1];
        if (res !== undefined && res.request === broken) {
          if (res.headersSent) {
            this.socket.destroy();
            return;
          }
          this.queue.pop();
          res.destroyed = true;
          res.emitClose();
        }
      }
      broken.body?.destroy();
    }
    if (this.queue.length === 0) {
      if (this.held.length > 0) this.dispatchNext();
      else this.writeFinal();
    }
  }

  private writeFinal(): void {
    const answer = this.finalAnswer!;
    if (this.socket.writable) this.socket.end(answer, "latin1");
    else this.socket.destroy();
  }

  responseDone(res: QueuedResponse): void {
    if (this.queue[0] !== res) return;
    this.queue.shift();
    res.emitClose();
    if (!res.keepAlive) {
      this.closing = true;
      this.finalAnswer = undefined;
      this.socket.end();
      for (const rest of this.queue.splice(0)) rest.emitClose();
      this.dropHeld();
      return;
    }
    const next = this.queue[0];
    if (next !== undefined) {
      next.promote();
      return;
    }
    if (this.held.length > 0) {
      this.dispatchNext();
      this.maybeResume();
      return;
    }
    if (this.finalAnswer !== undefined) {
      this.writeFinal();
      return;
    }
    if (this.upgrade !== undefined) {
      this.maybeUpgrade();
      return;
    }
    if (this.closing) {
      this.socket.end();
      return;
    }
    if (this.headStart < 0 && this.current === undefined) this.idleSince = turnNow();
    this.maybeResume();
  }

  private dropHeld(): void {
    for (const held of this.held.splice(0)) {
      const body = held.req?.body;
      if (body && !body.destroyed) body.destroy(new Error("connection closed before the request's turn"));
    }
  }

  private maybeUpgrade(): void {
    const upgrade = this.upgrade;
    if (upgrade === undefined || this.queue.length > 0 || this.held.length > 0) return;
    this.upgrade = undefined;
    this.server.forget(this);
    this.parser.close();
    // From now on the socket's reads become 'data' events for the tunnel's pipe (see onClientRead in raw-io.ts).
    (this.socket as ClientSocket)[CONNECTION] = undefined;
    this.socket.removeAllListeners("drain");
    this.socket.removeAllListeners("end");
    // only ours: the per-source cap's listener (source-cap.ts) must still see the tunnel close
    this.socket.removeListener("close", onClientClose);
    this.socket.removeAllListeners("error");
    this.server.trackTunnel(this.socket);
    try {
      handleUpgrade(
        this.server.proxy,
        upgrade.req as unknown as import("node:http").IncomingMessage,
        this.socket,
        upgrade.head,
        false,
      );
    } catch (err) {
      this.server.countFault("upgrade", this.socket, err);
      this.socket.destroy();
    }
  }

  /** The connection began with the HTTP/2 preface: node:http2 serves it from now on (h2c prior knowledge). */
  private toH2c(): void {
    const read = this.preface!;
    this.preface = undefined;
    this.closed = true;
    this.server.forget(this);
    freeParser(this.parser, true);
    (this.socket as ClientSocket)[CONNECTION] = undefined;
    // only ours: the per-source cap's listener (source-cap.ts) must still see the connection close
    this.socket.removeListener("drain", onClientDrain);
    this.socket.removeListener("end", onClientEnd);
    this.socket.removeListener("close", onClientClose);
    this.socket.removeListener("error", destroySocket);
    this.socket.removeListener("timeout", destroySocket);
    this.server.serveH2c(this.socket, read);
  }

  /**
   * The server is closing: a connection with nothing in flight (idle keep-alive, silent, or half a head) is
   * closed now; one with requests in flight reads nothing more and closes once they are answered.
   */
  drain(): void {
    if (this.queue.length === 0 && this.held.length === 0 && this.current === undefined && this.upgrade === undefined)
      this.socket.destroy();
    else this.closing = true;
  }

  onDrain(): void {
    this.queue[0]?.emitDrain();
    this.maybeResume();
  }

  pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.socket.pause();
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.socket.resume();
  }

  /** Reads again unless the client is ahead: too many requests waiting, a full body buffer, a full write buffer. */
  maybeResume(): void {
    if (
      this.paused &&
      !this.socket.writableNeedDrain &&
      this.queue.length + this.held.length < MAX_PIPELINE &&
      !bodyFull(this.current?.body)
    ) {
      this.paused = false;
      this.socket.resume();
    }
  }

  onEnd(): void {
    // The client finished sending: answer what is in flight, then close.
    const body = this.current?.body;
    if (body && !body.destroyed) body.destroy(new Error("client closed before the request body ended"));
    this.closing = true;
    // Not twice: ending an ended socket makes (and discards) an ERR_STREAM_ALREADY_FINISHED error, stack trace
    // included, which was 8% of the CPU at one new connection per request (we end first after Connection: close).
    if (
      this.queue.length === 0 &&
      this.held.length === 0 &&
      this.finalAnswer === undefined &&
      this.upgrade === undefined &&
      !this.socket.writableEnded
    )
      this.socket.end();
  }

  onClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.server.forget(this);
    // never inside the parser's execute: 'close' is emitted on a later tick
    freeParser(this.parser, !this.faulted);
    const body = this.current?.body;
    if (body && !body.destroyed) body.destroy(new Error("client went away"));
    this.dropHeld();
    for (const res of this.queue.splice(0)) {
      res.destroyed = true;
      res.emitClose();
    }
  }

  /** timers: 408 for a slow head or request, close idle keep-alive connections */
  check(now: number): void {
    const limits = this.server.limits;
    if (this.headStart >= 0 && now - this.headStart > limits.headersTimeoutMs) {
      this.headStart = -1;
      if (this.queue.length === 0) this.fail("ERR_HTTP_REQUEST_TIMEOUT");
      else this.socket.destroy();
      return;
    }
    if (
      limits.requestTimeoutMs > 0 &&
      this.requestStart >= 0 &&
      this.current !== undefined &&
      now - this.requestStart > limits.requestTimeoutMs
    ) {
      this.requestStart = -1;
      this.fail("ERR_HTTP_REQUEST_TIMEOUT");
      return;
    }
    if (this.idleSince >= 0 && this.queue.length === 0 && now - this.idleSince > limits.keepAliveTimeoutMs)
      this.socket.destroy();
  }
}
