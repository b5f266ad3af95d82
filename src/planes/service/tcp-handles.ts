/**
 * Node's libuv TCP handles (`process.binding('tcp_wrap')`, `stream_wrap`, both on Node's allowlist
 * for `process.binding`), typed for the forwarding path, and the start-up probe that decides whether
 * the service plane may use them.
 *
 * Why: a proxied connection through `net.Socket` costs two Duplex streams (each with its readable
 * and writable state, event emitter, async hooks bookkeeping, a write request object per write and
 * `nextTick`s on close). Splicing the two libuv handles directly leaves only the system calls and a
 * few property writes: about a third less CPU per new connection (l4-connrate, ≈ 100 → ≈ 66 µs per
 * connection; figures on HandleSplice in tcp-splice-handles.ts).
 *
 * The bindings are internal, so everything used is checked once at start-up (`probeTcpHandles`);
 * when anything is missing the plane falls back to the `net.Socket` path, which stays complete and
 * tested by the same suite. `NODEPLANE_TCP_HANDLES=0` forces the fallback.
 */

export interface TcpHandle {
  readStart(): number;
  readStop(): number;
  writeBuffer(req: WriteRequest, data: Uint8Array): number;
  shutdown(req: ShutdownRequest): number;
  close(callback?: () => void): void;
  reset(callback?: () => void): number;
  setNoDelay(on: boolean): number;
  connect(req: ConnectRequest, address: string, port: number): number;
  connect6(req: ConnectRequest, address: string, port: number): number;
  useUserBuffer(buffer: Uint8Array): void;
  getpeername(out: { address?: string }): number;
  onread: ((this: TcpHandle, arrayBuffer: ArrayBuffer | undefined) => Uint8Array | undefined) | null;
  readonly bytesRead: number;
  readonly bytesWritten: number;
  readonly writeQueueSize: number;
}

export interface WriteRequest {
  handle: TcpHandle | null;
  oncomplete: ((this: WriteRequest, status: number) => void) | null;
}

export interface ShutdownRequest {
  handle: TcpHandle | null;
  oncomplete: ((this: ShutdownRequest, status: number) => void) | null;
}

export interface ConnectRequest {
  oncomplete: ((this: ConnectRequest, status: number, handle: TcpHandle) => void) | null;
}

export interface TcpHandles {
  newSocket(): TcpHandle;
  newConnect(): ConnectRequest;
  newWrite(): WriteRequest;
  newShutdown(): ShutdownRequest;
  /** Node's shared read/write state: bytes (or a negative error) of the current read, last write async */
  state: Int32Array;
  kReadBytesOrError: number;
  kLastWriteWasAsync: number;
  /** libuv's end-of-stream code */
  EOF: number;
}

type Ctor<T> = new (...args: unknown[]) => T;

const HANDLE_METHODS = [
  "readStart",
  "readStop",
  "writeBuffer",
  "shutdown",
  "close",
  "reset",
  "setNoDelay",
  "connect",
  "connect6",
  "useUserBuffer",
  "getpeername",
] as const;

let probed: TcpHandles | string | undefined;

/** The handle bindings when they are usable here, or the reason they are not. */
export function probeTcpHandles(): TcpHandles | string {
  if (probed === undefined) probed = probe();
  return probed;
}

function probe(): TcpHandles | string {
  if (process.env.NODEPLANE_TCP_HANDLES === "0") return "disabled by NODEPLANE_TCP_HANDLES=0";
  try {
    const binding = (process as unknown as { binding(name: string): Record<string, unknown> }).binding;
    const tcp = binding("tcp_wrap") as {
      TCP?: Ctor<TcpHandle>;
      TCPConnectWrap?: Ctor<ConnectRequest>;
      constants?: { SOCKET?: number };
    };
    const stream = binding("stream_wrap") as {
      WriteWrap?: Ctor<WriteRequest>;
      ShutdownWrap?: Ctor<ShutdownRequest>;
      streamBaseState?: unknown;
      kReadBytesOrError?: unknown;
      kLastWriteWasAsync?: unknown;
    };
    const uv = binding("uv") as { UV_EOF?: unknown };
    const { TCP, TCPConnectWrap, constants } = tcp;
    const { WriteWrap, ShutdownWrap, streamBaseState, kReadBytesOrError, kLastWriteWasAsync } = stream;
    if (typeof TCP !== "function" || typeof TCPConnectWrap !== "function") return "tcp_wrap lacks TCP";
    if (typeof WriteWrap !== "function" || typeof ShutdownWrap !== "function") return "stream_wrap lacks requests";
    if (!(streamBaseState instanceof Int32Array)) return "stream_wrap lacks streamBaseState";
    if (typeof kReadBytesOrError !== "number" || typeof kLastWriteWasAsync !== "number")
      return "stream_wrap lacks its state indexes";
    if (typeof uv.UV_EOF !== "number") return "uv lacks UV_EOF";
    const socketType = constants?.SOCKET;
    if (typeof socketType !== "number") return "tcp_wrap lacks constants.SOCKET";
    const proto = TCP.prototype as Record<string, unknown>;
    for (const name of HANDLE_METHODS) if (typeof proto[name] !== "function") return `TCP handle lacks ${name}()`;
    // `onread` is an accessor of the stream base; the counters are accessors too
    for (const name of ["onread", "bytesRead", "bytesWritten", "writeQueueSize"])
      if (!(name in proto)) return `TCP handle lacks ${name}`;
    const EOF = uv.UV_EOF;
    return {
      newSocket: () => new TCP(socketType),
      newConnect: () => new TCPConnectWrap(),
      newWrite: () => new WriteWrap(),
      newShutdown: () => new ShutdownWrap(),
      state: streamBaseState,
      kReadBytesOrError,
      kLastWriteWasAsync,
      EOF,
    };
  } catch (err) {
    return `process.binding failed: ${(err as Error).message}`;
  }
}

/** Tests: run the suite over one path or the other (undefined: probe again). */
export function forceTcpPath(path: "handles" | "sockets" | undefined): void {
  probed = path === "sockets" ? "disabled by a test" : undefined;
}
