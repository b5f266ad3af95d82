import { Counter, type Registry } from "prom-client";
import { Backoff, sleep } from "../kube/backoff.ts";
import { isConflict, isNotFound, type KubeClient } from "../kube/client.ts";
import type { Logger } from "../log.ts";
import { GATEWAY_API_VERSIONS, GATEWAY_GROUP, type GatewayApiStatus, ROUTE_KINDS } from "../model/gateway.ts";
import type { Ingress, Kind, LoadBalancerIngress, Service } from "../model/k8s.ts";
import { GATEWAY_PLURALS } from "../source/kube/gateway-discovery.ts";
import { objectKey, type Store } from "../store/store.ts";
import type { IngressAddressSource } from "./addresses.ts";
import { mergeGatewayApiStatus, sameStatus, transitionTime } from "./gateway-merge.ts";
import { DEFAULT_GATEWAY_CONTROLLER, type StatusKind, type StatusWriter } from "./writer.ts";

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
  /** whose Route `status.parents` entries are ours (`--gateway-controller`) */
  gatewayController?: string;
  /** the clock of Gateway API conditions' lastTransitionTime */
  now?: () => Date;
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
  /** Gateway API objects: `Kind|key` (store key) → the status we want, merged on write (gateway-merge.ts) */
  private readonly gatewayDesired = new Map<string, GatewayApiStatus>();
  /**
   * What we wanted for objects deleted in the last minute: one deleted and created again within one snapshot
   * (`kubectl replace --force`) gets the same wanted status from the reconciler, which then sends nothing new.
   */
  private readonly gatewayDeleted = new Map<string, { want: GatewayApiStatus; at: number }>();
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
        if (STATUS_GATEWAY_KINDS.has(change.kind)) {
          const id = `${change.kind}|${change.key}`;
          if (change.type === "deleted") {
            this.bury(id);
            continue;
          }
          const buried = this.gatewayDeleted.get(id);
          if (buried) {
            this.gatewayDeleted.delete(id);
            this.gatewayDesired.set(id, buried.want);
          }
          if (!this.gatewayDesired.has(id)) continue;
          if (!this.gatewayMatchesStore(id)) this.pending.add(id); // drift, or a spec change to observe
          continue;
        }
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

  async setGatewayApiStatus(namespace: string, name: string, status: GatewayApiStatus): Promise<void> {
    const id = `${status.kind}|${objectKey(status.kind, namespace, name)}`;
    this.gatewayDeleted.delete(id);
    this.gatewayDesired.set(id, status);
    if (this.gatewayMatchesStore(id)) {
      this.pending.delete(id);
      if (isClearedRoute(status)) this.gatewayDesired.delete(id);
      return;
    }
    this.pending.add(id);
    this.kick();
  }

  /** What the object's status is once our part is written: the watch's copy merged with ours. */
  gatewayApiStatus(kind: GatewayApiStatus["kind"], namespace: string, name: string): GatewayApiStatus | undefined {
    const id = `${kind}|${objectKey(kind, namespace, name)}`;
    const want = this.gatewayDesired.get(id);
    if (!want) return undefined;
    const obj = this.options.store.get(kind, objectKey(kind, namespace, name)) as { status?: unknown } | undefined;
    return { kind, status: this.mergeGateway(obj?.status, want, namespace) } as GatewayApiStatus;
  }

  /** Call when leadership changes: a new leader writes everything it has been remembering. */
  leadershipChanged(leader: boolean): void {
    if (!leader) return;
    for (const id of this.desired.keys()) if (!this.matchesStore(id)) this.pending.add(id);
    for (const id of this.gatewayDesired.keys()) if (!this.gatewayMatchesStore(id)) this.pending.add(id);
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
    this.gatewayDesired.delete(id);
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
      const gatewayWant = this.gatewayDesired.get(id);
      if (gatewayWant) {
        if (await this.drainGateway(id, gatewayWant)) failed.push(id);
        continue;
      }
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
    for (const id of failed) if (this.desired.has(id) || this.gatewayDesired.has(id)) this.pending.add(id);
    const delay = this.backoff.next();
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.kick();
    }, delay);
    this.retryTimer.unref();
  }

  /** get → compare → update with resourceVersion; a conflict re-reads. */
  private async write(target: Target, want: readonly LoadBalancerIngress[]): Promise<Outcome> {
    return this.readModifyWrite<Ingress | Service>(statusPath(target), target.kind, (obj) => {
      if (sameIngress(obj.status?.loadBalancer?.ingress ?? [], want)) return undefined;
      const loadBalancer: { ingress?: LoadBalancerIngress[] } = { ...obj.status?.loadBalancer };
      if (want.length > 0) loadBalancer.ingress = want.map((i) => ({ ...i }));
      else delete loadBalancer.ingress;
      return { ...obj, status: { ...obj.status, loadBalancer } };
    });
  }

  /**
   * GETs the object at `path`, asks `update` for the object to PUT back (undefined: nothing to change) and
   * PUTs it with the resourceVersion read; a 409 (someone wrote in between) re-reads, up to conflictRetries.
   */
  private async readModifyWrite<T extends object>(
    path: string,
    kind: string,
    update: (obj: T) => object | undefined,
  ): Promise<Outcome> {
    const { client, conflictRetries = 5 } = this.options;
    const signal = this.abort.signal;
    for (let attempt = 0; attempt < conflictRetries; attempt++) {
      let obj: T;
      try {
        obj = await client.request<T>(path, { signal });
      } catch (err) {
        if (isNotFound(err)) return "gone";
        throw err;
      }
      const body = update(obj);
      if (body === undefined) return "unchanged";
      try {
        await client.request(path, { method: "PUT", body, signal });
        return "written";
      } catch (err) {
        if (isNotFound(err)) return "gone";
        if (!isConflict(err)) throw err;
        this.metrics?.writes.inc({ kind, result: "conflict" });
        await sleep(10 * (attempt + 1), signal);
      }
    }
    return "conflict";
  }

  private bury(id: string): void {
    const want = this.gatewayDesired.get(id);
    if (want) {
      this.forgetId(id);
      this.gatewayDeleted.set(id, { want, at: Date.now() });
    }
    for (const [key, entry] of this.gatewayDeleted) if (Date.now() - entry.at > 60_000) this.gatewayDeleted.delete(key);
  }

  private mergeGateway(current: unknown, want: GatewayApiStatus, namespace: string) {
    const now = transitionTime((this.options.now ?? (() => new Date()))());
    return mergeGatewayApiStatus(current, want, this.controllerName, now, namespace);
  }

  private get controllerName(): string {
    return this.options.gatewayController ?? DEFAULT_GATEWAY_CONTROLLER;
  }

  /**
   * GatewayClasses and Gateways are written only while (the watch's copy says) they are of our class; a Route's
   * status is written for our parent entries only, so it needs no such check.
   */
  private ofOurClass(target: GatewayTarget): boolean {
    const { store } = this.options;
    const classIsOurs = (name: unknown) =>
      typeof name === "string" && store.get("GatewayClass", name)?.spec?.controllerName === this.controllerName;
    if (target.kind === "GatewayClass") return classIsOurs(target.name);
    if (target.kind === "Gateway") return classIsOurs(store.get("Gateway", target.key)?.spec?.gatewayClassName);
    return true;
  }

  /** Does the watch's copy already carry our part of the status (merging would change nothing)? */
  private gatewayMatchesStore(id: string): boolean {
    const want = this.gatewayDesired.get(id);
    const { kind, key, namespace } = parseGatewayId(id);
    const obj = this.options.store.get(kind, key) as { status?: unknown } | undefined;
    if (!want || !obj) return false;
    return sameStatus(obj.status ?? {}, this.mergeGateway(obj.status, want, namespace));
  }

  /** One Gateway API write with its logging and metrics; true when it should be retried. */
  private async drainGateway(id: string, want: GatewayApiStatus): Promise<boolean> {
    const target = parseGatewayId(id);
    const where = { kind: target.kind, namespace: target.namespace, name: target.name };
    if (!this.ofOurClass(target)) {
      // it left our class since the snapshot asked: its new controller owns the status; never fight over it
      this.gatewayDesired.delete(id);
      return false;
    }
    try {
      const outcome = await this.writeGateway(target, want);
      this.metrics?.writes.inc({ kind: target.kind, result: outcome });
      if (outcome === "conflict") return true;
      if (outcome === "gone" || (isClearedRoute(want) && this.gatewayDesired.get(id) === want))
        this.gatewayDesired.delete(id);
      if (outcome === "written") this.logger.info(where, "wrote Gateway API status");
      return false;
    } catch (err) {
      if (this.abort.signal.aborted) return false;
      this.metrics?.writes.inc({ kind: target.kind, result: "error" });
      this.logger.warn({ ...where, err: err instanceof Error ? err.message : String(err) }, "status write failed");
      return true;
    }
  }

  /**
   * get → merge (ours by type, others' kept, lastTransitionTime kept while the status holds) → update the
   * status subresource with the object's resourceVersion when that changes anything; a 409 re-reads.
   */
  private async writeGateway(target: GatewayTarget, want: GatewayApiStatus): Promise<Outcome> {
    const stored = this.options.store.get(target.kind, target.key);
    return this.readModifyWrite<{ status?: unknown }>(
      gatewayStatusPath(target, stored?.apiVersion),
      target.kind,
      (obj) => {
        const merged = this.mergeGateway(obj.status, want, target.namespace);
        return sameStatus(obj.status ?? {}, merged) ? undefined : { ...obj, status: merged };
      },
    );
  }
}

/** The Gateway API kinds with a status subresource we write. */
const STATUS_GATEWAY_KINDS: ReadonlySet<string> = new Set<Kind>(["GatewayClass", "Gateway", ...ROUTE_KINDS]);

interface GatewayTarget {
  kind: GatewayApiStatus["kind"];
  /** the store key: `ns/name`, or `name` for GatewayClasses */
  key: string;
  namespace: string;
  name: string;
}

function parseGatewayId(id: string): GatewayTarget {
  const bar = id.indexOf("|");
  const kind = id.slice(0, bar) as GatewayApiStatus["kind"];
  const key = id.slice(bar + 1);
  const slash = key.indexOf("/");
  return slash === -1
    ? { kind, key, namespace: "", name: key }
    : { kind, key, namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

/** The status subresource, at the version the object was read at (the one discovery chose). */
function gatewayStatusPath(target: GatewayTarget, apiVersion: string | undefined): string {
  const version = apiVersion?.startsWith(`${GATEWAY_GROUP}/`)
    ? apiVersion.slice(GATEWAY_GROUP.length + 1)
    : GATEWAY_API_VERSIONS[target.kind][0];
  const plural = GATEWAY_PLURALS[target.kind];
  const ns = target.namespace ? `/namespaces/${encodeURIComponent(target.namespace)}` : "";
  return `/apis/${GATEWAY_GROUP}/${version}${ns}/${plural}/${encodeURIComponent(target.name)}/status`;
}

/** A Route status with no parent entries of ours: written once (removing ours), then forgotten. */
function isClearedRoute(status: GatewayApiStatus): boolean {
  return status.kind !== "Gateway" && status.kind !== "GatewayClass" && (status.status.parents ?? []).length === 0;
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
