/**
 * kubectl's table columns for Services, EndpointSlices and Ingresses, as pure functions of the objects.
 * They follow kubectl's printers (pkg/printers/internalversion) so `nodeplane get` reads like `kubectl get`.
 * Shared by `nodeplane get`/`describe` (cli/) and the dashboard (admin/), so it lives beside the object shapes
 * rather than in either of them (cli/ already reads admin/'s API types).
 *
 * Functions marked "self-contained" are also shipped to the dashboard page as source text: they must not
 * use imports or module-level values.
 */
import type { Condition, Gateway, GatewayClass } from "./gateway.ts";
import type { EndpointSlice, Ingress, LoadBalancerIngress, Service } from "./k8s.ts";

/** kubectl's duration.HumanDuration: `45s`, `3m20s`, `15m`, `5h10m`, `2d4h`, `400d`, `3y20d`. */
export function humanDuration(ms: number): string {
  const seconds = Math.trunc(ms / 1000); // Go truncates toward zero
  if (seconds < -1) return "<invalid>";
  if (seconds < 0) return "0s";
  if (seconds < 60 * 2) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) return seconds % 60 === 0 ? `${minutes}m` : `${minutes}m${seconds % 60}s`;
  if (minutes < 60 * 3) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) return minutes % 60 === 0 ? `${hours}h` : `${hours}h${minutes % 60}m`;
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8)
    return hours % 24 === 0 ? `${Math.floor(hours / 24)}d` : `${Math.floor(hours / 24)}d${hours % 24}h`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24)}d`;
  if (hours < 24 * 365 * 8) {
    const days = Math.floor(hours / 24) % 365;
    const years = Math.floor(hours / 24 / 365);
    return days === 0 ? `${years}y` : `${years}y${days}d`;
  }
  return `${Math.floor(hours / 24 / 365)}y`;
}

/** The AGE column: time since creationTimestamp, `<unknown>` without one. */
export function age(creationTimestamp: string | undefined, now: Date): string {
  const created = creationTimestamp ? Date.parse(creationTimestamp) : Number.NaN;
  if (Number.isNaN(created)) return "<unknown>";
  return humanDuration(now.getTime() - created);
}

/** PORT(S): `80/TCP`, `1234:31234/TCP` with a nodePort, comma-separated; `<none>` without ports. Self-contained. */
export function servicePortsColumn(svc: Service): string {
  const ports = svc.spec?.ports ?? [];
  if (ports.length === 0) return "<none>";
  return ports
    .map((p) => {
      const protocol = p.protocol || "TCP";
      return p.nodePort ? `${p.port}:${p.nodePort}/${protocol}` : `${p.port}/${protocol}`;
    })
    .join(",");
}

/** CLUSTER-IP: the clusterIP (`None` for headless), `<none>` when there is none (ExternalName). Self-contained. */
export function clusterIPColumn(svc: Service): string {
  return svc.spec?.clusterIP || "<none>";
}

/** Service type with the API default filled in. Self-contained. */
export function serviceType(svc: Service): string {
  return svc.spec?.type || "ClusterIP";
}

/** kubectl's loadBalancerStatusStringer: IPs/hostnames comma-separated, cut to 16 characters unless wide. */
export function loadBalancerColumn(ingress: readonly LoadBalancerIngress[] | undefined, wide: boolean): string {
  const text = (ingress ?? [])
    .map((i) => i.ip || i.hostname || "")
    .filter((s) => s !== "")
    .join(",");
  return !wide && text.length > 16 ? `${text.slice(0, 13)}...` : text;
}

/** EXTERNAL-IP as kubectl prints it: externalIPs, LoadBalancer ingress or `<pending>`, `<none>`, the ExternalName. */
export function externalIPColumn(svc: Service, wide: boolean): string {
  const externalIPs = svc.spec?.externalIPs ?? [];
  switch (serviceType(svc)) {
    case "ClusterIP":
    case "NodePort":
      return externalIPs.length > 0 ? externalIPs.join(",") : "<none>";
    case "LoadBalancer": {
      const lb = loadBalancerColumn(svc.status?.loadBalancer?.ingress, wide);
      if (externalIPs.length > 0) return [...(lb ? lb.split(",") : []), ...externalIPs].join(",");
      return lb || "<pending>";
    }
    case "ExternalName":
      return svc.spec?.externalName ?? "";
    default:
      return "<unknown>";
  }
}

/** kubectl's labels.FormatLabels: `a=1,b=2` sorted by key, `<none>` when empty. */
export function formatLabels(labels: Record<string, string> | undefined): string {
  const keys = Object.keys(labels ?? {}).sort();
  if (keys.length === 0) return "<none>";
  return keys.map((k) => `${k}=${labels![k]}`).join(",");
}

/** The first `max` entries, then ` + N more...`; `<unset>` when empty (kubectl's listWithMoreString). */
export function listWithMore(items: readonly string[], max = 3): string {
  if (items.length === 0) return "<unset>";
  const shown = items.slice(0, max).join(",");
  return items.length > max ? `${shown} + ${items.length - max} more...` : shown;
}

/** EndpointSlice PORTS: port numbers (name when unset, `*` when neither). */
export function slicePortsColumn(slice: EndpointSlice): string {
  return listWithMore((slice.ports ?? []).map((p) => (p.port !== undefined ? String(p.port) : (p.name ?? "*"))));
}

/** EndpointSlice ENDPOINTS: the addresses, first three. */
export function sliceEndpointsColumn(slice: EndpointSlice): string {
  return listWithMore((slice.endpoints ?? []).flatMap((e) => e.addresses ?? []));
}

/** Ingress HOSTS: rule hosts, first three, `*` when no rule names a host. */
export function ingressHostsColumn(ing: Ingress): string {
  const rules = ing.spec?.rules ?? [];
  const hosts = rules
    .slice(0, 3)
    .map((r) => r.host ?? "")
    .filter((h) => h !== "");
  if (hosts.length === 0) return "*";
  return rules.length > 3 ? `${hosts.join(",")} + ${rules.length - 3} more...` : hosts.join(",");
}

/** Ingress PORTS: kubectl prints `80` or `80, 443` when the Ingress has TLS. */
export function ingressPortsColumn(ing: Ingress): string {
  return (ing.spec?.tls ?? []).length > 0 ? "80, 443" : "80";
}

export interface TableOptions {
  wide: boolean;
  allNamespaces: boolean;
  now: Date;
}

export interface Table {
  header: string[];
  rows: string[][];
}

export function servicesTable(services: readonly Service[], o: TableOptions): Table {
  const header = ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE", ...(o.wide ? ["SELECTOR"] : [])];
  const rows = services.map((svc) => [
    svc.metadata?.name ?? "",
    serviceType(svc),
    clusterIPColumn(svc),
    externalIPColumn(svc, o.wide),
    servicePortsColumn(svc),
    age(svc.metadata?.creationTimestamp, o.now),
    ...(o.wide ? [formatLabels(svc.spec?.selector)] : []),
  ]);
  return withNamespace({ header, rows }, services, o);
}

export function endpointSlicesTable(slices: readonly EndpointSlice[], o: TableOptions): Table {
  const header = ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"];
  const rows = slices.map((s) => [
    s.metadata?.name ?? "",
    s.addressType ?? "",
    slicePortsColumn(s),
    sliceEndpointsColumn(s),
    age(s.metadata?.creationTimestamp, o.now),
  ]);
  return withNamespace({ header, rows }, slices, o);
}

export function ingressesTable(ingresses: readonly Ingress[], o: TableOptions): Table {
  const header = ["NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS", "AGE"];
  const rows = ingresses.map((ing) => [
    ing.metadata?.name ?? "",
    ing.spec?.ingressClassName ?? "<none>",
    ingressHostsColumn(ing),
    loadBalancerColumn(ing.status?.loadBalancer?.ingress, o.wide),
    ingressPortsColumn(ing),
    age(ing.metadata?.creationTimestamp, o.now),
  ]);
  return withNamespace({ header, rows }, ingresses, o);
}

/** `.status.conditions[?(@.type=="T")].status` as the CRDs' printer columns read it ("" when absent). Self-contained. */
export function conditionStatus(conditions: readonly Condition[] | undefined, type: string): string {
  return (conditions ?? []).find((c) => c.type === type)?.status ?? "";
}

/** A JSONPath column on a list value: kubectl prints it as JSON (`["foo.bar.com"]`), "" when unset. */
function jsonColumn(value: readonly string[] | undefined): string {
  return value === undefined ? "" : JSON.stringify(value);
}

/** GatewayClass, from its CRD's additionalPrinterColumns: NAME CONTROLLER ACCEPTED AGE (wide: DESCRIPTION). */
export function gatewayClassesTable(classes: readonly GatewayClass[], o: TableOptions): Table {
  const header = ["NAME", "CONTROLLER", "ACCEPTED", "AGE", ...(o.wide ? ["DESCRIPTION"] : [])];
  const rows = classes.map((c) => [
    c.metadata?.name ?? "",
    c.spec?.controllerName ?? "",
    conditionStatus(c.status?.conditions, "Accepted"),
    age(c.metadata?.creationTimestamp, o.now),
    ...(o.wide ? [c.spec?.description ?? ""] : []),
  ]);
  // cluster-scoped: no NAMESPACE column even with -A, as kubectl
  return { header, rows };
}

/** Gateway: NAME CLASS ADDRESS PROGRAMMED AGE (ADDRESS = `.status.addresses[*].value`, comma-separated). */
export function gatewaysTable(gateways: readonly Gateway[], o: TableOptions): Table {
  const header = ["NAME", "CLASS", "ADDRESS", "PROGRAMMED", "AGE"];
  const rows = gateways.map((g) => [
    g.metadata?.name ?? "",
    g.spec?.gatewayClassName ?? "",
    (g.status?.addresses ?? []).map((a) => a.value).join(","),
    conditionStatus(g.status?.conditions, "Programmed"),
    age(g.metadata?.creationTimestamp, o.now),
  ]);
  return withNamespace({ header, rows }, gateways, o);
}

/** HTTPRoute and GRPCRoute: NAME HOSTNAMES AGE. */
export function hostnameRoutesTable(
  routes: readonly {
    metadata?: { name?: string; namespace?: string; creationTimestamp?: string };
    spec?: { hostnames?: string[] };
  }[],
  o: TableOptions,
): Table {
  const header = ["NAME", "HOSTNAMES", "AGE"];
  const rows = routes.map((r) => [
    r.metadata?.name ?? "",
    jsonColumn(r.spec?.hostnames),
    age(r.metadata?.creationTimestamp, o.now),
  ]);
  return withNamespace({ header, rows }, routes, o);
}

/** TLSRoute, TCPRoute, UDPRoute, ReferenceGrant: their CRDs print NAME AGE only. */
export function nameAgeTable(
  objects: readonly { metadata?: { name?: string; namespace?: string; creationTimestamp?: string } }[],
  o: TableOptions,
): Table {
  const rows = objects.map((x) => [x.metadata?.name ?? "", age(x.metadata?.creationTimestamp, o.now)]);
  return withNamespace({ header: ["NAME", "AGE"], rows }, objects, o);
}

function withNamespace(
  table: Table,
  objects: readonly { metadata?: { namespace?: string } }[],
  o: TableOptions,
): Table {
  if (!o.allNamespaces) return table;
  return {
    header: ["NAMESPACE", ...table.header],
    rows: table.rows.map((row, i) => [objects[i]?.metadata?.namespace ?? "default", ...row]),
  };
}

/** Left-aligned columns separated by three spaces, the last one unpadded (kubectl's tabwriter settings). */
export function renderTable(table: Table): string {
  const all = [table.header, ...table.rows];
  const widths = table.header.map((_, col) => Math.max(...all.map((row) => (row[col] ?? "").length)));
  return all
    .map((row) =>
      row
        .map((cell, col) => (col === row.length - 1 ? cell : cell.padEnd(widths[col]! + 3)))
        .join("")
        .trimEnd(),
    )
    .map((line) => `${line}\n`)
    .join("");
}
