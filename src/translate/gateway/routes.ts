import type { BackendRef, GRPCRoute, HTTPRoute, L4Route, RouteKind } from "../../model/gateway.ts";
import type { Problem } from "../../model/problems.ts";
import type { HttpRouteRule, L4Backend } from "../../snapshot/gateway.ts";
import type { Store } from "../../store/store.ts";
import { resolveBackendRef, toL4Backend } from "./backends.ts";
import { hostnameProblem } from "./hostnames.ts";
import { compileGrpcRoute, compileHttpRoute } from "./http-rules.ts";
import { objects } from "./input.ts";
import type { ReferenceGrants } from "./references.ts";

export type AnyRoute = HTTPRoute | GRPCRoute | L4Route;

/** One Route of any kind, compiled (rules by T2's http-rules.ts; L4 backends here), with its hostnames checked. */
export interface RouteInfo {
  kind: RouteKind;
  key: string;
  namespace: string;
  name: string;
  route: AnyRoute;
  generation?: number;
  created: string;
  /** HTTPRoute/GRPCRoute/TLSRoute `spec.hostnames` (empty: every host); always empty for TCP/UDP */
  hostnames: readonly string[];
  /** HTTPRoute/GRPCRoute */
  rules: readonly HttpRouteRule[];
  /** TLSRoute/TCPRoute/UDPRoute: every rule's backendRefs */
  backends: readonly L4Backend[];
  notAccepted?: { reason: string; message: string };
  resolvedRefs: { ok: true } | { ok: false; reason: string; message: string };
  problems: readonly Problem[];
}

const HOSTNAMED: ReadonlySet<RouteKind> = new Set(["HTTPRoute", "GRPCRoute", "TLSRoute"]);

export function compileRoute(
  store: Store,
  grants: ReferenceGrants,
  kind: RouteKind,
  key: string,
  route: AnyRoute,
): RouteInfo {
  const namespace = route.metadata?.namespace ?? "default";
  const name = route.metadata?.name ?? "";
  const problems: Problem[] = [];
  const info: RouteInfo = {
    kind,
    key,
    namespace,
    name,
    route,
    created: route.metadata?.creationTimestamp ?? "",
    hostnames: [],
    rules: [],
    backends: [],
    resolvedRefs: { ok: true },
    problems,
  };
  if (route.metadata?.generation !== undefined) info.generation = route.metadata.generation;
  if (HOSTNAMED.has(kind)) {
    const hostnames: string[] = [];
    for (const [i, h] of (Array.isArray(route.spec?.hostnames) ? route.spec.hostnames : []).entries()) {
      const bad = typeof h === "string" ? hostnameProblem(h) : "is not a string";
      if (bad) {
        info.notAccepted ??= { reason: "UnsupportedValue", message: `spec.hostnames[${i}] "${String(h)}" ${bad}` };
        problems.push({ kind, namespace, name, field: `spec.hostnames[${i}]`, message: `"${String(h)}" ${bad}` });
      } else if (!hostnames.includes(h)) hostnames.push(h);
    }
    info.hostnames = hostnames;
  }
  try {
    if (kind === "HTTPRoute" || kind === "GRPCRoute") {
      const compiled =
        kind === "HTTPRoute"
          ? compileHttpRoute(store, grants, route as HTTPRoute)
          : compileGrpcRoute(store, grants, route as GRPCRoute);
      info.rules = compiled.rules;
      if (compiled.notAccepted) info.notAccepted ??= compiled.notAccepted;
      info.resolvedRefs = compiled.resolvedRefs;
      problems.push(...compiled.problems);
    } else compileL4(store, grants, kind, info, route as L4Route, problems);
  } catch (err) {
    // a defect in the compiler must cost this Route only, never the other Routes or the snapshot
    const message = `could not be compiled: ${(err as Error).message}`;
    info.rules = [];
    info.backends = [];
    info.notAccepted = { reason: "UnsupportedValue", message };
    problems.push({ kind, namespace, name, field: "spec", message });
  }
  return info;
}

function compileL4(
  store: Store,
  grants: ReferenceGrants,
  kind: RouteKind,
  info: RouteInfo,
  route: L4Route,
  problems: Problem[],
): void {
  const backends: L4Backend[] = [];
  for (const [r, rule] of objects(route.spec?.rules).entries()) {
    for (const [b, ref] of objects(rule.backendRefs).entries()) {
      const field = `spec.rules[${r}].backendRefs[${b}]`;
      const resolved = resolveBackendRef(store, grants, { kind, namespace: info.namespace }, ref as BackendRef, field);
      if (resolved.problem) {
        if (info.resolvedRefs.ok)
          info.resolvedRefs = { ok: false, reason: resolved.problem.reason, message: resolved.problem.message };
        problems.push({
          kind,
          namespace: info.namespace,
          name: info.name,
          field: resolved.problem.field,
          message: resolved.problem.message,
        });
      }
      backends.push(toL4Backend(resolved));
    }
  }
  info.backends = backends;
}

/**
 * The Service keys (`namespace/name`) a Route's backendRefs name, mirrors included: a change to any other
 * Service cannot change what the Route compiles to.
 */
export function referencedServices(route: AnyRoute, into: Set<string>): void {
  const namespace = route.metadata?.namespace ?? "default";
  const add = (ref: BackendRef | undefined) => {
    if (ref && typeof ref.name === "string")
      into.add(`${typeof ref.namespace === "string" && ref.namespace !== "" ? ref.namespace : namespace}/${ref.name}`);
  };
  const filters = (list: readonly { requestMirror?: { backendRef: BackendRef } }[] | undefined) => {
    for (const f of objects(list)) add(f.requestMirror?.backendRef);
  };
  for (const rule of objects(
    route.spec?.rules as { backendRefs?: BackendRef[]; filters?: { requestMirror?: { backendRef: BackendRef } }[] }[],
  )) {
    filters(rule.filters);
    for (const ref of objects(rule.backendRefs)) {
      add(ref);
      filters(ref.filters);
    }
  }
}
