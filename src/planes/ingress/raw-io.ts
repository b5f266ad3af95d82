import { createRequire } from "node:module";
import { type Server, Socket, type SocketConstructorOpts } from "node:net";

/**
 * The raw HTTP/1 front end's plumbing below the connection (rawserver.ts describes the front end): Node's
 * llhttp binding and its pool of parsers, the shared-buffer socket reads, and the module-level parser
 * callbacks and socket listeners that find their connection through the parser or the socket, so that no
 * connection needs closures of its own. The connection (raw-connection.ts) is seen here only as the
 * RawClient interface it implements.
 */

/** What the parser callbacks and socket listeners below call on a client connection (RawConnection). */
export interface RawClient {
  messageBegin(): void;
  headerBatch(headers: string[], url: string): void;
  headersComplete(
    major: number,
    minor: number,
    headerList: string[] | undefined,
    method: number,
    target: string | undefined,
    upgrade: boolean,
    keepAlive: boolean,
  ): number;
  body(chunk: Buffer): void;
  messageComplete(): void;
  onData(data: Buffer): void;
  onDrain(): void;
  onEnd(): void;
  onClose(): void;
  fault(stage: string, err: unknown): void;
}

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

/** Node's own HTTP internals, as `http.Server` uses them: the llhttp binding, the method table, header checks. */
export const common = createRequire(import.meta.url)("_http_common") as HttpCommon;
const { HTTPParser } = common;
export const { methods } = common;
const kOnMessageBegin = HTTPParser.kOnMessageBegin;
const kOnHeaders = HTTPParser.kOnHeaders;
const kOnHeadersComplete = HTTPParser.kOnHeadersComplete;
const kOnBody = HTTPParser.kOnBody;
const kOnMessageComplete = HTTPParser.kOnMessageComplete;

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
export const REJECT_VERSION = "NODEPLANE_HTTP_VERSION";
/** a head we must not forward (two Host headers, HTTP/1.0 with Transfer-Encoding): 400 */
export const REJECT_HEAD = "NODEPLANE_BAD_HEAD";

export const CONNECTION = Symbol("nodeplane.rawConnection");
export type ClientSocket = Socket & { [CONNECTION]?: RawClient };

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
export function adopt(accepted: Socket, server: Server): Socket {
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

export type PooledParser = NodeHttpParser & { conn: RawClient | null };

/**
 * llhttp parsers are reused from connection to connection, as http.Server does (its FreeList of 1000): a new
 * parser and its five callback closures per connection were measurable at one connection per request. The
 * callbacks are set once; llhttp calls them with the parser as `this`, which leads to its connection.
 */
const freeParsers: PooledParser[] = [];
const MAX_FREE_PARSERS = 1000;

export function takeParser(maxHeaderSize: number): PooledParser {
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
export function freeParser(parser: PooledParser, reusable: boolean): void {
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
export function onClientDrain(this: ClientSocket): void {
  const conn = this[CONNECTION];
  try {
    conn?.onDrain();
  } catch (err) {
    conn?.fault("drain", err);
  }
}
export function onClientEnd(this: ClientSocket): void {
  const conn = this[CONNECTION];
  try {
    conn?.onEnd();
  } catch (err) {
    conn?.fault("end", err);
  }
}
export function onClientClose(this: ClientSocket): void {
  const conn = this[CONNECTION];
  try {
    conn?.onClose();
  } catch (err) {
    conn?.fault("close", err);
  }
}
export function destroySocket(this: Socket): void {
  this.destroy();
}
