import type { Condition } from "../../model/gateway.ts";

/**
 * A condition as the translator computes it: no lastTransitionTime (the translator has no clock; the status
 * reconciler adds it, keeping the old one while the status does not change).
 */
export function condition(
  type: string,
  ok: boolean,
  reason: string,
  message: string,
  generation: number | undefined,
): Condition {
  const c: Condition = { type, status: ok ? "True" : "False", reason, message };
  if (generation !== undefined) c.observedGeneration = generation;
  return c;
}
