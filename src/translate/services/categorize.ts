import type { Endpoint } from "../../snapshot/snapshot.ts";
import type { EndpointHints } from "./slices.ts";

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
  internal: readonly Endpoint[];
  /** endpoints for nodePort/externalIP/LB traffic (externalTrafficPolicy applied) */
  external: readonly Endpoint[];
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
 * `hints` holds the endpoints' topology hints (undefined: none has any). A list that keeps every
 * endpoint is `endpoints` itself, not a copy (the caller shares it read-only).
 */
export function categorize(
  endpoints: readonly Endpoint[],
  policy: TrafficPolicy,
  node: NodeTopology,
  hints?: ReadonlyMap<Endpoint, EndpointHints>,
): Categorized {
  const usesCluster = !policy.internalLocal || policy.externallyAccessible;
  const usesLocal = policy.internalLocal || (policy.externalLocal && policy.externallyAccessible);
  let cluster: readonly Endpoint[] = [];
  let local: readonly Endpoint[] = [];
  let hasAny = false;

  if (usesCluster) {
    const mode = hints ? topologyMode(endpoints, node, hints) : "";
    cluster =
      mode === ""
        ? keep(endpoints, (e) => e.ready)
        : endpoints.filter((e) => e.ready && availableForTopology(hints?.get(e), mode, node));
    if (cluster.length === 0) cluster = endpoints.filter((e) => e.serving && e.terminating);
    hasAny = cluster.length > 0;
  }
  if (usesLocal) {
    const isLocal = (e: Endpoint) => node.name !== "" && e.nodeName === node.name;
    let localReady = false;
    let localServingTerminating = false;
    for (const e of endpoints) {
      if (e.ready) {
        hasAny = true;
        if (isLocal(e)) localReady = true;
      } else if (e.serving && e.terminating) {
        hasAny = true;
        if (isLocal(e)) localServingTerminating = true;
      }
    }
    if (localReady) local = endpoints.filter((e) => isLocal(e) && e.ready);
    else if (localServingTerminating) local = endpoints.filter((e) => isLocal(e) && e.serving && e.terminating);
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
function topologyMode(
  endpoints: readonly Endpoint[],
  node: NodeTopology,
  hints: ReadonlyMap<Endpoint, EndpointHints>,
): TopologyMode {
  let hasReady = false;
  let allNodeHints = true;
  let forNode = false;
  let allZoneHints = true;
  let forZone = false;
  for (const e of endpoints) {
    if (!e.ready) continue;
    hasReady = true;
    const h = hints.get(e);
    if (!h?.nodes) allNodeHints = false;
    else if (h.nodes.has(node.name)) forNode = true;
    if (!h?.zones) allZoneHints = false;
    else if (node.zone !== undefined && h.zones.has(node.zone)) forZone = true;
  }
  if (!hasReady) return "";
  if (allNodeHints && forNode) return "PreferSameNode";
  if (allZoneHints && forZone) return "PreferSameZone";
  return "";
}

function availableForTopology(h: EndpointHints | undefined, mode: TopologyMode, node: NodeTopology): boolean {
  if (mode === "") return true;
  if (mode === "PreferSameNode") return h?.nodes?.has(node.name) === true;
  return node.zone !== undefined && h?.zones?.has(node.zone) === true;
}

/** The endpoints passing `test`: the list itself when all do (the common case: every endpoint ready). */
function keep(endpoints: readonly Endpoint[], test: (e: Endpoint) => boolean): readonly Endpoint[] {
  for (let i = 0; i < endpoints.length; i++) if (!test(endpoints[i]!)) return endpoints.filter(test);
  return endpoints;
}
