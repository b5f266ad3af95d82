import type { Metric, Registry } from "prom-client";

/** CoreDNS's plugin.TimeBuckets: prometheus.ExponentialBuckets(0.00025, 2, 16), 0.25 ms … 8.192 s. */
export const TIME_BUCKETS: readonly number[] = Array.from({ length: 16 }, (_, i) => 0.00025 * 2 ** i);

/** One label combination of a FastHistogram, bound once and kept: observing costs no label hashing. */
export class HistogramChild {
  /** per bucket (not cumulative), the last slot is +Inf */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  private readonly buckets: readonly number[];

  constructor(buckets: readonly number[]) {
    this.buckets = buckets;
    this.counts = new Float64Array(buckets.length + 1);
  }

  observe(seconds: number): void {
    let i = 0;
    while (i < this.buckets.length && seconds > this.buckets[i]!) i++;
    this.counts[i]!++;
    this.sum += seconds;
    this.count++;
  }

  /**
   * `n` observations known to be in the lowest bucket without reading the clock: answers given within
   * the callback that received the query take microseconds, far under the first bound (0.25 ms).
   * Their time is not added to the sum.
   */
  inc(n = 1): void {
    this.counts[0]! += n;
    this.count += n;
  }
}

interface Series {
  labels: Record<string, string>;
  child: HistogramChild;
}

type Value = { labels: Record<string, string | number>; value: number; metricName: string };

/**
 * A Prometheus histogram whose children are plain arrays (prom-client's `labels(...).observe()`
 * hashes the label set on every call). Registered as a custom collector; it exposes the same text
 * and JSON shape as prom-client's Histogram, so worker aggregation (sum) applies.
 */
export class FastHistogram {
  readonly name: string;
  readonly help: string;
  readonly type = "histogram";
  readonly aggregator = "sum";
  private readonly labelNames: readonly string[];
  private readonly buckets: readonly number[];
  private readonly series = new Map<string, Series>();
  /** run before each collection: owners push counts they keep aside (see DnsMetrics) */
  readonly beforeCollect = new Set<() => void>();

  constructor(name: string, help: string, labelNames: readonly string[], buckets: readonly number[] = TIME_BUCKETS) {
    this.name = name;
    this.help = help;
    this.labelNames = labelNames;
    this.buckets = buckets;
  }

  /** The histogram of this name in the registry, created and registered on first use. */
  static in(
    registry: Registry,
    name: string,
    help: string,
    labelNames: readonly string[],
    buckets?: readonly number[],
  ): FastHistogram {
    const existing = registry.getSingleMetric(name) as unknown;
    if (existing instanceof FastHistogram) return existing;
    const created = new FastHistogram(name, help, labelNames, buckets);
    registry.registerMetric(created as unknown as Metric);
    return created;
  }

  child(...values: string[]): HistogramChild {
    const key = values.join("\u0000");
    let series = this.series.get(key);
    if (!series) {
      const labels: Record<string, string> = {};
      this.labelNames.forEach((n, i) => {
        labels[n] = values[i] ?? "";
      });
      series = { labels, child: new HistogramChild(this.buckets) };
      this.series.set(key, series);
    }
    return series.child;
  }

  get(): { name: string; help: string; type: string; aggregator: string; values: Value[] } {
    for (const hook of this.beforeCollect) hook();
    const values: Value[] = [];
    for (const { labels, child } of this.series.values()) {
      let cumulative = 0;
      for (let i = 0; i <= this.buckets.length; i++) {
        cumulative += child.counts[i]!;
        const le = i < this.buckets.length ? this.buckets[i]! : "+Inf";
        values.push({ labels: { ...labels, le }, value: cumulative, metricName: `${this.name}_bucket` });
      }
      values.push({ labels, value: child.sum, metricName: `${this.name}_sum` });
      values.push({ labels, value: child.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    this.series.clear();
  }
}
