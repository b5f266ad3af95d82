import type { Registry } from "prom-client";
import type { Config } from "../config.ts";
import type { LoadBalancerIngress } from "../model/k8s.ts";
import type { PlaneName } from "../planes/index.ts";
import type { SnapshotDelta } from "./snapshot-wire.ts";

/**
 * The IPC messages between the primary and its workers (`child_process.fork` with
 * `serialization: "advanced"`, so Maps and Sets of the snapshot cross as they are).
 */

/** one process's `registry.getMetricsAsJSON()` */
export type WorkerMetrics = Awaited<ReturnType<Registry["getMetricsAsJSON"]>>;

/** primary → worker */
export type ToWorker =
  | {
      type: "init";
      config: Config;
      /** the worker's group (`service`, `ingress`, `all`) and the planes it runs */
      group: string;
      planes: PlaneName[];
      /** its index (0-based) among the `count` workers of its group */
      index: number;
      count: number;
      /** bind listeners SO_REUSEPORT: the group has more than one worker sharing them */
      reusePort: boolean;
      defaultCertificate?: { cert: string; key: string };
    }
  | { type: "snapshot"; delta: SnapshotDelta }
  | { type: "metrics"; id: number }
  | { type: "status-result"; id: number; error?: string }
  | { type: "stop" };

/** worker → primary */
export type FromWorker =
  /** planes are built and listening; snapshots may come */
  | { type: "started" }
  /** the planes could not start; the worker exits after this */
  | { type: "failed"; message: string }
  | { type: "applied"; generation: number }
  | { type: "metrics"; id: number; metrics: WorkerMetrics }
  | {
      type: "status";
      id: number;
      /** the snapshot generation being applied when the plane asked for the write */
      generation: number;
      kind: "ingress" | "service";
      namespace: string;
      name: string;
      ingress: readonly LoadBalancerIngress[];
    }
  /** a plane tried to bind a Gateway socket (`error` absent: it listens); no answer expected */
  | { type: "gateway-bind"; socketId: string; error?: string };

/** The hidden subcommand a worker process runs (`nodeplane worker`); only the primary starts it. */
export const WORKER_SUBCOMMAND = "worker";
