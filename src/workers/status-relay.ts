import type { LoadBalancerIngress } from "../model/k8s.ts";
import type { StatusWriter } from "../status/writer.ts";

export type StatusKind = "ingress" | "service";

/**
 * The primary's side of status writes made in workers. Every worker runs the same planes on the same
 * snapshot, so each asks for the same write: the first write of a (kind, object, content) for a
 * snapshot generation goes to the real writer and the others share its outcome. A later generation
 * writes again (the object may have been changed by someone else meanwhile: the worker's plane
 * decided from the snapshot that a write is needed).
 */
export class StatusRelay {
  private readonly writer: StatusWriter;
  private readonly recent = new Map<string, { generation: number; content: string; result: Promise<void> }>();

  constructor(writer: StatusWriter) {
    this.writer = writer;
  }

  write(
    generation: number,
    kind: StatusKind,
    namespace: string,
    name: string,
    ingress: readonly LoadBalancerIngress[],
  ): Promise<void> {
    const key = `${kind} ${namespace}/${name}`;
    const content = JSON.stringify(ingress);
    const last = this.recent.get(key);
    if (last && last.generation === generation && last.content === content) return last.result;
    const result =
      kind === "ingress"
        ? this.writer.setIngressStatus(namespace, name, ingress)
        : this.writer.setServiceStatus(namespace, name, ingress);
    // the entry is only for sharing; its rejection is seen by whoever awaits it
    result.catch(() => {});
    this.recent.set(key, { generation, content, result });
    return result;
  }

  /** Forgets writes of generations before `generation` (they can no longer be shared). */
  prune(generation: number): void {
    for (const [key, entry] of this.recent) if (entry.generation < generation) this.recent.delete(key);
  }

  get size(): number {
    return this.recent.size;
  }
}

/**
 * The worker's StatusWriter: writes go to the primary, which owns the real writer (and, in cluster
 * mode, the leadership that allows writing). A refused write rejects, so the plane retries it later.
 */
export class IpcStatusWriter implements StatusWriter {
  private readonly send: (request: StatusRequest) => Promise<void>;
  /** the generation the worker is applying, sent along for the primary's dedupe */
  generation = 0;

  constructor(send: (request: StatusRequest) => Promise<void>) {
    this.send = send;
  }

  setIngressStatus(namespace: string, name: string, ingress: readonly LoadBalancerIngress[]): Promise<void> {
    return this.send({ generation: this.generation, kind: "ingress", namespace, name, ingress });
  }

  setServiceStatus(namespace: string, name: string, ingress: readonly LoadBalancerIngress[]): Promise<void> {
    return this.send({ generation: this.generation, kind: "service", namespace, name, ingress });
  }

  /** Reads are served by the primary's admin API, never in a worker. */
  ingressStatus(): undefined {
    return undefined;
  }

  serviceStatus(): undefined {
    return undefined;
  }
}

export interface StatusRequest {
  generation: number;
  kind: StatusKind;
  namespace: string;
  name: string;
  ingress: readonly LoadBalancerIngress[];
}
