/**
 * The object kinds the admin API lists and `nodeplane get|describe` reads, with the names kubectl
 * uses for them. Shared by the server (paths, apiVersion) and the CLI (aliases, `-o name` prefixes).
 */
export interface ResourceInfo {
  /** plural path segment: /api/v1/<resource> */
  resource: "services" | "endpointslices" | "ingresses";
  kind: "Service" | "EndpointSlice" | "Ingress";
  apiVersion: string;
  /** what `-o name` prints before the slash, as kubectl does */
  namePrefix: string;
  aliases: readonly string[];
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
