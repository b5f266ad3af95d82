import { AggregatorRegistry, type Registry } from "prom-client";
import type { WorkerMetrics } from "./protocol.ts";
import type { Supervisor, WorkerInfo } from "./supervisor.ts";

/** What the admin server scrapes: a Registry, or the primary's view of all processes. */
export type MetricsSource = Pick<Registry, "contentType" | "metrics" | "getMetricsAsJSON">;

/**
 * `/metrics` with workers: the primary's own registry merged with every worker's (prom-client's
 * AggregatorRegistry: counters and histograms summed, gauges summed unless the metric says otherwise).
 * A worker that does not answer in time is left out of that scrape.
 */
export class AggregatedMetrics implements MetricsSource {
  private readonly primary: Registry;
  private readonly supervisor: Supervisor;
  private readonly timeoutMs: number;

  constructor(primary: Registry, supervisor: Supervisor, timeoutMs = 2_000) {
    this.primary = primary;
    this.supervisor = supervisor;
    this.timeoutMs = timeoutMs;
  }

  get contentType(): Registry["contentType"] {
    return this.primary.contentType;
  }

  async metrics(): Promise<string> {
    return (await this.aggregate()).metrics();
  }

  async getMetricsAsJSON(): ReturnType<Registry["getMetricsAsJSON"]> {
    return (await this.aggregate()).getMetricsAsJSON();
  }

  private async aggregate(): Promise<Registry> {
    const [own, workers] = await Promise.all([
      this.primary.getMetricsAsJSON(),
      this.supervisor.collectMetrics(this.timeoutMs),
    ]);
    return AggregatorRegistry.aggregate([own, ...workers.values()]);
  }
}

/** What one worker has served so far, from its own metrics. */
export interface WorkerTraffic {
  /** TCP connections and UDP flows accepted by the service proxy */
  connections: number;
  /** HTTP requests answered by the ingress */
  requests: number;
  /** DNS queries answered */
  dnsQueries: number;
}

const TRAFFIC: Record<keyof WorkerTraffic, string> = {
  connections: "nodeplane_service_connections_total",
  requests: "nginx_ingress_controller_requests",
  dnsQueries: "coredns_dns_requests_total",
};

/** Pure: the totals of one process's traffic counters over all their label sets. */
export function workerTraffic(metrics: WorkerMetrics): WorkerTraffic {
  const total = (name: string) =>
    metrics.filter((m) => m.name === name).reduce((sum, m) => sum + m.values.reduce((s, v) => s + v.value, 0), 0);
  return {
    connections: total(TRAFFIC.connections),
    requests: total(TRAFFIC.requests),
    dnsQueries: total(TRAFFIC.dnsQueries),
  };
}

/** `/api/workers`: each worker's process, state and traffic. */
export async function describeWorkers(
  supervisor: Supervisor,
  timeoutMs = 2_000,
): Promise<(WorkerInfo & { traffic?: WorkerTraffic })[]> {
  const metrics = await supervisor.collectMetrics(timeoutMs);
  return supervisor.workers().map((info) => {
    const m = metrics.get(info.index);
    return m ? { ...info, traffic: workerTraffic(m) } : info;
  });
}
