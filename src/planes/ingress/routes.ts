import { createHash } from "node:crypto";
import { type BackendTarget, type IngressRoute, matchKey } from "../../snapshot/ingress.ts";
import { type CIDR, cidrContains, parseCIDR } from "../../util/cidr.ts";
import type { IngressMetrics, RequestSeries } from "./metrics.ts";
import type { UpstreamPool, UpstreamPools } from "./upstream.ts";

export interface EndpointRuntime {
  ip: string;
  port: number;
  /** `ip:port`, for logs */
  address: string;
  pool: UpstreamPool;
  /** affinity cookie value naming this endpoint */
  cookie: string;
}

/** A backend's endpoints with their pools and the round-robin cursor, shared by the routes using it. */
export class BackendRuntime {
  readonly target: BackendTarget;
  readonly endpoints: readonly EndpointRuntime[];
  private readonly byCookie = new Map<string, number>();
  private cursor = 0;

  constructor(target: BackendTarget, endpoints: EndpointRuntime[]) {
    this.target = target;
    this.endpoints = endpoints;
    for (const [i, e] of endpoints.entries()) this.byCookie.set(e.cookie, i);
    // Start each backend at a different place so many backends do not all hit their first endpoint.
    this.cursor = endpoints.length > 0 ? hashIndex(target.id, endpoints.length) : 0;
  }

  /** Per-request round robin. */
  next(): number {
    const i = this.cursor;
    this.cursor = i + 1 >= this.endpoints.length ? 0 : i + 1;
    return i;
  }

  indexOfCookie(value: string): number {
    return this.byCookie.get(value) ?? -1;
  }
}

/** One compiled route (or the built-in default backend when `route` is undefined). */
export class RouteRuntime {
  readonly route: IngressRoute | undefined;
  readonly backend: BackendRuntime | undefined;
  /** length of the matched part of the request path, for rewrite-target */
  readonly prefixLength: number;
  readonly sourceRanges: readonly CIDR[] | undefined;
  private readonly metrics: IngressMetrics;
  private readonly labels: { ingress: string; namespace: string; service: string; host: string; path: string };
  /** series by status, for GET and for the other methods */
  private readonly getSeries = new Map<number, RequestSeries>();
  private readonly otherSeries = new Map<string, Map<number, RequestSeries>>();

  constructor(route: IngressRoute | undefined, backend: BackendRuntime | undefined, metrics: IngressMetrics) {
    this.route = route;
    this.backend = backend;
    this.prefixLength = route ? matchKey(route.path, route.pathType).length : 0;
    this.sourceRanges = route?.settings.allowSourceRanges?.map((c) => parseCIDR(c));
    this.metrics = metrics;
    this.labels = {
      ingress: route?.ingress.name ?? "",
      namespace: route?.ingress.namespace ?? "",
      service: route?.backend.service ?? "",
      host: route?.host ?? "",
      path: route ? route.path : "",
    };
  }

  allows(clientIp: string): boolean {
    const ranges = this.sourceRanges;
    if (ranges === undefined) return true;
    for (const range of ranges) if (cidrContains(range, clientIp)) return true;
    return false;
  }

  /** Counts one finished request: two map lookups and a few additions (series are created once). */
  observe(status: number, method: string, seconds: number): void {
    let byStatus = this.getSeries;
    if (method !== "GET") {
      let other = this.otherSeries.get(method);
      if (other === undefined) {
        other = new Map();
        this.otherSeries.set(method, other);
      }
      byStatus = other;
    }
    let series = byStatus.get(status);
    if (series === undefined) {
      series = this.metrics.series({ ...this.labels, status: String(status), method });
      byStatus.set(status, series);
    }
    series.observe(seconds);
  }
}

/**
 * Compiles routes for one snapshot, sharing a BackendRuntime between routes that use the same backend
 * with the same upstream settings.
 */
export class RouteCompiler {
  /** every route of this snapshot: hand it to the next snapshot's compiler as `previous` */
  readonly compiled = new Map<IngressRoute, RouteRuntime>();
  /** the runtimes made new for this snapshot (the rest come from `previous`) */
  readonly created: RouteRuntime[] = [];
  private readonly backends = new Map<string, BackendRuntime>();
  private readonly pools: UpstreamPools;
  private readonly metrics: IngressMetrics;
  private readonly previous: ReadonlyMap<IngressRoute, RouteRuntime> | undefined;

  /**
   * `previous`: the last snapshot's compiled routes. The translator hands back the very same route
   * objects for Ingresses that did not change, so those keep their runtime (round-robin position,
   * metric children) and a one-endpoint change compiles one route, not all of them.
   */
  constructor(pools: UpstreamPools, metrics: IngressMetrics, previous?: ReadonlyMap<IngressRoute, RouteRuntime>) {
    this.pools = pools;
    this.metrics = metrics;
    this.previous = previous;
  }

  compile = (route: IngressRoute): RouteRuntime => {
    const known = this.compiled.get(route) ?? this.previous?.get(route);
    if (known) {
      this.compiled.set(route, known);
      return known;
    }
    const runtime = this.fresh(route);
    this.compiled.set(route, runtime);
    this.created.push(runtime);
    return runtime;
  };

  /** A route kept from the previous snapshot without compiling (its path table was reused whole). */
  adopt = (runtime: RouteRuntime): void => {
    if (runtime.route) this.compiled.set(runtime.route, runtime);
  };

  private fresh(route: IngressRoute): RouteRuntime {
    const scheme = route.settings.backendProtocol === "HTTPS" ? "https" : "http";
    const key = `${route.backend.id}|${scheme}|${route.settings.connectTimeoutMs ?? ""}`;
    let backend = this.backends.get(key);
    if (!backend) {
      const endpoints = route.backend.endpoints.map((e): EndpointRuntime => {
        const pool = this.pools.get(scheme, e.ip, e.port, route.settings.connectTimeoutMs);
        const address = e.ip.includes(":") ? `[${e.ip}]:${e.port}` : `${e.ip}:${e.port}`;
        return { ip: e.ip, port: e.port, address, pool, cookie: cookieValue(address) };
      });
      backend = new BackendRuntime(route.backend, endpoints);
      this.backends.set(key, backend);
    }
    return new RouteRuntime(route, backend, this.metrics);
  }
}

function cookieValue(address: string): string {
  return createHash("sha1").update(address).digest("hex").slice(0, 16);
}

function hashIndex(text: string, n: number): number {
  let h = 0;
  for (let i = 0; i < text.length; i++) h = (h * 31 + text.charCodeAt(i)) | 0;
  return Math.abs(h) % n;
}
