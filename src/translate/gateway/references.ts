import type { ReferenceGrant } from "../../model/gateway.ts";
import type { Store } from "../../store/store.ts";

export interface ReferenceFrom {
  group: string;
  kind: string;
  namespace: string;
}

export interface ReferenceTo {
  group: string;
  kind: string;
  namespace: string;
  name: string;
}

/**
 * The ReferenceGrants of the store, indexed by the namespace they live in (the namespace of the objects
 * they let others refer to). A reference from one namespace into another is allowed only by a grant in
 * the TARGET namespace whose `spec.from` names the referrer's group, kind and namespace and whose
 * `spec.to` names the target's group and kind, and its name when `to.name` is set (unset = every object
 * of that kind). The core group is "". A reference within one namespace needs no grant.
 */
export class ReferenceGrants {
  private readonly byNamespace = new Map<string, ReferenceGrant[]>();

  constructor(store: Store) {
    for (const grant of store.list("ReferenceGrant")) {
      const namespace = grant.metadata?.namespace ?? "default";
      const list = this.byNamespace.get(namespace);
      if (list) list.push(grant);
      else this.byNamespace.set(namespace, [grant]);
    }
  }

  /** a reference from an object of `from` to `to` in another namespace is allowed by a ReferenceGrant in to.namespace */
  permits(from: ReferenceFrom, to: ReferenceTo): boolean {
    if (from.namespace === to.namespace) return true;
    for (const grant of this.byNamespace.get(to.namespace) ?? []) {
      const froms = Array.isArray(grant.spec?.from) ? grant.spec.from : [];
      const tos = Array.isArray(grant.spec?.to) ? grant.spec.to : [];
      const fromOk = froms.some(
        (f) => (f?.group ?? "") === from.group && f?.kind === from.kind && f?.namespace === from.namespace,
      );
      if (!fromOk) continue;
      const toOk = tos.some(
        (t) => (t?.group ?? "") === to.group && t?.kind === to.kind && (!t?.name || t.name === to.name),
      );
      if (toOk) return true;
    }
    return false;
  }
}
