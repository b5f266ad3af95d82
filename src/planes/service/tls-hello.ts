import type { Socket } from "node:net";
import { readBuffers } from "./read-buffers.ts";
import { parseClientHello } from "./sni.ts";
import type { TcpHandle, TcpHandles } from "./tcp-handles.ts";

/**
 * Reads a TLS ClientHello off an accepted connection for passthrough (tcp-listener.ts): every byte
 * read is kept (it is written to the backend first, unchanged), until the hello is complete, the
 * client sends something that is not one, `maxBytes` are buffered without a complete hello, the
 * client goes away, or `timeoutMs` passes (a client that sends 3 bytes and stalls costs one timer and
 * a few bytes until then). One per connection while it says hello, then nothing is left of it.
 */
export interface HelloLimits {
  maxBytes: number;
  timeoutMs: number;
}

/** `bytes` is everything read so far; `sni` the name when the hello was read, else `failed` says why. */
export type HelloDone = (bytes: Buffer, sni: string | undefined, failed: string | undefined) => void;

const LINK = Symbol("nodeplane.hello");
type Linked = TcpHandle & { [LINK]?: HandleHello | undefined };

/** The libuv-handle path (tcp-splice-handles.ts): reads with the handle's own `onread`. */
export class HandleHello {
  private readonly handle: Linked;
  private readonly H: TcpHandles;
  private readonly limits: HelloLimits;
  private readonly done: HelloDone;
  private buffer: Buffer | undefined;
  private readonly bytes = new Bytes();
  private readonly timer: NodeJS.Timeout;
  private finished = false;

  constructor(handle: TcpHandle, H: TcpHandles, limits: HelloLimits, done: HelloDone) {
    this.handle = handle;
    this.H = H;
    this.limits = limits;
    this.done = done;
    this.timer = setTimeout(() => this.finish("no complete ClientHello before the timeout"), limits.timeoutMs);
    this.timer.unref();
    this.handle[LINK] = this;
    this.buffer = readBuffers.take(false);
    handle.onread = onHandleRead;
    handle.useUserBuffer(this.buffer);
    if (handle.readStart() !== 0) this.finish("read failed");
  }

  read(): void {
    if (this.finished) return;
    const nread = this.H.state[this.H.kReadBytesOrError]!;
    if (nread === this.H.EOF || nread < 0) {
      this.finish(nread === this.H.EOF ? "client closed before its ClientHello" : "read error");
      return;
    }
    if (nread === 0) return;
    this.bytes.append(this.buffer!.subarray(0, nread));
    this.check();
  }

  private check(): void {
    const result = parseClientHello(this.bytes.view(), this.limits.maxBytes);
    if (result.state === "done") this.finish(undefined, result.sni);
    else if (result.state === "invalid") this.finish(result.reason);
    else if (this.bytes.length >= this.limits.maxBytes) this.finish(`no ClientHello in ${this.limits.maxBytes} bytes`);
  }

  private finish(failed: string | undefined, sni?: string): void {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.timer);
    this.handle.readStop();
    // (the binding takes functions only; the splice sets its own when it starts reading)
    this.handle.onread = ignoreRead;
    this.handle[LINK] = undefined;
    if (this.buffer) readBuffers.give(this.buffer);
    this.buffer = undefined;
    this.done(this.bytes.view(), sni, failed);
  }
}

/** Bytes read so far: appended in amortised constant time per byte (a client may send one byte per segment). */
class Bytes {
  private buffer = Buffer.allocUnsafe(0);
  length = 0;

  append(chunk: Uint8Array): void {
    if (this.length + chunk.length > this.buffer.length) {
      const grown = Buffer.allocUnsafe(Math.max(2 * this.buffer.length, this.length + chunk.length, 1024));
      this.buffer.copy(grown, 0, 0, this.length);
      this.buffer = grown;
    }
    this.buffer.set(chunk, this.length);
    this.length += chunk.length;
  }

  view(): Buffer {
    return this.buffer.subarray(0, this.length);
  }
}

function ignoreRead(): undefined {
  return undefined;
}

function onHandleRead(this: Linked): Uint8Array | undefined {
  this[LINK]?.read();
  return undefined;
}

/** The `net.Socket` path (the fallback when the handle probe fails). The socket is left paused. */
export function socketHello(socket: Socket, limits: HelloLimits, done: HelloDone): void {
  const bytes = new Bytes();
  let finished = false;
  const finish = (failed: string | undefined, sni?: string): void => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    socket.pause();
    socket.off("data", onData);
    socket.off("end", onEnd);
    socket.off("close", onEnd);
    // anything the stream buffered after the last 'data' belongs to the bytes forwarded first
    for (let chunk = socket.read() as Buffer | null; chunk !== null; chunk = socket.read() as Buffer | null)
      bytes.append(chunk);
    done(bytes.view(), sni, failed);
  };
  const onData = (chunk: Buffer): void => {
    bytes.append(chunk);
    const result = parseClientHello(bytes.view(), limits.maxBytes);
    if (result.state === "done") finish(undefined, result.sni);
    else if (result.state === "invalid") finish(result.reason);
    else if (bytes.length >= limits.maxBytes) finish(`no ClientHello in ${limits.maxBytes} bytes`);
  };
  const onEnd = (): void => finish("client closed before its ClientHello");
  const timer = setTimeout(() => finish("no complete ClientHello before the timeout"), limits.timeoutMs);
  timer.unref();
  socket.on("error", noop);
  socket.on("data", onData);
  socket.on("end", onEnd);
  socket.on("close", onEnd);
  socket.resume();
}

function noop(): void {}
