/**
 * What the API server does for Services on write, for manifests mode: IP family fields, clusterIPs
 * from the service CIDRs, nodePorts and healthCheckNodePorts from the node port range.
 *
 * Deterministic and sticky:
 * - a dynamic value starts at a preferred offset hashed from `namespace/name` (IPs) or
 *   `namespace/name/port` (nodePorts) and probes forward on collision, so the same manifests give
 *   the same values across restarts;
 * - values held from the previous pass are kept first, so adding a Service never moves another's;
 * - then explicit requests are honoured in file order (a conflict is reported on the later one and
 *   that field is reallocated dynamically), then dynamic ones in `namespace/name` order.
 * As the API server does, dynamic values come from the upper part of each range first, leaving the
 * lower band for explicit picks; the first address of a service CIDR is kept for `default/kubernetes`.
 */
import { createHash } from "node:crypto";
import { isIP } from "node:net";
import type { Service } from "../../model/k8s.ts";
import type { Problem } from "../../model/problems.ts";
import { bigIntToIp, type CIDR, cidrSize, ipToBigInt, parseCIDR } from "../../util/cidr.ts";

export interface AllocatorConfig {
  serviceCIDRs: readonly string[];
  nodePortRange: { min: number; max: number };
}

export interface ServiceInput {
  /** `namespace/name` */
  key: string;
  /** where it came from, for problems */
  origin: string;
  service: Service;
}

export interface AllocationResult {
  /** the Services that may enter the store, filled in, in input order */
  services: Service[];
  problems: Problem[];
}

type Family = 4 | 6;
const FAMILY_NAME: Record<Family, string> = { 4: "IPv4", 6: "IPv6" };

/** Probing gives up after this many candidates, so a (nearly) full huge range cannot stall a pass. */
const MAX_PROBES = 1 << 17;

/** A contiguous range of values with the API server's static/dynamic split. */
class ValueRange {
  /** first allocatable value */
  readonly start: bigint;
  readonly count: bigint;
  /** size of the lower band that dynamic allocation uses only when the upper one is full */
  readonly band: bigint;

  constructor(start: bigint, count: bigint, bandOf: (count: bigint) => bigint) {
    this.start = start;
    this.count = count > 0n ? count : 0n;
    this.band = bandOf(this.count);
  }

  /** Candidates for a dynamic value: from the hashed offset through the upper band, then the lower band. */
  *candidates(hash: bigint): Generator<bigint> {
    const upper = this.count - this.band;
    let probes = 0;
    if (upper > 0n) {
      const first = hash % upper;
      for (let i = 0n; i < upper && probes < MAX_PROBES; i++, probes++)
        yield this.start + this.band + ((first + i) % upper);
    }
    if (this.band > 0n) {
      const first = hash % this.band;
      for (let i = 0n; i < this.band && probes < MAX_PROBES; i++, probes++)
        yield this.start + ((first + i) % this.band);
    }
  }

  contains(value: bigint): boolean {
    return value >= this.start && value < this.start + this.count;
  }
}

interface IpPool {
  family: Family;
  cidr: CIDR;
  text: string;
  /** offset 1: what the API server gives the `kubernetes` Service */
  first: bigint;
  dynamic: ValueRange;
}

function ipPool(text: string): IpPool {
  const cidr = parseCIDR(text);
  const size = cidrSize(cidr);
  // IPv4 loses the network and broadcast addresses, IPv6 the network (subnet-router anycast) one.
  const last = cidr.family === 4 ? size - 2n : size - 1n;
  const usable = last; // offsets 1..last
  const band = (count: bigint) => (count >= 32n ? min(max(16n, usable / 16n), 256n) : 0n);
  return {
    family: cidr.family,
    cidr,
    text,
    // a /32 (/128) or IPv4 /31 has no allocatable address at all
    first: last >= 1n ? cidr.base + 1n : -1n,
    // offset 1 is reserved, so dynamic values are offsets 2..last
    dynamic: new ValueRange(cidr.base + 2n, last - 1n, band),
  };
}

interface Holding {
  owner: string;
  slot: string;
  explicit: boolean;
}

/** One Service being planned in a pass. */
interface Plan {
  input: ServiceInput;
  problems: Problem[];
  dropped: boolean;
  headless: boolean;
  families: Family[];
  policy?: string;
  /** explicit clusterIP per family, with the field the user wrote it in */
  explicitIPs: Map<Family, { ip: string; field: string }>;
  ips: Map<Family, string>;
  /** nodePort slots: ports sharing a port number share one nodePort (as the API server does) */
  portSlots: { slot: string; indexes: number[]; explicit?: number; field: string }[];
  nodePorts: Map<string, number>;
  health?: { explicit?: number };
  healthPort?: number;
}

export class ServiceAllocator {
  private readonly pools: IpPool[];
  private readonly ports: ValueRange;
  /** `owner|slot` → value, from the previous pass */
  private held = new Map<string, { value: string; explicit: boolean }>();

  constructor(config: AllocatorConfig) {
    this.pools = config.serviceCIDRs.map(ipPool);
    const { min: lo, max: hi } = config.nodePortRange;
    const count = BigInt(hi - lo + 1);
    this.ports = new ValueRange(BigInt(lo), count, (n) => (n >= 32n ? min(max(16n, n / 32n), 128n) : 0n));
  }

  /** Families the cluster has, primary first. */
  get families(): Family[] {
    return this.pools.map((p) => p.family);
  }

  allocate(inputs: readonly ServiceInput[]): AllocationResult {
    const steps = this.allocateSteps(inputs);
    for (;;) {
      const step = steps.next();
      if (step.done) return step.value;
    }
  }

  /**
   * `allocate`, yielding after each Service in each phase (~50–80 µs each): the compiler pauses there
   * so thousands of Services do not hold up the event loop in one piece.
   */
  *allocateSteps(inputs: readonly ServiceInput[]): Generator<void, AllocationResult> {
    const plans: Plan[] = [];
    for (const input of inputs) {
      plans.push(this.plan(input));
      yield;
    }
    const ips = new Map<string, Holding>(); // canonical ip → holder
    const ports = new Map<string, Holding>(); // nodePort → holder
    const next = new Map<string, { value: string; explicit: boolean }>();
    const live = plans.filter((p) => !p.dropped);

    const take = (table: Map<string, Holding>, value: string, owner: string, slot: string, explicit: boolean) => {
      table.set(value, { owner, slot, explicit });
      next.set(`${owner}|${slot}`, { value, explicit });
    };
    const previous = (owner: string, slot: string) => this.held.get(`${owner}|${slot}`);

    // Phase 0: what each Service held before and still wants stays with it.
    for (const plan of live) {
      const owner = plan.input.key;
      for (const family of plan.headless ? [] : plan.families) {
        const slot = `ip/${FAMILY_NAME[family]}`;
        const prev = previous(owner, slot);
        if (!prev || ips.has(prev.value)) continue;
        const explicit = plan.explicitIPs.get(family);
        const pool = this.pool(family);
        const keep = explicit
          ? canonicalIP(explicit.ip) === prev.value
          : !prev.explicit && pool !== undefined && inPool(pool, prev.value);
        if (keep) {
          plan.ips.set(family, prev.value);
          take(ips, prev.value, owner, slot, Boolean(explicit));
        }
      }
      for (const s of plan.portSlots) {
        const slot = `port/${s.slot}`;
        const prev = previous(owner, slot);
        if (!prev || ports.has(prev.value)) continue;
        const keep = s.explicit !== undefined ? String(s.explicit) === prev.value : !prev.explicit;
        if (keep && this.ports.contains(BigInt(prev.value))) {
          plan.nodePorts.set(s.slot, Number(prev.value));
          take(ports, prev.value, owner, slot, s.explicit !== undefined);
        }
      }
      if (plan.health) {
        const prev = previous(owner, "health");
        if (prev && !ports.has(prev.value)) {
          const keep =
            plan.health.explicit !== undefined ? String(plan.health.explicit) === prev.value : !prev.explicit;
          if (keep) {
            plan.healthPort = Number(prev.value);
            take(ports, prev.value, owner, "health", plan.health.explicit !== undefined);
          }
        }
      }
      yield;
    }

    // Phase 1: explicit requests, in file order; the later of two claims loses and is reported.
    const taken = (holder: Holding | undefined, owner: string, slot: string) =>
      holder !== undefined && !(holder.owner === owner && holder.slot === slot);
    for (const plan of live) {
      const owner = plan.input.key;
      for (const [family, { ip, field }] of plan.explicitIPs) {
        if (plan.ips.has(family)) continue;
        const value = canonicalIP(ip);
        const slot = `ip/${FAMILY_NAME[family]}`;
        const holder = ips.get(value);
        if (taken(holder, owner, slot)) {
          conflict(plan, field, `clusterIP ${ip} is already allocated to Service ${holder!.owner}`);
          continue;
        }
        plan.ips.set(family, value);
        take(ips, value, owner, slot, true);
      }
      for (const s of plan.portSlots) {
        if (s.explicit === undefined || plan.nodePorts.has(s.slot)) continue;
        const holder = ports.get(String(s.explicit));
        if (taken(holder, owner, `port/${s.slot}`)) {
          conflict(plan, s.field, `nodePort ${s.explicit} is already allocated to ${describeHolder(holder!)}`);
          continue;
        }
        plan.nodePorts.set(s.slot, s.explicit);
        take(ports, String(s.explicit), owner, `port/${s.slot}`, true);
      }
      if (plan.health?.explicit !== undefined && plan.healthPort === undefined) {
        const value = String(plan.health.explicit);
        const holder = ports.get(value);
        if (taken(holder, owner, "health")) {
          conflict(plan, "spec.healthCheckNodePort", `${value} is already allocated to ${describeHolder(holder!)}`);
        } else {
          plan.healthPort = plan.health.explicit;
          take(ports, value, owner, "health", true);
        }
      }
      yield;
    }

    // Phase 2: everything still missing, in namespace/name order so file moves do not matter.
    for (const plan of [...live].sort((a, b) => (a.input.key < b.input.key ? -1 : a.input.key > b.input.key ? 1 : 0))) {
      const owner = plan.input.key;
      for (const family of plan.headless ? [] : plan.families) {
        if (plan.ips.has(family)) continue;
        const pool = this.pool(family)!;
        const slot = `ip/${FAMILY_NAME[family]}`;
        const value = this.freeIP(pool, owner, ips);
        if (value === undefined) {
          drop(plan, "spec.clusterIP", `no free address left in service CIDR ${pool.text}`);
          break;
        }
        plan.ips.set(family, value);
        take(ips, value, owner, slot, false);
      }
      for (const s of plan.portSlots) {
        if (plan.dropped || plan.nodePorts.has(s.slot)) continue;
        const value = this.freePort(`${owner}/${s.slot}`, ports);
        if (value === undefined) {
          drop(plan, s.field, "no free port left in the node port range");
          break;
        }
        plan.nodePorts.set(s.slot, value);
        take(ports, String(value), owner, `port/${s.slot}`, false);
      }
      if (!plan.dropped && plan.health && plan.healthPort === undefined) {
        const value = this.freePort(`${owner}/health`, ports);
        if (value === undefined) drop(plan, "spec.healthCheckNodePort", "no free port left in the node port range");
        else {
          plan.healthPort = value;
          take(ports, String(value), owner, "health", false);
        }
      }
      yield;
    }

    // Values of Services dropped in phase 2 stay reserved for this pass only; the next pass frees them.
    const dropped = new Set(plans.filter((p) => p.dropped).map((p) => p.input.key));
    this.held = new Map([...next].filter(([k]) => !dropped.has(k.slice(0, k.indexOf("|")))));
    const services: Service[] = [];
    for (const plan of plans) {
      if (plan.dropped) continue;
      services.push(this.fill(plan));
      yield;
    }
    return { services, problems: plans.flatMap((p) => p.problems) };
  }

  private pool(family: Family): IpPool | undefined {
    return this.pools.find((p) => p.family === family);
  }

  private freeIP(pool: IpPool, owner: string, ips: Map<string, Holding>): string | undefined {
    // The API server gives the first address of the range to the `kubernetes` Service.
    if (owner === "default/kubernetes" && pool.first >= 0n) {
      const first = bigIntToIp(pool.first, pool.family);
      if (!ips.has(first)) return first;
    }
    for (const n of pool.dynamic.candidates(hash(`${owner}`))) {
      const ip = bigIntToIp(n, pool.family);
      if (!ips.has(ip)) return ip;
    }
    return undefined;
  }

  private freePort(seed: string, ports: Map<string, Holding>): number | undefined {
    for (const n of this.ports.candidates(hash(seed))) if (!ports.has(String(n))) return Number(n);
    return undefined;
  }

  /** Resolves IP families and what must be allocated, as the API server's defaulting does. */
  private plan(input: ServiceInput): Plan {
    const spec = input.service.spec ?? {};
    const plan: Plan = {
      input,
      problems: [],
      dropped: false,
      headless: false,
      families: [],
      explicitIPs: new Map(),
      ips: new Map(),
      portSlots: [],
      nodePorts: new Map(),
    };
    if (spec.type === "ExternalName") return plan;

    const clusterFamilies = this.families;
    const dualStack = clusterFamilies.length > 1;
    const requested = spec.clusterIPs?.length ? spec.clusterIPs : spec.clusterIP ? [spec.clusterIP] : [];
    const ipField = (i: number) => (spec.clusterIPs?.length ? `spec.clusterIPs[${i}]` : "spec.clusterIP");
    plan.headless = requested[0] === "None";
    const families: Family[] = (spec.ipFamilies ?? []).map((f) => (f === "IPv6" ? 6 : 4));
    requested.forEach((ip, i) => {
      if (ip === "None") return;
      const family = isIP(ip) as Family;
      if (families.length <= i) families.push(family);
      plan.explicitIPs.set(family, { ip, field: ipField(i) });
    });
    let policy = spec.ipFamilyPolicy;
    if (!policy) {
      if (families.length === 2) policy = "RequireDualStack";
      else if (plan.headless && !Object.keys(spec.selector ?? {}).length)
        policy = dualStack ? "RequireDualStack" : "SingleStack";
      else policy = "SingleStack";
    }
    if (policy === "RequireDualStack" && !dualStack && !plan.headless) {
      drop(plan, "spec.ipFamilyPolicy", `RequireDualStack needs two service CIDRs (--service-cidr has one)`);
      return plan;
    }
    for (const [i, family] of families.entries()) {
      if (!clusterFamilies.includes(family)) {
        drop(plan, `spec.ipFamilies[${i}]`, `${FAMILY_NAME[family]} is not configured (no such --service-cidr)`);
        return plan;
      }
    }
    if (families.length === 0) families.push(clusterFamilies[0] ?? 4);
    if (policy !== "SingleStack" && dualStack && families.length === 1)
      families.push(clusterFamilies.find((f) => f !== families[0])!);
    plan.families = families;
    plan.policy = policy;

    const usesNodePorts =
      spec.type === "NodePort" || (spec.type === "LoadBalancer" && spec.allocateLoadBalancerNodePorts !== false);
    const byPortNumber = new Map<number, Plan["portSlots"][number]>();
    (spec.ports ?? []).forEach((port, i) => {
      const field = `spec.ports[${i}].nodePort`;
      if (!usesNodePorts && port.nodePort === undefined) return;
      const shared = byPortNumber.get(port.port);
      if (shared) {
        shared.indexes.push(i);
        shared.explicit ??= port.nodePort;
        return;
      }
      const slot = { slot: port.name || String(port.port), indexes: [i], explicit: port.nodePort, field };
      byPortNumber.set(port.port, slot);
      plan.portSlots.push(slot);
    });
    if (spec.type === "LoadBalancer" && spec.externalTrafficPolicy === "Local")
      plan.health = { explicit: spec.healthCheckNodePort };
    return plan;
  }

  private fill(plan: Plan): Service {
    const svc = structuredClone(plan.input.service);
    svc.spec ??= {};
    const spec = svc.spec;
    if (spec.type === "ExternalName") return svc;
    if (plan.headless) {
      spec.clusterIP = "None";
      spec.clusterIPs = ["None"];
    } else {
      // Keep the user's spelling of explicit addresses; allocated ones are canonical.
      spec.clusterIPs = plan.families.map((f) => {
        const explicit = plan.explicitIPs.get(f);
        const ip = plan.ips.get(f)!;
        return explicit && canonicalIP(explicit.ip) === ip ? explicit.ip : ip;
      });
      spec.clusterIP = spec.clusterIPs[0];
    }
    spec.ipFamilies = plan.families.map((f) => FAMILY_NAME[f]);
    spec.ipFamilyPolicy = plan.policy;
    for (const s of plan.portSlots) {
      const nodePort = plan.nodePorts.get(s.slot);
      for (const i of s.indexes) if (nodePort !== undefined) spec.ports![i]!.nodePort = nodePort;
    }
    if (plan.healthPort !== undefined) spec.healthCheckNodePort = plan.healthPort;
    return svc;
  }
}

function conflict(plan: Plan, field: string, message: string): void {
  plan.problems.push(problem(plan, field, `${message}; a free one is allocated instead`));
}

function drop(plan: Plan, field: string, message: string): void {
  plan.dropped = true;
  plan.problems.push(problem(plan, field, message));
}

function problem(plan: Plan, field: string, message: string): Problem {
  const meta = plan.input.service.metadata ?? {};
  return { kind: "Service", namespace: meta.namespace, name: meta.name, field, message, origin: plan.input.origin };
}

function describeHolder(h: Holding): string {
  return h.slot === "health" ? `the healthCheckNodePort of Service ${h.owner}` : `Service ${h.owner}`;
}

function canonicalIP(ip: string): string {
  const family = isIP(ip);
  return family === 6 ? bigIntToIp(ipToBigInt(ip), 6) : ip;
}

/** A stable 64-bit number from a name: the preferred offset before probing. */
function hash(seed: string): bigint {
  return createHash("sha256").update(seed).digest().readBigUInt64BE(0);
}

function min(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}

function max(a: bigint, b: bigint): bigint {
  return a > b ? a : b;
}

function inPool(pool: IpPool, ip: string): boolean {
  if (isIP(ip) !== pool.family) return false;
  const n = ipToBigInt(ip);
  return (pool.first >= 0n && n === pool.first) || pool.dynamic.contains(n);
}
