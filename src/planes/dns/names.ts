/** Names of DNS types and rcodes for metric labels (CoreDNS reports common types by name, the rest as "other"). */

const COMMON_TYPES: Record<number, string> = {
  1: "A",
  2: "NS",
  5: "CNAME",
  6: "SOA",
  12: "PTR",
  15: "MX",
  16: "TXT",
  28: "AAAA",
  33: "SRV",
  35: "NAPTR",
  43: "DS",
  48: "DNSKEY",
  64: "SVCB",
  65: "HTTPS",
  255: "ANY",
};

export function typeNameOf(type: number): string {
  return COMMON_TYPES[type] ?? "other";
}

const RCODES = ["NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED"];

export function rcodeNameOf(rcode: number): string {
  return RCODES[rcode] ?? (rcode === 16 ? "BADVERS" : `RCODE${rcode}`);
}
