/**
 * Limits on what one manifest file may hold, checked before anything recursive (the YAML composer,
 * `toJS`, validation, `structuredClone`) touches a document: a hostile or broken file is skipped with
 * a problem naming it, and every other file still applies (docs/manifests.md; case K, docs/reliability.md).
 */

/**
 * Bigger files are refused unread. One Kubernetes object is at most ~1.5 MiB (etcd's request limit;
 * the API server refuses 3 MiB request bodies), so 8 MiB still holds a dump of thousands of objects,
 * while a 15 MB manifest took 875 MB RSS and 5 s to parse.
 */
export const MAX_FILE_BYTES = 8 * 1024 * 1024;

/**
 * All manifest files of the folder together (in reading order; the files past it are skipped). Decoded
 * objects take ~5–10× their text in memory, so per-file limits alone would let a thousand 8 MiB files
 * exhaust the process; 64 MiB is still some 60,000 objects of a kilobyte.
 */
export const MAX_TOTAL_BYTES = 64 * 1024 * 1024;

/**
 * Deepest nesting of mappings and sequences in one document (the document itself is level 1). The
 * kinds nodeplane reads are at most ~10 levels deep (an EndpointSlice's targetRef, an Ingress's
 * backend); 100 leaves room for anything else a folder may hold (CRD schemas reach ~40) while staying
 * far below where the YAML composer, `toJS` and `structuredClone` overflow the stack (a few thousand).
 */
export const MAX_DEPTH = 100;

/**
 * Documents (and list items) in one file. A 10,000-object file is already far beyond what anyone
 * writes by hand; more than that from one file is refused rather than validated one by one.
 */
export const MAX_DOCUMENTS = 10_000;

/**
 * Nesting depth of a decoded document: 0 for a scalar, 1 for `{}`/`[]`, 1 + the deepest child
 * otherwise. Iterative (an explicit stack), so it cannot overflow itself, and it stops as soon as
 * `limit` is exceeded (returns `limit + 1`). YAML aliases make a value a graph: shared objects are
 * measured once, and a cycle (an alias inside its own anchor) returns `"cycle"`.
 */
export function nestingDepth(root: unknown, limit: number): number | "cycle" {
  if (!isContainer(root)) return 0;
  const height = new Map<object, number>(); // finished containers → their own depth
  const open = new Set<object>(); // containers on the current path
  interface Frame {
    value: object;
    children: unknown[];
    next: number;
    deepest: number;
  }
  const frames: Frame[] = [];
  const enter = (value: object): void => {
    open.add(value);
    frames.push({ value, children: childrenOf(value), next: 0, deepest: 0 });
  };
  enter(root);
  while (frames.length > 0) {
    const frame = frames[frames.length - 1]!;
    if (frame.next < frame.children.length) {
      const child = frame.children[frame.next++];
      if (!isContainer(child)) continue;
      const known = height.get(child);
      if (known !== undefined) {
        frame.deepest = Math.max(frame.deepest, known);
        if (frames.length + known > limit) return limit + 1;
        continue;
      }
      if (open.has(child)) return "cycle";
      if (frames.length + 1 > limit) return limit + 1;
      enter(child);
      continue;
    }
    frames.pop();
    open.delete(frame.value);
    const own = frame.deepest + 1;
    height.set(frame.value, own);
    const parent = frames[frames.length - 1];
    if (parent) parent.deepest = Math.max(parent.deepest, own);
    else return own;
  }
  return 0; // not reached: the root frame returns above
}

/** YAML's `!!omap`/`!!set` decode to a Map/Set: their entries count as children too. */
function childrenOf(value: object): unknown[] {
  if (Array.isArray(value)) return value;
  if (value instanceof Map) return [...value.keys(), ...value.values()];
  if (value instanceof Set) return [...value];
  return Object.values(value);
}

function isContainer(value: unknown): value is object {
  return typeof value === "object" && value !== null;
}
