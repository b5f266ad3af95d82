import type { EndpointSlice, Service } from "../../model/k8s.ts";
import type { Problem } from "../../model/problems.ts";
import type { HealthCheckSnapshot, NodeSnapshot, ServicePortSnapshot } from "../../snapshot/snapshot.ts";
import type { Store, StoreChange } from "../../store/store.ts";
import { addSliceOwners, StoreFollower } from "../follow.ts";
import type { TranslateOptions } from "../options.ts";
import { FrontendClaims, frontendKeysOf, type Loss, withoutLostFrontends } from "./claims.ts";
import { type ServiceTranslation, translateService } from "./service.ts";

export interface ServicesResult {
  services: Service[];
  servicePorts: ServicePortSnapshot[];
  healthChecks: HealthCheckSnapshot[];
  problems: Problem[];
}

interface Memo {
  service: Service;
  slices: readonly EndpointSlice[];
  result: ServiceTranslation;
  /** the addresses its frontends listen on (`ip|port|protocol`) */
  frontendKeys: readonly string[];
  /** the result without addresses lost to another Service, for the losses named by `signature` */
  reduced?: { signature: string; result: ServiceTranslation };
}

/**
 * Services + EndpointSlices → service proxy frontends and endpoints (docs/service-translation.md).
 *
 * Each Service is translated by the pure `translateService`; the result is remembered against the
 * identity of its inputs (the Service object and its slice objects; node facts and options apply
 * to all). The store replaces objects rather than mutating them, so an unchanged Service yields the
 * very same ServicePortSnapshot objects on the next build: planes can skip anything identical by
 * reference.
 *
 * To keep a one-endpoint change cheap with 10k Services, the translator listens to the store's
 * change batches and revisits only the Services named in them. It falls back to checking every
 * Service (by identity) on the first build, when node facts or options change, or when the store
 * has changes not yet delivered (a build inside `store.batch`).
 *
 * Two Services claiming one (ip, port, protocol) cannot both be served: the older keeps it and the
 * other gets a Problem (see FrontendClaims).
 */
export class ServiceTranslator {
  private memo = new Map<string, Memo>();
  /** Service keys in output order (namespace, then name) */
  private order: string[] = [];
  private context = "";
  private last: ServicesResult | undefined;

  private readonly follower = new StoreFollower((store, changes) => this.onChanges(store, changes));
  /** Service keys whose Service or slices changed since the last build */
  private dirty = new Set<string>();
  private readonly claims = new FrontendClaims();
  /** key → index of its first port in the last servicePorts */
  private offsets = new Map<string, number>();
  /** the last full lists had ports reduced by lost address claims */
  private lastHadLosers = false;

  translate(store: Store, options: TranslateOptions, node: NodeSnapshot): ServicesResult {
    this.follow(store);
    const context = contextKey(node, options);
    const ctx = {
      node,
      ...(options.serviceProxyName !== undefined ? { serviceProxyName: options.serviceProxyName } : {}),
      ...(options.nodeLocalDns ? { nodeLocalDns: options.nodeLocalDns } : {}),
    };
    const previousContext = this.context;
    const full = this.last === undefined || context !== previousContext || this.follower.behind(store);
    this.context = context;
    let portsChanged = false;
    let servicesChanged = false;
    /** Services re-translated in place (no add or delete), for patching the last lists */
    let replaced: { key: string; previous: Memo; entry: Memo }[] | undefined = [];

    if (full) {
      const contextChanged = context !== previousContext;
      const keys: string[] = [];
      for (const [key] of store.entries("Service")) keys.push(key);
      if (keys.length !== this.order.length || keys.some((k) => !this.memo.has(k))) {
        this.order = sortServiceKeys(keys);
        servicesChanged = true;
      }
      const next = new Map<string, Memo>();
      for (const key of this.order) {
        const service = store.get("Service", key)!;
        const previous = this.memo.get(key);
        const entry = this.revisit(key, service, previous, store, ctx, contextChanged);
        if (entry !== previous) {
          portsChanged = true;
          if (entry.service !== previous?.service) servicesChanged = true;
          this.claims.update(key, previous?.frontendKeys ?? [], entry.frontendKeys);
        }
        next.set(key, entry);
      }
      for (const [key, gone] of this.memo) if (!next.has(key)) this.claims.update(key, gone.frontendKeys, []);
      this.memo = next;
      replaced = undefined;
    } else {
      for (const key of this.dirty) {
        const service = store.get("Service", key);
        const previous = this.memo.get(key);
        if (!service) {
          if (previous) {
            this.claims.update(key, previous.frontendKeys, []);
            this.memo.delete(key);
            this.order.splice(findKey(this.order, key), 1);
            portsChanged = servicesChanged = true;
            replaced = undefined;
          }
          continue;
        }
        const entry = this.revisit(key, service, previous, store, ctx, false);
        if (entry === previous) continue;
        if (!previous) {
          this.order.splice(insertionPoint(this.order, key), 0, key);
          replaced = undefined;
        } else replaced?.push({ key, previous, entry });
        this.claims.update(key, previous?.frontendKeys ?? [], entry.frontendKeys);
        this.memo.set(key, entry);
        portsChanged = true;
        if (entry.service !== previous?.service) servicesChanged = true;
      }
    }
    this.dirty.clear();
    this.follower.synced(store);

    if (this.last && !portsChanged && !servicesChanged) return this.last;
    if (replaced) {
      const patched = this.patchLast(replaced);
      if (patched) return patched;
    }
    const servicePorts: ServicePortSnapshot[] = [];
    const healthChecks: HealthCheckSnapshot[] = [];
    const problems: Problem[] = [];
    const services: Service[] = servicesChanged || !this.last ? [] : this.last.services;
    const losers = this.claims.contested.size > 0 ? this.claims.losers((key) => this.rank(key)) : undefined;
    const offsets = new Map<string, number>();
    for (const key of this.order) {
      const entry = this.memo.get(key)!;
      const service = entry.service;
      const lost = losers?.get(key);
      const result = lost ? reduced(entry, lost) : entry.result;
      if (services !== this.last?.services) services.push(service);
      offsets.set(key, servicePorts.length);
      for (const port of result.ports) servicePorts.push(port);
      if (result.healthCheck) healthChecks.push(result.healthCheck);
      for (const problem of result.problems) problems.push(problem);
    }
    this.last = {
      services,
      servicePorts,
      healthChecks,
      // the same list as before when no problem changed, so consumers can skip it
      problems: this.last && sameList(this.last.problems, problems) ? this.last.problems : problems,
    };
    this.offsets = offsets;
    this.lastHadLosers = losers !== undefined && losers.size > 0;
    return this.last;
  }

  /**
   * The last lists with the re-translated Services' ports written over their old ones: a copy of the
   * port list instead of a walk over every Service. Only when nothing moves: no Service added or
   * deleted, the same number of ports each, no contested address, and no health check or problem
   * before or after (those lists are then the same).
   */
  private patchLast(replaced: readonly { key: string; previous: Memo; entry: Memo }[]): ServicesResult | undefined {
    const last = this.last;
    // a contest (now or in the last lists) changes other Services' ports: not a local patch
    if (!last || this.claims.contested.size > 0 || this.lastHadLosers) return undefined;
    for (const { previous, entry } of replaced) {
      const before = previous.result;
      const after = entry.result;
      if (before.ports.length !== after.ports.length) return undefined;
      if (before.healthCheck || after.healthCheck || before.problems.length > 0 || after.problems.length > 0)
        return undefined;
    }
    const servicePorts = last.servicePorts.slice();
    let services = last.services;
    for (const { key, previous, entry } of replaced) {
      const offset = this.offsets.get(key);
      if (offset === undefined) return undefined;
      entry.result.ports.forEach((port, i) => {
        servicePorts[offset + i] = port;
      });
      if (entry.service !== previous.service) {
        if (services === last.services) services = services.slice();
        services[findKey(this.order, key)] = entry.service;
      }
    }
    this.last = { services, servicePorts, healthChecks: last.healthChecks, problems: last.problems };
    return this.last;
  }

  /** Stops listening to the store. */
  close(): void {
    this.follower.close();
  }

  private revisit(
    key: string,
    service: Service,
    previous: Memo | undefined,
    store: Store,
    ctx: Parameters<typeof translateService>[2],
    force: boolean,
  ): Memo {
    const slices = store.slicesFor(key);
    if (!force && previous && previous.service === service && sameList(previous.slices, slices)) return previous;
    const result = translateService(service, slices, ctx);
    return { service, slices, result, frontendKeys: frontendKeysOf(result) };
  }

  /** Orders claimants of one address: oldest first, then namespace/name. */
  private rank(key: string): string {
    const service = this.memo.get(key)!.service;
    const slash = key.indexOf("/");
    return `${service.metadata?.creationTimestamp ?? ""}\u0000${key.slice(0, slash)}\u0000${key.slice(slash + 1)}`;
  }

  private follow(store: Store): void {
    if (!this.follower.follow(store)) return;
    this.last = undefined;
    this.memo = new Map();
    this.order = [];
    this.claims.clear();
  }

  private onChanges(store: Store, changes: readonly StoreChange[]): void {
    for (const change of changes) {
      if (change.kind === "Service") this.dirty.add(change.key);
      else if (change.kind === "EndpointSlice") addSliceOwners(store, change, this.dirty);
    }
  }
}

/**
 * Keys in output order (see compareServiceKeys), sorted as plain strings with the first `/` turned
 * into U+0000, which sorts before every character a namespace may hold: one string comparison each.
 */
function sortServiceKeys(keys: readonly string[]): string[] {
  // Hands back the very key strings it was given (the store's): later lookups with them in the
  // store's and the memo's maps find their hash cached and match by identity, where a rebuilt
  // string is hashed again and compared character by character (10k Services, five lookups each).
  const original = new Map<string, string>();
  for (const key of keys) original.set(key.replace("/", "\u0000"), key);
  return [...original.keys()].sort().map((sortable) => original.get(sortable)!);
}

/** namespace first, then name: plain string order of "ns/name" would put "a-b/x" before "a/x". */
function compareServiceKeys(a: string, b: string): number {
  const as = a.indexOf("/");
  const bs = b.indexOf("/");
  const an = a.slice(0, as);
  const bn = b.slice(0, bs);
  if (an !== bn) return an < bn ? -1 : 1;
  const aname = a.slice(as + 1);
  const bname = b.slice(bs + 1);
  return aname < bname ? -1 : aname > bname ? 1 : 0;
}

/** Index of the first key not ordered before `key` (binary search over the sorted keys). */
function insertionPoint(keys: readonly string[], key: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareServiceKeys(keys[mid]!, key) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function findKey(keys: readonly string[], key: string): number {
  const i = insertionPoint(keys, key);
  if (keys[i] !== key) throw new Error(`service key ${key} missing from the order`);
  return i;
}

function sameList<T>(a: readonly T[], b: readonly T[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function contextKey(node: NodeSnapshot, options: TranslateOptions): string {
  return JSON.stringify([
    node.name,
    node.zone ?? null,
    node.nodePortAddresses,
    options.serviceProxyName ?? null,
    options.nodeLocalDns ?? null,
  ]);
}

/** The entry's result without its lost addresses, reused while the losses stay the same. */
function reduced(entry: Memo, loss: Loss): ServiceTranslation {
  if (entry.reduced?.signature !== loss.signature) {
    entry.reduced = { signature: loss.signature, result: withoutLostFrontends(entry.service, entry.result, loss.lost) };
  }
  return entry.reduced.result;
}
