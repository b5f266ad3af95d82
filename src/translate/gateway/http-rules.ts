import type { GRPCRoute, HTTPRoute } from "../../model/gateway.ts";
import type { Problem } from "../../model/problems.ts";
import type { HttpRouteRule } from "../../snapshot/gateway.ts";
import type { Store } from "../../store/store.ts";
import type { ReferenceGrants } from "./references.ts";

/** One Route compiled: its rules (one per rule × match), not sorted, not host-specific. */
export interface CompiledRoute {
  rules: HttpRouteRule[];
  /** Accepted=False for the whole route (e.g. reason UnsupportedValue: a filter type or match we do not support, a bad regex) */
  notAccepted?: { reason: string; message: string };
  /** ResolvedRefs: ok, or the first failing reason (BackendNotFound, RefNotPermitted, InvalidKind, UnsupportedProtocol) */
  resolvedRefs: { ok: true } | { ok: false; reason: string; message: string };
  /** every defect, each naming the route and the field (kind = the route kind) */
  problems: Problem[];
}

export function compileHttpRoute(_store: Store, _grants: ReferenceGrants, _route: HTTPRoute): CompiledRoute {
  return { rules: [], resolvedRefs: { ok: true }, problems: [] };
}

export function compileGrpcRoute(_store: Store, _grants: ReferenceGrants, _route: GRPCRoute): CompiledRoute {
  return { rules: [], resolvedRefs: { ok: true }, problems: [] };
}
