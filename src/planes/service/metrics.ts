import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import { descriptorExhaustionCounter } from "../../util/fd-budget.ts";
import type { PortRef } from "./plan.ts";

const LABELS = ["namespace", "service", "port", "protocol"] as const;
type Labels = Record<(typeof LABELS)[number], string>;
type GatewayLabels = Record<"socket" | "protocol", string>;

function newPortMetrics(release: () => void): PortMetrics {
  return {
    active: new Tally(),
    total: new Tally(),
    bytesIn: new Tally(),
    bytesOut: new Tally(),
    dialFailures: new Tally(),
    rejected: new Tally(),
    release,
  };
}

/**
 * The service plane's metrics. The per Service port figures are plain numbers (`Tally`) that the
 * forwarding path bumps without calling into prom-client (which hashes the label set on every call);
 * they are copied into the prom-client metrics when the registry is scraped.
 */
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
  /** new flows/connections refused by a cap of the descriptor budget, or during an EMFILE back-off */
  readonly budgetRefused: Counter<"protocol" | "cap">;
  /** nodeplane_descriptor_exhaustion_total, shared with the other planes */
  readonly exhaustion: Counter<"plane" | "listener">;

  constructor(registry: Registry) {
    const registers = [registry];
    const labelNames = LABELS;
    this.active = new Gauge({
      name: "nodeplane_service_connections_active",
      help: "Proxied connections (TCP) or flows (UDP) open now, per Service port",
      labelNames,
      registers,
      collect: () => {
        this.active.reset();
        for (const { labels, metrics } of this.ports.values()) this.active.set(labels, metrics.active.value);
      },
    });
    this.total = new Counter({
      name: "nodeplane_service_connections_total",
      help: "Proxied connections (TCP) or flows (UDP) accepted, per Service port",
      labelNames,
      registers,
      collect: () => {
        this.total.reset();
        for (const { labels, metrics } of this.ports.values()) this.total.inc(labels, metrics.total.value);
      },
    });
    this.bytesIn = new Counter({
      name: "nodeplane_service_received_bytes_total",
      help: "Bytes from clients forwarded to endpoints, per Service port (TCP: counted when the connection closes)",
      labelNames,
      registers,
      collect: () => {
        this.bytesIn.reset();
        for (const { labels, metrics } of this.ports.values()) this.bytesIn.inc(labels, metrics.bytesIn.value);
      },
    });
    this.bytesOut = new Counter({
      name: "nodeplane_service_sent_bytes_total",
      help: "Bytes from endpoints forwarded to clients, per Service port (TCP: counted when the connection closes)",
      labelNames,
      registers,
      collect: () => {
        this.bytesOut.reset();
        for (const { labels, metrics } of this.ports.values()) this.bytesOut.inc(labels, metrics.bytesOut.value);
      },
    });
    this.dialFailures = new Counter({
      name: "nodeplane_service_dial_failures_total",
      help: "Failed connects to an endpoint (refused, unreachable or timed out), per Service port",
      labelNames,
      registers,
      collect: () => {
        this.dialFailures.reset();
        for (const { labels, metrics } of this.ports.values())
          this.dialFailures.inc(labels, metrics.dialFailures.value);
      },
    });
    this.rejected = new Counter({
      name: "nodeplane_service_connections_reset_total",
      help: "Connections reset (UDP: new flows dropped) without forwarding: drop frontends, loadBalancerSourceRanges, no endpoint left to dial, the descriptor budget",
      labelNames,
      registers,
      collect: () => {
        this.rejected.reset();
        for (const { labels, metrics } of this.ports.values()) this.rejected.inc(labels, metrics.rejected.value);
      },
    });
    this.listeners = new Gauge({
      name: "nodeplane_service_listeners",
      help: "Service proxy sockets by state (listening, failed to bind)",
      labelNames: ["state"],
      registers,
    });
    this.budgetRefused = new Counter({
      name: "nodeplane_service_budget_refused_total",
      help: "New UDP flows dropped or TCP connections reset by the descriptor budget: cap listener, total, source (per client IP), exhausted (EMFILE back-off)",
      labelNames: ["protocol", "cap"],
      registers,
    });
    this.exhaustion = descriptorExhaustionCounter(registry);
    this.gatewayFamily(registers);
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

  private readonly ports = new Map<string, { labels: Labels; metrics: PortMetrics; users: number }>();
  private readonly gateways = new Map<string, { labels: GatewayLabels; metrics: PortMetrics; users: number }>();

  /**
   * Gateway TCP/UDP/TLS sockets (docs/gateway.md): the same six figures per socket, labels `socket`
   * (`address:port/PROTOCOL`, one series per Gateway socket: bounded by the Gateways' listeners) and
   * `protocol`. A TLS socket's SNI pools share its series.
   */
  private gatewayFamily(registers: Registry[]): void {
    const figures: [string, keyof Omit<PortMetrics, "release">, string, "gauge" | "counter"][] = [
      ["connections_active", "active", "open TCP connections / UDP flows", "gauge"],
      ["connections_total", "total", "accepted TCP connections / UDP flows", "counter"],
      ["received_bytes_total", "bytesIn", "client → backend bytes (TCP: added when the connection closes)", "counter"],
      ["sent_bytes_total", "bytesOut", "backend → client bytes (TCP: added when the connection closes)", "counter"],
      ["dial_failures_total", "dialFailures", "failed connects to a backend endpoint", "counter"],
      [
        "connections_reset_total",
        "rejected",
        "connections reset (UDP: new flows dropped) without forwarding: invalid or empty backend, TLS without a matching SNI, malformed or slow ClientHello, the descriptor budget",
        "counter",
      ],
    ];
    const labelNames = ["socket", "protocol"] as const;
    for (const [name, field, help, type] of figures) {
      const options = { name: `nodeplane_gateway_l4_${name}`, help: `Gateway sockets: ${help}`, labelNames, registers };
      if (type === "gauge") {
        const gauge: Gauge<"socket" | "protocol"> = new Gauge({
          ...options,
          collect: () => {
            gauge.reset();
            for (const { labels, metrics } of this.gateways.values()) gauge.set(labels, metrics[field].value);
          },
        });
      } else {
        const counter: Counter<"socket" | "protocol"> = new Counter({
          ...options,
          collect: () => {
            counter.reset();
            for (const { labels, metrics } of this.gateways.values()) counter.inc(labels, metrics[field].value);
          },
        });
      }
    }
  }

  /** The children for one Gateway socket, reference counted like `acquire`'s. */
  acquireGateway(socketId: string, protocol: string): PortMetrics {
    const key = `${socketId}|${protocol}`;
    const existing = this.gateways.get(key);
    if (existing) {
      existing.users++;
      return existing.metrics;
    }
    const metrics = newPortMetrics(() => {
      const entry = this.gateways.get(key);
      if (!entry || --entry.users > 0) return;
      this.gateways.delete(key);
    });
    this.gateways.set(key, { labels: { socket: socketId, protocol }, metrics, users: 1 });
    return metrics;
  }

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
      active: new Tally(),
      total: new Tally(),
      bytesIn: new Tally(),
      bytesOut: new Tally(),
      dialFailures: new Tally(),
      rejected: new Tally(),
      release: () => {
        const entry = this.ports.get(key);
        if (!entry || --entry.users > 0) return;
        // The series go with the entry: the next scrape no longer lists them.
        this.ports.delete(key);
      },
    };
    this.ports.set(key, { labels, metrics, users: 1 });
    return metrics;
  }
}

/** A number the hot path bumps; read when the metrics are scraped. */
export class Tally {
  value = 0;

  inc(by = 1): void {
    this.value += by;
  }

  dec(by = 1): void {
    this.value -= by;
  }
}

export interface PortMetrics {
  active: Tally;
  total: Tally;
  bytesIn: Tally;
  bytesOut: Tally;
  dialFailures: Tally;
  rejected: Tally;
  /** this user is done with the port; its series go when the last user is */
  release(): void;
}
