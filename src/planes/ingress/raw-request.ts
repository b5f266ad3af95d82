import type { Socket } from "node:net";
import { Readable } from "node:stream";

export type Listener = (...args: unknown[]) => void;

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
