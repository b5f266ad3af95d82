/**
 * What `nodeplane convert` knows of Ingress annotations: the two prefixes nodeplane reads (nodeplane.dev/ and
 * its ingress-nginx aliases), which ones the converter turns into Gateway API fields, and the note written for
 * each one that has no equivalent.
 */
import { compare } from "./json.ts";

const NODEPLANE_PREFIX = "nodeplane.dev/";
const NGINX_PREFIX = "nginx.ingress.kubernetes.io/";

/** What each annotation becomes; the keys are the names after the prefix. */
const ANNOTATION_NOTES: Record<string, string> = {
  "proxy-body-size": "proxy-body-size: Gateway API has no request body limit",
  "proxy-connect-timeout": "proxy-connect-timeout: Gateway API has no connect timeout",
  "proxy-read-timeout":
    "proxy-read-timeout: limits the wait between reads; Gateway API's rules[].timeouts.backendRequest limits the whole exchange (set it by hand if that is what you want)",
  "proxy-send-timeout": "proxy-send-timeout: Gateway API has no request-body idle timeout",
  affinity: "affinity: cookie session persistence (sessionPersistence, experimental) is not served by nodeplane",
  "session-cookie-name": "session-cookie-name: goes with affinity",
  "session-cookie-max-age": "session-cookie-max-age: goes with affinity",
  "session-cookie-path": "session-cookie-path: goes with affinity",
  "whitelist-source-range": "whitelist-source-range: Gateway API has no client address filter",
  "allowlist-source-range": "allowlist-source-range: Gateway API has no client address filter",
};
function backendProtocolNote(value: string): string {
  switch (value.trim().toUpperCase()) {
    case "HTTP":
      return "backend-protocol: HTTP is what HTTPRoute backends speak anyway";
    case "HTTPS":
      return "backend-protocol: TLS to the backend is BackendTLSPolicy in Gateway API, not served by nodeplane";
    case "GRPC":
    case "GRPCS":
      return "backend-protocol: write a GRPCRoute, and appProtocol kubernetes.io/h2c on the Service port";
    default:
      return "backend-protocol: no Gateway API equivalent";
  }
}

/** Converted by this module (their effect is in the output), so no comment unless a value cannot be converted. */
const CONVERTED = new Set(["rewrite-target", "ssl-redirect"]);

/** Annotation value, nodeplane.dev/ winning over the nginx alias (as the Ingress translator reads them). */
export function annotationOf(annotations: Readonly<Record<string, string>>, key: string): string | undefined {
  return (annotations[NODEPLANE_PREFIX + key] ?? annotations[NGINX_PREFIX + key])?.trim();
}

/** One `not converted:` line per nodeplane or nginx annotation the output does not carry, in key order. */
export function notConverted(annotations: Readonly<Record<string, string>>): string[] {
  const lines: string[] = [];
  for (const key of Object.keys(annotations).sort(compare)) {
    const prefix = key.startsWith(NODEPLANE_PREFIX)
      ? NODEPLANE_PREFIX
      : key.startsWith(NGINX_PREFIX)
        ? NGINX_PREFIX
        : "";
    if (!prefix) continue;
    const short = key.slice(prefix.length);
    if (CONVERTED.has(short)) continue;
    const note = short === "backend-protocol" ? backendProtocolNote(annotations[key]!) : ANNOTATION_NOTES[short];
    lines.push(`not converted: ${key}=${annotations[key]}: ${note ?? "not applied by nodeplane either"}`);
  }
  return lines;
}
