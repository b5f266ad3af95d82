import { createServer as createNetServer, type Server, type Socket } from "node:net";
import { type ClientLimits, defaultFastPath } from "./limits.ts";
import type { IngressMetrics } from "./metrics.ts";
import { PriorKnowledgeServer } from "./prior-knowledge.ts";
import type { IngressProxy } from "./proxy.ts";
import { type ConnectionServer, RawConnection } from "./raw-connection.ts";
import { adopt } from "./raw-io.ts";
import type { SourceCap } from "./source-cap.ts";

/**
 * The plain-HTTP listener without `http.Server`: each connection's bytes go to its own instance of Node's
 * llhttp binding (the very parser `http.Server` uses, strict: no lenient flag is ever set), and each request
 * is handed to the proxy as a small request/response pair implementing just what the proxy uses. Pipelined
 * requests go upstream one at a time, in order, as nginx does: a request parsed while an earlier one is in
 * flight is held until that one's response has been written. Parse errors answer 400/431 (413 for
 * chunk-extension overflow), heads the proxy must not forward (two Hosts, HTTP/1.0 with Transfer-Encoding)
 * 400, versions other than 1.0/1.1 505, slow heads 408; idle keep-alive connections are closed, reading
 * pauses while the socket's write buffer is full. An exception while handling a connection closes that
 * connection (counted and logged), never the process.
 *
 * One class per file: the server (here), its connections (raw-connection.ts), the request and response the
 * proxy sees (raw-request.ts, raw-response.ts), and the llhttp and socket plumbing below them (raw-io.ts).
 */

/** The plain-HTTP listener on raw sockets (see the top of this file). */
export class RawHttpServer implements ConnectionServer {
  readonly server: Server;
  readonly proxy: IngressProxy;
  readonly limits: ClientLimits;
  /** serve what direct.ts can serve through it */
  readonly fastPath: boolean;
  /** requests the fast path took (tests check that it serves what it should) */
  fastPathServed = 0;
  private readonly connections = new Set<RawConnection>();
  /** client sockets handed to handleUpgrade (tunnels, or waiting for the endpoint's answer): no longer connections */
  private readonly tunnels = new Set<Socket>();
  /** close() has begun: new connections are refused (the busy ones close after their requests: drain) */
  private draining = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly metrics: IngressMetrics | undefined;
  /** connections that began with the HTTP/2 preface (h2c prior knowledge), made on first use */
  private h2c: PriorKnowledgeServer | undefined;

  /** connections per client IP (shared with the HTTPS listener); undefined = no per-source cap */
  private readonly sourceCap: SourceCap | undefined;
  private readonly refusedBySource: { inc(): void } | undefined;

  constructor(proxy: IngressProxy, limits: ClientLimits, metrics?: IngressMetrics, sourceCap?: SourceCap) {
    this.proxy = proxy;
    this.limits = limits;
    this.metrics = metrics;
    this.sourceCap = sourceCap;
    this.refusedBySource = metrics?.connectionsRefused.labels({ listener: "http", cap: "source" });
    this.fastPath = limits.fastPath ?? defaultFastPath();
    // half-open as http.Server: a client that ends its side after pipelining still gets every response
    this.server = createNetServer({ noDelay: true, allowHalfOpen: true, pauseOnConnect: true }, (accepted) => {
      if (this.draining) {
        accepted.destroy();
        return;
      }
      try {
        const socket = adopt(accepted, this.server);
        // checked on the adopted socket: the peer name it reads here is cached for the proxy's X-Forwarded-For
        if (this.sourceCap !== undefined && !this.sourceCap.admit(socket)) {
          this.refusedBySource?.inc();
          socket.destroy();
          return;
        }
        this.connections.add(new RawConnection(this, socket));
        socket.resume();
      } catch (err) {
        this.countFault("accept", accepted, err);
        accepted.destroy();
        return;
      }
      this.timer ??= setInterval(() => this.check(), limits.connectionsCheckingIntervalMs);
      this.timer.unref();
    });
  }

  /** A connection closed by a fault (an exception while handling it): counted and logged with its client. */
  countFault(stage: string, socket: Socket, err: unknown): void {
    this.metrics?.connectionFaults.inc({ listener: "http", stage });
    this.proxy.logger.warn(
      { err, stage, client: socket.remoteAddress, port: socket.remotePort },
      "ingress: closed a client connection after an internal error",
    );
  }

  private listenPort = "";
  /** The listener's port as text: every accepted socket's local port (asked once, not per connection). */
  portText(socket: Socket): string {
    if (this.listenPort === "") this.listenPort = String(socket.localPort ?? "");
    return this.listenPort;
  }

  /** A connection that began with the HTTP/2 preface: served by node:http2 from now on (prior-knowledge.ts). */
  serveH2c(socket: Socket, read: Buffer): void {
    if (this.draining) {
      socket.destroy();
      return;
    }
    this.h2c ??= new PriorKnowledgeServer(this.proxy, this.limits);
    this.h2c.serve(socket, read);
  }

  forget(conn: RawConnection): void {
    this.connections.delete(conn);
  }

  private check(): void {
    const now = performance.now();
    for (const conn of this.connections) {
      try {
        conn.check(now);
      } catch (err) {
        conn.fault("timer", err);
      }
    }
    if (this.connections.size === 0 && this.timer !== undefined) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  trackTunnel(socket: Socket): void {
    this.tunnels.add(socket);
    socket.once("close", () => this.tunnels.delete(socket));
  }

  /**
   * The first step of closing (after server.close()): idle and half-open connections are closed now, the
   * others once their requests are answered; tunnels are left to closeAllConnections.
   */
  drain(): void {
    this.draining = true;
    this.h2c?.drain();
    for (const conn of this.connections) {
      try {
        conn.drain();
      } catch (err) {
        conn.fault("close", err);
      }
    }
  }

  /** Every client socket, tunnels included: what is left when the grace of close() is over. */
  closeAllConnections(): void {
    for (const conn of this.connections) conn.socket.destroy();
    for (const socket of this.tunnels) socket.destroy();
    this.h2c?.closeAll();
  }
}
