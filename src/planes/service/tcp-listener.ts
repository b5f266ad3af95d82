import { connect, createServer, type Server, type Socket } from "node:net";
import type { Endpoint } from "../../translate/snapshot.ts";
import { endpointKey, type ListenerPlan } from "./plan.ts";
import type { Pool, Tracked } from "./pool.ts";
import { compileSourceRanges, type SourceMatcher } from "./source-ranges.ts";

export interface TcpProxyOptions {
  dialTimeoutMs: number;
  /** further endpoints tried after a failed connect */
  dialRetries: number;
  tcpIdleTimeoutMs: number;
  /** SO_REUSEPORT, shared with sibling workers */
  reusePort?: boolean | undefined;
}

/**
 * One TCP socket of the service plane. `forward`: each accepted connection is spliced to an endpoint
 * of the current pool; `drop`: each is reset at once. The plan and pool are swapped in place on
 * reconcile, so established connections never notice.
 *
 * Hot path: the server accepts paused (no client bytes are read before the upstream is connected),
 * both sockets run with Nagle off, and `pipe` gives backpressure both ways with at most one
 * highWaterMark buffered per direction. Half-close is propagated (allowHalfOpen on both sides).
 */
export class TcpListener {
  readonly key: string;
  private plan: ListenerPlan;
  private pool: Pool;
  private allowed: SourceMatcher;
  private readonly server: Server;
  private readonly options: TcpProxyOptions;

  constructor(plan: ListenerPlan, pool: Pool, options: TcpProxyOptions) {
    this.key = plan.key;
    this.plan = plan;
    this.pool = pool;
    this.options = options;
    this.allowed = compileSourceRanges(plan.sourceRanges);
    this.server = createServer({ pauseOnConnect: true, allowHalfOpen: true, noDelay: true }, (socket) =>
      this.accept(socket),
    );
    // Accept errors (EMFILE and friends) must not crash the process; the server keeps listening.
    this.server.on("error", () => {});
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.server.once("error", onError);
      const { ip, port } = this.plan;
      const reusePort = this.options.reusePort === true;
      this.server.listen({ host: ip, port, ipv6Only: ip.includes(":"), reusePort }, () => {
        this.server.off("error", onError);
        resolve();
      });
    });
  }

  update(plan: ListenerPlan, pool: Pool): void {
    if (plan.sourceRanges.join(",") !== this.plan.sourceRanges.join(","))
      this.allowed = compileSourceRanges(plan.sourceRanges);
    this.plan = plan;
    this.pool = pool;
  }

  /** Stops accepting; established connections stay with their pool (closed by it or by the peers). */
  close(): void {
    this.server.close();
  }

  private accept(client: Socket): void {
    const pool = this.pool;
    const metrics = pool.metrics;
    const filtered = this.plan.sourceRanges.length > 0;
    const clientIp = pool.balancer.needsClient || filtered ? client.remoteAddress : undefined;
    if (this.plan.action === "drop" || (filtered && !this.allowed(clientIp))) {
      metrics.rejected.inc();
      client.on("error", noop);
      client.resetAndDestroy();
      return;
    }
    const now = pool.balancer.needsClient ? Date.now() : 0;
    const attempts = pool.balancer.attempts(clientIp, now, 1 + this.options.dialRetries);
    if (attempts.length === 0) {
      metrics.rejected.inc();
      client.on("error", noop);
      client.resetAndDestroy();
      return;
    }
    metrics.total.inc();
    client.on("error", noop);
    this.dial(client, clientIp, pool, attempts, 0);
  }

  private dial(client: Socket, clientIp: string | undefined, pool: Pool, attempts: Endpoint[], i: number): void {
    const endpoint = attempts[i]!;
    const upstream = connect({ host: endpoint.ip, port: endpoint.port, noDelay: true, allowHalfOpen: true });
    const onTimeout = () => upstream.destroy(new Error("connect timeout"));
    const onFailure = () => {
      pool.metrics.dialFailures.inc();
      client.off("close", onClientGone);
      upstream.destroy();
      if (client.destroyed) return;
      if (i + 1 < attempts.length) {
        this.dial(client, clientIp, pool, attempts, i + 1);
      } else {
        pool.metrics.rejected.inc();
        client.resetAndDestroy();
      }
    };
    // The client may give up while we dial: stop dialling for it.
    const onClientGone = () => upstream.destroy();
    client.once("close", onClientGone);
    upstream.setTimeout(this.options.dialTimeoutMs, onTimeout);
    upstream.once("error", onFailure);
    upstream.once("connect", () => {
      upstream.off("error", onFailure);
      upstream.off("timeout", onTimeout);
      upstream.setTimeout(0);
      client.off("close", onClientGone);
      if (client.destroyed) {
        upstream.destroy();
        return;
      }
      pool.balancer.connected(clientIp, endpoint, clientIp === undefined ? 0 : Date.now());
      this.splice(client, upstream, pool, endpointKey(endpoint));
    });
  }

  private splice(client: Socket, upstream: Socket, pool: Pool, endpoint: string): void {
    const metrics = pool.metrics;
    metrics.active.inc();
    const tracked: Tracked = {
      close: () => {
        client.destroy();
        upstream.destroy();
      },
    };
    pool.track(endpoint, tracked);
    // A reset on one side is passed on as a reset; a clean close on one side never truncates the other
    // (pipe has already ended it, it flushes and closes by itself).
    const onClientError = () => {
      if (!upstream.destroyed) upstream.resetAndDestroy();
    };
    const onUpstreamError = () => {
      if (!client.destroyed) client.resetAndDestroy();
    };
    client.off("error", noop);
    client.on("error", onClientError);
    upstream.on("error", onUpstreamError);
    client.setTimeout(this.options.tcpIdleTimeoutMs, () => {
      client.destroy();
      upstream.destroy();
    });
    let closed = 0;
    const onClose = () => {
      if (++closed < 2) return;
      metrics.active.dec();
      metrics.bytesIn.inc(client.bytesRead);
      metrics.bytesOut.inc(client.bytesWritten);
      pool.untrack(endpoint, tracked);
    };
    client.once("close", onClose);
    upstream.once("close", onClose);
    client.pipe(upstream);
    upstream.pipe(client);
  }
}

function noop(): void {}
