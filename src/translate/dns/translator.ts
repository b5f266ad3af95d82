import type { EndpointSlice, Pod, Service } from "../../model/k8s.ts";
import type { Problem } from "../../model/problems.ts";
import { type DnsRecords, type DnsSnapshot, EMPTY_DNS } from "../../snapshot/dns.ts";
import { normaliseName } from "../../snapshot/dns-lookup.ts";
import { ShardedMap } from "../../snapshot/sharded-map.ts";
import type { Store, StoreChange } from "../../store/store.ts";
import { addSliceOwners, StoreFollower } from "../follow.ts";
import type { TranslateOptions } from "../options.ts";
import { baseFragment, type Fragment, guarded, mergeRecords, podFragment, serviceFragment } from "./fragments.ts";

export { EMPTY_DNS };

interface ServiceMemo {
  service: Service;
  slices: readonly EndpointSlice[];
  fragment: Fragment;
}

interface PodMemo {
  pod: Pod;
  fragment: Fragment;
}

const NAMESPACED_KINDS = ["Service", "EndpointSlice", "Pod"] as const;
const SERVICE_OWNER = "1";
const POD_OWNER = "2";

/** One translator per store, for callers of `translateDns` (tests, benchmarks); the Translator has its own. */
const perStore = new WeakMap<Store, DnsTranslator>();

/** Services, EndpointSlices and Pods → the DNS answer index (see DnsTranslator). */
export function translateDns(store: Store, options: TranslateOptions): { snapshot: DnsSnapshot; problems: Problem[] } {
  let translator = perStore.get(store);
  if (!translator) {
    translator = new DnsTranslator();
    perStore.set(store, translator);
  }
  return translator.translate(store, options);
}

/**
 * Services, EndpointSlices and Pods → the DNS answer index (Kubernetes DNS specification 1.1.0,
 * with CoreDNS's choices where the specification leaves room). Pure apart from its memo, which only
 * reuses results for inputs that are the very same (immutable) objects.
 *
 * Like the service translator it follows the store's change batches, so a one-endpoint change
 * revisits one Service and patches the few names it owns: the index is a sharded copy-on-write map
 * (the previous snapshot's index keeps being served untouched), and names several fragments share are
 * merged again from their contributions. It revisits everything (by identity) on the first build, when
 * the domain or pod mode changes, or when the store has changes not yet delivered (inside a batch).
 */
export class DnsTranslator {
  private readonly follower = new StoreFollower((store, changes) => this.onChanges(store, changes));
  private readonly dirtyServices = new Set<string>();
  private readonly dirtyPods = new Set<string>();
  /** the store's namespaceRevision the namespace list was made at */
  private namespaceRevision = -1;

  private context = "";
  private services = new Map<string, ServiceMemo>();
  private pods = new Map<string, PodMemo>();
  private base: Fragment | undefined;
  private namespaces: ReadonlySet<string> = new Set();
  /** names more than one contribution makes (several fragments, or one fragment twice) → the contributions */
  private shared = new Map<string, DnsRecords[]>();
  private records: ShardedMap<DnsRecords> = ShardedMap.empty();
  /** fragments with problems, by owner */
  private readonly problemFragments = new Map<string, Fragment>();
  private problems: Problem[] = [];
  private last: DnsSnapshot | undefined;

  translate(store: Store, options: TranslateOptions): { snapshot: DnsSnapshot; problems: Problem[] } {
    this.follow(store);
    const domain = normaliseName(options.clusterDomain);
    const context = `${domain}|${options.dnsPods}`;
    const fresh = this.last === undefined || context !== this.context;
    const full = fresh || this.follower.behind(store);
    this.context = context;
    if (fresh) this.reset();

    const removed: Fragment[] = [];
    const added: Fragment[] = [];
    const swap = (before: Fragment | undefined, after: Fragment | undefined) => {
      if (before === after) return;
      if (before) removed.push(before);
      if (after) added.push(after);
    };

    if (full) {
      const next = new Map<string, ServiceMemo>();
      for (const [key, service] of store.entries("Service")) {
        const memo = this.revisitService(store, key, service, this.services.get(key), domain);
        swap(this.services.get(key)?.fragment, memo.fragment);
        next.set(key, memo);
      }
      for (const [key, gone] of this.services) if (!next.has(key)) removed.push(gone.fragment);
      this.services = next;
      const pods = new Map<string, PodMemo>();
      if (options.dnsPods === "verified") {
        for (const [key, pod] of store.entries("Pod")) {
          const memo = this.revisitPod(key, pod, this.pods.get(key), domain);
          swap(this.pods.get(key)?.fragment, memo.fragment);
          pods.set(key, memo);
        }
      }
      for (const [key, gone] of this.pods) if (!pods.has(key)) removed.push(gone.fragment);
      this.pods = pods;
    } else {
      for (const key of this.dirtyServices) {
        const service = store.get("Service", key);
        const previous = this.services.get(key);
        const memo = service ? this.revisitService(store, key, service, previous, domain) : undefined;
        swap(previous?.fragment, memo?.fragment);
        if (memo) this.services.set(key, memo);
        else this.services.delete(key);
      }
      if (options.dnsPods === "verified")
        for (const key of this.dirtyPods) {
          const pod = store.get("Pod", key);
          const previous = this.pods.get(key);
          const memo = pod ? this.revisitPod(key, pod, previous, domain) : undefined;
          swap(previous?.fragment, memo?.fragment);
          if (memo) this.pods.set(key, memo);
          else this.pods.delete(key);
        }
    }
    this.dirtyServices.clear();
    this.dirtyPods.clear();
    this.follower.synced(store);

    if (store.namespaceRevision !== this.namespaceRevision || !this.base) {
      this.namespaceRevision = store.namespaceRevision;
      const list = namespacesOf(store);
      const base = baseFragment(domain, list);
      if (base.entries.length !== this.base?.entries.length || !sameEntries(base, this.base)) {
        swap(this.base, base);
        this.base = base;
        this.namespaces = new Set(list);
      }
    }

    if (this.last && removed.length === 0 && added.length === 0)
      return { snapshot: this.last, problems: this.problems };
    this.patch(removed, added);
    this.last = {
      domain,
      records: this.records,
      soa: {
        mname: `ns.dns.${domain}`,
        rname: `hostmaster.${domain}`,
        // Increases whenever the zone content changes (the store revision that produced it).
        serial: store.revision >>> 0,
        refresh: 7200,
        retry: 1800,
        expire: 86400,
      },
      pods: options.dnsPods,
      namespaces: this.namespaces,
    };
    return { snapshot: this.last, problems: this.problems };
  }

  /** Stops listening to the store. */
  close(): void {
    this.follower.close();
  }

  private reset(): void {
    this.services = new Map();
    this.pods = new Map();
    this.base = undefined;
    this.shared = new Map();
    this.records = ShardedMap.empty();
    this.problemFragments.clear();
    this.problems = [];
    this.last = undefined;
  }

  private revisitService(
    store: Store,
    key: string,
    service: Service,
    previous: ServiceMemo | undefined,
    domain: string,
  ): ServiceMemo {
    const slices = store.slicesFor(key);
    if (previous && previous.service === service && sameItems(previous.slices, slices)) return previous;
    const owner = `${SERVICE_OWNER}${key}`;
    const fragment = guarded(owner, service, () =>
      serviceFragment(owner, service, slices.length > 1 ? sortByKey(slices) : slices, domain),
    );
    return { service, slices, fragment };
  }

  private revisitPod(key: string, pod: Pod, previous: PodMemo | undefined, domain: string): PodMemo {
    if (previous && previous.pod === pod) return previous;
    const owner = `${POD_OWNER}${key}`;
    return { pod, fragment: guarded(owner, pod, () => podFragment(owner, pod, domain), "Pod") };
  }

  /**
   * Takes the removed fragments' names out of the index and puts the added ones in. A name with one
   * contribution holds that value itself (removal checks identity); a name several contribute to is
   * the merge of its contributions, taken in content order so the result never depends on which
   * fragment came first.
   */
  private patch(removed: readonly Fragment[], added: readonly Fragment[]): void {
    const records = this.records.edit();
    const shared = this.shared;
    const remerge = new Set<string>();
    for (const fragment of removed) {
      const { names, values } = fragment.entries;
      for (let i = 0; i < names.length; i++) {
        const name = names[i]!;
        const value = values[i]!;
        const list = shared.size > 0 ? shared.get(name) : undefined;
        if (list) {
          const at = list.indexOf(value);
          if (at >= 0) {
            list.splice(at, 1);
            remerge.add(name);
          }
        } else if (records.get(name) === value) records.delete(name);
      }
      if (fragment.problems.length > 0 && this.problemFragments.get(fragment.owner) === fragment)
        this.problemFragments.delete(fragment.owner);
    }
    for (const fragment of added) {
      const { names, values } = fragment.entries;
      for (let i = 0; i < names.length; i++) {
        const name = names[i]!;
        const value = values[i]!;
        // no shared name yet (a first build, until two fragments meet): skip the lookup
        const list = shared.size > 0 ? shared.get(name) : undefined;
        if (list) {
          list.push(value);
          remerge.add(name);
          continue;
        }
        const existing = records.setIfAbsent(name, value);
        if (existing !== undefined) {
          shared.set(name, [existing, value]);
          remerge.add(name);
        }
      }
      if (fragment.problems.length > 0) this.problemFragments.set(fragment.owner, fragment);
    }
    for (const name of remerge) {
      const list = shared.get(name)!;
      if (list.length <= 1) {
        shared.delete(name);
        if (list.length === 1) records.set(name, list[0]!);
        else records.delete(name);
        continue;
      }
      const keyed = list.map((value) => ({ key: contentKey(value), value }));
      keyed.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      list.splice(0, list.length, ...keyed.map((k) => k.value));
      records.set(name, list.reduce(mergeRecords));
    }
    this.records = records.finish(this.records);
    if (removed.some((f) => f.problems.length > 0) || added.some((f) => f.problems.length > 0)) {
      const owners = [...this.problemFragments.keys()].sort();
      this.problems = owners.flatMap((owner) => this.problemFragments.get(owner)!.problems);
    }
  }

  private follow(store: Store): void {
    if (this.follower.follow(store)) this.last = undefined;
  }

  private onChanges(store: Store, changes: readonly StoreChange[]): void {
    for (const change of changes) {
      const { kind, key } = change;
      if (kind === "Service") this.dirtyServices.add(key);
      else if (kind === "Pod") this.dirtyPods.add(key);
      else if (kind === "EndpointSlice") addSliceOwners(store, change, this.dirtyServices);
    }
  }
}

/** Namespaces with a Service, EndpointSlice or Pod, and `default`: lowercase, sorted. */
function namespacesOf(store: Store): string[] {
  const names = new Set<string>(["default"]);
  for (const kind of NAMESPACED_KINDS) for (const ns of store.namespaces(kind).keys()) names.add(ns.toLowerCase());
  return [...names].sort();
}

/** Everything a record set says, as text: orders the contributions to a shared name. */
function contentKey(r: DnsRecords): string {
  return JSON.stringify([
    r.a ?? null,
    r.aaaa ?? null,
    r.cname ?? null,
    r.srv ?? null,
    r.txt ?? null,
    r.ptr ?? null,
    r.endpoints ? [...r.endpoints].map(([label, value]) => [label, contentKey(value)]) : null,
    r.endpointIps ? [...r.endpointIps] : null,
  ]);
}

function sameEntries(a: Fragment, b: Fragment | undefined): boolean {
  if (!b || a.entries.length !== b.entries.length) return false;
  return a.entries.names.every((name, i) => name === b.entries.names[i]);
}

function sameItems<T>(a: readonly T[], b: readonly T[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Objects ordered by `namespace/name` (keys computed once, not per comparison). */
function sortByKey<T extends { metadata?: { namespace?: string; name?: string } }>(items: Iterable<T>): T[] {
  const keyed = Array.from(items, (item) => ({
    key: `${item.metadata?.namespace ?? ""}/${item.metadata?.name ?? ""}`,
    item,
  }));
  keyed.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return keyed.map((k) => k.item);
}
