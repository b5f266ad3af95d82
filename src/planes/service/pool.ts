import type { Endpoint, SessionAffinity } from "../../snapshot/snapshot.ts";
import { Balancer } from "./balancer.ts";
import type { PortMetrics } from "./metrics.ts";
import { endpointKey, type PoolPlan, type PortRef, removedEndpoints } from "./plan.ts";

/** Something proxied to one endpoint that can be cut: a TCP connection pair or a UDP flow. */
export interface Tracked {
  close(): void;
}

/**
 * The running side of a PoolPlan: the balancer, the metric children, and the open connections by
 * endpoint. When an endpoint leaves, its TCP connections get `graceMs` to finish and are then closed;
 * UDP flows (`immediate`) are dropped at once. An endpoint that comes back within the grace period
 * keeps its connections.
 */
export class Pool {
  readonly id: string;
  readonly ref: PortRef;
  readonly balancer: Balancer;
  readonly metrics: PortMetrics;
  private endpoints: readonly Endpoint[];
  private readonly open = new Map<string, Set<Tracked>>();
  private readonly immediate = new WeakSet<Tracked>();
  private readonly graceTimers = new Map<string, NodeJS.Timeout>();
  private readonly graceMs: number;
  private retired = false;
  private onEmpty: (() => void) | undefined;

  constructor(plan: PoolPlan, metrics: PortMetrics, graceMs: number) {
    this.id = plan.id;
    this.ref = plan.ref;
    this.endpoints = plan.endpoints;
    this.balancer = new Balancer(plan.endpoints, plan.sessionAffinity, plan.weights, plan.refusedWeight);
    this.metrics = metrics;
    this.graceMs = graceMs;
  }

  /** Number of tracked connections/flows, all endpoints. */
  get openCount(): number {
    let n = 0;
    for (const set of this.open.values()) n += set.size;
    return n;
  }

  update(
    endpoints: readonly Endpoint[],
    affinity: SessionAffinity,
    weights?: readonly number[],
    refusedWeight?: number,
  ): void {
    const gone = removedEndpoints(this.endpoints, endpoints);
    this.endpoints = endpoints;
    this.balancer.update(endpoints, affinity, weights, refusedWeight);
    // An endpoint back within its grace period keeps its connections.
    if (this.graceTimers.size > 0)
      for (const endpoint of endpoints) {
        const key = endpointKey(endpoint);
        const timer = this.graceTimers.get(key);
        if (timer) {
          clearTimeout(timer);
          this.graceTimers.delete(key);
        }
      }
    for (const key of gone) this.endpointGone(key);
  }

  /** The pool is no longer in the plan: every endpoint is gone; `done` runs once nothing is left open. */
  retire(done: () => void): void {
    this.retired = true;
    this.onEmpty = done;
    this.update([], { type: "None" });
    this.checkEmpty();
  }

  track(endpoint: string, item: Tracked, immediate = false): void {
    let set = this.open.get(endpoint);
    if (!set) {
      set = new Set();
      this.open.set(endpoint, set);
    }
    set.add(item);
    if (immediate) this.immediate.add(item);
  }

  untrack(endpoint: string, item: Tracked): void {
    const set = this.open.get(endpoint);
    if (!set) return;
    set.delete(item);
    if (set.size === 0) this.open.delete(endpoint);
    if (this.retired) this.checkEmpty();
  }

  /** Close everything now (plane shutdown). */
  closeAll(): void {
    for (const timer of this.graceTimers.values()) clearTimeout(timer);
    this.graceTimers.clear();
    for (const set of [...this.open.values()]) for (const item of [...set]) item.close();
    this.open.clear();
  }

  private endpointGone(key: string): void {
    const set = this.open.get(key);
    if (!set || set.size === 0) return;
    for (const item of [...set]) if (this.immediate.has(item)) item.close();
    if (set.size === 0 || this.graceTimers.has(key)) return;
    const timer = setTimeout(() => {
      this.graceTimers.delete(key);
      const still = this.open.get(key);
      if (still) for (const item of [...still]) item.close();
    }, this.graceMs);
    timer.unref();
    this.graceTimers.set(key, timer);
  }

  private checkEmpty(): void {
    if (this.onEmpty && this.open.size === 0) {
      for (const timer of this.graceTimers.values()) clearTimeout(timer);
      this.graceTimers.clear();
      const done = this.onEmpty;
      this.onEmpty = undefined;
      done();
    }
  }
}
