import type { Logger } from "./log.ts";
import type { snapshotMetrics } from "./metrics.ts";
import { formatProblem } from "./model/problems.ts";
import type { Plane } from "./planes/plane.ts";
import type { Snapshot } from "./snapshot/snapshot.ts";
import type { Store } from "./store/store.ts";
import type { Translator } from "./translate/index.ts";

export interface PipelineOptions {
  /** longest a change waits before the rebuild that includes it starts */
  maxDelayMs: number;
  logger: Logger;
  metrics?: ReturnType<typeof snapshotMetrics>;
}

/**
 * store → translate → Snapshot → planes. Changes are coalesced: the first change after a build
 * arms one timer of `maxDelayMs`; every change until it fires joins that rebuild. A rebuild never
 * overlaps another; changes arriving during one schedule the next.
 */
export class SnapshotPipeline {
  private readonly planes: Plane[] = [];
  private readonly listeners = new Set<(snapshot: Snapshot) => void>();
  private current: Snapshot | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private dirty = false;
  private reportedProblems = new Set<string>();
  private reportedFrom: Snapshot["problems"] | undefined;
  private unsubscribe: (() => void) | undefined;
  private readonly store: Store;
  private readonly translator: Translator;
  private readonly options: PipelineOptions;

  constructor(store: Store, translator: Translator, options: PipelineOptions) {
    this.store = store;
    this.translator = translator;
    this.options = options;
  }

  register(plane: Plane): void {
    this.planes.push(plane);
  }

  /** Called with each snapshot once all planes have applied it. */
  onSnapshot(listener: (snapshot: Snapshot) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get snapshot(): Snapshot | undefined {
    return this.current;
  }

  /** Builds and applies the first snapshot now, then follows store changes. */
  async start(): Promise<Snapshot> {
    this.unsubscribe = this.store.subscribe(() => this.schedule());
    await this.rebuild();
    return this.current!;
  }

  /** Resolves when no rebuild is pending or running (tests use it to wait for a change to land). */
  async settled(): Promise<void> {
    while (this.timer || this.running) {
      if (this.running) await this.running;
      else await new Promise((r) => setTimeout(r, 5));
    }
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.running) await this.running;
    for (const plane of [...this.planes].reverse()) {
      try {
        await plane.close();
      } catch (err) {
        this.options.logger.error({ err, plane: plane.name }, "plane failed to close");
      }
    }
  }

  private schedule(): void {
    if (this.running) {
      this.dirty = true;
      return;
    }
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.rebuild();
    }, this.options.maxDelayMs);
  }

  private rebuild(): Promise<void> {
    const run = this.buildAndApply().finally(() => {
      this.running = undefined;
      if (this.dirty) {
        this.dirty = false;
        this.schedule();
      }
    });
    this.running = run;
    return run;
  }

  private async buildAndApply(): Promise<void> {
    const { logger, metrics } = this.options;
    const started = performance.now();
    let next: Snapshot;
    try {
      next = this.translator.build(this.store);
    } catch (err) {
      // A translator bug must not take the running planes down: keep serving the last snapshot.
      logger.error({ err }, "snapshot build failed; keeping the previous snapshot");
      return;
    }
    metrics?.rebuildSeconds.observe((performance.now() - started) / 1000);
    this.reportProblems(next);
    const applyStarted = performance.now();
    const previous = this.current;
    for (const plane of this.planes) {
      try {
        await plane.apply(previous, next);
      } catch (err) {
        logger.error({ err, plane: plane.name, generation: next.generation }, "plane failed to apply snapshot");
      }
    }
    metrics?.applySeconds.observe((performance.now() - applyStarted) / 1000);
    this.current = next;
    logger.debug(
      {
        generation: next.generation,
        servicePorts: next.servicePorts.length,
        ms: Math.round(performance.now() - started),
      },
      "snapshot applied",
    );
    for (const listener of this.listeners) listener(next);
  }

  /** Each problem is logged once while it lasts, not on every rebuild. */
  private reportProblems(snapshot: Snapshot): void {
    // The translator hands back the same list when no problem changed: nothing new to say.
    if (snapshot.problems === this.reportedFrom) return;
    this.reportedFrom = snapshot.problems;
    const now = new Set<string>();
    for (const problem of snapshot.problems) {
      const line = formatProblem(problem);
      now.add(line);
      if (!this.reportedProblems.has(line)) this.options.logger.warn({ problem }, line);
    }
    this.reportedProblems = now;
  }
}
