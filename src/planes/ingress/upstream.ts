import { type Dispatcher, Pool } from "undici";
import type { Logger } from "../../log.ts";

/**
 * What the proxy needs from an endpoint's connection pool: undici's dispatch-with-handler API. It is the
 * seam where a hand-tuned HTTP/1.1 client can replace undici (issue 7) without touching routing or the proxy.
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
 * Keep-alive connection pools, one per (scheme, endpoint, connect timeout). Pools outlive snapshots:
 * a reconcile keeps every pool whose endpoint is still in use, and closes the others gracefully
 * (in-flight requests finish first).
 */
export class UpstreamPools {
  private pools = new Map<string, Pool>();
  private readonly timeouts: UpstreamTimeouts;
  private readonly logger: Logger;

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
      pool = new Pool(origin, {
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
      });
      this.pools.set(key, pool);
    }
    return pool;
  }

  /** Closes the pools a new snapshot no longer uses (in-flight requests on them finish first). */
  retainOnly(used: ReadonlySet<UpstreamPool>): void {
    for (const [key, pool] of this.pools) {
      if (used.has(pool)) continue;
      this.pools.delete(key);
      pool.close().catch((err: unknown) => this.logger.debug({ err, key }, "closing upstream pool"));
    }
  }

  async close(): Promise<void> {
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((p) => p.destroy().catch(() => undefined)));
  }
}
