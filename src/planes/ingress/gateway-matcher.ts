import type { GatewayHttpSocket, GatewayVirtualHost, HttpRouteRule, ValueMatch } from "../../snapshot/gateway.ts";

/**
 * The router of one Gateway HTTP socket (docs/gateway.md), compiled once per snapshot so a request costs a
 * map lookup for its host and a scan of that host's rules with precompiled tests:
 * host → virtual host (exact; then the longest `*.suffix` matching one or more labels, as Gateway API
 * wildcards do, unlike Ingress's one-label ones; then `""`) → the first rule, in the snapshot's precedence
 * order, whose path, method, headers and query parameters all match. Headers are read from the flat
 * `[name, value, …]` list the front ends already hold (llhttp's, or rawHeaders): nothing is built per request.
 * `R` is what the plane attaches to a rule (its backends, metrics…).
 */
export class GatewayMatcher<R> {
  private readonly exact = new Map<string, GatewayHostTable<R>>();
  /** keyed by the suffix after `*.`; probed at every label boundary of the host, longest suffix first */
  private readonly wildcard = new Map<string, GatewayHostTable<R>>();
  private readonly any: GatewayHostTable<R> | undefined;

  constructor(socket: GatewayHttpSocket, compile: (rule: HttpRouteRule, vhost: GatewayVirtualHost) => R) {
    let any: GatewayHostTable<R> | undefined;
    for (const vhost of socket.hosts) {
      const table = new GatewayHostTable(vhost, compile);
      const host = vhost.host.toLowerCase();
      if (host === "") any ??= table;
      else if (host.startsWith("*.")) {
        if (!this.wildcard.has(host.slice(2))) this.wildcard.set(host.slice(2), table);
      } else if (!this.exact.has(host)) this.exact.set(host, table);
    }
    this.any = any;
  }

  /** `host`: lowercase, without port or trailing dot (normalizeHost). Undefined: no virtual host claims it. */
  host(host: string): GatewayHostTable<R> | undefined {
    const exact = this.exact.get(host);
    if (exact !== undefined) return exact;
    if (this.wildcard.size > 0) {
      // `*.example.com` matches `a.example.com` and `a.b.example.com` (one or more labels), never
      // `example.com`: the first dot leaves the longest suffix, each later one a shorter one.
      let dot = host.indexOf(".");
      while (dot > 0 && dot < host.length - 1) {
        const table = this.wildcard.get(host.slice(dot + 1));
        if (table !== undefined) return table;
        dot = host.indexOf(".", dot + 1);
      }
    }
    return this.any;
  }
}

/** One virtual host's rules, in precedence order. */
export class GatewayHostTable<R> {
  readonly host: string;
  private readonly rules: CompiledRule<R>[];

  constructor(vhost: GatewayVirtualHost, compile: (rule: HttpRouteRule, vhost: GatewayVirtualHost) => R) {
    this.host = vhost.host;
    this.rules = vhost.rules.map((rule) => new CompiledRule(rule, compile(rule, vhost)));
  }

  /**
   * The first rule matching; undefined → 404. `path`: normalised (normalizePath); `target`: the request
   * target as sent (its query is matched); `headers`: flat `[name, value, …]`, names in any case.
   */
  match(method: string, path: string, target: string, headers: readonly string[]): CompiledRule<R> | undefined {
    const rules = this.rules;
    for (let i = 0; i < rules.length; i++) {
      const rule = rules[i]!;
      if (rule.matches(method, path, target, headers)) return rule;
    }
    return undefined;
  }

  forEach(fn: (rule: CompiledRule<R>) => void): void {
    for (const rule of this.rules) fn(rule);
  }
}

const PATH_EXACT = 0;
const PATH_PREFIX = 1;
const PATH_REGEX = 2;

/** A value test: an exact string or an anchored RegExp, compiled once. */
interface ValueTest {
  /** lowercase header name, or the query parameter name as written */
  name: string;
  exact: string | undefined;
  regex: RegExp | undefined;
}

/** One rule with its tests compiled; `runtime` is the plane's part. */
export class CompiledRule<R> {
  readonly rule: HttpRouteRule;
  readonly runtime: R;
  private readonly pathKind: number;
  /** Exact: the path; Prefix: without a trailing `/` (`""` for `/`) */
  private readonly pathValue: string;
  private readonly pathRegex: RegExp | undefined;
  private readonly method: string | undefined;
  private readonly headers: readonly ValueTest[];
  private readonly query: readonly ValueTest[];
  /** a test could not be compiled (a regex this engine refuses): the rule never matches */
  readonly broken: boolean;
  /** the length of the request path's part the PathPrefix matched (ReplacePrefixMatch replaces it) */
  readonly prefixLength: number;

  constructor(rule: HttpRouteRule, runtime: R) {
    this.rule = rule;
    this.runtime = runtime;
    let broken = false;
    const path = rule.path;
    this.pathKind = path.type === "Exact" ? PATH_EXACT : path.type === "PathPrefix" ? PATH_PREFIX : PATH_REGEX;
    this.pathValue = path.type === "PathPrefix" ? trimSlash(path.value) : path.value;
    this.prefixLength = path.type === "PathPrefix" ? this.pathValue.length : 0;
    this.pathRegex = undefined;
    if (path.type === "RegularExpression") {
      this.pathRegex = anchored(path.value);
      if (this.pathRegex === undefined) broken = true;
    }
    this.method = rule.method;
    const headers: ValueTest[] = [];
    const query: ValueTest[] = [];
    for (const m of rule.headers) {
      const test = valueTest(m, m.name.toLowerCase());
      if (test === undefined) broken = true;
      // the specification: only the first entry of equivalent names counts, later ones are ignored
      else if (!headers.some((h) => h.name === test.name)) headers.push(test);
    }
    for (const m of rule.queryParams) {
      const test = valueTest(m, m.name);
      if (test === undefined) broken = true;
      else if (!query.some((q) => q.name === test.name)) query.push(test);
    }
    this.headers = headers;
    this.query = query;
    this.broken = broken;
  }

  matches(method: string, path: string, target: string, headers: readonly string[]): boolean {
    if (this.broken) return false;
    if (this.method !== undefined && this.method !== method) return false;
    switch (this.pathKind) {
      case PATH_EXACT:
        if (path !== this.pathValue) return false;
        break;
      case PATH_PREFIX: {
        const p = this.pathValue;
        // element-wise: `/foo` matches `/foo`, `/foo/`, `/foo/bar`, not `/foobar`
        if (p.length > 0 && !(path.startsWith(p) && (path.length === p.length || path.charCodeAt(p.length) === 47)))
          return false;
        break;
      }
      default:
        if (!this.pathRegex!.test(path)) return false;
    }
    const hs = this.headers;
    for (let i = 0; i < hs.length; i++) {
      const test = hs[i]!;
      const value = headerValue(headers, test.name);
      if (value === undefined || !testValue(test, value)) return false;
    }
    const qs = this.query;
    if (qs.length > 0) {
      const q = target.indexOf("?");
      if (q < 0) return false;
      for (let i = 0; i < qs.length; i++) {
        const test = qs[i]!;
        const value = queryValue(target, q + 1, test.name);
        if (value === undefined || !testValue(test, value)) return false;
      }
    }
    return true;
  }
}

function trimSlash(value: string): string {
  return value.endsWith("/") ? value.replace(/\/+$/, "") : value;
}

/**
 * A RegularExpression match value as a RegExp matching the whole value (the translator has checked it is
 * linear-time safe: translate/gateway/regex.ts). Undefined when this engine refuses it.
 */
export function anchored(source: string): RegExp | undefined {
  try {
    return new RegExp(`^(?:${source})$`);
  } catch {
    return undefined;
  }
}

function valueTest(m: ValueMatch, name: string): ValueTest | undefined {
  if (m.type === "Exact") return { name, exact: m.value, regex: undefined };
  const regex = anchored(m.value);
  return regex === undefined ? undefined : { name, exact: undefined, regex };
}

function testValue(test: ValueTest, value: string): boolean {
  return test.exact !== undefined ? value === test.exact : test.regex!.test(value);
}

/**
 * The value of a header in a flat `[name, value, …]` list (`lower`: the lowercase name). A header sent
 * several times is matched as the RFC 9110 §5.3 combination of its values (`a, b`), as the specification
 * asks (HTTPHeaderMatch: repeated headers per RFC 7230 §3.2.2).
 */
export function headerValue(headers: readonly string[], lower: string): string | undefined {
  let value: string | undefined;
  const length = lower.length;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    if (name.length !== length || name.toLowerCase() !== lower) continue;
    const v = headers[i + 1]!;
    value = value === undefined ? v : `${value}, ${v}`;
  }
  return value;
}

/**
 * The first value of query parameter `name` in `target` from `start` (after the `?`), percent-decoded.
 * Names compare exactly (they are case-sensitive). A repeated parameter's behaviour is left undefined by
 * the specification: the first one counts here.
 */
export function queryValue(target: string, start: number, name: string): string | undefined {
  let i = start;
  const end = target.length;
  while (i <= end) {
    let amp = target.indexOf("&", i);
    if (amp < 0) amp = end;
    const eq = target.indexOf("=", i);
    const nameEnd = eq >= 0 && eq < amp ? eq : amp;
    if (decode(target.slice(i, nameEnd)) === name) return nameEnd === amp ? "" : decode(target.slice(nameEnd + 1, amp));
    i = amp + 1;
  }
  return undefined;
}

function decode(text: string): string {
  if (text.indexOf("%") < 0 && text.indexOf("+") < 0) return text;
  try {
    return decodeURIComponent(text.replace(/\+/g, " "));
  } catch {
    return text;
  }
}
