import type { PlaneFactory } from "./context.ts";

/** The planes nodeplane runs; a worker process runs a group of them (docs/workers.md). */
export type PlaneName = "service" | "ingress" | "dns";

/**
 * The planes nodeplane runs, in apply order. A new plane adds its entry here (docs/architecture.md); a factory returns
 * undefined when its flags turn it off. Each is loaded on demand: a process that runs the ingress alone
 * does not load the service proxy or DNS modules, and the other way round (less memory per worker).
 */
export const PLANES: readonly { name: PlaneName; load: () => Promise<PlaneFactory> }[] = [
  { name: "service", load: async () => (await import("./service/index.ts")).createServicePlane },
  { name: "ingress", load: async () => (await import("./ingress/index.ts")).createIngressPlane },
  { name: "dns", load: async () => (await import("./dns/index.ts")).createDnsPlane },
];

export const ALL_PLANES: readonly PlaneName[] = PLANES.map((p) => p.name);

/** The factories of `names`, in apply order (whatever the order of `names`). */
export async function planeFactories(names: readonly PlaneName[] = ALL_PLANES): Promise<PlaneFactory[]> {
  return Promise.all(PLANES.filter((p) => names.includes(p.name)).map((p) => p.load()));
}
