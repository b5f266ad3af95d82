/** The ingress plane (plane.ts) and what its callers configure it with (limits.ts). */
export { type ClientLimits, DEFAULT_CLIENT_LIMITS, defaultFastPath, defaultHttpFrontend } from "./limits.ts";
export { closeGraceMs, createIngressPlane, IngressPlane } from "./plane.ts";
