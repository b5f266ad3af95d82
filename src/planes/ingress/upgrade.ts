import { randomUUID } from "node:crypto";
import { request as httpRequest, type IncomingMessage, type ClientRequest as UpstreamRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { modifyHeaders, redirectLocation, rewriteTarget } from "./gateway-filters.ts";
import type { GatewayPlan } from "./gateway-routes.ts";
import { RESPONSE_SKIP, UPGRADE_REQUEST_SKIP } from "./headers.ts";
import { normalizeHost, normalizePath } from "./matcher.ts";
import { CONNECT_ERRORS, clientAddress, type IngressProxy, SERVER } from "./proxy.ts";
import type { EndpointRuntime, RouteRuntime } from "./routes.ts";

const REDIRECT_HOST = /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/;

/**
 * An HTTP/1.1 `Upgrade` request (WebSocket): routed and checked like any request, then sent to an endpoint
 * over a fresh connection. Only the endpoint's 101 turns the two connections into a tunnel (the 101 and
 * everything after it pass through); any other answer is relayed as a plain response and the client
 * connection closed, so no byte the client sent after the request reaches the endpoint unless it agreed to
 * switch protocols (the raw front end has stopped parsing this connection by now: closing is what keeps the
 * next request from skipping routing and access checks). The client socket is not read until then.
 * A failed connect is retried on the next endpoint. An Upgrade request with a body is refused (400): the
 * front ends cannot hand the body over with the socket.
 */
export function handleUpgrade(
  proxy: IngressProxy,
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  secure: boolean,
): void {
  socket.on("error", destroySelf);
  socket.pause();
  const upgrade = new Upgrade(proxy, req, socket, head, secure);
  try {
    upgrade.start();
  } catch (err) {
    upgrade.fault(err);
  }
}

function destroySelf(this: Duplex): void {
  this.destroy();
}

function ignore(): void {}

/** How long a refused upgrade's connection may linger after the answer, reading (and dropping) what comes. */
const LINGER_MS = 5_000;

/**
 * After the last answer on a connection whose client may still be sending: keep reading and dropping its
 * bytes until it closes (or LINGER_MS), as nginx's lingering close, since closing with unread bytes makes
 * the kernel send a reset that can destroy the answer before the client reads it.
 */
function lingerClose(socket: Duplex): void {
  socket.on("data", ignore);
  socket.once("end", destroySelf);
  socket.resume();
  setTimeout(() => socket.destroy(), LINGER_MS).unref();
}

class Upgrade {
  private readonly proxy: IngressProxy;
  private readonly req: IncomingMessage;
  private readonly socket: Duplex;
  private readonly head: Buffer;
  private readonly secure: boolean;
  private readonly started = performance.now();
  private runtime: RouteRuntime;
  /** something was written to the client (a status, or the tunnel) */
  private answered = false;
  private upstream: UpstreamRequest | undefined;
  private endpoint: EndpointRuntime | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** a Gateway rule's filters (undefined for Ingress routes) */
  private plan: GatewayPlan | undefined;

  constructor(proxy: IngressProxy, req: IncomingMessage, socket: Duplex, head: Buffer, secure: boolean) {
    this.proxy = proxy;
    this.req = req;
    this.socket = socket;
    this.head = head;
    this.secure = secure;
    this.runtime = proxy.notFound;
  }

  start(): undefined {
    const { proxy, req } = this;
    if (req.httpVersionMajor !== 1 || req.httpVersionMinor > 1) return this.fail(505, "HTTP Version Not Supported");
    let hosts = 0;
    let body = false;
    const raw = req.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) {
      const lower = raw[i]!.toLowerCase();
      if (lower === "host") hosts++;
      else if (lower === "transfer-encoding" || (lower === "content-length" && raw[i + 1]!.trim() !== "0")) body = true;
    }
    if (hosts > 1 || (hosts === 0 && req.httpVersionMinor === 1)) return this.fail(400, "Bad Request");
    // The front ends keep parsing a body llhttp saw, but cannot hand it over with the socket: refuse, never drop.
    if (body) return this.fail(400, "Bad Request");
    if (req.method === "TRACE") return this.fail(405, "Method Not Allowed");
    const path = normalizePath(req.url ?? "/", proxy.settings.allowEscapedSlashes);
    if (path === undefined) return this.fail(400, "Bad Request");
    const gateway = (this.secure ? proxy.gatewayTls : proxy.gateway)?.host(normalizeHost(req.headers.host));
    if (gateway !== undefined) return this.startGateway(gateway, path);
    const runtime = proxy.matcher.match(normalizeHost(req.headers.host), path) ?? proxy.notFound;
    this.runtime = runtime;
    const route = runtime.route;
    if (!route || !runtime.backend) return this.fail(404, "Not Found");
    if (!runtime.allows(clientAddress(req))) return this.fail(403, "Forbidden");
    if (!this.secure && route.redirectToHttps && proxy.settings.httpsPort !== undefined) {
      const host = normalizeHost(req.headers.host);
      if (!REDIRECT_HOST.test(host)) return this.fail(400, "Bad Request");
      const port = proxy.settings.httpsPort === 443 ? "" : `:${proxy.settings.httpsPort}`;
      return this.fail(308, "Permanent Redirect", `Location: https://${host}${port}${req.url}\r\n`);
    }
    const backend = runtime.backend;
    if (backend.endpoints.length === 0) return this.fail(503, "Service Unavailable");
    this.socket.once("close", () => this.upstream?.destroy());
    this.attempt(backend.next(), 1, this.requestHeaders());
    return undefined;
  }

  /** A Host a Gateway virtual host claims: its rule's redirect, or a backend picked by weight (as proxy.ts). */
  private startGateway(
    table: NonNullable<ReturnType<NonNullable<IngressProxy["gateway"]>["host"]>>,
    path: string,
  ): undefined {
    const { req } = this;
    const target = req.url ?? "/";
    const compiled = table.match(req.method ?? "GET", path, target, req.rawHeaders);
    if (compiled === undefined) return this.fail(404, "Not Found");
    const rule = compiled.runtime;
    this.runtime = rule.errorRuntime;
    if (rule.invalid !== undefined) return this.fail(500, "Internal Server Error");
    if (rule.redirect !== undefined) {
      const location = redirectLocation(rule.redirect, {
        scheme: this.secure ? "https" : "http",
        host: normalizeHost(req.headers.host),
        listenerPort: (this.secure ? this.proxy.gatewayTlsPort : this.proxy.gatewayPort) || (req.socket.localPort ?? 0),
        path,
        target,
        prefixLength: compiled.prefixLength,
      });
      return this.fail(rule.redirect.statusCode, "Redirect", `Location: ${location}\r\n`);
    }
    const backend = rule.pick();
    if (backend === undefined || backend.runtime === undefined) return this.fail(500, "Internal Server Error");
    this.runtime = backend.runtime;
    const endpoints = backend.runtime.backend!;
    if (endpoints.endpoints.length === 0) return this.fail(503, "Service Unavailable");
    const upstreamTarget =
      rule.rewrite?.path === undefined ? target : rewriteTarget(rule.rewrite.path, path, target, compiled.prefixLength);
    this.plan = { rule, backend, upstreamTarget };
    this.socket.once("close", () => this.upstream?.destroy());
    this.attempt(endpoints.next(), 1, this.requestHeaders());
    return undefined;
  }

  private requestHeaders(): string[] {
    const { req } = this;
    const clientIp = clientAddress(req);
    const out: string[] = [];
    let forwardedFor: string | undefined;
    const raw = req.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) {
      const lower = raw[i]!.toLowerCase();
      if (lower === "x-forwarded-for") forwardedFor = forwardedFor ? `${forwardedFor}, ${raw[i + 1]}` : raw[i + 1];
      if (UPGRADE_REQUEST_SKIP.has(lower)) continue;
      out.push(raw[i]!, raw[i + 1]!);
    }
    const plan = this.plan;
    if (plan !== undefined) {
      const hostname = plan.rule.rewrite?.hostname;
      if (hostname !== undefined)
        for (let i = 0; i < out.length; i += 2) if (out[i]!.toLowerCase() === "host") out[i + 1] = hostname;
      if (plan.backend.requestModifier !== undefined) modifyHeaders(out, plan.backend.requestModifier);
    }
    if (!req.headers["x-request-id"]) out.push("X-Request-Id", randomUUID());
    out.push(
      "Connection",
      "Upgrade",
      "Upgrade",
      req.headers.upgrade ?? "websocket",
      "X-Forwarded-For",
      forwardedFor ? `${forwardedFor}, ${clientIp}` : clientIp,
      "X-Real-IP",
      clientIp,
      "X-Forwarded-Proto",
      this.secure ? "https" : "http",
      "X-Forwarded-Host",
      req.headers.host ?? "",
      "X-Forwarded-Port",
      String(req.socket.localPort ?? ""),
    );
    return out;
  }

  private attempt(index: number, attempts: number, headers: string[]): void {
    const { proxy, runtime } = this;
    const backend = runtime.backend!;
    const settings = runtime.route!.settings;
    const endpoint = backend.endpoints[index]!;
    this.endpoint = endpoint;
    const https = settings.backendProtocol === "HTTPS";
    const options = {
      host: endpoint.ip,
      port: endpoint.port,
      method: this.req.method,
      path: this.plan?.upstreamTarget ?? this.req.url,
      headers,
      agent: false as const,
      setHost: false,
      ...(https ? { rejectUnauthorized: false } : {}),
    };
    const upstream = https ? httpsRequest(options) : httpRequest(options);
    this.upstream = upstream;
    let connected = false;
    const connectTimeout = settings.connectTimeoutMs ?? proxy.settings.connectTimeoutMs;
    const answerTimeout = settings.readTimeoutMs ?? proxy.settings.headerTimeoutMs;
    this.arm(connectTimeout, upstream);
    upstream.once("socket", (s: Socket) => {
      s.setNoDelay(true);
      s.once(https ? "secureConnect" : "connect", () => {
        connected = true;
        // from now on, bounded by how long the endpoint may take to answer
        this.arm(answerTimeout, upstream);
      });
    });
    upstream.on("error", (err: NodeJS.ErrnoException) => {
      this.disarm();
      if (this.answered) {
        this.socket.destroy();
        return;
      }
      const code = err.code ?? "";
      if (
        !connected &&
        (CONNECT_ERRORS.has(code) || code === "ETIMEDOUT") &&
        attempts <= proxy.settings.retries &&
        attempts < backend.endpoints.length &&
        this.socket.writable
      ) {
        this.attempt(index + 1 >= backend.endpoints.length ? 0 : index + 1, attempts + 1, headers);
        return;
      }
      proxy.logger.debug({ err, upstream: endpoint.address }, "upgrade upstream failed");
      if (code === "ETIMEDOUT") this.fail(504, "Gateway Timeout");
      else this.fail(502, "Bad Gateway");
    });
    upstream.on("information", (info: { statusCode: number; rawHeaders: string[]; statusMessage: string }) => {
      // 100/103 pass through; the final answer follows
      if (info.statusCode !== 101) this.socket.write(statusHead(info.statusCode, info.statusMessage, info.rawHeaders));
    });
    upstream.once("upgrade", (res: IncomingMessage, tunnel: Socket, tunnelHead: Buffer) =>
      this.tunnel(res, tunnel, tunnelHead),
    );
    upstream.once("response", (res: IncomingMessage) => this.relay(res));
    upstream.end();
  }

  /** The endpoint switched protocols: pass its 101 on and pipe both ways. */
  private tunnel(res: IncomingMessage, upstream: Socket, upstreamHead: Buffer): void {
    this.disarm();
    const { socket } = this;
    this.answered = true;
    if (socket.destroyed) {
      upstream.destroy();
      return;
    }
    upstream.on("error", () => socket.destroy());
    socket.on("close", () => upstream.destroy());
    upstream.on("close", () => socket.destroy());
    // Once either side has ended (the pipe passes the end on), the other gets LINGER_MS to finish: a peer that
    // never closes its half would otherwise hold both connections (CLOSE-WAIT) for good.
    const ended = () => setTimeout(() => upstream.destroy(), LINGER_MS).unref();
    socket.once("end", ended);
    upstream.once("end", ended);
    // proxy-read-timeout, when set, bounds how long a tunnel may sit idle (as nginx applies it to WebSockets).
    const idle = this.runtime.route!.settings.readTimeoutMs;
    upstream.setTimeout(idle ?? 0);
    if (idle !== undefined) upstream.on("timeout", () => upstream.destroy());
    socket.write(statusHead(101, res.statusMessage ?? "Switching Protocols", res.rawHeaders));
    if (upstreamHead.length > 0) socket.write(upstreamHead);
    if (this.head.length > 0) upstream.write(this.head);
    upstream.pipe(socket);
    socket.pipe(upstream);
    this.proxy.finished(this.req, this.runtime, 101, this.started, this.endpoint?.address);
  }

  /**
   * The endpoint did not switch protocols: its answer goes to the client as an ordinary response, delimited
   * by the close that follows (the client's later bytes are never read).
   */
  private relay(res: IncomingMessage): void {
    this.disarm();
    const { socket } = this;
    const status = res.statusCode ?? 502;
    this.answered = true;
    const raw = res.rawHeaders;
    const kept: string[] = ["Server", SERVER];
    for (let i = 0; i < raw.length; i += 2)
      if (!RESPONSE_SKIP.has(raw[i]!.toLowerCase())) kept.push(raw[i]!, raw[i + 1]!);
    kept.push("Connection", "close");
    socket.write(statusHead(status, res.statusMessage ?? "", kept));
    res.on("error", () => socket.destroy());
    res.pipe(socket);
    // the linger bound starts once the whole answer is out, however long relaying it takes
    socket.once("finish", () => lingerClose(socket));
    res.once("end", () => this.upstream?.destroy());
    this.proxy.finished(this.req, this.runtime, status, this.started, this.endpoint?.address);
  }

  private arm(ms: number, upstream: UpstreamRequest): void {
    this.disarm();
    this.timer = setTimeout(
      () => upstream.destroy(Object.assign(new Error("upstream timeout"), { code: "ETIMEDOUT" })),
      ms,
    );
  }

  private disarm(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** A short answer from the proxy itself; the connection is closed after it. */
  fail(status: number, text: string, extra = ""): undefined {
    const { socket } = this;
    if (!this.answered && socket.writable) {
      this.answered = true;
      socket.end(
        `HTTP/1.1 ${status} ${text}\r\nServer: ${SERVER}\r\n${extra}Content-Type: text/plain\r\nContent-Length: ${text.length + 1}\r\nConnection: close\r\n\r\n${text}\n`,
      );
      lingerClose(socket);
    } else socket.destroy();
    this.proxy.finished(this.req, this.runtime, status, this.started, undefined);
    return undefined;
  }

  /** A bug met while handling this request: counted and logged; 500 if nothing was sent yet, else cut. */
  fault(err: unknown): void {
    this.proxy.noteFault("upgrade", err, this.req);
    this.disarm();
    this.upstream?.destroy();
    try {
      this.fail(500, "Internal Server Error");
    } catch {
      this.socket.destroy();
    }
  }
}

function statusHead(status: number, message: string, raw: readonly string[]): string {
  let head = `HTTP/1.1 ${status} ${message}\r\n`;
  for (let i = 0; i < raw.length; i += 2) head += `${raw[i]}: ${raw[i + 1]}\r\n`;
  return `${head}\r\n`;
}
