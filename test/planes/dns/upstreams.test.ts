import { describe, expect, it } from "vitest";
import { attemptOrder, UpstreamRoutes } from "../../../src/planes/dns/upstreams.ts";

const hp = (host: string, port = 53) => ({ host, port });

describe("UpstreamRoutes: the longest forward zone containing the name wins", () => {
  const routes = new UpstreamRoutes(
    [hp("192.0.2.1")],
    [
      { zone: "corp.example", upstreams: [hp("10.0.0.1")] },
      { zone: "lab.corp.example", upstreams: [hp("10.0.1.1"), hp("10.0.0.1")] },
      { zone: "in-addr.arpa", upstreams: [hp("10.9.9.9", 5353)] },
    ],
  );
  it.each([
    ["www.example.org", ["192.0.2.1"]],
    ["corp.example", ["10.0.0.1"]],
    ["a.b.corp.example", ["10.0.0.1"]],
    ["lab.corp.example", ["10.0.1.1", "10.0.0.1"]],
    ["db.lab.corp.example", ["10.0.1.1", "10.0.0.1"]],
    ["xcorp.example", ["192.0.2.1"]],
    ["4.3.2.1.in-addr.arpa", ["10.9.9.9"]],
    ["", ["192.0.2.1"]],
  ])("%s → %j", (name, hosts) => {
    expect(routes.for(name).map((u) => u.address.host)).toEqual(hosts);
  });

  it("a root zone takes every name no longer zone claims", () => {
    const r = new UpstreamRoutes([], [{ zone: "", upstreams: [hp("10.0.0.9")] }]);
    expect(r.for("anything.example").map((u) => u.address.host)).toEqual(["10.0.0.9"]);
  });

  it("one address in several groups shares its health; a rebuild keeps it", () => {
    const shared = routes.for("lab.corp.example")[1]!;
    expect(routes.for("corp.example")[0]).toBe(shared);
    shared.fails = 5;
    const rebuilt = new UpstreamRoutes([hp("10.0.0.1")], [], routes);
    expect(rebuilt.for("x.example")[0]!.fails).toBe(5);
    shared.fails = 0;
  });
});

describe("attemptOrder (max_fails 2)", () => {
  it.each([
    { fails: [0, 0, 0], order: [0, 1, 2], broken: false },
    { fails: [3, 0, 2], order: [1, 2], broken: false },
    { fails: [2, 2, 2], order: [0, 1, 2], broken: false },
    { fails: [3, 9, 3], order: [0, 1, 2], broken: true },
  ])("fails $fails → try $order, broken $broken", ({ fails, order, broken }) => {
    const r = new UpstreamRoutes(fails.map((_, i) => hp(`192.0.2.${i + 1}`)));
    r.fallback.forEach((u, i) => {
      u.fails = fails[i]!;
    });
    const result = attemptOrder(r.fallback, 2);
    expect(result.order.map((u) => r.fallback.indexOf(u))).toEqual(order);
    expect(result.broken).toBe(broken);
  });

  it("max_fails 0: never down", () => {
    const r = new UpstreamRoutes([hp("192.0.2.1")]);
    r.fallback[0]!.fails = 100;
    expect(attemptOrder(r.fallback, 0)).toEqual({ order: r.fallback, broken: false });
  });
});
