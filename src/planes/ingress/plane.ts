import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createSecureServer, type Http2SecureServer, type ServerHttp2Session } from "node:http2";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { TLSSocket } from "node:tls";
import type { Config, HostPort } from "../../config.ts";
import type { Logger } from "../../log.ts";
import type { Problem } from "../../model/problems.ts";
import type { GatewayHttpSocket } from "../../snapshot/gateway.ts";
import type { IngressRoute, IngressSnapshot } from "../../snapshot/ingress.ts";
import type { Snapshot } from "../../snapshot/snapshot.ts";
import type { StatusWriter } from "../../status/writer.ts";
import { processFdBudget } from "../../util/fd-budget.ts";
import { listen } from "../../util/listen.ts";
import { within } from "../../util/within.ts";
import type { PlaneContext, PlaneFactory } from "../context.ts";
import type { Plane } from "../plane.ts";
import { CertificateStore, generateDefaultCertificate, type PemPair, TLS_PROFILE } from "./certificates.ts";
import { GatewaySockets } from "./gateway-sockets.ts";
import { H2cClients } from "./h2c.ts";
import { type ClientLimits, DEFAULT_CLIENT_LIMITS, defaultHttpFrontend } from "./limits.ts";
import { Matcher } from "./matcher.ts";
import { IngressMetrics } from "./metrics.ts";
import { Mirror } from "./mirror.ts";
import { closeWhenIdle } from "./prior-knowledge.ts";
import { type ClientRequest, type ClientResponse, IngressProxy } from "./proxy.ts";
import { clientErrorAnswer } from "./raw-io.ts";
import { RawHttpServer } from "./rawserver.ts";
import { RouteCompiler, type RouteRuntime } from "./routes.ts";
import { admitConnection, perSourceCap, SourceCap } from "./source-cap.ts";
import { IngressStatusReconciler } from "./status.ts";
import { handleUpgrade } from "./upgrade.ts";
import { type UpstreamPool, UpstreamPools } from "./upstream.ts";

/**
 * The ingress plane (docs/ingress.md): HTTP and HTTPS listeners routing by Host and path to Service endpoints.
 * Each snapshot with a changed route table compiles a new matcher (routes that are the same objects as
 * before keep their compiled runtime) and certificate map and swaps them in; upstream pools, listeners and
 * client connections carry over.
 */
export class IngressPlane implements Plane {
  readonly name = "ingress";
  readonly proxy: IngressProxy;
  private readonly pools: UpstreamPools;
  /** the route table the matcher was compiled from, and its compiled routes (reused by identity) */
  private appliedTable: IngressSnapshot | undefined;
  private compiledRoutes: ReadonlyMap<IngressRoute, RouteRuntime> = new Map();
  /** route runtimes using each upstream pool; a pool no runtime uses is closed */
  private readonly poolUsers = new Map<UpstreamPool, number>();
  private readonly certificates: CertificateStore;
  private readonly status: IngressStatusReconciler;
  private readonly metrics: IngressMetrics;
  private readonly logger: Logger;
  private readonly config: Config;
  private readonly limits: ClientLimits;
  private readonly defaultPem: PemPair;
  private readonly reusePort: boolean;
  http: Server | undefined;
  rawHttp: RawHttpServer | undefined;
  https: Http2SecureServer | undefined;
  /** every TCP connection of the HTTPS listener, handshaken or not: close() destroys what is left */
  private readonly tlsSockets = new Set<Socket>();
  /**
   * HTTP/1 client connections served by Node's HTTP/1 code (the TLS listener's HTTP/1.1 side, the "node"
   * front end): close() closes those with no response in flight at once
   */
  private readonly http1Sockets = new Set<Socket>();
  /** HTTP/2 sessions of the TLS listener: close() sends each a GOAWAY, then destroys what is left */
  private readonly sessions = new Set<ServerHttp2Session>();
  /** client sockets handed to handleUpgrade by Node's servers (the raw front end keeps its own) */
  private readonly tunnels = new Set<Duplex>();
  /** how long close() lets requests in flight finish (closeGraceMs) */
  private readonly closeGraceMs: number;
  /** connections per client IP, both listeners together (--max-ingress-connections-per-source) */
  sourceCap: SourceCap | undefined;
  /** the Gateway HTTP/HTTPS sockets (docs/gateway.md); created by start() */
  gateway: GatewaySockets | undefined;
  /** the Gateway socket sharing the HTTPS listener: its certificates are tried first by SNI */
  private sharedGatewayCertificates: CertificateStore | undefined;
  /** the gateway socket list last applied */
  private appliedGateway: readonly GatewayHttpSocket[] | undefined;
  private readonly statusWriter: StatusWriter;
  private readonly tlsHandshakeTimeoutMs: number;
  private maxConnections = 1;

  constructor(
    context: PlaneContext,
    limits: ClientLimits = DEFAULT_CLIENT_LIMITS,
    defaultPem = generateDefaultCertificate(),
  ) {
    const { config, logger } = context;
    this.config = config;
    this.reusePort = context.reusePort === true;
    this.logger = logger.child({ plane: "ingress" });
    this.limits = limits;
    this.defaultPem = defaultPem;
    this.closeGraceMs = closeGraceMs(config.stopTimeoutMs);
    this.metrics = new IngressMetrics(context.registry);
    this.pools = new UpstreamPools(
      {
        connectTimeoutMs: config.upstreamConnectTimeoutMs,
        headerTimeoutMs: config.upstreamHeaderTimeoutMs,
        idleTimeoutMs: config.upstreamIdleTimeoutMs,
      },
      this.logger,
    );
    this.proxy = new IngressProxy(
      {
        httpsPort: config.httpsAddress?.port,
        headerTimeoutMs: config.upstreamHeaderTimeoutMs,
        connectTimeoutMs: config.upstreamConnectTimeoutMs,
        retries: config.dialRetries,
        allowEscapedSlashes: config.allowEscapedSlashes,
      },
      this.metrics,
      this.logger,
    );
    // Gateway API backends: h2c (gRPC) upstreams and RequestMirror copies (docs/gateway.md)
    this.proxy.h2c = new H2cClients(this.logger, {
      connectTimeoutMs: config.upstreamConnectTimeoutMs,
      idleTimeoutMs: config.upstreamIdleTimeoutMs,
    });
    this.proxy.mirror = new Mirror(this.logger, {
      connectTimeoutMs: config.upstreamConnectTimeoutMs,
      maxInFlight: MIRROR_MAX_IN_FLIGHT,
      registry: context.registry,
    });
    this.certificates = new CertificateStore(defaultPem, this.logger);
    this.status = new IngressStatusReconciler(context.status, this.logger);
    this.statusWriter = context.status;
    this.tlsHandshakeTimeoutMs = config.tlsHandshakeTimeoutMs;
  }

  /** the plain-HTTP listener, whichever front end serves it */
  get httpListener(): import("node:net").Server | undefined {
    return this.rawHttp?.server ?? (this.http as unknown as import("node:net").Server | undefined);
  }

  async start(): Promise<void> {
    const { httpAddress, httpsAddress } = this.config;
    const limits = this.limits;
    // The descriptor budget's ingress share (src/util/fd-budget.ts), split over the listeners; net.Server
    // closes connections beyond it at accept.
    const budget = processFdBudget({ maxIngressConnections: this.config.maxIngressConnections }).ingressConnections;
    const maxConnections = Math.max(1, Math.floor(budget / ((httpAddress ? 1 : 0) + (httpsAddress ? 1 : 0))));
    // One client IP's connections, both listeners together (source-cap.ts); counted and destroyed at accept.
    const sourceCap = new SourceCap(perSourceCap(this.config.maxIngressConnectionsPerSource, maxConnections));
    this.sourceCap = sourceCap;
    this.maxConnections = maxConnections;
    const refused = this.metrics.connectionsRefused;
    try {
      if (httpAddress && (limits.httpFrontend ?? defaultHttpFrontend()) === "raw") {
        const raw = new RawHttpServer(this.proxy, limits, this.metrics, sourceCap);
        this.rawHttp = raw;
        raw.server.maxConnections = maxConnections;
        raw.server.on("drop", countDrop.bind(refused.labels({ listener: "http", cap: "total" })));
        await listen(raw.server, httpAddress, { reusePort: this.reusePort });
        raw.server.on("error", this.onListenerError);
        this.logger.info({ address: formatAddress(httpAddress), frontend: "raw" }, "ingress HTTP listening");
      } else if (httpAddress) {
        const server = createServer(http1Limits(limits), (req, res) => this.proxy.handle(req, res, false));
        server.on("connection", (socket: Socket) => this.trackHttp1(socket));
        server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
          this.trackTunnel(socket);
          handleUpgrade(this.proxy, req, socket, head, false);
        });
        server.on("clientError", onClientError);
        server.on("connection", admitConnection(sourceCap, refused.labels({ listener: "http", cap: "source" })));
        this.http = server;
        server.maxConnections = maxConnections;
        server.on("drop", countDrop.bind(refused.labels({ listener: "http", cap: "total" })));
        await listen(server as unknown as import("node:net").Server, httpAddress, { reusePort: this.reusePort });
        server.on("error", this.onListenerError);
        this.logger.info({ address: formatAddress(httpAddress) }, "ingress HTTP listening");
      }
      if (httpsAddress) {
        const server = createSecureServer({
          ...TLS_PROFILE,
          allowHTTP1: true,
          cert: this.defaultPem.cert,
          key: this.defaultPem.key,
          SNICallback: (servername, cb) =>
            cb(null, this.sharedGatewayCertificates?.match(servername) ?? this.certificates.lookup(servername)),
          maxSessionMemory: 10,
          settings: { maxHeaderListSize: limits.maxHeaderSize },
          // Node's default is 120 s, and a socket the timeout fails used to stay open (see onTlsClientError)
          handshakeTimeout: this.config.tlsHandshakeTimeoutMs,
        });
        server.on("connection", (socket: Socket) => {
          this.tlsSockets.add(socket);
          socket.once("close", () => this.tlsSockets.delete(socket));
        });
        // after the listener above (and tls.Server's own, which wraps the socket): a refused socket is destroyed
        // before its ClientHello is read, and leaves tlsSockets by its 'close' like any other
        server.on("connection", admitConnection(sourceCap, refused.labels({ listener: "https", cap: "source" })));
        // Node's HTTP/2 server has no idle timeout of its own (server.timeout is 0): a session that sends
        // nothing would hold its descriptor forever.
        server.on("session", (session: ServerHttp2Session) => {
          // idle = no frame while no stream is open: a silent gRPC stream keeps its session (prior-knowledge.ts)
          closeWhenIdle(session, limits.keepAliveTimeoutMs);
          this.sessions.add(session);
          session.once("close", () => this.sessions.delete(session));
        });
        server.on("secureConnection", (socket: TLSSocket) => {
          if (socket.alpnProtocol !== "h2") this.trackHttp1(socket);
        });
        // The HTTP/1.1 side of the TLS listener is Node's HTTP/1 server code: give it the same limits.
        Object.assign(server, http1Limits(limits));
        server.on("request", (req: ClientRequest, res: ClientResponse) => this.proxy.handle(req, res, true));
        server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
          this.trackTunnel(socket);
          handleUpgrade(this.proxy, req, socket, head, true);
        });
        server.on("clientError", onTlsClientError);
        server.on("sessionError", () => undefined);
        server.on("tlsClientError", (err: Error, socket: TLSSocket) => {
          // destroy, never end(): an end() waits for a handshake that will not come, and once the client
          // closes the socket sits in CLOSE-WAIT with its descriptor for good
          socket.destroy();
          this.logger.debug({ err, client: socket.remoteAddress }, "TLS handshake failed");
        });
        this.https = server;
        server.maxConnections = maxConnections;
        server.on("drop", countDrop.bind(refused.labels({ listener: "https", cap: "total" })));
        await listen(server as unknown as import("node:net").Server, httpsAddress, { reusePort: this.reusePort });
        server.on("error", this.onListenerError);
        // With port 0 the kernel picks the port; redirects must name the real one.
        const bound = server.address();
        if (bound && typeof bound === "object") this.proxy.settings.httpsPort = bound.port;
        this.logger.info({ address: formatAddress(httpsAddress) }, "ingress HTTPS listening");
      }
      this.gateway = this.gatewaySockets();
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  async apply(_previous: Snapshot | undefined, next: Snapshot): Promise<void> {
    // The same table as last time (nothing ingress-related changed): keep the matcher and its runtimes.
    if (next.ingress !== this.appliedTable) {
      const compiler = new RouteCompiler(this.pools, this.metrics, this.compiledRoutes);
      this.proxy.matcher = new Matcher<RouteRuntime>(
        next.ingress,
        compiler.compile,
        this.proxy.matcher,
        compiler.adopt,
      );
      // Upstream pools are counted per route runtime: new ones take theirs, dropped ones give theirs back.
      for (const runtime of compiler.created) this.countPools(runtime, 1);
      for (const [route, runtime] of this.compiledRoutes)
        if (compiler.compiled.get(route) !== runtime) this.countPools(runtime, -1);
      this.compiledRoutes = compiler.compiled;
      this.appliedTable = next.ingress;
    }
    this.proxy.accessLog = this.logger.isLevelEnabled("debug");
    const gatewayHttp = next.gateway?.http ?? [];
    // a socket that could not be bound is tried again on every snapshot, changed or not
    if (this.gateway !== undefined && (gatewayHttp !== this.appliedGateway || this.gateway.failing())) {
      this.appliedGateway = gatewayHttp;
      await this.gateway.apply(gatewayHttp);
    }
    if (this.certificates.update(next.ingress) && this.https) {
      // setSecureContext rebuilds the default context from these options alone: the profile must come along
      this.https.setSecureContext({ ...TLS_PROFILE, ...this.certificates.fallbackPem });
    }
    await this.status.apply(next.ingress);
  }

  /** Gateway sockets that could not be bound (docs/gateway.md). */
  problems(): Problem[] {
    return this.gateway?.problems() ?? [];
  }

  /** The Gateway sockets, sharing this plane's pools, limits and (on the same address and port) listeners. */
  private gatewaySockets(): GatewaySockets {
    const bound = (server: import("node:net").Server | undefined, configured: HostPort | undefined) => {
      const address = server?.address();
      if (configured === undefined || !address || typeof address !== "object") return undefined;
      return { host: configured.host, port: address.port };
    };
    return new GatewaySockets({
      logger: this.logger,
      limits: this.limits,
      metrics: this.metrics,
      pools: this.pools,
      retain: (runtime) => this.countPools(runtime, 1),
      release: (runtime) => this.countPools(runtime, -1),
      reusePort: this.reusePort,
      maxConnections: this.maxConnections,
      sourceCap: this.sourceCap,
      defaultPem: this.defaultPem,
      tlsHandshakeTimeoutMs: this.tlsHandshakeTimeoutMs,
      closeGraceMs: this.closeGraceMs,
      proxySettings: { ...this.proxy.settings, httpsPort: undefined },
      ingressProxy: this.proxy,
      ingressHttp: bound(this.httpListener, this.config.httpAddress),
      ingressHttps: bound(this.https as unknown as import("node:net").Server | undefined, this.config.httpsAddress),
      onSharedCertificates: (store) => {
        this.sharedGatewayCertificates = store;
      },
      reportBind: (id, error) => this.statusWriter.reportGatewayBind?.(id, error),
      decorate: (proxy) => {
        proxy.mirror = this.proxy.mirror;
        proxy.h2c = this.proxy.h2c;
      },
    });
  }

  /** A listener's error after listening (an accept failing, such as EMFILE) is logged; unhandled it would throw. */
  private readonly onListenerError = (err: Error): void => {
    this.logger.warn({ err }, "ingress listener error");
  };

  private countPools(runtime: RouteRuntime, delta: 1 | -1): void {
    for (const endpoint of runtime.backend?.endpoints ?? []) {
      const n = (this.poolUsers.get(endpoint.pool) ?? 0) + delta;
      if (n > 0) this.poolUsers.set(endpoint.pool, n);
      else {
        this.poolUsers.delete(endpoint.pool);
        this.pools.release(endpoint.pool);
      }
    }
  }

  private trackHttp1(socket: Socket): void {
    this.http1Sockets.add(socket);
    socket.once("close", () => this.http1Sockets.delete(socket));
  }

  private trackTunnel(socket: Duplex): void {
    this.http1Sockets.delete(socket as Socket);
    this.tunnels.add(socket);
    socket.once("close", () => this.tunnels.delete(socket));
  }

  /**
   * Stops the listeners and ends every client connection, within `graceMs` (by default closeGraceMs of the
   * stop timeout) plus a moment: connections with nothing in flight (idle keep-alive, silent, half a head,
   * mid-handshake) are closed at once and HTTP/2 sessions get a GOAWAY; requests in flight may finish within
   * the grace; then every socket left (requests, HTTP/2 sessions, tunnels) is destroyed. As nginx and Envoy
   * on shutdown: a client holding a connection can never hold the stop.
   */
  async close(graceMs = this.closeGraceMs): Promise<void> {
    const raw = this.rawHttp;
    this.rawHttp = undefined;
    const servers = [this.http, this.https, raw?.server].filter((s): s is NonNullable<typeof s> => s !== undefined);
    const node = this.http;
    this.http = undefined;
    this.https = undefined;
    // each resolves once its listener and all its connections are closed
    const closed = servers.map(
      (server) =>
        new Promise<void>((resolve) => {
          if (!server.listening) resolve();
          else server.close(() => resolve());
        }),
    );
    const gateway = this.gateway;
    this.gateway = undefined;
    closed.push(gateway?.close(graceMs) ?? Promise.resolve());
    const all = Promise.all(closed);
    try {
      raw?.drain();
      // (server.close() has closed the idle HTTP/1 connections of Node's servers already)
      this.closeQuiet();
    } catch (err) {
      this.logger.warn({ err }, "ingress: closing idle connections failed; all are cut after the grace");
    }
    if (!(await within(all, graceMs))) {
      raw?.closeAllConnections();
      node?.closeAllConnections();
      for (const socket of this.tunnels) socket.destroy();
      for (const session of this.sessions) session.destroy();
      for (const socket of this.http1Sockets) socket.destroy();
      for (const socket of this.tlsSockets) socket.destroy();
      // every socket is destroyed: only their 'close' events are still to come
      if (!(await within(all, Math.max(graceMs, FORCED_CLOSE_MS))))
        this.logger.warn("ingress: listeners not closed after every connection was destroyed");
    }
    await Promise.all([
      this.pools.close(),
      (this.proxy.h2c as H2cClients | undefined)?.close(),
      (this.proxy.mirror as Mirror | undefined)?.close(),
    ]);
  }

  /**
   * close()'s first step on the connections Node's servers hold: TLS handshakes not finished, HTTP/1
   * connections with no response in flight (idle, silent, half a head), HTTP/2 sessions (GOAWAY: no new
   * streams; the session ends with its last stream).
   */
  private closeQuiet(): void {
    const handshaken = new Set<string>();
    for (const socket of this.http1Sockets) {
      handshaken.add(peer(socket));
      // Node's HTTP/1 server sets _httpMessage while a response is assigned to the socket (used by
      // onClientError too); none: nothing in flight
      const res = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
      if (res == null) socket.destroy();
      else {
        // in flight: the connection closes after this response (Node would keep it for the next request)
        if (!res.headersSent) res.shouldKeepAlive = false;
        res.once("finish", () => socket.end());
      }
    }
    for (const session of this.sessions) {
      const socket = session.socket;
      if (socket !== undefined) handshaken.add(peer(socket as Socket));
      session.close();
    }
    for (const socket of this.tunnels) handshaken.add(peer(socket as Socket));
    // a TCP connection with no TLS socket of its peer is still in the handshake (or never began one)
    for (const socket of this.tlsSockets) if (!handshaken.has(peer(socket))) socket.destroy();
  }
}

/** RequestMirror copies in flight at most (per process); beyond, copies are skipped and counted. */
const MIRROR_MAX_IN_FLIGHT = 256;

/** The longest close() lets requests in flight finish (nginx's and Envoy's drains are longer: this is a stop). */
const MAX_CLOSE_GRACE_MS = 2_000;
/** After destroying every socket, how long close() waits for the listeners to report closed. */
const FORCED_CLOSE_MS = 500;

/**
 * The grace close() gives requests in flight: a quarter of the stop timeout (the stop has other planes to
 * close, and a worker gets half of it), at most MAX_CLOSE_GRACE_MS.
 */
export function closeGraceMs(stopTimeoutMs: number): number {
  return Math.min(MAX_CLOSE_GRACE_MS, Math.floor(stopTimeoutMs / 4));
}

function peer(socket: Socket): string {
  return `${socket.remoteAddress}|${socket.remotePort}`;
}

/** After an error answer, how long the client gets to read it and close before the socket is destroyed. */
const ERROR_LINGER_MS = 5_000;

/** The limits of Node's HTTP/1 server code, for the "node" front end and the TLS listener's HTTP/1.1 side. */
function http1Limits(limits: ClientLimits) {
  return {
    maxHeaderSize: limits.maxHeaderSize,
    insecureHTTPParser: false,
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    connectionsCheckingInterval: limits.connectionsCheckingIntervalMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    // Checked by the proxy, so the 400 carries our Server header like every other answer.
    requireHostHeader: false,
  };
}

/** Parse errors get the status Node would send (431 oversize, 408 slow head, 400 malformed) plus our Server header. */
function onClientError(err: Error & { code?: string }, socket: Duplex): void {
  const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (err.code === "ECONNRESET" || !socket.writable || inFlight?.headersSent) {
    socket.destroy();
    return;
  }
  socket.end(clientErrorAnswer(err.code));
  // end() only half-closes: a client that neither reads nor closes would keep the descriptor
  setTimeout(destroySocket, ERROR_LINGER_MS, socket).unref();
}

/**
 * The HTTPS listener's HTTP/1 side reports TLS failures (handshake timeout, bad records) as client errors
 * too; before the handshake there is no HTTP to answer in, so those sockets are destroyed.
 */
function onTlsClientError(err: Error & { code?: string }, socket: Duplex): void {
  // documented: alpnProtocol is null until the handshake has completed
  if ((socket as TLSSocket).alpnProtocol === null) socket.destroy();
  else onClientError(err, socket);
}

/** net.Server's 'drop': a connection beyond maxConnections, closed by Node at accept (`this`: the counter child). */
function countDrop(this: { inc(): void }): void {
  this.inc();
}

function destroySocket(socket: Duplex): void {
  socket.destroy();
}

function formatAddress(hp: HostPort): string {
  return hp.host.includes(":") ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`;
}

/** Registered in src/planes/index.ts: on when either listener address is set. */
export const createIngressPlane: PlaneFactory = async (context) => {
  if (!context.config.httpAddress && !context.config.httpsAddress) return undefined;
  // With workers the listeners live in the workers (shared with SO_REUSEPORT), not in the primary.
  if (context.role === "primary") return undefined;
  const plane = new IngressPlane(context, undefined, context.defaultCertificate);
  await plane.start();
  return plane;
};

export { type ClientLimits, DEFAULT_CLIENT_LIMITS, defaultFastPath, defaultHttpFrontend } from "./limits.ts";
export type { ServerResponse };
