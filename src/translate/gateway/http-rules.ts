import type {
  BackendRef,
  GRPCRoute,
  GRPCRouteMatch,
  HTTPHeaderFilter,
  HTTPPathModifier,
  HTTPRoute,
  HTTPRouteFilter,
  HTTPRouteMatch,
  RouteKind,
} from "../../model/gateway.ts";
import type { Problem } from "../../model/problems.ts";
import type {
  HeaderModifier,
  HttpFilter,
  HttpPathMatch,
  HttpRouteRule,
  PathModifier,
  RouteRef,
  ValueMatch,
  WeightedBackend,
} from "../../snapshot/gateway.ts";
import type { Store } from "../../store/store.ts";
import { backendWeight, resolveBackendRef } from "./backends.ts";
import type { ReferenceGrants } from "./references.ts";
import { checkRegex, checkRegexPart } from "./regex.ts";

/**
 * One Route compiled: its rules (one HttpRouteRule per rule × match; a rule without matches gives one
 * matching every request: PathPrefix "/"), NOT sorted, not host-specific. A route that is not accepted
 * serves nothing: its `rules` are empty.
 */
export interface CompiledRoute {
  rules: HttpRouteRule[];
  /** Accepted=False for the whole route (e.g. reason UnsupportedValue: a filter type or match we do not support, a bad regex) */
  notAccepted?: { reason: string; message: string };
  /** ResolvedRefs: ok, or the first failing reason (BackendNotFound, RefNotPermitted, InvalidKind, UnsupportedProtocol) */
  resolvedRefs: { ok: true } | { ok: false; reason: string; message: string };
  /** every defect, each naming the route and the field (model/problems.ts Problem, kind = the route kind) */
  problems: Problem[];
}

/**
 * HTTPRoute → rules, per the spec (apis/v1/httproute_types.go), including the API server's validation
 * (CEL rules of the CRD), since manifests mode has no API server to apply it:
 * - matches: path Exact / PathPrefix (element-wise; the value must be an absolute path without `//`,
 *   `/./`, `/../`, `%2f`, `#`) / RegularExpression (regex.ts); headers Exact / RegularExpression, names
 *   case-insensitive (lowercased; of repeated names only the first counts); queryParams likewise, names
 *   case-sensitive; method. Missing match = PathPrefix "/"; a route without `rules` gets the CRD default,
 *   one rule matching everything (with no backend: 500).
 * - filters: RequestHeaderModifier, ResponseHeaderModifier (one action per header name; values with CR,
 *   LF, NUL or other control characters refused), RequestRedirect (scheme http/https, hostname, port, path,
 *   statusCode 301/302/303/307/308, default 302), URLRewrite (hostname, path), RequestMirror (percent or
 *   fraction → percent). RequestRedirect with URLRewrite, or with backendRefs, a repeated filter (other
 *   than RequestMirror/ExtensionRef), ReplacePrefixMatch without exactly one PathPrefix match: the route
 *   is not accepted (IncompatibleFilters). An unknown filter type (CORS, ExternalAuth included): not
 *   accepted (UnsupportedValue), as the spec says for unknown enum values.
 * - ExtensionRef: nodeplane has no custom filters, so every reference "cannot be resolved". The spec says
 *   such a filter MUST NOT be skipped and the requests it would have processed MUST receive an HTTP error:
 *   the rule stays (Accepted), answers 500 (no filters, no backends), and ResolvedRefs is False with
 *   reason InvalidKind (an unsupported group/kind). Not accepting the route instead would let another
 *   route's rule serve those requests, skipping the filter. On a backendRef, the same makes that backend
 *   invalid: its share of requests gets 500.
 * - backendRefs: backends.ts (weight 0 allowed, missing = 1); an invalid one keeps its weight without a
 *   target (its share gets 500) and sets ResolvedRefs False with its reason.
 * - timeouts.request / backendRequest: Gateway API durations (GEP-2257), backendRequest ≤ request
 *   (unless request is 0, which disables it).
 * Every defect is a Problem naming the field (`spec.rules[1].filters[0].requestHeaderModifier.set[0].value`).
 */
export function compileHttpRoute(store: Store, grants: ReferenceGrants, route: HTTPRoute): CompiledRoute {
  const c = new Compiler(store, grants, "HTTPRoute", route);
  for (const { rule, i, at } of c.rulesOf(route?.spec?.rules)) {
    const matches = c.list<HTTPRouteMatch>(rule.matches, `${at}.matches`, 64);
    const compiledMatches = matches === undefined || matches.length === 0 ? [undefined] : matches;
    const pathTypes = compiledMatches.map((m) => (m === undefined ? "PathPrefix" : (m?.path?.type ?? "PathPrefix")));
    const prefixOnly = compiledMatches.length === 1 && pathTypes[0] === "PathPrefix";
    const backendRefs = c.list<BackendRef>(rule.backendRefs, `${at}.backendRefs`) ?? [];
    const filters = c.filters(rule.filters, `${at}.filters`, "HTTPRoute", prefixOnly, backendRefs.length > 0);
    const backends = backendRefs.map((ref, j) => c.backend(ref, `${at}.backendRefs[${j}]`, prefixOnly));
    const timeouts = c.timeouts(rule.timeouts, `${at}.timeouts`);
    compiledMatches.forEach((m, j) => {
      const where = `${at}.matches[${j}]`;
      const match = m === undefined ? undefined : c.httpMatch(m, where);
      if (m !== undefined && match === undefined) return;
      c.add({
        rule: i,
        match: m === undefined ? -1 : j,
        path: match?.path ?? ROOT,
        ...(match?.method !== undefined ? { method: match.method } : {}),
        headers: match?.headers ?? NONE,
        queryParams: match?.queryParams ?? NONE,
        filters: filters.blocked ? NONE : filters.list,
        backends: filters.blocked ? NONE : backends,
        ...(timeouts ? { timeouts } : {}),
      });
    });
  }
  return c.result();
}

/**
 * GRPCRoute → rules (apis/v1/grpcroute_types.go): a method match becomes a path match on `/service/method`
 * (gRPC's request path): Exact service and method → Exact `/service/method`; Exact service only →
 * PathPrefix `/service`; Exact method only, or RegularExpression → a path regex whose service and method
 * parts cannot cross a `/`. No method match: every request. Headers as for HTTPRoute; filters
 * RequestHeaderModifier, ResponseHeaderModifier, RequestMirror, ExtensionRef (as for HTTPRoute), any
 * other type is UnsupportedValue. Backends are h2c unless their Service port names another protocol.
 */
export function compileGrpcRoute(store: Store, grants: ReferenceGrants, route: GRPCRoute): CompiledRoute {
  const c = new Compiler(store, grants, "GRPCRoute", route);
  for (const { rule, i, at } of c.rulesOf(route?.spec?.rules)) {
    const matches = c.list<GRPCRouteMatch>(rule.matches, `${at}.matches`, 64);
    const backendRefs = c.list<BackendRef>(rule.backendRefs, `${at}.backendRefs`) ?? [];
    const filters = c.filters(rule.filters, `${at}.filters`, "GRPCRoute", false, backendRefs.length > 0);
    const backends = backendRefs.map((ref, j) => c.backend(ref, `${at}.backendRefs[${j}]`, false));
    const compiledMatches = matches === undefined || matches.length === 0 ? [undefined] : matches;
    compiledMatches.forEach((m, j) => {
      const where = `${at}.matches[${j}]`;
      const match = m === undefined ? undefined : c.grpcMatch(m, where);
      if (m !== undefined && match === undefined) return;
      c.add({
        rule: i,
        match: m === undefined ? -1 : j,
        path: match?.path ?? ROOT,
        ...(match?.grpcMethod ? { grpcMethod: match.grpcMethod } : {}),
        headers: match?.headers ?? NONE,
        queryParams: NONE,
        filters: filters.blocked ? NONE : filters.list,
        backends: filters.blocked ? NONE : backends,
      });
    });
  }
  return c.result();
}

const NONE: readonly never[] = Object.freeze([]);
const ROOT: HttpPathMatch = Object.freeze({ type: "PathPrefix", value: "/" });
/** filter types a list may hold once (RequestMirror and ExtensionRef may repeat; unknown types are refused anyway) */
const ONCE_ONLY = new Set(["RequestHeaderModifier", "ResponseHeaderModifier", "RequestRedirect", "URLRewrite"]);
const METHODS = new Set(["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"]);
/** HeaderName (shared_types.go): an RFC 7230 token */
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+\-.^_`|~]{1,256}$/;
/** PreciseHostname (shared_types.go) */
const PRECISE_HOSTNAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** HTTPPathMatch CEL: the characters of an Exact or PathPrefix value */
const PATH_CHARS = /^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|%[0-9a-fA-F]{2})+$/;
/** Duration (GEP-2257) */
const DURATION = /^([0-9]{1,5}(h|m|s|ms)){1,4}$/;
const GRPC_SERVICE = /^\.?[a-z_][a-z_0-9]*(\.[a-z_][a-z_0-9]*)*$/i;
const GRPC_METHOD = /^[A-Za-z_][A-Za-z_0-9]*$/;
/** what a header field value may hold (RFC 9110 field-value; Node refuses the rest) */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

function notObject(value: unknown): boolean {
  return !isObject(value);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

type Reason = "UnsupportedValue" | "IncompatibleFilters";

interface CompiledFilters {
  list: HttpFilter[];
  /** an ExtensionRef we cannot resolve: the requests it would process get 500 */
  blocked: boolean;
}

class Compiler {
  private readonly store: Store;
  private readonly grants: ReferenceGrants;
  private readonly kind: RouteKind & ("HTTPRoute" | "GRPCRoute");
  private readonly ref: RouteRef;
  private readonly created: string;
  private readonly rules: HttpRouteRule[] = [];
  private readonly problems: Problem[] = [];
  private notAccepted?: { reason: Reason; message: string };
  private refFailure?: { reason: string; message: string };

  constructor(store: Store, grants: ReferenceGrants, kind: "HTTPRoute" | "GRPCRoute", route: HTTPRoute | GRPCRoute) {
    this.store = store;
    this.grants = grants;
    this.kind = kind;
    const meta = route?.metadata;
    this.ref = { kind, namespace: meta?.namespace ?? "default", name: meta?.name ?? "" };
    this.created = typeof meta?.creationTimestamp === "string" ? meta.creationTimestamp : "";
  }

  result(): CompiledRoute {
    return {
      rules: this.notAccepted ? [] : this.rules,
      ...(this.notAccepted ? { notAccepted: this.notAccepted } : {}),
      resolvedRefs: this.refFailure ? { ok: false, ...this.refFailure } : { ok: true },
      problems: this.problems,
    };
  }

  add(rule: Omit<HttpRouteRule, "route" | "created">): void {
    this.rules.push({ route: this.ref, created: this.created, ...rule });
  }

  private problem(field: string, message: string): void {
    this.problems.push({ kind: this.kind, namespace: this.ref.namespace, name: this.ref.name, field, message });
  }

  /** a defect that makes the route not accepted; returns undefined so callers can `return c.unsupported(...)` */
  unsupported(field: string, message: string, reason: Reason = "UnsupportedValue"): undefined {
    this.problem(field, message);
    this.notAccepted ??= { reason, message: `${field}: ${message}` };
    return undefined;
  }

  private refProblem(field: string, reason: string, message: string): void {
    this.problem(field, message);
    this.refFailure ??= { reason, message: `${field}: ${message}` };
  }

  /**
   * A list field: undefined when missing; reported when not a list or longer than the CRD allows (the
   * API server's bound, kept in manifests mode too, so one object cannot make thousands of rules).
   */
  list<T>(value: unknown, field: string, max = 16): T[] | undefined {
    if (value === undefined || value === null) return undefined;
    if (!Array.isArray(value)) return this.unsupported(field, "is not a list");
    if (value.length > max) return this.unsupported(field, `has ${value.length} entries, more than the ${max} allowed`);
    return value as T[];
  }

  /**
   * A route's rules that are objects, with their index and field, in order (one that is not is reported when
   * its turn comes). A missing `rules` is the CRD's default: one rule, matching every request. The CRD's
   * bounds: at most 16 rules, with at most 128 matches in all; beyond them, no rules.
   */
  *rulesOf(value: unknown): Generator<{ rule: Record<string, unknown>; i: number; at: string }> {
    if (value === undefined || value === null) {
      yield { rule: {}, i: 0, at: "spec.rules[0]" };
      return;
    }
    const rules = this.list<unknown>(value, "spec.rules");
    if (!rules) return;
    const matches = rules.reduce<number>(
      (n, r) => n + (isObject(r) && Array.isArray(r.matches) ? r.matches.length : 0),
      0,
    );
    if (matches > 128) {
      this.unsupported("spec.rules", `has ${matches} matches in all, more than the 128 allowed`);
      return;
    }
    for (const [i, rule] of rules.entries()) {
      const at = `spec.rules[${i}]`;
      if (isObject(rule)) yield { rule, i, at };
      else this.unsupported(at, "is not an object");
    }
  }

  // -------------------------------------------------------------------------------------------------
  // matches

  httpMatch(
    m: HTTPRouteMatch,
    at: string,
  ): { path: HttpPathMatch; method?: string; headers: ValueMatch[]; queryParams: ValueMatch[] } | undefined {
    if (notObject(m)) return this.unsupported(at, "is not an object");
    const path = this.pathMatch(m.path, `${at}.path`);
    const headers = this.valueMatches(m.headers, `${at}.headers`, true);
    const queryParams = this.valueMatches(m.queryParams, `${at}.queryParams`, false);
    let method: string | undefined;
    if (m.method !== undefined && m.method !== null) {
      if (typeof m.method !== "string" || !METHODS.has(m.method))
        return this.unsupported(`${at}.method`, `method ${JSON.stringify(m.method)} is not supported`);
      method = m.method;
    }
    if (!path || !headers || !queryParams) return undefined;
    return { path, ...(method !== undefined ? { method } : {}), headers, queryParams };
  }

  private pathMatch(p: HTTPRouteMatch["path"], at: string): HttpPathMatch | undefined {
    if (p === undefined || p === null) return ROOT;
    if (!isObject(p)) return this.unsupported(at, "is not an object");
    const type = p.type ?? "PathPrefix";
    const value = p.value ?? "/";
    if (typeof value !== "string") return this.unsupported(`${at}.value`, "is not a string");
    if (type === "RegularExpression") {
      const checked = checkRegex(value);
      return checked.ok ? { type, value: checked.source } : this.unsupported(`${at}.value`, checked.message);
    }
    if (type !== "Exact" && type !== "PathPrefix")
      return this.unsupported(`${at}.type`, `path match type ${JSON.stringify(type)} is not supported`);
    const bad = pathProblem(value);
    if (bad) return this.unsupported(`${at}.value`, bad);
    return { type, value: type === "PathPrefix" ? withoutTrailingSlash(value) : value };
  }

  /** headers (names lowercased) or query parameters; of equivalent names only the first counts (spec) */
  private valueMatches(list: unknown, at: string, header: boolean): ValueMatch[] | undefined {
    const items = this.list<{ type?: string; name?: unknown; value?: unknown }>(list, at);
    if (items === undefined) return list === undefined || list === null ? [] : undefined;
    const out: ValueMatch[] = [];
    const seen = new Set<string>();
    let ok = true;
    items.forEach((item, i) => {
      const where = `${at}[${i}]`;
      if (!isObject(item)) {
        this.unsupported(where, "is not an object");
        ok = false;
        return;
      }
      if (typeof item.name !== "string" || !HEADER_NAME.test(item.name)) {
        this.unsupported(`${where}.name`, `${JSON.stringify(item.name)} is not a valid name`);
        ok = false;
        return;
      }
      if (typeof item.value !== "string") {
        this.unsupported(`${where}.value`, "is not a string");
        ok = false;
        return;
      }
      const name = header ? item.name.toLowerCase() : item.name;
      const type = item.type ?? "Exact";
      let value = item.value;
      if (type === "RegularExpression") {
        const checked = checkRegex(value);
        if (!checked.ok) {
          this.unsupported(`${where}.value`, checked.message);
          ok = false;
          return;
        }
        value = checked.source;
      } else if (type !== "Exact") {
        this.unsupported(`${where}.type`, `match type ${JSON.stringify(type)} is not supported`);
        ok = false;
        return;
      }
      if (seen.has(name)) return;
      seen.add(name);
      out.push({ name, type, value });
    });
    return ok ? out : undefined;
  }

  grpcMatch(
    m: GRPCRouteMatch,
    at: string,
  ): { path: HttpPathMatch; grpcMethod?: NonNullable<HttpRouteRule["grpcMethod"]>; headers: ValueMatch[] } | undefined {
    if (notObject(m)) return this.unsupported(at, "is not an object");
    const headers = this.valueMatches(m.headers, `${at}.headers`, true);
    const mm = m.method;
    if (mm === undefined || mm === null) return headers ? { path: ROOT, headers } : undefined;
    const where = `${at}.method`;
    if (!isObject(mm)) return this.unsupported(where, "is not an object");
    const type = mm.type ?? "Exact";
    const service = mm.service ?? "";
    const method = mm.method ?? "";
    if (typeof service !== "string") return this.unsupported(`${where}.service`, "is not a string");
    if (typeof method !== "string") return this.unsupported(`${where}.method`, "is not a string");
    if (service === "" && method === "") return this.unsupported(where, "needs a service, a method or both");
    if (!headers) return undefined;
    const grpcMethod = { type: type === "Exact" ? "Exact" : "RegularExpression", service, method } as const;
    if (type === "Exact") {
      if (service !== "" && !GRPC_SERVICE.test(service))
        return this.unsupported(`${where}.service`, `${JSON.stringify(service)} is not a valid gRPC service name`);
      if (method !== "" && !GRPC_METHOD.test(method))
        return this.unsupported(`${where}.method`, `${JSON.stringify(method)} is not a valid gRPC method name`);
      if (service !== "" && method !== "")
        return { path: { type: "Exact", value: `/${service}/${method}` }, grpcMethod, headers };
      if (service !== "") return { path: { type: "PathPrefix", value: `/${service}` }, grpcMethod, headers };
      // the method's characters need no escaping ([A-Za-z_0-9])
      return { path: { type: "RegularExpression", value: `^(?:/[^/]+/${method})$` }, grpcMethod, headers };
    }
    if (type !== "RegularExpression")
      return this.unsupported(`${where}.type`, `method match type ${JSON.stringify(type)} is not supported`);
    // each part must match within its path element: its characters exclude `/`, which also keeps the
    // two parts from competing for the same characters (regex.ts)
    const s = service === "" ? { ok: true as const, body: "[^/]+" } : checkRegexPart(service, "/");
    if (!s.ok) return this.unsupported(`${where}.service`, s.message);
    const me = method === "" ? { ok: true as const, body: "[^/]+" } : checkRegexPart(method, "/");
    if (!me.ok) return this.unsupported(`${where}.method`, me.message);
    return { path: { type: "RegularExpression", value: `^(?:/(?:${s.body})/(?:${me.body}))$` }, grpcMethod, headers };
  }

  // -------------------------------------------------------------------------------------------------
  // filters

  filters(
    list: unknown,
    at: string,
    kind: "HTTPRoute" | "GRPCRoute",
    prefixOnly: boolean,
    hasBackends: boolean,
    onBackend = false,
  ): CompiledFilters {
    const out: CompiledFilters = { list: [], blocked: false };
    const filters = this.list<HTTPRouteFilter>(list, at);
    if (!filters) return out;
    const counts = new Map<string, number>();
    for (const [i, f] of filters.entries()) {
      const where = `${at}[${i}]`;
      if (!isObject(f)) {
        this.unsupported(where, "is not an object");
        continue;
      }
      const type = f.type;
      if (typeof type !== "string") {
        this.unsupported(`${where}.type`, "is missing");
        continue;
      }
      counts.set(type, (counts.get(type) ?? 0) + 1);
      if (counts.get(type) === 2 && ONCE_ONLY.has(type))
        this.unsupported(where, `a ${type} filter cannot be repeated`, "IncompatibleFilters");
      const grpc = kind === "GRPCRoute";
      switch (type) {
        case "RequestHeaderModifier":
        case "ResponseHeaderModifier": {
          const key = type === "RequestHeaderModifier" ? "requestHeaderModifier" : "responseHeaderModifier";
          const modifier = this.headerModifier(f[key], `${where}.${key}`);
          if (modifier) out.list.push({ type, modifier });
          continue;
        }
        case "RequestRedirect":
          if (grpc) break;
          if (hasBackends && !onBackend)
            this.unsupported(
              where,
              "a RequestRedirect filter must not be used together with backendRefs",
              "IncompatibleFilters",
            );
          else this.redirect(f.requestRedirect, `${where}.requestRedirect`, prefixOnly, out);
          continue;
        case "URLRewrite":
          if (grpc) break;
          this.rewrite(f.urlRewrite, `${where}.urlRewrite`, prefixOnly, out);
          continue;
        case "RequestMirror":
          this.mirror(f.requestMirror, `${where}.requestMirror`, out);
          continue;
        case "ExtensionRef": {
          const ext = isObject(f.extensionRef) ? f.extensionRef : undefined;
          if (!ext) {
            this.unsupported(`${where}.extensionRef`, "is missing");
            continue;
          }
          out.blocked = true;
          this.refProblem(
            `${where}.extensionRef`,
            "InvalidKind",
            `ExtensionRef to ${JSON.stringify(ext.kind ?? "")} ${JSON.stringify(ext.name ?? "")} in group ${JSON.stringify(ext.group ?? "")} cannot be resolved: nodeplane has no custom filters; requests it would process get 500`,
          );
          continue;
        }
      }
      this.unsupported(`${where}.type`, `filter type ${JSON.stringify(type)} is not supported on a ${kind}`);
    }
    if (counts.has("RequestRedirect") && counts.has("URLRewrite"))
      this.unsupported(at, "RequestRedirect and URLRewrite filters cannot be combined", "IncompatibleFilters");
    return out;
  }

  private headerModifier(value: unknown, at: string): HeaderModifier | undefined {
    if (!isObject(value)) return this.unsupported(at, "is missing");
    const h = value as HTTPHeaderFilter;
    const names = new Set<string>();
    let ok = true;
    const once = (name: string, field: string): void => {
      if (names.has(name)) {
        this.unsupported(field, `header ${name} has more than one action`);
        ok = false;
      }
      names.add(name);
    };
    const pairs = (key: "set" | "add"): (readonly [string, string])[] => {
      const out: (readonly [string, string])[] = [];
      const entries = this.list<{ name?: unknown; value?: unknown }>(h[key], `${at}.${key}`) ?? [];
      for (const [i, e] of entries.entries()) {
        const where = `${at}.${key}[${i}]`;
        const bad = !isObject(e)
          ? { field: where, message: "is not an object" }
          : typeof e.name !== "string" || !HEADER_NAME.test(e.name)
            ? { field: `${where}.name`, message: `${JSON.stringify(e.name)} is not a valid header name` }
            : headerValueProblem(e.value) !== undefined
              ? { field: `${where}.value`, message: headerValueProblem(e.value)! }
              : undefined;
        if (bad || !isObject(e) || typeof e.name !== "string") {
          if (bad) this.unsupported(bad.field, bad.message);
          ok = false;
          continue;
        }
        const name = e.name.toLowerCase();
        once(name, `${where}.name`);
        out.push([name, e.value as string] as const);
      }
      return out;
    };
    const set = pairs("set");
    const add = pairs("add");
    const remove: string[] = [];
    for (const [i, n] of (this.list<unknown>(h.remove, `${at}.remove`) ?? []).entries()) {
      if (typeof n !== "string" || !HEADER_NAME.test(n)) {
        this.unsupported(`${at}.remove[${i}]`, `${JSON.stringify(n)} is not a valid header name`);
        ok = false;
        continue;
      }
      once(n.toLowerCase(), `${at}.remove[${i}]`);
      remove.push(n.toLowerCase());
    }
    return ok ? { set, add, remove } : undefined;
  }

  private redirect(value: unknown, at: string, prefixOnly: boolean, out: CompiledFilters): void {
    if (!isObject(value)) {
      this.unsupported(at, "is missing");
      return;
    }
    const r = value as NonNullable<HTTPRouteFilter["requestRedirect"]>;
    const filter: Extract<HttpFilter, { type: "RequestRedirect" }> = { type: "RequestRedirect", statusCode: 302 };
    let ok = true;
    if (r.scheme !== undefined && r.scheme !== null) {
      if (r.scheme !== "http" && r.scheme !== "https") {
        this.unsupported(`${at}.scheme`, `scheme ${JSON.stringify(r.scheme)} is not supported (http, https)`);
        ok = false;
      } else filter.scheme = r.scheme;
    }
    if (r.hostname !== undefined && r.hostname !== null) {
      const host = this.hostname(r.hostname, `${at}.hostname`);
      if (host === undefined) ok = false;
      else filter.hostname = host;
    }
    if (r.port !== undefined && r.port !== null) {
      if (typeof r.port !== "number" || !Number.isInteger(r.port) || r.port < 1 || r.port > 65535) {
        this.unsupported(`${at}.port`, `${JSON.stringify(r.port)} is not a port number`);
        ok = false;
      } else filter.port = r.port;
    }
    if (r.path !== undefined && r.path !== null) {
      const path = this.pathModifier(r.path, `${at}.path`, prefixOnly);
      if (path === undefined) ok = false;
      else filter.path = path;
    }
    if (r.statusCode !== undefined && r.statusCode !== null) {
      const code = r.statusCode;
      if (code !== 301 && code !== 302 && code !== 303 && code !== 307 && code !== 308) {
        this.unsupported(`${at}.statusCode`, `${JSON.stringify(code)} is not supported (301, 302, 303, 307, 308)`);
        ok = false;
      } else filter.statusCode = code;
    }
    if (ok) out.list.push(filter);
  }

  private rewrite(value: unknown, at: string, prefixOnly: boolean, out: CompiledFilters): void {
    if (!isObject(value)) {
      this.unsupported(at, "is missing");
      return;
    }
    const r = value as NonNullable<HTTPRouteFilter["urlRewrite"]>;
    const filter: Extract<HttpFilter, { type: "URLRewrite" }> = { type: "URLRewrite" };
    let ok = true;
    if (r.hostname !== undefined && r.hostname !== null) {
      const host = this.hostname(r.hostname, `${at}.hostname`);
      if (host === undefined) ok = false;
      else filter.hostname = host;
    }
    if (r.path !== undefined && r.path !== null) {
      const path = this.pathModifier(r.path, `${at}.path`, prefixOnly);
      if (path === undefined) ok = false;
      else filter.path = path;
    }
    if (ok) out.list.push(filter);
  }

  private hostname(value: unknown, at: string): string | undefined {
    if (typeof value === "string" && value.length <= 253 && PRECISE_HOSTNAME.test(value)) return value;
    return this.unsupported(at, `${JSON.stringify(value)} is not a valid hostname`);
  }

  private pathModifier(value: unknown, at: string, prefixOnly: boolean): PathModifier | undefined {
    if (!isObject(value)) return this.unsupported(at, "is not an object");
    const p = value as unknown as HTTPPathModifier;
    if (p.type === "ReplaceFullPath") {
      const v = p.replaceFullPath;
      if (typeof v !== "string") return this.unsupported(`${at}.replaceFullPath`, "is required for ReplaceFullPath");
      const bad = modifierPathProblem(v, false);
      if (bad) return this.unsupported(`${at}.replaceFullPath`, bad);
      return { type: "ReplaceFullPath", value: v };
    }
    if (p.type === "ReplacePrefixMatch") {
      const v = p.replacePrefixMatch;
      if (typeof v !== "string")
        return this.unsupported(`${at}.replacePrefixMatch`, "is required for ReplacePrefixMatch");
      if (!prefixOnly)
        return this.unsupported(
          `${at}.replacePrefixMatch`,
          "ReplacePrefixMatch needs exactly one match, of type PathPrefix, in its rule",
          "IncompatibleFilters",
        );
      const bad = modifierPathProblem(v, true);
      if (bad) return this.unsupported(`${at}.replacePrefixMatch`, bad);
      return { type: "ReplacePrefixMatch", value: v };
    }
    return this.unsupported(`${at}.type`, `path modifier type ${JSON.stringify(p.type)} is not supported`);
  }

  private mirror(value: unknown, at: string, out: CompiledFilters): void {
    if (!isObject(value)) {
      this.unsupported(at, "is missing");
      return;
    }
    const m = value as NonNullable<HTTPRouteFilter["requestMirror"]>;
    let percent = 100;
    const hasPercent = m.percent !== undefined && m.percent !== null;
    const hasFraction = m.fraction !== undefined && m.fraction !== null;
    if (hasPercent && hasFraction) {
      this.unsupported(at, "only one of percent or fraction may be set");
      return;
    }
    if (hasPercent) {
      if (typeof m.percent !== "number" || !Number.isInteger(m.percent) || m.percent < 0 || m.percent > 100) {
        this.unsupported(`${at}.percent`, `${JSON.stringify(m.percent)} is not a percentage (0 to 100)`);
        return;
      }
      percent = m.percent;
    }
    if (hasFraction) {
      const f = m.fraction;
      const num = isObject(f) ? f.numerator : undefined;
      const den = isObject(f) ? (f.denominator ?? 100) : undefined;
      if (
        typeof num !== "number" ||
        typeof den !== "number" ||
        !Number.isInteger(num) ||
        !Number.isInteger(den) ||
        num < 0 ||
        den < 1 ||
        num > den
      ) {
        this.unsupported(`${at}.fraction`, "needs integers 0 ≤ numerator ≤ denominator, denominator ≥ 1");
        return;
      }
      percent = (num / den) * 100;
    }
    if (!isObject(m.backendRef)) {
      this.unsupported(`${at}.backendRef`, "is missing");
      return;
    }
    const resolved = resolveBackendRef(
      this.store,
      this.grants,
      { kind: this.kind, namespace: this.ref.namespace },
      m.backendRef,
      `${at}.backendRef`,
    );
    // an invalid mirror backend is not configured (spec), and ResolvedRefs says why
    if (resolved.problem) {
      this.refProblem(resolved.problem.field, resolved.problem.reason, resolved.problem.message);
      return;
    }
    if (resolved.target)
      out.list.push({ type: "RequestMirror", backend: resolved.target, appProtocol: resolved.appProtocol, percent });
  }

  // -------------------------------------------------------------------------------------------------
  // backends and timeouts

  backend(ref: BackendRef, at: string, prefixOnly: boolean): WeightedBackend {
    if (!isObject(ref)) {
      this.unsupported(at, "is not an object");
      return { weight: 0, appProtocol: "http", filters: NONE };
    }
    if (backendWeight(ref.weight) === undefined)
      this.unsupported(`${at}.weight`, `${JSON.stringify(ref.weight)} is not a weight (an integer 0 to 1000000)`);
    const resolved = resolveBackendRef(
      this.store,
      this.grants,
      { kind: this.kind, namespace: this.ref.namespace },
      ref,
      at,
    );
    if (resolved.problem) this.refProblem(resolved.problem.field, resolved.problem.reason, resolved.problem.message);
    const filters = this.filters(ref.filters, `${at}.filters`, this.kind, prefixOnly, false, true);
    const target = filters.blocked ? undefined : resolved.target;
    return {
      weight: resolved.weight,
      ...(target ? { target } : {}),
      appProtocol: resolved.appProtocol,
      filters: filters.list,
    };
  }

  timeouts(value: unknown, at: string): HttpRouteRule["timeouts"] | undefined {
    if (value === undefined || value === null) return undefined;
    if (!isObject(value)) return this.unsupported(at, "is not an object");
    const out: { requestMs?: number; backendRequestMs?: number } = {};
    for (const key of ["request", "backendRequest"] as const) {
      const v = value[key];
      if (v === undefined || v === null) continue;
      const ms = typeof v === "string" ? durationMs(v) : undefined;
      if (ms === undefined)
        return this.unsupported(
          `${at}.${key}`,
          `${JSON.stringify(v)} is not a Gateway API duration (e.g. 10s, 1m30s, 500ms)`,
        );
      out[key === "request" ? "requestMs" : "backendRequestMs"] = ms;
    }
    if (
      out.requestMs !== undefined &&
      out.backendRequestMs !== undefined &&
      out.requestMs !== 0 &&
      out.backendRequestMs > out.requestMs
    )
      return this.unsupported(`${at}.backendRequest`, "backendRequest timeout cannot be longer than request timeout");
    return out.requestMs === undefined && out.backendRequestMs === undefined ? undefined : out;
  }
}

// -----------------------------------------------------------------------------------------------------
// value checks

/** the CEL rules of HTTPPathMatch for Exact and PathPrefix values; undefined when fine */
function pathProblem(value: string): string | undefined {
  if (!value.startsWith("/")) return "must be an absolute path starting with '/'";
  if (value.includes("//")) return "must not contain '//'";
  if (value.includes("/./")) return "must not contain '/./'";
  if (value.includes("/../")) return "must not contain '/../'";
  if (/%2f/i.test(value)) return "must not contain '%2f'";
  if (value.includes("#")) return "must not contain '#'";
  if (value.endsWith("/..")) return "must not end with '/..'";
  if (value.endsWith("/.")) return "must not end with '/.'";
  if (value.length > 1024) return "is longer than 1024 characters";
  if (!PATH_CHARS.test(value)) return "must only contain valid path characters (RFC 3986 pchar and '/')";
  return undefined;
}

/** a replacement path (redirect or rewrite): an absolute path (or "" for ReplacePrefixMatch) of path characters */
function modifierPathProblem(value: string, prefix: boolean): string | undefined {
  if (value === "" && prefix) return undefined;
  if (!value.startsWith("/")) return "must be an absolute path starting with '/'";
  if (value.length > 1024) return "is longer than 1024 characters";
  if (!PATH_CHARS.test(value)) return "must only contain valid path characters (RFC 3986 pchar and '/')";
  return undefined;
}

function headerValueProblem(value: unknown): string | undefined {
  if (typeof value !== "string") return "is not a string";
  if (/[\r\n\0]/.test(value)) return "must not contain CR, LF or NUL (header injection)";
  if (!FIELD_VALUE.test(value)) return "must not contain control characters";
  if (value.length > 4096) return "is longer than 4096 characters";
  return undefined;
}

function withoutTrailingSlash(path: string): string {
  let end = path.length;
  while (end > 1 && path.charCodeAt(end - 1) === 47) end--;
  return path.slice(0, end);
}

/** a Gateway API Duration (GEP-2257: 1 to 4 of `<1-5 digits><h|m|s|ms>`) in milliseconds */
export function durationMs(value: string): number | undefined {
  if (!DURATION.test(value)) return undefined;
  let ms = 0;
  for (const [, n, unit] of value.matchAll(/([0-9]+)(h|ms|m|s)/g))
    ms += Number(n) * (unit === "h" ? 3_600_000 : unit === "m" ? 60_000 : unit === "s" ? 1000 : 1);
  return ms;
}
