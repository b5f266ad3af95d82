import type { GatewayClass } from "../../model/gateway.ts";
import type { Problem } from "../../model/problems.ts";
import type { GatewayClassStatusEntry } from "../../snapshot/gateway.ts";
import { condition } from "./conditions.ts";
import { SUPPORTED_FEATURES } from "./features.ts";

export interface ClassVerdict {
  name: string;
  /** Accepted: its Gateways are served */
  accepted: boolean;
  status: GatewayClassStatusEntry;
}

/**
 * Our GatewayClasses (spec.controllerName = --gateway-controller) and their status. nodeplane takes no
 * parameters, so a class with `parametersRef` is not Accepted (InvalidParameters) and its Gateways are not
 * served; other controllers' classes are not looked at (no entry: their status is theirs).
 */
export function judgeClasses(
  classes: Iterable<GatewayClass>,
  controller: string,
  problems: Problem[],
): Map<string, ClassVerdict> {
  const out = new Map<string, ClassVerdict>();
  const sorted = [...classes].sort((a, b) => ((a.metadata?.name ?? "") < (b.metadata?.name ?? "") ? -1 : 1));
  for (const cls of sorted) {
    if (cls.spec?.controllerName !== controller) continue;
    const name = cls.metadata?.name ?? "";
    const generation = cls.metadata?.generation;
    const ref = cls.spec.parametersRef;
    const accepted = ref === undefined;
    const message = accepted
      ? "served by nodeplane"
      : `parametersRef ${ref.kind ?? "?"} ${ref.name ?? "?"}: nodeplane takes no parameters`;
    if (!accepted) problems.push({ kind: "GatewayClass", name, field: "spec.parametersRef", message });
    out.set(name, {
      name,
      accepted,
      status: {
        name,
        conditions: [condition("Accepted", accepted, accepted ? "Accepted" : "InvalidParameters", message, generation)],
        supportedFeatures: SUPPORTED_FEATURES,
      },
    });
  }
  return out;
}
