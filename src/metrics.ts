import { collectDefaultMetrics, Histogram, Registry } from "prom-client";

/**
 * One registry per process; every plane registers its own metrics here and the admin server serves it.
 * Tests may build their own registry and pass it in.
 */
export function createRegistry(withProcessMetrics = true): Registry {
  const registry = new Registry();
  if (withProcessMetrics) collectDefaultMetrics({ register: registry, prefix: "nodeplane_" });
  return registry;
}

export function snapshotMetrics(registry: Registry) {
  return {
    rebuildSeconds: new Histogram({
      name: "nodeplane_snapshot_rebuild_duration_seconds",
      help: "Time to translate the store into a snapshot",
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    applySeconds: new Histogram({
      name: "nodeplane_snapshot_apply_duration_seconds",
      help: "Time for all planes to reconcile to a new snapshot",
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
  };
}
