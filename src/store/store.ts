import { isNamespaced, type Kind, type KindMap, SERVICE_NAME_LABEL } from "../model/k8s.ts";

export type ObjectKey = string;

export interface StoreChange {
  kind: Kind;
  key: ObjectKey;
  type: "added" | "modified" | "deleted";
  /** the object this change replaced or deleted (so a listener can tell, say, which Service a deleted slice belonged to) */
  previous?: KindMap[Kind];
}

export type StoreListener = (changes: readonly StoreChange[]) => void;

export function objectKey(kind: Kind, namespace: string | undefined, name: string | undefined): ObjectKey {
  return isNamespaced(kind) ? `${namespace ?? "default"}/${name ?? ""}` : (name ?? "");
}

/**
 * Typed objects by kind and key (`ns/name`, or `name` for cluster-scoped kinds), fed by one source.
 * Objects are treated as immutable: a change replaces the object, so translators may memoise on identity.
 * EndpointSlices are also indexed by their Service (`kubernetes.io/service-name` label).
 */
export class Store {
  private readonly byKind = new Map<Kind, Map<ObjectKey, KindMap[Kind]>>();
  private readonly slicesByService = new Map<ObjectKey, Map<ObjectKey, KindMap["EndpointSlice"]>>();
  /** `slicesFor` results, kept until that Service's slices change (same array = same slices) */
  private readonly sliceLists = new Map<ObjectKey, readonly KindMap["EndpointSlice"][]>();
  /** objects per namespace, per namespaced kind */
  private readonly namespaceCounts = new Map<Kind, Map<string, number>>();
  /** Increases whenever a namespace gains its first object of a kind or loses its last. */
  namespaceRevision = 0;
  private readonly listeners = new Set<StoreListener>();
  private pending: StoreChange[] = [];
  private batchDepth = 0;
  /** Increases on every change; lets consumers tell whether anything moved. */
  revision = 0;

  get<K extends Kind>(kind: K, key: ObjectKey): KindMap[K] | undefined {
    return this.map(kind).get(key) as KindMap[K] | undefined;
  }

  list<K extends Kind>(kind: K): IterableIterator<KindMap[K]> {
    return this.map(kind).values() as IterableIterator<KindMap[K]>;
  }

  /**
   * `[key, object]` pairs. The keys are the store's own strings: looking them up again (in the store or
   * in a caller's maps) reuses their cached hash, unlike a key rebuilt from the object's metadata.
   */
  entries<K extends Kind>(kind: K): IterableIterator<[ObjectKey, KindMap[K]]> {
    return this.map(kind).entries() as IterableIterator<[ObjectKey, KindMap[K]]>;
  }

  size(kind: Kind): number {
    return this.map(kind).size;
  }

  /**
   * EndpointSlices labelled for the Service `namespace/name`. The same array comes back until one of
   * them changes, so callers may compare lists by identity.
   */
  slicesFor(serviceKey: ObjectKey): readonly KindMap["EndpointSlice"][] {
    let list = this.sliceLists.get(serviceKey);
    if (!list) {
      const slices = this.slicesByService.get(serviceKey);
      if (!slices) return NO_SLICES;
      list = [...slices.values()];
      this.sliceLists.set(serviceKey, list);
    }
    return list;
  }

  /** The namespaces holding at least one object of `kind`, with how many. */
  namespaces(kind: Kind): ReadonlyMap<string, number> {
    return this.namespaceCounts.get(kind) ?? NO_NAMESPACES;
  }

  upsert<K extends Kind>(kind: K, obj: KindMap[K]): void {
    const key = objectKey(kind, obj.metadata?.namespace, obj.metadata?.name);
    const map = this.map(kind);
    const previous = map.get(key);
    if (previous === obj) return;
    map.set(key, obj);
    if (kind === "EndpointSlice")
      this.indexSlice(key, previous as KindMap["EndpointSlice"] | undefined, obj as KindMap["EndpointSlice"]);
    if (!previous) this.countNamespace(kind, key, 1);
    this.emit(previous ? { kind, key, type: "modified", previous } : { kind, key, type: "added" });
  }

  delete(kind: Kind, key: ObjectKey): void {
    const map = this.map(kind);
    const previous = map.get(key);
    if (!previous) return;
    map.delete(key);
    if (kind === "EndpointSlice") this.indexSlice(key, previous as KindMap["EndpointSlice"], undefined);
    this.countNamespace(kind, key, -1);
    this.emit({ kind, key, type: "deleted", previous });
  }

  /**
   * Makes the kind hold exactly `objects` (in `namespace` only, when given): used by list (re-list after 410 Gone)
   * and by the manifests source.
   * Objects deep-equal to what is held keep their old identity, so memoised translations stay valid.
   */
  replace<K extends Kind>(kind: K, objects: Iterable<KindMap[K]>, namespace?: string): void {
    // a namespace-scoped list (--watch-namespaces) replaces only that namespace's objects
    const prefix = namespace === undefined ? undefined : `${namespace}/`;
    this.batch(() => {
      const seen = new Set<ObjectKey>();
      for (const obj of objects) {
        const key = objectKey(kind, obj.metadata?.namespace, obj.metadata?.name);
        seen.add(key);
        const previous = this.map(kind).get(key);
        if (previous && sameObject(previous, obj)) continue;
        this.upsert(kind, obj);
      }
      for (const key of [...this.map(kind).keys()])
        if (!seen.has(key) && (prefix === undefined || key.startsWith(prefix))) this.delete(kind, key);
    });
  }

  /** Runs `fn` and delivers its changes to listeners as one batch. */
  batch(fn: () => void): void {
    this.batchDepth++;
    try {
      fn();
    } finally {
      this.batchDepth--;
      if (this.batchDepth === 0) this.flush();
    }
  }

  subscribe(listener: StoreListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private map(kind: Kind): Map<ObjectKey, KindMap[Kind]> {
    let map = this.byKind.get(kind);
    if (!map) {
      map = new Map();
      this.byKind.set(kind, map);
    }
    return map;
  }

  private countNamespace(kind: Kind, key: ObjectKey, delta: 1 | -1): void {
    if (!isNamespaced(kind)) return;
    let counts = this.namespaceCounts.get(kind);
    if (!counts) {
      counts = new Map();
      this.namespaceCounts.set(kind, counts);
    }
    const namespace = key.slice(0, key.indexOf("/"));
    const n = (counts.get(namespace) ?? 0) + delta;
    if (n > 0) counts.set(namespace, n);
    else counts.delete(namespace);
    if (n === 0 || (n === 1 && delta === 1)) this.namespaceRevision++;
  }

  private indexSlice(
    key: ObjectKey,
    previous: KindMap["EndpointSlice"] | undefined,
    next: KindMap["EndpointSlice"] | undefined,
  ): void {
    if (previous) {
      const owner = sliceOwner(previous);
      const slices = owner ? this.slicesByService.get(owner) : undefined;
      slices?.delete(key);
      if (owner) this.sliceLists.delete(owner);
      if (owner && slices?.size === 0) this.slicesByService.delete(owner);
    }
    if (next) {
      const owner = sliceOwner(next);
      if (!owner) return;
      this.sliceLists.delete(owner);
      let slices = this.slicesByService.get(owner);
      if (!slices) {
        slices = new Map();
        this.slicesByService.set(owner, slices);
      }
      slices.set(key, next);
    }
  }

  private emit(change: StoreChange): void {
    this.revision++;
    this.pending.push(change);
    if (this.batchDepth === 0) this.flush();
  }

  private flush(): void {
    if (this.pending.length === 0) return;
    const changes = this.pending;
    this.pending = [];
    for (const listener of this.listeners) listener(changes);
  }
}

const NO_SLICES: readonly KindMap["EndpointSlice"][] = [];
const NO_NAMESPACES: ReadonlyMap<string, number> = new Map<string, number>();

/** The Service (`namespace/name`) a slice belongs to, by its `kubernetes.io/service-name` label. */
export function sliceOwner(slice: KindMap["EndpointSlice"]): ObjectKey | undefined {
  const service = slice.metadata?.labels?.[SERVICE_NAME_LABEL];
  return service ? `${slice.metadata?.namespace ?? "default"}/${service}` : undefined;
}

function sameObject(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
