import { isIP, isIPv4 } from "node:net";

export interface CIDR {
  family: 4 | 6;
  /** network address as an integer */
  base: bigint;
  prefix: number;
  bits: 32 | 128;
}

export function ipToBigInt(ip: string): bigint {
  if (isIPv4(ip)) {
    return ip.split(".").reduce((acc, octet) => (acc << 8n) | BigInt(Number(octet)), 0n);
  }
  if (!isIP(ip)) throw new Error(`"${ip}" is not an IP address`);
  let text = ip;
  // IPv4-mapped tail (::ffff:1.2.3.4) becomes two hextets.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const n = ipToBigInt(v4[1]!);
    text = `${text.slice(0, -v4[1]!.length)}${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
  }
  const [head, tail] = text.split("::") as [string, string | undefined];
  const headParts = head ? head.split(":") : [];
  const tailParts = tail ? tail.split(":") : [];
  const missing = 8 - headParts.length - tailParts.length;
  const parts = [...headParts, ...(tail !== undefined ? Array(missing).fill("0") : []), ...tailParts];
  return parts.reduce((acc, h) => (acc << 16n) | BigInt(Number.parseInt(h || "0", 16)), 0n);
}

export function bigIntToIp(n: bigint, family: 4 | 6): string {
  if (family === 4) return [24n, 16n, 8n, 0n].map((s) => Number((n >> s) & 255n)).join(".");
  const hextets: string[] = [];
  for (let i = 7; i >= 0; i--) hextets.push(((n >> BigInt(i * 16)) & 0xffffn).toString(16));
  // Compress the longest run of zero hextets, as RFC 5952 asks.
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (hextets[i] !== "0") {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && hextets[j] === "0") j++;
    if (j - i > bestLen && j - i > 1) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return hextets.join(":");
  return `${hextets.slice(0, best).join(":")}::${hextets.slice(best + bestLen).join(":")}`;
}

export function parseCIDR(text: string): CIDR {
  const [addr, prefixText] = text.split("/");
  const family = addr ? isIP(addr) : 0;
  if (family !== 4 && family !== 6) throw new Error(`"${text}" is not a CIDR`);
  const bits = family === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? bits : Number(prefixText);
  if (!/^\d+$/.test(prefixText ?? String(bits)) || prefix > bits) throw new Error(`"${text}" has a bad prefix length`);
  const mask = prefix === 0 ? 0n : ((1n << BigInt(prefix)) - 1n) << BigInt(bits - prefix);
  return { family, base: ipToBigInt(addr!) & mask, prefix, bits };
}

export function cidrContains(cidr: CIDR, ip: string): boolean {
  const family = isIP(ip);
  if (family !== cidr.family) return false;
  const shift = BigInt(cidr.bits - cidr.prefix);
  return ipToBigInt(ip) >> shift === cidr.base >> shift;
}

/** Number of addresses in the range. */
export function cidrSize(cidr: CIDR): bigint {
  return 1n << BigInt(cidr.bits - cidr.prefix);
}

/** The i-th address of the range (0 = network address). */
export function cidrAddress(cidr: CIDR, i: bigint): string {
  return bigIntToIp(cidr.base + i, cidr.family);
}
