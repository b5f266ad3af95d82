import { describe, expect, it } from "vitest";
import { AffinityTable } from "../../../src/planes/service/affinity.ts";
import { Balancer } from "../../../src/planes/service/balancer.ts";
import { listenerKey, removedEndpoints, uniqueEndpoints } from "../../../src/planes/service/plan.ts";
import { bindFailure } from "../../../src/planes/service/plane.ts";
import { compileSourceRanges } from "../../../src/planes/service/source-ranges.ts";
import { endpoint, frontend, servicePort } from "./helpers.ts";
import { diffKeys, planService, virtualIPs } from "./reference-plan.ts";

const a = endpoint("10.244.1.2", 8080);
const b = endpoint("10.244.1.3", 8080);
const c = endpoint("10.244.2.2", 8080);
const v6 = endpoint("fd00:244::2", 8080);

describe("planService", () => {
  const rows: {
    name: string;
    ports: ReturnType<typeof servicePort>[];
    listeners: [string, string, string][]; // key, action, pool
    conflicts?: number;
  }[] = [
    {
      name: "forward frontends with endpoints get a socket each",
      ports: [
        servicePort(
          "web",
          [
            frontend("10.96.0.10", 80),
            frontend("192.168.1.5", 30080, { kind: "nodePort", endpoints: "external" }),
            frontend("fd00::10", 80),
          ],
          [a, b, v6],
        ),
      ],
      listeners: [
        ["TCP 10.96.0.10:80", "forward", "default/web:|cluster|4"],
        ["TCP 192.168.1.5:30080", "forward", "default/web:|external|4"],
        ["TCP [fd00::10]:80", "forward", "default/web:|cluster|6"],
      ],
    },
    {
      name: "reject gets none, drop gets one, forward without endpoints gets none",
      ports: [
        servicePort("r", [frontend("10.96.0.11", 80, { action: "reject" })], []),
        servicePort("d", [frontend("192.168.1.5", 30081, { kind: "nodePort", action: "drop" })], []),
        servicePort("e", [frontend("10.96.0.12", 80)], []),
      ],
      listeners: [["TCP 192.168.1.5:30081", "drop", "default/d:|cluster|4"]],
    },
    {
      name: "TCP and UDP on the same ip:port are separate sockets",
      ports: [
        servicePort("dns", [frontend("10.96.0.10", 53, { protocol: "UDP" })], [a], { id: "kube-system/dns:dns" }),
        servicePort("dns-tcp", [frontend("10.96.0.10", 53)], [a], { id: "kube-system/dns:dns-tcp" }),
      ],
      listeners: [
        ["UDP 10.96.0.10:53", "forward", "kube-system/dns:dns|cluster|4"],
        ["TCP 10.96.0.10:53", "forward", "kube-system/dns:dns-tcp|cluster|4"],
      ],
    },
    {
      name: "two ports claiming one socket: the first keeps it, the second is reported",
      ports: [
        servicePort("first", [frontend("10.96.0.10", 80)], [a]),
        servicePort("second", [frontend("10.96.0.10", 80)], [b]),
      ],
      listeners: [["TCP 10.96.0.10:80", "forward", "default/first:|cluster|4"]],
      conflicts: 1,
    },
  ];
  it.each(rows)("$name", ({ ports, listeners, conflicts }) => {
    const plan = planService({ servicePorts: ports });
    expect([...plan.listeners.values()].map((l) => [l.key, l.action, l.poolId])).toEqual(listeners);
    expect(plan.conflicts).toHaveLength(conflicts ?? 0);
  });

  it("keeps sourceRanges on LB frontends only and lists VIPs (not NodePorts, rejected ones too)", () => {
    const snap = {
      servicePorts: [
        servicePort(
          "lb",
          [
            frontend("10.96.0.10", 80, { sourceRanges: ["1.2.3.0/24"] }),
            frontend("203.0.113.7", 80, { kind: "loadBalancer", endpoints: "external", sourceRanges: ["1.2.3.0/24"] }),
            frontend("192.168.1.5", 30080, { kind: "nodePort", endpoints: "external" }),
          ],
          [a],
        ),
        servicePort("none", [frontend("10.96.0.11", 80, { action: "reject" })], []),
      ],
    };
    const plan = planService(snap);
    expect(plan.listeners.get("TCP 10.96.0.10:80")!.sourceRanges).toEqual([]);
    expect(plan.listeners.get("TCP 203.0.113.7:80")!.sourceRanges).toEqual(["1.2.3.0/24"]);
    expect([...virtualIPs(snap)].sort()).toEqual(["10.96.0.10", "10.96.0.11", "203.0.113.7"]);
  });

  it("gives each frontend the endpoints of its own IP family; none of its family means no socket", () => {
    const plan = planService({
      servicePorts: [
        servicePort("dual", [frontend("10.96.0.10", 80), frontend("fd00::10", 80)], [a, v6]),
        servicePort("v4only", [frontend("fd00::11", 80)], [a]),
      ],
    });
    expect(plan.pools.get("default/dual:|cluster|4")!.endpoints).toEqual([a]);
    expect(plan.pools.get("default/dual:|cluster|6")!.endpoints).toEqual([v6]);
    expect(plan.listeners.has("TCP [fd00::11]:80")).toBe(false);
  });

  it("deduplicates endpoints so round-robin is not skewed", () => {
    expect(uniqueEndpoints([a, b, { ...a, ready: false }])).toEqual([a, b]);
    const list = [a, b];
    expect(uniqueEndpoints(list)).toBe(list);
  });
});

describe("diffKeys / removedEndpoints", () => {
  it.each([
    { running: [], desired: ["x"], open: ["x"], keep: [], close: [] },
    { running: ["x", "y"], desired: ["y", "z"], open: ["z"], keep: ["y"], close: ["x"] },
    { running: ["x"], desired: [], open: [], keep: [], close: ["x"] },
  ])("$running → $desired", ({ running, desired, ...expected }) => {
    expect(diffKeys(running, new Map(desired.map((k) => [k, 1])))).toEqual(expected);
  });
  it("lists endpoints that left", () => {
    expect(removedEndpoints([a, b, c], [b])).toEqual(["10.244.1.2:8080", "10.244.2.2:8080"]);
    expect(removedEndpoints([a], [a, b])).toEqual([]);
    expect(listenerKey("UDP", "fd00::1", 53)).toBe("UDP [fd00::1]:53");
  });
});

describe("Balancer", () => {
  it("round-robins and lists the next endpoints for retries", () => {
    const bal = new Balancer([a, b, c], { type: "None" });
    const ips = (list: { ip: string }[]) => list.map((e) => e.ip);
    expect(ips(bal.attempts(undefined, 0, 3))).toEqual(["10.244.1.2", "10.244.1.3", "10.244.2.2"]);
    expect(ips(bal.attempts(undefined, 0, 2))).toEqual(["10.244.1.3", "10.244.2.2"]);
    expect(ips(bal.attempts(undefined, 0, 5))).toEqual(["10.244.2.2", "10.244.1.2", "10.244.1.3"]);
    expect(ips(bal.attempts(undefined, 0, 1))).toEqual(["10.244.1.2"]);
  });

  it("keeps its cursor in range when endpoints shrink and gives nothing when empty", () => {
    const bal = new Balancer([a, b, c], { type: "None" });
    bal.attempts(undefined, 0, 1);
    bal.attempts(undefined, 0, 1);
    bal.update([a], { type: "None" });
    expect(bal.attempts(undefined, 0, 1)).toEqual([a]);
    bal.update([], { type: "None" });
    expect(bal.attempts(undefined, 0, 3)).toEqual([]);
  });

  it("sticks a client to the endpoint it connected to, until the timeout or the endpoint leaves", () => {
    const bal = new Balancer([a, b, c], { type: "ClientIP", timeoutSeconds: 10 });
    expect(bal.needsClient).toBe(true);
    const first = bal.attempts("1.1.1.1", 0, 3);
    // The first choice failed, the second took the connection: that is what sticks.
    bal.connected("1.1.1.1", first[1]!, 0);
    expect(bal.attempts("1.1.1.1", 5_000, 1)).toEqual([first[1]]);
    bal.connected("1.1.1.1", first[1]!, 5_000);
    expect(bal.attempts("1.1.1.1", 14_000, 1)).toEqual([first[1]]); // refreshed at 5 s
    // Clients without an entry still rotate.
    expect(bal.attempts("2.2.2.2", 0, 1)).not.toEqual(bal.attempts("3.3.3.3", 0, 1));
    bal.update([a, c], { type: "ClientIP", timeoutSeconds: 10 });
    expect(bal.attempts("1.1.1.1", 14_000, 1)[0]).not.toEqual(b);
  });
});

describe("AffinityTable", () => {
  it("expires entries after the timeout and sweeps them", () => {
    const t = new AffinityTable(1);
    t.remember("c1", "e1", 0);
    t.remember("c2", "e2", 500);
    expect(t.lookup("c1", 999)).toBe("e1");
    expect(t.lookup("c1", 1000)).toBeUndefined();
    t.sweep(1500);
    expect(t.size).toBe(0);
    t.remember("c3", "e3", 0);
    t.forgetEndpoints(new Set(["e3"]));
    expect(t.lookup("c3", 1)).toBeUndefined();
  });
});

describe("compileSourceRanges", () => {
  it.each([
    { ranges: [], ip: "8.8.8.8", allowed: true },
    { ranges: ["10.0.0.0/8"], ip: "10.200.3.4", allowed: true },
    { ranges: ["10.0.0.0/8"], ip: "11.0.0.1", allowed: false },
    { ranges: ["10.0.0.0/8"], ip: "::ffff:10.1.2.3", allowed: true },
    { ranges: ["192.168.1.7/32", " 172.16.0.0/12 "], ip: "172.31.255.255", allowed: true },
    { ranges: ["0.0.0.0/0"], ip: "1.2.3.4", allowed: true },
    { ranges: ["fd00::/8"], ip: "fd12::1", allowed: true },
    { ranges: ["fd00::/8"], ip: "10.0.0.1", allowed: false },
    { ranges: ["not-a-cidr"], ip: "10.0.0.1", allowed: false },
    { ranges: ["10.0.0.0/8"], ip: undefined, allowed: false },
  ])("$ranges allows $ip: $allowed", ({ ranges, ip, allowed }) => {
    expect(compileSourceRanges(ranges)(ip)).toBe(allowed);
  });
});

describe("bindFailure", () => {
  const lp = (port: number) => ({ ip: "10.96.0.1", port }) as Parameters<typeof bindFailure>[1];
  const err = (code: string) => Object.assign(new Error(code), { code });
  it.each([
    { code: "EACCES", port: 80, says: "port 80 is below 1024 and needs root or CAP_NET_BIND_SERVICE" },
    { code: "EADDRINUSE", port: 8080, says: "address already in use by another process" },
    { code: "EADDRNOTAVAIL", port: 8080, says: "10.96.0.1 is not an address of this node" },
  ])("$code", ({ code, port, says }) => {
    expect(bindFailure(err(code), lp(port))).toContain(says);
  });
});
