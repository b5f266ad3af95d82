/**
 * Per-kind checks of decoded manifests (pure). They follow the API server's validation where it
 * protects the translators — names, ports, addresses, enums — so an object that reaches the store
 * has the shape src/model/k8s.ts promises. Each failure names the JSON path of the field at fault.
 *
 * Deliberate differences from the API server, because manifests mode runs on one machine without
 * root: loopback addresses are accepted as endpoint, pod and external IPs, and an explicit
 * clusterIP outside the service CIDR is honoured (see docs/manifests.md).
 */
import { isIP } from "node:net";
import { GATEWAY_API_VERSIONS, GATEWAY_GROUP } from "../../model/gateway.ts";
import type { GatewayKind } from "../../model/k8s.ts";
import { Checker, describe, type FieldProblem, type Json } from "./checker.ts";
import {
  configKey,
  dns1035Label,
  dns1123Label,
  dns1123Subdomain,
  domainPrefixedPath,
  ianaSvcName,
  labelValue,
  qualifiedName,
  wildcardHost,
} from "./names.ts";
import { isPlainObject } from "./parse.ts";
import { checkGatewayKind, gatewayNameRule } from "./validate-gateway.ts";

export type { FieldProblem };

export interface ValidationEnv {
  nodePortRange: { min: number; max: number };
}

/**
 * The kinds manifests mode reads, with the apiVersion each is written at (the only one accepted for the
 * core kinds; Gateway API kinds also accept the other versions in GATEWAY_API_VERSIONS: `acceptedApiVersions`).
 */
export const MANIFEST_KINDS = {
  Service: "v1",
  Endpoints: "v1",
  Pod: "v1",
  Secret: "v1",
  Node: "v1",
  EndpointSlice: "discovery.k8s.io/v1",
  Ingress: "networking.k8s.io/v1",
  IngressClass: "networking.k8s.io/v1",
  Namespace: "v1",
  GatewayClass: `${GATEWAY_GROUP}/v1`,
  Gateway: `${GATEWAY_GROUP}/v1`,
  HTTPRoute: `${GATEWAY_GROUP}/v1`,
  GRPCRoute: `${GATEWAY_GROUP}/v1`,
  TLSRoute: `${GATEWAY_GROUP}/v1`,
  TCPRoute: `${GATEWAY_GROUP}/v1`,
  UDPRoute: `${GATEWAY_GROUP}/v1`,
  ReferenceGrant: `${GATEWAY_GROUP}/v1`,
} as const;

export type ManifestKind = keyof typeof MANIFEST_KINDS;

function isGatewayKind(kind: ManifestKind): kind is GatewayKind {
  return Object.hasOwn(GATEWAY_API_VERSIONS, kind);
}

/** Every apiVersion a manifest of `kind` may be written at, preferred first. */
export function acceptedApiVersions(kind: ManifestKind): readonly string[] {
  if (isGatewayKind(kind)) return GATEWAY_API_VERSIONS[kind].map((v) => `${GATEWAY_GROUP}/${v}`);
  return [MANIFEST_KINDS[kind]];
}

export function isManifestKind(kind: string): kind is ManifestKind {
  return Object.hasOwn(MANIFEST_KINDS, kind);
}

export function isClusterScoped(kind: ManifestKind): boolean {
  return kind === "Node" || kind === "IngressClass" || kind === "GatewayClass" || kind === "Namespace";
}

const PROTOCOLS = ["TCP", "UDP", "SCTP"];
const PORT = { min: 1, max: 65535 };

/**
 * Checks one decoded document of an accepted kind. `kind` and `apiVersion` have been matched
 * already; the result is empty when the object may enter the store.
 */
export function validateObject(kind: ManifestKind, obj: Json, env: ValidationEnv): FieldProblem[] {
  const c = new Checker();
  checkMetadata(c, kind, obj);
  switch (kind) {
    case "Service":
      checkService(c, obj, env);
      break;
    case "EndpointSlice":
      checkEndpointSlice(c, obj);
      break;
    case "Endpoints":
      checkEndpoints(c, obj);
      break;
    case "Ingress":
      checkIngress(c, obj);
      break;
    case "IngressClass":
      checkIngressClass(c, obj);
      break;
    case "Secret":
      checkSecret(c, obj);
      break;
    case "Node":
      checkNode(c, obj);
      break;
    case "Pod":
      checkPod(c, obj);
      break;
    case "Namespace":
      break;
    default:
      checkGatewayKind(c, kind, obj);
      break;
  }
  return c.problems;
}

function checkMetadata(c: Checker, kind: ManifestKind, obj: Json): void {
  const meta = c.object("metadata", obj.metadata, true);
  if (!meta) return;
  const nameRule =
    kind === "Service"
      ? dns1035Label
      : kind === "Namespace" || isGatewayKind(kind)
        ? gatewayNameRule(kind)
        : dns1123Subdomain;
  if ((meta.name === undefined || meta.name === "") && typeof meta.generateName === "string") {
    c.fail("metadata.name", "required (generateName needs a server to make a name up; write the name)");
  } else {
    c.name("metadata.name", meta.name, nameRule, true);
  }
  if (!isClusterScoped(kind)) c.name("metadata.namespace", meta.namespace, dns1123Label);
  c.stringMap("metadata.labels", meta.labels, qualifiedName, labelValue);
  c.stringMap("metadata.annotations", meta.annotations, qualifiedName);
  c.string("metadata.uid", meta.uid);
  const created = c.string("metadata.creationTimestamp", meta.creationTimestamp);
  if (created && Number.isNaN(Date.parse(created)))
    c.fail("metadata.creationTimestamp", `"${created}" is not an RFC 3339 time`);
}

const SERVICE_TYPES = ["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"] as const;
const IP_FAMILIES = ["IPv4", "IPv6"] as const;
const IP_FAMILY_POLICIES = ["SingleStack", "PreferDualStack", "RequireDualStack"] as const;

function checkService(c: Checker, obj: Json, env: ValidationEnv): void {
  const spec = c.object("spec", obj.spec, true);
  if (!spec) return;
  const type = c.oneOf("spec.type", spec.type, SERVICE_TYPES) ?? "ClusterIP";

  const clusterIP = c.string("spec.clusterIP", spec.clusterIP);
  if (clusterIP && clusterIP !== "None") c.ip("spec.clusterIP", clusterIP);
  const clusterIPs = (c.list("spec.clusterIPs", spec.clusterIPs) ?? []).map((ip, i) => {
    const at = `spec.clusterIPs[${i}]`;
    if (ip === "None") {
      if (i > 0 || (spec.clusterIPs as unknown[]).length > 1) c.fail(at, `"None" must be the only entry`);
      return "None";
    }
    return c.ip(at, ip, true);
  });
  if (clusterIPs.length > 2) c.fail("spec.clusterIPs", "may hold at most two addresses, one per IP family");
  if (clusterIPs.length === 2 && clusterIPs[0] && clusterIPs[1] && isIP(clusterIPs[0]) === isIP(clusterIPs[1]))
    c.fail("spec.clusterIPs[1]", "must be of the other IP family than spec.clusterIPs[0]");
  if (clusterIP && clusterIPs.length > 0 && clusterIPs[0] && clusterIPs[0] !== clusterIP)
    c.fail("spec.clusterIPs[0]", `must match spec.clusterIP "${clusterIP}"`);
  const headless = clusterIP === "None" || clusterIPs[0] === "None";

  const families = (c.list("spec.ipFamilies", spec.ipFamilies) ?? []).map((f, i) =>
    c.oneOf(`spec.ipFamilies[${i}]`, f, IP_FAMILIES, true),
  );
  if (families.length > 2) c.fail("spec.ipFamilies", "may hold at most two families");
  if (families.length === 2 && families[0] === families[1]) c.fail("spec.ipFamilies[1]", "duplicate family");
  clusterIPs.forEach((ip, i) => {
    const family = families[i];
    if (ip && ip !== "None" && family && family !== (isIP(ip) === 4 ? "IPv4" : "IPv6"))
      c.fail(`spec.clusterIPs[${i}]`, `"${ip}" is not of family spec.ipFamilies[${i}] (${family})`);
  });
  const policy = c.oneOf("spec.ipFamilyPolicy", spec.ipFamilyPolicy, IP_FAMILY_POLICIES);
  if (policy === "SingleStack" && (families.length > 1 || clusterIPs.length > 1))
    c.fail("spec.ipFamilyPolicy", "SingleStack allows one IP family and one clusterIP");

  if (type === "ExternalName") {
    const name = c.string("spec.externalName", spec.externalName, true);
    if (name) {
      const bad = dns1123Subdomain(name.replace(/\.$/, "").toLowerCase());
      if (bad) c.fail("spec.externalName", `"${name}" ${bad}`);
    }
    if (clusterIP && clusterIP !== "") c.fail("spec.clusterIP", "must be empty for type ExternalName");
  }

  const externallyReachable =
    type === "NodePort" || type === "LoadBalancer" || (Array.isArray(spec.externalIPs) && spec.externalIPs.length > 0);
  const usesNodePorts = type === "NodePort" || type === "LoadBalancer";
  const names = new Set<string>();
  const portProtocols = new Set<string>();
  const nodePortProtocols = new Set<string>();
  const portCount = Array.isArray(spec.ports) ? spec.ports.length : 0;
  c.each(
    "spec.ports",
    spec.ports,
    (p, at) => {
      const name = c.name(`${at}.name`, p.name, dns1123Label, portCount > 1);
      if (name) {
        if (names.has(name)) c.fail(`${at}.name`, `duplicate port name "${name}"`);
        names.add(name);
      }
      const protocol = c.oneOf(`${at}.protocol`, p.protocol, PROTOCOLS) ?? "TCP";
      const port = c.integer(`${at}.port`, p.port, PORT, true);
      if (port !== undefined) {
        const key = `${port}/${protocol}`;
        if (portProtocols.has(key)) c.fail(`${at}.port`, `duplicate port ${key}`);
        portProtocols.add(key);
      }
      checkTargetPort(c, `${at}.targetPort`, p.targetPort);
      if (p.nodePort !== undefined && p.nodePort !== null && p.nodePort !== 0) {
        if (!usesNodePorts) c.fail(`${at}.nodePort`, `may not be set when spec.type is ${type}`);
        else {
          const nodePort = c.integer(`${at}.nodePort`, p.nodePort, env.nodePortRange);
          if (nodePort !== undefined) {
            const key = `${nodePort}/${protocol}`;
            if (nodePortProtocols.has(key)) c.fail(`${at}.nodePort`, `duplicate nodePort ${key}`);
            nodePortProtocols.add(key);
          }
        }
      }
      c.string(`${at}.appProtocol`, p.appProtocol);
    },
    !headless && type !== "ExternalName",
  );

  const affinity = c.oneOf("spec.sessionAffinity", spec.sessionAffinity, ["None", "ClientIP"]);
  const affinityConfig = c.object("spec.sessionAffinityConfig", spec.sessionAffinityConfig);
  const clientIP = c.object("spec.sessionAffinityConfig.clientIP", affinityConfig?.clientIP);
  if (clientIP) {
    if (affinity !== "ClientIP")
      c.fail("spec.sessionAffinityConfig", "may only be set when sessionAffinity is ClientIP");
    c.integer("spec.sessionAffinityConfig.clientIP.timeoutSeconds", clientIP.timeoutSeconds, { min: 1, max: 86400 });
  }

  (c.list("spec.externalIPs", spec.externalIPs) ?? []).forEach((ip, i) => {
    const at = `spec.externalIPs[${i}]`;
    const valid = c.ip(at, ip, true);
    if (valid && isUnspecifiedIP(valid)) c.fail(at, `"${valid}" is the unspecified address`);
  });

  const etp = c.oneOf("spec.externalTrafficPolicy", spec.externalTrafficPolicy, ["Cluster", "Local"]);
  if (etp && !externallyReachable)
    c.fail("spec.externalTrafficPolicy", "may only be set for NodePort and LoadBalancer Services or with externalIPs");
  c.oneOf("spec.internalTrafficPolicy", spec.internalTrafficPolicy, ["Cluster", "Local"]);
  if (spec.healthCheckNodePort !== undefined && spec.healthCheckNodePort !== null && spec.healthCheckNodePort !== 0) {
    if (type !== "LoadBalancer" || etp !== "Local")
      c.fail(
        "spec.healthCheckNodePort",
        "may only be set when type is LoadBalancer and externalTrafficPolicy is Local",
      );
    else c.integer("spec.healthCheckNodePort", spec.healthCheckNodePort, env.nodePortRange);
  }

  const lbOnly = (field: string, v: unknown) => {
    if (v !== undefined && v !== null && type !== "LoadBalancer")
      c.fail(`spec.${field}`, "may only be set when type is LoadBalancer");
  };
  lbOnly("loadBalancerSourceRanges", spec.loadBalancerSourceRanges);
  for (const [i, r] of (c.list("spec.loadBalancerSourceRanges", spec.loadBalancerSourceRanges) ?? []).entries())
    c.cidr(`spec.loadBalancerSourceRanges[${i}]`, typeof r === "string" ? r.trim() : r);
  c.ip("spec.loadBalancerIP", spec.loadBalancerIP === "" ? undefined : spec.loadBalancerIP);
  lbOnly("loadBalancerClass", spec.loadBalancerClass);
  c.name("spec.loadBalancerClass", spec.loadBalancerClass, qualifiedName);
  lbOnly("allocateLoadBalancerNodePorts", spec.allocateLoadBalancerNodePorts);
  c.boolean("spec.allocateLoadBalancerNodePorts", spec.allocateLoadBalancerNodePorts);
  c.boolean("spec.publishNotReadyAddresses", spec.publishNotReadyAddresses);
  c.stringMap("spec.selector", spec.selector, qualifiedName, labelValue);
  c.oneOf("spec.trafficDistribution", spec.trafficDistribution, ["PreferClose", "PreferSameZone", "PreferSameNode"]);

  const status = c.object("status", obj.status);
  const lb = c.object("status.loadBalancer", status?.loadBalancer);
  c.each("status.loadBalancer.ingress", lb?.ingress, (ing, at) => {
    const ip = c.ip(`${at}.ip`, ing.ip);
    c.name(`${at}.hostname`, ing.hostname, dns1123Subdomain);
    const mode = c.oneOf(`${at}.ipMode`, ing.ipMode, ["VIP", "Proxy"]);
    if (mode && !ip) c.fail(`${at}.ipMode`, "requires ip");
  });
}

function checkTargetPort(c: Checker, field: string, v: unknown): void {
  if (v === undefined || v === null || v === 0 || v === "") return;
  if (typeof v === "number") c.integer(field, v, PORT);
  else if (typeof v === "string") c.name(field, v, ianaSvcName);
  else c.fail(field, `must be a port number or name, not ${describe(v)}`);
}

const ADDRESS_TYPES = ["IPv4", "IPv6", "FQDN"] as const;

function checkEndpointSlice(c: Checker, obj: Json): void {
  const addressType = c.oneOf("addressType", obj.addressType, ADDRESS_TYPES, true);
  const endpointCount = c.each("endpoints", obj.endpoints, (ep, at) => {
    const addresses = c.list(`${at}.addresses`, ep.addresses, true) ?? [];
    if (addresses.length > 100) c.fail(`${at}.addresses`, "may hold at most 100 addresses");
    addresses.forEach((a, i) => {
      const where = `${at}.addresses[${i}]`;
      if (addressType === "FQDN") c.name(where, a, dns1123Subdomain, true);
      else if (addressType) {
        const ip = c.ip(where, a, true);
        if (ip && isIP(ip) !== (addressType === "IPv4" ? 4 : 6))
          c.fail(where, `"${ip}" is not an ${addressType} address (addressType)`);
      }
    });
    const conditions = c.object(`${at}.conditions`, ep.conditions);
    for (const cond of ["ready", "serving", "terminating"]) c.boolean(`${at}.conditions.${cond}`, conditions?.[cond]);
    c.name(`${at}.hostname`, ep.hostname, dns1123Label);
    c.name(`${at}.nodeName`, ep.nodeName, dns1123Subdomain);
    c.string(`${at}.zone`, ep.zone);
    checkObjectReference(c, `${at}.targetRef`, ep.targetRef);
    const hints = c.object(`${at}.hints`, ep.hints);
    for (const list of ["forZones", "forNodes"])
      c.each(`${at}.hints.${list}`, hints?.[list], (h, where) => c.string(`${where}.name`, h.name, true));
  });
  if (endpointCount > 1000) c.fail("endpoints", "may hold at most 1000 endpoints");
  checkEndpointPorts(c, "ports", obj.ports, false);
}

function checkEndpoints(c: Checker, obj: Json): void {
  c.each("subsets", obj.subsets, (subset, at) => {
    for (const list of ["addresses", "notReadyAddresses"]) {
      c.each(`${at}.${list}`, subset[list], (a, where) => {
        c.ip(`${where}.ip`, a.ip, true);
        c.name(`${where}.hostname`, a.hostname, dns1123Label);
        c.name(`${where}.nodeName`, a.nodeName, dns1123Subdomain);
        checkObjectReference(c, `${where}.targetRef`, a.targetRef);
      });
    }
    checkEndpointPorts(c, `${at}.ports`, subset.ports, true);
  });
}

/** Ports of an EndpointSlice (port optional) or of an Endpoints subset (port required, names when several). */
function checkEndpointPorts(c: Checker, field: string, v: unknown, endpointsStyle: boolean): void {
  const count = Array.isArray(v) ? v.length : 0;
  if (count > 100) c.fail(field, "may hold at most 100 ports");
  const names = new Set<string>();
  c.each(field, v, (p, at) => {
    const name = c.name(`${at}.name`, p.name, dns1123Label, endpointsStyle && count > 1);
    if (name !== undefined) {
      if (names.has(name)) c.fail(`${at}.name`, `duplicate port name "${name}"`);
      names.add(name);
    }
    c.integer(`${at}.port`, p.port, PORT, endpointsStyle);
    c.oneOf(`${at}.protocol`, p.protocol, PROTOCOLS);
    c.string(`${at}.appProtocol`, p.appProtocol);
  });
}

function checkObjectReference(c: Checker, field: string, v: unknown): void {
  const ref = c.object(field, v);
  if (!ref) return;
  for (const key of ["kind", "namespace", "name", "uid", "apiVersion", "resourceVersion"])
    c.string(`${field}.${key}`, ref[key]);
}

const PATH_TYPES = ["Exact", "Prefix", "ImplementationSpecific"] as const;

function checkIngress(c: Checker, obj: Json): void {
  const spec = c.object("spec", obj.spec, true);
  if (!spec) return;
  c.name("spec.ingressClassName", spec.ingressClassName, dns1123Subdomain);
  if (spec.defaultBackend !== undefined && spec.defaultBackend !== null)
    checkIngressBackend(c, "spec.defaultBackend", spec.defaultBackend);
  const ruleCount = c.each("spec.rules", spec.rules, (rule, at) => {
    c.name(`${at}.host`, rule.host, wildcardHost);
    const http = c.object(`${at}.http`, rule.http);
    if (!http) return;
    c.each(
      `${at}.http.paths`,
      http.paths,
      (p, where) => {
        const pathType = c.oneOf(`${where}.pathType`, p.pathType, PATH_TYPES, true);
        const path = c.string(`${where}.path`, p.path);
        if (path !== undefined && path !== "" && !path.startsWith("/"))
          c.fail(`${where}.path`, `"${path}" must be an absolute path (start with /)`);
        else if (path && pathType !== "ImplementationSpecific" && /\/\/|\/\.\.?(\/|$)|%2f/i.test(path))
          c.fail(`${where}.path`, `"${path}" must not contain '//', '/./', '/../' or '%2f'`);
        if ((pathType === "Exact" || pathType === "Prefix") && (path === undefined || path === ""))
          c.fail(`${where}.path`, `required for pathType ${pathType}`);
        checkIngressBackend(c, `${where}.backend`, p.backend);
      },
      true,
    );
  });
  if (ruleCount === 0 && (spec.defaultBackend === undefined || spec.defaultBackend === null))
    c.fail("spec", "either defaultBackend or rules must be specified");
  c.each("spec.tls", spec.tls, (tls, at) => {
    for (const [i, h] of (c.list(`${at}.hosts`, tls.hosts) ?? []).entries())
      c.name(`${at}.hosts[${i}]`, h, wildcardHost, true);
    c.name(`${at}.secretName`, tls.secretName, dns1123Subdomain);
  });
}

function checkIngressBackend(c: Checker, field: string, v: unknown): void {
  const backend = c.object(field, v, true);
  if (!backend) return;
  const hasService = backend.service !== undefined && backend.service !== null;
  const hasResource = backend.resource !== undefined && backend.resource !== null;
  if (hasService === hasResource) {
    c.fail(
      field,
      hasService ? "service and resource are mutually exclusive" : "one of service or resource is required",
    );
    return;
  }
  if (hasResource) {
    const resource = c.object(`${field}.resource`, backend.resource, true);
    c.string(`${field}.resource.kind`, resource?.kind, true);
    c.string(`${field}.resource.name`, resource?.name, true);
    c.string(`${field}.resource.apiGroup`, resource?.apiGroup);
    return;
  }
  const service = c.object(`${field}.service`, backend.service, true);
  if (!service) return;
  c.name(`${field}.service.name`, service.name, dns1035Label, true);
  const port = c.object(`${field}.service.port`, service.port, true);
  if (!port) return;
  const hasNumber = port.number !== undefined && port.number !== null && port.number !== 0;
  const hasName = port.name !== undefined && port.name !== null && port.name !== "";
  if (hasNumber === hasName) c.fail(`${field}.service.port`, "exactly one of number or name is required");
  else if (hasNumber) c.integer(`${field}.service.port.number`, port.number, PORT);
  else c.name(`${field}.service.port.name`, port.name, ianaSvcName);
}

function checkIngressClass(c: Checker, obj: Json): void {
  const spec = c.object("spec", obj.spec, true);
  if (!spec) return;
  c.name("spec.controller", spec.controller, domainPrefixedPath, true);
  const params = c.object("spec.parameters", spec.parameters);
  if (params) {
    c.string("spec.parameters.kind", params.kind, true);
    c.string("spec.parameters.name", params.name, true);
    c.oneOf("spec.parameters.scope", params.scope, ["Cluster", "Namespace"]);
  }
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function checkSecret(c: Checker, obj: Json): void {
  const type = c.string("type", obj.type) || "Opaque";
  const data = c.object("data", obj.data);
  const keys = new Set<string>();
  for (const [key, value] of Object.entries(data ?? {})) {
    const at = `data[${JSON.stringify(key)}]`;
    const bad = configKey(key);
    if (bad) c.fail(at, `key ${bad}`);
    if (typeof value !== "string") c.fail(at, `must be a base64 string, not ${describe(value)}`);
    else if (value.replace(/\s/g, "").length % 4 !== 0 || !BASE64.test(value.replace(/\s/g, "")))
      c.fail(at, "is not valid base64 (use stringData for plain text)");
    keys.add(key);
  }
  c.stringMap("stringData", obj.stringData, configKey);
  for (const key of Object.keys(isPlainObject(obj.stringData) ? obj.stringData : {})) keys.add(key);
  c.boolean("immutable", obj.immutable);
  if (type === "kubernetes.io/tls") {
    for (const key of ["tls.crt", "tls.key"])
      if (!keys.has(key)) c.fail(`data[${JSON.stringify(key)}]`, "required for type kubernetes.io/tls");
  }
}

const NODE_ADDRESS_TYPES = ["Hostname", "ExternalIP", "InternalIP", "InternalDNS", "ExternalDNS"] as const;

function checkNode(c: Checker, obj: Json): void {
  const spec = c.object("spec", obj.spec);
  c.cidr("spec.podCIDR", spec?.podCIDR);
  for (const [i, cidr] of (c.list("spec.podCIDRs", spec?.podCIDRs) ?? []).entries())
    c.cidr(`spec.podCIDRs[${i}]`, cidr);
  c.boolean("spec.unschedulable", spec?.unschedulable);
  const status = c.object("status", obj.status);
  c.each("status.addresses", status?.addresses, (a, at) => {
    const type = c.oneOf(`${at}.type`, a.type, NODE_ADDRESS_TYPES, true);
    if (type === "InternalIP" || type === "ExternalIP") c.ip(`${at}.address`, a.address, true);
    else if (type === "Hostname" || type === "InternalDNS" || type === "ExternalDNS")
      c.name(`${at}.address`, a.address, dns1123Subdomain, true);
  });
  checkConditions(c, "status.conditions", status?.conditions);
}

const POD_PHASES = ["Pending", "Running", "Succeeded", "Failed", "Unknown"] as const;

function checkPod(c: Checker, obj: Json): void {
  const spec = c.object("spec", obj.spec);
  c.name("spec.hostname", spec?.hostname, dns1123Label);
  c.name("spec.subdomain", spec?.subdomain, dns1123Label);
  c.name("spec.nodeName", spec?.nodeName, dns1123Subdomain);
  c.boolean("spec.hostNetwork", spec?.hostNetwork);
  c.each("spec.containers", spec?.containers, (container, at) => {
    c.name(`${at}.name`, container.name, dns1123Label, true);
    c.each(`${at}.ports`, container.ports, (p, where) => {
      c.name(`${where}.name`, p.name, ianaSvcName);
      c.integer(`${where}.containerPort`, p.containerPort, PORT, true);
      c.oneOf(`${where}.protocol`, p.protocol, PROTOCOLS);
    });
  });
  const status = c.object("status", obj.status);
  c.oneOf("status.phase", status?.phase, POD_PHASES);
  const podIP = c.ip("status.podIP", status?.podIP);
  const ips: string[] = [];
  c.each("status.podIPs", status?.podIPs, (entry, at) => {
    const ip = c.ip(`${at}.ip`, entry.ip, true);
    if (ip) ips.push(ip);
  });
  if (ips.length > 2) c.fail("status.podIPs", "may hold at most two addresses, one per IP family");
  if (ips.length === 2 && isIP(ips[0]!) === isIP(ips[1]!))
    c.fail("status.podIPs[1]", "must be of the other IP family than status.podIPs[0]");
  if (podIP && ips.length > 0 && ips[0] !== podIP) c.fail("status.podIPs[0]", `must match status.podIP "${podIP}"`);
  checkConditions(c, "status.conditions", status?.conditions);
}

function checkConditions(c: Checker, field: string, v: unknown): void {
  c.each(field, v, (cond, at) => {
    c.string(`${at}.type`, cond.type, true);
    c.oneOf(`${at}.status`, cond.status, ["True", "False", "Unknown"], true);
  });
}

function isUnspecifiedIP(ip: string): boolean {
  return isIP(ip) === 4 ? ip === "0.0.0.0" : /^[0:]+$/.test(ip);
}
