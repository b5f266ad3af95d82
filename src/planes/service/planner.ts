import type { FrontendKind, ServicePortSnapshot } from "../../snapshot/snapshot.ts";
import {
  type ListenerPlan,
  listenerKey,
  listenerPlan,
  type PoolPlan,
  type PortRef,
  portLabel,
  sameFamily,
  uniqueEndpoints,
} from "./plan.ts";

/** What one Service port asks for, computed from it alone (and kept while the same object comes back). */
interface PortPlan {
  sp: ServicePortSnapshot;
  /** candidate listeners, one per key, in frontend order (a port repeating its own key keeps the first) */
  listeners: ListenerPlan[];
  /** the pools its candidate listeners balance over, by pool id */
  pools: Map<string, PoolPlan>;
  /** kinds of later frontends repeating a key (a conflict line is reported for each of them too) */
  repeats?: Map<string, FrontendKind[]>;
  /** addresses for the VIP link: every non-nodePort frontend's ip, `reject` ones included */
  vips: string[];
  /** index in the last servicePorts list; kept current only while some socket is contested */
  position: number;
}

/** The changes an update made to the plan: what the plane must open, update and close. */
export interface PlanDelta {
  pools: { added: PoolPlan[]; updated: PoolPlan[]; removed: string[] };
  listeners: { open: ListenerPlan[]; update: ListenerPlan[]; close: string[] };
  /** the frontends that lose their socket to another port, one line each (the full current list) */
  conflicts: readonly string[];
  vipsChanged: boolean;
}

/**
 * The service plane's plan (equal, after every update, to the one-pass reference plan in
 * test/planes/service/reference-plan.ts) kept up to date from one servicePorts list to the next at
 * a cost proportional to what changed: the translator hands back the very same ServicePortSnapshot
 * objects for unchanged ports, so only ports that are new objects (or gone) are planned again, and
 * only the sockets they claim are re-decided.
 *
 * When two ports claim one socket, the first in snapshot order keeps it. Positions are recomputed
 * (one pass over the list) only while some socket is contested.
 */
export class ServicePlanner {
  /** winning listener per key */
  readonly listeners = new Map<string, ListenerPlan>();
  /** planned pools (those a winning listener balances over) */
  readonly pools = new Map<string, PoolPlan>();
  /** VIP addresses wanted (reference counts per address) */
  readonly vips = new Map<string, number>();

  private readonly ports = new Map<ServicePortSnapshot, PortPlan>();
  /** claimants per listener key (usually one) */
  private readonly claims = new Map<string, PortPlan[]>();
  /** keys with more than one claimant */
  private readonly contested = new Set<string>();
  /** owner of each winning listener */
  private readonly winners = new Map<string, PortPlan>();
  private readonly poolRefs = new Map<string, number>();
  private last: readonly ServicePortSnapshot[] = [];
  private conflicts: readonly string[] = [];
  private readonly clientIPAffinity: boolean;

  /**
   * `clientIPAffinity: false`: ports with ClientIP session affinity are planned (they still win their
   * sockets and name their VIPs) but get no listener or pool here, as the reference plan's
   * `withoutClientIPAffinity` does for the one-pass plan: with workers, another process serves them.
   */
  constructor(options: { clientIPAffinity?: boolean } = {}) {
    this.clientIPAffinity = options.clientIPAffinity ?? true;
  }

  update(servicePorts: readonly ServicePortSnapshot[]): PlanDelta {
    const delta: PlanDelta = {
      pools: { added: [], updated: [], removed: [] },
      listeners: { open: [], update: [], close: [] },
      conflicts: this.conflicts,
      vipsChanged: false,
    };
    if (servicePorts === this.last) return delta;
    const { removed, added, moved } = changedPorts(this.last, servicePorts, this.ports);
    this.last = servicePorts;

    const touched = new Set<string>();
    const listenersBefore = new Map<string, ListenerPlan | undefined>();
    const poolsBefore = new Map<string, PoolPlan | undefined>();
    const vipsBefore = new Map<string, boolean>();
    for (const sp of removed) {
      const pp = this.ports.get(sp)!;
      this.ports.delete(sp);
      for (const lp of pp.listeners) {
        const list = this.claims.get(lp.key)!;
        list.splice(list.indexOf(pp), 1);
        if (list.length === 0) this.claims.delete(lp.key);
        if (list.length <= 1) this.contested.delete(lp.key);
        touched.add(lp.key);
      }
      for (const ip of pp.vips) {
        if (!vipsBefore.has(ip)) vipsBefore.set(ip, true);
        const n = this.vips.get(ip)! - 1;
        if (n === 0) this.vips.delete(ip);
        else this.vips.set(ip, n);
      }
    }
    for (const sp of added) {
      const pp = planPort(sp);
      this.ports.set(sp, pp);
      for (const lp of pp.listeners) {
        const list = this.claims.get(lp.key);
        if (!list) this.claims.set(lp.key, [pp]);
        else {
          list.push(pp);
          this.contested.add(lp.key);
        }
        touched.add(lp.key);
      }
      for (const ip of pp.vips) {
        const n = this.vips.get(ip) ?? 0;
        if (!vipsBefore.has(ip)) vipsBefore.set(ip, n > 0);
        this.vips.set(ip, n + 1);
      }
    }

    for (const [ip, had] of vipsBefore) if (had !== this.vips.has(ip)) delta.vipsChanged = true;
    if (this.contested.size > 0) {
      // backwards, so a port listed twice takes its first position
      for (let i = servicePorts.length - 1; i >= 0; i--) this.ports.get(servicePorts[i]!)!.position = i;
      // Positions may have shifted: every contested socket is decided again.
      if (moved || removed.length !== added.length) for (const key of this.contested) touched.add(key);
    }

    for (const key of touched) {
      const claimants = this.claims.get(key);
      const owner = claimants ? first(claimants) : undefined;
      if (owner) this.winners.set(key, owner);
      else this.winners.delete(key);
      // A ClientIP-affinity port left to another process is still the winner, just not served here.
      const served = owner && (this.clientIPAffinity || owner.sp.sessionAffinity.type !== "ClientIP");
      const next = served ? owner.listeners.find((lp) => lp.key === key) : undefined;
      const previous = this.listeners.get(key);
      if (previous === next) continue;
      if (!listenersBefore.has(key)) listenersBefore.set(key, previous);
      if (previous) {
        this.listeners.delete(key);
        this.releasePool(previous.poolId, poolsBefore);
      }
      if (next && owner) {
        this.listeners.set(key, next);
        this.holdPool(owner.pools.get(next.poolId)!, poolsBefore);
      }
    }

    for (const [key, before] of listenersBefore) {
      const now = this.listeners.get(key);
      if (before === now) continue;
      if (!before) delta.listeners.open.push(now!);
      else if (!now) delta.listeners.close.push(key);
      else delta.listeners.update.push(now);
    }
    for (const [id, before] of poolsBefore) {
      const now = this.pools.get(id);
      if (before === now) continue;
      if (!before) delta.pools.added.push(now!);
      else if (!now) delta.pools.removed.push(id);
      else delta.pools.updated.push(now);
    }
    if (this.contested.size > 0 || this.conflicts.length > 0) this.conflicts = this.conflictLines();
    delta.conflicts = this.conflicts;
    return delta;
  }

  private holdPool(plan: PoolPlan, before: Map<string, PoolPlan | undefined>): void {
    if (!before.has(plan.id)) before.set(plan.id, this.pools.get(plan.id));
    this.poolRefs.set(plan.id, (this.poolRefs.get(plan.id) ?? 0) + 1);
    this.pools.set(plan.id, plan);
  }

  private releasePool(id: string, before: Map<string, PoolPlan | undefined>): void {
    if (!before.has(id)) before.set(id, this.pools.get(id));
    const n = this.poolRefs.get(id)! - 1;
    if (n > 0) {
      this.poolRefs.set(id, n);
      return;
    }
    this.poolRefs.delete(id);
    this.pools.delete(id);
  }

  /** One line per losing frontend of a port other than the winner, in snapshot order. */
  private conflictLines(): string[] {
    const lines: { position: number; index: number; line: string }[] = [];
    for (const key of this.contested) {
      const owner = this.winners.get(key)!;
      for (const pp of this.claims.get(key)!) {
        if (pp === owner || pp.sp.id === owner.sp.id) continue;
        const index = pp.listeners.findIndex((lp) => lp.key === key);
        for (const kind of [pp.listeners[index]!.kind, ...(pp.repeats?.get(key) ?? [])])
          lines.push({
            position: pp.position,
            index,
            line: `${key} (${kind}) of ${portLabel(pp.sp)} is already served for ${owner.sp.id}`,
          });
      }
    }
    lines.sort((a, b) => a.position - b.position || a.index - b.index);
    return lines.map((l) => l.line);
  }
}

/** The claimant first in snapshot order. */
function first(claimants: readonly PortPlan[]): PortPlan {
  let best = claimants[0]!;
  for (const pp of claimants) if (pp.position < best.position) best = pp;
  return best;
}

/**
 * Ports that are gone and ports that are new (by identity), going from `previous` to `next`. Lists of
 * the same length (without repeats in `previous`) are compared position by position: a changed port
 * is replaced in place. Otherwise the planned ports are checked against `next` as a set. `moved`:
 * some port may have kept its identity but changed position.
 */
function changedPorts(
  previous: readonly ServicePortSnapshot[],
  next: readonly ServicePortSnapshot[],
  planned: ReadonlyMap<ServicePortSnapshot, PortPlan>,
): { removed: ServicePortSnapshot[]; added: ServicePortSnapshot[]; moved: boolean } {
  if (previous.length === next.length && planned.size === previous.length) {
    const gone: ServicePortSnapshot[] = [];
    const fresh: ServicePortSnapshot[] = [];
    for (let i = 0; i < next.length; i++) {
      if (previous[i] === next[i]) continue;
      gone.push(previous[i]!);
      fresh.push(next[i]!);
    }
    if (gone.length === 0) return { removed: gone, added: fresh, moved: false };
    // A port found at another changed position is neither gone nor new: it moved.
    const freshSet = new Set(fresh);
    const removed = gone.filter((sp) => !freshSet.has(sp));
    const added = [...freshSet].filter((sp) => !planned.has(sp));
    return { removed, added, moved: removed.length !== gone.length };
  }
  const nextSet = new Set(next);
  const removed: ServicePortSnapshot[] = [];
  const added: ServicePortSnapshot[] = [];
  for (const sp of planned.keys()) if (!nextSet.has(sp)) removed.push(sp);
  for (const sp of nextSet) if (!planned.has(sp)) added.push(sp);
  return { removed, added, moved: true };
}

function planPort(sp: ServicePortSnapshot): PortPlan {
  const ref: PortRef = { namespace: sp.namespace, name: sp.name, portName: sp.portName, protocol: sp.protocol };
  const listeners: ListenerPlan[] = [];
  const pools = new Map<string, PoolPlan>();
  const vips = new Set<string>();
  const keys = new Set<string>();
  let repeats: Map<string, FrontendKind[]> | undefined;
  for (const fe of sp.frontends) {
    if (fe.kind !== "nodePort") vips.add(fe.ip);
    if (fe.action === "reject") continue;
    const family = fe.ip.includes(":") ? 6 : 4;
    const poolId = `${sp.id}|${fe.endpoints}|${family}`;
    let pool = pools.get(poolId);
    if (!pool) {
      const list = fe.endpoints === "cluster" ? sp.clusterEndpoints : sp.externalEndpoints;
      pool = {
        id: poolId,
        ref,
        endpoints: uniqueEndpoints(sameFamily(list, family)),
        sessionAffinity: sp.sessionAffinity,
      };
    }
    if (fe.action === "forward" && pool.endpoints.length === 0) continue;
    const key = listenerKey(fe.protocol, fe.ip, fe.port);
    if (keys.has(key)) {
      repeats ??= new Map();
      repeats.set(key, [...(repeats.get(key) ?? []), fe.kind]);
      continue;
    }
    keys.add(key);
    pools.set(poolId, pool);
    listeners.push(listenerPlan(key, fe, fe.action, poolId));
  }
  return { sp, listeners, pools, vips: [...vips], position: 0, ...(repeats ? { repeats } : {}) };
}
