/**
 * IP text helpers for the DNS translator and the name lookup the DNS plane runs. Pure string work (no node:net),
 * so translate/ and snapshot/ stay free of I/O modules.
 */

export type IpFamily = 4 | 6;

/** The four octets of a dotted IPv4 address, or undefined when `text` is not one. */
export function parseIPv4(text: string): number[] | undefined {
  // Hand-rolled (no regex, no split): this runs once per endpoint address on every rebuild.
  const octets: number[] = [];
  let value = 0;
  let digits = 0;
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : 0x2e;
    if (c === 0x2e) {
      if (digits === 0 || octets.length === 4) return undefined;
      octets.push(value);
      value = 0;
      digits = 0;
      continue;
    }
    if (c < 0x30 || c > 0x39) return undefined;
    // no leading zeros (ambiguous octal) and at most 255
    if (digits > 0 && value === 0) return undefined;
    value = value * 10 + (c - 0x30);
    digits++;
    if (value > 255) return undefined;
  }
  return octets.length === 4 ? octets : undefined;
}

/** The eight 16-bit groups of an IPv6 address (IPv4-mapped tails allowed), or undefined. */
export function parseIPv6(text: string): number[] | undefined {
  if (!text.includes(":") || text.includes("%")) return undefined;
  let body = text;
  const lastColon = body.lastIndexOf(":");
  const maybeV4 = body.slice(lastColon + 1);
  if (maybeV4.includes(".")) {
    // IPv4-mapped tail (::ffff:1.2.3.4): rewrite it as two hex groups and parse as usual.
    const octets = parseIPv4(maybeV4);
    if (!octets) return undefined;
    const high = ((octets[0]! << 8) | octets[1]!).toString(16);
    const low = ((octets[2]! << 8) | octets[3]!).toString(16);
    body = `${body.slice(0, lastColon + 1)}${high}:${low}`;
  }
  const halves = body.split("::");
  if (halves.length > 2) return undefined;
  const parse = (s: string): number[] | undefined => {
    if (s === "") return [];
    const groups: number[] = [];
    for (const g of s.split(":")) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      groups.push(Number.parseInt(g, 16));
    }
    return groups;
  };
  const head = parse(halves[0]!);
  if (!head) return undefined;
  if (halves.length === 1) return head.length === 8 ? head : undefined;
  const rest = parse(halves[1]!);
  if (!rest) return undefined;
  const known = head.length + rest.length;
  if (known > 7) return undefined;
  return [...head, ...new Array<number>(8 - known).fill(0), ...rest];
}

export function ipFamily(text: string): IpFamily | undefined {
  if (isIPv4(text)) return 4;
  if (parseIPv6(text)) return 6;
  return undefined;
}

/** RFC 5952 text of an IPv6 address (lowercase, longest zero run compressed). */
export function formatIPv6(groups: readonly number[]): string {
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i > 1) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(":");
  return `${hex.slice(0, best).join(":")}::${hex.slice(best + bestLen).join(":")}`;
}

/** A dotted IPv4 address as the API writes it (no leading zeros): checked without allocating. */
export function isIPv4(text: string): boolean {
  let octets = 0;
  let value = 0;
  let digits = 0;
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : 0x2e;
    if (c === 0x2e) {
      if (digits === 0 || ++octets > 4) return false;
      value = 0;
      digits = 0;
      continue;
    }
    if (c < 0x30 || c > 0x39 || (digits > 0 && value === 0)) return false;
    value = value * 10 + (c - 0x30);
    digits++;
    if (value > 255) return false;
  }
  return octets === 4;
}

/** The value of a dotted IPv4 address as `isIPv4` accepts it (0..2^32-1), or -1 when it is not one. */
export function ipv4Value(text: string): number {
  let octets = 0;
  let value = 0;
  let octet = 0;
  let digits = 0;
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : 0x2e;
    if (c === 0x2e) {
      if (digits === 0 || ++octets > 4) return -1;
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
      continue;
    }
    if (c < 0x30 || c > 0x39 || (digits > 0 && octet === 0)) return -1;
    octet = octet * 10 + (c - 0x30);
    digits++;
    if (octet > 255) return -1;
  }
  return octets === 4 ? value : -1;
}

/** Canonical text of an address (IPv6 normalised), or undefined when it is not an IP. */
export function canonicalIp(text: string): { ip: string; family: IpFamily } | undefined {
  // a valid IPv4 text is already canonical (leading zeros are refused)
  if (isIPv4(text)) return { ip: text, family: 4 };
  const v6 = parseIPv6(text);
  if (v6) return { ip: formatIPv6(v6), family: 6 };
  return undefined;
}

/** `d.c.b.a.in-addr.arpa` or the nibble form under `ip6.arpa`, lowercase, no trailing dot. */
export function reverseName(text: string): string | undefined {
  if (isIPv4(text)) {
    const a = text.indexOf(".");
    const b = text.indexOf(".", a + 1);
    const c = text.indexOf(".", b + 1);
    return `${text.slice(c + 1)}.${text.slice(b + 1, c)}.${text.slice(a + 1, b)}.${text.slice(0, a)}.in-addr.arpa`;
  }
  const v6 = parseIPv6(text);
  if (!v6) return undefined;
  const nibbles: string[] = [];
  for (let i = 7; i >= 0; i--) {
    const g = v6[i]!;
    for (let shift = 0; shift < 16; shift += 4) nibbles.push(((g >> shift) & 0xf).toString(16));
  }
  return `${nibbles.join(".")}.ip6.arpa`;
}

/**
 * The address a pod-style label stands for, as CoreDNS reads it: `1-2-3-4` is IPv4 when it has
 * exactly three dashes and no `--`; otherwise dashes become colons (`fd00--1` → `fd00::1`).
 */
export function ipFromDashed(label: string): { ip: string; family: IpFamily } | undefined {
  const text =
    (label.match(/-/g)?.length ?? 0) === 3 && !label.includes("--")
      ? label.replaceAll("-", ".")
      : label.replaceAll("-", ":");
  return canonicalIp(text);
}

/**
 * The label form of an address: dots or colons become dashes (CoreDNS's endpoint and pod names).
 * An IPv6 address ending in `::` gets a final `0`, as CoreDNS's endpointHostname gives it (a label
 * may not end with a dash).
 */
export function dashedIp(ip: string): string {
  if (!ip.includes(":")) return ip.replaceAll(".", "-");
  const dashed = ip.replaceAll(":", "-");
  return dashed.endsWith("-") ? `${dashed}0` : dashed;
}
