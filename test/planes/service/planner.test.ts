import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { ListenerPlan, PoolPlan } from "../../../src/planes/service/plan.ts";
import { ServicePlanner } from "../../../src/planes/service/planner.ts";
import type { Endpoint, Frontend, ServicePortSnapshot } from "../../../src/snapshot/snapshot.ts";
import { endpoint, frontend, servicePort } from "./helpers.ts";
import { planService, virtualIPs, withoutClientIPAffinity } from "./reference-plan.ts";

/** A small universe of ports: few addresses and port numbers, so sockets get contested. */
const frontendArb: fc.Arbitrary<Frontend> = fc
  .record({
    ip: fc.constantFrom("10.96.0.1", "10.96.0.2", "fd00::1", "192.0.2.1"),
    port: fc.constantFrom(80, 443),
    kind: fc.constantFrom("clusterIP", "nodePort", "externalIP", "loadBalancer") as fc.Arbitrary<Frontend["kind"]>,
    action: fc.constantFrom("forward", "reject", "drop") as fc.Arbitrary<Frontend["action"]>,
    endpoints: fc.constantFrom("cluster", "external") as fc.Arbitrary<Frontend["endpoints"]>,
    protocol: fc.constantFrom("TCP", "UDP") as fc.Arbitrary<Frontend["protocol"]>,
  })
  .map((f) => frontend(f.ip, f.port, f.kind === "loadBalancer" ? { ...f, sourceRanges: [] } : f));
const endpointsArb: fc.Arbitrary<Endpoint[]> = fc.array(
  fc.constantFrom(endpoint("10.244.0.1", 8080), endpoint("10.244.0.2", 8080), endpoint("fd00::a", 8080)),
  { maxLength: 3 },
);
const portArb = (name: string): fc.Arbitrary<ServicePortSnapshot> =>
  fc
    .record({
      frontends: fc.array(frontendArb, { maxLength: 3 }),
      cluster: endpointsArb,
      external: endpointsArb,
      affinity: fc.boolean(),
    })
    .map((p) =>
      servicePort(name, p.frontends, p.cluster, {
        externalEndpoints: p.external,
        ...(p.affinity ? { sessionAffinity: { type: "ClientIP" as const, timeoutSeconds: 60 } } : {}),
      }),
    );

const NAMES = ["a", "b", "c", "d", "e"];
/** One step: each Service port is kept (same object), replaced (new object), or absent; the order may rotate. */
const stepArb = fc.record({
  ports: fc.tuple(
    ...NAMES.map((name) =>
      fc.oneof(
        fc.constant("keep" as const),
        fc.constant("absent" as const),
        portArb(name).map((sp) => ({ sp })),
      ),
    ),
  ),
  rotate: fc.integer({ min: 0, max: 4 }),
});

describe("ServicePlanner", () => {
  it("after every update equals planService of the whole list, and its deltas turn the old plan into the new", () => {
    fc.assert(
      fc.property(fc.array(stepArb, { minLength: 1, maxLength: 12 }), fc.boolean(), (steps, affinity) => {
        // without ClientIP affinity: the process of a worker that leaves those ports to another
        const planner = new ServicePlanner({ clientIPAffinity: affinity });
        const current = new Map<string, ServicePortSnapshot>();
        const running = new Map<string, ListenerPlan>();
        const pools = new Map<string, PoolPlan>();
        for (const step of steps) {
          step.ports.forEach((choice, i) => {
            const name = NAMES[i]!;
            if (choice === "absent") current.delete(name);
            else if (choice !== "keep") current.set(name, choice.sp);
          });
          const list = [...current.values()];
          const ordered = [
            ...list.slice(step.rotate % (list.length || 1)),
            ...list.slice(0, step.rotate % (list.length || 1)),
          ];
          const delta = planner.update(ordered);
          const whole = planService({ servicePorts: ordered });
          const expected = affinity ? whole : withoutClientIPAffinity(whole);
          expect(new Map(planner.listeners)).toEqual(expected.listeners);
          expect(new Map(planner.pools)).toEqual(expected.pools);
          // the plane reports each distinct line once
          expect(new Set(delta.conflicts)).toEqual(new Set(expected.conflicts));
          expect(new Set(planner.vips.keys())).toEqual(virtualIPs({ servicePorts: ordered }));
          for (const key of delta.listeners.close) running.delete(key);
          for (const lp of [...delta.listeners.open, ...delta.listeners.update]) running.set(lp.key, lp);
          for (const id of delta.pools.removed) pools.delete(id);
          for (const pool of [...delta.pools.added, ...delta.pools.updated]) pools.set(pool.id, pool);
          expect(running).toEqual(expected.listeners);
          expect(pools).toEqual(expected.pools);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("an unchanged list is no work, and one replaced port touches only its own sockets", () => {
    const a = servicePort("a", [frontend("10.96.0.1", 80)], [endpoint("10.244.0.1", 8080)]);
    const b = servicePort("b", [frontend("10.96.0.2", 80)], [endpoint("10.244.0.2", 8080)]);
    const planner = new ServicePlanner();
    const list = [a, b];
    expect(planner.update(list).listeners.open).toHaveLength(2);
    const same = planner.update(list);
    expect(same.listeners).toEqual({ open: [], update: [], close: [] });
    expect(same.pools).toEqual({ added: [], updated: [], removed: [] });
    const b2 = servicePort("b", [frontend("10.96.0.2", 80)], [endpoint("10.244.0.3", 8080)]);
    const delta = planner.update([a, b2]);
    expect(delta.listeners.update.map((lp) => lp.key)).toEqual(["TCP 10.96.0.2:80"]);
    expect(delta.pools.updated.map((p) => p.endpoints.map((e) => e.ip))).toEqual([["10.244.0.3"]]);
    expect(delta.listeners.open).toEqual([]);
    expect(delta.vipsChanged).toBe(false);
  });
});
