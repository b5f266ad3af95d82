import type { BackendAppProtocol, GatewayVirtualHost, HttpFilter, HttpRouteRule } from "../../snapshot/gateway.ts";
import type { BackendTarget, IngressRoute, RouteSettings } from "../../snapshot/ingress.ts";
import {
  type CompiledModifier,
  compileModifier,
  mergeModifiers,
  safeHeaderValue,
  safeUrlPart,
} from "./gateway-filters.ts";
import { REQUEST_SKIP, RESPONSE_SKIP } from "./headers.ts";
import type { IngressMetrics } from "./metrics.ts";
import { type RouteCompiler, RouteRuntime } from "./routes.ts";

/** Request headers a modifier may not touch: hop-by-hop, the proxy's own X-Forwarded-*, framing. */
const REQUEST_RESERVED: ReadonlySet<string> = new Set([...REQUEST_SKIP, "content-length"]);
/** Response headers a modifier may not touch: hop-by-hop, Server/Date (the proxy's), framing. */
const RESPONSE_RESERVED: ReadonlySet<string> = new Set([...RESPONSE_SKIP, "content-length"]);

/** One backendRef of a rule, ready to serve. */
export interface GatewayBackendRuntime {
  weight: number;
  /** undefined: the reference is not valid → 500 */
  runtime: RouteRuntime | undefined;
  appProtocol: BackendAppProtocol;
  /** the rule's RequestHeaderModifier merged with this backendRef's (in that order) */
  requestModifier: CompiledModifier | undefined;
  responseModifier: CompiledModifier | undefined;
}

export type RedirectFilter = Extract<HttpFilter, { type: "RequestRedirect" }>;
export type RewriteFilter = Extract<HttpFilter, { type: "URLRewrite" }>;
export type MirrorFilter = Extract<HttpFilter, { type: "RequestMirror" }>;

/**
 * One compiled HttpRouteRule: its filters checked and precompiled, its backends with their endpoint pools
 * (RouteRuntimes, the Ingress routes' own runtime, so the fast path, the generic Exchange and the upgrade
 * path serve them unchanged), and the weighted pick. Kept across snapshots while the translator hands back
 * the same rule object (its pick position and metric series carry over).
 */
export class GatewayRuleRuntime {
  readonly rule: HttpRouteRule;
  /** `kind namespace/name rule N` for logs */
  readonly label: string;
  readonly backends: readonly GatewayBackendRuntime[];
  readonly redirect: RedirectFilter | undefined;
  readonly rewrite: RewriteFilter | undefined;
  readonly mirrors: readonly MirrorFilter[];
  readonly requestTimeoutMs: number | undefined;
  readonly backendTimeoutMs: number | undefined;
  /** a filter value the plane refuses (it would put CR/LF or a space into a head): every request gets 500 */
  readonly invalid: string | undefined;
  /**
   * the fast path (direct.ts) may serve it: only header modifiers, no timeouts, every backend with weight
   * a plain-HTTP one (the fast path checks the picked backend's endpoints too)
   */
  readonly fast: boolean;
  /** fast, and every backend that can be picked has endpoints: the fast path never declines after a pick */
  readonly fastReady: boolean;
  /** the runtime answering requests that get no backend (500) or no rule: metrics and access log name the rule */
  readonly errorRuntime: RouteRuntime;
  /** smooth weighted round robin (nginx's): current weights, one per backend */
  private readonly current: Float64Array;
  private readonly totalWeight: number;

  constructor(rule: HttpRouteRule, vhost: GatewayVirtualHost, compiler: RouteCompiler, metrics: IngressMetrics) {
    this.rule = rule;
    const route = rule.route;
    this.label = `${route.kind} ${route.namespace}/${route.name} rule ${rule.rule}${rule.match >= 0 ? ` match ${rule.match}` : ""}`;
    let invalid: string | undefined;
    let requestModifier: CompiledModifier | undefined;
    let responseModifier: CompiledModifier | undefined;
    let redirect: RedirectFilter | undefined;
    let rewrite: RewriteFilter | undefined;
    const mirrors: MirrorFilter[] = [];
    for (const filter of rule.filters) {
      switch (filter.type) {
        case "RequestHeaderModifier":
          requestModifier = compileModifier(filter.modifier, REQUEST_RESERVED);
          break;
        case "ResponseHeaderModifier":
          responseModifier = compileModifier(filter.modifier, RESPONSE_RESERVED);
          break;
        case "RequestRedirect":
          redirect ??= filter;
          if ((filter.hostname !== undefined && !safeUrlPart(filter.hostname)) || !safePath(filter.path?.value))
            invalid = "RequestRedirect value not allowed in a head";
          break;
        case "URLRewrite":
          rewrite ??= filter;
          if ((filter.hostname !== undefined && !safeUrlPart(filter.hostname)) || !safePath(filter.path?.value))
            invalid = "URLRewrite value not allowed in a head";
          break;
        case "RequestMirror":
          mirrors.push(filter);
          break;
      }
    }
    this.redirect = redirect;
    this.rewrite = rewrite;
    this.mirrors = mirrors;
    this.requestTimeoutMs = rule.timeouts?.requestMs || undefined;
    this.backendTimeoutMs = rule.timeouts?.backendRequestMs || undefined;
    const backends = rule.backends.map((b): GatewayBackendRuntime => {
      const reqMods: CompiledModifier[] = requestModifier ? [requestModifier] : [];
      const resMods: CompiledModifier[] = responseModifier ? [responseModifier] : [];
      for (const f of b.filters) {
        if (f.type === "RequestHeaderModifier") reqMods.push(compileModifier(f.modifier, REQUEST_RESERVED));
        else if (f.type === "ResponseHeaderModifier") resMods.push(compileModifier(f.modifier, RESPONSE_RESERVED));
      }
      return {
        weight: b.weight > 0 && Number.isFinite(b.weight) ? b.weight : 0,
        runtime: b.target === undefined ? undefined : compiler.compile(syntheticRoute(rule, vhost, b.target)),
        appProtocol: b.appProtocol,
        requestModifier: mergeModifiers(reqMods),
        responseModifier: mergeModifiers(resMods),
      };
    });
    this.backends = backends;
    this.invalid = invalid;
    this.current = new Float64Array(backends.length);
    this.totalWeight = backends.reduce((sum, b) => sum + b.weight, 0);
    this.fast =
      invalid === undefined &&
      redirect === undefined &&
      rewrite === undefined &&
      mirrors.length === 0 &&
      this.requestTimeoutMs === undefined &&
      this.backendTimeoutMs === undefined &&
      rule.backends.every((b) => b.filters.every(isHeaderFilter)) &&
      backends.every((b) => b.weight === 0 || b.appProtocol === "http");
    this.fastReady =
      this.fast &&
      this.totalWeight > 0 &&
      backends.every((b) => b.weight === 0 || (b.runtime?.backend?.endpoints.length ?? 0) > 0);
    this.errorRuntime = new RouteRuntime(errorRoute(rule, vhost), undefined, metrics);
  }

  /**
   * The backend for one request by smooth weighted round robin (nginx's: each pick adds every weight to its
   * current value and takes the largest, minus the total): an exact split over every `total` requests, spread
   * evenly. Weight 0 is never picked; undefined when every weight is 0 (→ 500, the specification's rule).
   */
  pick(): GatewayBackendRuntime | undefined {
    const backends = this.backends;
    if (backends.length === 1) return backends[0]!.weight > 0 ? backends[0] : undefined;
    if (this.totalWeight === 0) return undefined;
    const current = this.current;
    let best = -1;
    for (let i = 0; i < backends.length; i++) {
      const w = backends[i]!.weight;
      if (w === 0) continue;
      current[i]! += w;
      if (best < 0 || current[i]! > current[best]!) best = i;
    }
    current[best]! -= this.totalWeight;
    this.lastPick = best;
    return backends[best];
  }

  private lastPick = -1;

  /**
   * Takes the last pick back (the fast path declined the request after picking; the generic path picks
   * again): the split stays exact. Returns false, for the fast path's `return`.
   */
  unpick(): false {
    const best = this.lastPick;
    if (best < 0 || this.backends.length === 1) return false;
    const current = this.current;
    current[best]! += this.totalWeight;
    for (let i = 0; i < this.backends.length; i++) current[i]! -= this.backends[i]!.weight;
    this.lastPick = -1;
    return false;
  }
}

function isHeaderFilter(f: HttpFilter): boolean {
  return f.type === "RequestHeaderModifier" || f.type === "ResponseHeaderModifier";
}

function safePath(value: string | undefined): boolean {
  return value === undefined || (safeUrlPart(value) && safeHeaderValue(value));
}

/**
 * A backendRef as the Ingress route type the runtimes are built from: metrics label it with the Route
 * (`ingress` = `Kind/name`, `namespace`, the Service, the virtual host and the match's path value), so the
 * series stay one per rule, backend, status and method, as for Ingress routes.
 */
function syntheticRoute(rule: HttpRouteRule, vhost: GatewayVirtualHost, target: BackendTarget): IngressRoute {
  return ruleRoute(rule, vhost, target, {
    sslRedirect: false,
    backendProtocol: "HTTP",
    maxBodyBytes: 0,
    // timeouts.backendRequest bounds one upstream attempt: the wait for its head and between body chunks
    ...(rule.timeouts?.backendRequestMs ? { readTimeoutMs: rule.timeouts.backendRequestMs } : {}),
  });
}

function errorRoute(rule: HttpRouteRule, vhost: GatewayVirtualHost): IngressRoute {
  return ruleRoute(
    rule,
    vhost,
    { id: "", namespace: rule.route.namespace, service: "", port: 0, endpoints: [] },
    { sslRedirect: false, backendProtocol: "HTTP", maxBodyBytes: 0 },
  );
}

function ruleRoute(
  rule: HttpRouteRule,
  vhost: GatewayVirtualHost,
  backend: BackendTarget,
  settings: RouteSettings,
): IngressRoute {
  return {
    ingress: { namespace: rule.route.namespace, name: `${rule.route.kind}/${rule.route.name}` },
    host: vhost.host,
    path: rule.path.value,
    pathType: "Prefix",
    declaredPathType: "Default",
    backend,
    settings,
    redirectToHttps: false,
  };
}

/** What the generic path and the upgrade path carry for a request a Gateway rule serves. */
export interface GatewayPlan {
  rule: GatewayRuleRuntime;
  backend: GatewayBackendRuntime;
  /** the request target sent upstream (URLRewrite's path, the query kept) */
  upstreamTarget: string;
}
