import type { LabelSelector } from "../../model/gateway.ts";
import type { Store } from "../../store/store.ts";
import { objects } from "./input.ts";

/** The label every namespace carries (set by the API server), also when the store holds no Namespace object for it. */
export const NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name";

/** The labels of a namespace: its Namespace object's, plus `kubernetes.io/metadata.name`. */
export function namespaceLabels(store: Store, namespace: string): Record<string, string> {
  const labels = store.get("Namespace", namespace)?.metadata?.labels;
  return { ...labels, [NAMESPACE_NAME_LABEL]: namespace };
}

/**
 * A metav1.LabelSelector as a predicate, or the reason it is invalid (an unknown operator, `In`/`NotIn`
 * without values): an invalid selector selects nothing rather than everything.
 */
export function compileSelector(
  selector: LabelSelector,
): { ok: true; matches: (labels: Record<string, string>) => boolean } | { ok: false; message: string } {
  const exact = Object.entries(
    typeof selector.matchLabels === "object" && selector.matchLabels !== null ? selector.matchLabels : {},
  );
  const expressions = objects(selector.matchExpressions);
  for (const [i, e] of expressions.entries()) {
    if (typeof e.key !== "string") return { ok: false, message: `matchExpressions[${i}]: key is not a string` };
    if (e.operator === "In" || e.operator === "NotIn") {
      if (!Array.isArray(e.values) || e.values.length === 0 || e.values.some((v) => typeof v !== "string"))
        return { ok: false, message: `matchExpressions[${i}]: ${e.operator} needs a list of values` };
    } else if (e.operator === "Exists" || e.operator === "DoesNotExist") {
      if (Array.isArray(e.values) && e.values.length > 0)
        return { ok: false, message: `matchExpressions[${i}]: ${e.operator} takes no values` };
    } else return { ok: false, message: `matchExpressions[${i}]: unknown operator "${String(e.operator)}"` };
  }
  return {
    ok: true,
    matches: (labels) =>
      exact.every(([k, v]) => labels[k] === v) &&
      expressions.every((e) => {
        const has = Object.hasOwn(labels, e.key);
        switch (e.operator) {
          case "In":
            return has && (e.values ?? []).includes(labels[e.key]!);
          case "NotIn":
            return !has || !(e.values ?? []).includes(labels[e.key]!);
          case "Exists":
            return has;
          default:
            return !has;
        }
      }),
  };
}
