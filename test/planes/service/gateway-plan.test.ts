import { describe, expect, it } from "vitest";
import { Balancer } from "../../../src/planes/service/balancer.ts";
import { planGateway, samePool, weightedEndpoints } from "../../../src/planes/service/gateway-plan.ts";
import { endpointKey } from "../../../src/planes/service/plan.ts";
import { l4Backend, l4Socket } from "./gateway-helpers.ts";

const ep = (host: string, port = 80) => ({ host, port });

describe("weightedEndpoints", () => {
  const rows: [
    string,
    Parameters<typeof weightedEndpoints>[0],
    { endpoints: string[]; weights: number[]; refusedWeight: number },
  ][] = [
    [
      "one backend, one endpoint",
      [l4Backend(1, "a", [ep("10.0.0.1")])],
      { endpoints: ["10.0.0.1:80"], weights: [1], refusedWeight: 0 },
    ],
    [
      "a backend's weight is split over its endpoints",
      [l4Backend(1, "a", [ep("10.0.0.1")]), l4Backend(3, "b", [ep("10.0.0.2"), ep("10.0.0.3")])],
      { endpoints: ["10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"], weights: [1, 1.5, 1.5], refusedWeight: 0 },
    ],
    [
      "weight 0 is never listed",
      [l4Backend(0, "a", [ep("10.0.0.1")]), l4Backend(2, "b", [ep("10.0.0.2")])],
      { endpoints: ["10.0.0.2:80"], weights: [2], refusedWeight: 0 },
    ],
    [
      "an invalid reference's share is refused",
      [l4Backend(2, "missing"), l4Backend(2, "b", [ep("10.0.0.2")])],
      { endpoints: ["10.0.0.2:80"], weights: [2], refusedWeight: 2 },
    ],
    [
      "a backend without endpoints: its share is refused",
      [l4Backend(5, "empty", [])],
      { endpoints: [], weights: [], refusedWeight: 5 },
    ],
    [
      "two backendRefs to one Service: one endpoint with both shares",
      [l4Backend(1, "a", [ep("10.0.0.1")]), l4Backend(2, "a", [ep("10.0.0.1")])],
      { endpoints: ["10.0.0.1:80"], weights: [3], refusedWeight: 0 },
    ],
    [
      "a negative or NaN weight counts as 0",
      [l4Backend(-1, "a", [ep("10.0.0.1")]), l4Backend(Number.NaN, "b", [ep("10.0.0.2")])],
      { endpoints: [], weights: [], refusedWeight: 0 },
    ],
  ];
  it.each(rows)("%s", (_name, backends, expected) => {
    const got = weightedEndpoints(backends);
    expect({
      endpoints: got.endpoints.map(endpointKey),
      weights: got.weights,
      refusedWeight: got.refusedWeight,
    }).toEqual(expected);
  });
});

describe("Balancer, weighted (smooth weighted round-robin)", () => {
  const none = { type: "None" } as const;
  const endpoints = [
    { ip: "10.0.0.1", port: 80, ready: true, serving: true, terminating: false },
    { ip: "10.0.0.2", port: 80, ready: true, serving: true, terminating: false },
  ];

  it("gives each endpoint exactly its share of every window of the total weight, the refused share nothing", () => {
    const b = new Balancer(endpoints, none, [1, 3], 1);
    const picks: string[] = [];
    for (let i = 0; i < 500; i++) picks.push(b.attempts(undefined, 0, 1)[0]?.ip ?? "refused");
    for (let w = 0; w < 500; w += 5) {
      const window = picks.slice(w, w + 5);
      expect(window.filter((p) => p === "10.0.0.1")).toHaveLength(1);
      expect(window.filter((p) => p === "10.0.0.2")).toHaveLength(3);
      expect(window.filter((p) => p === "refused")).toHaveLength(1);
    }
  });

  it("retries go to the other endpoints that have a weight", () => {
    const b = new Balancer([...endpoints, { ...endpoints[0]!, ip: "10.0.0.3" }], none, [1, 0, 1]);
    for (let i = 0; i < 4; i++)
      expect(
        b
          .attempts(undefined, 0, 3)
          .map((e) => e.ip)
          .sort(),
      ).toEqual(["10.0.0.1", "10.0.0.3"]);
  });

  it("every weight 0: nothing to dial", () => {
    expect(new Balancer(endpoints, none, [0, 0], 0).attempts(undefined, 0, 3)).toEqual([]);
    expect(new Balancer([], none, [], 0).attempts(undefined, 0, 3)).toEqual([]);
  });

  it("updating to the same weights keeps the rotation where it was", () => {
    const b = new Balancer(endpoints, none, [1, 1]);
    const first = b.attempts(undefined, 0, 1)[0]!.ip;
    b.update(endpoints, none, [1, 1]);
    expect(b.attempts(undefined, 0, 1)[0]!.ip).not.toBe(first);
  });
});

describe("planGateway", () => {
  it("plans TCP, UDP and TLS sockets as listeners with pools; TLS gets a pool per SNI entry", () => {
    const a = [l4Backend(1, "a", [ep("10.0.0.1", 8080)])];
    const route = { kind: "TLSRoute" as const, namespace: "default", name: "t" };
    const plan = planGateway([
      l4Socket("TCP", "0.0.0.0", 5000, a),
      l4Socket("UDP", "10.9.0.1", 5353, a),
      l4Socket(
        "TLS",
        "::",
        443,
        [],
        [
          { host: "a.example", route, backends: a },
          { host: "*.example", route, backends: [l4Backend(1, "missing")] },
        ],
      ),
    ]);
    expect([...plan.listeners.keys()]).toEqual(["TCP 0.0.0.0:5000", "UDP 10.9.0.1:5353", "TCP [::]:443"]);
    expect([...plan.vips]).toEqual(["10.9.0.1"]);
    const tls = plan.listeners.get("TCP [::]:443")!;
    expect(tls.gateway).toEqual({
      socketId: "[::]:443/TLS",
      sni: [
        { host: "a.example", poolId: "gateway|[::]:443/TLS|sni=a.example" },
        { host: "*.example", poolId: "gateway|[::]:443/TLS|sni=*.example" },
      ],
    });
    expect(plan.pools.get(tls.poolId)!.endpoints).toEqual([]);
    expect(plan.pools.get("gateway|[::]:443/TLS|sni=*.example")!.refusedWeight).toBe(1);
    expect(plan.listeners.get("UDP 10.9.0.1:5353")!.gateway).toEqual({ socketId: "10.9.0.1:5353/UDP" });
  });

  it("a second socket on the same key (TCP and TLS on one port) is a duplicate, the first keeps it", () => {
    const plan = planGateway([l4Socket("TCP", "127.0.0.1", 5000, []), l4Socket("TLS", "127.0.0.1", 5000, [])]);
    expect([...plan.listeners.keys()]).toEqual(["TCP 127.0.0.1:5000"]);
    expect([...plan.duplicates]).toEqual([["127.0.0.1:5000/TLS", "127.0.0.1:5000/TCP"]]);
  });

  it("samePool sees endpoint and weight changes", () => {
    const one = planGateway([l4Socket("TCP", "127.0.0.1", 1, [l4Backend(1, "a", [ep("10.0.0.1")])])]).pools.get(
      "gateway|127.0.0.1:1/TCP",
    )!;
    const same = planGateway([l4Socket("TCP", "127.0.0.1", 1, [l4Backend(1, "a", [ep("10.0.0.1")])])]).pools.get(
      "gateway|127.0.0.1:1/TCP",
    )!;
    const heavier = planGateway([l4Socket("TCP", "127.0.0.1", 1, [l4Backend(2, "a", [ep("10.0.0.1")])])]).pools.get(
      "gateway|127.0.0.1:1/TCP",
    )!;
    const refused = planGateway([
      l4Socket("TCP", "127.0.0.1", 1, [l4Backend(1, "a", [ep("10.0.0.1")]), l4Backend(1, "x")]),
    ]).pools.get("gateway|127.0.0.1:1/TCP")!;
    expect(samePool(one, same)).toBe(true);
    expect(samePool(one, heavier)).toBe(false);
    expect(samePool(one, refused)).toBe(false);
  });
});
