import type { GatewayKind } from "../model/k8s.ts";

/**
 * The object kinds the admin API lists and `nodeplane get|describe` reads, with the names kubectl
 * uses for them. Shared by the server (paths, apiVersion) and the CLI (aliases, `-o name` prefixes).
 */
export interface ResourceInfo {
  /** plural path segment: /api/v1/<resource> */
  resource:
    | "services"
    | "endpointslices"
    | "ingresses"
    | "gatewayclasses"
    | "gateways"
    | "httproutes"
    | "grpcroutes"
    | "tlsroutes"
    | "tcproutes"
    | "udproutes"
    | "referencegrants";
  kind: "Service" | "EndpointSlice" | "Ingress" | GatewayKind;
  apiVersion: string;
  /** what `-o name` prints before the slash, as kubectl does */
  namePrefix: string;
  aliases: readonly string[];
  /** false for cluster-scoped kinds (GatewayClass): no namespace in paths, no NAMESPACE column */
  namespaced?: false;
}

/** A Gateway API kind: apiVersion as served (the preferred version), kubectl's names (short names from the CRDs). */
function gatewayKind(
  resource: ResourceInfo["resource"],
  kind: ResourceInfo["kind"],
  version: string,
  shortNames: readonly string[] = [],
): ResourceInfo {
  const singular = kind.toLowerCase();
  return {
    resource,
    kind,
    apiVersion: `gateway.networking.k8s.io/${version}`,
    namePrefix: `${singular}.gateway.networking.k8s.io`,
    aliases: [resource, singular, ...shortNames],
  };
}

export const RESOURCES: readonly ResourceInfo[] = [
  {
    resource: "services",
    kind: "Service",
    apiVersion: "v1",
    namePrefix: "service",
    aliases: ["services", "service", "svc"],
  },
  {
    resource: "endpointslices",
    kind: "EndpointSlice",
    apiVersion: "discovery.k8s.io/v1",
    namePrefix: "endpointslice.discovery.k8s.io",
    aliases: ["endpointslices", "endpointslice"],
  },
  {
    resource: "ingresses",
    kind: "Ingress",
    apiVersion: "networking.k8s.io/v1",
    namePrefix: "ingress.networking.k8s.io",
    aliases: ["ingresses", "ingress", "ing"],
  },
  { ...gatewayKind("gatewayclasses", "GatewayClass", "v1", ["gc"]), namespaced: false },
  gatewayKind("gateways", "Gateway", "v1", ["gtw"]),
  gatewayKind("httproutes", "HTTPRoute", "v1"),
  gatewayKind("grpcroutes", "GRPCRoute", "v1"),
  gatewayKind("tlsroutes", "TLSRoute", "v1"),
  gatewayKind("tcproutes", "TCPRoute", "v1"),
  gatewayKind("udproutes", "UDPRoute", "v1"),
  gatewayKind("referencegrants", "ReferenceGrant", "v1", ["refgrant"]),
];

/** The resource a kubectl-style kind name (`svc`, `Services`, `ingress.networking.k8s.io`) refers to. */
export function resolveResource(name: string): ResourceInfo | undefined {
  const lower = name.toLowerCase();
  const dot = lower.indexOf(".");
  if (dot < 0) return RESOURCES.find((r) => r.aliases.includes(lower));
  // `ingresses.networking.k8s.io`: the group after the dot must be the resource's own
  const group = lower.slice(dot + 1);
  return RESOURCES.find((r) => r.aliases.includes(lower.slice(0, dot)) && r.apiVersion.startsWith(`${group}/`));
}

/** Cluster-scoped kinds are listed whatever the namespace asked for. */
export function isNamespacedResource(resource: ResourceInfo): boolean {
  return resource.namespaced !== false;
}
