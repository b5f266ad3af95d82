/**
 * Hostname rules of the Gateway API (apis/v1/shared_types.go `Hostname`, gateway_types.go "Listeners that are
 * distinct only by Hostname", httproute_types.go `Hostnames`): exact names and `*.` wildcards, where the
 * wildcard is a suffix match covering one or more labels (`*.example.com` matches `a.b.example.com`, not
 * `example.com`). `""` stands for "no hostname": every host.
 */

const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Why `value` is not a valid Gateway API hostname (RFC 1123 names, optionally `*.`-prefixed, no IP), or undefined. */
export function hostnameProblem(value: string): string | undefined {
  if (value.length === 0) return "is empty";
  if (value.length > 253) return "is longer than 253 characters";
  const body = value.startsWith("*.") ? value.slice(2) : value;
  if (body.includes("*")) return "may hold `*` only as its whole first label (`*.example.com`)";
  if (/^[0-9.]+$/.test(body) || body.includes(":")) return "is an IP address, not a hostname";
  const labels = body.split(".");
  for (const label of labels) {
    if (label.length > 63) return `has a label longer than 63 characters ("${label.slice(0, 20)}…")`;
    if (!LABEL.test(label)) return `has an invalid label "${label}" (lowercase letters, digits and '-' only)`;
  }
  return undefined;
}

export function isWildcard(host: string): boolean {
  return host.startsWith("*.");
}

/** Does the pattern (exact, `*.suffix` or `""`) match the concrete or wildcard name `host` entirely? */
export function covers(pattern: string, host: string): boolean {
  if (pattern === "") return true;
  if (host === "") return false;
  if (!isWildcard(pattern)) return pattern === host;
  const suffix = pattern.slice(1); // ".example.com"
  if (isWildcard(host)) return host === pattern || host.endsWith(suffix);
  return host.length > suffix.length && host.endsWith(suffix);
}

/**
 * The hosts a listener hostname and a route hostname both serve (the spec's intersection), or undefined
 * when they share none: the more specific of the two when one covers the other.
 */
export function intersect(listener: string, route: string): string | undefined {
  if (covers(listener, route)) return route;
  if (covers(route, listener)) return listener;
  return undefined;
}

/**
 * The effective hostnames of a route on a listener: each route hostname intersected with the listener's;
 * a route without hostnames takes the listener's (`""` = every host). Empty: nothing in common.
 */
export function effectiveHosts(listener: string, routeHosts: readonly string[]): string[] {
  if (routeHosts.length === 0) return [listener];
  const out = new Set<string>();
  for (const h of routeHosts) {
    const i = intersect(listener, h);
    if (i !== undefined) out.add(i);
  }
  return [...out];
}

/**
 * Specificity of a hostname for "most specific first" (listener selection, virtual host choice): exact names
 * first, then wildcards by the number of labels of their suffix (more dots = more specific), then `""`.
 * Returns a number that sorts descending: larger = more specific.
 */
export function specificity(host: string): number {
  if (host === "") return 0;
  if (isWildcard(host)) return 1 + host.split(".").length;
  return 1000;
}

/** Most specific first; ties alphabetically, so the order never depends on the input's. */
export function bySpecificity(a: string, b: string): number {
  const d = specificity(b) - specificity(a);
  if (d !== 0) return d;
  return a < b ? -1 : a > b ? 1 : 0;
}
