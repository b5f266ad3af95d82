/**
 * `nodeplane describe` for the Gateway API kinds: kubectl's fields, the computed conditions (per listener for a
 * Gateway, per parent for a Route), and what only nodeplane knows: the sockets, virtual hosts and compiled
 * rules that serve the object, with the resolved backends and their endpoints. Pure functions of what the
 * admin API returned.
 */
import type { GatewayServing } from "../admin/gateway.ts";
import { renderTable } from "../model/columns.ts";
import type { Condition, Gateway, GatewayListener, ParentReference, RouteStatus } from "../model/gateway.ts";
import type { TypedObject } from "../model/meta.ts";
import type { Problem } from "../model/problems.ts";
import type { HttpFilter, HttpRouteRule, L4Backend, WeightedBackend } from "../snapshot/gateway.ts";
import { type Field, fields, labelLines, problemsFor } from "./describe.ts";

const indent = (text: string, by = "  ") => text.trimEnd().replace(/^/gm, by);

/** Conditions as a table (kubectl describe prints them so for most kinds); `<none>` when there are none. */
export function conditionsTable(conditions: readonly Condition[] | undefined): string {
  if (!conditions || conditions.length === 0) return "<none>";
  const rows = conditions.map((c) => [c.type, c.status, c.reason, c.message]);
  return renderTable({ header: ["Type", "Status", "Reason", "Message"], rows }).trimEnd();
}

function head(obj: TypedObject, kind: string): (Field | string)[] {
  const list: (Field | string)[] = [["Name", obj.metadata?.name ?? ""]];
  if (kind !== "GatewayClass") list.push(["Namespace", obj.metadata?.namespace ?? "default"]);
  list.push(["Labels", labelLines(obj.metadata?.labels)], ["Annotations", labelLines(obj.metadata?.annotations)]);
  list.push(["API Version", obj.apiVersion ?? ""], ["Kind", kind]);
  return list;
}

function problemLines(problems: readonly Problem[], kind: string, obj: TypedObject): Field {
  const found = problemsFor(problems, kind, obj.metadata?.namespace ?? "default", obj.metadata?.name ?? "");
  return ["Problems", found.length === 0 ? "<none>" : found.join("\n")];
}

export interface GatewayDescription {
  gateway: Gateway;
  serving: GatewayServing;
  problems: readonly Problem[];
}

export function describeGateway(d: GatewayDescription): string {
  const gw = d.gateway;
  const ns = gw.metadata?.namespace ?? "default";
  const name = gw.metadata?.name ?? "";
  const list = head(gw, "Gateway");
  list.push(["Class", gw.spec?.gatewayClassName ?? ""]);
  const wanted = (gw.spec?.addresses ?? []).map((a) => `${a.value} (${a.type ?? "IPAddress"})`);
  if (wanted.length > 0) list.push(["Spec Addresses", wanted.join(", ")]);
  const addresses = (gw.status?.addresses ?? []).map((a) => a.value);
  list.push(["Addresses", addresses.length === 0 ? "<none>" : addresses.join(", ")]);
  list.push("Conditions:", indent(conditionsTable(gw.status?.conditions)));
  list.push("Listeners:");
  const statuses = gw.status?.listeners ?? [];
  for (const listener of gw.spec?.listeners ?? []) {
    const status = statuses.find((s) => s.name === listener.name);
    const sockets = [
      ...d.serving.http.filter((s) => has(s.listeners, ns, name, listener.name)).map((s) => `${s.id} (${s.protocol})`),
      ...d.serving.l4.filter((s) => has(s.listeners, ns, name, listener.name)).map((s) => s.id),
    ];
    const lines: (Field | string)[] = [
      [
        "Protocol",
        `${listener.protocol} port ${listener.port}${listener.tls?.mode ? ` (TLS ${listener.tls.mode})` : ""}`,
      ],
      ["Hostname", listener.hostname ?? "*"],
      ["Allowed Routes", allowedRoutes(listener.allowedRoutes)],
    ];
    if (listener.tls?.certificateRefs?.length)
      lines.push([
        "Certificates",
        listener.tls.certificateRefs.map((c) => `${c.namespace ?? ns}/${c.name}`).join(", "),
      ]);
    lines.push(["Socket", sockets.length === 0 ? "<none> (not served)" : sockets.join(", ")]);
    lines.push(["Attached Routes", status ? String(status.attachedRoutes) : "<unknown>"]);
    lines.push([
      "Supported Kinds",
      status ? status.supportedKinds.map((k) => k.kind).join(", ") || "<none>" : "<unknown>",
    ]);
    lines.push("Conditions:", indent(conditionsTable(status?.conditions)));
    list.push(`  ${listener.name}:`, indent(fields(lines), "    "));
  }
  if ((gw.spec?.listeners ?? []).length === 0) list.push("  <none>");
  const rows: string[][] = [];
  for (const socket of d.serving.http)
    for (const vhost of socket.hosts) {
      const routes = [
        ...new Set(vhost.rules.map((r) => `${r.route.kind.toLowerCase()}/${r.route.namespace}/${r.route.name}`)),
      ];
      rows.push([socket.id, vhost.host || "*", routes.join(", ") || "<none>", String(vhost.rules.length)]);
    }
  for (const socket of d.serving.l4) {
    if (socket.route) rows.push([socket.id, "*", routeName(socket.route), String(socket.backends.length)]);
    for (const entry of socket.sni)
      rows.push([socket.id, entry.host || "*", routeName(entry.route), String(entry.backends.length)]);
  }
  if (rows.length === 0) list.push(["Routes", "<none>"]);
  else list.push("Routes:", indent(renderTable({ header: ["Socket", "Host", "Routes", "Rules"], rows })));
  list.push(problemLines(d.problems, "Gateway", gw));
  return fields(list);
}

function has(
  listeners: readonly { namespace: string; gateway: string; listener: string }[],
  ns: string,
  gateway: string,
  listener: string,
): boolean {
  return listeners.some((l) => l.namespace === ns && l.gateway === gateway && l.listener === listener);
}

function allowedRoutes(allowed: GatewayListener["allowedRoutes"]): string {
  const from = allowed?.namespaces?.from ?? "Same";
  const kinds = (allowed?.kinds ?? []).map((k) => k.kind);
  return `from ${from} namespaces${kinds.length > 0 ? `, kinds ${kinds.join(", ")}` : ""}`;
}

function routeName(r: { kind: string; namespace: string; name: string }): string {
  return `${r.kind.toLowerCase()}/${r.namespace}/${r.name}`;
}

/** The Routes' shape as describe reads it (HTTPRoute, GRPCRoute and the L4 kinds share parentRefs/hostnames/rules). */
export interface RouteObject extends TypedObject {
  spec?: { parentRefs?: ParentReference[]; hostnames?: string[]; rules?: unknown[] };
  status?: RouteStatus;
}

export interface RouteDescription {
  kind: string;
  route: RouteObject;
  serving: GatewayServing;
  problems: readonly Problem[];
}

export function describeRoute(d: RouteDescription): string {
  const r = d.route;
  const ns = r.metadata?.namespace ?? "default";
  const list = head(r, d.kind);
  if (d.kind !== "TCPRoute" && d.kind !== "UDPRoute")
    list.push(["Hostnames", (r.spec?.hostnames ?? []).join(", ") || "<any>"]);
  list.push("Parents:");
  const parents = r.status?.parents ?? [];
  for (const ref of r.spec?.parentRefs ?? []) {
    const status = parents.find((p) => sameParent(p.parentRef, ref, ns));
    const lines: (Field | string)[] = [
      ["Controller", status?.controllerName || "<none: no controller has accepted it>"],
    ];
    lines.push("Conditions:", indent(conditionsTable(status?.conditions)));
    list.push(`  ${parentName(ref, ns)}:`, indent(fields(lines), "    "));
  }
  if ((r.spec?.parentRefs ?? []).length === 0) list.push("  <none>");
  list.push(["Rules", String((r.spec?.rules ?? []).length)]);
  const rows: string[][] = [];
  for (const socket of d.serving.http)
    for (const vhost of socket.hosts)
      for (const rule of vhost.rules)
        rows.push([
          socket.id,
          vhost.host || "*",
          matchText(rule),
          filtersText(rule.filters),
          backendsText(rule.backends),
        ]);
  for (const socket of d.serving.l4) {
    if (socket.route) rows.push([socket.id, "*", socket.protocol, "", l4BackendsText(socket.backends)]);
    for (const entry of socket.sni)
      rows.push([socket.id, entry.host || "*", "SNI", "", l4BackendsText(entry.backends)]);
  }
  if (rows.length === 0) list.push(["Served On", "<none> (not attached to a listener nodeplane serves)"]);
  else
    list.push(
      "Served On (in precedence order per host):",
      indent(renderTable({ header: ["Socket", "Host", "Match", "Filters", "Backends"], rows })),
    );
  list.push(problemLines(d.problems, d.kind, r));
  return fields(list);
}

function sameParent(a: ParentReference, b: ParentReference, routeNamespace: string): boolean {
  return (
    a.name === b.name &&
    (a.namespace ?? routeNamespace) === (b.namespace ?? routeNamespace) &&
    (a.kind ?? "Gateway") === (b.kind ?? "Gateway") &&
    (a.sectionName ?? "") === (b.sectionName ?? "") &&
    (a.port ?? 0) === (b.port ?? 0)
  );
}

function parentName(ref: ParentReference, routeNamespace: string): string {
  let text = `${(ref.kind ?? "Gateway").toLowerCase()}/${ref.namespace ?? routeNamespace}/${ref.name}`;
  if (ref.sectionName) text += ` section ${ref.sectionName}`;
  if (ref.port) text += ` port ${ref.port}`;
  return text;
}

/** `PathPrefix /foo GET header x=1 query a=b` */
export function matchText(rule: HttpRouteRule): string {
  const parts = [`${rule.path.type} ${rule.path.value}`];
  if (rule.method) parts.push(rule.method);
  for (const h of rule.headers) parts.push(`header ${h.name}${h.type === "Exact" ? "=" : "~"}${h.value}`);
  for (const q of rule.queryParams) parts.push(`query ${q.name}${q.type === "Exact" ? "=" : "~"}${q.value}`);
  return parts.join(" ");
}

export function filtersText(filters: readonly HttpFilter[]): string {
  if (filters.length === 0) return "";
  return filters
    .map((f) => {
      switch (f.type) {
        case "RequestRedirect":
          return `redirect ${f.statusCode}${f.scheme ? ` ${f.scheme}://` : ""}${f.hostname ?? ""}${f.port ? `:${f.port}` : ""}${f.path ? ` ${f.path.type} ${f.path.value}` : ""}`;
        case "URLRewrite":
          return `rewrite${f.hostname ? ` host ${f.hostname}` : ""}${f.path ? ` ${f.path.type} ${f.path.value}` : ""}`;
        case "RequestMirror":
          return `mirror ${f.backend.id} ${f.percent}%`;
        default:
          return f.type;
      }
    })
    .join(", ");
}

/** `default/s1:80 (127.244.1.1:8080) w=1` per backend; an invalid reference says so. */
export function backendsText(backends: readonly WeightedBackend[]): string {
  if (backends.length === 0) return "<none>: 500";
  return backends
    .map((b) => {
      if (!b.target) return `<invalid reference> w=${b.weight}`;
      const eps = b.target.endpoints.map((e) => (e.ip.includes(":") ? `[${e.ip}]:${e.port}` : `${e.ip}:${e.port}`));
      const proto = b.appProtocol === "http" ? "" : ` ${b.appProtocol}`;
      return `${b.target.id} (${eps.length === 0 ? "<no endpoints>" : eps.join(",")})${proto} w=${b.weight}`;
    })
    .join("; ");
}

function l4BackendsText(backends: readonly L4Backend[]): string {
  if (backends.length === 0) return "<none>";
  return backends
    .map((b) => {
      if (!b.target) return `<invalid reference> w=${b.weight}`;
      const eps = b.target.endpoints.map((e) => `${e.ip}:${e.port}`);
      return `${b.target.id} (${eps.length === 0 ? "<no endpoints>" : eps.join(",")}) w=${b.weight}`;
    })
    .join("; ");
}

/** GatewayClass, ReferenceGrant: the fields, spec and status conditions. */
export function describeGatewayObject(
  kind: string,
  obj: TypedObject & { spec?: unknown; status?: unknown },
  problems: readonly Problem[],
): string {
  const list = head(obj, kind);
  const spec = obj.spec as Record<string, unknown> | undefined;
  if (kind === "GatewayClass") {
    list.push(["Controller Name", String(spec?.controllerName ?? "")]);
    if (spec?.description) list.push(["Description", String(spec.description)]);
    const status = obj.status as
      | { conditions?: Condition[]; supportedFeatures?: ({ name: string } | string)[] }
      | undefined;
    list.push("Conditions:", indent(conditionsTable(status?.conditions)));
    const features = (status?.supportedFeatures ?? []).map((f) => (typeof f === "string" ? f : f.name));
    list.push(["Supported Features", features.length === 0 ? "<none>" : features.join("\n")]);
  } else if (kind === "ReferenceGrant") {
    const grant = spec as
      | {
          from?: { group: string; kind: string; namespace: string }[];
          to?: { group: string; kind: string; name?: string }[];
        }
      | undefined;
    list.push([
      "From",
      (grant?.from ?? []).map((f) => `${f.kind}.${f.group || "core"} in ${f.namespace}`).join("\n") || "<none>",
    ]);
    list.push([
      "To",
      (grant?.to ?? [])
        .map((t) => `${t.kind}.${t.group || "core"}${t.name ? ` ${t.name}` : " (any name)"}`)
        .join("\n") || "<none>",
    ]);
  }
  list.push(problemLines(problems, kind, obj));
  return fields(list);
}
