import { isIPv4 } from "node:net";
import { type CIDR, cidrContains, parseCIDR } from "../../util/cidr.ts";

export type SourceMatcher = (clientAddress: string | undefined) => boolean;

const allowAll: SourceMatcher = () => true;

/**
 * loadBalancerSourceRanges as a predicate on the client address. Empty = any source. Entries that do
 * not parse are skipped (the translator reports them); if none parses, nothing is allowed — a typo in
 * an allow-list must not open the port to everyone. IPv4-mapped IPv6 clients (::ffff:a.b.c.d, what a
 * dual-stack socket reports) are matched as IPv4.
 */
export function compileSourceRanges(ranges: readonly string[]): SourceMatcher {
  if (ranges.length === 0) return allowAll;
  const v4: { base: number; mask: number }[] = [];
  const v6: CIDR[] = [];
  for (const text of ranges) {
    let cidr: CIDR;
    try {
      cidr = parseCIDR(text.trim());
    } catch {
      continue;
    }
    if (cidr.family === 4) {
      const mask = cidr.prefix === 0 ? 0 : (0xffffffff << (32 - cidr.prefix)) >>> 0;
      v4.push({ base: Number(cidr.base) >>> 0, mask });
    } else {
      v6.push(cidr);
    }
  }
  return (address) => {
    if (!address) return false;
    const ip = address.startsWith("::ffff:") && isIPv4(address.slice(7)) ? address.slice(7) : address;
    if (isIPv4(ip)) {
      const n = ipv4ToNumber(ip);
      return v4.some((r) => (n & r.mask) >>> 0 === r.base);
    }
    return v6.some((c) => cidrContains(c, ip));
  };
}

function ipv4ToNumber(ip: string): number {
  const [a, b, c, d] = ip.split(".").map(Number) as [number, number, number, number];
  return ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
}
