import type { PlaneFactory } from "./context.ts";
import { dnsPlaneFactory } from "./dns/plane.ts";
import { createIngressPlane } from "./ingress/index.ts";
import { createServicePlane } from "./service/index.ts";

/**
 * The planes nodeplane runs, in apply order. Each plane issue adds its factory here;
 * a factory returns undefined when its flags turn it off.
 */
export const PLANE_FACTORIES: readonly PlaneFactory[] = [createServicePlane, createIngressPlane, dnsPlaneFactory];
