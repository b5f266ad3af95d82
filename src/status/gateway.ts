/**
 * The Gateway API status reconciler: on each snapshot (in the process that owns the status writer: the
 * primary), the status the translator computed (`snapshot.gateway.status`) plus what the planes found when
 * binding the Gateways' sockets, handed to the StatusWriter for every object whose wanted status changed.
 * The writer merges it with what the object carries (gateway-merge.ts) and writes only real changes.
 *
 * Bind reports come from the planes (`StatusWriter.reportGatewayBind`; from worker processes through the
 * status relay): a socket that could not be bound makes each listener on it Accepted=False reason
 * PortUnavailable and Programmed=False reason Invalid with the error as message, and a Gateway with no
 * programmed listener left Programmed=False reason Invalid. Reports for sockets no longer in the snapshot are
 * forgotten.
 */
import type { Logger } from "../log.ts";
import type { Condition, GatewayApiStatus, ListenerStatus } from "../model/gateway.ts";
import type { GatewayListenerRef, GatewaySnapshot, GatewayStatusSet } from "../snapshot/gateway.ts";
import type { StatusWriter } from "./writer.ts";

/** One object's wanted status, as handed to `setGatewayApiStatus`. */
export interface WantedStatus {
  namespace: string;
  name: string;
  status: GatewayApiStatus;
}

/**
 * The wanted status of every object (pure): the translator's, with the bind failures (socket id → error)
 * applied to the listeners on those sockets.
 */
export function wantedStatuses(
  snapshot: GatewaySnapshot,
  failures: ReadonlyMap<string, string>,
  controllerName: string,
): WantedStatus[] {
  const failed = new Map<string, string>(); // "ns/gateway/listener" → error
  for (const socket of [...snapshot.http, ...snapshot.l4]) {
    const error = failures.get(socket.id);
    if (error === undefined) continue;
    for (const ref of socket.listeners) failed.set(listenerKey(ref), error);
  }
  const set: GatewayStatusSet = snapshot.status;
  const out: WantedStatus[] = [];
  for (const gc of set.gatewayClasses)
    out.push({
      namespace: "",
      name: gc.name,
      status: {
        kind: "GatewayClass",
        status: {
          conditions: [...gc.conditions],
          supportedFeatures: [...gc.supportedFeatures].sort().map((name) => ({ name })),
        },
      },
    });
  for (const gw of set.gateways) {
    let touched = false;
    const listeners = gw.listeners.map((l): ListenerStatus => {
      const error = failed.get(listenerKey({ namespace: gw.namespace, gateway: gw.name, listener: l.name }));
      if (error === undefined) return { ...l, conditions: [...l.conditions] };
      touched = true;
      return {
        ...l,
        conditions: setConditions(l.conditions, [
          { type: "Accepted", status: "False", reason: "PortUnavailable", message: error },
          { type: "Programmed", status: "False", reason: "Invalid", message: error },
        ]),
      };
    });
    let conditions = [...gw.conditions];
    if (touched) {
      const programmed = listeners.filter((l) => isTrue(l.conditions, "Programmed")).length;
      const unaccepted = listeners.filter((l) => !isTrue(l.conditions, "Accepted")).length;
      const accepted = conditions.find((c) => c.type === "Accepted");
      if (accepted?.status === "True")
        conditions = setConditions(conditions, [
          {
            type: "Accepted",
            status: "True",
            reason: "ListenersNotValid",
            message: `${unaccepted} of ${listeners.length} listeners could not be bound`,
          },
        ]);
      if (programmed === 0)
        conditions = setConditions(conditions, [
          { type: "Programmed", status: "False", reason: "Invalid", message: "no listener could be programmed" },
        ]);
    }
    out.push({
      namespace: gw.namespace,
      name: gw.name,
      status: {
        kind: "Gateway",
        status: { addresses: [...gw.addresses], conditions, listeners },
      },
    });
  }
  for (const route of set.routes)
    out.push({
      namespace: route.namespace,
      name: route.name,
      status: {
        kind: route.kind,
        status: {
          parents: route.parents.map((p) => ({
            parentRef: p.parentRef,
            controllerName,
            conditions: [...p.conditions],
          })),
        },
      },
    });
  return out;
}

/** Replaces conditions by type, keeping the observedGeneration of the one replaced. */
function setConditions(list: readonly Condition[], next: readonly Condition[]): Condition[] {
  const out = [...list];
  for (const c of next) {
    const i = out.findIndex((o) => o.type === c.type);
    const generation = (i >= 0 ? out[i]!.observedGeneration : undefined) ?? list[0]?.observedGeneration;
    const cond = { ...c, ...(generation !== undefined ? { observedGeneration: generation } : {}) };
    if (i >= 0) out[i] = cond;
    else out.push(cond);
  }
  return out;
}

function isTrue(list: readonly Condition[], type: string): boolean {
  return list.some((c) => c.type === type && c.status === "True");
}

function listenerKey(ref: GatewayListenerRef): string {
  return `${ref.namespace}/${ref.gateway}/${ref.listener}`;
}

function statusId(w: Pick<WantedStatus, "namespace" | "name"> & { kind: string }): string {
  return `${w.kind}|${w.namespace}/${w.name}`;
}

/**
 * Applies `wantedStatuses` on each snapshot and on each bind report, one pass at a time, handing the writer
 * only what changed since it last succeeded (a failed write is tried again on the next pass).
 */
export class GatewayStatusReconciler {
  private readonly writer: StatusWriter;
  private readonly logger: Logger;
  private readonly controllerName: string;
  private snapshot: GatewaySnapshot | undefined;
  /** socket id → error of the last report that it failed */
  private readonly failures = new Map<string, string>();
  /** status id → what was last handed to the writer successfully (JSON) */
  private readonly written = new Map<string, { text: string; wanted: WantedStatus }>();
  private running: Promise<void> | undefined;
  private again = false;
  private closed = false;

  constructor(writer: StatusWriter, logger: Logger, controllerName: string) {
    this.writer = writer;
    this.controllerName = controllerName;
    this.logger = logger.child({ component: "gateway-status" });
  }

  /** A new snapshot: forget bind reports of sockets it no longer has, then reconcile. */
  apply(snapshot: GatewaySnapshot): Promise<void> {
    this.snapshot = snapshot;
    const ids = new Set([...snapshot.http, ...snapshot.l4].map((s) => s.id));
    for (const id of this.failures.keys()) if (!ids.has(id)) this.failures.delete(id);
    return this.schedule();
  }

  /** A plane tried to bind a socket: `error` undefined = it listens. */
  reportBind(socketId: string, error: string | undefined): void {
    const before = this.failures.get(socketId);
    if (error === undefined) this.failures.delete(socketId);
    else this.failures.set(socketId, error);
    if (before === error) return;
    if (error !== undefined) this.logger.warn({ socket: socketId, err: error }, "Gateway socket could not be bound");
    if (this.snapshot) void this.schedule();
  }

  /** Resolves when no pass is running (tests, shutdown). */
  async whenIdle(): Promise<void> {
    while (this.running) await this.running;
  }

  close(): void {
    this.closed = true;
  }

  private schedule(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        try {
          await this.pass();
        } catch (err) {
          // a bug here must not take the process down (apply() is not awaited by the pipeline)
          this.logger.error({ err }, "Gateway API status pass failed; will try again on the next snapshot");
          this.written.clear();
        }
      } while (this.again && !this.closed);
    })().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async pass(): Promise<void> {
    const snapshot = this.snapshot;
    const write = this.writer.setGatewayApiStatus?.bind(this.writer);
    if (!snapshot || !write || this.closed) return;
    const wanted = wantedStatuses(snapshot, this.failures, this.controllerName);
    const present = new Set<string>();
    for (const w of wanted) {
      const id = statusId({ kind: w.status.kind, namespace: w.namespace, name: w.name });
      present.add(id);
      const text = JSON.stringify(w.status);
      if (this.written.get(id)?.text === text) continue;
      await this.write(id, w, text, write);
    }
    // Routes that no longer name a Gateway of ours lose our parent entries (an empty list of ours); a Gateway
    // or class that left our class is left as it is: the new controller owns its status now.
    for (const [id, entry] of [...this.written]) {
      if (present.has(id)) continue;
      const { kind } = entry.wanted.status;
      if (kind === "Gateway" || kind === "GatewayClass") {
        this.written.delete(id);
        continue;
      }
      const cleared: WantedStatus = { ...entry.wanted, status: { kind, status: { parents: [] } } };
      const ok = await this.write(id, cleared, "", write);
      if (ok) this.written.delete(id);
    }
  }

  private async write(
    id: string,
    w: WantedStatus,
    text: string,
    write: NonNullable<StatusWriter["setGatewayApiStatus"]>,
  ): Promise<boolean> {
    try {
      await write(w.namespace, w.name, w.status);
      if (text) this.written.set(id, { text, wanted: w });
      return true;
    } catch (err) {
      this.written.delete(id);
      this.logger.warn({ err, object: id }, "could not write Gateway API status; will retry on the next snapshot");
      return false;
    }
  }
}

/**
 * The StatusWriter the planes (and the workers' relay) are given: `writer` with bind reports routed to the
 * reconciler, which turns them into listener conditions.
 */
export function withBindReports(writer: StatusWriter, reconciler: GatewayStatusReconciler): StatusWriter {
  return {
    setIngressStatus: (namespace, name, ingress) => writer.setIngressStatus(namespace, name, ingress),
    setServiceStatus: (namespace, name, ingress) => writer.setServiceStatus(namespace, name, ingress),
    ingressStatus: (namespace, name) => writer.ingressStatus(namespace, name),
    serviceStatus: (namespace, name) => writer.serviceStatus(namespace, name),
    ...(writer.forget ? { forget: writer.forget.bind(writer) } : {}),
    ...(writer.setGatewayApiStatus ? { setGatewayApiStatus: writer.setGatewayApiStatus.bind(writer) } : {}),
    ...(writer.gatewayApiStatus ? { gatewayApiStatus: writer.gatewayApiStatus.bind(writer) } : {}),
    reportGatewayBind: (socketId, error) => reconciler.reportBind(socketId, error),
  };
}
