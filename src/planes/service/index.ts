import type { PlaneFactory } from "../context.ts";
import { ServicePlane } from "./plane.ts";

/** The service proxy plane is always on: it is nodeplane's kube-proxy. */
export const createServicePlane: PlaneFactory = async (context) => {
  const plane = new ServicePlane({
    config: context.config,
    logger: context.logger,
    registry: context.registry,
    node: () => context.store.get("Node", context.config.nodeName),
    role: context.role ?? "single",
    reusePort: context.reusePort === true,
    // With workers only the first serves ClientIP-affinity ports (ServicePlanner's affinity filter; docs/workers.md).
    servesAffinity: (context.worker?.index ?? 0) === 0,
  });
  await plane.start();
  return plane;
};

export { ServicePlane } from "./plane.ts";
