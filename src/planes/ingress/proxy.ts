/**
 * The generic proxy path, one unit: IngressProxy (route a request, answer what needs no endpoint) and
 * Exchange (the undici dispatch handler that carries one request to an endpoint and its response back, with
 * retries), with the helpers both use on every request (response header copies, Connection tokens, the
 * error-code sets). The two are one request's life: IngressProxy creates the Exchange and the Exchange
 * reads IngressProxy's settings and logger on every attempt. The fast path (direct.ts), the upgrade
 * path (upgrade.ts) and the dropped-header sets (headers.ts) are modules of their own. Over 500 lines
 * for that reason.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { Http2ServerRequest, type Http2ServerResponse } from "node:http2";
import { Readable } from "node:stream";
import type { Dispatcher } from "undici";
import type { Logger } from "../../log.ts";
import type { BackendAppProtocol } from "../../snapshot/gateway.ts";
import { modifyHeaderRecord, modifyHeaders, redirectLocation, rewriteTarget } from "./gateway-filters.ts";
import type { GatewayHostTable, GatewayMatcher } from "./gateway-matcher.ts";
import type { GatewayPlan, GatewayRuleRuntime } from "./gateway-routes.ts";
import type { H2cClients } from "./h2c.ts";
import { CONNECTION_PROTECTED, REQUEST_SKIP, RESPONSE_SKIP, skipResponseHeader } from "./headers.ts";
import { Matcher, normalizeHost, normalizePath } from "./matcher.ts";
import type { IngressMetrics } from "./metrics.ts";
import { teeBody } from "./mirror.ts";
import { newRequestId } from "./requestid.ts";
import { type BackendRuntime, RouteRuntime } from "./routes.ts";

export type ClientRequest = IncomingMessage | Http2ServerRequest;
export type ClientResponse = ServerResponse | Http2ServerResponse;

export interface ProxySettings {
  /** the HTTPS listener's port, for redirects (omitted from the URL when 443); undefined = no redirects */
  httpsPort: number | undefined;
  headerTimeoutMs: number;
  connectTimeoutMs: number;
  /** further endpoints tried after a failed connect */
  retries: number;
  /** keep `%2F`/`%5C`/`\\` in paths (one segment) instead of refusing them with 400 (see normalizePath) */
  allowEscapedSlashes?: boolean;
}

export const SERVER = "nodeplane";
const EXCHANGE = Symbol("nodeplane.exchange");

interface ResponseWithExchange {
  [EXCHANGE]?: Exchange;
}

const REDIRECT_HOST = /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/;

/** P2's RequestMirror sender (mirror.ts), as the proxy uses it. */
export interface MirrorSender {
  send(
    target: { ip: string; port: number; appProtocol: BackendAppProtocol },
    method: string,
    path: string,
    headers: readonly string[],
    body: AsyncIterable<Buffer> | undefined,
  ): void;
}

/** P2's h2c upstream (h2c.ts), as the proxy uses it. */
export type H2cForwarder = Pick<H2cClients, "forward">;

const REDIRECT_TEXT: Record<number, string> = {
  301: "301 Moved Permanently\n",
  302: "302 Found\n",
  303: "303 See Other\n",
  307: "307 Temporary Redirect\n",
  308: "308 Permanent Redirect\n",
};

/**
 * Routes client requests with the snapshot's matcher and proxies them to endpoints. One instance serves
 * both listeners; `matcher` is swapped whole on each snapshot, so a request sees one consistent table.
 */
export class IngressProxy {
  matcher: Matcher<RouteRuntime>;
  readonly notFound: RouteRuntime;
  readonly settings: ProxySettings;
  readonly logger: Logger;
  accessLog: boolean;
  /**
   * the Gateway routes of this socket (docs/gateway.md), swapped whole per snapshot: tried first; a Host no
   * Gateway virtual host claims goes to the Ingress `matcher`
   */
  gateway: GatewayMatcher<GatewayRuleRuntime> | undefined;
  /** the same for requests over TLS (one proxy serves the ingress HTTP and HTTPS listeners) */
  gatewayTls: GatewayMatcher<GatewayRuleRuntime> | undefined;
  /** the Gateway listeners' ports (redirects without a scheme or port of their own name it) */
  gatewayPort = 0;
  gatewayTlsPort = 0;
  /** RequestMirror and h2c backends (P2's mirror.ts and h2c.ts), when the plane has them */
  mirror: MirrorSender | undefined;
  h2c: H2cForwarder | undefined;

  private readonly metrics: IngressMetrics;

  constructor(settings: ProxySettings, metrics: IngressMetrics, logger: Logger) {
    this.settings = settings;
    this.logger = logger;
    this.metrics = metrics;
    this.notFound = new RouteRuntime(undefined, undefined, metrics);
    this.matcher = new Matcher<RouteRuntime>(
      { hosts: [], certificates: [], ingresses: [], statusAddresses: [] },
      () => {
        throw new Error("unreachable");
      },
    );
    this.accessLog = logger.isLevelEnabled("debug");
  }

  /**
   * Serves one request. Whatever goes wrong inside is contained here: the request gets a 500 (or, once its
   * response has started, its stream or connection is cut), the fault is counted and logged, and nothing
   * reaches the process.
   */
  handle(req: ClientRequest, res: ClientResponse, secure: boolean): undefined {
    try {
      this.route(req, res, secure);
    } catch (err) {
      this.fault("request", err, req, res);
    }
    return undefined;
  }

  /** A bug met while handling one request: answer 500 if nothing was sent yet, else cut it; count, log. */
  fault(stage: string, err: unknown, req: ClientRequest, res: ClientResponse): void {
    this.noteFault(stage, err, req);
    try {
      if (res.headersSent || res.destroyed) {
        cut(req);
        return;
      }
      if (!(req instanceof Http2ServerRequest)) res.setHeader("connection", "close");
      sendPlain(res, 500, "500 Internal Server Error\n");
      if (!req.complete) req.resume();
    } catch {
      cut(req);
    }
  }

  /** Counts and logs a fault (see handle); the caller answers or cuts. */
  noteFault(stage: string, err: unknown, req: ClientRequest): void {
    this.metrics.faults.inc({ stage });
    this.logger.warn({ err, stage, method: req.method, uri: req.url }, "fault while handling an ingress request");
  }

  private route(req: ClientRequest, res: ClientResponse, secure: boolean): undefined {
    const start = performance.now();
    // By the object's type, never by the version the client wrote: `HTTP/2.0` in an HTTP/1 request line is
    // still an HTTP/1 request, without a stream or :authority.
    const h2 = req instanceof Http2ServerRequest;
    let rawHost: string | undefined;
    if (h2) {
      // :authority wins; a host header naming anything else is malformed (RFC 9113 §8.3.1)
      const authority = req.headers[":authority"];
      const host = req.headers.host;
      if (authority !== undefined && host !== undefined && host.toLowerCase() !== authority.toLowerCase())
        return this.reject(req, res, this.notFound, 400, "400 Bad Request: host differs from :authority\n", start);
      rawHost = authority ?? host;
    } else {
      if (req.httpVersionMajor !== 1 || req.httpVersionMinor > 1)
        return this.reject(req, res, this.notFound, 505, "505 HTTP Version Not Supported\n", start);
      const hosts = hostCount(req.rawHeaders);
      if (hosts > 1) return this.reject(req, res, this.notFound, 400, "400 Bad Request: more than one Host\n", start);
      rawHost = req.headers.host;
      if (hosts === 0 && req.httpVersionMinor === 1)
        return this.reject(req, res, this.notFound, 400, "400 Bad Request: Host header required\n", start);
    }
    // as nginx: TRACE would echo credentials back (cross-site tracing)
    if (req.method === "TRACE") return this.reject(req, res, this.notFound, 405, "405 Method Not Allowed\n", start);
    const target = req.url ?? "/";
    const path = normalizePath(target, this.settings.allowEscapedSlashes);
    if (path === undefined)
      return this.reject(req, res, this.notFound, 400, "400 Bad Request: malformed path\n", start);
    const host = normalizeHost(rawHost);
    const gateway = secure ? this.gatewayTls : this.gateway;
    if (gateway !== undefined) {
      const table = gateway.host(host);
      if (table !== undefined) return this.routeGateway(req, res, secure, table, host, rawHost, path, target, start);
    }
    const runtime = this.matcher.match(host, path) ?? this.notFound;
    const route = runtime.route;
    if (route === undefined) return this.reject(req, res, runtime, 404, "404 Not Found\n", start);
    const clientIp = clientAddress(req);
    if (!runtime.allows(clientIp)) return this.reject(req, res, runtime, 403, "403 Forbidden\n", start);
    if (!secure && route.redirectToHttps && this.settings.httpsPort !== undefined) {
      if (!REDIRECT_HOST.test(host)) return this.reject(req, res, runtime, 400, "400 Bad Request: bad Host\n", start);
      const port = this.settings.httpsPort === 443 ? "" : `:${this.settings.httpsPort}`;
      res.setHeader("location", `https://${host}${port}${target}`);
      return this.reject(req, res, runtime, 308, "308 Permanent Redirect\n", start);
    }
    const backend = runtime.backend!;
    if (backend.endpoints.length === 0)
      return this.reject(req, res, runtime, 503, "503 Service Unavailable: no endpoints\n", start);

    const exchange = new Exchange(this, req, res, runtime, backend, start);
    if (!exchange.prepare(rawHost, clientIp, secure, path, target)) return undefined;
    (res as ResponseWithExchange)[EXCHANGE] = exchange;
    res.on("close", onClientClose);
    exchange.dispatch();
    return undefined;
  }

  /**
   * A request a Gateway virtual host claims: its first matching rule (none: 404), then that rule's
   * redirect, or a backend picked by weight (none valid: 500, no endpoints: 503), carried by an Exchange
   * with the rule's filters (or to an h2c backend, P2's h2c.ts).
   */
  private routeGateway(
    req: ClientRequest,
    res: ClientResponse,
    secure: boolean,
    table: GatewayHostTable<GatewayRuleRuntime>,
    host: string,
    rawHost: string | undefined,
    path: string,
    target: string,
    start: number,
  ): undefined {
    const method = req.method ?? "GET";
    const compiled = table.match(method, path, target, req.rawHeaders);
    if (compiled === undefined) return this.reject(req, res, this.notFound, 404, "404 Not Found\n", start);
    const rule = compiled.runtime;
    if (rule.invalid !== undefined)
      return this.reject(req, res, rule.errorRuntime, 500, "500 Internal Server Error\n", start, rule.label);
    const redirect = rule.redirect;
    if (redirect !== undefined) {
      const location = redirectLocation(redirect, {
        scheme: secure ? "https" : "http",
        host,
        listenerPort: (secure ? this.gatewayTlsPort : this.gatewayPort) || (req.socket?.localPort ?? 0),
        path,
        target,
        prefixLength: compiled.prefixLength,
      });
      res.setHeader("location", location);
      const status = redirect.statusCode;
      return this.reject(
        req,
        res,
        rule.errorRuntime,
        status,
        REDIRECT_TEXT[status] ?? `${status}\n`,
        start,
        rule.label,
      );
    }
    const backend = rule.pick();
    const runtime = backend?.runtime;
    // the specification: no backend, every weight 0, or the picked reference invalid → 500
    if (backend === undefined || runtime === undefined)
      return this.reject(req, res, rule.errorRuntime, 500, "500 Internal Server Error\n", start, rule.label);
    const endpoints = runtime.backend!;
    if (endpoints.endpoints.length === 0)
      return this.reject(req, res, runtime, 503, "503 Service Unavailable: no endpoints\n", start, rule.label);
    const upstreamTarget =
      rule.rewrite?.path === undefined ? target : rewriteTarget(rule.rewrite.path, path, target, compiled.prefixLength);
    const plan: GatewayPlan = { rule, backend, upstreamTarget };
    const clientIp = clientAddress(req);
    if (backend.appProtocol === "h2c")
      return this.forwardH2c(req, res, plan, runtime, rawHost, clientIp, secure, path, target, start);
    const exchange = new Exchange(this, req, res, runtime, endpoints, start, plan);
    if (!exchange.prepare(rawHost, clientIp, secure, path, target)) return undefined;
    (res as ResponseWithExchange)[EXCHANGE] = exchange;
    res.on("close", onClientClose);
    exchange.mirror();
    exchange.dispatch();
    return undefined;
  }

  /** An h2c backend (gRPC): P2's H2cClients carries it; without them, 502. */
  private forwardH2c(
    req: ClientRequest,
    res: ClientResponse,
    plan: GatewayPlan,
    runtime: RouteRuntime,
    rawHost: string | undefined,
    clientIp: string,
    secure: boolean,
    path: string,
    target: string,
    start: number,
  ): undefined {
    const h2c = this.h2c;
    if (h2c === undefined) return this.reject(req, res, runtime, 502, "502 Bad Gateway\n", start, plan.rule.label);
    // the same upstream headers as an Exchange would send (filters, X-Forwarded-*), as a record
    const exchange = new Exchange(this, req, res, runtime, runtime.backend!, start, plan);
    if (!exchange.prepare(rawHost, clientIp, secure, path, target)) return undefined;
    // only its head is used: the request's deadline is H2cClients' (which answers it as gRPC expects)
    exchange.headOnly();
    // RequestMirror (GRPCRoute has it too): the body then goes upstream through the mirror's tee
    exchange.mirror();
    const headers: Record<string, string | string[]> = {};
    const flat = exchange.upstreamHeaders;
    let authority = rawHost ?? "";
    for (let i = 0; i < flat.length; i += 2) {
      const name = flat[i]!.toLowerCase();
      const value = flat[i + 1]!;
      if (name === "host") {
        authority = value;
        continue;
      }
      const existing = headers[name];
      if (existing === undefined) headers[name] = value;
      else if (Array.isArray(existing)) existing.push(value);
      else headers[name] = [existing, value];
    }
    const backend = runtime.backend!;
    const endpoint = backend.endpoints[backend.next()]!;
    const label = plan.rule.label;
    const responseModifier = plan.backend.responseModifier;
    h2c.forward(
      req,
      res,
      { ip: endpoint.ip, port: endpoint.port },
      {
        method: req.method ?? "GET",
        path: plan.upstreamTarget,
        authority,
        headers,
        body: exchange.requestBody,
        modifyResponse: responseModifier === undefined ? undefined : (h) => modifyHeaderRecord(h, responseModifier),
      },
      plan.rule.requestTimeoutMs ?? plan.rule.backendTimeoutMs,
      (status) => this.finished(req, runtime, status, start, endpoint.address, label),
    );
    return undefined;
  }

  /** A short plain answer from the proxy itself (the built-in default backend and errors). */
  reject(
    req: ClientRequest,
    res: ClientResponse,
    runtime: RouteRuntime,
    status: number,
    body: string,
    start: number,
    rule?: string,
  ): undefined {
    // After a malformed request the connection's state is suspect: close it (HTTP/1 only; HTTP/2 streams are separate).
    if ((status === 400 || status === 505) && !(req instanceof Http2ServerRequest) && !res.headersSent)
      res.setHeader("connection", "close");
    sendPlain(res, status, body);
    // An unread request body would otherwise stall a keep-alive connection.
    if (!req.complete) req.resume();
    this.finished(req, runtime, status, start, undefined, rule);
    return undefined;
  }

  finished(
    req: ClientRequest,
    runtime: RouteRuntime,
    status: number,
    start: number,
    upstream: string | undefined,
    rule?: string,
  ): void {
    const ms = performance.now() - start;
    runtime.observe(status, req.method ?? "GET", ms / 1000);
    if (this.accessLog)
      this.logger.debug(
        {
          access: true,
          client: clientAddress(req),
          method: req.method,
          host: req.headers.host ?? (req as Http2ServerRequest).authority,
          uri: req.url,
          proto: `HTTP/${req.httpVersion}`,
          status,
          ingress: runtime.route ? `${runtime.route.ingress.namespace}/${runtime.route.ingress.name}` : undefined,
          // a Gateway rule: `Kind namespace/name rule N match M`
          rule,
          upstream,
          ms: Math.round(ms * 1000) / 1000,
        },
        "request",
      );
  }
}

/** Cuts one request: its HTTP/2 stream (never the whole session), or its HTTP/1 connection. */
function cut(req: ClientRequest): void {
  if (req instanceof Http2ServerRequest) req.stream.destroy();
  else req.socket?.destroy();
}

function clearSendTimeout(this: ClientRequest): void {
  this.setTimeout(0);
}

function onClientClose(this: ClientResponse): void {
  (this as ResponseWithExchange)[EXCHANGE]?.clientClosed();
}

/**
 * One proxied request: the undici dispatch handler (no per-request closures on the normal path).
 * A failed connect is retried on the next endpoint while nothing of the request body has been read.
 */
class Exchange implements Dispatcher.DispatchHandler {
  private readonly proxy: IngressProxy;
  private readonly req: ClientRequest;
  private readonly res: ClientResponse;
  private readonly runtime: RouteRuntime;
  private readonly backend: BackendRuntime;
  private readonly start: number;
  private readonly h2: boolean;
  private headers: string[] = [];
  private upstreamPath = "/";
  private hasBody = false;
  private body: Readable | null = null;
  private endpoint = 0;
  private attempts = 0;
  private controller: Dispatcher.DispatchController | undefined;
  private responded = false;
  private done = false;
  private setCookie: string | undefined;
  private status = 0;
  private responseHeaders: string[] | Record<string, string | string[]> | undefined;
  private drainListener: (() => void) | undefined;
  /** a Gateway rule's filters and timeouts (undefined for Ingress routes) */
  private readonly plan: GatewayPlan | undefined;
  /** timeouts.request: the whole request, from routing to the response's end (then 504, or the response cut) */
  private deadline: NodeJS.Timeout | undefined;

  constructor(
    proxy: IngressProxy,
    req: ClientRequest,
    res: ClientResponse,
    runtime: RouteRuntime,
    backend: BackendRuntime,
    start: number,
    plan?: GatewayPlan,
  ) {
    this.plan = plan;
    this.proxy = proxy;
    this.req = req;
    this.res = res;
    this.runtime = runtime;
    this.backend = backend;
    this.start = start;
    this.h2 = req instanceof Http2ServerRequest;
  }

  /** Builds the upstream request; answers the client itself (and returns false) when it must not go upstream. */
  prepare(rawHost: string | undefined, clientIp: string, secure: boolean, path: string, target: string): boolean {
    const { req, runtime } = this;
    const settings = runtime.route!.settings;
    const raw = req.rawHeaders;
    const out: string[] = [];
    let forwardedFor: string | undefined;
    let requestId: string | undefined;
    let contentLength = -1;
    let chunked = false;
    let connectionTokens: string | undefined;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!;
      const value = raw[i + 1]!;
      if (name.charCodeAt(0) === 58 /* : */) continue;
      const lower = name.toLowerCase();
      // HTTP/2: the one host forwarded is the :authority (added below)
      if (this.h2 && lower === "host") continue;
      if (REQUEST_SKIP.has(lower)) {
        if (lower === "x-forwarded-for")
          forwardedFor = forwardedFor === undefined ? value : `${forwardedFor}, ${value}`;
        else if (lower === "x-request-id" && requestId === undefined && /^[\x21-\x7e]{1,200}$/.test(value))
          requestId = value;
        else if (lower === "transfer-encoding") chunked = true;
        else if (lower === "connection") connectionTokens = value.toLowerCase();
        continue;
      }
      if (lower === "content-length") contentLength = Number(value);
      if (connectionTokens !== undefined && isConnectionToken(connectionTokens, lower)) continue;
      out.push(name, value);
    }
    if (connectionTokens !== undefined) removeConnectionTokens(out, connectionTokens);
    if (this.h2 && rawHost !== undefined) out.push("host", rawHost);
    const plan = this.plan;
    if (plan !== undefined) {
      // URLRewrite's hostname is the Host sent upstream (X-Forwarded-Host keeps the client's); then the
      // header modifiers (the rule's, then the backendRef's)
      const hostname = plan.rule.rewrite?.hostname;
      if (hostname !== undefined)
        for (let i = 0; i < out.length; i += 2) if (out[i]!.toLowerCase() === "host") out[i + 1] = hostname;
      const modifier = plan.backend.requestModifier;
      if (modifier !== undefined) modifyHeaders(out, modifier);
    }
    out.push(
      "x-forwarded-for",
      forwardedFor === undefined ? clientIp : `${forwardedFor}, ${clientIp}`,
      "x-real-ip",
      clientIp,
      "x-forwarded-proto",
      secure ? "https" : "http",
      "x-forwarded-host",
      rawHost ?? "",
      "x-forwarded-port",
      String(req.socket?.localPort ?? ""),
      "x-request-id",
      requestId ?? newRequestId(),
    );
    this.headers = out;

    const max = settings.maxBodyBytes;
    if (max > 0 && contentLength > max) {
      this.proxy.reject(req, this.res, runtime, 413, "413 Request Entity Too Large\n", this.start);
      return false;
    }
    this.hasBody = req instanceof Http2ServerRequest ? !req.stream.endAfterHeaders : chunked || contentLength > 0;
    if (this.hasBody)
      this.body =
        max > 0 && contentLength < 0
          ? Readable.from(limitBody(req, max, this), { objectMode: false })
          : ((req as { body?: Readable }).body ?? req);
    if (this.hasBody && settings.sendTimeoutMs !== undefined) {
      req.setTimeout(settings.sendTimeoutMs);
      // Only while the body arrives: waiting for the upstream's answer is proxy-read-timeout's job.
      req.once("end", clearSendTimeout);
    }

    this.upstreamPath =
      plan !== undefined
        ? plan.upstreamTarget
        : settings.rewriteTarget === undefined
          ? target
          : rewrite(settings.rewriteTarget, path, target, runtime.prefixLength);
    const requestMs = plan?.rule.requestTimeoutMs;
    if (requestMs !== undefined) this.deadline = setTimeout(exchangeTimedOut, requestMs, this);

    const affinity = settings.affinity;
    this.endpoint = -1;
    if (affinity) {
      const value = cookieFrom(req.headers.cookie, affinity.name);
      if (value !== undefined) this.endpoint = this.backend.indexOfCookie(value);
    }
    if (this.endpoint < 0) {
      this.endpoint = this.backend.next();
      if (affinity) {
        const endpoint = this.backend.endpoints[this.endpoint]!;
        this.setCookie = `${affinity.name}=${endpoint.cookie}; Path=${affinity.path}; HttpOnly${
          affinity.maxAgeSeconds !== undefined ? `; Max-Age=${affinity.maxAgeSeconds}` : ""
        }`;
      }
    }
    return true;
  }

  /** the upstream request's headers, as prepare() built them */
  get upstreamHeaders(): readonly string[] {
    return this.headers;
  }

  /**
   * RequestMirror: a copy of the request (as sent upstream) to each mirror backend, through P2's Mirror,
   * which never delays or affects this request. A request with a body is mirrored without waiting for it:
   * its chunks are teed to the mirror as they stream (bounded by the Mirror's own limits).
   */
  mirror(): void {
    const plan = this.plan;
    const sender = this.proxy.mirror;
    if (plan === undefined || plan.rule.mirrors.length === 0 || sender === undefined) return;
    for (const filter of plan.rule.mirrors) {
      const endpoints = filter.backend.endpoints;
      if (endpoints.length === 0) continue;
      if (filter.percent < 100 && Math.random() * 100 >= filter.percent) continue;
      const endpoint = endpoints[Math.floor(Math.random() * endpoints.length)]!;
      const body = this.hasBody ? this.teeBody() : undefined;
      sender.send(
        { ip: endpoint.ip, port: endpoint.port, appProtocol: filter.appProtocol },
        this.req.method ?? "GET",
        this.upstreamPath,
        this.headers,
        body,
      );
    }
  }

  /**
   * The request body, streamed to the upstream as before and copied to a mirror as each chunk passes (P2's
   * teeBody: the real upstream sets the pace; a mirror that falls behind loses its copy).
   */
  private teeBody(): AsyncIterable<Buffer> | undefined {
    const source = this.body;
    if (source === null) return undefined;
    const { main, mirror } = teeBody(source);
    this.body = Readable.from(main, { objectMode: false });
    return mirror;
  }

  /** The request body as it goes upstream (the request's own stream, or a mirror's tee of it); undefined: none. */
  get requestBody(): Readable | undefined {
    return this.body ?? undefined;
  }

  /** This exchange only built an upstream head (an h2c backend's): its deadline must never fire. */
  headOnly(): void {
    this.done = true;
    if (this.deadline !== undefined) {
      clearTimeout(this.deadline);
      this.deadline = undefined;
    }
  }

  /** timeouts.request elapsed: 504 when nothing was answered yet, else the response is cut. */
  timedOut(): void {
    this.deadline = undefined;
    if (this.done) return;
    this.done = true;
    const err = Object.assign(new Error("request timeout"), { code: "UND_ERR_HEADERS_TIMEOUT" });
    this.controller?.abort(err);
    if (!this.responded) {
      sendPlain(this.res, 504, "504 Gateway Timeout\n");
      if (!this.req.complete) this.req.resume();
    } else this.res.destroy(err);
    this.finish(504);
  }

  dispatch(): void {
    const endpoint = this.backend.endpoints[this.endpoint]!;
    const timeout = this.runtime.route!.settings.readTimeoutMs ?? this.proxy.settings.headerTimeoutMs;
    this.attempts++;
    endpoint.pool.dispatch(
      {
        path: this.upstreamPath,
        method: (this.req.method ?? "GET") as Dispatcher.HttpMethod,
        headers: this.headers,
        body: this.body,
        headersTimeout: timeout,
        bodyTimeout: timeout,
      },
      this,
    );
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.done) controller.abort(new Error("client went away"));
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number): void {
    // The head is written with the first body bytes (or at the end), so a response that turns out malformed
    // before any of its body arrived can still become a clean 502.
    const raw = controller.rawHeaders as Buffer[] | string[] | undefined;
    this.status = statusCode;
    this.responseHeaders = this.h2 ? h2Headers(raw, this.setCookie) : h1Headers(raw, this.setCookie);
    const modifier = this.plan?.backend.responseModifier;
    if (modifier !== undefined) {
      if (this.h2) modifyHeaderRecord(this.responseHeaders as Record<string, string | string[]>, modifier);
      else modifyHeaders(this.responseHeaders as string[], modifier);
    }
  }

  /** Writes the response head; false (and nothing sent) when Node refuses a header (invalid characters). */
  private startResponse(): boolean {
    try {
      if (this.h2)
        (this.res as Http2ServerResponse).writeHead(
          this.status,
          this.responseHeaders as Record<string, string | string[]>,
        );
      else (this.res as ServerResponse).writeHead(this.status, this.responseHeaders as string[]);
      this.responded = true;
      return true;
    } catch {
      if (!this.res.headersSent) for (const name of this.res.getHeaderNames()) this.res.removeHeader(name);
      return false;
    }
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (!this.responded && !this.startResponse()) {
      controller.abort(upstreamHeaderRejected());
      return;
    }
    if ((this.res as ServerResponse).write(chunk)) return;
    controller.pause();
    if (this.drainListener === undefined) this.drainListener = () => this.controller?.resume();
    this.res.once("drain", this.drainListener);
  }

  onResponseEnd(): void {
    if (this.done) return;
    if (!this.responded && !this.startResponse()) {
      this.done = true;
      sendPlain(this.res, 502, "502 Bad Gateway\n");
      if (!this.req.complete) this.req.resume();
      this.finish(502);
      return;
    }
    this.done = true;
    this.res.end();
    this.finish(this.res.statusCode);
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    if (this.done) return;
    const code = (err as { code?: string }).code ?? "";
    if (!this.responded) {
      const endpoints = this.backend.endpoints.length;
      const replayable = !this.hasBody || !this.req.readableDidRead;
      // A kept-alive upstream connection can be closed by the backend just as a request is sent on it: an
      // idempotent request without body is then safe to send once more (nginx's proxy_next_upstream error).
      const reset = RESET_ERRORS.has(code) && !this.hasBody && IDEMPOTENT.has(this.req.method ?? "");
      if (
        (CONNECT_ERRORS.has(code) || reset) &&
        replayable &&
        this.attempts <= this.proxy.settings.retries &&
        (this.attempts < endpoints || (reset && this.attempts === 1))
      ) {
        this.proxy.logger.debug(
          { err, upstream: this.backend.endpoints[this.endpoint]?.address },
          "upstream connect failed; retrying",
        );
        this.endpoint = this.endpoint + 1 >= endpoints ? 0 : this.endpoint + 1;
        this.controller = undefined;
        this.dispatch();
        return;
      }
      this.done = true;
      if (code === "NODEPLANE_BODY_TOO_LARGE") sendPlain(this.res, 413, "413 Request Entity Too Large\n");
      else if (TIMEOUT_ERRORS.has(code)) sendPlain(this.res, 504, "504 Gateway Timeout\n");
      else sendPlain(this.res, 502, "502 Bad Gateway\n");
      if (!this.req.complete) this.req.resume();
      this.proxy.logger.debug({ err, upstream: this.backend.endpoints[this.endpoint]?.address }, "upstream failed");
      this.finish(this.res.statusCode);
      return;
    }
    // The response had started: all we can do is cut it, so the client sees it incomplete.
    this.done = true;
    this.res.destroy(err);
    this.finish(this.res.statusCode);
  }

  /** The client connection closed before the response ended: stop the upstream request. */
  clientClosed(): void {
    if (this.done) return;
    this.done = true;
    this.controller?.abort(new Error("client went away"));
    this.finish(499);
  }

  bodyTooLarge(): Error {
    const err = new Error("request body larger than proxy-body-size") as Error & { code: string };
    err.code = "NODEPLANE_BODY_TOO_LARGE";
    return err;
  }

  private finish(status: number): void {
    if (this.deadline !== undefined) {
      clearTimeout(this.deadline);
      this.deadline = undefined;
    }
    this.proxy.finished(
      this.req,
      this.runtime,
      status,
      this.start,
      this.backend.endpoints[this.endpoint]?.address,
      this.plan?.rule.label,
    );
  }
}

function exchangeTimedOut(exchange: Exchange): void {
  exchange.timedOut();
}

function upstreamHeaderRejected(): Error {
  const err = new Error("upstream response header rejected by Node (invalid characters)") as Error & { code: string };
  err.code = "NODEPLANE_BAD_RESPONSE";
  return err;
}

export const CONNECT_ERRORS = new Set([
  "ECONNREFUSED",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EHOSTDOWN",
  "EADDRNOTAVAIL",
  "UND_ERR_CONNECT_TIMEOUT",
]);
export const RESET_ERRORS = new Set(["UND_ERR_SOCKET", "ECONNRESET", "EPIPE"]);
export const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS"]);
export const TIMEOUT_ERRORS = new Set([
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
  "UND_ERR_CONNECT_TIMEOUT",
  "ETIMEDOUT",
]);

/** A chunked request body, cut off with 413 semantics once it exceeds the limit. */
async function* limitBody(req: ClientRequest, max: number, exchange: Exchange): AsyncGenerator<Buffer> {
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) throw exchange.bodyTooLarge();
    yield chunk;
  }
}

function h1Headers(raw: Buffer[] | string[] | undefined, setCookie: string | undefined): string[] {
  const out: string[] = ["server", SERVER];
  if (raw) {
    for (let i = 0; i < raw.length; i += 2) {
      const n = raw[i]!;
      const name = typeof n === "string" ? n : n.toString("latin1");
      if (skipResponseHeader(name)) continue;
      const v = raw[i + 1]!;
      out.push(name, typeof v === "string" ? v : v.toString("latin1"));
    }
  }
  if (setCookie !== undefined) out.push("set-cookie", setCookie);
  return out;
}

function h2Headers(
  raw: Buffer[] | string[] | undefined,
  setCookie: string | undefined,
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = { server: SERVER };
  const add = (name: string, value: string) => {
    const existing = out[name];
    if (existing === undefined) out[name] = value;
    else if (Array.isArray(existing)) existing.push(value);
    else out[name] = [existing, value];
  };
  if (raw) {
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!.toString("latin1").toLowerCase();
      if (RESPONSE_SKIP.has(name)) continue;
      add(name, raw[i + 1]!.toString("latin1"));
    }
  }
  if (setCookie !== undefined) add("set-cookie", setCookie);
  return out;
}

export function sendPlain(res: ClientResponse, status: number, body: string): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  res.setHeader("server", SERVER);
  res.setHeader("content-type", "text/plain; charset=utf-8");
  res.setHeader("content-length", Buffer.byteLength(body));
  res.statusCode = status;
  res.end(body);
}

export function clientAddress(req: ClientRequest): string {
  const ip = req.socket?.remoteAddress ?? "";
  return ip.startsWith("::ffff:") && ip.includes(".") ? ip.slice(7) : ip;
}

/**
 * rewrite-target: the matched prefix of the path is replaced by the target and the rest kept
 * (`/foo` + target `/` turns `/foo/bar` into `/bar`). `$1` is the separator after the prefix (`/` or
 * empty) and `$2` the rest without it, as in ingress-nginx's `/foo(/|$)(.*)` idiom. The query is kept.
 */
export function rewrite(targetPattern: string, path: string, requestTarget: string, prefixLength: number): string {
  const q = requestTarget.indexOf("?");
  const query = q < 0 ? "" : requestTarget.slice(q);
  const rest = path.slice(prefixLength);
  let out: string;
  if (targetPattern.includes("$")) {
    const sep = rest.startsWith("/") ? "/" : "";
    const tail = sep ? rest.slice(1) : rest;
    out = targetPattern.replace(/\$([12])/g, (_m, n: string) => (n === "1" ? sep : tail));
  } else if (rest === "" || rest === "/") {
    out = rest === "/" && !targetPattern.endsWith("/") ? `${targetPattern}/` : targetPattern;
  } else {
    out = targetPattern.endsWith("/") ? targetPattern + rest.slice(1) : targetPattern + rest;
  }
  out = out.replace(/\/{2,}/g, "/");
  return (out.startsWith("/") ? out : `/${out}`) + query;
}

function cookieFrom(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

function isConnectionToken(tokens: string, name: string): boolean {
  if (CONNECTION_PROTECTED.has(name)) return false;
  for (const token of tokens.split(",")) if (token.trim() === name) return true;
  return false;
}

/** How many Host fields an HTTP/1 request has (Node and llhttp keep them all in rawHeaders). */
function hostCount(raw: readonly string[]): number {
  let n = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 4 && name.toLowerCase() === "host") n++;
  }
  return n;
}

/** Headers named by Connection are hop-by-hop too, even when they came before it. */
function removeConnectionTokens(out: string[], tokens: string): void {
  for (let i = out.length - 2; i >= 0; i -= 2) {
    if (isConnectionToken(tokens, out[i]!.toLowerCase())) out.splice(i, 2);
  }
}

export { Matcher };
