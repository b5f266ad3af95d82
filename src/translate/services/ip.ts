/**
 * IP text helpers for the service translator. Written without `node:net` so translation stays pure
 * (and runs the same in any JS runtime): strict parsing, no leading zeros, no zone ids.
 */

export type Family = 4 | 6;

const V6_GROUP = /^[0-9a-fA-F]{1,4}$/;

/** The IPv4 address as a number (for ordering), or -1 when `text` is not dotted-quad IPv4. */
export function parseIPv4(text: string): number {
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 46 /* . */) {
      if (digits === 0 || ++dots > 3) return -1;
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      // no leading zeros: "010" is ambiguous (octal in some parsers), the API rejects it too
      if (digits === 1 && octet === 0) return -1;
      octet = octet * 10 + (c - 48);
      if (++digits > 3 || octet > 255) return -1;
    } else return -1;
  }
  if (dots !== 3 || digits === 0) return -1;
  return value * 256 + octet;
}

function isIPv4(text: string): boolean {
  return parseIPv4(text) >= 0;
}

function isIPv6(text: string): boolean {
  if (!/^[0-9a-fA-F:.]+$/.test(text)) return false;
  const gap = text.indexOf("::");
  if (gap !== text.lastIndexOf("::")) return false;
  const head = gap >= 0 ? text.slice(0, gap) : text;
  const tail = gap >= 0 ? text.slice(gap + 2) : "";
  const headGroups = head ? head.split(":") : [];
  const tailGroups = tail ? tail.split(":") : [];
  const groups = [...headGroups, ...tailGroups];
  let count = 0;
  for (let i = 0; i < groups.length; i++) {
    const g = groups[i]!;
    if (g.includes(".")) {
      // An embedded IPv4 tail (::ffff:1.2.3.4) must be the very last thing in the address.
      const last = i === groups.length - 1 && (gap < 0 || i >= headGroups.length);
      if (!last || !isIPv4(g)) return false;
      count += 2;
    } else if (V6_GROUP.test(g)) count++;
    else return false;
  }
  return gap >= 0 ? count <= 7 : count === 8;
}

/** 4, 6, or undefined when `text` is not an IP address. */
export function ipFamily(text: string | undefined): Family | undefined {
  if (!text) return undefined;
  if (isIPv4(text)) return 4;
  if (isIPv6(text)) return 6;
  return undefined;
}

/** Family of an address already known to be valid. */
export function familyOf(ip: string): Family {
  return ip.includes(":") ? 6 : 4;
}

export function familyName(family: Family): "IPv4" | "IPv6" {
  return family === 4 ? "IPv4" : "IPv6";
}

/** IPv6 in lower case so one address has one spelling in keys; IPv4 unchanged. */
export function normaliseIP(ip: string): string {
  return ip.includes(":") ? ip.toLowerCase() : ip;
}

/** A CIDR's family, or undefined when it is not a valid CIDR (`addr/prefix`, prefix within the family). */
export function cidrFamily(text: string): Family | undefined {
  const slash = text.indexOf("/");
  if (slash < 0) return undefined;
  const family = ipFamily(text.slice(0, slash));
  const prefix = text.slice(slash + 1);
  if (!family || !/^(0|[1-9]\d{0,2})$/.test(prefix)) return undefined;
  return Number(prefix) <= (family === 4 ? 32 : 128) ? family : undefined;
}

/**
 * A key that orders addresses naturally: IPv4 (as a number, so 10.0.0.9 < 10.0.0.10) before
 * IPv6 (as text). Compare keys with `compareIPKeys`.
 */
export type IPSortKey = number | string;

export function ipSortKey(ip: string): IPSortKey {
  const v4 = parseIPv4(ip);
  return v4 >= 0 ? v4 : ip;
}

export function compareIPKeys(a: IPSortKey, b: IPSortKey): number {
  if (typeof a === "number") return typeof b === "number" ? a - b : -1;
  if (typeof b === "number") return 1;
  return compareStrings(a, b);
}

export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
