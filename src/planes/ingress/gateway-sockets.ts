import type { IncomingMessage } from "node:http";
import { createSecureServer, type Http2SecureServer, type ServerHttp2Session } from "node:http2";
import type { Server, Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { TLSSocket } from "node:tls";
import type { HostPort } from "../../config.ts";
import type { Logger } from "../../log.ts";
import type { Problem } from "../../model/problems.ts";
import type { GatewayHttpSocket, HttpRouteRule } from "../../snapshot/gateway.ts";
import type { IngressSnapshot } from "../../snapshot/ingress.ts";
import { listen } from "../../util/listen.ts";
import { within } from "../../util/within.ts";
import { CertificateStore, type PemPair, TLS_PROFILE } from "./certificates.ts";
import { GatewayMatcher } from "./gateway-matcher.ts";
import { GatewayRuleRuntime } from "./gateway-routes.ts";
import type { ClientLimits } from "./limits.ts";
import type { IngressMetrics } from "./metrics.ts";
import { closeWhenIdle } from "./prior-knowledge.ts";
import { type ClientRequest, type ClientResponse, IngressProxy, type ProxySettings } from "./proxy.ts";
import { RawHttpServer } from "./rawserver.ts";
import { RouteCompiler, type RouteRuntime } from "./routes.ts";
import { admitConnection, type SourceCap } from "./source-cap.ts";
import { handleUpgrade } from "./upgrade.ts";
import type { UpstreamPools } from "./upstream.ts";

/** What the Gateway sockets take from the ingress plane that owns them. */
export interface GatewaySocketsHost {
  logger: Logger;
  limits: ClientLimits;
  metrics: IngressMetrics;
  pools: UpstreamPools;
  /** route runtimes in use: their upstream pools are counted (the plane closes pools nobody uses) */
  retain(runtime: RouteRuntime): void;
  release(runtime: RouteRuntime): void;
  reusePort: boolean;
  maxConnections: number;
  sourceCap: SourceCap | undefined;
  defaultPem: PemPair;
  tlsHandshakeTimeoutMs: number;
  /** how long a dropped socket's requests in flight may finish (the plane's close grace) */
  closeGraceMs: number;
  proxySettings: ProxySettings;
  /** the ingress plane's own proxy and its bound listeners: a Gateway socket on the same address and port shares them */
  ingressProxy: IngressProxy;
  ingressHttp: HostPort | undefined;
  ingressHttps: HostPort | undefined;
  /** the plane's HTTPS listener's certificates must be reloaded (the shared socket's gateway certificates changed) */
  onSharedCertificates(store: CertificateStore | undefined): void;
  reportBind(socketId: string, error: string | undefined): void;
  /** configure a new proxy (mirror, h2c) like the plane's own */
  decorate(proxy: IngressProxy): void;
}

interface Entry {
  key: string;
  socket: GatewayHttpSocket;
  proxy: IngressProxy;
  /** served on the ingress plane's own listener */
  shared: boolean;
  listener: GatewayListener | undefined;
  /** the last bind failure (logged once per message), retried on the next snapshot and by the retry timer */
  error: string | undefined;
  /** a bind in flight (a snapshot's or the retry timer's): never two at once for one socket */
  binding: Promise<void> | undefined;
  rules: Map<HttpRouteRule, GatewayRuleRuntime>;
  certificates: CertificateStore | undefined;
  /** the socket object the route table was compiled from */
  compiledFrom: GatewayHttpSocket | undefined;
}

/**
 * The ingress plane's Gateway HTTP and HTTPS sockets (docs/gateway.md), reconciled per snapshot: new
 * sockets are bound, dropped ones closed as the plane closes its own listeners (requests in flight finish
 * within the grace), unchanged ones kept with their connections; each socket's route table is compiled
 * and swapped whole. A socket on the ingress listener's address and port is served by that listener.
 * A bind failure is logged once, reported, listed in problems() and retried on the next snapshot and on a
 * timer (a port another process frees is taken up on a quiet node too); it never stops the other sockets.
 */
export class GatewaySockets {
  private readonly host: GatewaySocketsHost;
  private entries = new Map<string, Entry>();
  private retryTimer: NodeJS.Timeout | undefined;
  private retryMs = RETRY_MIN_MS;
  private closed = false;

  constructor(host: GatewaySocketsHost) {
    this.host = host;
  }

  async apply(sockets: readonly GatewayHttpSocket[]): Promise<void> {
    const next = new Map<string, Entry>();
    const binds: Promise<void>[] = [];
    for (const socket of sockets) {
      const key = `${socket.id}/${socket.protocol}`;
      if (next.has(key)) continue;
      const entry = this.entries.get(key) ?? this.create(key, socket);
      next.set(key, entry);
      // the translator hands back the very same socket object when nothing in it changed: nothing to compile
      if (entry.compiledFrom !== socket) {
        entry.socket = socket;
        this.compile(entry);
        entry.compiledFrom = socket;
      }
      const clash = this.clash(socket);
      if (clash !== undefined) this.fail(entry, clash);
      else if (!entry.shared && entry.listener === undefined) binds.push(this.bindOnce(entry));
    }
    const gone = [...this.entries.values()].filter((e) => next.get(e.key) !== e);
    this.entries = next;
    await Promise.all(binds);
    await Promise.all(gone.map((e) => this.drop(e)));
  }

  private create(key: string, socket: GatewayHttpSocket): Entry {
    const host = this.host;
    const shareWith = socket.protocol === "HTTP" ? host.ingressHttp : host.ingressHttps;
    const shared = shareWith !== undefined && shareWith.host === socket.address && shareWith.port === socket.port;
    const proxy = shared ? host.ingressProxy : new IngressProxy({ ...host.proxySettings }, host.metrics, host.logger);
    if (!shared) host.decorate(proxy);
    if (socket.protocol === "HTTPS") proxy.gatewayTlsPort = socket.port;
    else proxy.gatewayPort = socket.port;
    let certificates: CertificateStore | undefined;
    if (socket.protocol === "HTTPS") {
      certificates = new CertificateStore(host.defaultPem, host.logger);
      certificates.multiLabelWildcards = true;
    }
    return {
      key,
      socket,
      proxy,
      shared,
      listener: undefined,
      error: undefined,
      binding: undefined,
      rules: new Map(),
      certificates,
      compiledFrom: undefined,
    };
  }

  /** The socket's route table, compiled (rules the translator handed back unchanged keep their runtime). */
  private compile(entry: Entry): void {
    const host = this.host;
    const compiler = new RouteCompiler(host.pools, host.metrics);
    const rules = new Map<HttpRouteRule, GatewayRuleRuntime>();
    const matcher = new GatewayMatcher<GatewayRuleRuntime>(entry.socket, (rule, vhost) => {
      let runtime = rules.get(rule) ?? entry.rules.get(rule);
      if (runtime === undefined) {
        runtime = new GatewayRuleRuntime(rule, vhost, compiler, host.metrics);
        if (runtime.invalid !== undefined)
          host.logger.warn(
            { rule: runtime.label, reason: runtime.invalid },
            "gateway rule refused: every request gets 500",
          );
      }
      rules.set(rule, runtime);
      return runtime;
    });
    for (const runtime of rules.values()) if (!entry.rules.has(runtime.rule)) this.count(runtime, true);
    for (const [rule, runtime] of entry.rules) if (rules.get(rule) !== runtime) this.count(runtime, false);
    entry.rules = rules;
    if (entry.socket.protocol === "HTTPS") entry.proxy.gatewayTls = matcher;
    else entry.proxy.gateway = matcher;
    entry.proxy.accessLog = host.logger.isLevelEnabled("debug");
    if (entry.certificates !== undefined) {
      const fallbackChanged = entry.certificates.update(certificateTable(entry.socket));
      if (entry.shared) host.onSharedCertificates(entry.certificates);
      else if (fallbackChanged && entry.listener instanceof TlsListener)
        entry.listener.tls.setSecureContext({ ...TLS_PROFILE, ...entry.certificates.fallbackPem });
    }
  }

  private count(runtime: GatewayRuleRuntime, retain: boolean): void {
    for (const backend of runtime.backends) {
      if (backend.runtime === undefined) continue;
      if (retain) this.host.retain(backend.runtime);
      else this.host.release(backend.runtime);
    }
  }

  /**
   * The ingress listener of the other protocol holds this address and port: never bound beside it (with
   * SO_REUSEPORT, in workers, the kernel would split connections between TLS and plain HTTP).
   */
  private clash(socket: GatewayHttpSocket): string | undefined {
    const other = socket.protocol === "HTTP" ? this.host.ingressHttps : this.host.ingressHttp;
    if (other === undefined || other.host !== socket.address || other.port !== socket.port) return undefined;
    return `address in use by the ingress ${socket.protocol === "HTTP" ? "HTTPS" : "HTTP"} listener`;
  }

  private fail(entry: Entry, message: string, err?: unknown): void {
    const { socket } = entry;
    if (entry.error !== message)
      this.host.logger.warn(
        { err, error: message, socket: socket.id, listeners: socket.listeners.map(listenerName) },
        `gateway ${socket.protocol} socket ${socket.id} cannot be bound; retried on the next change and every few seconds`,
      );
    entry.error = message;
    this.host.reportBind(socket.id, message);
  }

  private bindOnce(entry: Entry): Promise<void> {
    entry.binding ??= this.bind(entry).finally(() => {
      entry.binding = undefined;
    });
    return entry.binding;
  }

  /** Tries the sockets that failed to bind again after a while, backing off up to RETRY_MAX_MS. */
  private scheduleRetry(): void {
    if (this.retryTimer !== undefined || this.closed) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.retry();
    }, this.retryMs);
    this.retryTimer.unref();
    this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
  }

  private async retry(): Promise<void> {
    const due = [...this.entries.values()].filter(
      (e) => e.error !== undefined && !e.shared && e.listener === undefined && this.clash(e.socket) === undefined,
    );
    await Promise.all(due.map((e) => this.bindOnce(e)));
    if (!this.failing()) this.retryMs = RETRY_MIN_MS;
  }

  private async bind(entry: Entry): Promise<void> {
    const host = this.host;
    const { socket } = entry;
    const listener =
      socket.protocol === "HTTPS"
        ? new TlsListener(entry.proxy, entry.certificates!, host)
        : new RawListener(entry.proxy, host);
    try {
      await listen(listener.server, { host: socket.address, port: socket.port }, { reusePort: host.reusePort });
    } catch (err) {
      this.fail(entry, (err as Error).message, err);
      this.scheduleRetry();
      return;
    }
    listener.server.on("error", (err: Error) => host.logger.warn({ err, socket: socket.id }, "gateway listener error"));
    if (this.entries.get(entry.key) !== entry) {
      // dropped by a later snapshot while binding
      await listener.close(0);
      return;
    }
    entry.listener = listener;
    entry.error = undefined;
    host.reportBind(socket.id, undefined);
    host.logger.info(
      { socket: socket.id, protocol: socket.protocol, listeners: socket.listeners.map(listenerName) },
      "gateway listening",
    );
  }

  private async drop(entry: Entry): Promise<void> {
    for (const runtime of entry.rules.values()) this.count(runtime, false);
    entry.rules = new Map();
    if (entry.shared) {
      if (entry.socket.protocol === "HTTPS") {
        entry.proxy.gatewayTls = undefined;
        this.host.onSharedCertificates(undefined);
      } else entry.proxy.gateway = undefined;
    }
    this.host.reportBind(entry.socket.id, undefined);
    const listener = entry.listener;
    entry.listener = undefined;
    if (listener !== undefined) await listener.close(this.host.closeGraceMs);
  }

  /** Some socket could not be bound (the next snapshot tries again). */
  failing(): boolean {
    for (const entry of this.entries.values()) if (entry.error !== undefined) return true;
    return false;
  }

  /** Sockets that could not be bound, for /api/problems. */
  problems(): Problem[] {
    const out: Problem[] = [];
    for (const entry of this.entries.values()) {
      if (entry.error === undefined) continue;
      const listeners = entry.socket.listeners;
      const first = listeners[0];
      out.push({
        kind: "Gateway",
        namespace: first?.namespace ?? "",
        name: first?.gateway ?? entry.socket.id,
        field: `spec.listeners[${listeners.map((l) => l.listener).join(",")}]`,
        message: `${entry.socket.protocol} ${entry.socket.id} (${listeners.map(listenerName).join(", ")}) cannot be bound: ${entry.error}`,
      });
    }
    return out;
  }

  /** the socket ids bound (tests) */
  bound(): string[] {
    return [...this.entries.values()].filter((e) => e.listener !== undefined || e.shared).map((e) => e.socket.id);
  }

  /** a socket's listener (tests) */
  listenerOf(id: string): Server | undefined {
    for (const entry of this.entries.values()) if (entry.socket.id === id) return entry.listener?.server;
    return undefined;
  }

  /** requests the fast path took on a plain-HTTP socket (tests check it serves what it should) */
  fastPathServed(id: string): number {
    for (const entry of this.entries.values())
      if (entry.socket.id === id && entry.listener instanceof RawListener) return entry.listener.raw.fastPathServed;
    return 0;
  }

  async close(graceMs: number): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    const entries = [...this.entries.values()];
    this.entries = new Map();
    await Promise.all(
      entries.map(async (entry) => {
        for (const runtime of entry.rules.values()) this.count(runtime, false);
        await entry.listener?.close(graceMs);
      }),
    );
  }
}

/** The retry timer's first wait after a bind failure, doubled after each failing attempt up to the max. */
const RETRY_MIN_MS = 1_000;
const RETRY_MAX_MS = 30_000;

/** After destroying every socket, how long close() waits for the listener to report closed. */
const FORCED_CLOSE_MS = 500;

function listenerName(l: { namespace: string; gateway: string; listener: string }): string {
  return `${l.namespace}/${l.gateway}/${l.listener}`;
}

/** A socket's certificates in the shape CertificateStore reads. */
function certificateTable(socket: GatewayHttpSocket): IngressSnapshot {
  return {
    hosts: [],
    certificates: socket.certificates,
    ...(socket.defaultCertificate ? { defaultCertificate: socket.defaultCertificate } : {}),
    ingresses: [],
    statusAddresses: [],
  };
}

interface GatewayListener {
  readonly server: Server;
  close(graceMs: number): Promise<void>;
}

/** A plain-HTTP Gateway socket: the raw front end with the fast path, like the ingress HTTP listener. */
class RawListener implements GatewayListener {
  readonly server: Server;
  readonly raw: RawHttpServer;

  constructor(proxy: IngressProxy, host: GatewaySocketsHost) {
    this.raw = new RawHttpServer(proxy, host.limits, host.metrics, host.sourceCap);
    this.server = this.raw.server;
    this.server.maxConnections = host.maxConnections;
  }

  async close(graceMs: number): Promise<void> {
    const closed = new Promise<void>((resolve) => {
      if (!this.server.listening) resolve();
      else this.server.close(() => resolve());
    });
    this.raw.drain();
    if (!(await within(closed, graceMs))) {
      this.raw.closeAllConnections();
      await within(closed, FORCED_CLOSE_MS);
    }
  }
}

/** An HTTPS Gateway socket: Node's HTTP/2 secure server (HTTP/1.1 by ALPN too), certificates by SNI. */
class TlsListener implements GatewayListener {
  readonly server: Server;
  private readonly secure: Http2SecureServer;
  private readonly sockets = new Set<Socket>();
  private readonly sessions = new Set<ServerHttp2Session>();

  constructor(proxy: IngressProxy, certificates: CertificateStore, host: GatewaySocketsHost) {
    const limits = host.limits;
    const server = createSecureServer({
      ...TLS_PROFILE,
      allowHTTP1: true,
      ...certificates.fallbackPem,
      SNICallback: (servername, cb) => cb(null, certificates.lookup(servername)),
      maxSessionMemory: 10,
      settings: { maxHeaderListSize: limits.maxHeaderSize },
      handshakeTimeout: host.tlsHandshakeTimeoutMs,
    });
    this.secure = server;
    this.server = server as unknown as Server;
    server.on("connection", (socket: Socket) => {
      this.sockets.add(socket);
      socket.once("close", () => this.sockets.delete(socket));
    });
    if (host.sourceCap !== undefined)
      server.on(
        "connection",
        admitConnection(host.sourceCap, host.metrics.connectionsRefused.labels({ listener: "https", cap: "source" })),
      );
    server.on("session", (session: ServerHttp2Session) => {
      // idle = no frame while no stream is open: a silent gRPC stream keeps its session (prior-knowledge.ts)
      closeWhenIdle(session, limits.keepAliveTimeoutMs);
      this.sessions.add(session);
      session.once("close", () => this.sessions.delete(session));
    });
    Object.assign(server, {
      maxHeaderSize: limits.maxHeaderSize,
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      requireHostHeader: false,
    });
    server.on("request", (req: ClientRequest, res: ClientResponse) => proxy.handle(req, res, true));
    server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) =>
      handleUpgrade(proxy, req, socket, head, true),
    );
    server.on("clientError", (_err: Error, socket: Duplex) => socket.destroy());
    server.on("sessionError", () => undefined);
    server.on("tlsClientError", (_err: Error, socket: TLSSocket) => socket.destroy());
    server.maxConnections = host.maxConnections;
  }

  get tls(): Http2SecureServer {
    return this.secure;
  }

  async close(graceMs: number): Promise<void> {
    const closed = new Promise<void>((resolve) => {
      if (!this.server.listening) resolve();
      else this.server.close(() => resolve());
    });
    // HTTP/2: GOAWAY (the session ends with its last stream); HTTP/1 keep-alive connections with nothing in
    // flight are closed by server.close()
    for (const session of this.sessions) session.close();
    if (!(await within(closed, graceMs))) {
      for (const session of this.sessions) session.destroy();
      for (const socket of this.sockets) socket.destroy();
      await within(closed, FORCED_CLOSE_MS);
    }
  }
}
