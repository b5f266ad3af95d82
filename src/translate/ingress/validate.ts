/**
 * The Ingress API's validation rules for hosts and paths (k8s.io/kubernetes pkg/apis/networking/validation),
 * applied here because manifests mode has no API server to reject bad objects.
 * Each function returns an error message, or undefined when the value is valid.
 */

const DNS1123_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS1123_SUBDOMAIN = new RegExp(`^${DNS1123_LABEL}(\\.${DNS1123_LABEL})*$`);
const IPV4ISH = /^[0-9.]+$/;

export function hostError(host: string): string | undefined {
  if (host.includes(":")) return "must be a DNS name, not an IP address or host:port";
  if (IPV4ISH.test(host)) return "must be a DNS name, not an IP address";
  const name = host.startsWith("*.") ? host.slice(2) : host;
  if (name.includes("*")) return "a wildcard '*' must be alone as the first DNS label (e.g. '*.foo.com')";
  if (host.length > 253) return "must be no more than 253 characters";
  if (!DNS1123_SUBDOMAIN.test(name))
    return "must be a lowercase RFC 1123 subdomain (letters, digits, '-' and '.', starting and ending alphanumeric)";
  for (const label of name.split("."))
    if (label.length > 63) return "each DNS label must be no more than 63 characters";
  return undefined;
}

const INVALID_SEQUENCES = ["//", "/./", "/../", "%2f", "%2F"];
const INVALID_SUFFIXES = ["/..", "/."];

export function pathError(path: string | undefined, pathType: string | undefined): string | undefined {
  if (pathType !== "Exact" && pathType !== "Prefix" && pathType !== "ImplementationSpecific")
    return pathType === undefined
      ? "pathType is required"
      : `unsupported pathType "${pathType}": use Exact, Prefix or ImplementationSpecific`;
  if (pathType === "ImplementationSpecific") {
    if (path !== undefined && path !== "" && !path.startsWith("/")) return "must be an absolute path";
    return controlError(path ?? "");
  }
  if (path === undefined || path === "") return `is required for pathType ${pathType}`;
  if (!path.startsWith("/")) return "must be an absolute path";
  for (const seq of INVALID_SEQUENCES) if (path.includes(seq)) return `must not contain '${seq}'`;
  for (const suffix of INVALID_SUFFIXES) if (path.endsWith(suffix)) return `must not end with '${suffix}'`;
  return controlError(path);
}

function controlError(path: string): string | undefined {
  // Paths are matched against request targets, which can never contain these.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
  return /[\s\x00-\x1f\x7f#?]/.test(path) ? "must not contain whitespace, control characters, '?' or '#'" : undefined;
}
