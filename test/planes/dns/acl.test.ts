import { describe, expect, it } from "vitest";
import { defaultRecursionCIDRs, RecursionAcl, RecursionPolicy } from "../../../src/planes/dns/acl.ts";

describe("RecursionAcl", () => {
  it.each<[cidrs: string[], address: string, allowed: boolean]>([
    [["127.0.0.0/8"], "127.0.0.1", true],
    [["127.0.0.0/8"], "127.255.0.9", true],
    [["127.0.0.1/32"], "127.0.0.2", false],
    [["10.244.0.0/16"], "10.244.1.5", true],
    [["10.244.0.0/16"], "10.245.0.1", false],
    // a dual-stack socket reports IPv4 clients as IPv4-mapped IPv6
    [["10.244.0.0/16"], "::ffff:10.244.1.5", true],
    [["10.244.0.0/16"], "::ffff:10.245.1.5", false],
    [["fd00::/64"], "fd00::1:1", true],
    [["fd00::/64"], "fd00:0:0:1::1", false],
    [["fe80::/10"], "fe80::1%eth0", true],
    [["::1/128"], "::1", true],
    [["0.0.0.0/0"], "203.0.113.7", true],
    [["0.0.0.0/0"], "2001:db8::1", false],
    [["::/0"], "2001:db8::1", true],
    [[], "127.0.0.1", false],
    // what is not an address never matches; entries that are not CIDRs are skipped
    [["0.0.0.0/0"], "not-an-ip", false],
    [["bogus", "192.0.2.0/24"], "192.0.2.1", true],
  ])("%j allows %s: %s", (cidrs, address, allowed) => {
    const acl = new RecursionAcl(cidrs);
    expect(acl.allows(address)).toBe(allowed);
    // the remembered verdict is the same
    expect(acl.allows(address)).toBe(allowed);
  });

  it("keeps only the entries that parse", () => {
    expect(new RecursionAcl(["bogus", "10.0.0.0/8", "10.0.0.0/33"]).cidrs).toEqual(["10.0.0.0/8"]);
  });
});

describe("defaultRecursionCIDRs", () => {
  it("is loopback, the host's and the node's addresses, the pod CIDRs and the service CIDRs, once each", () => {
    expect(
      defaultRecursionCIDRs({
        localAddresses: ["127.0.0.1", "192.168.1.10", "fe80::1"],
        nodeAddresses: ["192.168.1.10", "203.0.113.5"],
        podCIDRs: ["10.244.3.0/24", "fd00:244:3::/64"],
        serviceCIDRs: ["10.96.0.0/12"],
      }),
    ).toEqual([
      "127.0.0.0/8",
      "::1/128",
      "127.0.0.1/32",
      "192.168.1.10/32",
      "fe80::1/128",
      "203.0.113.5/32",
      "10.244.3.0/24",
      "fd00:244:3::/64",
      "10.96.0.0/12",
    ]);
  });
});

describe("RecursionPolicy", () => {
  const node = { name: "n1", addresses: ["198.51.100.4"], nodePortAddresses: [], podCIDRs: ["10.244.7.0/24"] };

  it("by default follows the Node: its addresses and pod CIDRs join the list", () => {
    const policy = new RecursionPolicy(undefined, ["10.96.0.0/12"]);
    expect(policy.initial.allows("10.244.7.9")).toBe(false);
    expect(policy.initial.allows("10.96.0.10")).toBe(true);
    const acl = policy.forNode(node);
    expect(acl?.allows("10.244.7.9")).toBe(true);
    expect(acl?.allows("198.51.100.4")).toBe(true);
    expect(acl?.allows("10.244.8.9")).toBe(false);
  });

  it("a snapshot whose node brings nothing new keeps the list (and what it remembers)", () => {
    const policy = new RecursionPolicy(undefined, ["10.96.0.0/12"]);
    expect(policy.forNode(node)).toBeDefined();
    expect(policy.forNode({ ...node })).toBeUndefined();
    expect(policy.forNode({ ...node, podCIDRs: ["10.244.9.0/24"] })?.allows("10.244.9.1")).toBe(true);
  });

  it("with --dns-allow-recursion the list is fixed", () => {
    const policy = new RecursionPolicy(["192.0.2.0/24"], ["10.96.0.0/12"]);
    expect(policy.forNode(node)).toBeUndefined();
    expect(policy.initial.allows("192.0.2.3")).toBe(true);
    expect(policy.initial.allows("127.0.0.1")).toBe(false);
  });
});
