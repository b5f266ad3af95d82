import { randomUUID } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { connect as netConnect, type Socket } from "node:net";
import type { Duplex } from "node:stream";
import { connect as tlsConnect } from "node:tls";
import { normalizeHost, normalizePath } from "./matcher.ts";
import { clientAddress, type IngressProxy } from "./proxy.ts";

/** Request headers dropped from a tunnelled Upgrade request (Connection and Upgrade are re-added). */
const SKIP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "te",
  "trailer",
  "upgrade",
  "x-forwarded-for",
  "x-forwarded-proto",
  "x-forwarded-host",
  "x-forwarded-port",
  "x-real-ip",
]);

/**
 * An HTTP/1.1 `Upgrade` request (WebSocket): routed like any request, then the request head is replayed to
 * an endpoint over a fresh connection and the two sockets are piped both ways (the upstream's 101 and
 * everything after it pass through untouched). A failed connect is retried on the next endpoint.
 */
export function handleUpgrade(
  proxy: IngressProxy,
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  secure: boolean,
) {
  const start = performance.now();
  socket.on("error", () => socket.destroy());
  const path = normalizePath(req.url ?? "/");
  const runtime =
    (path === undefined ? undefined : proxy.matcher.match(normalizeHost(req.headers.host), path)) ?? proxy.notFound;
  const route = runtime.route;
  const clientIp = clientAddress(req);
  const fail = (status: number, text: string, extra = "") => {
    if (socket.writable)
      socket.end(
        `HTTP/1.1 ${status} ${text}\r\nServer: nodeplane\r\n${extra}Content-Type: text/plain\r\nContent-Length: ${text.length + 1}\r\nConnection: close\r\n\r\n${text}\n`,
      );
    else socket.destroy();
    proxy.finished(req, runtime, status, start, undefined);
  };
  if (path === undefined) return fail(400, "Bad Request");
  if (!route || !runtime.backend) return fail(404, "Not Found");
  if (!runtime.allows(clientIp)) return fail(403, "Forbidden");
  if (!secure && route.redirectToHttps && proxy.settings.httpsPort !== undefined) {
    const host = normalizeHost(req.headers.host);
    if (!/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/.test(host)) return fail(400, "Bad Request");
    const port = proxy.settings.httpsPort === 443 ? "" : `:${proxy.settings.httpsPort}`;
    return fail(308, "Permanent Redirect", `Location: https://${host}${port}${req.url}\r\n`);
  }
  const backend = runtime.backend;
  if (backend.endpoints.length === 0) return fail(503, "Service Unavailable");

  const lines = [`${req.method} ${req.url} HTTP/1.1`];
  let forwardedFor: string | undefined;
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const lower = raw[i]!.toLowerCase();
    if (lower === "x-forwarded-for") forwardedFor = forwardedFor ? `${forwardedFor}, ${raw[i + 1]}` : raw[i + 1];
    if (SKIP.has(lower)) continue;
    lines.push(`${raw[i]}: ${raw[i + 1]}`);
  }
  if (!req.headers["x-request-id"]) lines.push(`X-Request-Id: ${randomUUID()}`);
  lines.push(
    "Connection: Upgrade",
    `Upgrade: ${req.headers.upgrade ?? "websocket"}`,
    `X-Forwarded-For: ${forwardedFor ? `${forwardedFor}, ${clientIp}` : clientIp}`,
    `X-Real-IP: ${clientIp}`,
    `X-Forwarded-Proto: ${secure ? "https" : "http"}`,
    `X-Forwarded-Host: ${req.headers.host ?? ""}`,
    `X-Forwarded-Port: ${req.socket.localPort ?? ""}`,
  );
  const requestHead = `${lines.join("\r\n")}\r\n\r\n`;
  const settings = route.settings;
  const timeout = settings.connectTimeoutMs ?? proxy.settings.connectTimeoutMs;
  let index = backend.next();
  let attempts = 0;

  const attempt = () => {
    attempts++;
    const endpoint = backend.endpoints[index]!;
    const options = { host: endpoint.ip, port: endpoint.port };
    const upstream: Socket =
      settings.backendProtocol === "HTTPS"
        ? tlsConnect({ ...options, rejectUnauthorized: false, servername: undefined })
        : netConnect(options);
    const timer = setTimeout(
      () => upstream.destroy(Object.assign(new Error("connect timeout"), { code: "ETIMEDOUT" })),
      timeout,
    );
    const onConnectError = (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      upstream.destroy();
      if (attempts <= proxy.settings.retries && attempts < backend.endpoints.length && socket.writable) {
        index = index + 1 >= backend.endpoints.length ? 0 : index + 1;
        return attempt();
      }
      fail(err.code === "ETIMEDOUT" ? 504 : 502, err.code === "ETIMEDOUT" ? "Gateway Timeout" : "Bad Gateway");
    };
    upstream.once("error", onConnectError);
    upstream.once(settings.backendProtocol === "HTTPS" ? "secureConnect" : "connect", () => {
      clearTimeout(timer);
      upstream.off("error", onConnectError);
      if (socket.destroyed) return upstream.destroy();
      upstream.on("error", () => socket.destroy());
      socket.on("close", () => upstream.destroy());
      upstream.on("close", () => socket.destroy());
      upstream.setNoDelay(true);
      // proxy-read-timeout, when set, bounds how long a tunnel may sit idle (as nginx applies it to WebSockets).
      const idle = settings.readTimeoutMs;
      if (idle !== undefined) upstream.setTimeout(idle, () => upstream.destroy());
      upstream.write(requestHead);
      if (head.length > 0) upstream.write(head);
      upstream.pipe(socket);
      socket.pipe(upstream);
      proxy.finished(req, runtime, 101, start, endpoint.address);
    });
  };
  attempt();
}
