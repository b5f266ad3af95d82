import { type Dispatcher, Pool } from "undici";
import type { Logger } from "../../log.ts";
import { Sweeper } from "../sweeper.ts";
import { H1Pool, SWEEP_INTERVAL_MS, sweepPools } from "./h1client.ts";

/**
 * What the proxy needs from an endpoint's connections: undici's dispatch-with-handler API, the seam
 * between routing and the HTTP client.
 */
export interface UpstreamPool {
  dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean;
}

export interface UpstreamTimeouts {
  connectTimeoutMs: number;
  headerTimeoutMs: number;
  idleTimeoutMs: number;
}

/**
 * One endpoint's upstream connections. Which client serves a request:
 * - plain-HTTP endpoint, request without a body (GET, HEAD, …: the hot path) → the hand-tuned H1Pool;
 * - a request with a body (streamed, Content-Length or chunked), or an HTTPS endpoint → an undici Pool,
 *   created on first use.
 * Both keep their connections alive per endpoint.
 */
export class EndpointPool implements UpstreamPool {
  private readonly fast: H1Pool | undefined;
  private general: Pool | undefined;
  private readonly makeGeneral: () => Pool;

  constructor(fast: H1Pool | undefined, makeGeneral: () => Pool) {
    this.fast = fast;
    this.makeGeneral = makeGeneral;
  }

  /** the plain-HTTP keep-alive pool, for the ingress fast path (bodyless requests); undefined for HTTPS */
  get direct(): H1Pool | undefined {
    return this.fast;
  }

  dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    if (this.fast !== undefined && options.body == null) return this.fast.dispatch(options, handler);
    this.general ??= this.makeGeneral();
    return this.general.dispatch(options, handler);
  }

  /** Graceful: in-flight requests finish first. */
  async close(): Promise<void> {
    this.fast?.close();
    await this.general?.close();
  }

  async destroy(): Promise<void> {
    this.fast?.destroy();
    await this.general?.destroy();
  }
}

/**
 * Keep-alive connection pools, one per (scheme, endpoint, connect timeout). Pools outlive snapshots:
 * a reconcile keeps every pool whose endpoint is still in use, and closes the others gracefully
 * (in-flight requests finish first).
 */
export class UpstreamPools {
  private pools = new Map<string, EndpointPool>();
  private readonly keys = new Map<UpstreamPool, string>();
  private readonly timeouts: UpstreamTimeouts;
  private readonly logger: Logger;
  private readonly sweeper: Sweeper<H1Pool> = new Sweeper(SWEEP_INTERVAL_MS, sweepPools);

  constructor(timeouts: UpstreamTimeouts, logger: Logger) {
    this.timeouts = timeouts;
    this.logger = logger;
  }

  get(scheme: "http" | "https", ip: string, port: number, connectTimeoutMs: number | undefined): UpstreamPool {
    const timeout = connectTimeoutMs ?? this.timeouts.connectTimeoutMs;
    const host = ip.includes(":") ? `[${ip}]` : ip;
    const origin = `${scheme}://${host}:${port}`;
    const key = `${origin}|${timeout}`;
    let pool = this.pools.get(key);
    if (!pool) {
      const fast =
        scheme === "http"
          ? new H1Pool(ip, port, { ...this.timeouts, connectTimeoutMs: timeout }, this.sweeper)
          : undefined;
      pool = new EndpointPool(
        fast,
        () =>
          new Pool(origin, {
            connect: {
              timeout,
              // Like ingress-nginx (proxy_ssl_verify off): backends inside the cluster commonly use self-signed certificates.
              ...(scheme === "https" ? { rejectUnauthorized: false } : {}),
            },
            keepAliveTimeout: this.timeouts.idleTimeoutMs,
            keepAliveMaxTimeout: this.timeouts.idleTimeoutMs,
            headersTimeout: this.timeouts.headerTimeoutMs,
            bodyTimeout: this.timeouts.headerTimeoutMs,
            pipelining: 1,
          }),
      );
      this.pools.set(key, pool);
      this.keys.set(pool, key);
    }
    return pool;
  }

  /** Closes one pool no route uses any more (in-flight requests on it finish first). */
  release(pool: UpstreamPool): void {
    const key = this.keys.get(pool);
    if (key === undefined) return;
    this.keys.delete(pool);
    this.pools.delete(key);
    (pool as EndpointPool).close().catch((err: unknown) => this.logger.debug({ err, key }, "closing upstream pool"));
  }

  async close(): Promise<void> {
    const pools = [...this.pools.values()];
    this.pools.clear();
    this.keys.clear();
    await Promise.all(pools.map((p) => p.destroy().catch(() => undefined)));
    this.sweeper.clear();
  }
}
