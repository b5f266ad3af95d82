import { type EndpointSlice, SERVICE_PROXY_NAME_LABEL, type Service } from "../../model/k8s.ts";
import type { Problem } from "../../model/problems.ts";
import type {
  HealthCheckSnapshot,
  NodeSnapshot,
  ServicePortSnapshot,
  SessionAffinity,
} from "../../snapshot/snapshot.ts";
import type { NodeLocalDnsOptions } from "../options.ts";
import { cidrFamily, compareStrings, type Family, familyName, ipFamily, normaliseIP } from "./ip.ts";
import { checkedPort, portSnapshot, type Report, type ServiceFacts, validPort } from "./ports.ts";
import { indexSlices, localReadyCount } from "./slices.ts";

/** Label kube-proxy's informers exclude: Services (and their slices) of headless Services. */
export const HEADLESS_LABEL = "service.kubernetes.io/headless";
export const DEFAULT_AFFINITY_TIMEOUT_SECONDS = 10800;
const MAX_AFFINITY_TIMEOUT_SECONDS = 86400;

export interface ServiceContext {
  node: NodeSnapshot;
  serviceProxyName?: string;
  nodeLocalDns?: NodeLocalDnsOptions;
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
  const namespace = service.metadata?.namespace ?? "default";
  const name = service.metadata?.name ?? "";
  const dns = ctx.nodeLocalDns;
  return {
    namespace,
    name,
    ...(dns && dns.service === `${namespace}/${name}` ? { nodeLocalDns: { linkLocal: dns.linkLocal } } : {}),
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
