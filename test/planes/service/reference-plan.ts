import {
  type ListenerPlan,
  listenerKey,
  listenerPlan,
  type PoolPlan,
  type PortRef,
  portLabel,
  sameFamily,
  uniqueEndpoints,
} from "../../../src/planes/service/plan.ts";
import type { Snapshot } from "../../../src/snapshot/snapshot.ts";

/**
 * The service plane's plan computed in one pass from a whole snapshot: the reference the incremental
 * ServicePlanner (src/planes/service/planner.ts) is checked against, and the plain statement of the
 * planning rules.
 */

export interface ServicePlan {
  listeners: Map<string, ListenerPlan>;
  pools: Map<string, PoolPlan>;
  /** one line per frontend that could not be served because another port already claims its socket */
  conflicts: string[];
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
      const family = fe.ip.includes(":") ? 6 : 4;
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
      listeners.set(key, listenerPlan(key, fe, fe.action, poolId));
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
