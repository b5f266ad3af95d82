import { type ChildProcess, fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Counter, Gauge, type Registry } from "prom-client";
import type { Config } from "../config.ts";
import type { Logger } from "../log.ts";
import type { Problem } from "../model/problems.ts";
import type { Snapshot } from "../snapshot/snapshot.ts";
import type { WorkerGroup } from "./layout.ts";
import { type FromWorker, type ToWorker, WORKER_SUBCOMMAND, type WorkerMetrics } from "./protocol.ts";
import { encodeSnapshot, type SnapshotDelta } from "./snapshot-wire.ts";
import type { StatusRelay } from "./status-relay.ts";

/** bin/nodeplane.js of this package: the same entry the primary runs, from source or from dist/. */
const ENTRY = fileURLToPath(new URL("../../bin/nodeplane.js", import.meta.url));

export interface SupervisorOptions {
  /** the worker processes to run, by group (`planLayout`) */
  groups: readonly WorkerGroup[];
  /** the configuration the workers run (ephemeral ports already resolved) */
  config: Config;
  logger: Logger;
  registry: Registry;
  status: StatusRelay;
  defaultCertificate?: { cert: string; key: string };
  /** first restart delay after a crash; doubles per crash in a row up to `maxRestartDelayMs` */
  minRestartDelayMs?: number;
  maxRestartDelayMs?: number;
  /** a worker that ran this long without crashing starts over at the first delay */
  stableAfterMs?: number;
  /** how long the first start may take before it counts as failed */
  startTimeoutMs?: number;
  /** how long a stopping worker may take before it is killed */
  stopTimeoutMs?: number;
}

export type WorkerState = "starting" | "running" | "restarting" | "stopped";

export interface WorkerInfo {
  /** position among all workers */
  index: number;
  /** `<group>-<index in the group>`, e.g. `ingress-0` */
  name: string;
  group: string;
  planes: readonly string[];
  pid: number | undefined;
  state: WorkerState;
  /** generation of the last snapshot it applied (0: none yet) */
  generation: number;
  restarts: number;
  startedAt: string | undefined;
  /** how it last exited unexpectedly (absent: never) */
  lastExit?: WorkerExit;
  /** while restarting: when the next try starts */
  nextRetryAt?: string;
}

/** An unexpected exit of a worker. */
export interface WorkerExit {
  /** `signal SIGKILL`, `code 1`, … */
  cause: string;
  /** the reason the worker gave before it exited, when it could */
  reason?: string;
  at: string;
  /** exits in a row without a stable run between them */
  inARow: number;
}

interface Slot {
  index: number;
  name: string;
  group: WorkerGroup;
  /** index among the workers of its group */
  groupIndex: number;
  child: ChildProcess | undefined;
  state: WorkerState;
  /** the snapshot this child holds (as last sent), for deltas */
  sent: Snapshot | undefined;
  applied: number;
  restarts: number;
  /** crashes in a row, for the backoff */
  crashes: number;
  startedAt: number;
  timer: NodeJS.Timeout | undefined;
  lastExit: WorkerExit | undefined;
  nextRetryAt: number | undefined;
  pendingMetrics: Map<number, (metrics: WorkerMetrics | undefined) => void>;
}

/**
 * The primary's side of `--workers N`: forks N worker processes, hands each the current snapshot
 * (as a delta against what it holds), relays their status writes, gathers their metrics, and restarts
 * one that dies with capped exponential backoff. Readiness: every worker has applied a snapshot.
 */
export class Supervisor {
  private readonly options: SupervisorOptions;
  private readonly logger: Logger;
  private readonly slots: Slot[];
  private latest: Snapshot | undefined;
  private stopping = false;
  private nextMetricsId = 1;
  private readonly restartsTotal: Counter;

  constructor(options: SupervisorOptions) {
    this.options = options;
    this.logger = options.logger.child({ component: "workers" });
    this.slots = options.groups
      .flatMap((group) => Array.from({ length: group.count }, (_, groupIndex) => ({ group, groupIndex })))
      .map(({ group, groupIndex }, index) => ({
        index,
        name: `${group.name}-${groupIndex}`,
        group,
        groupIndex,
        child: undefined,
        state: "starting" as WorkerState,
        sent: undefined,
        applied: 0,
        restarts: 0,
        crashes: 0,
        startedAt: 0,
        timer: undefined,
        lastExit: undefined,
        nextRetryAt: undefined,
        pendingMetrics: new Map(),
      }));
    const slots = this.slots;
    new Gauge({
      name: "nodeplane_workers",
      help: "Data-plane worker processes by plane group (service, ingress, all) and state (starting, running, restarting)",
      labelNames: ["group", "state"],
      registers: [options.registry],
      collect() {
        this.reset();
        for (const group of options.groups)
          for (const state of ["starting", "running", "restarting"] as const)
            this.set({ group: group.name, state }, slots.filter((s) => s.group === group && s.state === state).length);
      },
    });
    this.restartsTotal = new Counter({
      name: "nodeplane_worker_restarts_total",
      help: "Worker processes restarted after they exited unexpectedly, by plane group",
      labelNames: ["group"],
      registers: [options.registry],
    });
  }

  /** Forks every worker and waits until each has its planes up; rejects (and stops them) if one cannot. */
  async start(): Promise<void> {
    try {
      await Promise.all(this.slots.map((slot) => this.spawn(slot, true)));
    } catch (err) {
      await this.stop();
      throw err;
    }
    this.logger.info(
      { workers: Object.fromEntries(this.slots.map((s) => [s.name, s.child?.pid])) },
      `${this.slots.length} workers started`,
    );
  }

  /** The snapshot every worker should run: sent now to those up, and to any (re)started later. */
  broadcast(snapshot: Snapshot): void {
    this.latest = snapshot;
    this.options.status.prune(snapshot.generation);
    // workers usually hold the same snapshot: encode each delta once
    const deltas = new Map<Snapshot | undefined, SnapshotDelta>();
    for (const slot of this.slots) if (slot.state === "running") this.sendSnapshot(slot, deltas);
  }

  /** Every worker is up and has applied a snapshot. */
  ready(): boolean {
    return this.slots.every((s) => s.state === "running" && s.applied > 0);
  }

  /** Resolves true once ready(), false after `timeoutMs` (or when stopping). */
  async waitReady(timeoutMs: number): Promise<boolean> {
    const until = Date.now() + timeoutMs;
    while (!this.ready()) {
      if (this.stopping || Date.now() >= until) return false;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return true;
  }

  workers(): WorkerInfo[] {
    return this.slots.map((s) => ({
      index: s.index,
      name: s.name,
      group: s.group.name,
      planes: s.group.planes,
      pid: s.child?.pid,
      state: s.state,
      generation: s.applied,
      restarts: s.restarts,
      startedAt: s.startedAt ? new Date(s.startedAt).toISOString() : undefined,
      ...(s.lastExit ? { lastExit: s.lastExit } : {}),
      ...(s.state === "restarting" && s.nextRetryAt ? { nextRetryAt: new Date(s.nextRetryAt).toISOString() } : {}),
    }));
  }

  /**
   * For /api/problems and /readyz: each worker that is down, or that crashed and has not yet run
   * `stableAfterMs` since (so a crash loop stays visible between its restarts).
   */
  problems(now = Date.now()): Problem[] {
    return workerProblems(this.workers(), this.options.stableAfterMs ?? 30_000, now);
  }

  /** Each running worker's metrics (`getMetricsAsJSON`), by index; one that does not answer in time is left out. */
  async collectMetrics(timeoutMs = 2_000): Promise<Map<number, WorkerMetrics>> {
    const out = new Map<number, WorkerMetrics>();
    await Promise.all(
      this.slots
        .filter((s) => s.state === "running" && s.child?.connected)
        .map(async (slot) => {
          const metrics = await this.askMetrics(slot, timeoutMs);
          if (metrics) out.set(slot.index, metrics);
          else this.logger.warn({ worker: slot.name }, "worker did not answer the metrics request in time");
        }),
    );
    return out;
  }

  /**
   * Stops every worker (asks, then kills after the stop timeout) and never restarts them again.
   * Resolves true when each one stopped cleanly (exit code 0), false when one had to cut its stop
   * short or was killed.
   */
  async stop(): Promise<boolean> {
    this.stopping = true;
    const timeout = this.options.stopTimeoutMs ?? 5_000;
    const clean = await Promise.all(
      this.slots.map(async (slot) => {
        if (slot.timer) clearTimeout(slot.timer);
        slot.timer = undefined;
        const child = slot.child;
        slot.state = "stopped";
        if (!child || child.exitCode !== null || child.signalCode !== null) return true;
        const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
        this.send(child, { type: "stop" });
        const killer = setTimeout(() => {
          this.logger.warn({ worker: slot.name, pid: child.pid }, "worker did not stop in time; killing it");
          child.kill("SIGKILL");
        }, timeout);
        const code = await exited;
        clearTimeout(killer);
        return code === 0;
      }),
    );
    return clean.every(Boolean);
  }

  private spawn(slot: Slot, first: boolean): Promise<void> {
    const { config } = this.options;
    const child = fork(ENTRY, [WORKER_SUBCOMMAND], {
      serialization: "advanced",
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    slot.child = child;
    slot.state = "starting";
    slot.sent = undefined;
    slot.applied = 0;
    slot.startedAt = Date.now();
    slot.nextRetryAt = undefined;
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const settle = (err?: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(startTimer);
        if (err) reject(err);
        else resolve();
      };
      const startTimer = setTimeout(() => {
        settle(new Error(`worker ${slot.name} did not start within ${this.options.startTimeoutMs ?? 30_000} ms`));
        child.kill("SIGKILL");
      }, this.options.startTimeoutMs ?? 30_000);
      let failure: string | undefined;
      child.on("message", (message: FromWorker) => {
        if (message.type === "started") {
          if (slot.child !== child || this.stopping) return;
          slot.state = "running";
          if (!first) this.logger.info({ worker: slot.name, pid: child.pid }, `worker ${slot.name} restarted`);
          if (this.latest) this.sendSnapshot(slot);
          settle();
        } else if (message.type === "failed") {
          failure = message.message;
        } else this.receive(slot, child, message);
      });
      child.on("error", (err) => this.logger.warn({ err, worker: slot.name }, "worker process error"));
      child.once("exit", (code, signal) => {
        for (const resolveMetrics of slot.pendingMetrics.values()) resolveMetrics(undefined);
        slot.pendingMetrics.clear();
        const hadStarted = slot.child === child && slot.state === "running";
        settle(
          new Error(`worker ${slot.name} exited before it started: ${failure ?? `code ${code}, signal ${signal}`}`),
        );
        if (slot.child !== child) return;
        slot.child = undefined;
        if (this.stopping) return;
        // A first start that fails fails the whole start (start() stops the rest): no restart loop.
        if (first && !hadStarted) return;
        this.scheduleRestart(slot, code, signal, failure);
      });
      this.send(child, {
        type: "init",
        config,
        group: slot.group.name,
        planes: slot.group.planes,
        index: slot.groupIndex,
        count: slot.group.count,
        reusePort: slot.group.count > 1,
        ...(this.options.defaultCertificate ? { defaultCertificate: this.options.defaultCertificate } : {}),
      });
    });
  }

  private scheduleRestart(slot: Slot, code: number | null, signal: string | null, failure: string | undefined): void {
    const min = this.options.minRestartDelayMs ?? 100;
    const max = this.options.maxRestartDelayMs ?? 10_000;
    const stableAfter = this.options.stableAfterMs ?? 30_000;
    if (Date.now() - slot.startedAt >= stableAfter) slot.crashes = 0;
    const delay = Math.min(max, min * 2 ** slot.crashes);
    slot.crashes++;
    slot.state = "restarting";
    slot.nextRetryAt = Date.now() + delay;
    const cause = signal ? `signal ${signal}` : `code ${code}`;
    slot.lastExit = {
      cause,
      ...(failure ? { reason: failure } : {}),
      at: new Date().toISOString(),
      inARow: slot.crashes,
    };
    // "restarting" is logged when it happens: a signal to the whole process group may reach a worker
    // just before the primary begins to stop, and then there is no restart to announce.
    this.logger.error(
      {
        worker: slot.name,
        planes: slot.group.planes,
        code,
        signal,
        reason: failure,
        inARow: slot.crashes,
        retryInMs: delay,
      },
      `worker ${slot.name} exited (${cause})`,
    );
    slot.timer = setTimeout(() => {
      slot.timer = undefined;
      if (this.stopping) return;
      this.logger.warn({ worker: slot.name, afterMs: delay }, `restarting worker ${slot.name}`);
      slot.restarts++;
      this.restartsTotal.inc({ group: slot.group.name });
      // a restart that fails to start exits, and its exit schedules the next try
      this.spawn(slot, false).catch(() => {});
    }, delay);
  }

  private receive(slot: Slot, child: ChildProcess, message: FromWorker): void {
    switch (message.type) {
      case "applied":
        if (slot.child === child) slot.applied = message.generation;
        return;
      case "metrics": {
        const resolve = slot.pendingMetrics.get(message.id);
        slot.pendingMetrics.delete(message.id);
        resolve?.(message.metrics);
        return;
      }
      case "gateway-bind":
        this.options.status.reportGatewayBind(slot.name, message.socketId, message.error);
        return;
      case "status": {
        const { id, generation, kind, namespace, name, ingress } = message;
        this.options.status.write(generation, kind, namespace, name, ingress).then(
          () => this.send(child, { type: "status-result", id }),
          (err: unknown) =>
            this.send(child, { type: "status-result", id, error: err instanceof Error ? err.message : String(err) }),
        );
        return;
      }
    }
  }

  private sendSnapshot(slot: Slot, deltas = new Map<Snapshot | undefined, SnapshotDelta>()): void {
    const next = this.latest;
    const child = slot.child;
    if (!next || !child || slot.sent === next) return;
    let delta = deltas.get(slot.sent);
    if (!delta) {
      delta = encodeSnapshot(slot.sent, next);
      deltas.set(slot.sent, delta);
    }
    this.send(child, { type: "snapshot", delta });
    slot.sent = next;
  }

  private askMetrics(slot: Slot, timeoutMs: number): Promise<WorkerMetrics | undefined> {
    const child = slot.child;
    if (!child) return Promise.resolve(undefined);
    const id = this.nextMetricsId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        slot.pendingMetrics.delete(id);
        resolve(undefined);
      }, timeoutMs);
      slot.pendingMetrics.set(id, (metrics) => {
        clearTimeout(timer);
        resolve(metrics);
      });
      this.send(child, { type: "metrics", id });
    });
  }

  /** IPC send that never throws: a worker that just died is handled by its exit event. */
  private send(child: ChildProcess, message: ToWorker): void {
    if (!child.connected) return;
    child.send(message, (err) => {
      if (err) this.logger.debug({ err, pid: child.pid }, "IPC send to a worker failed");
    });
  }
}

/**
 * Pure: the problems of the workers, one per worker that is not running, or that exited unexpectedly
 * less than `stableAfterMs` before (it may be crash-looping: the restarts back off up to 10 s apart).
 */
export function workerProblems(workers: readonly WorkerInfo[], stableAfterMs: number, now: number): Problem[] {
  const problems: Problem[] = [];
  for (const w of workers) {
    const exit = w.lastExit;
    // never crashed (a first start is not a problem yet), or stopped on purpose
    if (!exit || w.state === "stopped") continue;
    if (w.state === "running" && now - Date.parse(w.startedAt ?? exit.at) >= stableAfterMs) continue;
    const cause = exit.reason ? `${exit.cause}: ${exit.reason}` : exit.cause;
    const state = w.state === "restarting" && w.nextRetryAt ? `restarting at ${w.nextRetryAt}` : w.state;
    problems.push({
      kind: "Worker",
      name: w.name,
      message:
        `planes ${w.planes.join(", ")}: exited (${cause}) at ${exit.at}, ${plural(exit.inARow, "time")} in a row; ` +
        `${plural(w.restarts, "restart")} so far; now ${state}`,
    });
  }
  return problems;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}
