import { type IngressRoute, type IngressSnapshot, matchKey, type VirtualHost } from "../../snapshot/ingress.ts";

/**
 * The request router, compiled once per snapshot so a request costs a few map lookups:
 * host (exact → one-label wildcard → catch-all) → path (Exact map, then the Prefix map probed at each
 * `/` boundary of the request path, longest first) → the host's default backend → the cluster default.
 * `R` is whatever the plane attaches to a route (its upstream pool, metrics children...).
 */
export class Matcher<R> {
  private readonly exactHosts = new Map<string, PathTable<R>>();
  /** keyed by the suffix after `*.` */
  private readonly wildcardHosts = new Map<string, PathTable<R>>();
  private readonly anyHost: PathTable<R> | undefined;
  private readonly defaultRoute: R | undefined;

  /** path tables by the virtual host they were built from, for the next snapshot's matcher to reuse */
  private readonly tables = new Map<VirtualHost, PathTable<R>>();

  /**
   * `previous`: the matcher of the last snapshot. A virtual host that is the very same object (the
   * translator reuses unchanged ones) keeps its path table; `adopt` is told each route of such a table.
   */
  constructor(
    snapshot: IngressSnapshot,
    compile: (route: IngressRoute) => R,
    previous?: Matcher<R>,
    adopt?: (route: R) => void,
  ) {
    let anyHost: PathTable<R> | undefined;
    for (const vhost of snapshot.hosts) {
      let table = previous?.tables.get(vhost);
      if (table) {
        if (adopt) table.forEach(adopt);
      } else table = new PathTable(vhost, compile);
      this.tables.set(vhost, table);
      if (vhost.host === "") anyHost = table;
      else if (vhost.host.startsWith("*.")) this.wildcardHosts.set(vhost.host.slice(2), table);
      else this.exactHosts.set(vhost.host, table);
    }
    this.anyHost = anyHost;
    this.defaultRoute = snapshot.defaultRoute ? compile(snapshot.defaultRoute) : undefined;
  }

  /** `host`: lowercase, without port (see normalizeHost); `path`: normalized (see normalizePath). */
  match(host: string, path: string): R | undefined {
    let table = this.exactHosts.get(host);
    if (table === undefined) {
      const dot = host.indexOf(".");
      if (dot > 0) table = this.wildcardHosts.get(host.slice(dot + 1));
      if (table === undefined) table = this.anyHost;
    }
    if (table !== undefined) {
      const route = table.lookup(path);
      if (route !== undefined) return route;
    }
    return this.defaultRoute;
  }
}

class PathTable<R> {
  private readonly exact = new Map<string, R>();
  private readonly prefix = new Map<string, R>();
  private readonly fallback: R | undefined;

  constructor(vhost: VirtualHost, compile: (route: IngressRoute) => R) {
    for (const route of vhost.routes) {
      const map = route.pathType === "Exact" ? this.exact : this.prefix;
      const key = matchKey(route.path, route.pathType);
      if (!map.has(key)) map.set(key, compile(route));
    }
    this.fallback = vhost.defaultRoute ? compile(vhost.defaultRoute) : undefined;
  }

  forEach(fn: (route: R) => void): void {
    for (const route of this.exact.values()) fn(route);
    for (const route of this.prefix.values()) fn(route);
    if (this.fallback !== undefined) fn(this.fallback);
  }

  lookup(path: string): R | undefined {
    // An Exact match is as long as the request path, so no Prefix match can beat it.
    const exact = this.exact.get(path);
    if (exact !== undefined) return exact;
    if (this.prefix.size > 0) {
      // Prefix keys never end in '/', so probe the whole path, then each element boundary, longest first.
      const whole = this.prefix.get(path);
      if (whole !== undefined) return whole;
      let end = path.length;
      while (end > 0) {
        end = path.lastIndexOf("/", end - 1);
        if (end < 0) break;
        const route = this.prefix.get(path.slice(0, end));
        if (route !== undefined) return route;
      }
    }
    return this.fallback;
  }
}

/**
 * The request Host as routes name it: lowercase, without port or trailing dot. IPv6 literals keep
 * their brackets (they never match a route host, which must be a DNS name).
 */
export function normalizeHost(host: string | undefined): string {
  if (!host) return "";
  let end = host.length;
  if (host.charCodeAt(0) === 91 /* [ */) {
    const close = host.indexOf("]");
    end = close < 0 ? host.length : close + 1;
  } else {
    const colon = host.indexOf(":");
    if (colon >= 0) end = colon;
  }
  if (end > 0 && host.charCodeAt(end - 1) === 46 /* . */) end--;
  const name = end === host.length ? host : host.slice(0, end);
  return name.toLowerCase();
}

/** percent-encoded `/` or `\`, any case */
const ESCAPED_SLASH = /%(?:2[fF]|5[cC])/;
/** runs of percent-encoded octets other than `/` and `\` (those stay encoded when kept at all) */
const DECODABLE = /%(?!2[fF]|5[cC])[0-9a-fA-F]{2}(?:%(?!2[fF]|5[cC])[0-9a-fA-F]{2})*/g;

/**
 * The request path used for matching (the request is forwarded unchanged unless rewritten), resolved the
 * way backends resolve it so `/%61dmin`, `/x/../admin` or `/admin;x/y` cannot dodge a route's restrictions:
 * percent-decoded as nginx does, then each segment's `;` parameters dropped (Java servlet containers and
 * Spring resolve `/admin;x/y` and `/public/..;/admin` to `/admin/y` and `/admin`), then dot segments
 * resolved (RFC 3986 §5.2.4) and repeated slashes merged. `%2F`, `%5C` and a raw `\` make the path
 * malformed unless `allowEscapedSlashes` (then they stay unchanged, one segment, as Envoy's
 * path_with_escaped_slashes_action KEEP_UNCHANGED): backends disagree on whether they separate segments.
 * Undefined for a malformed path (→ 400).
 */
export function normalizePath(target: string, allowEscapedSlashes = false): string | undefined {
  const q = target.indexOf("?");
  const path = q < 0 ? target : target.slice(0, q);
  if (path.charCodeAt(0) !== 47) return undefined;
  if (isPlainPath(path)) return path;
  if (!allowEscapedSlashes && path.indexOf("\\") >= 0) return undefined;
  const percent = path.indexOf("%") >= 0;
  let decoded = path;
  if (percent) {
    if (/%(?![0-9a-fA-F]{2})/.test(path)) return undefined;
    if (!allowEscapedSlashes && ESCAPED_SLASH.test(path)) return undefined;
    try {
      decoded = path.replace(DECODABLE, (m) => decodeURIComponent(m));
    } catch {
      return undefined;
    }
    if (decoded.includes("\0")) return undefined;
  }
  const out: string[] = [];
  const segments = decoded.split("/");
  for (let i = 1; i < segments.length; i++) {
    let seg = segments[i]!;
    const semicolon = seg.indexOf(";");
    if (semicolon >= 0) seg = seg.slice(0, semicolon);
    const last = i === segments.length - 1;
    if (seg === "" && !last) continue;
    if (seg === ".") {
      if (last) out.push("");
      continue;
    }
    if (seg === "..") {
      if (out.length === 0) return undefined;
      out.pop();
      if (last) out.push("");
      continue;
    }
    out.push(seg);
  }
  return `/${out.join("/")}`;
}

/**
 * The common path needs no work: no `%`, `;` or backslash, no `//` and no `/.`. One pass over the characters
 * rather than an indexOf scan per pattern (measured per call: about a third less CPU than the old three scans).
 */
function isPlainPath(path: string): boolean {
  const n = path.length;
  for (let i = 0; i < n; i++) {
    const c = path.charCodeAt(i);
    if (c === 37 /* % */ || c === 59 /* ; */ || c === 92 /* backslash */) return false;
    if (c === 47 /* / */ && i + 1 < n) {
      const next = path.charCodeAt(i + 1);
      if (next === 46 /* . */ || next === 47 /* / */) return false;
    }
  }
  return true;
}
