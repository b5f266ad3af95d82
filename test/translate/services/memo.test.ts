import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Service } from "../../../src/model/k8s.ts";
import { ServiceTranslator } from "../../../src/translate/services/translator.ts";
import { ep, NODE, OPTIONS, slice, storeOf } from "./fixtures.ts";

const svc = (name: string, ip: string): Service => ({
  kind: "Service",
  metadata: { namespace: "default", name },
  spec: { clusterIP: ip, ports: [{ name: "http", port: 80 }] },
});
const ports = [{ name: "http", port: 8080 }];

function fixture() {
  return storeOf(
    svc("a", "10.96.0.1"),
    svc("b", "10.96.0.2"),
    slice("a", "a-1", ports, [ep("10.244.1.1")]),
    slice("b", "b-1", ports, [ep("10.244.2.1")]),
  );
}

describe("service translator memoisation", () => {
  it("an unchanged store gives the very same result and objects", () => {
    const store = fixture();
    const translator = new ServiceTranslator();
    const first = translator.translate(store, OPTIONS, NODE);
    const second = translator.translate(store, OPTIONS, { ...NODE, nodePortAddresses: [...NODE.nodePortAddresses] });
    expect(second).toBe(first);
    expect(second.servicePorts[0]).toBe(first.servicePorts[0]);
  });

  it("a changed slice re-translates only its Service", () => {
    const store = fixture();
    const translator = new ServiceTranslator();
    const first = translator.translate(store, OPTIONS, NODE);
    store.upsert("EndpointSlice", slice("b", "b-1", ports, [ep("10.244.2.1"), ep("10.244.2.2")]));
    const second = translator.translate(store, OPTIONS, NODE);
    expect(second).not.toBe(first);
    expect(second.servicePorts[0]).toBe(first.servicePorts[0]); // a: same object
    expect(second.servicePorts[1]).not.toBe(first.servicePorts[1]); // b: rebuilt
    expect(second.servicePorts[1]!.clusterEndpoints.map((e) => e.ip)).toEqual(["10.244.2.1", "10.244.2.2"]);
    expect(second.services[0]).toBe(first.services[0]);
  });

  it("a replaced Service object re-translates it; a deep-equal replace through Store.replace does not", () => {
    const store = fixture();
    const translator = new ServiceTranslator();
    const first = translator.translate(store, OPTIONS, NODE);
    store.replace("Service", [svc("a", "10.96.0.1"), svc("b", "10.96.0.2")]);
    expect(translator.translate(store, OPTIONS, NODE).servicePorts[0]).toBe(first.servicePorts[0]);
    store.upsert("Service", svc("a", "10.96.0.9"));
    const third = translator.translate(store, OPTIONS, NODE);
    expect(third.servicePorts[0]).not.toBe(first.servicePorts[0]);
    expect(third.servicePorts[0]!.frontends[0]!.ip).toBe("10.96.0.9");
    expect(third.servicePorts[1]).toBe(first.servicePorts[1]);
  });

  it("adding and deleting Services keeps the others' objects and the sort order", () => {
    const store = fixture();
    const translator = new ServiceTranslator();
    const first = translator.translate(store, OPTIONS, NODE);
    store.upsert("Service", svc("0-first", "10.96.0.3"));
    const second = translator.translate(store, OPTIONS, NODE);
    expect(second.servicePorts.map((p) => p.id)).toEqual(["default/0-first:http", "default/a:http", "default/b:http"]);
    expect(second.servicePorts[1]).toBe(first.servicePorts[0]);
    store.delete("Service", "default/a");
    const third = translator.translate(store, OPTIONS, NODE);
    expect(third.servicePorts.map((p) => p.id)).toEqual(["default/0-first:http", "default/b:http"]);
    expect(third.servicePorts[1]).toBe(first.servicePorts[1]);
  });

  it("a deleted slice re-translates its Service (endpoints gone → reject)", () => {
    const store = fixture();
    const translator = new ServiceTranslator();
    translator.translate(store, OPTIONS, NODE);
    store.delete("EndpointSlice", "default/a-1");
    const after = translator.translate(store, OPTIONS, NODE);
    expect(after.servicePorts[0]!.frontends[0]!.action).toBe("reject");
  });

  it("a change of node facts (zone, node-port addresses) re-translates everything", () => {
    const store = fixture();
    const translator = new ServiceTranslator();
    const first = translator.translate(store, OPTIONS, NODE);
    const second = translator.translate(store, OPTIONS, { ...NODE, zone: "zone-b" });
    expect(second.servicePorts[0]).not.toBe(first.servicePorts[0]);
    expect(second.servicePorts[1]).not.toBe(first.servicePorts[1]);
    expect(second.servicePorts).toEqual(first.servicePorts);
  });

  it("a change of --service-proxy-name re-translates", () => {
    const labelled: Service = { ...svc("a", "10.96.0.1") };
    labelled.metadata = { ...labelled.metadata, labels: { "service.kubernetes.io/service-proxy-name": "np" } };
    const store = storeOf(labelled);
    const translator = new ServiceTranslator();
    expect(translator.translate(store, OPTIONS, NODE).servicePorts).toHaveLength(0);
    expect(translator.translate(store, { ...OPTIONS, serviceProxyName: "np" }, NODE).servicePorts).toHaveLength(1);
  });
});

describe("contested addresses across builds", () => {
  it("the loser regains the address when the winner goes, and keeps its objects while nothing changes", () => {
    const withExternal = (name: string, ip: string): Service => ({
      ...svc(name, ip),
      spec: { ...svc(name, ip).spec, externalIPs: ["198.51.100.1"] },
    });
    const store = storeOf(withExternal("a", "10.96.0.1"), withExternal("b", "10.96.0.2"));
    const translator = new ServiceTranslator();
    const first = translator.translate(store, OPTIONS, NODE);
    expect(first.servicePorts.map((p) => p.frontends.length)).toEqual([2, 1]);
    store.upsert("Service", svc("c", "10.96.0.3"));
    const second = translator.translate(store, OPTIONS, NODE);
    expect(second.servicePorts[1]).toBe(first.servicePorts[1]); // b, still reduced, same object
    store.delete("Service", "default/a");
    const third = translator.translate(store, OPTIONS, NODE);
    expect(third.servicePorts.map((p) => `${p.name} ${p.frontends.length}`)).toEqual(["b 2", "c 1"]);
    expect(third.problems).toEqual([]);
  });
});

describe("service translator incremental builds agree with fresh builds", () => {
  type Op =
    | { op: "service"; i: number; ip: number; local: boolean }
    | { op: "deleteService"; i: number }
    | { op: "slice"; s: number; owner: number; ips: number[] }
    | { op: "deleteSlice"; s: number }
    | { op: "batch"; ops: Op[]; translateInside: boolean };

  const leaf: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ op: fc.constant("service" as const), i: fc.nat(5), ip: fc.nat(3), local: fc.boolean() }),
    fc.record({ op: fc.constant("deleteService" as const), i: fc.nat(5) }),
    fc.record({
      op: fc.constant("slice" as const),
      s: fc.nat(6),
      owner: fc.nat(5),
      ips: fc.array(fc.nat(4), { maxLength: 4 }),
    }),
    fc.record({ op: fc.constant("deleteSlice" as const), s: fc.nat(6) }),
  );
  const opArb: fc.Arbitrary<Op> = fc.oneof(
    { weight: 4, arbitrary: leaf },
    {
      weight: 1,
      arbitrary: fc.record({
        op: fc.constant("batch" as const),
        ops: fc.array(leaf, { maxLength: 4 }),
        translateInside: fc.boolean(),
      }),
    },
  );

  it("after every change (bounded random sequences)", () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 15 }), (ops) => {
        const store = storeOf();
        const incremental = new ServiceTranslator();
        const check = () => {
          const got = incremental.translate(store, OPTIONS, NODE);
          const fresh = new ServiceTranslator().translate(store, OPTIONS, NODE);
          expect(got).toEqual(fresh);
        };
        const apply = (o: Op): void => {
          switch (o.op) {
            case "service": {
              const s = svc(`s${o.i}`, `10.96.0.${o.ip + 1}`);
              if (o.local) s.spec = { ...s.spec, internalTrafficPolicy: "Local" };
              store.upsert("Service", s);
              break;
            }
            case "deleteService":
              store.delete("Service", `default/s${o.i}`);
              break;
            case "slice":
              store.upsert(
                "EndpointSlice",
                slice(
                  `s${o.owner}`,
                  `slice${o.s}`,
                  ports,
                  o.ips.map((n) => ep(`10.244.0.${n + 1}`, { node: n % 2 === 0 ? "node-a" : "node-b" })),
                ),
              );
              break;
            case "deleteSlice":
              store.delete("EndpointSlice", `default/slice${o.s}`);
              break;
            case "batch":
              store.batch(() => {
                for (const inner of o.ops) apply(inner);
                if (o.translateInside) check();
              });
              break;
          }
        };
        check();
        for (const o of ops) {
          apply(o);
          check();
        }
      }),
      { numRuns: 150 },
    );
  });
});
