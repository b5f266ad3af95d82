import { Counter, type Metric, type Registry } from "prom-client";

/** Request duration buckets (seconds), as ingress-nginx's. */
export const DURATION_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

const REQUESTS = "nginx_ingress_controller_requests";
const DURATION = "nginx_ingress_controller_request_duration_seconds";

export type RequestLabels = Readonly<{
  ingress: string;
  namespace: string;
  service: string;
  host: string;
  path: string;
  status: string;
  method: string;
}>;

/**
 * One label set's request count and duration histogram, kept in plain numbers: a request costs a few
 * additions (no label hashing, no allocation); the values become prom-client samples only when scraped.
 */
export class RequestSeries {
  readonly labels: RequestLabels;
  count = 0;
  sum = 0;
  /** per-bucket (not cumulative) counts, one per DURATION_BUCKETS entry */
  readonly buckets = new Float64Array(DURATION_BUCKETS.length);

  constructor(labels: RequestLabels) {
    this.labels = labels;
  }

  observe(seconds: number): void {
    this.count++;
    this.sum += seconds;
    const b = DURATION_BUCKETS;
    for (let i = 0; i < b.length; i++) {
      if (seconds <= b[i]!) {
        this.buckets[i]!++;
        return;
      }
    }
  }
}

interface Sample {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

/**
 * The ingress plane's request metrics with ingress-nginx's names, so existing dashboards keep working:
 * `nginx_ingress_controller_requests` (counter) and `nginx_ingress_controller_request_duration_seconds`
 * (histogram), labelled ingress, namespace, service, host, path, status, method. They are registered as
 * collectors that read the RequestSeries on scrape (the registry calls `get()`), so `/metrics` output and
 * cluster aggregation (`aggregator: "sum"`) are those of ordinary prom-client metrics.
 */
export class IngressMetrics {
  private readonly all = new Map<string, RequestSeries>();
  /** exceptions caught while handling one request (a bug): the request got a 500 or its connection was cut */
  readonly faults: Counter<"stage">;

  constructor(registry: Registry) {
    const metrics = this;
    this.faults = new Counter({
      name: "nodeplane_ingress_request_faults_total",
      help: "Exceptions caught while handling one ingress request (answered 500 or the connection closed), by stage",
      labelNames: ["stage"],
      registers: [registry],
    });
    const requests = {
      name: REQUESTS,
      help: "Client requests served by the ingress plane",
      type: "counter",
      aggregator: "sum",
      async get() {
        const values: Sample[] = [];
        for (const s of metrics.all.values()) values.push({ labels: { ...s.labels }, value: s.count });
        return { name: REQUESTS, help: this.help, type: "counter", aggregator: "sum", values };
      },
      reset: () => this.reset(),
    };
    const duration = {
      name: DURATION,
      help: "Time from the first request byte to the last response byte sent",
      type: "histogram",
      aggregator: "sum",
      async get() {
        const values: Sample[] = [];
        for (const s of metrics.all.values()) {
          let cumulative = 0;
          for (let i = 0; i < DURATION_BUCKETS.length; i++) {
            cumulative += s.buckets[i]!;
            values.push({
              labels: { ...s.labels, le: DURATION_BUCKETS[i]! },
              value: cumulative,
              metricName: `${DURATION}_bucket`,
            });
          }
          values.push({ labels: { ...s.labels, le: "+Inf" }, value: s.count, metricName: `${DURATION}_bucket` });
          values.push({ labels: { ...s.labels }, value: s.sum, metricName: `${DURATION}_sum` });
          values.push({ labels: { ...s.labels }, value: s.count, metricName: `${DURATION}_count` });
        }
        return { name: DURATION, help: this.help, type: "histogram", aggregator: "sum", values };
      },
      reset: () => this.reset(),
    };
    // prom-client's registry needs only name, help, type, aggregator, get() and reset() of a metric.
    registry.registerMetric(requests as unknown as Metric);
    registry.registerMetric(duration as unknown as Metric);
    this.connectionFaults = new Counter({
      name: "nodeplane_ingress_connection_faults_total",
      help: "Client connections closed after an internal error while handling them",
      labelNames: ["listener", "stage"],
      registers: [registry],
    });
    this.connectionsRefused = new Counter({
      name: "nodeplane_ingress_connections_refused_total",
      help: "Client connections the ingress closed at accept, by listener and cap (source: per client IP; total: the listener's)",
      labelNames: ["listener", "cap"],
      registers: [registry],
    });
  }

  /**
   * client connections closed because handling them threw (a bug met, never the process's end): by listener
   * ("http", "https") and stage (parse, dispatch, timer, drain, end, close, upgrade, accept)
   */
  readonly connectionFaults: Counter<"listener" | "stage">;

  /**
   * client connections destroyed at accept: by listener ("http", "https") and cap ("source": the client IP
   * holds --max-ingress-connections-per-source already; "total": the listener's maxConnections)
   */
  readonly connectionsRefused: Counter<"listener" | "cap">;

  /** The series for a label set (created on first use; label sets are bounded by the routes). */
  series(labels: RequestLabels): RequestSeries {
    const key = `${labels.ingress}\0${labels.namespace}\0${labels.service}\0${labels.host}\0${labels.path}\0${labels.status}\0${labels.method}`;
    let series = this.all.get(key);
    if (series === undefined) {
      series = new RequestSeries(labels);
      this.all.set(key, series);
    }
    return series;
  }

  private reset(): void {
    for (const s of this.all.values()) {
      s.count = 0;
      s.sum = 0;
      s.buckets.fill(0);
    }
  }
}
