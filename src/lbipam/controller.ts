import type { Logger } from "../log.ts";
import type { Problem } from "../model/problems.ts";
import { formatProblem } from "../model/problems.ts";
import type { StatusWriter } from "../status/writer.ts";
import type { Store } from "../store/store.ts";
import { allocate, inScope } from "./allocate.ts";

export interface LoadBalancerAllocatorOptions {
  store: Store;
  status: StatusWriter;
  pools: readonly string[];
  logger: Logger;
  isLeader: () => boolean;
}

/**
 * `--lb-pool`: the leader gives LoadBalancer Services of our class an address from the pool by writing
 * their `status.loadBalancer.ingress` (the service proxy then serves it like any load-balancer IP).
 * Runs after every Service change and when leadership arrives; non-leaders do nothing, since the state
 * lives in the Services' status and the leader recomputes it from there.
 */
export class LoadBalancerAllocator {
  private readonly options: LoadBalancerAllocatorOptions;
  private readonly logger: Logger;
  private unsubscribe: (() => void) | undefined;
  private scheduled = false;
  /** Services we set a status on, so we can let go of those that move to another class */
  private readonly assigned = new Set<string>();
  private reported = new Set<string>();
  private lastProblems: readonly Problem[] = [];

  constructor(options: LoadBalancerAllocatorOptions) {
    this.options = options;
    this.logger = options.logger.child({ component: "lb-allocator" });
  }

  start(): void {
    this.unsubscribe = this.options.store.subscribe((changes) => {
      if (changes.some((c) => c.kind === "Service")) this.schedule();
    });
    this.schedule();
  }

  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }

  leadershipChanged(leader: boolean): void {
    if (leader) this.schedule();
  }

  /** Problems of the last run (bad or taken `spec.loadBalancerIP`, pool exhausted). */
  problems(): readonly Problem[] {
    return this.lastProblems;
  }

  /** One run per burst of store events. */
  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      if (this.unsubscribe) this.run();
    });
  }

  run(): void {
    if (!this.options.isLeader()) return;
    const { store, status, pools } = this.options;
    const services = [...store.list("Service")];
    const result = allocate(services, pools);
    for (const [key, ips] of result.assign) {
      const [namespace, name] = split(key);
      void status.setServiceStatus(
        namespace,
        name,
        ips.map((ip) => ({ ip })),
      );
      if (ips.length > 0) this.assigned.add(key);
      else this.assigned.delete(key);
    }
    for (const key of result.clear) {
      const [namespace, name] = split(key);
      void status.setServiceStatus(namespace, name, []);
      this.assigned.delete(key);
    }
    // moved to another class (or deleted): stop caring, write nothing
    for (const key of [...this.assigned]) {
      const svc = store.get("Service", key);
      if (svc && inScope(svc)) continue;
      this.assigned.delete(key);
      if (!result.clear.includes(key)) status.forget?.("Service", ...split(key));
    }
    this.lastProblems = result.problems;
    const now = new Set(result.problems.map(formatProblem));
    for (const text of now)
      if (!this.reported.has(text)) this.logger.warn({ problem: text }, "cannot assign a LoadBalancer IP");
    this.reported = now;
  }
}

function split(key: string): [string, string] {
  const slash = key.indexOf("/");
  return [key.slice(0, slash), key.slice(slash + 1)];
}
