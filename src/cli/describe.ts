/**
 * `nodeplane describe` text, close to `kubectl describe`, plus what only nodeplane knows: the frontends
 * the service proxy answers on, with their action (forward, reject = connection refused, drop).
 * Pure functions of the objects fetched from the admin API.
 */

import { formatLabels, listWithMore, loadBalancerColumn, renderTable, serviceType } from "../model/columns.ts";
import type { EndpointSlice, Ingress, IngressBackend, Service, ServicePort } from "../model/k8s.ts";
import { formatProblem, type Problem } from "../model/problems.ts";
import type { ServicePortSnapshot } from "../snapshot/snapshot.ts";

export type Field = [label: string, value: string];

/** `Label:  value` lines aligned on the longest label; multi-line values continue under the value column. */
export function fields(list: readonly (Field | string)[]): string {
  const width = Math.max(...list.filter((f): f is Field => typeof f !== "string").map(([l]) => l.length + 1)) + 2;
  return list
    .map((f) => {
      if (typeof f === "string") return f;
      const [label, value] = f;
      const [first = "", ...rest] = value.split("\n");
      return [`${label}:`.padEnd(width) + first, ...rest.map((line) => " ".repeat(width) + line)]
        .map((line) => line.trimEnd())
        .join("\n");
    })
    .map((line) => `${line}\n`)
    .join("");
}

/** kubectl prints labels and annotations one `k=v` per line. */
export function labelLines(labels: Record<string, string> | undefined): string {
  const keys = Object.keys(labels ?? {}).sort();
  return keys.length === 0 ? "<none>" : keys.map((k) => `${k}=${labels![k]}`).join("\n");
}

/** Ready addresses `ip:port` from the slices for one Service port (matched by port name and protocol). */
export function readyEndpointsFor(slices: readonly EndpointSlice[], port: ServicePort): string[] {
  const name = port.name ?? "";
  const protocol = port.protocol || "TCP";
  const out: string[] = [];
  for (const slice of slices) {
    const match = (slice.ports ?? []).find((p) => (p.name ?? "") === name && (p.protocol || "TCP") === protocol);
    if (match?.port === undefined) continue;
    for (const ep of slice.endpoints ?? []) {
      if (ep.conditions?.ready === false) continue;
      for (const address of ep.addresses ?? [])
        out.push(address.includes(":") ? `[${address}]:${match.port}` : `${address}:${match.port}`);
    }
  }
  return out;
}

export function problemsFor(problems: readonly Problem[], kind: string, namespace: string, name: string): string[] {
  return problems
    .filter((p) => p.kind === kind && (p.namespace ?? "default") === namespace && p.name === name)
    .map(formatProblem);
}

/** spec.ipFamilies, or (manifests without them) the families of the cluster IPs, as the API server would set. */
function ipFamilies(families: readonly string[] | undefined, clusterIPs: readonly string[]): string {
  if (families?.length) return families.join(",");
  const derived = clusterIPs
    .filter((ip) => ip !== "None" && ip !== "")
    .map((ip) => (ip.includes(":") ? "IPv6" : "IPv4"));
  return derived.length > 0 ? derived.join(",") : "<none>";
}

export interface ServiceDescription {
  service: Service;
  /** the Service's EndpointSlices */
  slices: readonly EndpointSlice[];
  /** the service proxy's entries for this Service */
  servicePorts: readonly ServicePortSnapshot[];
  problems: readonly Problem[];
}

export function describeService(d: ServiceDescription): string {
  const svc = d.service;
  const spec = svc.spec ?? {};
  const namespace = svc.metadata?.namespace ?? "default";
  const name = svc.metadata?.name ?? "";
  const type = serviceType(svc);
  const list: (Field | string)[] = [
    ["Name", name],
    ["Namespace", namespace],
    ["Labels", labelLines(svc.metadata?.labels)],
    ["Annotations", labelLines(svc.metadata?.annotations)],
    ["Selector", formatLabels(spec.selector)],
    ["Type", type],
  ];
  if (type === "ExternalName") list.push(["External Name", spec.externalName ?? ""]);
  if (spec.ipFamilyPolicy) list.push(["IP Family Policy", spec.ipFamilyPolicy]);
  list.push(["IP Families", ipFamilies(spec.ipFamilies, spec.clusterIPs ?? (spec.clusterIP ? [spec.clusterIP] : []))]);
  list.push(["IP", spec.clusterIP || "<none>"]);
  if (spec.clusterIPs?.length) list.push(["IPs", spec.clusterIPs.join(",")]);
  if (spec.externalIPs?.length) list.push(["External IPs", spec.externalIPs.join(",")]);
  if (spec.loadBalancerIP) list.push(["IP", spec.loadBalancerIP]);
  const lb = loadBalancerColumn(svc.status?.loadBalancer?.ingress, true);
  if (type === "LoadBalancer") list.push(["LoadBalancer Ingress", lb || "<pending>"]);
  for (const port of spec.ports ?? []) {
    const protocol = port.protocol || "TCP";
    list.push(["Port", `${port.name || "<unset>"}  ${port.port}/${protocol}`]);
    const target = port.targetPort ?? port.port;
    list.push(["TargetPort", `${target}/${protocol}`]);
    if (port.nodePort) list.push(["NodePort", `${port.name || "<unset>"}  ${port.nodePort}/${protocol}`]);
    const endpoints = readyEndpointsFor(d.slices, port);
    list.push(["Endpoints", endpoints.length === 0 ? "<none>" : listWithMore(endpoints)]);
  }
  list.push(["Session Affinity", spec.sessionAffinity || "None"]);
  if (spec.sessionAffinity === "ClientIP")
    list.push(["Session Affinity Timeout", `${spec.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? 10800}s`]);
  if (type === "NodePort" || type === "LoadBalancer")
    list.push(["External Traffic Policy", spec.externalTrafficPolicy || "Cluster"]);
  list.push(["Internal Traffic Policy", spec.internalTrafficPolicy || "Cluster"]);
  if (spec.healthCheckNodePort) list.push(["HealthCheck NodePort", String(spec.healthCheckNodePort)]);
  if (spec.loadBalancerSourceRanges?.length)
    list.push(["LoadBalancer Source Ranges", spec.loadBalancerSourceRanges.join(",")]);
  if (spec.trafficDistribution) list.push(["Traffic Distribution", spec.trafficDistribution]);

  const frontends = d.servicePorts.flatMap((sp) =>
    sp.frontends.map((f) => {
      const endpoints = f.endpoints === "cluster" ? sp.clusterEndpoints : sp.externalEndpoints;
      const address = f.ip.includes(":") ? `[${f.ip}]:${f.port}` : `${f.ip}:${f.port}`;
      return [f.kind, `${address}/${f.protocol}`, f.action, String(endpoints.length)];
    }),
  );
  if (frontends.length === 0) list.push(["Frontends", "<none>"]);
  else {
    list.push("Frontends:");
    const table = renderTable({ header: ["KIND", "ADDRESS", "ACTION", "ENDPOINTS"], rows: frontends });
    list.push(table.trimEnd().replace(/^/gm, "  "));
  }
  const problems = problemsFor(d.problems, "Service", namespace, name);
  list.push(["Problems", problems.length === 0 ? "<none>" : problems.join("\n")]);
  return fields(list);
}

export interface IngressDescription {
  ingress: Ingress;
  /** Services of the Ingress's namespace, to resolve backend ports */
  services: readonly Service[];
  /** EndpointSlices of the Ingress's namespace */
  slices: readonly EndpointSlice[];
  problems: readonly Problem[];
}

/** `svc:port (ep1,ep2)` as kubectl describes an Ingress backend. */
export function describeBackend(
  backend: IngressBackend | undefined,
  services: readonly Service[],
  slices: readonly EndpointSlice[],
): string {
  if (!backend) return "<default>";
  if (backend.resource)
    return `APIGroup: ${backend.resource.apiGroup ?? ""}, Kind: ${backend.resource.kind}, Name: ${backend.resource.name}`;
  const ref = backend.service;
  if (!ref) return "<none>";
  const portText = ref.port?.name ?? String(ref.port?.number ?? "");
  const head = `${ref.name}:${portText}`;
  const svc = services.find((s) => s.metadata?.name === ref.name);
  if (!svc) return `${head} (<error: services "${ref.name}" not found>)`;
  const port = (svc.spec?.ports ?? []).find((p) =>
    ref.port?.name !== undefined ? p.name === ref.port.name : p.port === ref.port?.number,
  );
  if (!port) return `${head} (<error: port not found on service "${ref.name}">)`;
  const owned = slices.filter((s) => s.metadata?.labels?.["kubernetes.io/service-name"] === ref.name);
  const endpoints = readyEndpointsFor(owned, port);
  return `${head} (${endpoints.length === 0 ? "<none>" : listWithMore(endpoints)})`;
}

export function describeIngress(d: IngressDescription): string {
  const ing = d.ingress;
  const spec = ing.spec ?? {};
  const namespace = ing.metadata?.namespace ?? "default";
  const name = ing.metadata?.name ?? "";
  const list: (Field | string)[] = [
    ["Name", name],
    ["Labels", labelLines(ing.metadata?.labels)],
    ["Namespace", namespace],
    ["Address", loadBalancerColumn(ing.status?.loadBalancer?.ingress, true)],
    ["Ingress Class", spec.ingressClassName ?? "<none>"],
    ["Default backend", describeBackend(spec.defaultBackend, d.services, d.slices)],
  ];
  if (spec.tls?.length) {
    list.push("TLS:");
    for (const tls of spec.tls)
      list.push(`  ${tls.secretName ?? "<default certificate>"} terminates ${(tls.hosts ?? ["*"]).join(",")}`);
  }
  list.push("Rules:");
  const rows: string[][] = [["----", "----", "--------"]];
  for (const rule of spec.rules ?? []) {
    const host = rule.host || "*";
    const paths = rule.http?.paths ?? [];
    if (paths.length === 0) {
      rows.push([host, "", describeBackend(spec.defaultBackend, d.services, d.slices)]);
      continue;
    }
    rows.push([host, "", ""]);
    for (const path of paths) rows.push(["", path.path || "/", describeBackend(path.backend, d.services, d.slices)]);
  }
  if ((spec.rules ?? []).length === 0)
    rows.push(["*", "*", describeBackend(spec.defaultBackend, d.services, d.slices)]);
  list.push(
    renderTable({ header: ["Host", "Path", "Backends"], rows })
      .trimEnd()
      .replace(/^/gm, "  "),
  );
  list.push(["Annotations", labelLines(ing.metadata?.annotations)]);
  const problems = problemsFor(d.problems, "Ingress", namespace, name);
  list.push(["Problems", problems.length === 0 ? "<none>" : problems.join("\n")]);
  return fields(list);
}

export function describeEndpointSlice(slice: EndpointSlice): string {
  const list: (Field | string)[] = [
    ["Name", slice.metadata?.name ?? ""],
    ["Namespace", slice.metadata?.namespace ?? "default"],
    ["Labels", labelLines(slice.metadata?.labels)],
    ["Annotations", labelLines(slice.metadata?.annotations)],
    ["AddressType", slice.addressType ?? ""],
  ];
  const ports = slice.ports ?? [];
  if (ports.length === 0) list.push(["Ports", "<unset>"]);
  else {
    list.push("Ports:");
    const rows = ports.map((p) => [
      p.name || "<unset>",
      p.port === undefined ? "<unset>" : String(p.port),
      p.protocol || "TCP",
    ]);
    list.push(
      renderTable({ header: ["Name", "Port", "Protocol"], rows })
        .trimEnd()
        .replace(/^/gm, "  "),
    );
  }
  const endpoints = slice.endpoints ?? [];
  if (endpoints.length === 0) list.push(["Endpoints", "<none>"]);
  else {
    list.push("Endpoints:");
    const rows = endpoints.map((e) => {
      const c = e.conditions ?? {};
      const flag = (v: boolean | undefined, unset: string) => (v === undefined ? unset : String(v));
      return [
        (e.addresses ?? []).join(","),
        flag(c.ready, "true"),
        flag(c.serving, flag(c.ready, "true")),
        flag(c.terminating, "false"),
        e.targetRef ? `${e.targetRef.kind ?? "Pod"}/${e.targetRef.name ?? ""}` : "<none>",
        e.nodeName ?? "<unset>",
        e.zone ?? "<unset>",
      ];
    });
    const header = ["Addresses", "Ready", "Serving", "Terminating", "TargetRef", "NodeName", "Zone"];
    list.push(renderTable({ header, rows }).trimEnd().replace(/^/gm, "  "));
  }
  return fields(list);
}
