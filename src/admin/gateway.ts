/**
 * The Gateway API objects as nodeplane sees them (admin API, `nodeplane get|describe`, dashboard): each with
 * the status nodeplane computed for it, and the part of the snapshot's gateway route tables that serves it.
 */
import type { Condition, GatewayApiStatus, RouteKind, RouteStatus } from "../model/gateway.ts";
import { ROUTE_KINDS } from "../model/gateway.ts";
import type { TypedObject } from "../model/meta.ts";
import type { GatewayHttpSocket, GatewayL4Socket, GatewayStatusSet } from "../snapshot/gateway.ts";
import type { TlsCertificate } from "../snapshot/ingress.ts";
import { type ApiInputs, complete, inNamespace, namespaceOf, sortByKey } from "./api.ts";
import type { ResourceInfo } from "./resources.ts";

export type GatewayResourceKind = Extract<
  ResourceInfo["kind"],
  "GatewayClass" | "Gateway" | RouteKind | "ReferenceGrant"
>;

type WithStatus = TypedObject & { status?: unknown };

/**
 * The objects of one Gateway API kind, each with its computed status: the status writer's (what it wrote, or
 * keeps in memory in manifests mode), else the translator's for objects of our class (snapshot), else the
 * object's own (another controller's, or none).
 */
export function listGatewayObjects(inputs: ApiInputs, kind: GatewayResourceKind, namespace?: string): TypedObject[] {
  const objects: WithStatus[] = [...inputs.store.list(kind)];
  const scoped = kind === "GatewayClass" ? objects : objects.filter((o) => inNamespace(o, namespace));
  return sortByKey(scoped).map((obj) => {
    const status = kind === "ReferenceGrant" ? undefined : computedStatus(inputs, kind, obj);
    return complete(status === undefined ? obj : { ...obj, status }, kind, inputs.ages);
  });
}

function computedStatus(inputs: ApiInputs, kind: GatewayApiStatus["kind"], obj: WithStatus): unknown {
  const ns = kind === "GatewayClass" ? "" : namespaceOf(obj);
  const name = obj.metadata?.name ?? "";
  const written = inputs.status.gatewayApiStatus?.(kind, ns, name);
  if (written) return written.status;
  const set = inputs.snapshot?.gateway?.status;
  const controller = inputs.gatewayController ?? "nodeplane.dev/gateway-controller";
  return (set && fromSnapshot(set, kind, ns, name, obj.status, controller)) ?? obj.status;
}

/** The translator's status for one object, merged as the writer would: other controllers' route parents kept. */
export function fromSnapshot(
  set: GatewayStatusSet,
  kind: GatewayApiStatus["kind"],
  namespace: string,
  name: string,
  current: unknown,
  controllerName: string,
): unknown {
  if (kind === "GatewayClass") {
    const entry = set.gatewayClasses.find((c) => c.name === name);
    if (!entry) return undefined;
    return {
      conditions: [...entry.conditions],
      supportedFeatures: entry.supportedFeatures.map((f) => ({ name: f })),
    };
  }
  if (kind === "Gateway") {
    const entry = set.gateways.find((g) => g.namespace === namespace && g.name === name);
    if (!entry) return undefined;
    return { addresses: [...entry.addresses], conditions: [...entry.conditions], listeners: [...entry.listeners] };
  }
  const entry = set.routes.find((r) => r.kind === kind && r.namespace === namespace && r.name === name);
  if (!entry) return undefined;
  const ours = entry.parents.map((p) => ({
    parentRef: p.parentRef,
    controllerName,
    conditions: [...p.conditions] as Condition[],
  }));
  // parents written by other controllers stay; ours (same parentRef) are replaced
  const others = ((current as RouteStatus | undefined)?.parents ?? []).filter(
    (p) => !entry.parents.some((o) => JSON.stringify(o.parentRef) === JSON.stringify(p.parentRef)),
  );
  return { parents: [...ours, ...others] };
}

/** A certificate as the admin API shows it: which Secret, for which hosts; never the PEM. */
export interface CertificateView {
  secret: string;
  hosts: readonly string[];
  subject: string;
  validTo: string;
}

export type HttpSocketView = Omit<GatewayHttpSocket, "certificates" | "defaultCertificate"> & {
  certificates: CertificateView[];
  defaultCertificate?: CertificateView;
};

/** The sockets (and within them the virtual hosts and rules) that serve one Gateway or one Route. */
export interface GatewayServing {
  http: HttpSocketView[];
  l4: GatewayL4Socket[];
}

/**
 * What serves a Gateway (the sockets its listeners are on, whole) or a Route (the sockets, virtual hosts and
 * rules compiled from it, and the L4 sockets forwarding to its backends).
 */
export function gatewayServing(
  inputs: ApiInputs,
  kind: "Gateway" | RouteKind,
  namespace: string,
  name: string,
): GatewayServing {
  const gw = inputs.snapshot?.gateway;
  if (!gw) return { http: [], l4: [] };
  if (kind === "Gateway") {
    const mine = (s: { listeners: readonly { namespace: string; gateway: string }[] }) =>
      s.listeners.some((l) => l.namespace === namespace && l.gateway === name);
    return { http: gw.http.filter(mine).map(socketView), l4: gw.l4.filter(mine) };
  }
  const isRoute = (r: { kind: string; namespace: string; name: string } | undefined) =>
    r !== undefined && r.kind === kind && r.namespace === namespace && r.name === name;
  const http: HttpSocketView[] = [];
  for (const socket of gw.http) {
    const hosts = socket.hosts
      .map((h) => ({ host: h.host, rules: h.rules.filter((r) => isRoute(r.route)) }))
      .filter((h) => h.rules.length > 0);
    if (hosts.length > 0) http.push({ ...socketView(socket), hosts });
  }
  const l4 = gw.l4
    .filter((s) => isRoute(s.route) || s.sni.some((e) => isRoute(e.route)))
    .map((s) => ({ ...s, sni: s.sni.filter((e) => isRoute(e.route)) }));
  return { http, l4 };
}

function socketView(socket: GatewayHttpSocket): HttpSocketView {
  const { certificates, defaultCertificate, ...rest } = socket;
  return {
    ...rest,
    certificates: certificates.map(certificateView),
    ...(defaultCertificate ? { defaultCertificate: certificateView(defaultCertificate) } : {}),
  };
}

function certificateView(c: TlsCertificate): CertificateView {
  return { secret: c.secret, hosts: c.hosts, subject: c.subject, validTo: c.validTo };
}

export function isRouteKind(kind: string): kind is RouteKind {
  return (ROUTE_KINDS as readonly string[]).includes(kind);
}
