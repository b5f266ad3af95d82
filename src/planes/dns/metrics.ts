import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import { formatHostPort, type HostPort } from "../../config.ts";
import { FastHistogram, type HistogramChild, TIME_BUCKETS } from "./histogram.ts";
import { rcodeNameOf, typeNameOf } from "./names.ts";

type Child = { inc(value?: number): void };

/** Per counter, the functions that push pending counts into it; run when the registry is scraped. */
const flushers = new WeakMap<object, Set<() => void>>();

/** CoreDNS's `zones` label of the cache plugin and `zone` of forwarded names: the catch-all server block. */
const ROOT = ".";
/** CoreDNS ≥ 1.11 labels every server metric with its `view` (none here: ""). */
const VIEW = "";

/** Entries in the forward cache, by CoreDNS's cache types. */
export interface CacheCounts {
  success: number;
  denial: number;
}

/**
 * CoreDNS-compatible metrics (the names and labels of plugin/metrics/vars, plugin/cache/metrics.go,
 * plugin/forward/metrics.go and plugin/pkg/proxy/metrics.go), so existing dashboards and alerts work.
 * Per-query counts are plain numbers under a numeric key and reach prom-client only when the
 * registry is scraped; everything else is a child bound once: the hot path does no label hashing.
 */
export class DnsMetrics {
  private readonly requests: Counter<"server" | "zone" | "view" | "proto" | "family" | "type">;
  private readonly responses: Counter<"server" | "zone" | "view" | "rcode" | "plugin">;
  private readonly duration: FastHistogram;
  private readonly tcpClosed_: Counter<"server" | "reason">;
  private readonly forwardSeconds: Histogram<"to" | "rcode">;
  private readonly proxySeconds: FastHistogram;
  private readonly forwardRequests: Counter<"to">;
  private readonly forwardResponses: Counter<"to" | "rcode">;
  private readonly healthFailures: Counter<"to">;
  private readonly proxyHealthFailures: Counter<"proxy_name" | "to">;
  private readonly healthBroken: Counter;
  private readonly rejects: Counter;
  private readonly hitSuccess: Child;
  private readonly hitDenial: Child;
  private readonly misses: Child;
  private readonly cacheRequests: Child;
  private readonly prefetches: Child;
  private readonly stale: Child;
  private readonly server: string;
  /** counts not yet pushed to prom-client; `histogram` also gets them (answers sent at once: lowest bucket) */
  private readonly pending = new Map<number, { child: Child; count: number; histogram?: HistogramChild }>();
  private readonly zones = new Map<string, number>();
  private readonly perUpstream = new Map<string, UpstreamChildren>();
  private cacheCounts: (() => CacheCounts) | undefined;

  constructor(registry: Registry, server: string) {
    this.server = server;
    this.requests = counter(
      registry,
      "coredns_dns_requests_total",
      "Counter of DNS requests made per zone, protocol and family.",
      ["server", "zone", "view", "proto", "family", "type"],
    );
    this.responses = counter(registry, "coredns_dns_responses_total", "Counter of response status codes.", [
      "server",
      "zone",
      "view",
      "rcode",
      "plugin",
    ]);
    this.duration = FastHistogram.in(
      registry,
      "coredns_dns_request_duration_seconds",
      "Histogram of the time (in seconds) each request took per zone.",
      ["server", "zone", "view"],
    );
    const cacheHits = counter(registry, "coredns_cache_hits_total", "The count of cache hits.", [
      "server",
      "type",
      "zones",
      "view",
    ]);
    this.hitSuccess = cacheHits.labels(server, "success", ROOT, VIEW);
    this.hitDenial = cacheHits.labels(server, "denial", ROOT, VIEW);
    this.misses = counter(registry, "coredns_cache_misses_total", "The count of cache misses.", [
      "server",
      "zones",
      "view",
    ]).labels(server, ROOT, VIEW);
    this.cacheRequests = counter(registry, "coredns_cache_requests_total", "The count of cache requests.", [
      "server",
      "zones",
      "view",
    ]).labels(server, ROOT, VIEW);
    this.prefetches = counter(
      registry,
      "coredns_cache_prefetch_total",
      "The number of times the cache has prefetched a cached item.",
      ["server", "zones", "view"],
    ).labels(server, ROOT, VIEW);
    this.stale = counter(
      registry,
      "coredns_cache_served_stale_total",
      "The number of requests served from stale cache entries.",
      ["server", "zones", "view"],
    ).labels(server, ROOT, VIEW);
    if (!registry.getSingleMetric("coredns_cache_entries")) {
      const self = this;
      new Gauge({
        name: "coredns_cache_entries",
        help: "The number of elements in the cache.",
        labelNames: ["server", "type", "zones", "view"],
        registers: [registry],
        collect() {
          const counts = self.cacheCounts?.();
          if (!counts) return;
          this.labels(self.server, "success", ROOT, VIEW).set(counts.success);
          this.labels(self.server, "denial", ROOT, VIEW).set(counts.denial);
        },
      });
    }
    this.tcpClosed_ = counter(
      registry,
      "nodeplane_dns_tcp_closed_total",
      "DNS-over-TCP connections closed by the server: idle, evicted (oldest idle, to admit a new one at the cap), refused (at the cap, none idle), oversize (length prefix above the query limit).",
      ["server", "reason"],
    );
    // CoreDNS before 1.11 (forward plugin): still what many dashboards query.
    const existing = registry.getSingleMetric("coredns_forward_request_duration_seconds");
    this.forwardSeconds =
      (existing as Histogram<"to" | "rcode"> | undefined) ??
      new Histogram({
        name: "coredns_forward_request_duration_seconds",
        help: "Histogram of the time each request took.",
        labelNames: ["to", "rcode"],
        buckets: [...TIME_BUCKETS],
        registers: [registry],
      });
    this.forwardRequests = counter(
      registry,
      "coredns_forward_requests_total",
      "Counter of requests made per upstream.",
      ["to"],
    );
    this.forwardResponses = counter(
      registry,
      "coredns_forward_responses_total",
      "Counter of responses received per upstream.",
      ["to", "rcode"],
    );
    this.healthFailures = counter(
      registry,
      "coredns_forward_healthcheck_failures_total",
      "Counter of the number of failed healthchecks.",
      ["to"],
    );
    // CoreDNS ≥ 1.11 (plugin/pkg/proxy): the same, per proxy.
    this.proxySeconds = FastHistogram.in(
      registry,
      "coredns_proxy_request_duration_seconds",
      "Histogram of the time each request took.",
      ["proxy_name", "to", "rcode"],
    );
    this.proxyHealthFailures = counter(
      registry,
      "coredns_proxy_healthcheck_failures_total",
      "Counter of the number of failed healthchecks.",
      ["proxy_name", "to"],
    );
    this.healthBroken = counter(
      registry,
      "coredns_forward_healthcheck_broken_total",
      "Counter of the number of complete failures of the healthchecks.",
      [],
    );
    this.rejects = counter(
      registry,
      "coredns_forward_max_concurrent_rejects_total",
      "Counter of the number of queries rejected because the concurrent queries were at maximum.",
      [],
    );
    const flush = () => {
      for (const entry of this.pending.values()) {
        if (entry.count === 0) continue;
        entry.child.inc(entry.count);
        entry.histogram?.inc(entry.count);
        entry.count = 0;
      }
    };
    flushers.get(this.requests)?.add(flush);
    flushers.get(this.responses)?.add(flush);
    this.duration.beforeCollect.add(flush);
  }

  request(zone: string, proto: "udp" | "tcp", family: 4 | 6, type: number): void {
    // a numeric key: no string building per query
    const key = ((type * 2 + (proto === "udp" ? 0 : 1)) * 2 + (family === 4 ? 0 : 1)) * 64 + this.zoneIndex(zone);
    const entry = this.pending.get(key);
    if (entry) entry.count++;
    else
      this.pending.set(key, {
        child: this.requests.labels(this.server, zone, VIEW, proto, family === 4 ? "1" : "2", typeNameOf(type)),
        count: 1,
      });
  }

  /**
   * One response sent. `seconds` is the time since the query arrived, given for answers that waited
   * (forwarded); without it the answer went out in the callback that read the query (lowest bucket).
   * `plugin` is CoreDNS's label for who wrote it: kubernetes (cluster zone), forward (upstream), cache
   * (a forward cache hit), "" (errors).
   */
  response(zone: string, rcode: number, seconds?: number, plugin?: string): void {
    const index = this.zoneIndex(zone);
    const by = plugin ?? (zone === ROOT ? "forward" : "kubernetes");
    const pluginIndex = by === "kubernetes" ? 0 : by === "forward" ? 1 : by === "cache" ? 2 : 3;
    const timed = seconds !== undefined;
    // negative keys: responses (requests use the positive ones); the lowest bit: timed or not
    const key = -((((rcode + 1) * 4 + pluginIndex) * 64 + index) * 2 + (timed ? 1 : 0));
    let entry = this.pending.get(key);
    if (!entry) {
      const histogram = this.duration.child(this.server, zone, VIEW);
      entry = {
        child: this.responses.labels(this.server, zone, VIEW, rcodeNameOf(rcode), by),
        count: 0,
        ...(timed ? {} : { histogram }),
      };
      this.pending.set(key, entry);
    }
    entry.count++;
    if (timed) this.duration.child(this.server, zone, VIEW).observe(seconds);
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
    (negative ? this.hitDenial : this.hitSuccess).inc();
    this.cacheRequests.inc();
  }

  cacheMiss(): void {
    this.misses.inc();
    this.cacheRequests.inc();
  }

  prefetched(): void {
    this.prefetches.inc();
  }

  servedStale(): void {
    this.stale.inc();
  }

  /** `coredns_cache_entries` reads the cache when scraped. */
  watchCache(counts: () => CacheCounts): void {
    this.cacheCounts = counts;
  }

  tcpClosed(reason: "idle" | "evicted" | "refused" | "oversize"): void {
    this.tcpClosed_.labels(this.server, reason).inc();
  }

  /** A question sent to `to`. */
  forwardSent(to: HostPort): void {
    this.upstream(to).requests.inc();
  }

  /** `to` answered with `rcode` (or "timeout", which CoreDNS does not count as a response). */
  forwardDone(to: HostPort, rcode: string, seconds: number): void {
    const children = this.upstream(to);
    this.forwardSeconds.labels(children.to, rcode).observe(seconds);
    this.proxySeconds.child("forward", children.to, rcode).observe(seconds);
    if (rcode !== "timeout") this.forwardResponses.labels(children.to, rcode).inc();
  }

  healthcheckFailed(to: HostPort): void {
    const children = this.upstream(to);
    children.healthFailures.inc();
    children.proxyHealthFailures.inc();
  }

  /** Every upstream of a route was down: one was tried anyway. */
  healthcheckBroken(): void {
    this.healthBroken.inc();
  }

  /** A question refused because --dns-max-inflight-forwards were in flight. */
  maxConcurrentReject(): void {
    this.rejects.inc();
  }

  private upstream(to: HostPort): UpstreamChildren {
    const name = formatHostPort(to);
    let children = this.perUpstream.get(name);
    if (!children) {
      children = {
        to: name,
        requests: this.forwardRequests.labels(name),
        healthFailures: this.healthFailures.labels(name),
        proxyHealthFailures: this.proxyHealthFailures.labels("forward", name),
      };
      this.perUpstream.set(name, children);
    }
    return children;
  }
}

interface UpstreamChildren {
  to: string;
  requests: Child;
  healthFailures: Child;
  proxyHealthFailures: Child;
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
