import { type DnsRecords, type DnsSnapshot, hasEndpointIp } from "./dns.ts";
import { ipFromDashed } from "./ip.ts";

/**
 * What the index says about one name (lowercase, no trailing dot):
 * - `records`: the name exists (an empty record set means NODATA for every type)
 * - `nxdomain`: the name is under the cluster domain and does not exist
 * - `outside`: not ours (another domain, or a reverse name we do not know): forward it
 */
export type LookupResult =
  /** `synthesized`: computed from the name (insecure pod records), so not worth caching per name */
  { kind: "records"; records: DnsRecords; synthesized?: boolean } | { kind: "nxdomain" } | { kind: "outside" };

const NXDOMAIN: LookupResult = { kind: "nxdomain" };
const OUTSIDE: LookupResult = { kind: "outside" };

/** One map lookup for every precomputed name; insecure pod names are computed from the name itself. */
export function lookupName(zone: DnsSnapshot, name: string): LookupResult {
  const records = zone.records.get(name);
  if (records) return { kind: "records", records };
  // `<hostname>.<service>.<ns>.svc.<domain>`: an endpoint name, held under its Service's entry.
  const dot = name.indexOf(".");
  if (dot > 0) {
    const service = zone.records.get(name.slice(dot + 1));
    if (service?.endpoints || service?.endpointIps) {
      const label = name.slice(0, dot);
      const endpoint = service.endpoints?.get(label);
      if (endpoint) return { kind: "records", records: endpoint };
      const ip = service.endpointIps ? ipFromDashed(label) : undefined;
      if (ip && hasEndpointIp(service, ip.ip))
        return { kind: "records", records: ip.family === 4 ? { a: [ip.ip] } : { aaaa: [ip.ip] } };
    }
  }
  if (!zone.domain || !inDomain(name, zone.domain)) return OUTSIDE;
  if (zone.pods === "insecure") {
    const pod = insecurePodRecords(zone, name);
    if (pod) return { kind: "records", records: pod, synthesized: true };
  }
  return NXDOMAIN;
}

/** Lowercase, without the trailing dot. */
export function normaliseName(name: string): string {
  const lower = name.trim().toLowerCase();
  return lower.endsWith(".") ? lower.slice(0, -1) : lower;
}

/** True for the domain itself and every name below it. */
export function inDomain(name: string, domain: string): boolean {
  return (
    name === domain ||
    (name.length > domain.length && name.endsWith(domain) && name[name.length - domain.length - 1] === ".")
  );
}

/** `<a-b-c-d>.<ns>.pod.<domain>` answers with the address it spells, for any namespace that exists (CoreDNS `pods insecure`). */
function insecurePodRecords(zone: DnsSnapshot, name: string): DnsRecords | undefined {
  const suffix = `.pod.${zone.domain}`;
  if (!name.endsWith(suffix)) return undefined;
  const rest = name.slice(0, name.length - suffix.length);
  const dot = rest.indexOf(".");
  if (dot <= 0 || rest.indexOf(".", dot + 1) !== -1) return undefined;
  const namespace = rest.slice(dot + 1);
  if (!zone.namespaces.has(namespace)) return undefined;
  const ip = ipFromDashed(rest.slice(0, dot));
  if (!ip) return undefined;
  return ip.family === 4 ? { a: [ip.ip] } : { aaaa: [ip.ip] };
}
