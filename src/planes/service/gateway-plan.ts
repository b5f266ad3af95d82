import type { GatewayHttpSocket, GatewayL4Socket, L4Backend } from "../../snapshot/gateway.ts";
import type { Endpoint } from "../../snapshot/snapshot.ts";
import { endpointKey, type ListenerPlan, listenerKey, type PoolPlan } from "./plan.ts";

/**
 * Gateway TCP, UDP and TLS-passthrough sockets (`snapshot.gateway.l4`) as listener and pool plans of
 * the service plane, so they are served by the same listeners, forwarding and budget as Service ports
 * (docs/gateway.md). Pure.
 *
 * A socket's pool is every endpoint of its backends, each weighted by its backend's share split over
 * the backend's endpoints (the specification: weights are proportional over backendRefs; within a
 * Service, connections spread evenly). The share of backends that have no target (an invalid
 * reference) or no endpoint is refused: the TCPRoute specification's "connection rejected". A TLS
 * socket has one pool per SNI entry; its own pool (`poolId`) holds nothing and carries its counters.
 */
export interface GatewayPlan {
  /** by listener key (`TCP 1.2.3.4:80`; TLS sockets are TCP sockets) */
  listeners: Map<string, ListenerPlan>;
  pools: Map<string, PoolPlan>;
  /** the snapshot socket behind each listener key */
  sockets: Map<string, GatewayL4Socket>;
  /** sockets that repeat a key already planned: socket id → the id that has it */
  duplicates: Map<string, string>;
  /** addresses to bind as virtual IPs (every socket address but the wildcard ones) */
  vips: Set<string>;
}

const NO_AFFINITY = { type: "None" } as const;

export function gatewayPoolId(socketId: string, host?: string): string {
  return host === undefined ? `gateway|${socketId}` : `gateway|${socketId}|sni=${host}`;
}

export function isWildcardAddress(ip: string): boolean {
  return ip === "0.0.0.0" || ip === "::" || ip === "";
}

/**
 * The addresses Gateway sockets bind, wildcards left out: TCP, UDP and TLS ones, and the HTTP and HTTPS ones the
 * ingress plane serves (addresses are node-wide work, done by the service plane); the plane adds those not local.
 */
export function gatewayVips(sockets: readonly (GatewayL4Socket | GatewayHttpSocket)[]): Set<string> {
  const vips = new Set<string>();
  for (const socket of sockets) if (!isWildcardAddress(socket.address)) vips.add(socket.address);
  return vips;
}

export function planGateway(sockets: readonly GatewayL4Socket[]): GatewayPlan {
  const plan: GatewayPlan = {
    listeners: new Map(),
    pools: new Map(),
    sockets: new Map(),
    duplicates: new Map(),
    vips: new Set(),
  };
  for (const socket of sockets) {
    if (!isWildcardAddress(socket.address)) plan.vips.add(socket.address);
    const key = listenerKey(socket.protocol === "UDP" ? "UDP" : "TCP", socket.address, socket.port);
    const holder = plan.sockets.get(key);
    if (holder) {
      plan.duplicates.set(socket.id, holder.id);
      continue;
    }
    const protocol = socket.protocol === "UDP" ? "UDP" : "TCP";
    const ref = { namespace: "", name: socket.id, portName: "", protocol } as const;
    const poolId = gatewayPoolId(socket.id);
    let sni: { host: string; poolId: string }[] | undefined;
    if (socket.protocol === "TLS") {
      plan.pools.set(poolId, { id: poolId, ref, endpoints: [], sessionAffinity: NO_AFFINITY, weights: [] });
      sni = [];
      for (const entry of socket.sni) {
        const id = gatewayPoolId(socket.id, entry.host);
        if (plan.pools.has(id)) continue;
        plan.pools.set(id, { id, ref, sessionAffinity: NO_AFFINITY, ...weightedEndpoints(entry.backends) });
        sni.push({ host: entry.host, poolId: id });
      }
    } else {
      plan.pools.set(poolId, { id: poolId, ref, sessionAffinity: NO_AFFINITY, ...weightedEndpoints(socket.backends) });
    }
    plan.sockets.set(key, socket);
    plan.listeners.set(key, {
      key,
      ip: socket.address,
      port: socket.port,
      protocol,
      kind: "gateway",
      action: "forward",
      poolId,
      sourceRanges: [],
      gateway: sni ? { socketId: socket.id, sni } : { socketId: socket.id },
    });
  }
  return plan;
}

/**
 * The endpoints of a route's backends with their shares. An endpoint listed by two backends (two
 * backendRefs to one Service) is one endpoint with both shares.
 */
export function weightedEndpoints(backends: readonly L4Backend[]): {
  endpoints: Endpoint[];
  weights: number[];
  refusedWeight: number;
} {
  const endpoints: Endpoint[] = [];
  const weights: number[] = [];
  const index = new Map<string, number>();
  let refusedWeight = 0;
  for (const backend of backends) {
    const weight = Number.isFinite(backend.weight) && backend.weight > 0 ? backend.weight : 0;
    if (weight === 0) continue;
    const list = backend.target?.endpoints ?? [];
    if (list.length === 0) {
      refusedWeight += weight;
      continue;
    }
    const share = weight / list.length;
    for (const e of list) {
      const key = endpointKey(e);
      const at = index.get(key);
      if (at !== undefined) {
        weights[at]! += share;
        continue;
      }
      index.set(key, endpoints.length);
      endpoints.push({ ip: e.ip, port: e.port, ready: true, serving: true, terminating: false });
      weights.push(share);
    }
  }
  return { endpoints, weights, refusedWeight };
}

/** Whether a pool's balancing changed (a new plan object is made on every snapshot). */
export function samePool(a: PoolPlan, b: PoolPlan): boolean {
  if (a.endpoints.length !== b.endpoints.length || (a.refusedWeight ?? 0) !== (b.refusedWeight ?? 0)) return false;
  for (let i = 0; i < a.endpoints.length; i++) {
    if (endpointKey(a.endpoints[i]!) !== endpointKey(b.endpoints[i]!)) return false;
    if (a.weights?.[i] !== b.weights?.[i]) return false;
  }
  return true;
}
