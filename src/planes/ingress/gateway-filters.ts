import type { HeaderModifier, HttpFilter, PathModifier } from "../../snapshot/gateway.ts";

/**
 * The pure parts of HTTPRoute filters (docs/gateway.md): the path a URLRewrite or RequestRedirect makes,
 * the Location of a redirect, and header modifiers on a flat `[name, value, …]` list. Values that could
 * break a head (CR, LF, NUL, or a name that is not a token) are refused here too, whatever the translator
 * let through: the plane never writes them.
 */

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;
/** field-value characters (RFC 9110 §5.5): no CR, LF or NUL */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
/** a path or hostname going into a head: printable ASCII without spaces */
const URL_PART = /^[\x21-\x7e]*$/;

export function safeHeaderName(name: string): boolean {
  return TOKEN.test(name);
}

export function safeHeaderValue(value: string): boolean {
  return FIELD_VALUE.test(value);
}

export function safeUrlPart(value: string): boolean {
  return URL_PART.test(value);
}

/** A header modifier with its unsafe entries dropped, and the names it replaces or removes (lowercase). */
export interface CompiledModifier {
  set: readonly (readonly [string, string])[];
  add: readonly (readonly [string, string])[];
  /** set ∪ remove: request/response headers of these names are dropped before set/add are appended */
  drop: ReadonlySet<string>;
  /** lengths of the names in `drop`, so a header of another length is kept without lowercasing its name */
  dropLengths: ReadonlySet<number>;
  /** entries refused as unsafe */
  refused: number;
}

/**
 * `reserved`: names the proxy owns on this side (hop-by-hop, X-Forwarded-*, framing): never modified, so a
 * modifier cannot break framing or forge what the proxy vouches for.
 */
export function compileModifier(modifier: HeaderModifier, reserved: ReadonlySet<string>): CompiledModifier {
  let refused = 0;
  const ok = (entry: readonly [string, string]): boolean => {
    const fine = safeHeaderName(entry[0]) && safeHeaderValue(entry[1]) && !reserved.has(entry[0]);
    if (!fine) refused++;
    return fine;
  };
  const set = modifier.set.map(([n, v]) => [n.toLowerCase(), v] as const).filter(ok);
  const add = modifier.add.map(([n, v]) => [n.toLowerCase(), v] as const).filter(ok);
  const drop = new Set<string>();
  for (const [name] of set) drop.add(name);
  for (const name of modifier.remove) {
    const lower = name.toLowerCase();
    if (safeHeaderName(lower) && !reserved.has(lower)) drop.add(lower);
    else refused++;
  }
  return { set, add, drop, dropLengths: new Set([...drop].map((n) => n.length)), refused };
}

/** Merges several modifiers (route filter, then backendRef filter) into one, applied in order. */
export function mergeModifiers(list: readonly CompiledModifier[]): CompiledModifier | undefined {
  if (list.length === 0) return undefined;
  if (list.length === 1) return list[0];
  // A later set/remove overrides what an earlier one set or added; its adds append.
  let set: (readonly [string, string])[] = [];
  let add: (readonly [string, string])[] = [];
  const drop = new Set<string>();
  let refused = 0;
  for (const m of list) {
    set = set.filter(([n]) => !m.drop.has(n));
    add = add.filter(([n]) => !m.drop.has(n));
    set.push(...m.set);
    add.push(...m.add);
    for (const n of m.drop) drop.add(n);
    refused += m.refused;
  }
  return { set, add, drop, dropLengths: new Set([...drop].map((n) => n.length)), refused };
}

/** True when the modifier drops header `name` (any case). */
export function drops(modifier: CompiledModifier, name: string): boolean {
  return modifier.dropLengths.has(name.length) && modifier.drop.has(name.toLowerCase());
}

/** Applies a modifier to a flat header list in place: dropped names removed, `set` then `add` appended. */
export function modifyHeaders(headers: string[], modifier: CompiledModifier): void {
  let w = 0;
  for (let r = 0; r < headers.length; r += 2) {
    if (drops(modifier, headers[r]!)) continue;
    headers[w++] = headers[r]!;
    headers[w++] = headers[r + 1]!;
  }
  headers.length = w;
  for (const [n, v] of modifier.set) headers.push(n, v);
  for (const [n, v] of modifier.add) headers.push(n, v);
}

/** The same for a header record (Node's HTTP/2 response headers), names lowercase. */
export function modifyHeaderRecord(headers: Record<string, string | string[]>, modifier: CompiledModifier): void {
  for (const name of modifier.drop) delete headers[name];
  for (const [n, v] of modifier.set) headers[n] = v;
  for (const [n, v] of modifier.add) {
    const existing = headers[n];
    if (existing === undefined) headers[n] = v;
    else if (Array.isArray(existing)) existing.push(v);
    else headers[n] = [existing, v];
  }
}

/**
 * The path after a ReplaceFullPath or ReplacePrefixMatch (the specification's table in
 * HTTPPathModifier.ReplacePrefixMatch, apis/v1/httproute_types.go). `path`: the normalised request path;
 * `prefixLength`: how much of it the rule's PathPrefix matched (the prefix without its trailing `/`).
 */
export function modifyPath(modifier: PathModifier, path: string, prefixLength: number): string {
  if (modifier.type === "ReplaceFullPath") return modifier.value === "" ? "/" : modifier.value;
  // the matched prefix ends at an element boundary: the rest is "" or starts with "/"
  const rest = path.slice(prefixLength);
  const replacement = modifier.value.endsWith("/") ? modifier.value.replace(/\/+$/, "") : modifier.value;
  if (rest === "" || rest === "/") {
    // `/foo` → `/xyz`, `/foo/` → `/xyz/`; an empty (or `/`) replacement leaves `/`
    if (replacement === "") return "/";
    return rest === "/" ? `${replacement}/` : replacement;
  }
  return replacement + rest;
}

export interface RedirectRequest {
  /** the scheme the request came in with (the listener's protocol) */
  scheme: "http" | "https";
  /** the request's host, normalised (normalizeHost) */
  host: string;
  /** the listener's port */
  listenerPort: number;
  /** the normalised path, and the request target (for its query, and as the path when none is rewritten) */
  path: string;
  target: string;
  prefixLength: number;
}

/**
 * The Location of a RequestRedirect, by the specification's rules (HTTPRequestRedirectFilter): scheme and
 * hostname default to the request's; the port is the filter's, else the scheme's well-known port when the
 * filter sets a scheme, else the listener's; it is left out when it is the scheme's default (80 for http,
 * 443 for https). The path is the modified one, or the request's as it came; the query is kept.
 */
export function redirectLocation(
  filter: Extract<HttpFilter, { type: "RequestRedirect" }>,
  request: RedirectRequest,
): string {
  const scheme = filter.scheme ?? request.scheme;
  const host = filter.hostname ?? request.host;
  const port = filter.port ?? (filter.scheme !== undefined ? (scheme === "https" ? 443 : 80) : request.listenerPort);
  const defaultPort = scheme === "https" ? 443 : 80;
  const q = request.target.indexOf("?");
  let pathAndQuery: string;
  if (filter.path === undefined) pathAndQuery = request.target;
  else {
    const query = q < 0 ? "" : request.target.slice(q);
    pathAndQuery = encodePath(modifyPath(filter.path, request.path, request.prefixLength)) + query;
  }
  const hostPart = host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
  return `${scheme}://${hostPart}${port === defaultPort ? "" : `:${port}`}${pathAndQuery}`;
}

/** The upstream request target after a URLRewrite path modifier (the query is kept). */
export function rewriteTarget(modifier: PathModifier, path: string, target: string, prefixLength: number): string {
  const q = target.indexOf("?");
  return encodePath(modifyPath(modifier, path, prefixLength)) + (q < 0 ? "" : target.slice(q));
}

/**
 * The normalised path is percent-decoded: what goes back into a request line or a Location is encoded
 * again where it must be (controls, spaces, non-ASCII), so no raw CR/LF or space can reach a head.
 */
export function encodePath(path: string): string {
  return URL_PART.test(path) ? path : path.replace(/[^\x21-\x7e]+/gu, (s) => encodeURIComponent(s));
}
