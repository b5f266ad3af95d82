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
} from "../snapshot.ts";
import { type Categorized, categorize } from "./categorize.ts";
import {
  cidrFamily,
  compareIPKeys,
  compareStrings,
  type Family,
  familyName,
  ipFamily,
  ipSortKey,
  normaliseIP,
} from "./ip.ts";
import { type CandidateEndpoint, endpointsForPort, indexSlices, localReadyCount } from "./slices.ts";

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
 * One Service and its EndpointSlices → its ServicePortSnapshots and health check (design §2).
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
  if (!["ClusterIP", "NodePort", "LoadBalancer"].includes(type)) {
    report("spec.type", `unknown type "${type}"; treated as ClusterIP`);
  }
  const exposesNodePorts = type === "NodePort" || type === "LoadBalancer";

  // --- virtual IPs, one per family --------------------------------------------------------
  const fromList = (spec.clusterIPs?.length ?? 0) > 0;
  const rawClusterIPs = fromList ? spec.clusterIPs! : spec.clusterIP ? [spec.clusterIP] : [];
  // Headless: DNS only. No clusterIP yet: not proxied until one is allocated (as kube-proxy skips it).
  if (rawClusterIPs.length === 0 || rawClusterIPs[0] === "None") return NOTHING;
  const clusterIPs = new Map<Family, string>();
  rawClusterIPs.forEach((ip, i) => {
    const field = fromList ? `spec.clusterIPs[${i}]` : "spec.clusterIP";
    const family = ipFamily(ip);
    if (!family) report(field, `"${ip}" is not an IP address`);
    else if (clusterIPs.has(family)) report(field, `a second ${familyName(family)} clusterIP ("${ip}") is ignored`);
    else clusterIPs.set(family, normaliseIP(ip));
  });
  if (clusterIPs.size === 0) return { ports: [], problems };
  const families = [...clusterIPs.keys()].sort();

  const externalIPs = familyIPs(spec.externalIPs ?? [], "spec.externalIPs", families, report);
  const lbIngress = status(service);
  const lbIPs = familyIPs(
    // ipMode Proxy: the load balancer proxies to the nodes itself, so kube-proxy adds no rule for its IP.
    lbIngress.map((ing) => (ing.ipMode === undefined || ing.ipMode === "VIP" ? ing.ip : undefined)),
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
  if (spec.internalTrafficPolicy !== undefined && !["Cluster", "Local"].includes(spec.internalTrafficPolicy))
    report("spec.internalTrafficPolicy", `unknown value "${spec.internalTrafficPolicy}"; treated as Cluster`);
  if (spec.externalTrafficPolicy !== undefined && !["Cluster", "Local"].includes(spec.externalTrafficPolicy))
    report("spec.externalTrafficPolicy", `unknown value "${spec.externalTrafficPolicy}"; treated as Cluster`);

  const nodePortAddresses = new Map<Family, string[]>();
  for (const family of families) nodePortAddresses.set(family, []);
  for (const address of ctx.node.nodePortAddresses) {
    const family = ipFamily(address);
    const ip = normaliseIP(address);
    const list = family ? nodePortAddresses.get(family) : undefined;
    if (list && !list.includes(ip)) list.push(ip);
  }

  const index = indexSlices(
    slices.filter((s) => !leftToAnotherProxy(s.metadata?.labels, ctx.serviceProxyName)),
    families,
    problems,
  );
  const node = { name: ctx.node.name, ...(ctx.node.zone !== undefined ? { zone: ctx.node.zone } : {}) };

  // --- ports -------------------------------------------------------------------------------
  const ports: ServicePortSnapshot[] = [];
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
    if (seenPorts.has(`${p.port}/${protocol}`)) {
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
    seenPorts.add(`${p.port}/${protocol}`);

    const all = endpointsForPort(index, portName, protocol);
    const frontends: Frontend[] = [];
    let clusterEndpoints: Endpoint[] = [];
    let externalEndpoints: Endpoint[] = [];
    for (const family of families) {
      const familyExternalIPs = externalIPs.get(family) ?? [];
      const familyLbIPs = lbClosed ? [] : (lbIPs.get(family) ?? []);
      const categorized = categorize(
        families.length === 1 ? all : all.filter((c) => c.family === family),
        {
          internalLocal,
          externalLocal,
          externallyAccessible: nodePort !== undefined || familyExternalIPs.length > 0 || familyLbIPs.length > 0,
        },
        node,
      );
      const internal = categorized.internal.map(toEndpoint);
      // Without a Local policy both lists are the same: share one array (planes may compare by reference).
      const externalList =
        categorized.external === categorized.internal ? internal : categorized.external.map(toEndpoint);
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
      add("clusterIP", clusterIPs.get(family)!, p.port);
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

function toEndpoint(c: CandidateEndpoint): Endpoint {
  return c.endpoint;
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
  return service.status?.loadBalancer?.ingress ?? [];
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
): Map<Family, string[]> {
  const out = new Map<Family, string[]>();
  if (list.length === 0) return out;
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
  if (spec.sessionAffinity === undefined || spec.sessionAffinity === "None") return { type: "None" };
  if (spec.sessionAffinity !== "ClientIP") {
    report("spec.sessionAffinity", `unknown value "${spec.sessionAffinity}"; treated as None`);
    return { type: "None" };
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
