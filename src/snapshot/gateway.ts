import type { Condition, GatewayAddress, ListenerStatus, ParentReference, RouteKind } from "../model/gateway.ts";
import type { BackendTarget, TlsCertificate, UpstreamEndpoint } from "./ingress.ts";

/**
 * The Gateway API part of the snapshot (docs/gateway.md): the sockets Gateways ask for, grouped by what
 * serves them, with their compiled route tables, and the status every Gateway API object of our class
 * should carry. Built by translate/gateway/ (pure); the ingress plane serves `http`, the service plane
 * serves `l4`, the status reconciler writes `status`.
 */
export interface GatewaySnapshot {
  /** HTTP and HTTPS sockets, one per (address, port), served by the ingress plane's server and fast path */
  http: readonly GatewayHttpSocket[];
  /** TLS passthrough, TCP and UDP sockets, one per (address, port, protocol), served by the service plane */
  l4: readonly GatewayL4Socket[];
  status: GatewayStatusSet;
}

/** One Gateway listener, as bind failures and status name it. */
export interface GatewayListenerRef {
  namespace: string;
  gateway: string;
  listener: string;
}

/** The Route a compiled rule came from. */
export interface RouteRef {
  kind: RouteKind;
  namespace: string;
  name: string;
}

export interface GatewayHttpSocket {
  /** `address:port` (IPv6 in brackets): stable across snapshots */
  id: string;
  address: string;
  port: number;
  protocol: "HTTP" | "HTTPS";
  /** the Gateway listeners this socket serves (several when they share a port and differ by hostname) */
  listeners: readonly GatewayListenerRef[];
  /**
   * virtual hosts: a request picks the most specific one matching its Host (exact, then the longest `*.`
   * suffix, which matches one or more labels, then `""` = any host), then the first of its rules that matches
   */
  hosts: readonly GatewayVirtualHost[];
  /** HTTPS: certificates chosen by SNI (host patterns from the listeners' hostnames) */
  certificates: readonly TlsCertificate[];
  /** HTTPS: served when no certificate's hosts match the SNI (the first listener's, in listener order) */
  defaultCertificate?: TlsCertificate;
}

export interface GatewayVirtualHost {
  /** exact name, `*.suffix`, or `""` */
  host: string;
  /** in the specification's precedence order: the first that matches serves the request */
  rules: readonly HttpRouteRule[];
}

export interface ValueMatch {
  /** header names lowercase; query parameter names as written (they are case-sensitive) */
  name: string;
  type: "Exact" | "RegularExpression";
  /** a RegularExpression here is a checked, linear-time safe source anchored to the whole value (translate/gateway/regex.ts) */
  value: string;
}

export interface HttpPathMatch {
  type: "Exact" | "PathPrefix" | "RegularExpression";
  /**
   * PathPrefix: without its trailing `/` (`/` itself stays `/`), matched element-wise: the path equals it or
   * continues with `/`. RegularExpression: a checked source, anchored to the whole path.
   */
  value: string;
}

export type PathModifier = { type: "ReplaceFullPath"; value: string } | { type: "ReplacePrefixMatch"; value: string };

export interface HeaderModifier {
  /** names lowercase, values checked (no CR, LF or NUL) */
  set: readonly (readonly [string, string])[];
  add: readonly (readonly [string, string])[];
  remove: readonly string[];
}

export type HttpFilter =
  | { type: "RequestHeaderModifier"; modifier: HeaderModifier }
  | { type: "ResponseHeaderModifier"; modifier: HeaderModifier }
  | {
      type: "RequestRedirect";
      scheme?: "http" | "https";
      hostname?: string;
      port?: number;
      path?: PathModifier;
      statusCode: 301 | 302 | 303 | 307 | 308;
    }
  | { type: "URLRewrite"; hostname?: string; path?: PathModifier }
  | { type: "RequestMirror"; backend: BackendTarget; appProtocol: BackendAppProtocol; percent: number };

/** How requests are carried to a backend: the Service port's `appProtocol` (Gateway API's backend protocol). */
export type BackendAppProtocol = "http" | "h2c" | "ws";

export interface WeightedBackend {
  weight: number;
  /** undefined: the reference is not valid (missing, not permitted, unsupported kind): requests it is picked for get 500 */
  target?: BackendTarget;
  appProtocol: BackendAppProtocol;
  /** filters on this backendRef (header modifiers) */
  filters: readonly HttpFilter[];
}

export interface HttpRouteRule {
  route: RouteRef;
  /** the route's creationTimestamp, as written (precedence's "oldest route") */
  created: string;
  /** index in `spec.rules`, and of the match in the rule's `matches` (-1: the rule has no matches) */
  rule: number;
  match: number;
  /** GRPCRoute matches are compiled to paths (`/service/method`) and headers */
  path: HttpPathMatch;
  /** GRPCRoute: the method match as written ("" = any), which its precedence ranks by (translate/gateway/precedence.ts) */
  grpcMethod?: { type: "Exact" | "RegularExpression"; service: string; method: string };
  method?: string;
  headers: readonly ValueMatch[];
  queryParams: readonly ValueMatch[];
  filters: readonly HttpFilter[];
  /** empty, or every weight 0, or every target undefined: 500 (the specification's "no valid backend") */
  backends: readonly WeightedBackend[];
  /** from `timeouts.request` / `backendRequest`; 0 = no timeout (the spec: a zero duration disables it) */
  timeouts?: { requestMs?: number; backendRequestMs?: number };
}

export interface L4Backend {
  weight: number;
  /** undefined: invalid reference (connections it is picked for are refused) */
  target?: { id: string; namespace: string; service: string; port: number; endpoints: readonly UpstreamEndpoint[] };
}

export interface GatewayL4Socket {
  /** `address:port/PROTOCOL` */
  id: string;
  address: string;
  port: number;
  /** TLS = passthrough by SNI (no termination) */
  protocol: "TCP" | "UDP" | "TLS";
  listeners: readonly GatewayListenerRef[];
  /** TCP/UDP: the attached route's backends (the oldest route when several attach) */
  route?: RouteRef;
  backends: readonly L4Backend[];
  /** TLS: routes by SNI, most specific host first (exact, then longest `*.` suffix, then `""`) */
  sni: readonly { host: string; route: RouteRef; backends: readonly L4Backend[] }[];
}

/** Status of every Gateway API object of our class, as the translator computes it (planes may add bind failures). */
export interface GatewayStatusSet {
  gatewayClasses: readonly GatewayClassStatusEntry[];
  gateways: readonly GatewayStatusEntry[];
  routes: readonly RouteStatusEntry[];
}

export interface GatewayClassStatusEntry {
  name: string;
  conditions: readonly Condition[];
  supportedFeatures: readonly string[];
}

export interface GatewayStatusEntry {
  namespace: string;
  name: string;
  addresses: readonly GatewayAddress[];
  conditions: readonly Condition[];
  listeners: readonly ListenerStatus[];
}

export interface RouteStatusEntry {
  kind: RouteKind;
  namespace: string;
  name: string;
  /** one per parentRef that names a Gateway of our class; other controllers' parent entries are kept by the writer */
  parents: readonly { parentRef: ParentReference; conditions: readonly Condition[] }[];
}

export const EMPTY_GATEWAY: GatewaySnapshot = {
  http: [],
  l4: [],
  status: { gatewayClasses: [], gateways: [], routes: [] },
};
