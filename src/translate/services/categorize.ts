import type { CandidateEndpoint } from "./slices.ts";

export interface TrafficPolicy {
  /** internalTrafficPolicy: Local */
  internalLocal: boolean;
  /** externalTrafficPolicy: Local on a NodePort/LoadBalancer Service */
  externalLocal: boolean;
  /** the port has a nodePort, externalIPs or load-balancer IPs (of this family) */
  externallyAccessible: boolean;
}

export interface NodeTopology {
  name: string;
  zone?: string;
}

export interface Categorized {
  /** endpoints for clusterIP traffic (internalTrafficPolicy applied) */
  internal: CandidateEndpoint[];
  /** endpoints for nodePort/externalIP/LB traffic (externalTrafficPolicy applied) */
  external: CandidateEndpoint[];
  /** a usable (ready, or serving+terminating) endpoint exists somewhere in the cluster */
  hasAny: boolean;
}

type TopologyMode = "" | "PreferSameNode" | "PreferSameZone";

/**
 * kube-proxy's CategorizeEndpoints for the endpoints of one Service port and one IP family.
 * - Cluster endpoints: ready ones (narrowed by topology hints when usable); when none, the
 *   serving+terminating ones, without topology (a best effort not to drop connections).
 * - Local endpoints: this node's ready ones; when none, this node's serving+terminating ones.
 * - Local policies use the local list and never topology; hints only narrow the cluster list.
 */
export function categorize(
  endpoints: readonly CandidateEndpoint[],
  policy: TrafficPolicy,
  node: NodeTopology,
): Categorized {
  const usesCluster = !policy.internalLocal || policy.externallyAccessible;
  const usesLocal = policy.internalLocal || (policy.externalLocal && policy.externallyAccessible);
  let cluster: CandidateEndpoint[] = [];
  let local: CandidateEndpoint[] = [];
  let hasAny = false;

  if (usesCluster) {
    const mode = topologyMode(endpoints, node);
    cluster = endpoints.filter((c) => c.endpoint.ready && availableForTopology(c, mode, node));
    if (cluster.length === 0) cluster = endpoints.filter((c) => c.endpoint.serving && c.endpoint.terminating);
    hasAny = cluster.length > 0;
  }
  if (usesLocal) {
    const isLocal = (c: CandidateEndpoint) => node.name !== "" && c.endpoint.nodeName === node.name;
    let localReady = false;
    let localServingTerminating = false;
    for (const c of endpoints) {
      const e = c.endpoint;
      if (e.ready) {
        hasAny = true;
        if (isLocal(c)) localReady = true;
      } else if (e.serving && e.terminating) {
        hasAny = true;
        if (isLocal(c)) localServingTerminating = true;
      }
    }
    if (localReady) local = endpoints.filter((c) => isLocal(c) && c.endpoint.ready);
    else if (localServingTerminating)
      local = endpoints.filter((c) => isLocal(c) && c.endpoint.serving && c.endpoint.terminating);
  }
  return {
    internal: policy.internalLocal ? local : cluster,
    external: policy.externalLocal && policy.externallyAccessible ? local : cluster,
    hasAny,
  };
}

/**
 * Hints are used only when every ready endpoint carries them and at least one names this node
 * (node hints, kube-proxy's PreferSameNode) or this node's zone (zone hints); otherwise no topology.
 */
function topologyMode(endpoints: readonly CandidateEndpoint[], node: NodeTopology): TopologyMode {
  let hasReady = false;
  let allNodeHints = true;
  let forNode = false;
  let allZoneHints = true;
  let forZone = false;
  for (const c of endpoints) {
    if (!c.endpoint.ready) continue;
    hasReady = true;
    if (!c.nodeHints) allNodeHints = false;
    else if (c.nodeHints.has(node.name)) forNode = true;
    if (!c.zoneHints) allZoneHints = false;
    else if (node.zone !== undefined && c.zoneHints.has(node.zone)) forZone = true;
  }
  if (!hasReady) return "";
  if (allNodeHints && forNode) return "PreferSameNode";
  if (allZoneHints && forZone) return "PreferSameZone";
  return "";
}

function availableForTopology(c: CandidateEndpoint, mode: TopologyMode, node: NodeTopology): boolean {
  if (mode === "") return true;
  if (mode === "PreferSameNode") return c.nodeHints?.has(node.name) === true;
  return node.zone !== undefined && c.zoneHints?.has(node.zone) === true;
}
