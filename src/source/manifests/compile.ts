/**
 * Manifest files → the objects the store should hold, plus the problems found (no I/O; the clock is
 * injected through MetadataTracker). One `compile` is one full pass over the folder:
 * parse → accept kind → validate → API defaults → de-duplicate → allocate Service addresses →
 * mirror Endpoints → metadata. The allocator and metadata tracker keep state between passes, which
 * is what makes allocations sticky and creationTimestamps stable while the process runs.
 */
import {
  type Endpoints,
  GATEWAY_KINDS,
  KINDS,
  type Kind,
  type KindMap,
  NAMESPACE_NAME_LABEL,
  SERVICE_NAME_LABEL,
  type Secret,
  type Service,
  type TypedObject,
} from "../../model/k8s.ts";
import type { Problem } from "../../model/problems.ts";
import { objectKey } from "../../store/store.ts";
import { type AllocatorConfig, ServiceAllocator } from "./allocator.ts";
import { applyDefaults } from "./defaults.ts";
import { MetadataTracker, uidFor } from "./metadata.ts";
import { mirrorEndpoints, shouldMirror } from "./mirror.ts";
import { isPlainObject, type ManifestFile, type ParsedFile, parseManifestFile } from "./parse.ts";
import { acceptedApiVersions, isClusterScoped, isManifestKind, type ManifestKind, validateObject } from "./validate.ts";

/** A document that was read fine but is not used, with why (logged at debug level). */
export interface Ignored {
  origin?: string;
  kind: string;
  namespace?: string;
  name?: string;
  reason: string;
}

export type ObjectsByKind = { [K in Kind]: KindMap[K][] };

export interface CompileResult {
  objects: ObjectsByKind;
  problems: Problem[];
  ignored: Ignored[];
}

export interface CompilerOptions extends AllocatorConfig {
  now?: () => Date;
}

interface Accepted {
  kind: ManifestKind;
  key: string;
  origin: string;
  obj: TypedObject;
}

export class ManifestCompiler {
  private readonly allocator: ServiceAllocator;
  private readonly tracker: MetadataTracker;
  private readonly options: CompilerOptions;

  constructor(options: CompilerOptions) {
    this.options = options;
    this.allocator = new ServiceAllocator(options);
    this.tracker = new MetadataTracker(options.now);
  }

  /** `files` in the order they should be read (the source sorts them by path). */
  compile(files: readonly ManifestFile[]): CompileResult {
    return this.compileParsed(files.map(parseManifestFile));
  }

  /** Files parsed already (the source parses on a worker thread), in reading order. */
  compileParsed(files: readonly ParsedFile[]): CompileResult {
    const steps = this.steps(files);
    for (;;) {
      const step = steps.next();
      if (step.done) return step.value;
    }
  }

  /**
   * `compileParsed` that gives the event loop a turn whenever it has run for `sliceMs`: validating,
   * defaulting and stamping cost ~0.1–0.3 ms per object, so a folder of thousands would otherwise
   * hold up the ingress and the service proxy for as long.
   */
  async compileYielding(files: readonly ParsedFile[], sliceMs = 5): Promise<CompileResult> {
    const steps = this.steps(files);
    let since = performance.now();
    for (;;) {
      const step = steps.next();
      if (step.done) return step.value;
      if (performance.now() - since < sliceMs) continue;
      await new Promise((resolve) => setImmediate(resolve));
      since = performance.now();
    }
  }

  /** The pass, yielding after each document and object: a point where the caller may pause. */
  private *steps(files: readonly ParsedFile[]): Generator<void, CompileResult> {
    const problems: Problem[] = [];
    const ignored: Ignored[] = [];
    const accepted: Accepted[] = [];
    const seen = new Map<string, string>(); // kind/key → origin of the first definition

    for (const parsed of files) {
      problems.push(...parsed.problems);
      for (const doc of parsed.documents) {
        const entry = this.acceptGuarded(doc.object, doc.origin, problems, ignored);
        if (!entry) continue;
        const first = seen.get(`${entry.kind}/${entry.key}`);
        if (first) {
          problems.push({
            ...identity(entry.kind, entry.obj, entry.origin),
            field: "metadata.name",
            message: `duplicate: ${entry.kind} ${entry.key} is already defined in ${first}; this one is skipped`,
          });
          continue;
        }
        seen.set(`${entry.kind}/${entry.key}`, entry.origin);
        accepted.push(entry);
        yield;
      }
    }

    const byKind = (kind: ManifestKind) => accepted.filter((a) => a.kind === kind);
    const allocation = yield* this.allocator.allocateSteps(
      byKind("Service").map((a) => ({ key: a.key, origin: a.origin, service: a.obj as Service })),
    );
    problems.push(...allocation.problems);
    const services = new Set(
      allocation.services.map((s) => objectKey("Service", s.metadata?.namespace, s.metadata?.name)),
    );

    const out: Accepted[] = [];
    for (const service of allocation.services) {
      const key = objectKey("Service", service.metadata?.namespace, service.metadata?.name);
      out.push({ kind: "Service", key, origin: seen.get(`Service/${key}`) ?? "", obj: service });
    }
    for (const kind of [
      "EndpointSlice",
      "Ingress",
      "IngressClass",
      "Node",
      "Pod",
      "Namespace",
      ...GATEWAY_KINDS,
    ] as const)
      out.push(...byKind(kind));
    for (const secret of byKind("Secret")) {
      const type = (secret.obj as Secret).type;
      if (type === "kubernetes.io/tls") out.push(secret);
      else
        ignored.push({
          ...identity("Secret", secret.obj, secret.origin),
          reason: `type ${type}: only kubernetes.io/tls Secrets are used`,
        });
    }
    out.push(...this.mirror(byKind("Endpoints"), services, accepted, problems, ignored));
    out.push(...implicitNamespaces(out));

    const stamped = yield* this.tracker.stampSteps(out);
    const objects = Object.fromEntries(KINDS.map((k) => [k, [] as TypedObject[]])) as unknown as ObjectsByKind;
    for (const entry of stamped) (objects[entry.kind as Kind] as TypedObject[]).push(entry.obj);
    return { objects, problems, ignored };
  }

  /**
   * `accept`, with any unforeseen throw (a bug, or an input the limits did not foresee) turned into a
   * problem on that document: one document can never fail the whole pass and keep every other file
   * from being applied.
   */
  private acceptGuarded(value: unknown, origin: string, problems: Problem[], ignored: Ignored[]): Accepted | undefined {
    try {
      return this.accept(value, origin, problems, ignored);
    } catch (err) {
      problems.push({ kind: "Document", origin, message: `cannot be read: ${(err as Error).message}; skipped` });
      return undefined;
    }
  }

  /** Checks kind, apiVersion and fields of one document; returns it defaulted, or undefined. */
  private accept(value: unknown, origin: string, problems: Problem[], ignored: Ignored[]): Accepted | undefined {
    if (!isPlainObject(value)) {
      problems.push({ kind: "Document", origin, message: "must be a Kubernetes object (a mapping), not a value" });
      return undefined;
    }
    const kind = value.kind;
    if (typeof kind !== "string" || kind === "") {
      problems.push({ kind: "Document", origin, field: "kind", message: "required" });
      return undefined;
    }
    if (!isManifestKind(kind)) {
      ignored.push({ ...identity(kind, value as TypedObject, origin), reason: "kind not used by nodeplane" });
      return undefined;
    }
    const accepted = acceptedApiVersions(kind);
    if (typeof value.apiVersion !== "string" || !accepted.includes(value.apiVersion)) {
      const expected = accepted.length === 1 ? accepted[0] : `one of ${accepted.join(", ")}`;
      problems.push({
        ...identity(kind, value as TypedObject, origin),
        field: "apiVersion",
        message:
          typeof value.apiVersion === "string" && value.apiVersion !== ""
            ? `${value.apiVersion} ${kind} is not supported; write it as ${expected}`
            : `required (${expected})`,
      });
      return undefined;
    }
    const fieldProblems = validateObject(kind, value, this.options);
    if (fieldProblems.length > 0) {
      const who = identity(kind, value as TypedObject, origin);
      for (const p of fieldProblems) problems.push({ ...who, field: p.field, message: p.message });
      return undefined;
    }
    const obj = applyDefaults(kind, value);
    const storeKind: Kind = kind === "Endpoints" ? "Service" : kind; // Endpoints share the Service key space
    return { kind, key: objectKey(storeKind, obj.metadata?.namespace, obj.metadata?.name), origin, obj };
  }

  /**
   * Mirrors Endpoints to slices. Unlike the controller, Services with a selector are mirrored too
   * (nothing else would make their endpoints in manifests mode), but not when the folder already
   * has EndpointSlices for that Service (a dump of a cluster has both, and would double every endpoint).
   */
  private mirror(
    endpoints: Accepted[],
    services: Set<string>,
    accepted: Accepted[],
    problems: Problem[],
    ignored: Ignored[],
  ): Accepted[] {
    const userSlices = accepted.filter((a) => a.kind === "EndpointSlice");
    const sliceNames = new Set(userSlices.map((a) => a.key));
    const servicesWithSlices = new Set<string>();
    for (const entry of userSlices) {
      const service = entry.obj.metadata?.labels?.[SERVICE_NAME_LABEL];
      if (service) servicesWithSlices.add(objectKey("Service", entry.obj.metadata?.namespace, service));
    }
    const out: Accepted[] = [];
    for (const entry of endpoints) {
      const ep = entry.obj as Endpoints;
      const skip = (reason: string) => ignored.push({ ...identity("Endpoints", ep, entry.origin), reason });
      if (!shouldMirror(ep)) {
        skip("not mirrored (skip-mirror label or leader-election record)");
        continue;
      }
      if (!services.has(entry.key)) {
        skip("no Service of the same name, so nothing to mirror it for (as the mirroring controller)");
        continue;
      }
      if (servicesWithSlices.has(entry.key)) {
        skip("the folder has EndpointSlices for this Service already; those are used");
        continue;
      }
      const meta = ep.metadata!;
      const withUid: Endpoints = {
        ...ep,
        metadata: { ...meta, uid: meta.uid || uidFor("Endpoints", meta.namespace, meta.name) },
      };
      for (const slice of mirrorEndpoints(withUid)) {
        const key = objectKey("EndpointSlice", slice.metadata?.namespace, slice.metadata?.name);
        if (sliceNames.has(key)) {
          problems.push({
            ...identity("Endpoints", ep, entry.origin),
            message: `mirrored EndpointSlice ${key} clashes with an EndpointSlice of the same name; not mirrored`,
          });
          continue;
        }
        sliceNames.add(key);
        out.push({ kind: "EndpointSlice", key, origin: entry.origin, obj: slice });
      }
    }
    return out;
  }
}

/**
 * In a cluster every object's namespace exists as a Namespace object; a folder rarely declares them. Namespaces
 * matter only to Gateway listeners' `allowedRoutes.namespaces.selector`, so when the folder has Gateway API
 * objects, each namespace used but not declared is made up as the API server would hold it: with its
 * `kubernetes.io/metadata.name` label (which selectors commonly use to pick namespaces by name).
 */
function implicitNamespaces(objects: readonly Accepted[]): Accepted[] {
  const gatewayKinds: ReadonlySet<string> = new Set(GATEWAY_KINDS);
  if (!objects.some((o) => gatewayKinds.has(o.kind))) return [];
  const declared = new Set(objects.filter((o) => o.kind === "Namespace").map((o) => o.obj.metadata?.name));
  const used = new Set<string>();
  for (const o of objects) {
    const ns = o.obj.metadata?.namespace;
    if (ns && !declared.has(ns)) used.add(ns);
  }
  return [...used].sort().map((name) => ({
    kind: "Namespace" as const,
    key: name,
    origin: "(implicit: the namespace of objects in the folder)",
    obj: {
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name, labels: { [NAMESPACE_NAME_LABEL]: name } },
    },
  }));
}

function identity(
  kind: string,
  obj: TypedObject,
  origin: string,
): Pick<Problem, "kind" | "namespace" | "name" | "origin"> {
  const meta = isPlainObject(obj.metadata) ? obj.metadata : {};
  const name = typeof meta.name === "string" && meta.name !== "" ? meta.name : undefined;
  const clusterScoped = isManifestKind(kind) && isClusterScoped(kind);
  const namespace = clusterScoped
    ? undefined
    : typeof meta.namespace === "string" && meta.namespace !== ""
      ? meta.namespace
      : "default";
  return { kind, namespace, name, origin };
}
