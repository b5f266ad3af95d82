import type { Ingress, LoadBalancerIngress } from "../../model/k8s.ts";
import type { Problem } from "../../model/problems.ts";
import type {
  IngressRoute,
  IngressSnapshot,
  IngressStatusEntry,
  TlsCertificate,
  VirtualHost,
} from "../../snapshot/ingress.ts";
import type { NodeSnapshot } from "../../snapshot/snapshot.ts";
import type { Store, StoreChange } from "../../store/store.ts";
import { addSliceOwners, StoreFollower } from "../follow.ts";
import type { TranslateOptions } from "../options.ts";
import { classSelector } from "./classes.ts";
import { type CompiledIngress, compileIngress } from "./compile.ts";
import { TableBuilder } from "./table.ts";

/** One translator per store, for callers of `translateIngress` (tests); the Translator has its own. */
const perStore = new WeakMap<Store, IngressTranslator>();

/**
 * Ingresses of our class → the compiled route table (docs/ingress.md). Pure: reads the store,
 * returns the table and the problems found; a broken Ingress never affects the others.
 */
export function translateIngress(
  store: Store,
  options: TranslateOptions,
  node: NodeSnapshot,
): { snapshot: IngressSnapshot; problems: Problem[] } {
  let translator = perStore.get(store);
  if (!translator) {
    translator = new IngressTranslator();
    perStore.set(store, translator);
  }
  return translator.translate(store, options, node);
}

/**
 * Ingresses → route table, recompiling only Ingresses whose own object or backend Services/slices
 * changed (the store's change batches name them). The table itself is then assembled from the
 * compiled Ingresses; virtual hosts whose routes are the same objects as last time are reused, and
 * when nothing the table depends on changed the previous snapshot is returned as is.
 */
export class IngressTranslator {
  private readonly follower = new StoreFollower((store, changes) => this.onChanges(store, changes));
  private readonly dirtyIngresses = new Set<string>();
  private readonly dirtyServices = new Set<string>();
  /** Secrets or IngressClasses changed: the table is assembled again */
  private tableDirty = true;
  /** Service key → Ingress keys whose backends name it */
  private readonly dependents = new Map<string, Set<string>>();
  private compiled = new Map<string, CompiledIngress>();
  private order: CompiledIngress[] = [];
  private orderDirty = true;
  private context = "";
  private previousHosts = new Map<string, { inserted: readonly IngressRoute[]; vhost: VirtualHost }>();
  private previousCertificates = new Map<string, TlsCertificate>();
  private statusAddresses: readonly LoadBalancerIngress[] = [];
  private statusKey = "";
  private last: { snapshot: IngressSnapshot; problems: Problem[] } | undefined;

  translate(
    store: Store,
    options: TranslateOptions,
    node: NodeSnapshot,
  ): { snapshot: IngressSnapshot; problems: Problem[] } {
    this.follow(store);
    const context = `${options.ingressClass}|${options.ingressController}`;
    if (context !== this.context) this.tableDirty = true;
    this.context = context;
    const full = this.last === undefined || this.follower.behind(store);
    let changed = this.tableDirty;

    if (full) {
      // Secrets and IngressClasses may have changed unseen (changes not delivered yet): assemble again.
      changed = true;
      const next = new Map<string, CompiledIngress>();
      for (const [key, ingress] of store.entries("Ingress")) {
        const previous = this.compiled.get(key);
        const entry = previous && upToDate(store, previous, ingress) ? previous : this.compile(store, key, ingress);
        if (entry !== previous) changed = true;
        next.set(key, entry);
      }
      if (next.size !== this.compiled.size) changed = true;
      for (const [key, gone] of this.compiled) if (!next.has(key)) this.forget(gone);
      this.compiled = next;
      if (changed) this.orderDirty = true;
    } else {
      const revisit = new Set(this.dirtyIngresses);
      for (const service of this.dirtyServices) for (const key of this.dependents.get(service) ?? []) revisit.add(key);
      for (const key of revisit) {
        const ingress = store.get("Ingress", key);
        const previous = this.compiled.get(key);
        if (!ingress) {
          if (previous) {
            this.forget(previous);
            this.compiled.delete(key);
            changed = this.orderDirty = true;
          }
          continue;
        }
        if (previous && upToDate(store, previous, ingress)) continue;
        const entry = this.compile(store, key, ingress);
        this.compiled.set(key, entry);
        changed = true;
        if (!previous || previous.time !== entry.time) this.orderDirty = true;
        else if (!this.orderDirty) {
          const at = this.order.indexOf(previous);
          if (at >= 0) this.order[at] = entry;
          else this.orderDirty = true;
        }
      }
    }
    this.dirtyIngresses.clear();
    this.dirtyServices.clear();
    this.follower.synced(store);

    const addresses = options.publishAddresses.length > 0 ? options.publishAddresses : node.addresses;
    const statusKey = addresses.join(",");
    if (statusKey !== this.statusKey) {
      this.statusKey = statusKey;
      this.statusAddresses = addresses.map((ip) => ({ ip }));
      changed = true;
    }
    if (this.last && !changed) return this.last;
    this.tableDirty = false;

    if (this.orderDirty) {
      this.order = [...this.compiled.values()].sort(byAge);
      this.orderDirty = false;
    }
    const problems: Problem[] = [];
    const selector = classSelector(store.list("IngressClass"), options);
    const builder = new TableBuilder(store, problems);
    const entries: IngressStatusEntry[] = [];
    for (const compiled of this.order) {
      const ours = selector.isOurs(compiled.ingress);
      entries.push(statusEntry(compiled, ours));
      if (ours) builder.replay(compiled);
    }
    const table = builder.build(this.previousHosts, this.previousCertificates);
    this.previousHosts = table.hostsByName;
    this.previousCertificates = table.certificatesBySecret;
    const previousEntries = this.last?.snapshot.ingresses;
    this.last = {
      snapshot: {
        ...table.snapshot,
        // the same list as before when every entry is (the status writer then has nothing to look at)
        ingresses: previousEntries && sameList(previousEntries, entries) ? previousEntries : entries,
        statusAddresses: this.statusAddresses,
      },
      // the same list as before when no problem changed, so consumers can skip it
      problems: this.last && sameProblems(this.last.problems, problems) ? this.last.problems : problems,
    };
    return this.last;
  }

  /** Stops listening to the store. */
  close(): void {
    this.follower.close();
  }

  private compile(store: Store, key: string, ingress: Ingress): CompiledIngress {
    const previous = this.compiled.get(key);
    if (previous) this.forget(previous);
    const compiled = compileIngress(store, key, ingress);
    for (const dep of compiled.backends) {
      let set = this.dependents.get(dep.key);
      if (!set) {
        set = new Set();
        this.dependents.set(dep.key, set);
      }
      set.add(key);
    }
    return compiled;
  }

  private forget(compiled: CompiledIngress): void {
    for (const dep of compiled.backends) {
      const set = this.dependents.get(dep.key);
      set?.delete(compiled.key);
      if (set?.size === 0) this.dependents.delete(dep.key);
    }
  }

  private follow(store: Store): void {
    if (this.follower.follow(store)) this.last = undefined;
  }

  private onChanges(store: Store, changes: readonly StoreChange[]): void {
    for (const change of changes) {
      const { kind, key } = change;
      if (kind === "Ingress") this.dirtyIngresses.add(key);
      else if (kind === "Service") this.dirtyServices.add(key);
      else if (kind === "Secret" || kind === "IngressClass") this.tableDirty = true;
      else if (kind === "EndpointSlice") addSliceOwners(store, change, this.dirtyServices);
    }
  }
}

/** The Ingress object and every backend Service and slice list are the very ones it was compiled from. */
function upToDate(store: Store, compiled: CompiledIngress, ingress: Ingress): boolean {
  if (compiled.ingress !== ingress) return false;
  for (const dep of compiled.backends) {
    if (store.get("Service", dep.key) !== dep.service) return false;
    const slices = store.slicesFor(dep.key);
    if (slices.length !== dep.slices.length || slices.some((s, i) => s !== dep.slices[i])) return false;
  }
  return true;
}

function sameList<T>(a: readonly T[], b: readonly T[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function sameProblems(a: readonly Problem[], b: readonly Problem[]): boolean {
  return (
    a.length === b.length &&
    a.every((p, i) => {
      const q = b[i]!;
      return (
        p === q ||
        (p.kind === q.kind &&
          p.namespace === q.namespace &&
          p.name === q.name &&
          p.field === q.field &&
          p.message === q.message &&
          p.origin === q.origin)
      );
    })
  );
}

function statusEntry(compiled: CompiledIngress, ours: boolean): IngressStatusEntry {
  const slot = ours ? "ours" : "theirs";
  const existing = compiled.entries[slot];
  if (existing) return existing;
  const ingress = compiled.ingress;
  const entry: IngressStatusEntry = {
    namespace: ingress.metadata?.namespace ?? "default",
    name: ingress.metadata?.name ?? "",
    ours,
    current: ingress.status?.loadBalancer?.ingress ?? [],
  };
  compiled.entries[slot] = entry;
  return entry;
}

/** Oldest first (the oldest Ingress wins conflicts, as in ingress-nginx); ties by namespace/name. */
function byAge(a: CompiledIngress, b: CompiledIngress): number {
  if (a.time !== b.time) return a.time - b.time;
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}
