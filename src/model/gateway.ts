/**
 * Gateway API object shapes (gateway.networking.k8s.io), the subset nodeplane reads, as plain JSON.
 * GatewayClass, Gateway, HTTPRoute, GRPCRoute, ReferenceGrant, TLSRoute, TCPRoute, UDPRoute (versions
 * below). Field names follow the CRDs exactly, so `kubectl get -o json` output and manifests enter the store
 * as they are.
 */
import type { TypedObject } from "./meta.ts";

export const GATEWAY_GROUP = "gateway.networking.k8s.io";

/** metav1.Condition */
export interface Condition {
  type: string;
  status: "True" | "False" | "Unknown";
  reason: string;
  message: string;
  observedGeneration?: number;
  lastTransitionTime?: string;
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: "In" | "NotIn" | "Exists" | "DoesNotExist"; values?: string[] }[];
}

export interface GatewayClass extends TypedObject {
  spec?: {
    controllerName?: string;
    description?: string;
    parametersRef?: { group?: string; kind?: string; name?: string; namespace?: string };
  };
  status?: {
    conditions?: Condition[];
    supportedFeatures?: ({ name: string } | string)[];
  };
}

export interface SecretObjectReference {
  group?: string;
  kind?: string;
  name: string;
  namespace?: string;
}

export interface GatewayListener {
  name: string;
  hostname?: string;
  port: number;
  protocol: string;
  tls?: {
    mode?: "Terminate" | "Passthrough";
    certificateRefs?: SecretObjectReference[];
    options?: Record<string, string>;
  };
  allowedRoutes?: {
    namespaces?: { from?: "All" | "Same" | "Selector"; selector?: LabelSelector };
    kinds?: { group?: string; kind: string }[];
  };
}

export interface GatewayAddress {
  type?: string;
  value: string;
}

export interface ListenerStatus {
  name: string;
  supportedKinds: { group?: string; kind: string }[];
  attachedRoutes: number;
  conditions: Condition[];
}

export interface Gateway extends TypedObject {
  spec?: {
    gatewayClassName?: string;
    listeners?: GatewayListener[];
    addresses?: GatewayAddress[];
  };
  status?: {
    addresses?: GatewayAddress[];
    conditions?: Condition[];
    listeners?: ListenerStatus[];
  };
}

export interface ParentReference {
  group?: string;
  kind?: string;
  namespace?: string;
  name: string;
  sectionName?: string;
  port?: number;
}

export interface BackendRef {
  group?: string;
  kind?: string;
  name: string;
  namespace?: string;
  port?: number;
  weight?: number;
  filters?: HTTPRouteFilter[];
}

export interface HTTPHeader {
  name: string;
  value: string;
}

export interface HTTPHeaderFilter {
  set?: HTTPHeader[];
  add?: HTTPHeader[];
  remove?: string[];
}

export interface HTTPPathModifier {
  type: "ReplaceFullPath" | "ReplacePrefixMatch";
  replaceFullPath?: string;
  replacePrefixMatch?: string;
}

export interface HTTPRouteFilter {
  type: string;
  requestHeaderModifier?: HTTPHeaderFilter;
  responseHeaderModifier?: HTTPHeaderFilter;
  requestRedirect?: {
    scheme?: string;
    hostname?: string;
    path?: HTTPPathModifier;
    port?: number;
    statusCode?: number;
  };
  urlRewrite?: { hostname?: string; path?: HTTPPathModifier };
  requestMirror?: { backendRef: BackendRef; percent?: number; fraction?: { numerator: number; denominator?: number } };
  extensionRef?: { group?: string; kind?: string; name?: string };
}

export interface HTTPRouteMatch {
  path?: { type?: "Exact" | "PathPrefix" | "RegularExpression"; value?: string };
  headers?: { type?: "Exact" | "RegularExpression"; name: string; value: string }[];
  queryParams?: { type?: "Exact" | "RegularExpression"; name: string; value: string }[];
  method?: string;
}

export interface HTTPRouteRule {
  name?: string;
  matches?: HTTPRouteMatch[];
  filters?: HTTPRouteFilter[];
  backendRefs?: BackendRef[];
  timeouts?: { request?: string; backendRequest?: string };
}

export interface RouteParentStatus {
  parentRef: ParentReference;
  controllerName: string;
  conditions: Condition[];
}

export interface RouteStatus {
  parents?: RouteParentStatus[];
}

export interface HTTPRoute extends TypedObject {
  spec?: {
    parentRefs?: ParentReference[];
    hostnames?: string[];
    rules?: HTTPRouteRule[];
  };
  status?: RouteStatus;
}

export interface GRPCRouteMatch {
  method?: { type?: "Exact" | "RegularExpression"; service?: string; method?: string };
  headers?: { type?: "Exact" | "RegularExpression"; name: string; value: string }[];
}

export interface GRPCRoute extends TypedObject {
  spec?: {
    parentRefs?: ParentReference[];
    hostnames?: string[];
    rules?: {
      name?: string;
      matches?: GRPCRouteMatch[];
      filters?: HTTPRouteFilter[];
      backendRefs?: BackendRef[];
    }[];
  };
  status?: RouteStatus;
}

/** TLSRoute, TCPRoute and UDPRoute (v1alpha2): parents, (TLS: hostnames) and rules of backendRefs only. */
export interface L4Route extends TypedObject {
  spec?: {
    parentRefs?: ParentReference[];
    hostnames?: string[];
    rules?: { name?: string; backendRefs?: BackendRef[] }[];
  };
  status?: RouteStatus;
}

export type TLSRoute = L4Route;
export type TCPRoute = L4Route;
export type UDPRoute = L4Route;

export interface ReferenceGrant extends TypedObject {
  spec?: {
    from?: { group: string; kind: string; namespace: string }[];
    to?: { group: string; kind: string; name?: string }[];
  };
}

/** Namespaces are read for their labels: a listener's `allowedRoutes.namespaces.selector` selects by them. */
export interface Namespace extends TypedObject {}

/** The status a Gateway API object of our class should carry (what the status writers write). */
export type GatewayApiStatus =
  | { kind: "GatewayClass"; status: NonNullable<GatewayClass["status"]> }
  | { kind: "Gateway"; status: NonNullable<Gateway["status"]> }
  | { kind: RouteKind; status: RouteStatus };

/** The Route kinds, as `parentRefs` attach them and listeners' `allowedRoutes.kinds` name them. */
export const ROUTE_KINDS = ["HTTPRoute", "GRPCRoute", "TLSRoute", "TCPRoute", "UDPRoute"] as const;
export type RouteKind = (typeof ROUTE_KINDS)[number];

/**
 * The versions each Gateway API kind is read at, preferred first. Gateway API v1.6 (2026) serves TLSRoute,
 * TCPRoute and UDPRoute at v1 in the standard channel and no longer serves v1alpha2; older installs serve
 * only v1alpha2 (experimental channel). ReferenceGrant is served at v1 and v1beta1. Manifests mode accepts
 * every listed version; cluster mode watches the first one the API server serves (discovery).
 */
export const GATEWAY_API_VERSIONS = {
  GatewayClass: ["v1"],
  Gateway: ["v1"],
  HTTPRoute: ["v1"],
  GRPCRoute: ["v1"],
  ReferenceGrant: ["v1", "v1beta1"],
  TLSRoute: ["v1", "v1alpha3", "v1alpha2"],
  TCPRoute: ["v1", "v1alpha2"],
  UDPRoute: ["v1", "v1alpha2"],
} as const;
