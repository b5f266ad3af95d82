import type { EndpointSlice, Ingress, Kind, LoadBalancerIngress, Service, TypedObject } from "../model/k8s.ts";
import type { Problem } from "../model/problems.ts";
import type { ServicePortSnapshot, Snapshot } from "../snapshot/snapshot.ts";
import type { StatusWriter } from "../status/writer.ts";
import { objectKey, type Store } from "../store/store.ts";
import { RESOURCES, type ResourceInfo } from "./resources.ts";

/** A v1 `List`, as `kubectl get -o json` prints one. */
export interface ObjectList<T> {
  apiVersion: "v1";
  kind: "List";
  metadata: { resourceVersion: string };
  items: T[];
}

/**
 * When each object was first seen, for objects without `metadata.creationTimestamp` (manifests mode:
 * the API server would have set it). Fed by store changes so AGE counts from when nodeplane read the object.
 */
export class ObjectAges {
  private readonly seen = new Map<string, string>();
  private readonly now: () => Date;
  readonly unsubscribe: () => void;

  constructor(store: Store, now: () => Date = () => new Date()) {
    this.now = now;
    this.unsubscribe = store.subscribe((changes) => {
      const at = this.now().toISOString();
      for (const change of changes) {
        const id = `${change.kind}:${change.key}`;
        if (change.type === "deleted") this.seen.delete(id);
        else if (!this.seen.has(id)) this.seen.set(id, at);
      }
    });
  }

  /** The object's creationTimestamp, else when nodeplane first saw it. */
  creationTimestamp(kind: Kind, obj: TypedObject): string | undefined {
    return (
      obj.metadata?.creationTimestamp ??
      this.seen.get(`${kind}:${objectKey(kind, obj.metadata?.namespace, obj.metadata?.name)}`)
    );
  }
}

export interface ApiInputs {
  snapshot: Snapshot | undefined;
  store: Store;
  status: StatusWriter;
  ages: ObjectAges;
  /** --gateway-controller, for the Route parent statuses computed from the snapshot */
  gatewayController?: string;
}

export function list<T>(items: T[]): ObjectList<T> {
  return { apiVersion: "v1", kind: "List", metadata: { resourceVersion: "" }, items };
}

/**
 * The Services as nodeplane sees them: from the snapshot (allocated clusterIPs and nodePorts filled in),
 * with `status.loadBalancer` as last written by the StatusWriter.
 */
export function listServices(inputs: ApiInputs, namespace?: string): Service[] {
  const services = inputs.snapshot?.services ?? [...inputs.store.list("Service")];
  return sortByKey(services.filter((s) => inNamespace(s, namespace))).map((svc) => {
    const ns = namespaceOf(svc);
    const name = svc.metadata?.name ?? "";
    const written = inputs.status.serviceStatus(ns, name);
    const withStatus: Service = written ? { ...svc, status: { ...svc.status, loadBalancer: lb(written) } } : svc;
    return complete(withStatus, "Service", inputs.ages);
  });
}

export function listEndpointSlices(inputs: ApiInputs, namespace?: string): EndpointSlice[] {
  const slices = [...inputs.store.list("EndpointSlice")].filter((s) => inNamespace(s, namespace));
  return sortByKey(slices).map((slice) => complete(slice, "EndpointSlice", inputs.ages));
}

export function listIngresses(inputs: ApiInputs, namespace?: string): Ingress[] {
  const ingresses = [...inputs.store.list("Ingress")].filter((i) => inNamespace(i, namespace));
  return sortByKey(ingresses).map((ing) => {
    const written = inputs.status.ingressStatus(namespaceOf(ing), ing.metadata?.name ?? "");
    const withStatus: Ingress = written ? { ...ing, status: { ...ing.status, loadBalancer: lb(written) } } : ing;
    return complete(withStatus, "Ingress", inputs.ages);
  });
}

/** The service proxy's view of one Service (or all): frontends with their action, and endpoints. */
export function listServicePorts(snapshot: Snapshot | undefined, namespace?: string, name?: string) {
  const ports: readonly ServicePortSnapshot[] = snapshot?.servicePorts ?? [];
  return ports.filter((p) => (namespace === undefined || p.namespace === namespace) && (!name || p.name === name));
}

export function listProblems(snapshot: Snapshot | undefined, sourceProblems: readonly Problem[]): Problem[] {
  return [...sourceProblems, ...(snapshot?.problems ?? [])];
}

/** Shape of prom-client's `getMetricsAsJSON()` entries (its typings say `type` is numeric; at run time it is a string). */
export interface MetricJSON {
  name: string;
  help?: string;
  type: unknown;
  values: { value: number; labels: Record<string, string | number | undefined>; metricName?: string }[];
}

export interface TrafficRow {
  kind: "service" | "ingress";
  /** `namespace/name` when the metric says, else the label's value */
  key: string;
  /** metric name → value summed over the other labels (histograms and summaries: `<name>_count`) */
  metrics: Record<string, number>;
}

/**
 * Per-Service and per-Ingress traffic from whatever the planes registered: every counter and gauge
 * with a `service` or `ingress` label, and the observation counts of such histograms and summaries.
 * Generic on purpose: planes choose their own metric names.
 */
export function summariseTraffic(metrics: readonly MetricJSON[]): TrafficRow[] {
  const rows = new Map<string, TrafficRow>();
  for (const metric of metrics) {
    const type = String(metric.type);
    const counts = type === "histogram" || type === "summary";
    if (!counts && type !== "counter" && type !== "gauge") continue;
    for (const sample of metric.values) {
      if (counts && !sample.metricName?.endsWith("_count")) continue;
      const kind =
        sample.labels.service !== undefined ? "service" : sample.labels.ingress !== undefined ? "ingress" : "";
      if (!kind) continue;
      const label = String(sample.labels[kind]);
      const ns = sample.labels.namespace;
      const key = ns !== undefined && !label.includes("/") ? `${ns}/${label}` : label;
      const id = `${kind}\u0000${key}`;
      let row = rows.get(id);
      if (!row) {
        row = { kind, key, metrics: {} };
        rows.set(id, row);
      }
      const name = counts ? `${metric.name}_count` : metric.name;
      row.metrics[name] = (row.metrics[name] ?? 0) + sample.value;
    }
  }
  return [...rows.values()].sort((a, b) => a.kind.localeCompare(b.kind) || a.key.localeCompare(b.key));
}

export function resourceFor(kind: ResourceInfo["kind"]): ResourceInfo {
  return RESOURCES.find((r) => r.kind === kind)!;
}

/** Adds apiVersion/kind (list items carry them, as kubectl's do) and a creationTimestamp. */
export function complete<T extends TypedObject>(obj: T, kind: ResourceInfo["kind"], ages: ObjectAges): T {
  const created = ages.creationTimestamp(kind, obj);
  return {
    ...obj,
    apiVersion: obj.apiVersion ?? resourceFor(kind).apiVersion,
    kind,
    metadata: {
      ...obj.metadata,
      ...(resourceFor(kind).namespaced === false ? {} : { namespace: namespaceOf(obj) }),
      ...(created ? { creationTimestamp: created } : {}),
    },
  };
}

function lb(ingress: readonly LoadBalancerIngress[]): { ingress?: LoadBalancerIngress[] } {
  return ingress.length > 0 ? { ingress: [...ingress] } : {};
}

export function namespaceOf(obj: TypedObject): string {
  return obj.metadata?.namespace ?? "default";
}

export function inNamespace(obj: TypedObject, namespace: string | undefined): boolean {
  return namespace === undefined || namespace === "" || namespaceOf(obj) === namespace;
}

export function sortByKey<T extends TypedObject>(objects: readonly T[]): T[] {
  const key = (o: T) => `${namespaceOf(o)}\u0000${o.metadata?.name ?? ""}`;
  return [...objects].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}
