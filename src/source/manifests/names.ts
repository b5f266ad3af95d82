/**
 * Name and value formats of the Kubernetes API (k8s.io/apimachinery/pkg/util/validation), so a
 * manifest the API server would reject is rejected here too, with the same kind of message.
 * Each check returns undefined when the value is fine, else a short reason.
 */
import { isIP } from "node:net";

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const QUALIFIED_NAME_PART = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const IANA_SVC_NAME = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
const CONFIG_MAP_KEY = /^[-._a-zA-Z0-9]+$/;

export function dns1123Label(value: string): string | undefined {
  if (value.length > 63) return "must be no more than 63 characters";
  if (!DNS1123_LABEL.test(value))
    return "must be a lowercase RFC 1123 label (a-z, 0-9 and '-', starting and ending with a letter or digit)";
  return undefined;
}

export function dns1123Subdomain(value: string): string | undefined {
  if (value.length > 253) return "must be no more than 253 characters";
  if (!DNS1123_SUBDOMAIN.test(value))
    return "must be a lowercase RFC 1123 subdomain (a-z, 0-9, '-' and '.', starting and ending with a letter or digit)";
  return undefined;
}

export function dns1035Label(value: string): string | undefined {
  if (value.length > 63) return "must be no more than 63 characters";
  if (!DNS1035_LABEL.test(value))
    return "must be a lowercase RFC 1035 label (a-z, 0-9 and '-', starting with a letter, ending with a letter or digit)";
  return undefined;
}

/** A named port (`targetPort: http`): IANA_SVC_NAME, at most 15 characters with at least one letter. */
export function ianaSvcName(value: string): string | undefined {
  if (value.length > 15) return "must be no more than 15 characters";
  if (!IANA_SVC_NAME.test(value))
    return "must contain only a-z, 0-9 and '-', starting and ending with a letter or digit";
  if (value.includes("--")) return "must not contain consecutive hyphens";
  if (!/[a-z]/.test(value)) return "must contain at least one letter";
  return undefined;
}

/** Label and annotation keys: `[prefix/]name`, the prefix a DNS subdomain. */
export function qualifiedName(value: string): string | undefined {
  const parts = value.split("/");
  if (parts.length > 2) return "must be a name with an optional DNS subdomain prefix and '/'";
  const name = parts.length === 2 ? parts[1]! : parts[0]!;
  if (parts.length === 2) {
    const prefix = parts[0]!;
    if (prefix.length === 0) return "prefix part must be non-empty";
    const bad = dns1123Subdomain(prefix);
    if (bad) return `prefix part ${bad}`;
  }
  if (name.length === 0) return "name part must be non-empty";
  if (name.length > 63) return "name part must be no more than 63 characters";
  if (!QUALIFIED_NAME_PART.test(name))
    return "name part must consist of alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric";
  return undefined;
}

export function labelValue(value: string): string | undefined {
  if (value.length > 63) return "must be no more than 63 characters";
  if (!LABEL_VALUE.test(value))
    return "must be empty or alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric";
  return undefined;
}

/** Secret data keys. */
export function configKey(value: string): string | undefined {
  if (value.length > 253) return "must be no more than 253 characters";
  if (!CONFIG_MAP_KEY.test(value)) return "must consist of alphanumerics, '-', '_' or '.'";
  if (value === "." || value === "..") return `must not be '${value}'`;
  return undefined;
}

/** A host name as Ingress rules and TLS hosts take it: a DNS subdomain, optionally with a leading `*.`. */
export function wildcardHost(value: string): string | undefined {
  if (isIP(value)) return "must be a DNS name, not an IP address";
  const name = value.startsWith("*.") ? value.slice(2) : value;
  return dns1123Subdomain(name);
}

/** The addresses the API accepts: canonical-ish IPv4 without leading zeros, or IPv6. */
export function ipAddress(value: string): string | undefined {
  if (isIP(value) === 0) return "must be a valid IP address";
  if (isIP(value) === 4 && value.split(".").some((octet) => octet.length > 1 && octet.startsWith("0")))
    return "must be a valid IP address (no leading zeros)";
  return undefined;
}

/** `controller` of an IngressClass: a domain-prefixed path such as `nodeplane.dev/ingress`. */
export function domainPrefixedPath(value: string): string | undefined {
  if (value.length > 250) return "must be no more than 250 characters";
  const slash = value.indexOf("/");
  if (slash <= 0) return "must be a domain-prefixed path (such as 'acme.io/foo')";
  const bad = dns1123Subdomain(value.slice(0, slash));
  if (bad) return `domain ${bad}`;
  if (!/^[A-Za-z0-9/\-._~%!$&'()*+,;=:]+$/.test(value.slice(slash + 1))) return "path has invalid characters";
  return undefined;
}
