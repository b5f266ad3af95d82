import type { Endpoint, Frontend, FrontendKind, L4Protocol, SessionAffinity } from "../../snapshot/snapshot.ts";

/**
 * Pure planning pieces for the service plane: which sockets should exist, and which endpoint pools
 * they balance over (ServicePlanner in planner.ts keeps the plan up to date per snapshot).
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
  /**
   * Gateway sockets (gateway-plan.ts): each endpoint's share of new connections, parallel to
   * `endpoints` (absent: round-robin), and the share that goes to no endpoint (invalid backends:
   * those connections are refused).
   */
  weights?: readonly number[];
  refusedWeight?: number;
}

/** One socket: a (protocol, ip, port) that forwards over a pool or resets every connection. */
export interface ListenerPlan {
  key: string;
  ip: string;
  port: number;
  protocol: L4Protocol;
  kind: FrontendKind | "gateway";
  action: "forward" | "drop";
  poolId: string;
  /** loadBalancerSourceRanges; empty = any source */
  sourceRanges: readonly string[];
  /** a Gateway socket (gateway-plan.ts): its snapshot id, and for TLS passthrough the pool per SNI host */
  gateway?: { socketId: string; sni?: readonly { host: string; poolId: string }[] };
}

// Addresses here are IP literals from the translator: a colon means IPv6 (cheaper than net.isIPv6's regex).
export function listenerKey(protocol: L4Protocol, ip: string, port: number): string {
  return `${protocol} ${ip.includes(":") ? `[${ip}]` : ip}:${port}`;
}

export function endpointKey(endpoint: Pick<Endpoint, "ip" | "port">): string {
  return endpoint.ip.includes(":") ? `[${endpoint.ip}]:${endpoint.port}` : `${endpoint.ip}:${endpoint.port}`;
}

export function portLabel(ref: Pick<PortRef, "namespace" | "name" | "portName">): string {
  return `${ref.namespace}/${ref.name}${ref.portName ? `:${ref.portName}` : ""}`;
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
  if (endpoints.every((e) => e.ip.includes(":") === v6)) return endpoints;
  return endpoints.filter((e) => e.ip.includes(":") === v6);
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

/** The socket a forwarding or dropping frontend gets (a rejecting one gets none). */
export function listenerPlan(key: string, fe: Frontend, action: "forward" | "drop", poolId: string): ListenerPlan {
  return {
    key,
    ip: fe.ip,
    port: fe.port,
    protocol: fe.protocol,
    kind: fe.kind,
    action,
    poolId,
    sourceRanges: fe.kind === "loadBalancer" ? (fe.sourceRanges ?? []) : [],
  };
}
