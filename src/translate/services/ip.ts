/**
 * IP text helpers for the service translator. Written without `node:net` so translation stays pure
 * (and runs the same in any JS runtime): strict parsing, no leading zeros, no zone ids.
 */

export type Family = 4 | 6;

const V4_OCTET = /^(0|[1-9]\d{0,2})$/;
const V6_GROUP = /^[0-9a-fA-F]{1,4}$/;

function isIPv4(text: string): boolean {
  const parts = text.split(".");
  return parts.length === 4 && parts.every((p) => V4_OCTET.test(p) && Number(p) <= 255);
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
 * A key that sorts addresses naturally as strings: IPv4 before IPv6, IPv4 octets numerically.
 * (Plain string order would put 10.0.0.10 before 10.0.0.9.)
 */
export function ipSortKey(ip: string): string {
  if (!ip.includes(":")) {
    return `4${ip
      .split(".")
      .map((o) => o.padStart(3, "0"))
      .join(".")}`;
  }
  return `6${ip}`;
}

export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
