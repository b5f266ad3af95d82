/**
 * The dashboard's browser code. Every function here is shipped to the page as source text
 * (`Function.prototype.toString`), so each must be self-contained: no imports at run time, no module-level
 * values; they may call each other and the format functions declared below, which the page also carries.
 * Rendering functions return HTML strings and escape every value that comes from an object.
 */
import type {
  clusterIPColumn as ClusterIPColumn,
  externalIPColumn as ExternalIPColumn,
  servicePortsColumn as ServicePortsColumn,
  serviceType as ServiceType,
} from "../model/columns.ts";
import type { Condition, Gateway, RouteStatus } from "../model/gateway.ts";
import type { EndpointSlice, Ingress, Service } from "../model/k8s.ts";
import type { Problem } from "../model/problems.ts";
import type { ServicePortSnapshot } from "../snapshot/snapshot.ts";
import type { TrafficRow } from "./api.ts";

// Shipped alongside (see dashboard.ts), so they are in scope on the page.
declare const servicePortsColumn: typeof ServicePortsColumn;
declare const clusterIPColumn: typeof ClusterIPColumn;
declare const externalIPColumn: typeof ExternalIPColumn;
declare const serviceType: typeof ServiceType;

export function escapeHtml(value: unknown): string {
  return String(value ?? "")
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

/** A table from a header and rows of already-escaped cells; `empty` when there are no rows. */
export function htmlTable(header: string[], rows: string[][], empty: string): string {
  if (rows.length === 0) return `<p class="empty">${escapeHtml(empty)}</p>`;
  const head = header.map((h) => `<th>${escapeHtml(h)}</th>`).join("");
  const body = rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join("")}</tr>`).join("");
  return `<table><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}

/** Ready and total endpoints per Service `namespace/name`, from the EndpointSlices. */
export function endpointCounts(slices: EndpointSlice[]): Record<string, { ready: number; total: number }> {
  const counts: Record<string, { ready: number; total: number }> = {};
  for (const slice of slices) {
    const service = slice.metadata?.labels?.["kubernetes.io/service-name"];
    if (!service) continue;
    const key = `${slice.metadata?.namespace ?? "default"}/${service}`;
    const c = counts[key] ?? { ready: 0, total: 0 };
    for (const ep of slice.endpoints ?? []) {
      c.total++;
      if (ep.conditions?.ready !== false) c.ready++;
    }
    counts[key] = c;
  }
  return counts;
}

/** The service proxy's frontends per Service `namespace/name`: `kind ip:port/proto` with the action as a class. */
export function frontendsByService(ports: ServicePortSnapshot[]): Record<string, string> {
  const out: Record<string, string[]> = {};
  for (const sp of ports) {
    const key = `${sp.namespace}/${sp.name}`;
    out[key] ??= [];
    for (const f of sp.frontends) {
      const cls = f.action === "forward" ? "ok" : f.action === "drop" ? "warn" : "bad";
      const address = f.ip.includes(":") ? `[${f.ip}]:${f.port}` : `${f.ip}:${f.port}`;
      out[key].push(
        `<span class="${cls}" title="${escapeHtml(`${f.kind}: ${f.action}`)}">${escapeHtml(`${address}/${f.protocol}`)}</span>`,
      );
    }
  }
  const html: Record<string, string> = {};
  for (const key of Object.keys(out)) html[key] = (out[key] ?? []).join("<br>");
  return html;
}

export function renderServices(services: Service[], slices: EndpointSlice[], ports: ServicePortSnapshot[]): string {
  const counts = endpointCounts(slices);
  const frontends = frontendsByService(ports);
  const rows = services.map((svc) => {
    const ns = svc.metadata?.namespace ?? "default";
    const name = svc.metadata?.name ?? "";
    const c = counts[`${ns}/${name}`] ?? { ready: 0, total: 0 };
    const headless = svc.spec?.clusterIP === "None" || serviceType(svc) === "ExternalName";
    const cls = headless ? "" : c.ready > 0 ? "ok" : "bad";
    return [
      escapeHtml(ns),
      `<b>${escapeHtml(name)}</b>`,
      escapeHtml(serviceType(svc)),
      escapeHtml(clusterIPColumn(svc)),
      escapeHtml(externalIPColumn(svc, true)),
      escapeHtml(servicePortsColumn(svc)),
      `<span class="${cls}">${c.ready}/${c.total}</span>`,
      frontends[`${ns}/${name}`] || "<i>none</i>",
    ];
  });
  const header = [
    "Namespace",
    "Name",
    "Type",
    "Cluster IP",
    "External IP",
    "Ports",
    "Endpoints ready/total",
    "Proxy frontends",
  ];
  return htmlTable(header, rows, "No Services.");
}

export function renderEndpointSlices(slices: EndpointSlice[]): string {
  const rows = slices.map((slice) => {
    const ports = (slice.ports ?? [])
      .map((p) => `${p.name ? `${p.name}:` : ""}${p.port ?? "*"}/${p.protocol || "TCP"}`)
      .join(", ");
    const endpoints = (slice.endpoints ?? [])
      .map((ep) => {
        const c = ep.conditions ?? {};
        const state = c.ready !== false ? "ok" : c.serving ? "warn" : "bad";
        const title = `ready=${c.ready !== false} serving=${c.serving ?? c.ready !== false} terminating=${c.terminating === true}${ep.targetRef?.name ? ` pod=${ep.targetRef.name}` : ""}`;
        return `<span class="${state}" title="${escapeHtml(title)}">${escapeHtml((ep.addresses ?? []).join(","))}</span>`;
      })
      .join(" ");
    return [
      escapeHtml(slice.metadata?.namespace ?? "default"),
      escapeHtml(slice.metadata?.name ?? ""),
      escapeHtml(slice.metadata?.labels?.["kubernetes.io/service-name"] ?? "<none>"),
      escapeHtml(slice.addressType ?? ""),
      escapeHtml(ports || "<unset>"),
      endpoints || "<i>none</i>",
    ];
  });
  return htmlTable(["Namespace", "Name", "Service", "Address type", "Ports", "Endpoints"], rows, "No EndpointSlices.");
}

export function renderIngresses(ingresses: Ingress[]): string {
  const rows: string[][] = [];
  for (const ing of ingresses) {
    const spec = ing.spec ?? {};
    const address = (ing.status?.loadBalancer?.ingress ?? []).map((i) => i.ip || i.hostname || "").join(",");
    const tlsHosts = (spec.tls ?? []).flatMap((t) => t.hosts ?? []);
    const backend = (b: { service?: { name: string; port?: { number?: number; name?: string } } } | undefined) =>
      b?.service ? `${b.service.name}:${b.service.port?.name ?? b.service.port?.number ?? ""}` : "<default>";
    const common = (host: string) => [
      escapeHtml(ing.metadata?.namespace ?? "default"),
      escapeHtml(ing.metadata?.name ?? ""),
      escapeHtml(spec.ingressClassName ?? "<none>"),
      escapeHtml(host || "*") + (host && tlsHosts.includes(host) ? ' <span class="tag">TLS</span>' : ""),
    ];
    for (const rule of spec.rules ?? []) {
      for (const path of rule.http?.paths ?? [])
        rows.push([
          ...common(rule.host ?? ""),
          escapeHtml(`${path.path || "/"} (${path.pathType ?? "ImplementationSpecific"})`),
          escapeHtml(backend(path.backend)),
          escapeHtml(address),
        ]);
    }
    if (spec.defaultBackend)
      rows.push([...common(""), "<i>default</i>", escapeHtml(backend(spec.defaultBackend)), escapeHtml(address)]);
  }
  return htmlTable(["Namespace", "Ingress", "Class", "Host", "Path", "Backend", "Address"], rows, "No Ingress routes.");
}

/** A Route as the dashboard reads it (any Route kind; `kind` set by the admin API). */
export interface DashboardRoute {
  kind?: string;
  metadata?: { name?: string; namespace?: string };
  spec?: {
    parentRefs?: { name: string; namespace?: string; kind?: string; sectionName?: string; port?: number }[];
    hostnames?: string[];
  };
  status?: RouteStatus;
}

/** One condition as a badge: green when it is True, red (with the reason and message) otherwise. */
export function conditionBadge(conditions: readonly Condition[] | undefined, type: string): string {
  const c = (conditions ?? []).find((x) => x.type === type);
  if (!c) return `<span class="warn" title="no ${escapeHtml(type)} condition">${escapeHtml(type)}?</span>`;
  const good = type === "Conflicted" ? c.status === "False" : c.status === "True";
  const text = good ? type : `${type}: ${c.status} (${c.reason})`;
  return `<span class="${good ? "ok" : "bad"}" title="${escapeHtml(c.message)}">${escapeHtml(text)}</span>`;
}

/**
 * The Gateways, a row per listener (programmed or not, attached routes), and under each listener the Routes whose
 * parentRefs select it, with their Accepted and ResolvedRefs for that parent. Anything not True is red.
 */
export function renderGateways(gateways: Gateway[], routes: DashboardRoute[]): string {
  const rows: string[][] = [];
  for (const gw of gateways) {
    const ns = gw.metadata?.namespace ?? "default";
    const name = gw.metadata?.name ?? "";
    const addresses = (gw.status?.addresses ?? []).map((a) => a.value).join(", ");
    const gwCell =
      `<b>${escapeHtml(`${ns}/${name}`)}</b> <span class="tag">${escapeHtml(gw.spec?.gatewayClassName ?? "")}</span><br>` +
      `${conditionBadge(gw.status?.conditions, "Accepted")} ${conditionBadge(gw.status?.conditions, "Programmed")}` +
      (addresses ? `<br>${escapeHtml(addresses)}` : "");
    const listeners = gw.spec?.listeners ?? [];
    if (listeners.length === 0) rows.push([gwCell, '<span class="bad">no listeners</span>', "", ""]);
    for (const [i, l] of listeners.entries()) {
      const status = (gw.status?.listeners ?? []).find((x) => x.name === l.name);
      const listenerCell = `<b>${escapeHtml(l.name)}</b> ${escapeHtml(`${l.protocol}:${l.port}`)}${
        l.hostname ? ` ${escapeHtml(l.hostname)}` : ""
      }`;
      const stateCell = status
        ? `${conditionBadge(status.conditions, "Programmed")} ${conditionBadge(status.conditions, "Accepted")} ${conditionBadge(
            status.conditions,
            "ResolvedRefs",
          )}<br>${escapeHtml(status.attachedRoutes)} attached`
        : '<span class="warn">no status</span>';
      const attached: string[] = [];
      for (const r of routes) {
        const rns = r.metadata?.namespace ?? "default";
        for (const ref of r.spec?.parentRefs ?? []) {
          if ((ref.kind ?? "Gateway") !== "Gateway" || ref.name !== name || (ref.namespace ?? rns) !== ns) continue;
          if (ref.sectionName !== undefined && ref.sectionName !== l.name) continue;
          if (ref.port !== undefined && ref.port !== l.port) continue;
          const parent = (r.status?.parents ?? []).find(
            (p) =>
              p.parentRef.name === ref.name &&
              (p.parentRef.namespace ?? rns) === (ref.namespace ?? rns) &&
              p.parentRef.sectionName === ref.sectionName &&
              p.parentRef.port === ref.port,
          );
          const hosts = (r.spec?.hostnames ?? []).join(", ");
          attached.push(
            `${escapeHtml(`${r.kind ?? "Route"} ${rns}/${r.metadata?.name ?? ""}`)}${hosts ? ` <i>${escapeHtml(hosts)}</i>` : ""} ` +
              `${conditionBadge(parent?.conditions, "Accepted")} ${conditionBadge(parent?.conditions, "ResolvedRefs")}`,
          );
        }
      }
      rows.push([
        i === 0 ? gwCell : "",
        listenerCell,
        stateCell,
        attached.length > 0 ? attached.join("<br>") : '<span class="empty">no routes</span>',
      ]);
    }
  }
  return htmlTable(["Gateway", "Listener", "State", "Routes"], rows, "No Gateways.");
}

export function renderProblems(problems: Problem[]): string {
  if (problems.length === 0) return '<p class="empty ok">No problems.</p>';
  const items = problems.map((p) => {
    const who = `${p.kind} ${p.namespace ? `${p.namespace}/` : ""}${p.name ?? "?"}`;
    return `<li><b>${escapeHtml(who)}</b>${p.origin ? ` <i>${escapeHtml(p.origin)}</i>` : ""}${
      p.field ? ` <code>${escapeHtml(p.field)}</code>` : ""
    }: ${escapeHtml(p.message)}</li>`;
  });
  return `<ul class="problems">${items.join("")}</ul>`;
}

export function renderTraffic(rows: TrafficRow[]): string {
  const body = rows.map((row) => [
    escapeHtml(row.kind),
    `<b>${escapeHtml(row.key)}</b>`,
    Object.keys(row.metrics)
      .sort()
      .map((m) => `${escapeHtml(m.replace(/^nodeplane_/, ""))} <b>${escapeHtml(row.metrics[m])}</b>`)
      .join("<br>"),
  ]);
  return htmlTable(["Kind", "Object", "Counters"], body, "No traffic counted yet.");
}

export interface DashboardStatus {
  ready: boolean;
  source: string;
  healthy: boolean;
  generation: number;
  node?: { name: string };
}

export function renderStatus(status: DashboardStatus | null, error: string, at: string): string {
  if (!status) return `<span class="bad">${escapeHtml(error || "admin server unreachable")}</span> · ${escapeHtml(at)}`;
  return [
    status.ready ? '<span class="ok">ready</span>' : '<span class="bad">not ready</span>',
    `source ${escapeHtml(status.source)}${status.healthy ? "" : ' <span class="bad">(out of sync)</span>'}`,
    `node ${escapeHtml(status.node?.name ?? "?")}`,
    `snapshot #${escapeHtml(status.generation)}`,
    `updated ${escapeHtml(at)}`,
  ].join(" · ");
}

/** Minimal view of the page the poller writes to, so tests can run it without a DOM. */
export interface DashboardDocument {
  getElementById(id: string): { innerHTML: string } | null;
}

export type DashboardFetch = (url: string) => Promise<{ ok: boolean; json(): Promise<unknown> }>;

/** Fetches every API document once and renders the page sections. Resolves when the page is updated. */
export async function refreshDashboard(doc: DashboardDocument, fetchJson: DashboardFetch): Promise<void> {
  const get = async (url: string): Promise<unknown> => {
    const res = await fetchJson(url);
    return res.ok ? res.json() : null;
  };
  const set = (id: string, html: string) => {
    const el = doc.getElementById(id);
    if (el) el.innerHTML = html;
  };
  const at = new Date().toLocaleTimeString();
  let docs: unknown[];
  try {
    docs = await Promise.all(
      [
        "api/status",
        "api/v1/services",
        "api/v1/endpointslices",
        "api/v1/ingresses",
        "api/problems",
        "api/traffic",
        "api/serviceports",
        "api/v1/gateways",
        "api/v1/httproutes",
        "api/v1/grpcroutes",
        "api/v1/tlsroutes",
        "api/v1/tcproutes",
        "api/v1/udproutes",
      ].map(get),
    );
  } catch (err) {
    set("status", renderStatus(null, `admin server unreachable (${err instanceof Error ? err.message : err})`, at));
    return;
  }
  const [status, services, slices, ingresses, problems, traffic, ports, gateways, ...routeLists] = docs as [
    DashboardStatus | null,
    { items: Service[] } | null,
    { items: EndpointSlice[] } | null,
    { items: Ingress[] } | null,
    { problems: Problem[] } | null,
    { traffic: TrafficRow[] } | null,
    { servicePorts: ServicePortSnapshot[] } | null,
    { items: Gateway[] } | null,
    ...({ items: DashboardRoute[] } | null)[],
  ];
  set("status", renderStatus(status, "", at));
  if (!services || !slices || !ingresses) {
    set("services", '<p class="empty">Waiting for the first sync…</p>');
    return;
  }
  set("services", renderServices(services.items, slices.items, ports?.servicePorts ?? []));
  set("endpointslices", renderEndpointSlices(slices.items));
  set("ingresses", renderIngresses(ingresses.items));
  const routes = routeLists.flatMap((list) => list?.items ?? []);
  set("gateways", renderGateways(gateways?.items ?? [], routes));
  set("problems", renderProblems(problems?.problems ?? []));
  set("traffic", renderTraffic(traffic?.traffic ?? []));
}
