import type { Ingress } from "../../model/k8s.ts";
import type { Problem } from "../../model/problems.ts";
import type { RouteSettings } from "../../snapshot/ingress.ts";
import { parseCIDR } from "../../util/cidr.ts";

export const NODEPLANE_PREFIX = "nodeplane.dev/";
/** ingress-nginx's prefix, accepted as an alias so its users can move without rewriting manifests */
export const NGINX_PREFIX = "nginx.ingress.kubernetes.io/";

/** ingress-nginx's default `proxy-body-size` (nginx's client_max_body_size). */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
export const DEFAULT_AFFINITY_COOKIE = "INGRESSCOOKIE";
const MAX_TIMEOUT_MS = 24 * 3600 * 1000;

/** The supported annotation keys (without prefix), with what each accepts: docs/ingress.md lists them. */
export const SUPPORTED_ANNOTATIONS = [
  "rewrite-target",
  "ssl-redirect",
  "backend-protocol",
  "proxy-body-size",
  "proxy-connect-timeout",
  "proxy-read-timeout",
  "proxy-send-timeout",
  "affinity",
  "session-cookie-name",
  "session-cookie-max-age",
  "session-cookie-path",
  "whitelist-source-range",
  "allowlist-source-range",
] as const;

type Key = (typeof SUPPORTED_ANNOTATIONS)[number];

/**
 * Reads the Ingress's annotations into typed route settings. A bad value is reported (naming the
 * annotation) and ignored, except a bad source range, which denies everyone rather than opening the route.
 */
export function parseAnnotations(ingress: Ingress, problems: Problem[]): RouteSettings {
  const annotations = ingress.metadata?.annotations ?? {};
  const report = (key: string, message: string) =>
    problems.push({
      kind: "Ingress",
      namespace: ingress.metadata?.namespace ?? "default",
      name: ingress.metadata?.name ?? "",
      field: `metadata.annotations["${key}"]`,
      message,
    });
  /** nodeplane.dev/ wins over the nginx alias when both are set. */
  const get = (key: Key): { key: string; value: string } | undefined => {
    for (const prefix of [NODEPLANE_PREFIX, NGINX_PREFIX]) {
      const value = annotations[prefix + key];
      if (value !== undefined) return { key: prefix + key, value: value.trim() };
    }
    return undefined;
  };

  for (const name of Object.keys(annotations)) {
    if (name.startsWith(NODEPLANE_PREFIX)) {
      const key = name.slice(NODEPLANE_PREFIX.length);
      if (!isSupported(key))
        report(name, `unknown annotation (supported: ${SUPPORTED_ANNOTATIONS.join(", ")}); ignored`);
    } else if (name.startsWith(NGINX_PREFIX)) {
      // An Ingress written for ingress-nginx may count on what it asks for (auth, CORS, rate limits…):
      // saying it is not applied beats leaving it silently unenforced.
      const message = unsupportedNginx(name.slice(NGINX_PREFIX.length));
      if (message) report(name, message);
    }
  }

  const settings: RouteSettings = { sslRedirect: true, backendProtocol: "HTTP", maxBodyBytes: DEFAULT_MAX_BODY_BYTES };

  const rewrite = get("rewrite-target");
  if (rewrite) {
    if (/^\/[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*$/.test(rewrite.value) && !/\$(?![12](?![0-9]))/.test(rewrite.value))
      settings.rewriteTarget = rewrite.value;
    else report(rewrite.key, `"${rewrite.value}" is not a path starting with '/' (only $1 and $2 may be referenced)`);
  }

  const ssl = get("ssl-redirect");
  if (ssl) {
    const b = parseBool(ssl.value);
    if (b === undefined) report(ssl.key, `"${ssl.value}" is not "true" or "false"`);
    else settings.sslRedirect = b;
  }

  const protocol = get("backend-protocol");
  if (protocol) {
    const p = protocol.value.toUpperCase();
    if (p === "HTTP" || p === "HTTPS") settings.backendProtocol = p;
    else report(protocol.key, `"${protocol.value}" is not supported: use HTTP or HTTPS`);
  }

  const body = get("proxy-body-size");
  if (body) {
    const bytes = parseSize(body.value);
    if (bytes === undefined) report(body.key, `"${body.value}" is not a size such as 8k, 10m, 1g or 0 (unlimited)`);
    else settings.maxBodyBytes = bytes;
  }

  for (const [key, field] of [
    ["proxy-connect-timeout", "connectTimeoutMs"],
    ["proxy-read-timeout", "readTimeoutMs"],
    ["proxy-send-timeout", "sendTimeoutMs"],
  ] as const) {
    const found = get(key);
    if (!found) continue;
    const ms = parseTimeout(found.value);
    if (ms === undefined) report(found.key, `"${found.value}" is not a timeout such as 60 (seconds), 5s or 500ms`);
    else settings[field] = ms;
  }

  const affinity = get("affinity");
  if (affinity) {
    if (affinity.value !== "cookie") report(affinity.key, `"${affinity.value}" is not supported: use "cookie"`);
    else {
      const cookie = { name: DEFAULT_AFFINITY_COOKIE, path: "/" } as NonNullable<RouteSettings["affinity"]>;
      const name = get("session-cookie-name");
      if (name) {
        if (/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name.value)) cookie.name = name.value;
        else report(name.key, `"${name.value}" is not a valid cookie name`);
      }
      const maxAge = get("session-cookie-max-age");
      if (maxAge) {
        if (/^\d{1,9}$/.test(maxAge.value) && Number(maxAge.value) > 0) cookie.maxAgeSeconds = Number(maxAge.value);
        else report(maxAge.key, `"${maxAge.value}" is not a positive number of seconds`);
      }
      const path = get("session-cookie-path");
      if (path) {
        if (/^\/[A-Za-z0-9\-._~!$&'()*+,=:@/%]*$/.test(path.value)) cookie.path = path.value;
        else report(path.key, `"${path.value}" is not a cookie path starting with '/'`);
      }
      settings.affinity = cookie;
    }
  }

  const ranges = get("whitelist-source-range") ?? get("allowlist-source-range");
  if (ranges) {
    const cidrs: string[] = [];
    const bad: string[] = [];
    for (const entry of ranges.value.split(",")) {
      const text = entry.trim();
      if (text === "") continue;
      try {
        parseCIDR(text);
        cidrs.push(text);
      } catch {
        bad.push(text);
      }
    }
    if (bad.length > 0) {
      report(ranges.key, `${bad.map((b) => `"${b}"`).join(", ")} not a CIDR; the routes deny every client until fixed`);
      settings.allowSourceRanges = [];
    } else if (cidrs.length > 0) settings.allowSourceRanges = cidrs;
  }

  return settings;
}

function isSupported(key: string): boolean {
  return (SUPPORTED_ANNOTATIONS as readonly string[]).includes(key);
}

/** Why an `nginx.ingress.kubernetes.io/<key>` is not applied; undefined when nodeplane supports it. */
export function unsupportedNginx(key: string): string | undefined {
  if (isSupported(key)) return undefined;
  // configuration-snippet, server-snippet, auth-snippet, stream-snippet, modsecurity-snippet…
  if (key.endsWith("-snippet")) return "snippet annotation (raw nginx configuration): not supported, not applied";
  return "annotation not supported, not applied";
}

function parseBool(text: string): boolean | undefined {
  const t = text.toLowerCase();
  return t === "true" ? true : t === "false" ? false : undefined;
}

/** nginx sizes: `100` bytes, `8k`, `10m`, `1g`; 0 = unlimited. */
export function parseSize(text: string): number | undefined {
  const m = /^(\d{1,12})([kKmMgG]?)$/.exec(text);
  if (!m) return undefined;
  const unit = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase() as "" | "k" | "m" | "g"];
  const bytes = Number(m[1]) * unit;
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

/** ingress-nginx timeouts are whole seconds (`60`); units `ms`, `s`, `m` are accepted too. */
export function parseTimeout(text: string): number | undefined {
  const m = /^(\d{1,9})(ms|s|m)?$/.exec(text);
  if (!m) return undefined;
  const ms = Number(m[1]) * ({ ms: 1, s: 1000, m: 60_000 }[m[2] ?? "s"] ?? 1000);
  return ms > 0 && ms <= MAX_TIMEOUT_MS ? ms : undefined;
}
