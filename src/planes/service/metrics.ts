import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { PortRef } from "./plan.ts";

const LABELS = ["namespace", "service", "port", "protocol"] as const;
type Labels = Record<(typeof LABELS)[number], string>;

/** The service plane's metrics; per Service port children are resolved once per pool, not per connection. */
export class ServiceMetrics {
  readonly active: Gauge<(typeof LABELS)[number]>;
  readonly total: Counter<(typeof LABELS)[number]>;
  readonly bytesIn: Counter<(typeof LABELS)[number]>;
  readonly bytesOut: Counter<(typeof LABELS)[number]>;
  readonly dialFailures: Counter<(typeof LABELS)[number]>;
  readonly rejected: Counter<(typeof LABELS)[number]>;
  readonly syncDuration: Histogram;
  readonly syncLast: Gauge;
  readonly listeners: Gauge<"state">;

  constructor(registry: Registry) {
    const registers = [registry];
    const labelNames = LABELS;
    this.active = new Gauge({
      name: "nodeplane_service_connections_active",
      help: "Proxied connections (TCP) or flows (UDP) open now, per Service port",
      labelNames,
      registers,
    });
    this.total = new Counter({
      name: "nodeplane_service_connections_total",
      help: "Proxied connections (TCP) or flows (UDP) accepted, per Service port",
      labelNames,
      registers,
    });
    this.bytesIn = new Counter({
      name: "nodeplane_service_received_bytes_total",
      help: "Bytes from clients forwarded to endpoints, per Service port (TCP: counted when the connection closes)",
      labelNames,
      registers,
    });
    this.bytesOut = new Counter({
      name: "nodeplane_service_sent_bytes_total",
      help: "Bytes from endpoints forwarded to clients, per Service port (TCP: counted when the connection closes)",
      labelNames,
      registers,
    });
    this.dialFailures = new Counter({
      name: "nodeplane_service_dial_failures_total",
      help: "Failed connects to an endpoint (refused, unreachable or timed out), per Service port",
      labelNames,
      registers,
    });
    this.rejected = new Counter({
      name: "nodeplane_service_connections_reset_total",
      help: "Connections reset without forwarding: drop frontends, loadBalancerSourceRanges, no endpoint left to dial",
      labelNames,
      registers,
    });
    this.listeners = new Gauge({
      name: "nodeplane_service_listeners",
      help: "Service proxy sockets by state (listening, failed to bind)",
      labelNames: ["state"],
      registers,
    });
    this.syncDuration = new Histogram({
      name: "kubeproxy_sync_proxy_rules_duration_seconds",
      help: "SyncProxyRules latency in seconds: time for the service plane to apply a snapshot",
      buckets: [0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096, 8.192],
      registers,
    });
    this.syncLast = new Gauge({
      name: "kubeproxy_sync_proxy_rules_last_timestamp_seconds",
      help: "The last time the service plane applied a snapshot (Unix seconds)",
      // with workers, /metrics merges the processes' registries: a timestamp is not a sum
      aggregator: "max",
      registers,
    });
  }

  private readonly ports = new Map<string, { metrics: PortMetrics; users: number }>();

  /**
   * The children for one Service port, shared by its pools (cluster and external endpoints) and
   * reference counted: the series are removed when the last user releases them.
   */
  acquire(ref: PortRef): PortMetrics {
    const labels: Labels = {
      namespace: ref.namespace,
      service: ref.name,
      port: ref.portName,
      protocol: ref.protocol,
    };
    const key = JSON.stringify(labels);
    const existing = this.ports.get(key);
    if (existing) {
      existing.users++;
      return existing.metrics;
    }
    const metrics: PortMetrics = {
      active: this.active.labels(labels),
      total: this.total.labels(labels),
      bytesIn: this.bytesIn.labels(labels),
      bytesOut: this.bytesOut.labels(labels),
      dialFailures: this.dialFailures.labels(labels),
      rejected: this.rejected.labels(labels),
      release: () => {
        const entry = this.ports.get(key);
        if (!entry || --entry.users > 0) return;
        this.ports.delete(key);
        for (const metric of [this.active, this.total, this.bytesIn, this.bytesOut, this.dialFailures, this.rejected])
          metric.remove(labels);
      },
    };
    this.ports.set(key, { metrics, users: 1 });
    return metrics;
  }
}

interface Inc {
  inc(value?: number): void;
}

export interface PortMetrics {
  active: Inc & { dec(value?: number): void };
  total: Inc;
  bytesIn: Inc;
  bytesOut: Inc;
  dialFailures: Inc;
  rejected: Inc;
  /** this user is done with the port; its series go when the last user is */
  release(): void;
}
