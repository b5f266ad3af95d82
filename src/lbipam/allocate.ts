import { isIP } from "node:net";
import type { Service } from "../model/k8s.ts";
import type { Problem } from "../model/problems.ts";
import { bigIntToIp, type CIDR, cidrAddress, cidrContains, cidrSize, ipToBigInt, parseCIDR } from "../util/cidr.ts";

/** `spec.loadBalancerClass` nodeplane answers to, besides Services without a class. */
export const LB_CLASS = "nodeplane.dev/lb";

export interface AllocationResult {
  /** every LoadBalancer Service of our class, by `namespace/name`: the IPs its status should show */
  assign: Map<string, string[]>;
  /** Services of our class that stopped being LoadBalancers but still show pool IPs: clear their status */
  clear: string[];
  problems: Problem[];
}

/** A Service nodeplane assigns addresses to: type LoadBalancer with no class or with ours. */
export function inScope(svc: Service): boolean {
  return svc.spec?.type === "LoadBalancer" && ourClass(svc);
}

function ourClass(svc: Service): boolean {
  const cls = svc.spec?.loadBalancerClass;
  return cls === undefined || cls === "" || cls === LB_CLASS;
}

/**
 * Pure LoadBalancer IP allocation from the pool CIDRs, like k3s ServiceLB / MetalLB. The state lives in the
 * Services' own status (so a new leader arrives at the same answer): an IP already in a Service's status
 * stays with it; `spec.loadBalancerIP` is honoured when it is inside the pool and free; others get the
 * lowest free address per IP family of the Service. Services of another class are never touched, and
 * pool IPs they show count as taken. Deterministic: the same Services give the same result.
 */
export function allocate(services: readonly Service[], poolCIDRs: readonly string[]): AllocationResult {
  const pools = poolCIDRs.map((c) => parseCIDR(c));
  const inPool = (ip: string) => pools.some((p) => cidrContains(p, ip) && !reserved(p, ip));
  const result: AllocationResult = { assign: new Map(), clear: [], problems: [] };
  const used = new Map<string, string>(); // ip → owner key
  const ordered = [...services].sort(byAge);
  const candidates = ordered.filter(inScope);

  for (const svc of ordered) {
    if (inScope(svc)) continue;
    const ips = statusIPs(svc).filter(inPool);
    if (ips.length === 0) continue;
    if (ourClass(svc))
      result.clear.push(key(svc)); // type changed away from LoadBalancer: release
    else for (const ip of ips) used.set(ip, key(svc)); // another controller's: hands off
  }

  // 1. keep what a Service already has (and still may have)
  for (const svc of candidates) {
    const requested = svc.spec?.loadBalancerIP ? canonical(svc.spec.loadBalancerIP) : undefined;
    const families = wantedFamilies(svc);
    const kept: string[] = [];
    for (const ip of statusIPs(svc)) {
      const family = isIP(ip) as 4 | 6;
      if (!inPool(ip) || used.has(ip) || !families.includes(family) || kept.some((k) => isIP(k) === family)) continue;
      if (requested && ip !== requested) continue;
      kept.push(ip);
      used.set(ip, key(svc));
    }
    result.assign.set(key(svc), kept);
  }

  // 2. requested addresses
  for (const svc of candidates) {
    const requested =
      svc.spec?.loadBalancerIP && isIP(svc.spec.loadBalancerIP)
        ? canonical(svc.spec.loadBalancerIP)
        : svc.spec?.loadBalancerIP;
    const ips = result.assign.get(key(svc))!;
    if (!requested || ips.includes(requested)) continue;
    const problem = (message: string) => result.problems.push({ ...who(svc), field: "spec.loadBalancerIP", message });
    if (!isIP(requested)) problem(`"${requested}" is not an IP address`);
    else if (!inPool(requested)) problem(`${requested} is not a usable address of --lb-pool ${poolCIDRs.join(",")}`);
    else if (used.has(requested)) problem(`${requested} is already assigned to Service ${used.get(requested)}`);
    else {
      ips.push(requested);
      used.set(requested, key(svc));
    }
  }

  // 3. fresh addresses, lowest free first
  for (const svc of candidates) {
    if (svc.spec?.loadBalancerIP) continue;
    const ips = result.assign.get(key(svc))!;
    for (const family of wantedFamilies(svc)) {
      if (ips.some((ip) => isIP(ip) === family)) continue;
      const familyPools = pools.filter((p) => p.family === family);
      if (familyPools.length === 0) {
        // a dual-stack Service with a single-family pool gets what the pool has, quietly
        if (family === wantedFamilies(svc)[0])
          result.problems.push({ ...who(svc), message: `--lb-pool has no IPv${family} range` });
        continue;
      }
      const ip = lowestFree(familyPools, used);
      if (!ip) {
        result.problems.push({ ...who(svc), message: `no free address left in --lb-pool for IPv${family}` });
        continue;
      }
      ips.push(ip);
      used.set(ip, key(svc));
    }
  }
  return result;
}

/** The families a Service should get addresses for: its ipFamilies (dual-stack gets both), else its clusterIP's. */
function wantedFamilies(svc: Service): (4 | 6)[] {
  const fromSpec = (svc.spec?.ipFamilies ?? []).map((f) => (f === "IPv6" ? 6 : 4) as 4 | 6);
  if (svc.spec?.ipFamilyPolicy === "SingleStack" || svc.spec?.ipFamilyPolicy === undefined)
    if (fromSpec.length > 0) return [fromSpec[0]!];
  if (fromSpec.length > 0) return [...new Set(fromSpec)];
  const clusterIP = svc.spec?.clusterIP;
  return [clusterIP && isIP(clusterIP) === 6 ? 6 : 4];
}

/** Network and broadcast addresses of IPv4 ranges larger than /31, and index 0 of IPv6 ranges, are never used. */
function reserved(pool: CIDR, ip: string): boolean {
  const size = cidrSize(pool);
  if (size <= 2n) return false;
  const offset = ipToBigInt(ip) - pool.base;
  return offset === 0n || (pool.family === 4 && offset === size - 1n);
}

function lowestFree(pools: readonly CIDR[], used: ReadonlyMap<string, string>): string | undefined {
  for (const pool of pools) {
    const size = cidrSize(pool);
    const first = size > 2n ? 1n : 0n;
    const last = pool.family === 4 && size > 2n ? size - 2n : size - 1n;
    // at most used.size + 1 probes: every taken address is skipped once
    for (let i = first, probes = 0; i <= last && probes <= used.size; i++, probes++) {
      const ip = cidrAddress(pool, i);
      if (!used.has(ip)) return ip;
    }
  }
  return undefined;
}

function statusIPs(svc: Service): string[] {
  return (svc.status?.loadBalancer?.ingress ?? [])
    .map((i) => i.ip)
    .filter((ip): ip is string => !!ip && !!isIP(ip))
    .map(canonical);
}

/** One spelling per address (IPv6 compressed, lower case) so status and pool addresses compare equal. */
function canonical(ip: string): string {
  return isIP(ip) === 6 ? bigIntToIp(ipToBigInt(ip), 6) : ip;
}

function key(svc: Service): string {
  return `${svc.metadata?.namespace ?? "default"}/${svc.metadata?.name ?? ""}`;
}

function who(svc: Service): Pick<Problem, "kind" | "namespace" | "name"> {
  return { kind: "Service", namespace: svc.metadata?.namespace ?? "default", name: svc.metadata?.name ?? "" };
}

function byAge(a: Service, b: Service): number {
  const ta = a.metadata?.creationTimestamp ?? "";
  const tb = b.metadata?.creationTimestamp ?? "";
  return ta === tb ? key(a).localeCompare(key(b)) : ta < tb ? -1 : 1;
}
