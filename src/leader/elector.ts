import { sleep } from "../kube/backoff.ts";
import { isConflict, isNotFound, type KubeClient } from "../kube/client.ts";
import type { Logger } from "../log.ts";
import type { Lease } from "../model/k8s.ts";

export interface LeaderElectionOptions {
  client: KubeClient;
  namespace: string;
  name: string;
  /** unique per instance: the pod name in a DaemonSet */
  identity: string;
  logger: Logger;
  /** how long a lease holds without renewal before others may take it (client-go default 15 s) */
  leaseDurationMs?: number;
  /** a leader that could not renew for this long steps down (client-go default 10 s) */
  renewDeadlineMs?: number;
  /** time between attempts (client-go default 2 s) */
  retryPeriodMs?: number;
}

type Listener = (leader: boolean) => void;

/**
 * Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection package does it:
 * get → create or update with the object's resourceVersion (optimistic concurrency, a 409 means someone
 * else won). A lease held by another identity counts as expired only when this instance has seen it
 * unchanged for a whole lease duration on its own clock, so clock skew between nodes does not matter.
 */
export class LeaderElector {
  private readonly options: Required<Omit<LeaderElectionOptions, "logger">> & { logger: Logger };
  private readonly listeners = new Set<Listener>();
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;
  private leader = false;
  private lastRenewal = 0;
  private observed: { record: string; at: number } | undefined;

  constructor(options: LeaderElectionOptions) {
    this.options = {
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
      ...options,
      logger: options.logger.child({ component: "leader-election", lease: `${options.namespace}/${options.name}` }),
    };
  }

  get identity(): string {
    return this.options.identity;
  }

  isLeader(): boolean {
    return this.leader;
  }

  /** Calls `listener` on every change of leadership (not for the current state). */
  onChange(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  start(): void {
    this.options.logger.info({ identity: this.identity }, "joining leader election");
    this.loop ??= this.run();
  }

  /** Stops campaigning; a leader hands the lease back so another instance takes over at once. */
  async stop(options: { release?: boolean } = {}): Promise<void> {
    this.abort.abort();
    await this.loop;
    if (this.leader) {
      if (options.release ?? true) await this.release();
      this.setLeader(false);
    }
  }

  private async run(): Promise<void> {
    const { retryPeriodMs, renewDeadlineMs, logger } = this.options;
    const signal = this.abort.signal;
    while (!signal.aborted) {
      let held = false;
      try {
        held = await this.tryAcquireOrRenew();
      } catch (err) {
        if (signal.aborted) break;
        logger.warn({ err: err instanceof Error ? err.message : String(err) }, "lease request failed");
      }
      const now = Date.now();
      if (held) {
        this.lastRenewal = now;
        this.setLeader(true);
      } else if (this.leader && (this.observedOtherHolder() || now - this.lastRenewal >= renewDeadlineMs)) {
        logger.warn({ identity: this.identity }, "lost the lease; stepping down");
        this.setLeader(false);
      }
      // jitter while waiting to acquire, so candidates do not collide on every period
      await sleep(this.leader ? retryPeriodMs : retryPeriodMs * (1 + Math.random() * 0.2), signal);
    }
  }

  private path(): string {
    const { namespace, name } = this.options;
    return `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/leases/${encodeURIComponent(name)}`;
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { client, namespace, name, identity, leaseDurationMs, renewDeadlineMs } = this.options;
    const now = Date.now();
    // a hung request must not keep a leader from stepping down: it gets what is left of the renew deadline
    const budget = this.leader ? Math.max(1, this.lastRenewal + renewDeadlineMs - now) : renewDeadlineMs;
    const signal = AbortSignal.any([this.abort.signal, AbortSignal.timeout(budget)]);
    let lease: Lease;
    try {
      lease = await client.request<Lease>(this.path(), { signal });
    } catch (err) {
      if (!isNotFound(err)) throw err;
      const created: Lease = {
        apiVersion: "coordination.k8s.io/v1",
        kind: "Lease",
        metadata: { name, namespace },
        spec: {
          holderIdentity: identity,
          leaseDurationSeconds: Math.ceil(leaseDurationMs / 1000),
          acquireTime: microTime(now),
          renewTime: microTime(now),
          leaseTransitions: 0,
        },
      };
      try {
        await client.request(`/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/leases`, {
          method: "POST",
          body: created,
          signal,
        });
        return true;
      } catch (createErr) {
        if (isConflict(createErr)) return false; // someone created it first
        throw createErr;
      }
    }
    const spec = lease.spec ?? {};
    this.observe(spec, now);
    const holder = spec.holderIdentity ?? "";
    const mine = holder === identity;
    if (!mine && holder !== "" && !this.expired(spec, now)) return false;
    const next: Lease = {
      ...lease,
      spec: {
        ...spec,
        holderIdentity: identity,
        leaseDurationSeconds: Math.ceil(leaseDurationMs / 1000),
        renewTime: microTime(now),
        acquireTime: mine ? (spec.acquireTime ?? microTime(now)) : microTime(now),
        leaseTransitions: mine ? (spec.leaseTransitions ?? 0) : (spec.leaseTransitions ?? 0) + 1,
      },
    };
    try {
      const updated = await client.request<Lease>(this.path(), { method: "PUT", body: next, signal });
      this.observe(updated.spec ?? {}, now);
      if (!mine) this.options.logger.info({ identity, previous: holder || undefined }, "acquired the lease");
      return true;
    } catch (err) {
      if (isConflict(err)) return false;
      throw err;
    }
  }

  /** Remembers when the lease record last changed, on our clock. */
  private observe(spec: NonNullable<Lease["spec"]>, now: number): void {
    const record = JSON.stringify([spec.holderIdentity, spec.renewTime, spec.leaseTransitions]);
    if (this.observed?.record !== record) this.observed = { record, at: now };
  }

  private expired(spec: NonNullable<Lease["spec"]>, now: number): boolean {
    const duration = (spec.leaseDurationSeconds ?? this.options.leaseDurationMs / 1000) * 1000;
    return now >= (this.observed?.at ?? now) + duration;
  }

  private observedOtherHolder(): boolean {
    const holder = this.observed ? (JSON.parse(this.observed.record) as [string | undefined])[0] : undefined;
    return holder !== undefined && holder !== "" && holder !== this.identity;
  }

  /** client-go's ReleaseOnCancel: clear the holder so the next candidate does not wait out the lease. */
  private async release(): Promise<void> {
    try {
      const lease = await this.options.client.request<Lease>(this.path());
      if (lease.spec?.holderIdentity !== this.identity) return;
      const now = microTime(Date.now());
      await this.options.client.request(this.path(), {
        method: "PUT",
        body: { ...lease, spec: { ...lease.spec, holderIdentity: "", leaseDurationSeconds: 1, renewTime: now } },
      });
      this.options.logger.info({ identity: this.identity }, "released the lease");
    } catch (err) {
      this.options.logger.warn(
        { err: err instanceof Error ? err.message : String(err) },
        "could not release the lease",
      );
    }
  }

  private setLeader(leader: boolean): void {
    if (this.leader === leader) return;
    this.leader = leader;
    if (leader) this.options.logger.info({ identity: this.identity }, "became leader");
    for (const listener of this.listeners) listener(leader);
  }
}

/** metav1.MicroTime: RFC 3339 with exactly six fractional digits. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}
