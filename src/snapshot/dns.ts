/**
 * The DNS part of the snapshot: a precomputed answer index the DNS plane serves without scanning
 * Services per query. Names are lowercase, without the trailing dot.
 */

export interface SrvRecord {
  priority: number;
  weight: number;
  port: number;
  /** lowercase target name, no trailing dot */
  target: string;
}

/** The records at one name. An entry with no record fields is a name that exists without data (NODATA). */
export interface DnsRecords {
  a?: readonly string[];
  aaaa?: readonly string[];
  /** ExternalName target, lowercase, no trailing dot */
  cname?: string;
  srv?: readonly SrvRecord[];
  txt?: readonly string[];
  ptr?: readonly string[];
  /**
   * On a Service name: its endpoints' own hostnames (`<hostname>` label → addresses). Kept under the Service
   * instead of in the top-level map so a rebuild does not insert one global entry per endpoint.
   */
  endpoints?: ReadonlyMap<string, DnsRecords>;
  /**
   * On a Service name: ready endpoint addresses without a hostname of their own. They are named by
   * the address with dashes (`10-244-1-4`, `fd00--1`), as in CoreDNS. An array while there are at
   * most SMALL_ENDPOINT_IPS of them (a third of a Set's memory, and no hashing to build it: a full
   * rebuild makes one per Service), a Set beyond. Ask with `hasEndpointIp`.
   */
  endpointIps?: ReadonlySet<string> | readonly string[];
}

/** Up to this many endpoint addresses are kept in an array (`includes` is then as quick as a Set). */
export const SMALL_ENDPOINT_IPS = 16;

/** Whether `ip` (canonical text) is one of the records' anonymous endpoint addresses. */
export function hasEndpointIp(records: DnsRecords, ip: string): boolean {
  const ips = records.endpointIps;
  if (!ips) return false;
  return Array.isArray(ips) ? ips.includes(ip) : (ips as ReadonlySet<string>).has(ip);
}

export interface DnsSoa {
  /** primary name server, e.g. `ns.dns.cluster.local` */
  mname: string;
  /** responsible mailbox, e.g. `hostmaster.cluster.local` */
  rname: string;
  serial: number;
  refresh: number;
  retry: number;
  expire: number;
}

export type PodRecordMode = "insecure" | "verified" | "disabled";

export interface DnsSnapshot {
  /** the cluster domain, lowercase, no trailing dot; empty in the placeholder before the first build */
  domain: string;
  /**
   * Every existing name under the domain (including empty non-terminals such as `ns.svc.<domain>`)
   * and every known reverse name (`d.c.b.a.in-addr.arpa`, nibbles under `ip6.arpa`) → its records.
   */
  records: ReadonlyMap<string, DnsRecords>;
  soa: DnsSoa;
  /** `insecure` pod names are computed at lookup time (any address in a known namespace) */
  pods: PodRecordMode;
  /** namespaces known from Services, EndpointSlices and Pods (and `default`), for insecure pod names */
  namespaces: ReadonlySet<string>;
}

export const EMPTY_DNS: DnsSnapshot = {
  domain: "",
  records: new Map(),
  soa: { mname: "", rname: "", serial: 0, refresh: 7200, retry: 1800, expire: 86400 },
  pods: "disabled",
  namespaces: new Set(),
};

/** The schema version of the Kubernetes DNS specification served at `dns-version.<domain>`. */
export const DNS_SCHEMA_VERSION = "1.1.0";
