import { Counter, Histogram, type Registry } from "prom-client";
import type { HostPort } from "../../config.ts";
import { rcodeNameOf, typeNameOf } from "./names.ts";

type Child = { inc(value?: number): void };

/** Per counter, the functions that push pending counts into it; run when the registry is scraped. */
const flushers = new WeakMap<object, Set<() => void>>();

/**
 * CoreDNS-compatible metrics (same names and meanings, a subset of the labels), so existing
 * dashboards and alerts work. Per-query counts are plain numbers under a numeric key and reach
 * prom-client only when the registry is scraped: the hot path does no label hashing.
 */
export class DnsMetrics {
  private readonly requests: Counter<"server" | "zone" | "proto" | "family" | "type">;
  private readonly responses: Counter<"server" | "zone" | "rcode">;
  private readonly cacheHits: Counter<"server" | "type">;
  private readonly cacheMisses: Counter<"server">;
  private readonly forwardSeconds: Histogram<"to" | "rcode">;
  private readonly tcpClosed_: Counter<"server" | "reason">;
  private readonly server: string;
  private readonly pending = new Map<number, { child: Child; count: number }>();
  private readonly zones = new Map<string, number>();

  constructor(registry: Registry, server: string) {
    this.server = server;
    this.requests = counter(
      registry,
      "coredns_dns_requests_total",
      "Counter of DNS requests made per zone, protocol and family.",
      ["server", "zone", "proto", "family", "type"],
    );
    this.responses = counter(registry, "coredns_dns_responses_total", "Counter of response status codes.", [
      "server",
      "zone",
      "rcode",
    ]);
    this.cacheHits = counter(registry, "coredns_cache_hits_total", "The count of cache hits.", ["server", "type"]);
    this.cacheMisses = counter(registry, "coredns_cache_misses_total", "The count of cache misses.", ["server"]);
    this.tcpClosed_ = counter(
      registry,
      "nodeplane_dns_tcp_closed_total",
      "DNS-over-TCP connections closed by the server: idle, evicted (oldest idle, to admit a new one at the cap), refused (at the cap, none idle), oversize (length prefix above the query limit).",
      ["server", "reason"],
    );
    const existing = registry.getSingleMetric("coredns_forward_request_duration_seconds");
    this.forwardSeconds =
      (existing as Histogram<"to" | "rcode"> | undefined) ??
      new Histogram({
        name: "coredns_forward_request_duration_seconds",
        help: "Histogram of the time each request took.",
        labelNames: ["to", "rcode"],
        buckets: [
          0.00025, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096,
          8.192,
        ],
        registers: [registry],
      });
    const flush = () => {
      for (const entry of this.pending.values()) {
        if (entry.count === 0) continue;
        entry.child.inc(entry.count);
        entry.count = 0;
      }
    };
    flushers.get(this.requests)?.add(flush);
    flushers.get(this.responses)?.add(flush);
  }

  request(zone: string, proto: "udp" | "tcp", family: 4 | 6, type: number): void {
    // a numeric key: no string building per query
    const key = ((type * 2 + (proto === "udp" ? 0 : 1)) * 2 + (family === 4 ? 0 : 1)) * 64 + this.zoneIndex(zone);
    const entry = this.pending.get(key);
    if (entry) entry.count++;
    else
      this.pending.set(key, {
        child: this.requests.labels(this.server, zone, proto, String(family), typeNameOf(type)),
        count: 1,
      });
  }

  response(zone: string, rcode: number): void {
    const key = -((rcode + 1) * 64 + this.zoneIndex(zone));
    const entry = this.pending.get(key);
    if (entry) entry.count++;
    else this.pending.set(key, { child: this.responses.labels(this.server, zone, rcodeNameOf(rcode)), count: 1 });
  }

  private zoneIndex(zone: string): number {
    let index = this.zones.get(zone);
    if (index === undefined) {
      index = this.zones.size % 64;
      this.zones.set(zone, index);
    }
    return index;
  }

  cacheHit(negative: boolean): void {
    this.cacheHits.labels(this.server, negative ? "denial" : "success").inc();
  }

  cacheMiss(): void {
    this.cacheMisses.labels(this.server).inc();
  }

  tcpClosed(reason: "idle" | "evicted" | "refused" | "oversize"): void {
    this.tcpClosed_.labels(this.server, reason).inc();
  }

  forwardDone(to: HostPort, rcode: string, seconds: number): void {
    this.forwardSeconds.labels(`${to.host}:${to.port}`, rcode).observe(seconds);
  }
}

function counter<L extends string>(registry: Registry, name: string, help: string, labelNames: L[]): Counter<L> {
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Counter<L>;
  const flush = new Set<() => void>();
  const created = new Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      for (const f of flush) f();
    },
  });
  flushers.set(created, flush);
  return created;
}
