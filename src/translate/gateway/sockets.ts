import type {
  GatewayHttpSocket,
  GatewayL4Socket,
  GatewayVirtualHost,
  HttpRouteRule,
  L4Backend,
  RouteRef,
} from "../../snapshot/gateway.ts";
import type { TlsCertificate } from "../../snapshot/ingress.ts";
import type { Attachment } from "./attach.ts";
import { servable } from "./conflicts.ts";
import { type GatewayInfo, hostPort } from "./gateways.ts";
import { bySpecificity, covers, specificity } from "./hostnames.ts";
import type { ListenerInfo } from "./listeners.ts";
import { sortRules } from "./precedence.ts";
import type { RouteInfo } from "./routes.ts";

interface SocketDraft {
  id: string;
  address: string;
  port: number;
  protocol: "HTTP" | "HTTPS" | "TCP" | "UDP" | "TLS";
  listeners: ListenerInfo[];
}

/**
 * The sockets the servable listeners ask for, one per (address, port[, protocol]), in a stable order (port,
 * then address), with what each serves. `gateways` come oldest first, so listener order on a shared socket
 * (and the default certificate) does not depend on the order the store lists them.
 *
 * Listener isolation (GatewayHTTPListenerIsolation): a request is served by the listener whose hostname matches
 * its host most specifically, and only by that listener's routes. The plane picks the most specific virtual
 * host and never falls back to another, so the table is built to make the two agree: every listener hostname
 * gets a virtual host (empty when no route serves it: 404 rather than a less specific listener's routes), a
 * route's effective hostname makes no virtual host when a more specific listener on the socket covers it
 * (requests for it belong to that listener), and each virtual host holds the rules of its owning listener's
 * routes only (rulesFor). Listeners of different Gateways with the same hostname on one socket (Gateways merged
 * on one address) pool their routes, ordered by the spec's precedence.
 */
export function buildSockets(
  gateways: readonly GatewayInfo[],
  attachments: readonly Attachment[],
  previousHosts: ReadonlyMap<string, GatewayVirtualHost> = new Map(),
): { http: GatewayHttpSocket[]; l4: GatewayL4Socket[]; hosts: Map<string, GatewayVirtualHost> } {
  const hosts = new Map<string, GatewayVirtualHost>();
  const drafts = new Map<string, SocketDraft>();
  for (const gateway of gateways) {
    for (const l of gateway.listeners) {
      if (!servable(gateway, l) || !l.protocol) continue;
      for (const address of gateway.bind) {
        const base = hostPort(address, l.port);
        const id = l.protocol === "HTTP" || l.protocol === "HTTPS" ? base : `${base}/${l.protocol}`;
        let draft = drafts.get(id);
        if (!draft) {
          draft = { id, address, port: l.port, protocol: l.protocol, listeners: [] };
          drafts.set(id, draft);
        }
        draft.listeners.push(l);
      }
    }
  }
  const byListener = new Map<ListenerInfo, Attachment[]>();
  for (const a of attachments) {
    const list = byListener.get(a.listener);
    if (list) list.push(a);
    else byListener.set(a.listener, [a]);
  }

  const http: GatewayHttpSocket[] = [];
  const l4: GatewayL4Socket[] = [];
  const ordered = [...drafts.values()].sort((a, b) => a.port - b.port || compare(a.id, b.id));
  for (const draft of ordered) {
    const listeners = draft.listeners.map((l) => l.ref);
    if (draft.protocol === "HTTP" || draft.protocol === "HTTPS") {
      const socket: GatewayHttpSocket = {
        id: draft.id,
        address: draft.address,
        port: draft.port,
        protocol: draft.protocol,
        listeners,
        hosts: virtualHosts(draft.listeners, byListener).map((vhost) => {
          // the previous object when its rules are the same objects, so the plane can keep what it built from it
          const id = `${draft.id}|${vhost.host}`;
          const before = previousHosts.get(id);
          const kept = before && sameList(before.rules, vhost.rules) ? before : vhost;
          hosts.set(id, kept);
          return kept;
        }),
        certificates: [],
      };
      if (draft.protocol === "HTTPS") addCertificates(socket, draft.listeners);
      http.push(socket);
    } else if (draft.protocol === "TLS") {
      l4.push({ ...l4Base(draft, listeners), sni: sniRoutes(draft.listeners, byListener) });
    } else {
      const routes = draft.listeners.flatMap((l) => byListener.get(l) ?? []).map((a) => a.route);
      const oldest = routes.sort(byAge)[0];
      const socket: GatewayL4Socket = { ...l4Base(draft, listeners), backends: oldest ? oldest.backends : [] };
      if (oldest) socket.route = routeRef(oldest);
      l4.push(socket);
    }
  }
  return { http, l4, hosts };
}

function l4Base(draft: SocketDraft, listeners: GatewayL4Socket["listeners"]): GatewayL4Socket {
  return {
    id: draft.id,
    address: draft.address,
    port: draft.port,
    protocol: draft.protocol as "TCP" | "UDP" | "TLS",
    listeners,
    backends: [],
    sni: [],
  };
}

/** Is `host`, offered by a listener with hostname `own`, claimed by a more specific listener of the socket? */
function shadowed(own: string, host: string, listenerHosts: readonly string[]): boolean {
  const mine = specificity(own);
  return listenerHosts.some((other) => other !== own && specificity(other) > mine && covers(other, host));
}

function virtualHosts(
  listeners: readonly ListenerInfo[],
  byListener: ReadonlyMap<ListenerInfo, Attachment[]>,
): GatewayVirtualHost[] {
  const listenerHosts = [...new Set(listeners.map((l) => l.hostname))];
  const names = new Set(listenerHosts);
  for (const l of listeners)
    for (const a of byListener.get(l) ?? [])
      for (const h of a.hosts) if (!shadowed(l.hostname, h, listenerHosts)) names.add(h);
  return [...names]
    .sort(bySpecificity)
    .map((host) => ({ host, rules: rulesFor(host, listeners, listenerHosts, byListener) }));
}

/**
 * The rules serving `host`: those of the Routes attached to the listener(s) owning it (the most specific
 * listener hostname covering it), grouped by the Route hostname through which they match it, most specific
 * first (HTTPRoute hostnames: "precedence must be given to rules from the HTTPRoute with the largest number of
 * characters in a matching non-wildcard hostname", then in a matching hostname), each group in the rules'
 * own precedence order. So `foo.example.com` tries the rules of Routes naming it, then those of Routes naming
 * `*.example.com`, then those of Routes without hostnames, before answering 404.
 */
function rulesFor(
  host: string,
  listeners: readonly ListenerInfo[],
  listenerHosts: readonly string[],
  byListener: ReadonlyMap<ListenerInfo, Attachment[]>,
): HttpRouteRule[] {
  const owner = listenerHosts.filter((l) => covers(l, host)).sort(bySpecificity)[0];
  if (owner === undefined) return [];
  const groups = new Map<string, Map<RouteInfo, readonly HttpRouteRule[]>>();
  const seen = new Set<RouteInfo>();
  for (const l of listeners) {
    if (l.hostname !== owner) continue;
    for (const a of byListener.get(l) ?? []) {
      // the most specific of the Route's hostnames that covers `host` places it
      const through = a.hosts.filter((e) => covers(e, host) || e === host).sort(bySpecificity)[0];
      if (through === undefined) continue;
      let group = groups.get(through);
      if (!group) {
        group = new Map();
        groups.set(through, group);
      }
      group.set(a.route, a.route.rules);
    }
  }
  const rules: HttpRouteRule[] = [];
  for (const through of [...groups.keys()].sort(bySpecificity)) {
    const fresh: HttpRouteRule[] = [];
    for (const [route, list] of groups.get(through)!) {
      if (seen.has(route)) continue;
      seen.add(route);
      fresh.push(...list);
    }
    rules.push(...sortRules(fresh));
  }
  return rules;
}

/**
 * HTTPS certificates: a listener with a hostname serves its certificates for that hostname (SNI); the first
 * listener without one (else the first listener) provides the default certificate, served when no SNI matches.
 */
function addCertificates(socket: GatewayHttpSocket, listeners: readonly ListenerInfo[]): void {
  const certificates: TlsCertificate[] = [];
  for (const l of listeners) {
    if (l.hostname) for (const c of l.certificates) if (!certificates.includes(c)) certificates.push(c);
  }
  socket.certificates = certificates;
  const fallback = listeners.find((l) => l.hostname === "") ?? listeners[0];
  const first = fallback?.certificates[0];
  if (first) socket.defaultCertificate = first;
}

/** TLS passthrough: each effective hostname goes to the oldest Route claiming it, most specific host first. */
function sniRoutes(
  listeners: readonly ListenerInfo[],
  byListener: ReadonlyMap<ListenerInfo, Attachment[]>,
): GatewayL4Socket["sni"] {
  const listenerHosts = [...new Set(listeners.map((l) => l.hostname))];
  const claims = new Map<string, RouteInfo>();
  for (const l of listeners) {
    for (const a of byListener.get(l) ?? []) {
      for (const h of a.hosts) {
        if (shadowed(l.hostname, h, listenerHosts)) continue;
        const held = claims.get(h);
        if (!held || byAge(a.route, held) < 0) claims.set(h, a.route);
      }
    }
  }
  return [...claims.keys()].sort(bySpecificity).map((host) => {
    const route = claims.get(host)!;
    return { host, route: routeRef(route), backends: route.backends as L4Backend[] };
  });
}

function routeRef(route: RouteInfo): RouteRef {
  return { kind: route.kind, namespace: route.namespace, name: route.name };
}

/** Oldest first (creationTimestamp), then namespace/name: the spec's tie-break, whatever the input order. */
export function byAge(a: { created: string; key: string }, b: { created: string; key: string }): number {
  const ta = Date.parse(a.created);
  const tb = Date.parse(b.created);
  const x = Number.isNaN(ta) ? Number.POSITIVE_INFINITY : ta;
  const y = Number.isNaN(tb) ? Number.POSITIVE_INFINITY : tb;
  if (x !== y) return x < y ? -1 : 1;
  return compare(a.key, b.key);
}

function sameList<T>(a: readonly T[], b: readonly T[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
