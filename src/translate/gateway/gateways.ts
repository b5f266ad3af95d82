import type { Gateway, GatewayAddress } from "../../model/gateway.ts";
import type { Problem } from "../../model/problems.ts";
import type { NodeSnapshot } from "../../snapshot/snapshot.ts";
import type { Store } from "../../store/store.ts";
import type { TranslateOptions } from "../options.ts";
import { ipFamily } from "../services/ip.ts";
import type { ClassVerdict } from "./classes.ts";
import { markConflicts } from "./conflicts.ts";
import { objects } from "./input.ts";
import { analyzeListener, type CertificateCache, type Fault, type ListenerInfo } from "./listeners.ts";
import type { ReferenceGrants } from "./references.ts";

/** One Gateway of one of our classes, validated, with its listeners. */
export interface GatewayInfo {
  key: string;
  gateway: Gateway;
  namespace: string;
  name: string;
  generation?: number;
  created: string;
  /** Accepted=False for the whole Gateway (class not accepted, UnsupportedAddress) */
  notAccepted?: Fault;
  /** Programmed=False for the whole Gateway (AddressNotUsable) */
  notProgrammed?: Fault;
  /** the addresses its listeners bind */
  bind: readonly string[];
  /** what status.addresses reports */
  addresses: readonly GatewayAddress[];
  listeners: ListenerInfo[];
}

/** A Gateway's info before its analysis: its identity, no addresses, no listeners, no faults. */
export function newGatewayInfo(key: string, gateway: Gateway): GatewayInfo {
  const info: GatewayInfo = {
    key,
    gateway,
    namespace: gateway.metadata?.namespace ?? "default",
    name: gateway.metadata?.name ?? "",
    created: gateway.metadata?.creationTimestamp ?? "",
    bind: [],
    addresses: [],
    listeners: [],
  };
  if (gateway.metadata?.generation !== undefined) info.generation = gateway.metadata.generation;
  return info;
}

export function analyzeGateway(
  store: Store,
  grants: ReferenceGrants,
  key: string,
  gateway: Gateway,
  verdict: ClassVerdict,
  options: TranslateOptions,
  node: NodeSnapshot,
  cache: CertificateCache,
  problems: Problem[],
): GatewayInfo {
  const info = newGatewayInfo(key, gateway);
  const { namespace, name } = info;
  const report = (field: string, message: string) =>
    problems.push({ kind: "Gateway", namespace, name, field, message });
  if (!verdict.accepted) {
    info.notAccepted = { reason: "Invalid", message: `GatewayClass ${verdict.name} is not accepted` };
    return info;
  }

  const bind: string[] = [];
  for (const [i, address] of objects(gateway.spec?.addresses).entries()) {
    const type = address.type ?? "IPAddress";
    if (type !== "IPAddress") {
      const message = `address type ${type} is not supported (IPAddress only)`;
      info.notAccepted ??= { reason: "UnsupportedAddress", message };
      report(`spec.addresses[${i}].type`, message);
    } else if (!address.value) {
      // an IPAddress without a value asks the implementation to pick one: --gateway-address
      if (!bind.includes(options.gatewayAddress)) bind.push(options.gatewayAddress);
    } else if (ipFamily(address.value) === undefined) {
      const message = `"${address.value}" is not an IP address`;
      info.notProgrammed ??= { reason: "AddressNotUsable", message };
      report(`spec.addresses[${i}].value`, message);
    } else {
      const value = normalizeIp(address.value);
      if (!bind.includes(value)) bind.push(value);
    }
  }
  if (objects(gateway.spec?.addresses).length === 0) bind.push(options.gatewayAddress);
  if (!info.notAccepted && !info.notProgrammed) {
    info.bind = bind;
    info.addresses = statusAddresses(bind, options, node);
  }

  info.listeners = objects(gateway.spec?.listeners).map((l, i) =>
    analyzeListener(store, grants, gateway, l, i, cache, problems),
  );
  markConflicts(info.listeners);
  for (const l of info.listeners)
    if (l.conflict) report(`spec.listeners[${l.index}]`, `${l.conflict.reason}: ${l.conflict.message}`);
  return info;
}

/** A listener's socket id part: IPv6 in brackets. */
export function hostPort(address: string, port: number): string {
  return ipFamily(address) === 6 ? `[${address}]:${port}` : `${address}:${port}`;
}

function normalizeIp(value: string): string {
  if (ipFamily(value) !== 6) return value;
  try {
    return new URL(`http://[${value}]/`).hostname.slice(1, -1);
  } catch {
    return value;
  }
}

/**
 * status.addresses: the bound addresses; an unspecified one (0.0.0.0, ::) stands for every node address, so it
 * reports --publish-address when set, else the node's addresses of that family.
 */
function statusAddresses(bind: readonly string[], options: TranslateOptions, node: NodeSnapshot): GatewayAddress[] {
  const out: string[] = [];
  const add = (ip: string) => {
    if (!out.includes(ip)) out.push(ip);
  };
  for (const address of bind) {
    if (address === "0.0.0.0" || address === "::") {
      if (options.publishAddresses.length > 0) options.publishAddresses.forEach(add);
      else for (const ip of node.addresses) if (address === "::" || ipFamily(ip) === 4) add(ip);
    } else add(address);
  }
  return out.map((value) => ({ type: "IPAddress", value }));
}
