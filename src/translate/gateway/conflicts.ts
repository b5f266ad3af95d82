import type { Problem } from "../../model/problems.ts";
import { covers } from "./hostnames.ts";
import type { ListenerInfo } from "./listeners.ts";

/**
 * What shares a socket: listeners of one category on one port can be told apart (by hostname, or SNI); two
 * categories on one TCP port cannot. HTTPS is served by the ingress plane and TLS passthrough by the service
 * plane, so they cannot share a port either (the spec lets an implementation call that incompatible), and
 * TLS Terminate next to Passthrough is the spec's ProtocolConflict (TLSRouteListenerMixedTerminationNotSupported).
 */
export function category(listener: ListenerInfo): string | undefined {
  switch (listener.protocol) {
    case "HTTP":
      return "http";
    case "HTTPS":
      return "https";
    case "TLS":
      return listener.tlsMode === "Passthrough" ? "tls" : "tls-terminate";
    case "TCP":
      return "tcp";
    case "UDP":
      return "udp";
    default:
      return undefined;
  }
}

/** UDP listeners use the port's UDP side, everything else its TCP side. */
export function transport(listener: ListenerInfo): "tcp" | "udp" {
  return listener.protocol === "UDP" ? "udp" : "tcp";
}

/**
 * Marks the conflicted listeners of one Gateway (gateway_types.go, "Handling indistinct Listeners"): on one
 * port and transport, more than one category → every listener there ProtocolConflict; in one category, the
 * same hostname twice (TCP/UDP: any two, they are told apart by port only) → those listeners
 * HostnameConflict. No winner is picked: all indistinct listeners are refused, as the spec requires.
 * Listeners already refused (unsupported protocol) take no part.
 */
export function markConflicts(listeners: readonly ListenerInfo[]): void {
  const byPort = new Map<string, ListenerInfo[]>();
  for (const l of listeners) {
    if (l.notAccepted?.reason === "UnsupportedProtocol" || category(l) === undefined) continue;
    const key = `${l.port}/${transport(l)}`;
    const list = byPort.get(key);
    if (list) list.push(l);
    else byPort.set(key, [l]);
  }
  for (const [key, group] of byPort) {
    const categories = new Set(group.map(category));
    if (categories.size > 1) {
      const names = group.map((l) => `${l.spec.name} (${l.protocol}${l.tlsMode ? ` ${l.tlsMode}` : ""})`).join(", ");
      for (const l of group)
        l.conflict = {
          reason: "ProtocolConflict",
          message: `port ${key.split("/")[0]} is claimed by listeners of incompatible protocols: ${names}`,
        };
      continue;
    }
    const byHost = new Map<string, ListenerInfo[]>();
    for (const l of group) {
      const list = byHost.get(l.hostname);
      if (list) list.push(l);
      else byHost.set(l.hostname, [l]);
    }
    for (const [host, same] of byHost) {
      if (same.length < 2) continue;
      const names = same.map((l) => l.spec.name).join(", ");
      for (const l of same)
        l.conflict = {
          reason: "HostnameConflict",
          message: `listeners ${names} share port ${l.port}, protocol ${l.protocol} and hostname "${host}"`,
        };
    }
  }
}

/** What the socket checks read of a Gateway (gateways.ts's GatewayInfo). */
interface SocketGateway {
  namespace: string;
  name: string;
  bind: readonly string[];
  listeners: ListenerInfo[];
  notAccepted?: unknown;
  notProgrammed?: unknown;
}

/** A listener the planes can serve: valid on its own, not conflicted, on a Gateway that is accepted and has addresses. */
export function servable(gateway: { notAccepted?: unknown; notProgrammed?: unknown }, l: ListenerInfo): boolean {
  if (gateway.notAccepted || gateway.notProgrammed || l.notAccepted || l.conflict || !l.protocol) return false;
  return l.protocol !== "HTTPS" || l.certificates.length > 0;
}

/**
 * Listeners of different Gateways binding the same address and port share its socket when they are of one
 * category and can be told apart the way that category is (HTTP/HTTPS by Host/SNI, TLS by SNI): the spec lets
 * an implementation merge Gateways whose listeners are compatible. Otherwise (another category, or TCP/UDP,
 * which forward a whole port) the older Gateway (creationTimestamp, then namespace/name) keeps the port and the
 * younger one's listener is Conflicted (ProtocolConflict), naming the Gateway that holds it.
 */
export function claimSockets(gateways: readonly SocketGateway[], problems: Problem[]): void {
  const owners = new Map<string, { category: string; owner: string }>();
  for (const gateway of gateways) {
    const me = `${gateway.namespace}/${gateway.name}`;
    for (const l of gateway.listeners) {
      if (!servable(gateway, l)) continue;
      const cat = category(l)!;
      for (const address of gateway.bind) {
        const key = `${address}|${l.port}|${transport(l)}`;
        const held = owners.get(key);
        if (!held) {
          owners.set(key, { category: cat, owner: me });
          continue;
        }
        if (held.owner === me) continue;
        if (held.category === cat && cat !== "tcp" && cat !== "udp") continue;
        l.conflict = {
          reason: "ProtocolConflict",
          message: `${address} port ${l.port} is served by Gateway ${held.owner} (${held.category}), which is older`,
        };
        problems.push({
          kind: "Gateway",
          namespace: gateway.namespace,
          name: gateway.name,
          field: `spec.listeners[${l.index}]`,
          message: `ProtocolConflict: ${l.conflict.message}`,
        });
        break;
      }
    }
  }
}

/**
 * OverlappingTLSConfig (gateway_types.go: "Controllers MUST detect the presence of overlapping hostnames"): HTTPS
 * listeners served on one address and port whose hostnames overlap (`*.example.com` and `foo.example.com`),
 * across the Gateways sharing the socket. A listener without a hostname is the socket's default and is not
 * counted as overlapping every other one. A negative-polarity condition: only set when true.
 */
export function markOverlappingTls(gateways: readonly SocketGateway[]): void {
  const bySocket = new Map<string, { listener: ListenerInfo; who: string }[]>();
  for (const gateway of gateways)
    for (const l of gateway.listeners) {
      if (l.protocol !== "HTTPS" || l.hostname === "" || !servable(gateway, l)) continue;
      for (const address of gateway.bind) {
        const key = `${address}|${l.port}`;
        const list = bySocket.get(key);
        const entry = { listener: l, who: `${gateway.namespace}/${gateway.name} ${l.spec.name}` };
        if (list) list.push(entry);
        else bySocket.set(key, [entry]);
      }
    }
  for (const list of bySocket.values())
    for (const a of list) {
      const others = list.filter(
        (b) =>
          b.listener !== a.listener &&
          b.listener.hostname !== a.listener.hostname &&
          (covers(a.listener.hostname, b.listener.hostname) || covers(b.listener.hostname, a.listener.hostname)),
      );
      if (others.length > 0 && !a.listener.overlapping)
        a.listener.overlapping = `hostname ${a.listener.hostname} overlaps ${others.map((o) => `${o.listener.hostname} (${o.who})`).join(", ")}`;
    }
}
