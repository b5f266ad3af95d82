/**
 * The DNS part of the snapshot: the precomputed answer index the DNS plane serves.
 * Owned by the DNS plane's issue, which defines the index; until then it holds no records.
 */
export interface DnsSnapshot {
  records: ReadonlyMap<string, unknown>;
}

export const EMPTY_DNS: DnsSnapshot = { records: new Map() };
