import type { Ingress, IngressClass } from "../../model/k8s.ts";

export const DEFAULT_CLASS_ANNOTATION = "ingressclass.kubernetes.io/is-default-class";
export const LEGACY_CLASS_ANNOTATION = "kubernetes.io/ingress.class";

/** Which Ingresses this controller serves, decided once per snapshot from the IngressClasses. */
export interface ClassSelector {
  isOurs(ingress: Ingress): boolean;
}

/**
 * Ours: an Ingress whose `spec.ingressClassName` (or, without it, the legacy `kubernetes.io/ingress.class`
 * annotation) names an IngressClass with our controller; or the configured class name when no IngressClass
 * of that name exists (so a bare manifests folder works); or a classless Ingress when one of our classes is
 * marked default.
 */
export function classSelector(
  classes: Iterable<IngressClass>,
  options: { ingressClass: string; ingressController: string },
): ClassSelector {
  const ours = new Set<string>();
  let configuredExists = false;
  let ourDefault = false;
  for (const cls of classes) {
    const name = cls.metadata?.name ?? "";
    if (name === options.ingressClass) configuredExists = true;
    if (cls.spec?.controller !== options.ingressController) continue;
    ours.add(name);
    if (cls.metadata?.annotations?.[DEFAULT_CLASS_ANNOTATION] === "true") ourDefault = true;
  }
  if (!configuredExists) ours.add(options.ingressClass);
  return {
    isOurs(ingress) {
      const named = ingress.spec?.ingressClassName ?? ingress.metadata?.annotations?.[LEGACY_CLASS_ANNOTATION];
      if (named !== undefined && named !== "") return ours.has(named);
      return ourDefault;
    },
  };
}
