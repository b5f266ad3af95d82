/**
 * The metadata the API server keeps for every object, emulated for manifests mode:
 * - `uid`: hashed from kind/namespace/name (so it survives restarts), unless the manifest has one;
 * - `creationTimestamp`: when this process first saw the object (kept while the object stays in the
 *   folder, so "oldest wins" rules are stable), unless the manifest has one;
 * - `resourceVersion`: a counter, bumped for an object whenever its content changes.
 * The clock is injected so the bookkeeping stays testable.
 */
import { createHash } from "node:crypto";
import { GATEWAY_KINDS, type TypedObject } from "../../model/k8s.ts";

const GENERATION_KINDS: ReadonlySet<string> = new Set(GATEWAY_KINDS);

interface Record_ {
  signature: string;
  /** the object without metadata and status: a change bumps `generation` (Gateway API kinds) */
  specSignature: string;
  generation: number;
  resourceVersion: string;
  creationTimestamp: string;
}

export interface Stampable {
  kind: string;
  obj: TypedObject;
}

export class MetadataTracker {
  private records = new Map<string, Record_>();
  private counter = 0;
  private readonly now: () => Date;

  constructor(now: () => Date = () => new Date()) {
    this.now = now;
  }

  /**
   * Fills uid, creationTimestamp and resourceVersion on copies of `objects` (one whole pass: objects
   * not in it are forgotten, so one that comes back later counts as new).
   */
  stampAll<T extends Stampable>(objects: readonly T[]): T[] {
    const steps = this.stampSteps(objects);
    for (;;) {
      const step = steps.next();
      if (step.done) return step.value;
    }
  }

  /** `stampAll`, yielding after each object (the compiler pauses there to let the event loop run). */
  *stampSteps<T extends Stampable>(objects: readonly T[]): Generator<void, T[]> {
    const next = new Map<string, Record_>();
    const created = rfc3339(this.now());
    const out: T[] = [];
    for (const entry of objects) {
      const meta = entry.obj.metadata ?? {};
      const id = `${entry.kind}/${meta.namespace ?? ""}/${meta.name ?? ""}`;
      const signature = JSON.stringify(entry.obj);
      let record = this.records.get(id);
      if (!record || record.signature !== signature) {
        const { metadata: _m, status: _s, ...spec } = entry.obj as TypedObject & { status?: unknown };
        const specSignature = JSON.stringify(spec);
        record = {
          signature,
          specSignature,
          generation: !record ? 1 : record.specSignature === specSignature ? record.generation : record.generation + 1,
          resourceVersion: String(++this.counter),
          creationTimestamp: record?.creationTimestamp ?? created,
        };
      }
      next.set(id, record);
      const obj = structuredClone(entry.obj);
      obj.metadata = {
        ...obj.metadata,
        uid: meta.uid || uidFor(entry.kind, meta.namespace, meta.name),
        resourceVersion: record.resourceVersion,
        creationTimestamp: meta.creationTimestamp || record.creationTimestamp,
        // Gateway API status carries observedGeneration: as the API server, count spec changes
        ...(GENERATION_KINDS.has(entry.kind) ? { generation: meta.generation ?? record.generation } : {}),
      };
      out.push({ ...entry, obj });
      yield;
    }
    this.records = next;
    return out;
  }
}

/** A UUID-shaped id hashed from the object's identity (version nibble 8: custom, RFC 9562). */
export function uidFor(kind: string, namespace: string | undefined, name: string | undefined): string {
  const hex = createHash("sha256")
    .update(`${kind}/${namespace ?? ""}/${name ?? ""}`)
    .digest("hex");
  const variant = ((Number.parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** RFC 3339 to the second, as Kubernetes writes timestamps. */
export function rfc3339(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}
