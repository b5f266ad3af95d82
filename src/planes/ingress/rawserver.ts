import { STATUS_CODES } from "node:http";
import { createRequire } from "node:module";
import { createServer as createNetServer, type Server, Socket, type SocketConstructorOpts } from "node:net";
import { Readable } from "node:stream";
import { turnEpochMs, turnNow } from "./clock.ts";
import { DirectExchange } from "./direct.ts";
import { CONNECTION_PROTECTED } from "./headers.ts";
import { type ClientLimits, defaultFastPath } from "./limits.ts";
import type { IngressMetrics } from "./metrics.ts";
import type { ClientRequest, ClientResponse, IngressProxy } from "./proxy.ts";
import type { SourceCap } from "./source-cap.ts";
import { handleUpgrade } from "./upgrade.ts";

/**
 * The plain-HTTP listener without `http.Server`: each connection's bytes go to its own instance of Node's
 * llhttp binding (the very parser `http.Server` uses, strict: no lenient flag is ever set), and each request
 * is handed to the proxy as a small request/response pair implementing just what the proxy uses. Pipelined
 * requests go upstream one at a time, in order, as nginx does: a request parsed while an earlier one is in
 * flight is held until that one's response has been written. Parse errors answer 400/431 (413 for
 * chunk-extension overflow), heads the proxy must not forward (two Hosts, HTTP/1.0 with Transfer-Encoding)
 * 400, versions other than 1.0/1.1 505, slow heads 408; idle keep-alive connections are closed, reading
 * pauses while the socket's write buffer is full. An exception while handling a connection closes that
 * connection (counted and logged), never the process.
 */

interface NodeHttpParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  execute(buf: Buffer): number | (Error & { code?: string; bytesParsed?: number });
  finish(): unknown;
  close(): void;
  [key: number]: unknown;
}
interface HttpCommon {
  HTTPParser: {
    new (): NodeHttpParser;
    REQUEST: number;
    kOnMessageBegin: number;
    kOnHeaders: number;
    kOnHeadersComplete: number;
    kOnBody: number;
    kOnMessageComplete: number;
    kLenientNone: number;
  };
  methods: string[];
  _checkInvalidHeaderChar(value: string): boolean;
  _checkIsHttpToken(name: string): boolean;
}

const common = createRequire(import.meta.url)("_http_common") as HttpCommon;
const { HTTPParser, methods } = common;
const kOnMessageBegin = HTTPParser.kOnMessageBegin;
const kOnHeaders = HTTPParser.kOnHeaders;
const kOnHeadersComplete = HTTPParser.kOnHeadersComplete;
const kOnBody = HTTPParser.kOnBody;
const kOnMessageComplete = HTTPParser.kOnMessageComplete;

/** Bytes a response waiting for its turn keeps before it reports backpressure. */
const QUEUED_HIGH_WATER = 64 * 1024;

/** Most requests of one connection parsed and not answered yet (pipelining); reading pauses beyond that. */
const MAX_PIPELINE = 32;

let dateSecond = 0;
let dateHeader = "";
function httpDate(): string {
  const now = turnEpochMs();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateHeader = new Date(now).toUTCString();
  }
  return dateHeader;
}

/** The answer to a request that could not be parsed, as Node's `http.Server` would give it plus our Server header. */
export function clientErrorAnswer(code: string | undefined): string {
  const [status, text] =
    code === "HPE_HEADER_OVERFLOW"
      ? [431, "Request Header Fields Too Large"]
      : code === "ERR_HTTP_REQUEST_TIMEOUT"
        ? [408, "Request Timeout"]
        : code === "HPE_CHUNK_EXTENSIONS_OVERFLOW"
          ? [413, "Content Too Large"]
          : code === REJECT_VERSION
            ? [505, "HTTP Version Not Supported"]
            : [400, "Bad Request"];
  const body = `${status} ${text}\n`;
  return `HTTP/1.1 ${status} ${text}\r\nServer: nodeplane\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`;
}

/** a request line with a version llhttp parses but we do not serve (HTTP/0.9, HTTP/2.0): 505 */
const REJECT_VERSION = "NODEPLANE_HTTP_VERSION";
/** a head we must not forward (two Host headers, HTTP/1.0 with Transfer-Encoding): 400 */
const REJECT_HEAD = "NODEPLANE_BAD_HEAD";

/**
 * `value` (a Connection header) without the tokens naming CONNECTION_PROTECTED headers (headers.ts), which a
 * Connection header may not name: removing them as hop-by-hop would change the request's routing (Host) or
 * framing (Content-Length, Transfer-Encoding) for the backend. Undefined when there are none.
 */
export function withoutEndToEndTokens(value: string): string | undefined {
  const tokens = value.split(",");
  let kept = "";
  let dropped = false;
  for (const token of tokens) {
    const name = token.trim();
    if (CONNECTION_PROTECTED.has(name.toLowerCase())) dropped = true;
    else if (name !== "") kept = kept === "" ? name : `${kept}, ${name}`;
  }
  return dropped ? kept : undefined;
}

function ignore(): void {}

type Listener = (...args: unknown[]) => void;

/** The request as the proxy sees it (the subset of IncomingMessage it uses). */
export class RawRequest {
  readonly socket: Socket;
  readonly method: string;
  readonly url: string;
  readonly httpVersionMajor: number;
  readonly httpVersionMinor: number;
  readonly rawHeaders: string[];
  complete = false;
  /** the body stream, when the request has a body */
  body: Readable | undefined;
  private headerMap: Record<string, string> | undefined;

  constructor(socket: Socket, method: string, url: string, major: number, minor: number, rawHeaders: string[]) {
    this.socket = socket;
    this.method = method;
    this.url = url;
    this.httpVersionMajor = major;
    this.httpVersionMinor = minor;
    this.rawHeaders = rawHeaders;
  }

  get httpVersion(): string {
    return `${this.httpVersionMajor}.${this.httpVersionMinor}`;
  }

  /** lower-cased names; repeated headers joined with ", " (cookies with "; "), as IncomingMessage */
  get headers(): Record<string, string> {
    if (this.headerMap !== undefined) return this.headerMap;
    const map: Record<string, string> = Object.create(null);
    const raw = this.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!.toLowerCase();
      const value = raw[i + 1]!;
      const existing = map[name];
      if (existing === undefined) map[name] = value;
      else if (name === "host") continue;
      else map[name] = `${existing}${name === "cookie" ? "; " : ", "}${value}`;
    }
    this.headerMap = map;
    return map;
  }

  get readableDidRead(): boolean {
    return this.body?.readableDidRead ?? false;
  }

  /** discard the rest of the body */
  resume(): void {
    this.body?.resume();
  }

  setTimeout(ms: number): void {
    this.socket.setTimeout(ms);
  }

  once(event: string, listener: Listener): this {
    if (this.body) this.body.once(event, (...args: unknown[]) => listener.apply(this, args));
    else if (event === "end") queueMicrotask(() => listener.call(this));
    return this;
  }

  on(event: string, listener: Listener): this {
    this.body?.on(event, listener);
    return this;
  }

  [Symbol.asyncIterator](): AsyncIterator<Buffer> {
    return (this.body ?? Readable.from([]))[Symbol.asyncIterator]();
  }
}

/** The response as the proxy sees it (the subset of ServerResponse it uses), queued on its connection. */
export class RawResponse {
  private readonly conn: RawConnection;
  private readonly req: RawRequest;
  get request(): RawRequest {
    return this.req;
  }
  statusCode = 200;
  headersSent = false;
  destroyed = false;
  finished = false;
  /** keep the connection open after this response */
  keepAlive: boolean;
  private pending: string[] = [];
  private chunked = false;
  private bodyless = false;
  /** bytes waiting for this response's turn */
  private queued: (string | Buffer)[] | null = null;
  private queuedBytes = 0;
  /** the response head, until the first body bytes go with it */
  private head: string | undefined;
  private closeListeners: Listener[] = [];
  private drainListeners: Listener[] = [];

  constructor(conn: RawConnection, req: RawRequest, keepAlive: boolean) {
    this.conn = conn;
    this.req = req;
    this.keepAlive = keepAlive;
  }

  setHeader(name: string, value: string | number): this {
    const lower = name.toLowerCase();
    for (let i = 0; i < this.pending.length; i += 2) {
      if (this.pending[i] === lower) {
        this.pending[i + 1] = String(value);
        return this;
      }
    }
    this.pending.push(lower, String(value));
    return this;
  }

  getHeaderNames(): string[] {
    return this.pending.filter((_, i) => i % 2 === 0);
  }

  removeHeader(name: string): void {
    const lower = name.toLowerCase();
    for (let i = 0; i < this.pending.length; i += 2) {
      if (this.pending[i] === lower) {
        this.pending.splice(i, 2);
        return;
      }
    }
  }

  /** Throws, sending nothing, on a header Node would refuse (the proxy turns that into a 502). */
  writeHead(status: number, headers?: string[]): this {
    if (this.headersSent) throw new Error("headers already sent");
    const all = headers === undefined ? this.pending : this.pending.concat(headers);
    let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? "unknown"}\r\n`;
    let length = false;
    let hasDate = false;
    let connectionClose = false;
    for (let i = 0; i < all.length; i += 2) {
      const name = all[i]!;
      const value = all[i + 1]!;
      if (!common._checkIsHttpToken(name) || common._checkInvalidHeaderChar(value))
        throw new TypeError(`invalid response header ${name}`);
      switch (name.length) {
        case 4:
          if (name.toLowerCase() === "date") hasDate = true;
          break;
        case 10:
          if (name.toLowerCase() === "connection") {
            if (value.toLowerCase().includes("close")) connectionClose = true;
            continue;
          }
          break;
        case 14:
          if (name.toLowerCase() === "content-length") length = true;
          break;
        case 17:
          if (name.toLowerCase() === "transfer-encoding") continue;
          break;
      }
      head += `${name}: ${value}\r\n`;
    }
    if (!hasDate) head += `Date: ${httpDate()}\r\n`;
    this.bodyless = this.req.method === "HEAD" || status === 204 || status === 304 || (status >= 100 && status < 200);
    if (!length && !this.bodyless) {
      // HTTP/1.0 clients cannot read chunked bodies: the body then runs to the connection's close
      if (this.req.httpVersionMinor === 0) connectionClose = true;
      else {
        this.chunked = true;
        head += "Transfer-Encoding: chunked\r\n";
      }
    }
    if (connectionClose) this.keepAlive = false;
    if (!this.keepAlive) head += "Connection: close\r\n";
    else if (this.req.httpVersionMinor === 0) head += "Connection: keep-alive\r\n";
    head += "\r\n";
    this.statusCode = status;
    this.headersSent = true;
    // written together with the first body bytes (or at the end): one write for the whole small response
    this.head = head;
    return this;
  }

  write(chunk: Buffer | string): boolean {
    if (this.destroyed || this.finished) return false;
    if (!this.headersSent) this.writeHead(this.statusCode);
    const socket = this.conn.socket;
    socket.cork();
    const ok = this.writeBody(chunk);
    socket.uncork();
    return ok;
  }

  private writeBody(chunk: Buffer | string): boolean {
    let ok = this.flushHead();
    if (this.bodyless || chunk.length === 0) return ok;
    if (this.chunked) {
      const size = typeof chunk === "string" ? Buffer.byteLength(chunk) : chunk.length;
      this.output(`${size.toString(16)}\r\n`);
      this.output(chunk);
      return this.output("\r\n");
    }
    ok = this.output(chunk);
    return ok;
  }

  private flushHead(): boolean {
    const head = this.head;
    if (head === undefined) return true;
    this.head = undefined;
    return this.output(head);
  }

  end(chunk?: Buffer | string): this {
    if (this.destroyed || this.finished) return this;
    if (!this.headersSent) this.writeHead(this.statusCode);
    const socket = this.conn.socket;
    socket.cork();
    if (chunk !== undefined) this.writeBody(chunk);
    else this.flushHead();
    if (this.chunked) this.output("0\r\n\r\n");
    socket.uncork();
    this.finished = true;
    if (this.queued === null) this.conn.responseDone(this);
    return this;
  }

  /** cut the response: the connection closes */
  destroy(_err?: Error): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.conn.socket.destroy();
  }

  on(event: string, listener: Listener): this {
    if (event === "close") this.closeListeners.push(listener);
    else if (event === "drain") this.drainListeners.push(listener);
    return this;
  }

  once(event: string, listener: Listener): this {
    const wrapped: Listener = (...args) => {
      this.off(event, wrapped);
      listener(...args);
    };
    return this.on(event, wrapped);
  }

  off(event: string, listener: Listener): this {
    const list = event === "close" ? this.closeListeners : event === "drain" ? this.drainListeners : [];
    const i = list.indexOf(listener);
    if (i >= 0) list.splice(i, 1);
    return this;
  }

  private output(data: string | Buffer): boolean {
    if (this.conn.queue[0] !== this) {
      // Not this response's turn: keep its bytes, and ask the upstream to wait beyond a socket-buffer's worth.
      if (this.queued === null) this.queued = [];
      this.queued.push(data);
      this.queuedBytes += data.length;
      return this.queuedBytes < QUEUED_HIGH_WATER;
    }
    const socket = this.conn.socket;
    return typeof data === "string" ? socket.write(data, "latin1") : socket.write(data);
  }

  /** this response is now first in line: write what it buffered */
  promote(): void {
    const queued = this.queued;
    this.queued = null;
    if (queued !== null) {
      const socket = this.conn.socket;
      socket.cork();
      for (const data of queued) typeof data === "string" ? socket.write(data, "latin1") : socket.write(data);
      socket.uncork();
    }
    if (this.finished) this.conn.responseDone(this);
    // deferred: promote runs inside another response's end, possibly inside the upstream client's callback
    else process.nextTick(emitDrainOf, this);
  }

  emitDrain(): void {
    for (const listener of this.drainListeners.slice()) listener();
  }

  fault(err: unknown): void {
    this.conn.fault("drain", err);
  }

  emitClose(): void {
    const listeners = this.closeListeners;
    this.closeListeners = [];
    for (const listener of listeners) listener.call(this);
  }
}

function bodyFull(body: Readable | undefined): boolean {
  return body !== undefined && body.readableLength >= body.readableHighWaterMark;
}

function emitDrainOf(res: RawResponse): void {
  try {
    res.emitDrain();
  } catch (err) {
    res.fault(err);
  }
}

/** A response in a connection's queue: the generic one, or the fast path's (direct.ts). */
type QueuedResponse = RawResponse | DirectExchange;

const CONNECTION = Symbol("nodeplane.rawConnection");
type ClientSocket = Socket & { [CONNECTION]?: RawConnection };

/**
 * Client sockets read with `onread` into one shared buffer: llhttp parses each read synchronously and copies
 * out what it keeps (header strings; body pieces and an upgrade's first bytes are copied explicitly), so no
 * read allocates a buffer of its own (Node's default: a fresh allocation per read, then a Readable push and a
 * 'data' event).
 */
const CLIENT_READ_BUFFER_SIZE = 64 * 1024;
let clientReadBuffer: Buffer | undefined;

function onClientRead(this: ClientSocket, nread: number, buf: Buffer): boolean {
  const conn = this[CONNECTION];
  if (conn !== undefined) conn.onData(buf.subarray(0, nread));
  // an upgraded connection: the tunnel pipes the socket, so its bytes go out as 'data' events (copied)
  else this.emit("data", Buffer.from(buf.subarray(0, nread)));
  return true;
}

/**
 * The server's accepted sockets cannot be given `onread`, so the accepted handle is wrapped in a new socket
 * that has it, as the L4 plane does (tcp-listener.ts); Node's own accept path does the same
 * (`new Socket({ handle })`), and `_server` keeps the server's connection count right.
 */
function adopt(accepted: Socket, server: Server): Socket {
  const handle = (accepted as unknown as { _handle: unknown })._handle;
  if (typeof handle !== "object" || handle === null) throw new Error("net.Socket without _handle: Node changed");
  clientReadBuffer ??= Buffer.allocUnsafeSlow(CLIENT_READ_BUFFER_SIZE);
  const socket = new Socket({
    handle,
    allowHalfOpen: true,
    readable: true,
    writable: true,
    pauseOnCreate: true,
    onread: { buffer: clientReadBuffer, callback: onClientRead },
  } as unknown as SocketConstructorOpts);
  (socket as unknown as { _server: Server })._server = server;
  return socket;
}

type PooledParser = NodeHttpParser & { conn: RawConnection | null };

/**
 * llhttp parsers are reused from connection to connection, as http.Server does (its FreeList of 1000): a new
 * parser and its five callback closures per connection were measurable at one connection per request. The
 * callbacks are set once; llhttp calls them with the parser as `this`, which leads to its connection.
 */
const freeParsers: PooledParser[] = [];
const MAX_FREE_PARSERS = 1000;

function takeParser(maxHeaderSize: number): PooledParser {
  const parser = freeParsers.pop() ?? newParser();
  // (re)initialising resets llhttp's whole state; strict: no lenient flag
  parser.initialize(HTTPParser.REQUEST, {}, maxHeaderSize, HTTPParser.kLenientNone);
  return parser;
}

function newParser(): PooledParser {
  const parser = new HTTPParser() as PooledParser;
  parser.conn = null;
  parser[kOnMessageBegin] = parserMessageBegin;
  parser[kOnHeaders] = parserHeaders;
  parser[kOnHeadersComplete] = parserHeadersComplete;
  parser[kOnBody] = parserBody;
  parser[kOnMessageComplete] = parserMessageComplete;
  return parser;
}

/** `reusable`: false after a fault, whose parser may be in any state */
function freeParser(parser: PooledParser, reusable: boolean): void {
  if (parser.conn === null) return; // freed already
  parser.conn = null;
  if (reusable && freeParsers.length < MAX_FREE_PARSERS) freeParsers.push(parser);
  else parser.close();
}

function parserMessageBegin(this: PooledParser): void {
  this.conn?.messageBegin();
}
function parserHeaders(this: PooledParser, headers: string[], url: string): void {
  this.conn?.headerBatch(headers, url);
}
function parserHeadersComplete(
  this: PooledParser,
  major: number,
  minor: number,
  headers: string[] | undefined,
  method: number,
  url: string | undefined,
  _status: unknown,
  _reason: unknown,
  upgrade: boolean,
  keepAlive: boolean,
): number {
  return this.conn?.headersComplete(major, minor, headers, method, url, upgrade, keepAlive) ?? 0;
}
function parserBody(this: PooledParser, chunk: Buffer): void {
  this.conn?.body(chunk);
}
function parserMessageComplete(this: PooledParser): void {
  this.conn?.messageComplete();
}

// Socket events run outside the parser's try (RawConnection.onData): each contains its own faults.
function onClientDrain(this: ClientSocket): void {
  const conn = this[CONNECTION];
  try {
    conn?.onDrain();
  } catch (err) {
    conn?.fault("drain", err);
  }
}
function onClientEnd(this: ClientSocket): void {
  const conn = this[CONNECTION];
  try {
    conn?.onEnd();
  } catch (err) {
    conn?.fault("end", err);
  }
}
function onClientClose(this: ClientSocket): void {
  const conn = this[CONNECTION];
  try {
    conn?.onClose();
  } catch (err) {
    conn?.fault("close", err);
  }
}
function destroySocket(this: Socket): void {
  this.destroy();
}

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
class RawConnection {
  readonly socket: Socket;
  private readonly server: RawHttpServer;
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

  constructor(server: RawHttpServer, socket: Socket) {
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

  // llhttp's callbacks (see takeParser)
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
    // From now on the socket's reads become 'data' events for the tunnel's pipe (see onClientRead).
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

/** The plain-HTTP listener on raw sockets (see the top of this file). */
export class RawHttpServer {
  readonly server: Server;
  readonly proxy: IngressProxy;
  readonly limits: ClientLimits;
  /** serve what direct.ts can serve through it */
  readonly fastPath: boolean;
  /** requests the fast path took (tests check that it serves what it should) */
  fastPathServed = 0;
  private readonly connections = new Set<RawConnection>();
  /** client sockets handed to handleUpgrade (tunnels, or waiting for the endpoint's answer): no longer connections */
  private readonly tunnels = new Set<Socket>();
  /** close() has begun: new connections are refused (the busy ones close after their requests: drain) */
  private draining = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly metrics: IngressMetrics | undefined;

  /** connections per client IP (shared with the HTTPS listener); undefined = no per-source cap */
  private readonly sourceCap: SourceCap | undefined;
  private readonly refusedBySource: { inc(): void } | undefined;

  constructor(proxy: IngressProxy, limits: ClientLimits, metrics?: IngressMetrics, sourceCap?: SourceCap) {
    this.proxy = proxy;
    this.limits = limits;
    this.metrics = metrics;
    this.sourceCap = sourceCap;
    this.refusedBySource = metrics?.connectionsRefused.labels({ listener: "http", cap: "source" });
    this.fastPath = limits.fastPath ?? defaultFastPath();
    // half-open as http.Server: a client that ends its side after pipelining still gets every response
    this.server = createNetServer({ noDelay: true, allowHalfOpen: true, pauseOnConnect: true }, (accepted) => {
      if (this.draining) {
        accepted.destroy();
        return;
      }
      try {
        const socket = adopt(accepted, this.server);
        // checked on the adopted socket: the peer name it reads here is cached for the proxy's X-Forwarded-For
        if (this.sourceCap !== undefined && !this.sourceCap.admit(socket)) {
          this.refusedBySource?.inc();
          socket.destroy();
          return;
        }
        this.connections.add(new RawConnection(this, socket));
        socket.resume();
      } catch (err) {
        this.countFault("accept", accepted, err);
        accepted.destroy();
        return;
      }
      this.timer ??= setInterval(() => this.check(), limits.connectionsCheckingIntervalMs);
      this.timer.unref();
    });
  }

  /** A connection closed by a fault (an exception while handling it): counted and logged with its client. */
  countFault(stage: string, socket: Socket, err: unknown): void {
    this.metrics?.connectionFaults.inc({ listener: "http", stage });
    this.proxy.logger.warn(
      { err, stage, client: socket.remoteAddress, port: socket.remotePort },
      "ingress: closed a client connection after an internal error",
    );
  }

  private listenPort = "";
  /** The listener's port as text: every accepted socket's local port (asked once, not per connection). */
  portText(socket: Socket): string {
    if (this.listenPort === "") this.listenPort = String(socket.localPort ?? "");
    return this.listenPort;
  }

  forget(conn: RawConnection): void {
    this.connections.delete(conn);
  }

  private check(): void {
    const now = performance.now();
    for (const conn of this.connections) {
      try {
        conn.check(now);
      } catch (err) {
        conn.fault("timer", err);
      }
    }
    if (this.connections.size === 0 && this.timer !== undefined) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  trackTunnel(socket: Socket): void {
    this.tunnels.add(socket);
    socket.once("close", () => this.tunnels.delete(socket));
  }

  /**
   * The first step of closing (after server.close()): idle and half-open connections are closed now, the
   * others once their requests are answered; tunnels are left to closeAllConnections.
   */
  drain(): void {
    this.draining = true;
    for (const conn of this.connections) {
      try {
        conn.drain();
      } catch (err) {
        conn.fault("close", err);
      }
    }
  }

  /** Every client socket, tunnels included: what is left when the grace of close() is over. */
  closeAllConnections(): void {
    for (const conn of this.connections) conn.socket.destroy();
    for (const socket of this.tunnels) socket.destroy();
  }
}
