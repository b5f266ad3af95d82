import { createSocket, type RemoteInfo, type Socket } from "node:dgram";
import { isIPv6 } from "node:net";
import type { Endpoint } from "../../snapshot/snapshot.ts";
import { ExhaustionBackoff, isDescriptorExhaustion, UDP_FLOWS_PER_LISTENER_CEILING } from "../../util/fd-budget.ts";
import type { RefusalCounters, UdpFlowLimits } from "./fd-guard.ts";
import { endpointKey, type ListenerPlan } from "./plan.ts";
import type { Pool, Tracked } from "./pool.ts";
import { compileSourceRanges, type SourceMatcher } from "./source-ranges.ts";

export interface UdpProxyOptions {
  udpIdleTimeoutMs: number;
  /** most flows one listener keeps; packets of new clients beyond it are dropped */
  maxFlows?: number;
  /** the process's flow caps (total and per client IP), shared by every UDP listener */
  limits?: UdpFlowLimits | undefined;
  /** counts what the caps refuse */
  refused?: RefusalCounters | undefined;
  /** an upstream socket could not be opened (EMFILE/ENFILE): told with the back-off it starts */
  onExhausted?: ((pauseMs: number) => void) | undefined;
  /** SO_REUSEPORT, shared with sibling workers: datagrams are spread by source address and port */
  reusePort?: boolean | undefined;
}

const NO_COUNT = { inc(): void {} };
const UNCOUNTED: RefusalCounters = { listener: NO_COUNT, total: NO_COUNT, source: NO_COUNT, exhausted: NO_COUNT };

interface Flow extends Tracked {
  upstream: Socket;
  endpoint: Endpoint;
  lastSeen: number;
  bytesIn: number;
  bytesOut: number;
}

/**
 * One UDP socket of the service plane. Each client address gets a flow: one upstream socket to the
 * endpoint chosen for it, so replies find their way back and the endpoint sees one peer per client.
 * Flows idle for `udpIdleTimeoutMs` are forgotten; flows to an endpoint that left are dropped at once
 * (the client's next datagram opens a flow to a live endpoint).
 *
 * A new client over a cap (this listener's, the process's total, or its IP's share: fd-guard.ts) is
 * dropped and counted; established flows are never evicted for it. When an upstream socket cannot be
 * opened (EMFILE), the flow is closed and new flows are dropped for a growing pause.
 */
export class UdpListener {
  readonly key: string;
  private plan: ListenerPlan;
  private pool: Pool;
  private allowed: SourceMatcher;
  private readonly socket: Socket;
  private readonly flows = new Map<string, Flow>();
  private readonly options: UdpProxyOptions;
  private sweeper: NodeJS.Timeout | undefined;
  private readonly maxFlows: number;
  private readonly refused: RefusalCounters;
  private readonly backoff = new ExhaustionBackoff();

  constructor(plan: ListenerPlan, pool: Pool, options: UdpProxyOptions) {
    this.key = plan.key;
    this.plan = plan;
    this.pool = pool;
    this.options = options;
    this.maxFlows = options.maxFlows ?? UDP_FLOWS_PER_LISTENER_CEILING;
    this.refused = options.refused ?? UNCOUNTED;
    this.allowed = compileSourceRanges(plan.sourceRanges);
    this.socket = createSocket({
      type: isIPv6(plan.ip) ? "udp6" : "udp4",
      ipv6Only: isIPv6(plan.ip),
      reusePort: options.reusePort === true,
    });
    this.socket.on("message", (msg, rinfo) => this.onClientMessage(msg, rinfo));
  }

  get flowCount(): number {
    return this.flows.size;
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.socket.once("error", onError);
      this.socket.bind({ address: this.plan.ip, port: this.plan.port, exclusive: true }, () => {
        this.socket.off("error", onError);
        // ICMP errors from clients that went away surface here; they must not end the listener.
        this.socket.on("error", () => {});
        const every = Math.max(50, Math.min(5_000, Math.floor(this.options.udpIdleTimeoutMs / 2)));
        this.sweeper = setInterval(() => this.sweep(Date.now()), every);
        this.sweeper.unref();
        resolve();
      });
    });
  }

  update(plan: ListenerPlan, pool: Pool): void {
    if (plan.sourceRanges.join(",") !== this.plan.sourceRanges.join(","))
      this.allowed = compileSourceRanges(plan.sourceRanges);
    if (pool !== this.pool || plan.action === "drop") for (const flow of [...this.flows.values()]) flow.close();
    this.plan = plan;
    this.pool = pool;
  }

  close(): void {
    if (this.sweeper) clearInterval(this.sweeper);
    for (const flow of [...this.flows.values()]) flow.close();
    try {
      this.socket.close();
    } catch {
      // never bound
    }
  }

  private onClientMessage(msg: Buffer, client: RemoteInfo): void {
    if (this.plan.action === "drop") return;
    const key = `${client.address}|${client.port}`;
    let flow = this.flows.get(key);
    if (!flow) {
      if (this.plan.sourceRanges.length > 0 && !this.allowed(client.address)) {
        this.pool.metrics.rejected.inc();
        return;
      }
      if (this.flows.size >= this.maxFlows) {
        this.pool.metrics.rejected.inc();
        this.refused.listener.inc();
        return;
      }
      if (this.backoff.until !== 0 && this.backoff.blockedAt(Date.now())) {
        this.pool.metrics.rejected.inc();
        this.refused.exhausted.inc();
        return;
      }
      const limits = this.options.limits;
      const refusedBy = limits?.acquire(client.address);
      if (refusedBy !== undefined) {
        this.pool.metrics.rejected.inc();
        this.refused[refusedBy].inc();
        return;
      }
      flow = this.openFlow(key, client);
      if (!flow) {
        // no endpoint for it (a Gateway socket's pick of an invalid backend): dropped
        limits?.release(client.address);
        this.pool.metrics.rejected.inc();
        return;
      }
    }
    flow.lastSeen = Date.now();
    flow.bytesIn += msg.length;
    flow.upstream.send(msg, flow.endpoint.port, flow.endpoint.ip);
  }

  private openFlow(key: string, client: RemoteInfo): Flow | undefined {
    const pool = this.pool;
    const [endpoint] = pool.balancer.attempts(client.address, Date.now(), 1);
    if (!endpoint) return undefined;
    pool.balancer.connected(client.address, endpoint, Date.now());
    const upstream = createSocket(isIPv6(endpoint.ip) ? "udp6" : "udp4");
    const epKey = endpointKey(endpoint);
    let open = true;
    const flow: Flow = {
      upstream,
      endpoint,
      lastSeen: Date.now(),
      bytesIn: 0,
      bytesOut: 0,
      close: () => {
        if (!open) return;
        open = false;
        this.flows.delete(key);
        pool.untrack(epKey, flow);
        pool.metrics.active.dec();
        pool.metrics.bytesIn.inc(flow.bytesIn);
        pool.metrics.bytesOut.inc(flow.bytesOut);
        this.options.limits?.release(client.address);
        try {
          upstream.close();
        } catch {
          // already closed
        }
      },
    };
    upstream.on("message", (reply, from) => {
      // Only the endpoint's own replies go back to the client.
      if (from.port !== endpoint.port || from.address !== endpoint.ip) return;
      flow.lastSeen = Date.now();
      flow.bytesOut += reply.length;
      this.socket.send(reply, client.port, client.address);
    });
    // ECONNREFUSED from an endpoint with nothing bound: the datagram is lost, as it would be without a proxy.
    // EMFILE/ENFILE (the implicit bind of the first send found no descriptor): the flow goes, new ones wait.
    upstream.on("error", (err: NodeJS.ErrnoException) => {
      if (!isDescriptorExhaustion(err.code)) return;
      flow.close();
      this.exhausted();
    });
    this.flows.set(key, flow);
    pool.track(epKey, flow, true);
    pool.metrics.total.inc();
    pool.metrics.active.inc();
    return flow;
  }

  private exhausted(): void {
    const pause = this.backoff.hit(Date.now());
    this.options.onExhausted?.(pause);
  }

  private sweep(now: number): void {
    const limit = this.options.udpIdleTimeoutMs;
    for (const flow of [...this.flows.values()]) {
      if (now - flow.lastSeen >= limit) flow.close();
      else if (flow.bytesIn > 0 || flow.bytesOut > 0) {
        // Publish byte counts of long flows as they go, not only when they end.
        this.pool.metrics.bytesIn.inc(flow.bytesIn);
        this.pool.metrics.bytesOut.inc(flow.bytesOut);
        flow.bytesIn = 0;
        flow.bytesOut = 0;
      }
    }
  }
}
