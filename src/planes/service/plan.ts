import { isIPv6 } from "node:net";
import type { Endpoint, FrontendKind, L4Protocol, SessionAffinity, Snapshot } from "../../translate/snapshot.ts";

/**
 * Pure planning for the service plane: which sockets should exist for a snapshot, and which
 * endpoint pools they balance over. The plane diffs this plan against what is running.
 */

/** The Service port a pool or listener belongs to, for logs and metric labels. */
export interface PortRef {
  namespace: string;
  name: string;
  portName: string;
  protocol: L4Protocol;
}

/** One endpoint list with its balancing settings: a Service port's cluster or external endpoints. */
export interface PoolPlan {
  /** `${servicePortId}|cluster|4`: the port, which list (cluster or external), which IP family */
  id: string;
  ref: PortRef;
  endpoints: readonly Endpoint[];
  sessionAffinity: SessionAffinity;
}

/** One socket: a (protocol, ip, port) that forwards over a pool or resets every connection. */
export interface ListenerPlan {
  key: string;
  ip: string;
  port: number;
  protocol: L4Protocol;
  kind: FrontendKind;
  action: "forward" | "drop";
  poolId: string;
  /** loadBalancerSourceRanges; empty = any source */
  sourceRanges: readonly string[];
}

export interface ServicePlan {
  listeners: Map<string, ListenerPlan>;
  pools: Map<string, PoolPlan>;
  /** one line per frontend that could not be served because another port already claims its socket */
  conflicts: string[];
}

export function listenerKey(protocol: L4Protocol, ip: string, port: number): string {
  return `${protocol} ${isIPv6(ip) ? `[${ip}]` : ip}:${port}`;
}

export function endpointKey(endpoint: Pick<Endpoint, "ip" | "port">): string {
  return isIPv6(endpoint.ip) ? `[${endpoint.ip}]:${endpoint.port}` : `${endpoint.ip}:${endpoint.port}`;
}

export function portLabel(ref: Pick<PortRef, "namespace" | "name" | "portName">): string {
  return `${ref.namespace}/${ref.name}${ref.portName ? `:${ref.portName}` : ""}`;
}

/**
 * Frontends become listeners: `forward` with at least one endpoint and `drop` get a socket;
 * `reject` (and a `forward` left without endpoints) get none, so the kernel refuses the connection.
 * When two ports claim the same socket the first in snapshot order keeps it.
 */
export function planService(snapshot: Pick<Snapshot, "servicePorts">): ServicePlan {
  const listeners = new Map<string, ListenerPlan>();
  const pools = new Map<string, PoolPlan>();
  const owners = new Map<string, string>();
  const conflicts: string[] = [];
  for (const sp of snapshot.servicePorts) {
    const ref: PortRef = { namespace: sp.namespace, name: sp.name, portName: sp.portName, protocol: sp.protocol };
    for (const fe of sp.frontends) {
      if (fe.action === "reject") continue;
      const family = isIPv6(fe.ip) ? 6 : 4;
      const endpoints = uniqueEndpoints(
        sameFamily(fe.endpoints === "cluster" ? sp.clusterEndpoints : sp.externalEndpoints, family),
      );
      if (fe.action === "forward" && endpoints.length === 0) continue;
      const key = listenerKey(fe.protocol, fe.ip, fe.port);
      const owner = owners.get(key);
      if (owner !== undefined) {
        if (owner !== sp.id) conflicts.push(`${key} (${fe.kind}) of ${portLabel(sp)} is already served for ${owner}`);
        continue;
      }
      owners.set(key, sp.id);
      const poolId = `${sp.id}|${fe.endpoints}|${family}`;
      if (!pools.has(poolId)) pools.set(poolId, { id: poolId, ref, endpoints, sessionAffinity: sp.sessionAffinity });
      listeners.set(key, {
        key,
        ip: fe.ip,
        port: fe.port,
        protocol: fe.protocol,
        kind: fe.kind,
        action: fe.action,
        poolId,
        sourceRanges: fe.kind === "loadBalancer" ? (fe.sourceRanges ?? []) : [],
      });
    }
  }
  return { listeners, pools, conflicts };
}

/** Keys to open, to keep (update in place) and to close, going from `running` to `desired`. */
export function diffKeys<T>(
  running: Iterable<string>,
  desired: ReadonlyMap<string, T>,
): { open: string[]; keep: string[]; close: string[] } {
  const runningSet = new Set(running);
  const open: string[] = [];
  const keep: string[] = [];
  for (const key of desired.keys()) (runningSet.has(key) ? keep : open).push(key);
  const close = [...runningSet].filter((key) => !desired.has(key));
  return { open, keep, close };
}

/** Endpoint keys present before and gone now: their connections get closed after the grace period. */
export function removedEndpoints(previous: readonly Endpoint[], next: readonly Endpoint[]): string[] {
  const still = new Set(next.map(endpointKey));
  return [...new Set(previous.map(endpointKey))].filter((key) => !still.has(key));
}

/**
 * A frontend balances over the endpoints of its own IP family, as kube-proxy runs one proxier per
 * family (the translator's `endpointsFor` says the same). Single-stack lists come back as they are.
 */
export function sameFamily(endpoints: readonly Endpoint[], family: 4 | 6): readonly Endpoint[] {
  const v6 = family === 6;
  if (endpoints.every((e) => isIPv6(e.ip) === v6)) return endpoints;
  return endpoints.filter((e) => isIPv6(e.ip) === v6);
}

/** Duplicate endpoints (same ip:port) would skew round-robin; the translator reports them, this keeps one. */
export function uniqueEndpoints(endpoints: readonly Endpoint[]): readonly Endpoint[] {
  const seen = new Set<string>();
  let duplicates = false;
  for (const e of endpoints) {
    const key = endpointKey(e);
    if (seen.has(key)) duplicates = true;
    seen.add(key);
  }
  if (!duplicates) return endpoints;
  seen.clear();
  return endpoints.filter((e) => {
    const key = endpointKey(e);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/**
 * Frontend IPs that may need adding to the VIP link: clusterIPs, externalIPs and LB IPs of every
 * frontend, `reject` ones included — the address must stay local so the kernel answers "connection
 * refused" instead of the packet wandering off unrouted. NodePorts listen on node addresses.
 */
export function virtualIPs(snapshot: Pick<Snapshot, "servicePorts">): Set<string> {
  const ips = new Set<string>();
  for (const sp of snapshot.servicePorts) for (const fe of sp.frontends) if (fe.kind !== "nodePort") ips.add(fe.ip);
  return ips;
}

/**
 * The plan without ClientIP-affinity ports. With several workers, SO_REUSEPORT spreads a client's
 * connections over them by 4-tuple hash, so no single balancer would see them all: one worker (the
 * affinity owner) serves these ports alone and the others leave them out (docs/workers.md).
 */
export function withoutClientIPAffinity(plan: ServicePlan): ServicePlan {
  const pools = new Map<string, PoolPlan>();
  for (const [id, pool] of plan.pools) if (pool.sessionAffinity.type !== "ClientIP") pools.set(id, pool);
  if (pools.size === plan.pools.size) return plan;
  const listeners = new Map<string, ListenerPlan>();
  for (const [key, listener] of plan.listeners) if (pools.has(listener.poolId)) listeners.set(key, listener);
  return { listeners, pools, conflicts: plan.conflicts };
}
