import { STATUS_CODES } from "node:http";
import type { Socket } from "node:net";
import { turnEpochMs } from "./clock.ts";
import { common } from "./raw-io.ts";
import type { Listener, RawRequest } from "./raw-request.ts";

/** What a response needs from its client connection (raw-connection.ts RawConnection). */
export interface ResponseClient {
  readonly socket: Socket;
  /** the responses in request order: only the first one's bytes go to the socket */
  readonly queue: readonly object[];
  /** the response is complete: the next one in line may go */
  responseDone(res: RawResponse): void;
  fault(stage: string, err: unknown): void;
}

/** Bytes a response waiting for its turn keeps before it reports backpressure. */
const QUEUED_HIGH_WATER = 64 * 1024;

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

/** The response as the proxy sees it (the subset of ServerResponse it uses), queued on its connection. */
export class RawResponse {
  private readonly conn: ResponseClient;
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
  /** trailer section of a chunked body (addTrailers), written by end() */
  private trailers = "";
  private chunked = false;
  private bodyless = false;
  /** bytes waiting for this response's turn */
  private queued: (string | Buffer)[] | null = null;
  private queuedBytes = 0;
  /** the response head, until the first body bytes go with it */
  private head: string | undefined;
  private closeListeners: Listener[] = [];
  private drainListeners: Listener[] = [];

  constructor(conn: ResponseClient, req: RawRequest, keepAlive: boolean) {
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

  /**
   * Trailer fields sent after a chunked body (as ServerResponse.addTrailers; ignored when the body is not
   * chunked). Throws, sending nothing, on a field Node would refuse.
   */
  addTrailers(fields: readonly (readonly [string, string])[]): void {
    let out = "";
    for (const [name, value] of fields) {
      if (!common._checkIsHttpToken(name) || common._checkInvalidHeaderChar(value))
        throw new TypeError(`invalid trailer ${name}`);
      out += `${name}: ${value}\r\n`;
    }
    this.trailers += out;
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
    if (this.chunked) this.output(`0\r\n${this.trailers}\r\n`);
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

function emitDrainOf(res: RawResponse): void {
  try {
    res.emitDrain();
  } catch (err) {
    res.fault(err);
  }
}
