import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { allocate, LB_CLASS } from "../../src/lbipam/allocate.ts";
import type { Service } from "../../src/model/k8s.ts";

interface Opts {
  type?: string;
  cls?: string;
  ip?: string;
  status?: string[];
  families?: string[];
  policy?: string;
  created?: string;
}

function svc(name: string, o: Opts = {}): Service {
  return {
    metadata: { namespace: "default", name, creationTimestamp: o.created ?? "2024-01-01T00:00:00Z" },
    spec: {
      type: o.type ?? "LoadBalancer",
      ...(o.cls !== undefined ? { loadBalancerClass: o.cls } : {}),
      ...(o.ip ? { loadBalancerIP: o.ip } : {}),
      ...(o.families ? { ipFamilies: o.families } : {}),
      ...(o.policy ? { ipFamilyPolicy: o.policy } : {}),
    },
    ...(o.status ? { status: { loadBalancer: { ingress: o.status.map((ip) => ({ ip })) } } } : {}),
  };
}

interface Row {
  name: string;
  pool: string[];
  services: Service[];
  assign: Record<string, string[]>;
  clear?: string[];
  problems?: string[];
}

const POOL = ["192.168.50.0/29"]; // .1 … .6 usable

const TABLE: Row[] = [
  {
    name: "lowest free addresses, skipping the network address, oldest Service first",
    pool: POOL,
    services: [svc("b", { created: "2024-01-02T00:00:00Z" }), svc("a", { created: "2024-01-03T00:00:00Z" }), svc("c")],
    assign: { "default/c": ["192.168.50.1"], "default/b": ["192.168.50.2"], "default/a": ["192.168.50.3"] },
  },
  {
    name: "an address already in status stays with its Service",
    pool: POOL,
    services: [svc("a"), svc("b", { status: ["192.168.50.1"] })],
    assign: { "default/b": ["192.168.50.1"], "default/a": ["192.168.50.2"] },
  },
  {
    name: "spec.loadBalancerIP inside the pool is honoured, before fresh allocations",
    pool: POOL,
    services: [svc("a"), svc("b", { ip: "192.168.50.1", created: "2025-01-01T00:00:00Z" })],
    assign: { "default/a": ["192.168.50.2"], "default/b": ["192.168.50.1"] },
  },
  {
    name: "spec.loadBalancerIP outside the pool is refused with a problem and clears a stale status",
    pool: POOL,
    services: [svc("a", { ip: "10.0.0.1", status: ["192.168.50.4"] })],
    assign: { "default/a": [] },
    problems: ["default/a spec.loadBalancerIP: 10.0.0.1 is not a usable address of --lb-pool 192.168.50.0/29"],
  },
  {
    name: "a requested address already taken goes to the first claimant only",
    pool: POOL,
    services: [svc("a", { ip: "192.168.50.5", status: ["192.168.50.5"] }), svc("b", { ip: "192.168.50.5" })],
    assign: { "default/a": ["192.168.50.5"], "default/b": [] },
    problems: ["default/b spec.loadBalancerIP: 192.168.50.5 is already assigned to Service default/a"],
  },
  {
    name: "a changed spec.loadBalancerIP moves the Service to it",
    pool: POOL,
    services: [svc("a", { ip: "192.168.50.6", status: ["192.168.50.1"] })],
    assign: { "default/a": ["192.168.50.6"] },
  },
  {
    name: "Services of another class are never touched and their pool addresses count as taken",
    pool: POOL,
    services: [svc("other", { cls: "example.com/lb", status: ["192.168.50.1"] }), svc("a")],
    assign: { "default/a": ["192.168.50.2"] },
  },
  {
    name: "our explicit class is served like no class",
    pool: POOL,
    services: [svc("a", { cls: LB_CLASS })],
    assign: { "default/a": ["192.168.50.1"] },
  },
  {
    name: "a type change away from LoadBalancer releases the address (status cleared)",
    pool: POOL,
    services: [svc("was-lb", { type: "ClusterIP", status: ["192.168.50.1"] }), svc("a")],
    assign: { "default/a": ["192.168.50.1"] },
    clear: ["default/was-lb"],
  },
  {
    name: "a status address outside the pool is replaced",
    pool: POOL,
    services: [svc("a", { status: ["10.1.1.1"] })],
    assign: { "default/a": ["192.168.50.1"] },
  },
  {
    name: "an exhausted pool reports the Service that got nothing",
    pool: ["192.168.50.8/31"],
    services: [svc("a"), svc("b"), svc("c")],
    assign: { "default/a": ["192.168.50.8"], "default/b": ["192.168.50.9"], "default/c": [] },
    problems: ["default/c: no free address left in --lb-pool for IPv4"],
  },
  {
    name: "dual-stack Services get one address per family; single-stack IPv6 only IPv6",
    pool: ["192.168.50.0/29", "fd00:50::/120"],
    services: [
      svc("dual", { families: ["IPv4", "IPv6"], policy: "RequireDualStack" }),
      svc("v6", { families: ["IPv6"], policy: "SingleStack" }),
    ],
    assign: { "default/dual": ["192.168.50.1", "fd00:50::1"], "default/v6": ["fd00:50::2"] },
  },
  {
    name: "IPv6 status addresses compare in canonical form",
    pool: ["fd00:50::/120"],
    services: [svc("v6", { families: ["IPv6"], status: ["FD00:50:0::7"] })],
    assign: { "default/v6": ["fd00:50::7"] },
  },
  {
    name: "a family the pool lacks is a problem",
    pool: POOL,
    services: [svc("v6", { families: ["IPv6"] })],
    assign: { "default/v6": [] },
    problems: ["default/v6: --lb-pool has no IPv6 range"],
  },
];

describe("LoadBalancer IP allocation", () => {
  for (const row of TABLE) {
    it(row.name, () => {
      const result = allocate(row.services, row.pool);
      expect(Object.fromEntries(result.assign)).toEqual(row.assign);
      expect(result.clear).toEqual(row.clear ?? []);
      expect(
        result.problems.map((p) => `${p.namespace}/${p.name}${p.field ? ` ${p.field}` : ""}: ${p.message}`),
      ).toEqual(row.problems ?? []);
    });
  }

  it("is deterministic, never hands out one address twice and stays inside the pool", () => {
    const arbService = fc.record({
      name: fc.constantFrom("a", "b", "c", "d", "e", "f", "g"),
      type: fc.constantFrom("LoadBalancer", "LoadBalancer", "ClusterIP"),
      cls: fc.constantFrom(undefined, LB_CLASS, "other/lb"),
      ip: fc.option(
        fc.integer({ min: 0, max: 9 }).map((i) => `192.168.50.${i}`),
        { nil: undefined },
      ),
      status: fc.array(
        fc.integer({ min: 0, max: 9 }).map((i) => `192.168.50.${i}`),
        { maxLength: 2 },
      ),
    });
    fc.assert(
      fc.property(fc.uniqueArray(arbService, { selector: (s) => s.name, maxLength: 7 }), (specs) => {
        const services = specs.map((s) =>
          svc(s.name, {
            type: s.type,
            ...(s.cls ? { cls: s.cls } : {}),
            ...(s.ip ? { ip: s.ip } : {}),
            status: s.status,
          }),
        );
        const first = allocate(services, POOL);
        const again = allocate([...services].reverse(), POOL);
        expect(Object.fromEntries(again.assign)).toEqual(Object.fromEntries(first.assign));
        const given = [...first.assign.values()].flat();
        expect(new Set(given).size).toBe(given.length);
        for (const ip of given) expect(ip).toMatch(/^192\.168\.50\.[1-6]$/);
        // addresses held by another class's Service are not handed out again
        const foreign = services
          .filter((s) => s.spec?.loadBalancerClass === "other/lb")
          .flatMap((s) => (s.status?.loadBalancer?.ingress ?? []).map((i) => i.ip));
        for (const ip of given) expect(foreign).not.toContain(ip);
        // and a Service keeps an address it already had whenever it did not ask for another one
        for (const s of services) {
          const had = (s.status?.loadBalancer?.ingress ?? []).map((i) => i.ip!).filter((ip) => /\.[1-6]$/.test(ip));
          const got = first.assign.get(`default/${s.metadata?.name}`);
          if (got && had.length > 0 && !s.spec?.loadBalancerIP && !foreign.includes(had[0]!)) {
            const holders = services.filter(
              (o) => o !== s && (o.status?.loadBalancer?.ingress ?? []).some((i) => i.ip === had[0]),
            );
            if (holders.length === 0) expect(got).toContain(had[0]);
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});
