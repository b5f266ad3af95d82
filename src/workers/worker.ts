/**
 * A data-plane worker process (`nodeplane worker`, forked by the primary): it runs the listener planes
 * of its group (`init.planes`: the ingress alone, or the service proxy and DNS, or all three) on the
 * snapshots the primary sends. When its group has several workers every listening socket is bound
 * SO_REUSEPORT, so the kernel spreads connections over them. It owns no watch, no admin server and no
 * addresses; it exits when the primary tells it to or goes away.
 */
import { createLogger, type Logger } from "../log.ts";
import { createRegistry } from "../metrics.ts";
import type { PlaneContext } from "../planes/context.ts";
import { DnsHandoff } from "../planes/dns-handoff.ts";
import { planeFactories } from "../planes/index.ts";
import type { Plane } from "../planes/plane.ts";
import type { Snapshot } from "../snapshot/snapshot.ts";
import { Store } from "../store/store.ts";
import { within } from "../util/within.ts";
import type { FromWorker, ToWorker } from "./protocol.ts";
import { decodeSnapshot } from "./snapshot-wire.ts";
import { IpcStatusWriter, type StatusRequest } from "./status-relay.ts";

/** The `nodeplane worker` subcommand: runs until stopped, then exits the process (the IPC channel would keep it alive). */
export async function runWorker(): Promise<number> {
  const code = await main();
  process.exit(code);
}

async function main(): Promise<number> {
  const send = process.send?.bind(process);
  if (!send) {
    process.stderr.write("nodeplane worker: started by `nodeplane --workers N`, not by hand\n");
    return 2;
  }
  /** Resolves once the message is handed to the IPC channel (or it is closed). */
  const post = (message: FromWorker) =>
    new Promise<void>((resolve) => {
      if (!process.connected) return resolve();
      send(message, undefined, {}, () => resolve());
    });
  // Ctrl-C reaches the whole process group: the primary decides when workers stop.
  process.on("SIGINT", () => {});
  const init = await new Promise<Extract<ToWorker, { type: "init" }>>((resolve) => {
    // the primary died before it said who we are
    const orphaned = () => process.exit(1);
    const onMessage = (message: ToWorker) => {
      if (message.type !== "init") return;
      process.off("message", onMessage);
      process.off("disconnect", orphaned);
      resolve(message);
    };
    process.on("message", onMessage);
    process.once("disconnect", orphaned);
  });
  const name = `${init.group}-${init.index}`;
  const logger = createLogger(init.config).child({ worker: name });
  const worker = new Worker(logger, post);
  // Listen for the end from now on: the primary may go away while the planes start.
  const stopped = new Promise<string>((resolve) => {
    process.on("message", (message: ToWorker) => {
      if (message.type === "stop") resolve("asked by the primary");
      else worker.receive(message);
    });
    process.once("disconnect", () => resolve("the primary is gone"));
    process.once("SIGTERM", () => resolve("SIGTERM"));
    if (!process.connected) resolve("the primary is gone");
  });
  try {
    await worker.start(init);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    logger.error({ err }, `worker ${name} cannot start: ${message}`);
    await worker.stop();
    // before exiting: the primary reports this reason
    await post({ type: "failed", message });
    return 1;
  }
  void post({ type: "started" });
  const reason = await stopped;
  logger.info({ reason }, `worker ${name} stopping`);
  // bounded: what is still open at the deadline goes with the process
  const clean = await within(worker.stop(), init.config.stopTimeoutMs);
  if (!clean)
    logger.warn(
      { timeoutMs: init.config.stopTimeoutMs },
      `worker ${name} did not stop cleanly in time; exiting anyway`,
    );
  logger.flush();
  return clean ? 0 : 1;
}

class Worker {
  private readonly logger: Logger;
  private readonly post: (message: FromWorker) => Promise<void>;
  private readonly planes: Plane[] = [];
  private readonly registry = createRegistry(true);
  private readonly status: IpcStatusWriter;
  private readonly pendingStatus = new Map<number, { resolve: () => void; reject: (err: Error) => void }>();
  private nextStatusId = 1;
  private current: Snapshot | undefined;
  /** snapshots are applied one after another, in order */
  private queue: Promise<void> = Promise.resolve();

  constructor(logger: Logger, post: (message: FromWorker) => Promise<void>) {
    this.logger = logger;
    this.post = post;
    this.status = new IpcStatusWriter(
      (request) => this.requestStatus(request),
      (socketId, error) =>
        void this.post({ type: "gateway-bind", socketId, ...(error !== undefined ? { error } : {}) }),
    );
  }

  async start(init: Extract<ToWorker, { type: "init" }>): Promise<void> {
    const context: PlaneContext = {
      config: init.config,
      logger: this.logger,
      registry: this.registry,
      store: new Store(),
      status: this.status,
      role: "worker",
      reusePort: init.reusePort,
      worker: { index: init.index, count: init.count },
      dnsHandoff: new DnsHandoff(),
      ...(init.defaultCertificate ? { defaultCertificate: init.defaultCertificate } : {}),
    };
    for (const factory of await planeFactories(init.planes)) {
      const plane = await factory(context);
      if (plane) this.planes.push(plane);
    }
  }

  receive(message: ToWorker): void {
    switch (message.type) {
      case "snapshot": {
        const { delta } = message;
        this.queue = this.queue
          .then(() => this.apply(decodeSnapshot(this.current, delta)))
          .catch((err: unknown) => {
            // A delta this worker cannot apply means it no longer holds what the primary thinks it does:
            // exit, and the restarted worker gets the whole snapshot.
            this.logger.fatal({ err, generation: delta.generation }, "cannot apply the snapshot delta; exiting");
            process.exit(1);
          });
        return;
      }
      case "metrics":
        void this.registry.getMetricsAsJSON().then(
          (metrics) => this.post({ type: "metrics", id: message.id, metrics }),
          (err: unknown) => {
            this.logger.warn({ err }, "cannot collect metrics");
            this.post({ type: "metrics", id: message.id, metrics: [] });
          },
        );
        return;
      case "status-result": {
        const pending = this.pendingStatus.get(message.id);
        this.pendingStatus.delete(message.id);
        if (message.error === undefined) pending?.resolve();
        else pending?.reject(new Error(message.error));
        return;
      }
    }
  }

  private async apply(next: Snapshot): Promise<void> {
    const previous = this.current;
    this.status.generation = next.generation;
    for (const plane of this.planes) {
      try {
        await plane.apply(previous, next);
      } catch (err) {
        this.logger.error({ err, plane: plane.name, generation: next.generation }, "plane failed to apply snapshot");
      }
    }
    this.current = next;
    this.post({ type: "applied", generation: next.generation });
  }

  private requestStatus(request: StatusRequest): Promise<void> {
    if (!process.connected) return Promise.reject(new Error("the primary is gone"));
    const id = this.nextStatusId++;
    return new Promise<void>((resolve, reject) => {
      this.pendingStatus.set(id, { resolve, reject });
      this.post({ type: "status", id, ...request });
    });
  }

  async stop(): Promise<void> {
    await this.queue.catch(() => {});
    for (const plane of [...this.planes].reverse()) {
      try {
        await plane.close();
      } catch (err) {
        this.logger.error({ err, plane: plane.name }, "plane failed to close");
      }
    }
    for (const pending of this.pendingStatus.values()) pending.reject(new Error("worker stopping"));
    this.pendingStatus.clear();
  }
}
