import { describe, expect, it } from "vitest";
import { cidrFamily, compareIPKeys, ipFamily, ipSortKey } from "../../../src/translate/services/ip.ts";

describe("ipFamily", () => {
  const rows: [string, 4 | 6 | undefined][] = [
    ["10.96.0.1", 4],
    ["0.0.0.0", 4],
    ["255.255.255.255", 4],
    ["256.1.1.1", undefined],
    ["10.96.0", undefined],
    ["010.0.0.1", undefined],
    ["1.2.3.4.5", undefined],
    ["1..2.3", undefined],
    [".1.2.3", undefined],
    ["1.2.3.", undefined],
    ["1.2.3.0", 4],
    ["10.0.0.1 ", undefined],
    ["::", 6],
    ["::1", 6],
    ["fd00:96::20", 6],
    ["2001:DB8::1", 6],
    ["1:2:3:4:5:6:7:8", 6],
    ["1:2:3:4:5:6:7:8:9", undefined],
    ["1:2:3:4:5:6:7", undefined],
    ["1::2::3", undefined],
    [":1:2", undefined],
    ["::ffff:10.0.0.1", 6],
    ["::ffff:10.0.0.1:1", undefined],
    ["1.2.3.4::", undefined],
    ["fe80::1%eth0", undefined],
    ["12345::", undefined],
    ["None", undefined],
    ["", undefined],
  ];
  for (const [text, family] of rows)
    it(`${JSON.stringify(text)} → ${family}`, () => expect(ipFamily(text)).toBe(family));
});

describe("cidrFamily", () => {
  const rows: [string, 4 | 6 | undefined][] = [
    ["10.0.0.0/8", 4],
    ["0.0.0.0/0", 4],
    ["10.0.0.0/33", undefined],
    ["10.0.0.0", undefined],
    ["fd00::/64", 6],
    ["fd00::/129", undefined],
    ["fd00::/-1", undefined],
  ];
  for (const [text, family] of rows) it(`${text} → ${family}`, () => expect(cidrFamily(text)).toBe(family));
});

it("ipSortKey orders IPv4 numerically and before IPv6", () => {
  const ips = ["fd00::1", "10.0.0.10", "10.0.0.9", "9.0.0.1"];
  expect([...ips].sort((a, b) => compareIPKeys(ipSortKey(a), ipSortKey(b)))).toEqual([
    "9.0.0.1",
    "10.0.0.9",
    "10.0.0.10",
    "fd00::1",
  ]);
});
