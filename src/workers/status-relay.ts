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
  /** Gateway socket id → worker → its last bind error (absent: that worker listens) */
  private readonly binds = new Map<string, Map<string, string | undefined>>();

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

  /**
   * A worker's bind report for a Gateway socket. Every worker of a group binds the same sockets: the socket
   * counts as failed while any worker's last report for it is a failure (the first such error is passed on),
   * and the writer hears only when that changes.
   */
  reportGatewayBind(worker: string, socketId: string, error: string | undefined): void {
    const before = this.bindError(socketId);
    let reports = this.binds.get(socketId);
    if (!reports) {
      reports = new Map();
      this.binds.set(socketId, reports);
    }
    reports.set(worker, error);
    const after = this.bindError(socketId);
    if (after === undefined) this.binds.delete(socketId); // every report a success: nothing to remember
    if (after !== before) this.writer.reportGatewayBind?.(socketId, after);
  }

  private bindError(socketId: string): string | undefined {
    for (const error of this.binds.get(socketId)?.values() ?? []) if (error !== undefined) return error;
    return undefined;
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

  private readonly sendBind: (socketId: string, error: string | undefined) => void;

  constructor(
    send: (request: StatusRequest) => Promise<void>,
    sendBind: (socketId: string, error: string | undefined) => void = () => {},
  ) {
    this.send = send;
    this.sendBind = sendBind;
  }

  /** Bind reports go to the primary, whose reconciler turns failures into listener conditions. */
  reportGatewayBind(socketId: string, error: string | undefined): void {
    this.sendBind(socketId, error);
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
