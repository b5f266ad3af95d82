/**
 * HTTP/2 cleartext upstreams with prior knowledge (RFC 9113 §3.3), for backends whose Service port says
 * `appProtocol: kubernetes.io/h2c` (gRPC servers above all): H2cClients keeps one node:http2 session per
 * endpoint and carries each request over a stream of it (H2cExchange), streaming the body both ways with
 * backpressure and passing the response's trailers back (gRPC's grpc-status and grpc-message are trailers).
 *
 * Failures are answered here, never thrown: 502 when the endpoint cannot be reached or resets the stream
 * before answering, 504 when the request's deadline passes first, 503 when the endpoint already has as many
 * streams in flight as allowed. A gRPC request (content-type application/grpc*) gets them the way gRPC
 * clients understand, as Envoy answers them: HTTP 200 with only a HEADERS frame carrying grpc-status 14
 * UNAVAILABLE (unreachable, reset, overloaded) or 4 DEADLINE_EXCEEDED (deadline) and a grpc-message.
 * Once the response has started, a failure can only cut it: the client's HTTP/2 stream is reset (never its
 * session), an HTTP/1.1 client's connection is closed.
 *
 * One unit, over 500 lines, as proxy.ts is: H2cClients (the sessions per endpoint, their stream count and idle
 * close) and H2cExchange (one request's life on a stream of them) are one request's two halves. An exchange
 * takes and gives back its endpoint's stream slot, retries a refused stream on a new session of it, and is
 * answered by the endpoint's connect timer; apart they would need each other's private state.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import {
  type ClientHttp2Session,
  type ClientHttp2Stream,
  constants,
  Http2ServerRequest,
  type Http2ServerResponse,
  connect as h2Connect,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
} from "node:http2";
import { connect as netConnect } from "node:net";
import type { Readable } from "node:stream";
import type { Logger } from "../../log.ts";
import { H2C_REQUEST_SKIP, RESPONSE_SKIP } from "./headers.ts";

// As proxy.ts names them; not imported from there, because the proxy imports this module.
type ClientRequest = IncomingMessage | Http2ServerRequest;
type ClientResponse = ServerResponse | Http2ServerResponse;

const SERVER = "nodeplane";
const { NGHTTP2_CANCEL, NGHTTP2_FLAG_END_STREAM, NGHTTP2_NO_ERROR, NGHTTP2_REFUSED_STREAM } = constants;

/** gRPC status codes used for the proxy's own answers (grpc/doc/statuscodes.md) */
export const GRPC_UNAVAILABLE = 14;
export const GRPC_DEADLINE_EXCEEDED = 4;

/** Trailers never passed back: the framing and routing fields RFC 9110 §6.5.1 forbids in trailers, and hop-by-hop. */
const TRAILER_DROP: ReadonlySet<string> = new Set([
  ...RESPONSE_SKIP,
  "content-length",
  "content-type",
  "content-encoding",
  "host",
  "authorization",
  "set-cookie",
]);

export interface H2cOptions {
  connectTimeoutMs: number;
  /** a session without streams and without traffic for this long is closed */
  idleTimeoutMs: number;
  /** most streams in flight to one endpoint (queued ones included); beyond: 503 / gRPC UNAVAILABLE. Default 1024 */
  maxStreamsPerEndpoint?: number;
}

export interface H2cHead {
  method: string;
  path: string;
  authority: string;
  headers: Record<string, string | string[]>;
  /** the request body to send when it is not the request's own stream (a RequestMirror tee of it) */
  body?: Readable;
  /** changes the response headers before they are sent (a ResponseHeaderModifier); names are lowercase */
  modifyResponse?: (headers: Record<string, string | string[]>) => void;
}

/** Request body bytes kept to send a refused stream's body again; a longer body is never sent twice. */
const REPLAY_LIMIT = 64 * 1024;

/** Why a session failed, for the streams that were waiting on it. */
type SessionFailure = "connect-timeout" | "connect-error" | undefined;

/** One endpoint's session and what is known about it. */
class H2cEndpoint {
  readonly key: string;
  readonly session: ClientHttp2Session;
  connected = false;
  failure: SessionFailure;
  /** no new streams on it: GOAWAY received, closed or failed */
  retired = false;
  streams = 0;
  connectTimer: NodeJS.Timeout | undefined;

  constructor(key: string, session: ClientHttp2Session) {
    this.key = key;
    this.session = session;
  }
}

/**
 * The h2c upstream client: one HTTP/2 session per endpoint (ip:port), created on first use, shared by all of
 * that endpoint's requests, replaced when the backend sends GOAWAY or the connection closes, closed after
 * `idleTimeoutMs` without streams.
 */
export class H2cClients {
  readonly logger: Logger;
  readonly options: Required<H2cOptions>;
  private readonly endpoints = new Map<string, H2cEndpoint>();
  private closed = false;

  constructor(logger: Logger, options: H2cOptions) {
    this.logger = logger;
    this.options = { maxStreamsPerEndpoint: 1024, ...options };
  }

  /**
   * Proxies `req` to http://ip:port over h2c: response headers, body and trailers back. Answers 502/503/504
   * (gRPC: UNAVAILABLE / DEADLINE_EXCEEDED) itself on failure; `done` gets the status sent (499 when the client
   * went away first), exactly once. `timeoutMs` bounds the whole exchange (Gateway API timeouts); undefined: none.
   */
  forward(
    req: ClientRequest,
    res: ClientResponse,
    target: { ip: string; port: number },
    head: H2cHead,
    timeoutMs: number | undefined,
    done: (status: number) => void,
  ): void {
    const exchange = new H2cExchange(this, req, res, head, timeoutMs, done);
    try {
      exchange.start(target);
    } catch (err) {
      exchange.fail(err);
    }
  }

  /** An endpoint's live session, made on first use; undefined when it already carries the most streams allowed. */
  endpoint(ip: string, port: number): H2cEndpoint | undefined {
    if (this.closed) throw new Error("h2c clients closed");
    const key = ip.includes(":") ? `[${ip}]:${port}` : `${ip}:${port}`;
    let endpoint = this.endpoints.get(key);
    if (endpoint === undefined || endpoint.retired || endpoint.session.destroyed || endpoint.session.closed) {
      endpoint = this.open(key, ip, port);
      this.endpoints.set(key, endpoint);
    }
    if (endpoint.streams >= this.options.maxStreamsPerEndpoint) return undefined;
    return endpoint;
  }

  /**
   * Opens a stream to the endpoint with the head's headers (hop-by-hop removed), counted against its bound;
   * undefined when the endpoint already has the most streams allowed. The caller handles the stream's events
   * ('error' included).
   */
  request(
    target: { ip: string; port: number },
    head: H2cHead,
    endStream: boolean,
    teTrailers = false,
  ): ClientHttp2Stream | undefined {
    const endpoint = this.endpoint(target.ip, target.port);
    if (endpoint === undefined) return undefined;
    const headers = upstreamHeaders(head);
    if (teTrailers) headers.te = "trailers";
    const stream = endpoint.session.request(headers, { endStream });
    endpoint.streams++;
    STREAM_ENDPOINT.set(stream, endpoint);
    stream.once("close", onCountedStreamClose);
    return stream;
  }

  private open(key: string, ip: string, port: number): H2cEndpoint {
    const session = h2Connect(`http://${key}`, {
      settings: { enablePush: false },
      // no DNS: the target is an endpoint IP
      createConnection: () => netConnect({ host: ip, port, noDelay: true }),
    });
    const endpoint = new H2cEndpoint(key, session);
    endpoint.connectTimer = setTimeout(connectTimedOut, this.options.connectTimeoutMs, this, endpoint);
    session.once("connect", () => {
      endpoint.connected = true;
      clearTimeout(endpoint.connectTimer);
    });
    session.on("error", (err: Error) => {
      if (!endpoint.connected && endpoint.failure === undefined) endpoint.failure = "connect-error";
      this.logger.debug({ err, upstream: key }, "h2c upstream session failed");
    });
    session.on("goaway", () => this.retire(endpoint));
    session.once("close", () => {
      clearTimeout(endpoint.connectTimer);
      this.retire(endpoint);
    });
    // Idle: no frames for idleTimeoutMs. Only a session without streams is closed (a stream's own deadline
    // is the request's business).
    // on(), not setTimeout's callback (a once listener): a timeout that passed with streams open must not be the last
    session.setTimeout(this.options.idleTimeoutMs);
    session.on("timeout", () => {
      if (endpoint.streams === 0) {
        this.retire(endpoint);
        session.close();
      }
    });
    return endpoint;
  }

  retire(endpoint: H2cEndpoint): void {
    endpoint.retired = true;
    if (this.endpoints.get(endpoint.key) === endpoint) this.endpoints.delete(endpoint.key);
  }

  /** Number of endpoint sessions open (tests). */
  get sessions(): number {
    return this.endpoints.size;
  }

  /** Closes every session at once (in-flight streams are reset). */
  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.endpoints.values()];
    this.endpoints.clear();
    await Promise.all(
      all.map(
        (endpoint) =>
          new Promise<void>((resolve) => {
            clearTimeout(endpoint.connectTimer);
            if (endpoint.session.destroyed) resolve();
            else {
              endpoint.session.once("close", () => resolve());
              endpoint.session.destroy();
            }
          }),
      ),
    );
  }
}

const STREAM_ENDPOINT = new WeakMap<ClientHttp2Stream, H2cEndpoint>();

function onCountedStreamClose(this: ClientHttp2Stream): void {
  const endpoint = STREAM_ENDPOINT.get(this);
  if (endpoint !== undefined) endpoint.streams--;
}

/** The endpoint a stream of request() goes to, and why its session failed, if it did. */
function endpointOf(stream: ClientHttp2Stream): H2cEndpoint | undefined {
  return STREAM_ENDPOINT.get(stream);
}

function connectTimedOut(clients: H2cClients, endpoint: H2cEndpoint): void {
  if (endpoint.connected) return;
  endpoint.failure = "connect-timeout";
  clients.retire(endpoint);
  endpoint.session.destroy();
}

/** What went wrong with one exchange, before the response started. */
type Failure = "unreachable" | "connect-timeout" | "timeout" | "reset" | "overloaded" | "bad-response";

/** One request over one stream of an endpoint's session. */
class H2cExchange {
  private readonly clients: H2cClients;
  private readonly req: ClientRequest;
  private readonly res: ClientResponse;
  private readonly head: H2cHead;
  private readonly timeoutMs: number | undefined;
  private readonly onDone: (status: number) => void;
  private readonly h2: boolean;
  private readonly grpc: boolean;
  private endpoint: H2cEndpoint | undefined;
  private stream: ClientHttp2Stream | undefined;
  private body: Readable | undefined;
  private timer: NodeJS.Timeout | undefined;
  private responded = false;
  private trailers: IncomingHttpHeaders | undefined;
  private finished = false;
  private timedOut = false;
  private status = 0;
  private target: { ip: string; port: number } = { ip: "", port: 0 };
  private hasBody = false;
  private attempts = 0;
  /** the request body so far, while it may still be sent again (REPLAY_LIMIT); null once it cannot */
  private replay: Buffer[] | null = [];
  private replayBytes = 0;
  private bodyEnded = false;
  private bodyPaused = false;

  constructor(
    clients: H2cClients,
    req: ClientRequest,
    res: ClientResponse,
    head: H2cHead,
    timeoutMs: number | undefined,
    done: (status: number) => void,
  ) {
    this.clients = clients;
    this.req = req;
    this.res = res;
    this.head = head;
    this.timeoutMs = timeoutMs;
    this.onDone = done;
    this.h2 = req instanceof Http2ServerRequest;
    this.grpc = isGrpc(head.headers["content-type"]);
  }

  start(target: { ip: string; port: number }): void {
    this.target = target;
    this.hasBody = requestHasBody(this.req);
    if (!this.open()) return;
    this.res.on("close", () => this.guard(this.onClientClose, undefined));
    if (this.hasBody) {
      const body = this.head.body ?? (((this.req as { body?: Readable }).body ?? this.req) as Readable);
      this.body = body;
      body.on("data", (chunk: Buffer) => this.guard(this.onBodyData, chunk));
      body.on("end", () => this.guard(this.onBodyEnd, undefined));
      body.on("error", () => this.guard(this.cancelUpstream, undefined));
      // a request body cut short: the upstream must not take it for a complete one
      body.on("aborted", () => this.guard(this.cancelUpstream, undefined));
    }
    if (this.timeoutMs !== undefined && this.timeoutMs > 0)
      this.timer = setTimeout(exchangeTimedOut, this.timeoutMs, this);
  }

  /** Opens the upstream stream (again, after a refused one); false when the endpoint is at its bound (answered). */
  private open(): boolean {
    this.attempts++;
    // `te: trailers` is hop-by-hop to the proxy in front (so often no longer in the head), yet gRPC servers may
    // insist on it (gRPC over HTTP/2: "TE → te trailers" is required): sent for gRPC, and when the client sent it
    const stream = this.clients.request(this.target, this.head, !this.hasBody, this.grpc || clientTeTrailers(this.req));
    if (stream === undefined) {
      this.answerFailure("overloaded");
      return false;
    }
    const endpoint = endpointOf(stream)!;
    this.endpoint = endpoint;
    this.stream = stream;
    // Every listener is guarded: a fault while handling one exchange ends that exchange, never the process.
    stream.on("response", (headers, flags) => this.guard(this.onResponse, headers, flags));
    stream.on("trailers", (trailers) => {
      this.trailers = trailers;
    });
    stream.on("data", (chunk: Buffer) => this.guard(this.onData, chunk));
    stream.on("end", () => this.guard(this.onEnd, undefined));
    stream.on("drain", () => this.guard(this.onStreamDrain, undefined));
    stream.on("error", (err: Error) => this.clients.logger.debug({ err, upstream: endpoint.key }, "h2c stream error"));
    stream.once("close", () => this.guard(this.onStreamClose, stream));
    if (this.hasBody && this.attempts > 1) {
      // a refused stream: what was sent of the body goes again, and the client's body flows again (a pause for
      // the refused stream's full buffer would never see that stream drain)
      for (const chunk of this.replay!) stream.write(chunk);
      if (this.bodyEnded) stream.end();
      if (this.bodyPaused) {
        this.bodyPaused = false;
        this.body?.resume();
      }
    }
    return true;
  }

  /** Request body bytes: to the upstream stream, pausing the client while the stream's buffer is full. */
  private onBodyData(chunk: Buffer): void {
    const replay = this.replay;
    if (replay !== null) {
      if (this.replayBytes + chunk.length > REPLAY_LIMIT) {
        this.replay = null;
      } else {
        replay.push(chunk);
        this.replayBytes += chunk.length;
      }
    }
    const stream = this.stream;
    if (stream === undefined || stream.destroyed || stream.closed) return;
    if (!stream.write(chunk) && !this.bodyPaused) {
      this.bodyPaused = true;
      this.body!.pause();
    }
  }

  private onBodyEnd(): void {
    this.bodyEnded = true;
    const stream = this.stream;
    if (stream !== undefined && !stream.destroyed && !stream.closed) stream.end();
  }

  private onStreamDrain(): void {
    if (!this.bodyPaused) return;
    this.bodyPaused = false;
    this.body!.resume();
  }

  private guard<T, U>(handler: (this: H2cExchange, arg: T, arg2: U) => void, arg: T, arg2?: U): void {
    try {
      handler.call(this, arg, arg2 as U);
    } catch (err) {
      this.fail(err);
    }
  }

  private onResponse(headers: IncomingHttpHeaders, flags: number): void {
    if (this.finished) return;
    // answered: the body is never sent again
    this.replay = null;
    try {
      const status = Number(headers[":status"]);
      if (!(status >= 200 && status <= 599)) throw new Error(`bad :status ${headers[":status"]}`);
      this.status = status;
      const out = responseHeaders(headers);
      this.head.modifyResponse?.(out);
      if (this.h2 && (flags & NGHTTP2_FLAG_END_STREAM) !== 0) {
        // A head that ends the stream (gRPC's "Trailers-Only" error answers) must reach the client as one too:
        // gRPC clients read grpc-status from it only then.
        const stream = (this.res as Http2ServerResponse).stream;
        stream.respond({ ...out, ":status": status }, { endStream: true });
        this.responded = true;
        this.finish(status);
        return;
      }
      if (this.h2) (this.res as Http2ServerResponse).writeHead(status, out);
      else writeH1Head(this.res, status, out);
      this.responded = true;
    } catch (err) {
      this.clients.logger.debug({ err, upstream: this.endpoint?.key }, "h2c response refused");
      this.resetHeadersOf();
      this.cancelUpstream();
      this.answerFailure("bad-response");
    }
  }

  /** A head Node refused leaves headers set on the response: clear them before the proxy's own answer. */
  private resetHeadersOf(): void {
    const res = this.res;
    if (!res.headersSent) for (const name of res.getHeaderNames()) res.removeHeader(name);
  }

  private onData(chunk: Buffer): void {
    if (this.finished || !this.responded) return;
    if ((this.res as { write(chunk: Buffer): boolean }).write(chunk)) return;
    const stream = this.stream!;
    stream.pause();
    this.res.once("drain", () => {
      if (!stream.destroyed) stream.resume();
    });
  }

  private onEnd(): void {
    if (this.finished) return;
    // Node ends the readable side of a stream the peer reset too: that is no complete response (onStreamClose)
    const rst = this.stream!.rstCode;
    if (rst !== undefined && rst !== NGHTTP2_NO_ERROR) return;
    if (!this.responded) {
      // a stream ended without a response head: the backend broke HTTP/2
      this.answerFailure("reset");
      return;
    }
    const trailers = this.trailers;
    if (trailers !== undefined && this.acceptsTrailers()) {
      const out = trailerFields(trailers);
      if (out.length > 0) addTrailers(this.res, out, this.h2);
    }
    this.finish(this.status);
    this.res.end();
  }

  /** HTTP/2 clients always take trailers; an HTTP/1.1 client only when it said `TE: trailers` (RFC 9110 §10.1.4). */
  private acceptsTrailers(): boolean {
    return this.h2 || clientTeTrailers(this.req);
  }

  private onStreamClose(stream: ClientHttp2Stream): void {
    // a stream given up for another (refused, sent again) is no longer this exchange's
    if (this.finished || stream !== this.stream) return;
    if (!this.responded) {
      // REFUSED_STREAM: the backend did not process it (RFC 9113 §8.7), so it may go again, once, on a new
      // session, when the whole body sent so far is still at hand
      if (
        stream.rstCode === NGHTTP2_REFUSED_STREAM &&
        this.attempts < 2 &&
        !this.timedOut &&
        this.replay !== null &&
        this.endpoint?.failure === undefined
      ) {
        if (this.endpoint !== undefined) this.clients.retire(this.endpoint);
        this.open();
        return;
      }
      clearTimeout(this.timer);
      const failure = this.endpoint?.failure;
      if (this.timedOut) this.answerFailure("timeout");
      else if (failure === "connect-timeout") this.answerFailure("connect-timeout");
      else if (failure === "connect-error" || stream.rstCode === NGHTTP2_REFUSED_STREAM)
        this.answerFailure("unreachable");
      else this.answerFailure("reset");
      return;
    }
    // The response had started and the upstream stream closed before its end: cut the client's too.
    this.cutClient(
      stream.rstCode === NGHTTP2_NO_ERROR || stream.rstCode === undefined ? NGHTTP2_CANCEL : stream.rstCode,
    );
    this.finish(this.status);
  }

  /** The client went away (its stream or connection closed) before the response ended: reset the upstream stream. */
  private onClientClose(): void {
    if (this.finished) return;
    this.finish(499);
    this.cancelUpstream();
  }

  timeout(): void {
    if (this.finished) return;
    this.timedOut = true;
    if (!this.responded) {
      this.cancelUpstream();
      this.answerFailure("timeout");
      return;
    }
    this.cancelUpstream();
    this.cutClient(NGHTTP2_CANCEL);
    this.finish(this.status);
  }

  private cancelUpstream(): void {
    const stream = this.stream;
    if (stream !== undefined && !stream.closed && !stream.destroyed) stream.close(NGHTTP2_CANCEL);
    // what the client still sends is not wanted
    if (this.bodyPaused) {
      this.bodyPaused = false;
      this.body?.resume();
    }
    this.replay = null;
  }

  /** Cuts the client's response: its HTTP/2 stream (with the upstream's code), or its HTTP/1 connection. */
  private cutClient(code: number): void {
    if (this.h2) {
      const stream = (this.res as Http2ServerResponse).stream;
      if (!stream.closed && !stream.destroyed) stream.close(code);
    } else this.res.destroy();
  }

  /** An exception inside: answer 502 if nothing was sent, else cut; never thrown further. */
  fail(err: unknown): void {
    this.clients.logger.warn({ err, uri: this.req.url }, "fault while forwarding an h2c request");
    try {
      this.cancelUpstream();
      if (this.finished) return;
      if (this.responded || this.res.headersSent) {
        this.cutClient(NGHTTP2_CANCEL);
        this.finish(this.status || 502);
      } else this.answerFailure("unreachable");
    } catch {
      try {
        this.cutClient(NGHTTP2_CANCEL);
      } catch {
        // nothing more can be done for this exchange
      }
      this.finish(this.status || 502);
    }
  }

  private answerFailure(failure: Failure): void {
    if (this.finished) return;
    clearTimeout(this.timer);
    // what the client still sends is not wanted
    if (!this.req.complete) this.req.resume();
    if (this.res.headersSent || this.res.destroyed) {
      this.cutClient(NGHTTP2_CANCEL);
      this.finish(this.status || 502);
      return;
    }
    if (this.grpc) {
      const code = failure === "timeout" ? GRPC_DEADLINE_EXCEEDED : GRPC_UNAVAILABLE;
      this.finish(200);
      sendGrpcError(this.res, this.h2, code, GRPC_MESSAGES[failure]);
      return;
    }
    const [status, text] = HTTP_ANSWERS[failure];
    this.finish(status);
    sendPlain(this.res, status, text);
  }

  private finish(status: number): void {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.timer);
    try {
      this.onDone(status);
    } catch (err) {
      this.clients.logger.warn({ err }, "h2c: the done callback threw");
    }
  }
}

function exchangeTimedOut(exchange: H2cExchange): void {
  try {
    exchange.timeout();
  } catch (err) {
    exchange.fail(err);
  }
}

const HTTP_ANSWERS: Record<Failure, [number, string]> = {
  unreachable: [502, "502 Bad Gateway\n"],
  // as proxy.ts answers an undici connect timeout
  "connect-timeout": [504, "504 Gateway Timeout\n"],
  reset: [502, "502 Bad Gateway\n"],
  "bad-response": [502, "502 Bad Gateway\n"],
  overloaded: [503, "503 Service Unavailable: too many streams to the endpoint\n"],
  timeout: [504, "504 Gateway Timeout\n"],
};

const GRPC_MESSAGES: Record<Failure, string> = {
  unreachable: "upstream connect error",
  "connect-timeout": "upstream connect timeout",
  reset: "upstream reset before response started",
  "bad-response": "upstream sent an invalid response",
  overloaded: "too many streams to the upstream",
  timeout: "upstream request timeout",
};

function clientTeTrailers(req: ClientRequest): boolean {
  const te = req.headers.te;
  return typeof te === "string" && /(^|,)\s*trailers\s*(;|,|$)/i.test(te);
}

export function isGrpc(contentType: string | string[] | undefined): boolean {
  const value = Array.isArray(contentType) ? contentType[0] : contentType;
  return value !== undefined && /^application\/grpc([+;]|$)/i.test(value);
}

/** A request has a body unless it ended with its head (HTTP/2) or says neither Content-Length > 0 nor chunked. */
function requestHasBody(req: ClientRequest): boolean {
  if (req instanceof Http2ServerRequest) return !req.stream.endAfterHeaders;
  const headers = req.headers;
  if (headers["transfer-encoding"] !== undefined) return true;
  const length = headers["content-length"];
  return length !== undefined && Number(length) > 0;
}

/** The upstream request's headers: the head's, without hop-by-hop and pseudo-headers, plus the pseudo-headers. */
export function upstreamHeaders(head: H2cHead): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {
    ":method": head.method,
    ":scheme": "http",
    ":authority": head.authority,
    ":path": head.path,
  };
  const headers = head.headers;
  const connection = headers.connection;
  const named = connection === undefined ? undefined : tokens(connection);
  for (const name in headers) {
    const lower = name.toLowerCase();
    if (lower.charCodeAt(0) === 58 /* : */ || H2C_REQUEST_SKIP.has(lower)) continue;
    if (named?.has(lower) && lower !== "content-length") continue;
    const value = headers[name]!;
    if (lower === "te") {
      // HTTP/2 allows only "trailers" (RFC 9113 §8.2.2); gRPC servers want it
      if (tokens(value).has("trailers")) out.te = "trailers";
      continue;
    }
    out[lower] = value;
  }
  return out;
}

function tokens(value: string | string[]): Set<string> {
  const set = new Set<string>();
  for (const part of (Array.isArray(value) ? value.join(",") : value).split(",")) {
    const token = part.split(";")[0]!.trim().toLowerCase();
    if (token !== "") set.add(token);
  }
  return set;
}

/** The response headers passed back (pseudo-headers, hop-by-hop, Server and Date dropped; our Server added). */
function responseHeaders(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = { server: SERVER };
  for (const name in headers) {
    if (name.charCodeAt(0) === 58 || RESPONSE_SKIP.has(name)) continue;
    const value = headers[name];
    if (value !== undefined) out[name] = Array.isArray(value) ? value : String(value);
  }
  return out;
}

function writeH1Head(res: ClientResponse, status: number, headers: Record<string, string | string[]>): void {
  const flat: string[] = [];
  for (const name in headers) {
    const value = headers[name]!;
    if (Array.isArray(value)) for (const v of value) flat.push(name, v);
    else flat.push(name, value);
  }
  (res as unknown as { writeHead(status: number, headers: string[]): void }).writeHead(status, flat);
}

/** The trailer fields passed back, flat (name, value, …). */
function trailerFields(trailers: IncomingHttpHeaders): string[] {
  const out: string[] = [];
  for (const name in trailers) {
    if (name.charCodeAt(0) === 58 || TRAILER_DROP.has(name)) continue;
    const value = trailers[name];
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) out.push(name, v);
    else out.push(name, String(value));
  }
  return out;
}

function addTrailers(res: ClientResponse, flat: string[], h2: boolean): void {
  if (h2) {
    const record: Record<string, string | string[]> = {};
    for (let i = 0; i < flat.length; i += 2) {
      const name = flat[i]!;
      const existing = record[name];
      if (existing === undefined) record[name] = flat[i + 1]!;
      else record[name] = Array.isArray(existing) ? [...existing, flat[i + 1]!] : [existing, flat[i + 1]!];
    }
    (res as Http2ServerResponse).addTrailers(record);
    return;
  }
  const target = res as unknown as { addTrailers?: (headers: [string, string][]) => void };
  if (typeof target.addTrailers !== "function") return;
  const pairs: [string, string][] = [];
  for (let i = 0; i < flat.length; i += 2) pairs.push([flat[i]!, flat[i + 1]!]);
  try {
    target.addTrailers(pairs);
  } catch {
    // a field HTTP/1.1 cannot carry (Node refuses it): the body still ends, without trailers
  }
}

/**
 * A gRPC error from the proxy: HTTP 200, grpc-status and grpc-message in the one HEADERS frame that ends the
 * stream ("Trailers-Only", gRPC over HTTP/2 spec); over HTTP/1.1 the same fields as headers of an empty body.
 */
export function sendGrpcError(res: ClientResponse, h2: boolean, code: number, message: string): void {
  const headers = {
    server: SERVER,
    "content-type": "application/grpc",
    "grpc-status": String(code),
    "grpc-message": encodeGrpcMessage(message),
  };
  if (h2) {
    const stream = (res as Http2ServerResponse).stream;
    if (stream.destroyed || stream.closed) return;
    stream.respond({ ":status": 200, ...headers }, { endStream: true });
    return;
  }
  const flat = ["content-length", "0"];
  for (const [name, value] of Object.entries(headers)) flat.push(name, value);
  (res as unknown as { writeHead(status: number, headers: string[]): void }).writeHead(200, flat);
  res.end();
}

/** grpc-message is percent-encoded outside printable ASCII (gRPC over HTTP/2 spec). */
export function encodeGrpcMessage(message: string): string {
  let out = "";
  for (const byte of Buffer.from(message, "utf8")) {
    if (byte >= 0x20 && byte <= 0x7e && byte !== 0x25) out += String.fromCharCode(byte);
    else out += `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

function sendPlain(res: ClientResponse, status: number, body: string): void {
  res.setHeader("server", SERVER);
  res.setHeader("content-type", "text/plain; charset=utf-8");
  res.setHeader("content-length", Buffer.byteLength(body));
  res.statusCode = status;
  res.end(body);
}
