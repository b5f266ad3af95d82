import type { ServicePort } from "../../model/k8s.ts";
import type {
  Endpoint,
  Frontend,
  FrontendKind,
  L4Protocol,
  NodeSnapshot,
  ServicePortSnapshot,
  SessionAffinity,
} from "../../snapshot/snapshot.ts";
import { type Categorized, categorize } from "./categorize.ts";
import { compareIPKeys, type Family, familyOf, ipSortKey } from "./ip.ts";
import { endpointsForPort, type SliceIndex } from "./slices.ts";

// One Service's ports (see translateService in service.ts): each checked on its own, then its frontends
// and the endpoint lists they use.

const NONE: readonly string[] = [];

const KIND_ORDER: Record<FrontendKind, number> = { clusterIP: 0, nodePort: 1, externalIP: 2, loadBalancer: 3 };

export function validPort(n: unknown): n is number {
  return typeof n === "number" && Number.isInteger(n) && n >= 1 && n <= 65535;
}

export type Report = (field: string, message: string) => void;

/** What every port of one Service shares, decided once per Service before its ports are visited. */
export interface ServiceFacts {
  namespace: string;
  name: string;
  type: string;
  exposesNodePorts: boolean;
  families: readonly Family[];
  clusterV4: string | undefined;
  clusterV6: string | undefined;
  externalIPs: ReadonlyMap<Family, string[]>;
  lbIPs: ReadonlyMap<Family, string[]>;
  /** a loadBalancerSourceRange could not be parsed: no load-balancer frontends at all */
  lbClosed: boolean;
  sourceRanges: string[];
  sessionAffinity: SessionAffinity;
  internalLocal: boolean;
  externalLocal: boolean;
  nodePortAddresses: ReadonlyMap<Family, string[]>;
  index: SliceIndex;
  node: NodeSnapshot;
  /** this is the cluster DNS Service of node-local DNS mode: its port 53 is the DNS plane's (docs/dns.md) */
  nodeLocalDns?: { linkLocal: string | undefined };
}
/** A port that passed its checks: its protocol, name, number and node port. */
export interface CheckedPort {
  protocol: L4Protocol;
  portName: string;
  port: number;
  nodePort: number | undefined;
}

/**
 * One `spec.ports` entry checked: protocol, number, unique name and number/protocol, node port.
 * Undefined (with a Problem) when it is not served; the seen sets are updated only for served ports.
 */
export function checkedPort(
  p: ServicePort,
  field: string,
  type: string,
  exposesNodePorts: boolean,
  seenNames: Set<string>,
  seenPorts: Set<string>,
  report: Report,
): CheckedPort | undefined {
  const protocol = p.protocol ?? "TCP";
  if (protocol === "SCTP") {
    report(`${field}.protocol`, "SCTP is not served: Node.js has no SCTP sockets");
    return undefined;
  }
  if (protocol !== "TCP" && protocol !== "UDP") {
    report(`${field}.protocol`, `unknown protocol "${protocol}"; this port is not served`);
    return undefined;
  }
  if (!validPort(p.port)) {
    report(`${field}.port`, `invalid port ${JSON.stringify(p.port ?? null)}; this port is not served`);
    return undefined;
  }
  const portName = p.name ?? "";
  if (seenNames.has(portName)) {
    report(
      `${field}.name`,
      portName ? `duplicate port name "${portName}"; this port is not served` : "a second unnamed port is not served",
    );
    return undefined;
  }
  const portKey = `${p.port}/${protocol}`;
  if (seenPorts.has(portKey)) {
    report(`${field}.port`, `duplicate port ${p.port}/${protocol}; this port is not served`);
    return undefined;
  }
  let nodePort: number | undefined;
  if (p.nodePort !== undefined && p.nodePort !== 0) {
    if (!exposesNodePorts) {
      report(`${field}.nodePort`, `nodePort is ignored on a ${type} Service`);
    } else if (!validPort(p.nodePort)) {
      report(`${field}.nodePort`, `invalid nodePort ${JSON.stringify(p.nodePort)}; this port is not served`);
      return undefined;
    } else nodePort = p.nodePort;
  }
  seenNames.add(portName);
  seenPorts.add(portKey);
  return { protocol, portName, port: p.port, nodePort };
}

/** The port of the cluster DNS Service that node-local DNS mode serves (TCP and UDP). */
const NODE_LOCAL_DNS_PORT = 53;

/** One served port → its snapshot: frontends of every kind and family, and the endpoints each list gets. */
export function portSnapshot(
  facts: ServiceFacts,
  { protocol, portName, port, nodePort }: CheckedPort,
): ServicePortSnapshot {
  const all = endpointsForPort(facts.index, portName, protocol);
  const frontends: Frontend[] = [];
  let clusterEndpoints: readonly Endpoint[] = [];
  let externalEndpoints: readonly Endpoint[] = [];
  for (const family of facts.families) {
    const familyExternalIPs = facts.externalIPs.get(family) ?? NONE;
    const familyLbIPs = facts.lbClosed ? NONE : (facts.lbIPs.get(family) ?? NONE);
    const categorized = categorize(
      facts.families.length === 1 ? all : all.filter((e) => familyOf(e.ip) === family),
      {
        internalLocal: facts.internalLocal,
        externalLocal: facts.externalLocal,
        externallyAccessible: nodePort !== undefined || familyExternalIPs.length > 0 || familyLbIPs.length > 0,
      },
      facts.node,
      facts.index.hints,
    );
    // Without a Local policy both lists are the same array (planes may compare by reference).
    const internal = categorized.internal;
    const externalList = categorized.external;
    clusterEndpoints = clusterEndpoints.length === 0 ? internal : [...clusterEndpoints, ...internal];
    externalEndpoints = externalEndpoints.length === 0 ? externalList : [...externalEndpoints, ...externalList];
    const clusterIP = (family === 4 ? facts.clusterV4 : facts.clusterV6)!;
    addFrontend(frontends, facts, categorized, "clusterIP", clusterIP, port, protocol);
    const dns = port === NODE_LOCAL_DNS_PORT ? facts.nodeLocalDns : undefined;
    if (dns) {
      frontends[frontends.length - 1]!.nodeLocalDns = true;
      // The link-local address stands in for the clusterIP of its family: same endpoints, same fallback.
      if (dns.linkLocal !== undefined && familyOf(dns.linkLocal) === family) {
        addFrontend(frontends, facts, categorized, "clusterIP", dns.linkLocal, port, protocol);
        frontends[frontends.length - 1]!.nodeLocalDns = true;
      }
    }
    if (nodePort !== undefined)
      for (const ip of facts.nodePortAddresses.get(family)!)
        addFrontend(frontends, facts, categorized, "nodePort", ip, nodePort, protocol);
    for (const ip of familyExternalIPs) addFrontend(frontends, facts, categorized, "externalIP", ip, port, protocol);
    for (const ip of familyLbIPs) addFrontend(frontends, facts, categorized, "loadBalancer", ip, port, protocol);
  }
  const snapshot: ServicePortSnapshot = {
    id: `${facts.namespace}/${facts.name}:${portName}`,
    namespace: facts.namespace,
    name: facts.name,
    portName,
    protocol,
    port,
    frontends: uniqueSorted(frontends),
    clusterEndpoints,
    externalEndpoints,
    sessionAffinity: facts.sessionAffinity,
  };
  if (nodePort !== undefined) snapshot.nodePort = nodePort;
  return snapshot;
}

function addFrontend(
  frontends: Frontend[],
  facts: ServiceFacts,
  categorized: Categorized,
  kind: FrontendKind,
  ip: string,
  port: number,
  protocol: L4Protocol,
): void {
  const external = kind !== "clusterIP";
  const frontend: Frontend = {
    kind,
    ip,
    port,
    protocol,
    action: action(categorized, external),
    endpoints: external ? "external" : "cluster",
  };
  if (kind === "loadBalancer") frontend.sourceRanges = facts.sourceRanges;
  frontends.push(frontend);
}
/**
 * kube-proxy's filter rules: no usable endpoint anywhere → REJECT (here: no listener, so
 * "connection refused"); a Local policy with none on this node → DROP; else forward.
 */
function action(c: Categorized, external: boolean): Frontend["action"] {
  if (!c.hasAny) return "reject";
  return (external ? c.external : c.internal).length > 0 ? "forward" : "drop";
}
/** One frontend per (ip, port): an externalIP equal to the clusterIP, say, is served once, by the first kind. */
function uniqueSorted(frontends: Frontend[]): Frontend[] {
  if (frontends.length < 2) return frontends;
  const sorted = frontends
    .map((f) => ({ f, key: ipSortKey(f.ip) }))
    .sort((a, b) => KIND_ORDER[a.f.kind] - KIND_ORDER[b.f.kind] || compareIPKeys(a.key, b.key) || a.f.port - b.f.port);
  const seen = new Set<string>();
  const out: Frontend[] = [];
  for (const { f } of sorted) {
    const key = `${f.ip}|${f.port}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(f);
  }
  return out;
}
