import { type EndpointSlice, SERVICE_PROXY_NAME_LABEL, type Service } from "../../model/k8s.ts";
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
import { endpointsForPort, indexSlices, localReadyCount } from "./slices.ts";

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
  const report = (field: string, message: string) =>
    problems.push({ kind: "Service", namespace, name, field, message });

  if (leftToAnotherProxy(service.metadata?.labels, ctx.serviceProxyName)) return NOTHING;
  const type = spec.type ?? "ClusterIP";
  if (type === "ExternalName") return NOTHING;
  if (!KNOWN_TYPES.has(type)) {
    report("spec.type", `unknown type "${type}"; treated as ClusterIP`);
  }
  const exposesNodePorts = type === "NodePort" || type === "LoadBalancer";

  // --- virtual IPs, one per family --------------------------------------------------------
  const fromList = (spec.clusterIPs?.length ?? 0) > 0;
  const rawClusterIPs = fromList ? spec.clusterIPs! : spec.clusterIP ? [spec.clusterIP] : [];
  // Headless: DNS only. No clusterIP yet: not proxied until one is allocated (as kube-proxy skips it).
  if (rawClusterIPs.length === 0 || rawClusterIPs[0] === "None") return NOTHING;
  // one clusterIP per family: [IPv4, IPv6] (two variables rather than a Map per Service)
  let clusterV4: string | undefined;
  let clusterV6: string | undefined;
  for (let i = 0; i < rawClusterIPs.length; i++) {
    const ip = rawClusterIPs[i]!;
    const field = fromList ? `spec.clusterIPs[${i}]` : "spec.clusterIP";
    const family = ipFamily(ip);
    if (!family) report(field, `"${ip}" is not an IP address`);
    else if ((family === 4 ? clusterV4 : clusterV6) !== undefined)
      report(field, `a second ${familyName(family)} clusterIP ("${ip}") is ignored`);
    else if (family === 4) clusterV4 = ip;
    else clusterV6 = normaliseIP(ip);
  }
  if (clusterV4 === undefined && clusterV6 === undefined) return { ports: [], problems };
  const families: readonly Family[] =
    clusterV4 === undefined ? FAMILY_6 : clusterV6 === undefined ? FAMILY_4 : FAMILY_BOTH;
  const clusterIP = (family: Family) => (family === 4 ? clusterV4 : clusterV6)!;

  const externalIPs = familyIPs(spec.externalIPs ?? [], "spec.externalIPs", families, report);
  const lbIngress = status(service);
  const lbIPs = familyIPs(
    // ipMode Proxy: the load balancer proxies to the nodes itself, so kube-proxy adds no rule for its IP.
    lbIngress.length === 0
      ? NONE
      : lbIngress.map((ing) => (ing.ipMode === undefined || ing.ipMode === "VIP" ? ing.ip : undefined)),
    "status.loadBalancer.ingress",
    families,
    report,
    (i) => `status.loadBalancer.ingress[${i}].ip`,
  );

  // loadBalancerSourceRanges: kube-proxy trims padding. A range that cannot be parsed closes the
  // load-balancer frontends rather than silently widening who may connect.
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

  const sessionAffinity = affinity(service, report);
  const internalLocal = spec.internalTrafficPolicy === "Local";
  const externalLocal = exposesNodePorts && spec.externalTrafficPolicy === "Local";
  if (spec.internalTrafficPolicy !== undefined && !TRAFFIC_POLICIES.has(spec.internalTrafficPolicy))
    report("spec.internalTrafficPolicy", `unknown value "${spec.internalTrafficPolicy}"; treated as Cluster`);
  if (spec.externalTrafficPolicy !== undefined && !TRAFFIC_POLICIES.has(spec.externalTrafficPolicy))
    report("spec.externalTrafficPolicy", `unknown value "${spec.externalTrafficPolicy}"; treated as Cluster`);

  const nodePortAddresses = exposesNodePorts ? nodePortAddressesOf(families, ctx.node) : NO_IPS;

  const foreign = (s: EndpointSlice) => leftToAnotherProxy(s.metadata?.labels, ctx.serviceProxyName);
  const index = indexSlices(slices.some(foreign) ? slices.filter((s) => !foreign(s)) : slices, families, problems);
  const node = ctx.node;

  // --- ports -------------------------------------------------------------------------------
  const ports: ServicePortSnapshot[] = [];
  // Sets, not arrays: Kubernetes does not bound a Service's ports, and 10,000 of them made this quadratic (4 s)
  const seenNames = new Set<string>();
  const seenPorts = new Set<string>();
  (spec.ports ?? []).forEach((p, i) => {
    const protocol = p.protocol ?? "TCP";
    const field = `spec.ports[${i}]`;
    if (protocol === "SCTP") {
      report(`${field}.protocol`, "SCTP is not served: Node.js has no SCTP sockets");
      return;
    }
    if (protocol !== "TCP" && protocol !== "UDP") {
      report(`${field}.protocol`, `unknown protocol "${protocol}"; this port is not served`);
      return;
    }
    if (!validPort(p.port)) {
      report(`${field}.port`, `invalid port ${JSON.stringify(p.port ?? null)}; this port is not served`);
      return;
    }
    const portName = p.name ?? "";
    if (seenNames.has(portName)) {
      report(
        `${field}.name`,
        portName ? `duplicate port name "${portName}"; this port is not served` : "a second unnamed port is not served",
      );
      return;
    }
    const portKey = `${p.port}/${protocol}`;
    if (seenPorts.has(portKey)) {
      report(`${field}.port`, `duplicate port ${p.port}/${protocol}; this port is not served`);
      return;
    }
    let nodePort: number | undefined;
    if (p.nodePort !== undefined && p.nodePort !== 0) {
      if (!exposesNodePorts) {
        report(`${field}.nodePort`, `nodePort is ignored on a ${type} Service`);
      } else if (!validPort(p.nodePort)) {
        report(`${field}.nodePort`, `invalid nodePort ${JSON.stringify(p.nodePort)}; this port is not served`);
        return;
      } else nodePort = p.nodePort;
    }
    seenNames.add(portName);
    seenPorts.add(portKey);

    const all = endpointsForPort(index, portName, protocol);
    const frontends: Frontend[] = [];
    let clusterEndpoints: readonly Endpoint[] = [];
    let externalEndpoints: readonly Endpoint[] = [];
    for (const family of families) {
      const familyExternalIPs = externalIPs.get(family) ?? NONE;
      const familyLbIPs = lbClosed ? NONE : (lbIPs.get(family) ?? NONE);
      const categorized = categorize(
        families.length === 1 ? all : all.filter((e) => familyOf(e.ip) === family),
        {
          internalLocal,
          externalLocal,
          externallyAccessible: nodePort !== undefined || familyExternalIPs.length > 0 || familyLbIPs.length > 0,
        },
        node,
        index.hints,
      );
      // Without a Local policy both lists are the same array (planes may compare by reference).
      const internal = categorized.internal;
      const externalList = categorized.external;
      clusterEndpoints = clusterEndpoints.length === 0 ? internal : [...clusterEndpoints, ...internal];
      externalEndpoints = externalEndpoints.length === 0 ? externalList : [...externalEndpoints, ...externalList];
      const add = (kind: FrontendKind, ip: string, port: number) => {
        const external = kind !== "clusterIP";
        const frontend: Frontend = {
          kind,
          ip,
          port,
          protocol: protocol as L4Protocol,
          action: action(categorized, external),
          endpoints: external ? "external" : "cluster",
        };
        if (kind === "loadBalancer") frontend.sourceRanges = sourceRanges;
        frontends.push(frontend);
      };
      add("clusterIP", clusterIP(family), p.port);
      if (nodePort !== undefined) for (const ip of nodePortAddresses.get(family)!) add("nodePort", ip, nodePort);
      for (const ip of familyExternalIPs) add("externalIP", ip, p.port);
      for (const ip of familyLbIPs) add("loadBalancer", ip, p.port);
    }
    const snapshot: ServicePortSnapshot = {
      id: `${namespace}/${name}:${portName}`,
      namespace,
      name,
      portName,
      protocol: protocol as L4Protocol,
      port: p.port,
      frontends: uniqueSorted(frontends),
      clusterEndpoints,
      externalEndpoints,
      sessionAffinity,
    };
    if (nodePort !== undefined) snapshot.nodePort = nodePort;
    ports.push(snapshot);
  });
  ports.sort((a, b) => compareStrings(a.portName, b.portName));

  const result: ServiceTranslation = { ports, problems };
  if (type === "LoadBalancer" && externalLocal) {
    if (validPort(spec.healthCheckNodePort)) {
      result.healthCheck = {
        namespace,
        name,
        port: spec.healthCheckNodePort,
        localEndpoints: localReadyCount(index, ctx.node.name),
      };
    } else {
      report(
        "spec.healthCheckNodePort",
        spec.healthCheckNodePort === undefined
          ? "externalTrafficPolicy Local LoadBalancer without healthCheckNodePort: no health check is served"
          : `invalid port ${JSON.stringify(spec.healthCheckNodePort)}; no health check is served`,
      );
    }
  }
  return result;
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
