import type { HttpRouteRule } from "../../snapshot/gateway.ts";

/**
 * The specification's order of HTTPRoute rule matches (HTTPRouteRule.matches in apis/v1/httproute_types.go),
 * continuing on ties:
 *   1. an Exact path match, then PathPrefix matches by their number of characters, longest first (the
 *      trailing `/` of a prefix is not counted: `/foo/` and `/foo` match the same requests), then
 *      RegularExpression path matches (their precedence is implementation-specific: after every prefix,
 *      longest pattern first);
 *   2. a method match;
 *   3. the most header matches;
 *   4. the most query parameter matches;
 *   5. the oldest Route (creationTimestamp), then "{namespace}/{name}" alphabetically;
 *   6. within a Route, the first rule in list order, then the first match.
 * GRPCRoute rules follow GRPCRouteRule.matches instead: the most characters of an Exact service, then of an
 * Exact method (a RegularExpression service or method ranks after every Exact one at its level, longest
 * pattern first), then the most header matches, then 5 and 6. The spec lets one listener hostname carry
 * HTTPRoutes or GRPCRoutes but not both; should both meet in one list, HTTPRoute rules come first.
 * The result depends only on the rules, never on their order in the input.
 */
export function sortRules(rules: readonly HttpRouteRule[]): HttpRouteRule[] {
  return [...rules].sort(compareRules);
}

export function compareRules(a: HttpRouteRule, b: HttpRouteRule): number {
  const aGrpc = a.route.kind === "GRPCRoute";
  const bGrpc = b.route.kind === "GRPCRoute";
  if (aGrpc !== bGrpc) return aGrpc ? 1 : -1;
  return (aGrpc ? compareGrpc(a, b) : compareHttp(a, b)) || compareRoutes(a, b);
}

function compareHttp(a: HttpRouteRule, b: HttpRouteRule): number {
  return (
    pathRank(a) - pathRank(b) ||
    b.path.value.length - a.path.value.length ||
    (b.method !== undefined ? 1 : 0) - (a.method !== undefined ? 1 : 0) ||
    b.headers.length - a.headers.length ||
    b.queryParams.length - a.queryParams.length
  );
}

function pathRank(rule: HttpRouteRule): number {
  return rule.path.type === "Exact" ? 0 : rule.path.type === "PathPrefix" ? 1 : 2;
}

function compareGrpc(a: HttpRouteRule, b: HttpRouteRule): number {
  const am = a.grpcMethod;
  const bm = b.grpcMethod;
  return (
    methodPartRank(bm, "service") - methodPartRank(am, "service") ||
    (bm?.service.length ?? 0) - (am?.service.length ?? 0) ||
    methodPartRank(bm, "method") - methodPartRank(am, "method") ||
    (bm?.method.length ?? 0) - (am?.method.length ?? 0) ||
    b.headers.length - a.headers.length
  );
}

/** 2 = Exact value, 1 = RegularExpression, 0 = any */
function methodPartRank(match: HttpRouteRule["grpcMethod"], part: "service" | "method"): number {
  if (!match || match[part] === "") return 0;
  return match.type === "Exact" ? 2 : 1;
}

function compareRoutes(a: HttpRouteRule, b: HttpRouteRule): number {
  return (
    compareTimestamps(a.created, b.created) ||
    compareStrings(`${a.route.namespace}/${a.route.name}`, `${b.route.namespace}/${b.route.name}`) ||
    a.rule - b.rule ||
    a.match - b.match ||
    // distinct rules never get here; kept total for any input (the same route listed twice)
    compareStrings(a.route.kind, b.route.kind)
  );
}

/**
 * RFC 3339 timestamps as the API server writes them (`2026-01-02T03:04:05Z`): by time, a missing or
 * unreadable one after every readable one (it cannot claim to be the oldest), then as strings.
 */
function compareTimestamps(a: string, b: string): number {
  if (a === b) return 0;
  const ta = Date.parse(a);
  const tb = Date.parse(b);
  const va = Number.isFinite(ta);
  const vb = Number.isFinite(tb);
  if (va && vb && ta !== tb) return ta - tb;
  if (va !== vb) return va ? -1 : 1;
  return compareStrings(a, b);
}

/** By code unit (no locale): "{namespace}/{name}" as one string, as the spec writes it. */
function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
