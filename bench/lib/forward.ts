/** dns-forward-cached: the names outside the cluster domain and the upstream zone that serves them (pure). */

export const FORWARD_ZONE = "bench.example";
export const FORWARD_NAMES = 1000;
/** long enough that no cached answer expires during a run: every measured answer is a cache hit */
export const FORWARD_TTL = 3600;

export interface ForwardRecord {
  name: string;
  ip: string;
}

/** `h0.bench.example` … with addresses in 10.77.0.0/16, one per name. */
export function forwardRecords(count = FORWARD_NAMES, zone = FORWARD_ZONE): ForwardRecord[] {
  const out: ForwardRecord[] = [];
  for (let i = 0; i < count; i++) out.push({ name: `h${i}.${zone}`, ip: `10.77.${(i >> 8) & 255}.${i & 255}` });
  return out;
}

/** The upstream's zone file (BIND, authoritative). */
export function forwardZoneFile(records: readonly ForwardRecord[], zone = FORWARD_ZONE, ttl = FORWARD_TTL): string {
  const suffix = `.${zone}`;
  const lines = [
    `$TTL ${ttl}`,
    `@ IN SOA ns.${zone}. hostmaster.${zone}. 1 7200 1800 86400 ${ttl}`,
    `@ IN NS ns.${zone}.`,
    "ns IN A 127.0.0.1",
  ];
  for (const r of records)
    lines.push(`${r.name.endsWith(suffix) ? r.name.slice(0, -suffix.length) : `${r.name}.`} IN A ${r.ip}`);
  return `${lines.join("\n")}\n`;
}
