import type { Service } from "../../model/k8s.ts";
import type { Problem } from "../../model/problems.ts";
import type { Frontend, ServicePortSnapshot } from "../../snapshot/snapshot.ts";
import type { ServiceTranslation } from "./service.ts";

/** Addresses a Service lost (address → the Service keeping it), and a text naming exactly those losses. */
export interface Loss {
  lost: ReadonlyMap<string, string>;
  signature: string;
}

/** One listening address: `ip|port|protocol`. */
export function frontendKey(f: Frontend): string {
  return `${f.ip}|${f.port}|${f.protocol}`;
}

export function frontendKeysOf(result: ServiceTranslation): string[] {
  // A Service has a few frontends: an array with includes() beats a Set per Service on a full rebuild.
  const keys: string[] = [];
  let count = 0;
  for (const port of result.ports) {
    count += port.frontends.length;
    for (const f of port.frontends) {
      const key = frontendKey(f);
      if (count > 32) keys.push(key);
      else if (!keys.includes(key)) keys.push(key);
    }
  }
  // many frontends (a long externalIPs list): deduplicate once instead of quadratic includes()
  return count > 32 ? [...new Set(keys)] : keys;
}

/**
 * Which Services claim each (ip, port, protocol). Two Services cannot both be served on one
 * address (one listener per address); the API server prevents most such clashes, but externalIPs,
 * load-balancer IPs and hand-written manifests can still collide. Kept incrementally, so a build
 * only looks at addresses that are actually contested.
 */
export class FrontendClaims {
  /** address → its claimant, or its claimants once a second one came (one array less per address: 10k on a full rebuild) */
  private readonly claimants = new Map<string, string | string[]>();
  /** addresses with two or more claimants */
  readonly contested = new Set<string>();
  /** changes whenever the claimants of a contested address (or the contested set) change */
  private version = 0;
  private cached: { version: number; losers: Map<string, Loss> } | undefined;

  update(serviceKey: string, before: readonly string[], after: readonly string[]): void {
    for (const key of before) {
      const list = this.claimants.get(key);
      if (list === undefined) continue;
      if (typeof list === "string") {
        // a lone claimant: the address was never contested
        if (list === serviceKey) this.claimants.delete(key);
        continue;
      }
      const i = list.indexOf(serviceKey);
      if (i >= 0) list.splice(i, 1);
      if (list.length >= 1 && this.contested.has(key)) this.version++;
      if (list.length === 0) this.claimants.delete(key);
      if (list.length < 2) this.contested.delete(key);
    }
    for (const key of after) {
      const held = this.claimants.get(key);
      if (held === undefined) {
        this.claimants.set(key, serviceKey);
        continue;
      }
      const list = typeof held === "string" ? [held] : held;
      if (list !== held) this.claimants.set(key, list);
      list.push(serviceKey);
      if (list.length >= 2) {
        this.contested.add(key);
        this.version++;
      }
    }
  }

  clear(): void {
    this.claimants.clear();
    this.contested.clear();
    this.version++;
  }

  /**
   * For every Service that loses a contested address: address → the Service that keeps it. The
   * oldest Service (creationTimestamp) keeps it, ties going to namespace/name order, as the API
   * server's "first come" rule would.
   */
  losers(rankOf: (serviceKey: string) => string): ReadonlyMap<string, Loss> {
    if (this.cached?.version === this.version) return this.cached.losers;
    const byLoser = new Map<string, Map<string, string>>();
    for (const key of this.contested) {
      const held = this.claimants.get(key)!;
      const list = typeof held === "string" ? [held] : held;
      let winner = list[0]!;
      let best = rankOf(winner);
      for (const candidate of list) {
        const rank = rankOf(candidate);
        if (rank < best) {
          best = rank;
          winner = candidate;
        }
      }
      for (const loser of list) {
        if (loser === winner) continue;
        let lost = byLoser.get(loser);
        if (!lost) {
          lost = new Map();
          byLoser.set(loser, lost);
        }
        lost.set(key, winner);
      }
    }
    const losers = new Map<string, Loss>();
    for (const [loser, lost] of byLoser) {
      const signature = [...lost]
        .map(([address, winner]) => `${address}>${winner}`)
        .sort()
        .join(",");
      losers.set(loser, { lost, signature });
    }
    this.cached = { version: this.version, losers };
    return losers;
  }
}

/** A Service's translation without the addresses it lost, with one Problem per lost address. */
export function withoutLostFrontends(
  service: Service,
  result: ServiceTranslation,
  lost: ReadonlyMap<string, string>,
): ServiceTranslation {
  const namespace = service.metadata?.namespace ?? "default";
  const name = service.metadata?.name ?? "";
  const problems: Problem[] = [...result.problems];
  const ports: ServicePortSnapshot[] = [];
  const reported = new Set<string>();
  for (const port of result.ports) {
    const kept = port.frontends.filter((f) => !lost.has(frontendKey(f)));
    for (const f of port.frontends) {
      const key = frontendKey(f);
      const winner = lost.get(key);
      if (winner === undefined || reported.has(key)) continue;
      reported.add(key);
      const host = f.ip.includes(":") ? `[${f.ip}]` : f.ip;
      problems.push({
        kind: "Service",
        namespace,
        name,
        field: fieldOf(service, port, f),
        message: `${host}:${f.port}/${f.protocol} is also claimed by Service ${winner}, which keeps it (older, or first by name); not served for this Service`,
      });
    }
    if (kept.length === port.frontends.length) ports.push(port);
    else if (kept.length > 0) ports.push({ ...port, frontends: kept });
  }
  return { ...result, ports, problems };
}

function fieldOf(service: Service, port: ServicePortSnapshot, f: Frontend): string {
  const spec = service.spec ?? {};
  switch (f.kind) {
    case "clusterIP": {
      const i = (spec.clusterIPs ?? []).findIndex((ip) => ip.toLowerCase() === f.ip);
      return i >= 0 ? `spec.clusterIPs[${i}]` : "spec.clusterIP";
    }
    case "nodePort": {
      const i = (spec.ports ?? []).findIndex(
        (p) => (p.name ?? "") === port.portName && (p.protocol ?? "TCP") === port.protocol,
      );
      return `spec.ports[${i}].nodePort`;
    }
    case "externalIP": {
      const i = (spec.externalIPs ?? []).findIndex((ip) => ip.toLowerCase() === f.ip);
      return `spec.externalIPs[${i}]`;
    }
    case "loadBalancer": {
      const i = (service.status?.loadBalancer?.ingress ?? []).findIndex((ing) => ing.ip?.toLowerCase() === f.ip);
      return `status.loadBalancer.ingress[${i}].ip`;
    }
  }
}
