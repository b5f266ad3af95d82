import { ZONE_LABEL } from "../model/k8s.ts";
import type { NodeSnapshot } from "../snapshot/snapshot.ts";
import type { Store } from "../store/store.ts";
import { cidrContains, parseCIDR } from "../util/cidr.ts";
import type { TranslateOptions } from "./options.ts";

/**
 * This node's view: its addresses come from its Node object when there is one (cluster mode),
 * else from the local interfaces; NodePorts listen on those selected by --node-port-addresses.
 */
export function translateNode(store: Store, options: TranslateOptions): NodeSnapshot {
  const node = store.get("Node", options.nodeName);
  const fromNode = (node?.status?.addresses ?? [])
    .filter((a) => a.type === "InternalIP" || a.type === "ExternalIP")
    .map((a) => a.address);
  const addresses = unique(fromNode.length > 0 ? fromNode : options.localAddresses);
  const cidrs = options.nodePortCIDRs.map((c) => parseCIDR(c));
  const candidates = unique([...addresses, ...options.localAddresses]);
  const nodePortAddresses =
    cidrs.length === 0 ? addresses : candidates.filter((ip) => cidrs.some((c) => cidrContains(c, ip)));
  const zone = node?.metadata?.labels?.[ZONE_LABEL];
  const podCIDRs = node?.spec?.podCIDRs ?? (node?.spec?.podCIDR ? [node.spec.podCIDR] : []);
  return {
    name: options.nodeName,
    addresses,
    nodePortAddresses,
    ...(zone ? { zone } : {}),
    ...(podCIDRs.length > 0 ? { podCIDRs } : {}),
  };
}

function unique(values: readonly string[]): string[] {
  return [...new Set(values)];
}
