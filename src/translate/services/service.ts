import { type EndpointSlice, SERVICE_PROXY_NAME_LABEL, type Service, type ServicePort } from "../../model/k8s.ts";
import type { Problem } from "../../model/problems.ts";
import type {
  Endpoint,
  Frontend,
  FrontendKind,
  HealthCheckSnapshot,
  L4Protocol,
  NodeSnapshot,
  ServicePortSnapshot,
  SessionAffinity,
} from "../../snapshot/snapshot.ts";
import { type Categorized, categorize } from "./categorize.ts";
import {
  cidrFamily,
  compareIPKeys,
  compareStrings,
  type Family,
  familyName,
  familyOf,
  ipFamily,
  ipSortKey,
  normaliseIP,
} from "./ip.ts";
import { endpointsForPort, indexSlices, localReadyCount, type SliceIndex } from "./slices.ts";

/** Label kube-proxy's informers exclude: Services (and their slices) of headless Services. */
export const HEADLESS_LABEL = "service.kubernetes.io/headless";
export const DEFAULT_AFFINITY_TIMEOUT_SECONDS = 10800;
const MAX_AFFINITY_TIMEOUT_SECONDS = 86400;

export interface ServiceContext {
  node: NodeSnapshot;
  serviceProxyName?: string;
}

/** What one Service contributes to the snapshot. */
export interface ServiceTranslation {
  ports: readonly ServicePortSnapshot[];
  healthCheck?: HealthCheckSnapshot;
  problems: readonly Problem[];
}

const NOTHING: ServiceTranslation = { ports: [], problems: [] };
const NO_IPS: ReadonlyMap<Family, string[]> = new Map();
const NONE: readonly string[] = [];
const FAMILY_4: readonly Family[] = [4];
const FAMILY_6: readonly Family[] = [6];
const FAMILY_BOTH: readonly Family[] = [4, 6];
const KNOWN_TYPES: ReadonlySet<string> = new Set(["ClusterIP", "NodePort", "LoadBalancer"]);
const TRAFFIC_POLICIES: ReadonlySet<string> = new Set(["Cluster", "Local"]);
/** Shared by every Service without affinity (snapshot values are never modified). */
const NO_AFFINITY: SessionAffinity = Object.freeze({ type: "None" });

const KIND_ORDER: Record<FrontendKind, number> = { clusterIP: 0, nodePort: 1, externalIP: 2, loadBalancer: 3 };

/**
 * kube-proxy leaves alone objects labelled with a service-proxy-name (they belong to another proxy)
 * and those labelled headless. nodeplane serves the name given by --service-proxy-name, if any.
 */
export function leftToAnotherProxy(labels: Record<string, string> | undefined, serviceProxyName?: string): boolean {
  if (!labels) return false;
  if (HEADLESS_LABEL in labels) return true;
  const proxyName = labels[SERVICE_PROXY_NAME_LABEL];
  return proxyName !== undefined && proxyName !== serviceProxyName;
}

function validPort(n: unknown): n is number {
  return typeof n === "number" && Number.isInteger(n) && n >= 1 && n <= 65535;
}

type Report = (field: string, message: string) => void;

/** What every port of one Service shares, decided once per Service before its ports are visited. */
interface ServiceFacts {
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
}

/**
 * One Service and its EndpointSlices → its ServicePortSnapshots and health check (docs/service-translation.md).
 * Bad fields are reported as Problems and skip only what they affect: one port, one address.
 */
export function translateService(
  service: Service,
  slices: readonly EndpointSlice[],
  ctx: ServiceContext,
): ServiceTranslation {
  const namespace = service.metadata?.namespace ?? "default";
  const name = service.metadata?.name ?? "";
  const spec = service.spec ?? {};
  const problems: Problem[] = [];
  const report: Report = (field, message) => problems.push({ kind: "Service", namespace, name, field, message });

  if (leftToAnotherProxy(service.metadata?.labels, ctx.serviceProxyName)) return NOTHING;
  const type = spec.type ?? "ClusterIP";
  if (type === "ExternalName") return NOTHING;
  if (!KNOWN_TYPES.has(type)) report("spec.type", `unknown type "${type}"; treated as ClusterIP`);

  const clusterIPs = rawClusterIPs(spec);
  // Headless: DNS only. No clusterIP yet: not proxied until one is allocated (as kube-proxy skips it).
  if (!clusterIPs) return NOTHING;
  const { v4: clusterV4, v6: clusterV6 } = validClusterIPs(clusterIPs, report);
  if (clusterV4 === undefined && clusterV6 === undefined) return { ports: [], problems };

  const facts = serviceFacts(service, slices, ctx, type, clusterV4, clusterV6, problems, report);
  const ports: ServicePortSnapshot[] = [];
  // Sets, not arrays: Kubernetes does not bound a Service's ports, and 10,000 of them made this quadratic (4 s)
  const seenNames = new Set<string>();
  const seenPorts = new Set<string>();
  (spec.ports ?? []).forEach((p, i) => {
    const port = checkedPort(p, `spec.ports[${i}]`, type, facts.exposesNodePorts, seenNames, seenPorts, report);
    if (port) ports.push(portSnapshot(facts, port));
  });
  ports.sort((a, b) => compareStrings(a.portName, b.portName));

  const result: ServiceTranslation = { ports, problems };
  const healthCheck = healthCheckOf(service, facts, ctx.node.name, report);
  if (healthCheck) result.healthCheck = healthCheck;
  return result;
}

/** The raw clusterIP list (`spec.clusterIPs`, else `spec.clusterIP`), or undefined when headless or not yet allocated. */
function rawClusterIPs(spec: NonNullable<Service["spec"]>): { ips: readonly string[]; fromList: boolean } | undefined {
  const fromList = (spec.clusterIPs?.length ?? 0) > 0;
  const ips = fromList ? spec.clusterIPs! : spec.clusterIP ? [spec.clusterIP] : [];
  if (ips.length === 0 || ips[0] === "None") return undefined;
  return { ips, fromList };
}

/** One clusterIP per family, the first of each; the rest reported (two variables rather than a Map per Service). */
function validClusterIPs(
  { ips, fromList }: { ips: readonly string[]; fromList: boolean },
  report: Report,
): { v4: string | undefined; v6: string | undefined } {
  let v4: string | undefined;
  let v6: string | undefined;
  for (let i = 0; i < ips.length; i++) {
    const ip = ips[i]!;
    const field = fromList ? `spec.clusterIPs[${i}]` : "spec.clusterIP";
    const family = ipFamily(ip);
    if (!family) report(field, `"${ip}" is not an IP address`);
    else if ((family === 4 ? v4 : v6) !== undefined)
      report(field, `a second ${familyName(family)} clusterIP ("${ip}") is ignored`);
    else if (family === 4) v4 = ip;
    else v6 = normaliseIP(ip);
  }
  return { v4, v6 };
}

/** The per-Service decisions every port uses: addresses, source ranges, affinity, policies, the slice index. */
function serviceFacts(
  service: Service,
  slices: readonly EndpointSlice[],
  ctx: ServiceContext,
  type: string,
  clusterV4: string | undefined,
  clusterV6: string | undefined,
  problems: Problem[],
  report: Report,
): ServiceFacts {
  const spec = service.spec ?? {};
  const exposesNodePorts = type === "NodePort" || type === "LoadBalancer";
  const families: readonly Family[] =
    clusterV4 === undefined ? FAMILY_6 : clusterV6 === undefined ? FAMILY_4 : FAMILY_BOTH;
  const externalIPs = familyIPs(spec.externalIPs ?? [], "spec.externalIPs", families, report);
  const lbIPs = loadBalancerIPs(service, families, report);
  const { sourceRanges, lbClosed } = loadBalancerSourceRanges(spec, report);
  const sessionAffinity = affinity(service, report);
  const { internalLocal, externalLocal } = trafficPolicies(spec, exposesNodePorts, report);
  const nodePortAddresses = exposesNodePorts ? nodePortAddressesOf(families, ctx.node) : NO_IPS;
  const foreign = (s: EndpointSlice) => leftToAnotherProxy(s.metadata?.labels, ctx.serviceProxyName);
  const index = indexSlices(slices.some(foreign) ? slices.filter((s) => !foreign(s)) : slices, families, problems);
  return {
    namespace: service.metadata?.namespace ?? "default",
    name: service.metadata?.name ?? "",
    type,
    exposesNodePorts,
    families,
    clusterV4,
    clusterV6,
    externalIPs,
    lbIPs,
    lbClosed,
    sourceRanges,
    sessionAffinity,
    internalLocal,
    externalLocal,
    nodePortAddresses,
    index,
    node: ctx.node,
  };
}

/** `status.loadBalancer.ingress` IPs of the Service's families. */
function loadBalancerIPs(service: Service, families: readonly Family[], report: Report): ReadonlyMap<Family, string[]> {
  const lbIngress = status(service);
  return familyIPs(
    // ipMode Proxy: the load balancer proxies to the nodes itself, so kube-proxy adds no rule for its IP.
    lbIngress.length === 0
      ? NONE
      : lbIngress.map((ing) => (ing.ipMode === undefined || ing.ipMode === "VIP" ? ing.ip : undefined)),
    "status.loadBalancer.ingress",
    families,
    report,
    (i) => `status.loadBalancer.ingress[${i}].ip`,
  );
}

/**
 * loadBalancerSourceRanges: kube-proxy trims padding. A range that cannot be parsed closes the
 * load-balancer frontends rather than silently widening who may connect.
 */
function loadBalancerSourceRanges(
  spec: NonNullable<Service["spec"]>,
  report: Report,
): { sourceRanges: string[]; lbClosed: boolean } {
  const sourceRanges: string[] = [];
  let lbClosed = false;
  (spec.loadBalancerSourceRanges ?? []).forEach((raw, i) => {
    const range = raw.trim();
    if (cidrFamily(range)) sourceRanges.push(range);
    else {
      lbClosed = true;
      report(`spec.loadBalancerSourceRanges[${i}]`, `"${raw}" is not a CIDR; load-balancer IPs are not served`);
    }
  });
  return { sourceRanges, lbClosed };
}

/** internalTrafficPolicy and externalTrafficPolicy (the latter only where node ports are exposed); unknown = Cluster. */
function trafficPolicies(
  spec: NonNullable<Service["spec"]>,
  exposesNodePorts: boolean,
  report: Report,
): { internalLocal: boolean; externalLocal: boolean } {
  const internalLocal = spec.internalTrafficPolicy === "Local";
  const externalLocal = exposesNodePorts && spec.externalTrafficPolicy === "Local";
  if (spec.internalTrafficPolicy !== undefined && !TRAFFIC_POLICIES.has(spec.internalTrafficPolicy))
    report("spec.internalTrafficPolicy", `unknown value "${spec.internalTrafficPolicy}"; treated as Cluster`);
  if (spec.externalTrafficPolicy !== undefined && !TRAFFIC_POLICIES.has(spec.externalTrafficPolicy))
    report("spec.externalTrafficPolicy", `unknown value "${spec.externalTrafficPolicy}"; treated as Cluster`);
  return { internalLocal, externalLocal };
}

/** A port that passed its checks: its protocol, name, number and node port. */
interface CheckedPort {
  protocol: L4Protocol;
  portName: string;
  port: number;
  nodePort: number | undefined;
}

/**
 * One `spec.ports` entry checked: protocol, number, unique name and number/protocol, node port.
 * Undefined (with a Problem) when it is not served; the seen sets are updated only for served ports.
 */
function checkedPort(
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

/** One served port → its snapshot: frontends of every kind and family, and the endpoints each list gets. */
function portSnapshot(facts: ServiceFacts, { protocol, portName, port, nodePort }: CheckedPort): ServicePortSnapshot {
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

/** An externalTrafficPolicy Local LoadBalancer's health check (its local ready endpoints), if its port is valid. */
function healthCheckOf(
  service: Service,
  facts: ServiceFacts,
  nodeName: string,
  report: Report,
): HealthCheckSnapshot | undefined {
  if (facts.type !== "LoadBalancer" || !facts.externalLocal) return undefined;
  const port = service.spec?.healthCheckNodePort;
  if (validPort(port))
    return {
      namespace: facts.namespace,
      name: facts.name,
      port,
      localEndpoints: localReadyCount(facts.index, nodeName),
    };
  report(
    "spec.healthCheckNodePort",
    port === undefined
      ? "externalTrafficPolicy Local LoadBalancer without healthCheckNodePort: no health check is served"
      : `invalid port ${JSON.stringify(port)}; no health check is served`,
  );
  return undefined;
}

/**
 * kube-proxy's filter rules: no usable endpoint anywhere → REJECT (here: no listener, so
 * "connection refused"); a Local policy with none on this node → DROP; else forward.
 */
function action(c: Categorized, external: boolean): Frontend["action"] {
  if (!c.hasAny) return "reject";
  return (external ? c.external : c.internal).length > 0 ? "forward" : "drop";
}

function status(service: Service) {
  return service.status?.loadBalancer?.ingress ?? NO_INGRESS;
}

const NO_INGRESS: readonly { ip?: string; ipMode?: string }[] = [];

/** The node's NodePort addresses, per family of the Service. */
function nodePortAddressesOf(families: readonly Family[], node: NodeSnapshot): ReadonlyMap<Family, string[]> {
  const out = new Map<Family, string[]>();
  for (const family of families) out.set(family, []);
  for (const address of node.nodePortAddresses) {
    const family = ipFamily(address);
    const ip = normaliseIP(address);
    const list = family ? out.get(family) : undefined;
    if (list && !list.includes(ip)) list.push(ip);
  }
  return out;
}

/**
 * Valid addresses of the Service's families, grouped by family. Load-balancer entries without an
 * ip (hostname only) or with ipMode Proxy (the LB proxies itself, kube-proxy adds no rule) are skipped.
 */
function familyIPs(
  list: readonly (string | undefined)[],
  base: string,
  families: readonly Family[],
  report: (field: string, message: string) => void,
  fieldOf: (i: number) => string = (i) => `${base}[${i}]`,
): ReadonlyMap<Family, string[]> {
  if (list.length === 0) return NO_IPS;
  const out = new Map<Family, string[]>();
  list.forEach((ip, i) => {
    if (ip === undefined) return;
    const family = ipFamily(ip);
    if (!family) {
      report(fieldOf(i), `"${ip}" is not an IP address; ignored`);
      return;
    }
    if (!families.includes(family)) {
      report(
        fieldOf(i),
        `"${ip}" is ${familyName(family)} but the Service has no ${familyName(family)} clusterIP; ignored`,
      );
      return;
    }
    let group = out.get(family);
    if (!group) {
      group = [];
      out.set(family, group);
    }
    const normal = normaliseIP(ip);
    if (!group.includes(normal)) group.push(normal);
  });
  return out;
}

function affinity(service: Service, report: (field: string, message: string) => void): SessionAffinity {
  const spec = service.spec ?? {};
  if (spec.sessionAffinity === undefined || spec.sessionAffinity === "None") return NO_AFFINITY;
  if (spec.sessionAffinity !== "ClientIP") {
    report("spec.sessionAffinity", `unknown value "${spec.sessionAffinity}"; treated as None`);
    return NO_AFFINITY;
  }
  const timeout = spec.sessionAffinityConfig?.clientIP?.timeoutSeconds;
  if (timeout === undefined) return { type: "ClientIP", timeoutSeconds: DEFAULT_AFFINITY_TIMEOUT_SECONDS };
  if (!Number.isInteger(timeout) || timeout < 1 || timeout > MAX_AFFINITY_TIMEOUT_SECONDS) {
    report(
      "spec.sessionAffinityConfig.clientIP.timeoutSeconds",
      `must be 1..${MAX_AFFINITY_TIMEOUT_SECONDS}, got ${JSON.stringify(timeout)}; using ${DEFAULT_AFFINITY_TIMEOUT_SECONDS}`,
    );
    return { type: "ClientIP", timeoutSeconds: DEFAULT_AFFINITY_TIMEOUT_SECONDS };
  }
  return { type: "ClientIP", timeoutSeconds: timeout };
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
