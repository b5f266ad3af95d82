import { Counter, type Registry } from "prom-client";
import { Backoff, sleep } from "../kube/backoff.ts";
import { isConflict, isNotFound, type KubeClient } from "../kube/client.ts";
import type { Logger } from "../log.ts";
import type { Ingress, LoadBalancerIngress, Service } from "../model/k8s.ts";
import type { Store } from "../store/store.ts";
import type { IngressAddressSource } from "./addresses.ts";
import type { StatusKind, StatusWriter } from "./writer.ts";

export interface KubeStatusWriterOptions {
  client: KubeClient;
  store: Store;
  logger: Logger;
  /** only the elected leader writes; everyone remembers what they would write */
  isLeader: () => boolean;
  registry?: Registry;
  /** attempts per write when the object keeps changing under us (409 Conflict) */
  conflictRetries?: number;
  retryBackoff?: { initialMs: number; maxMs: number };
  /**
   * When set (no --publish-address), Ingresses show the addresses of every node with a ready nodeplane
   * pod instead of the ones the ingress plane asked for (its own node's), once the source knows them.
   */
  ingressAddresses?: IngressAddressSource;
}

interface Target {
  kind: StatusKind;
  namespace: string;
  name: string;
}

type Outcome = "written" | "unchanged" | "gone" | "conflict";

/**
 * Cluster mode's StatusWriter: `status.loadBalancer.ingress` of Ingresses and Services through the status
 * subresource (get, then update with the object's resourceVersion; a 409 Conflict re-reads and tries again).
 * Only the leader writes. Every instance remembers the latest desired status per object, so a new leader
 * writes what it wants at once. While leader it also puts back a status someone else changed (drift).
 * An empty desired status clears the field once and is then forgotten.
 */
export class KubeStatusWriter implements StatusWriter {
  private readonly options: KubeStatusWriterOptions;
  private readonly logger: Logger;
  private readonly desired = new Map<string, readonly LoadBalancerIngress[]>();
  private readonly pending = new Set<string>();
  private readonly backoff: Backoff;
  private readonly abort = new AbortController();
  private readonly unsubscribe: () => void;
  private draining: Promise<void> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly metrics: { writes: Counter<"kind" | "result"> } | undefined;

  constructor(options: KubeStatusWriterOptions) {
    this.options = options;
    this.logger = options.logger.child({ component: "status-writer" });
    this.backoff = new Backoff(options.retryBackoff ?? { initialMs: 500, maxMs: 30_000 });
    this.metrics = options.registry
      ? {
          writes: new Counter({
            name: "nodeplane_status_writes_total",
            help: "Status subresource writes by kind and result (written, unchanged, gone, conflict, error)",
            labelNames: ["kind", "result"],
            registers: [options.registry],
          }),
        }
      : undefined;
    this.unsubscribe = options.store.subscribe((changes) => {
      for (const change of changes) {
        if (change.kind !== "Ingress" && change.kind !== "Service") continue;
        const id = `${change.kind}|${change.key}`;
        if (!this.desired.has(id)) continue;
        if (change.type === "deleted") this.forgetId(id);
        else if (!this.matchesStore(id)) this.pending.add(id); // drift: someone else wrote it
      }
      this.kick();
    });
    options.ingressAddresses?.onChange(() => {
      for (const id of this.desired.keys())
        if (id.startsWith("Ingress|") && !this.matchesStore(id)) this.pending.add(id);
      this.kick();
    });
  }

  async setIngressStatus(namespace: string, name: string, ingress: readonly LoadBalancerIngress[]): Promise<void> {
    this.set("Ingress", namespace, name, ingress);
  }

  async setServiceStatus(namespace: string, name: string, ingress: readonly LoadBalancerIngress[]): Promise<void> {
    this.set("Service", namespace, name, ingress);
  }

  ingressStatus(namespace: string, name: string): readonly LoadBalancerIngress[] | undefined {
    return this.effective(`Ingress|${namespace}/${name}`);
  }

  serviceStatus(namespace: string, name: string): readonly LoadBalancerIngress[] | undefined {
    return this.desired.get(`Service|${namespace}/${name}`);
  }

  forget(kind: StatusKind, namespace: string, name: string): void {
    this.forgetId(`${kind}|${namespace}/${name}`);
  }

  /** Call when leadership changes: a new leader writes everything it has been remembering. */
  leadershipChanged(leader: boolean): void {
    if (!leader) return;
    for (const id of this.desired.keys()) if (!this.matchesStore(id)) this.pending.add(id);
    this.backoff.reset();
    this.kick();
  }

  /** Resolves once nothing is left to write (or this instance is not the leader). For tests and shutdown. */
  async whenIdle(): Promise<void> {
    while (this.draining) await this.draining;
  }

  async close(): Promise<void> {
    this.unsubscribe();
    this.abort.abort();
    clearTimeout(this.retryTimer);
    await this.whenIdle();
  }

  private set(kind: StatusKind, namespace: string, name: string, ingress: readonly LoadBalancerIngress[]): void {
    const id = `${kind}|${namespace}/${name}`;
    this.desired.set(id, ingress);
    if (this.matchesStore(id)) {
      // nothing to write (if the store lags, the watch event that follows triggers the drift check)
      this.pending.delete(id);
      if (ingress.length === 0) this.desired.delete(id);
      return;
    }
    this.pending.add(id);
    this.kick();
  }

  private forgetId(id: string): void {
    this.desired.delete(id);
    this.pending.delete(id);
  }

  /** A new leader first learns where the nodeplane pods are ready, so it writes an Ingress ADDRESS once. */
  private writable(id: string): boolean {
    return !id.startsWith("Ingress|") || (this.options.ingressAddresses?.ready() ?? true);
  }

  /** What to write: the desired status, with Ingress addresses from the ready nodeplane pods when known. */
  private effective(id: string): readonly LoadBalancerIngress[] | undefined {
    const want = this.desired.get(id);
    if (!want || want.length === 0 || !id.startsWith("Ingress|")) return want;
    return this.options.ingressAddresses?.addresses() ?? want;
  }

  /** Does the store's copy (the watch's view) already show the desired status? */
  private matchesStore(id: string): boolean {
    const want = this.effective(id);
    const { kind, namespace, name } = parseId(id);
    const obj = this.options.store.get(kind, `${namespace}/${name}`) as Ingress | Service | undefined;
    return want !== undefined && obj !== undefined && sameIngress(obj.status?.loadBalancer?.ingress ?? [], want);
  }

  private kick(): void {
    if (this.draining || this.retryTimer || !this.options.isLeader()) return;
    if (![...this.pending].some((id) => this.writable(id))) return; // the rest waits for ingressAddresses
    if (this.abort.signal.aborted) return;
    this.draining = this.drain().finally(() => {
      this.draining = undefined;
      this.kick();
    });
  }

  private async drain(): Promise<void> {
    const failed: string[] = [];
    while (this.options.isLeader() && !this.abort.signal.aborted) {
      const id = [...this.pending].find((i) => this.writable(i));
      if (id === undefined) break;
      this.pending.delete(id);
      const want = this.effective(id);
      if (!want) continue;
      const target = parseId(id);
      try {
        const outcome = await this.write(target, want);
        this.metrics?.writes.inc({ kind: target.kind, result: outcome });
        if (outcome === "conflict") failed.push(id);
        else {
          if (outcome === "gone" || (want.length === 0 && this.desired.get(id)?.length === 0)) this.desired.delete(id);
          if (outcome === "written")
            this.logger.info({ ...target, ingress: want }, "wrote status.loadBalancer.ingress");
        }
      } catch (err) {
        if (this.abort.signal.aborted) return;
        this.metrics?.writes.inc({ kind: target.kind, result: "error" });
        this.logger.warn({ ...target, err: err instanceof Error ? err.message : String(err) }, "status write failed");
        failed.push(id);
      }
    }
    if (failed.length === 0) {
      this.backoff.reset();
      return;
    }
    for (const id of failed) if (this.desired.has(id)) this.pending.add(id);
    const delay = this.backoff.next();
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.kick();
    }, delay);
    this.retryTimer.unref();
  }

  /** get → compare → update with resourceVersion; a conflict re-reads. */
  private async write(target: Target, want: readonly LoadBalancerIngress[]): Promise<Outcome> {
    const { client, conflictRetries = 5 } = this.options;
    const path = statusPath(target);
    const signal = this.abort.signal;
    for (let attempt = 0; attempt < conflictRetries; attempt++) {
      let obj: Ingress | Service;
      try {
        obj = await client.request<Ingress | Service>(path, { signal });
      } catch (err) {
        if (isNotFound(err)) return "gone";
        throw err;
      }
      if (sameIngress(obj.status?.loadBalancer?.ingress ?? [], want)) return "unchanged";
      const loadBalancer: { ingress?: LoadBalancerIngress[] } = { ...obj.status?.loadBalancer };
      if (want.length > 0) loadBalancer.ingress = want.map((i) => ({ ...i }));
      else delete loadBalancer.ingress;
      try {
        await client.request(path, {
          method: "PUT",
          body: { ...obj, status: { ...obj.status, loadBalancer } },
          signal,
        });
        return "written";
      } catch (err) {
        if (isNotFound(err)) return "gone";
        if (!isConflict(err)) throw err;
        this.metrics?.writes.inc({ kind: target.kind, result: "conflict" });
        await sleep(10 * (attempt + 1), signal);
      }
    }
    return "conflict";
  }
}

function parseId(id: string): Target {
  const [kind, key] = id.split("|") as [StatusKind, string];
  const slash = key.indexOf("/");
  return { kind, namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

function statusPath({ kind, namespace, name }: Target): string {
  const ns = encodeURIComponent(namespace);
  const n = encodeURIComponent(name);
  return kind === "Ingress"
    ? `/apis/networking.k8s.io/v1/namespaces/${ns}/ingresses/${n}/status`
    : `/api/v1/namespaces/${ns}/services/${n}/status`;
}

/** Order-insensitive comparison of two status lists (the API server keeps what we send). */
export function sameIngress(a: readonly LoadBalancerIngress[], b: readonly LoadBalancerIngress[]): boolean {
  if (a.length !== b.length) return false;
  const canon = (list: readonly LoadBalancerIngress[]) =>
    list
      .map((i) => JSON.stringify([i.ip ?? "", i.hostname ?? "", i.ipMode ?? "", i.ports ?? []]))
      .sort()
      .join("\n");
  return canon(a) === canon(b);
}
