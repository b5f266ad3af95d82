import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { DnsRecords, DnsSnapshot, PodRecordMode } from "../../../src/snapshot/dns.ts";
import { ShardedMap } from "../../../src/snapshot/sharded-map.ts";
import { Store } from "../../../src/store/store.ts";
import { DnsTranslator } from "../../../src/translate/dns/translator.ts";
import { options, pod, service, slice } from "./fixtures.ts";

/**
 * The change-driven DNS translator against a fresh one on a copy of the store, after every change:
 * same names, same records in the same order (shared names merged by owner), same namespaces, same
 * problems. Small universes so that names are shared (one clusterIP for two Services, one pod IP for
 * two Pods), namespaces come and go, and some input is invalid.
 */
const NS = fc.constantFrom("a", "b", "default");
const NAME = fc.constantFrom("s1", "s2", "s3");
const op = fc.oneof(
  fc.record({
    kind: fc.constant("service" as const),
    ns: NS,
    name: NAME,
    clusterIP: fc.constantFrom("None", "10.96.0.1", "10.96.0.2", "fd00::1", "not-an-ip"),
    portName: fc.constantFrom("http", "dns", undefined),
    external: fc.boolean(),
  }),
  fc.record({
    kind: fc.constant("slice" as const),
    ns: NS,
    name: NAME,
    n: fc.constantFrom(1, 2),
    ips: fc.array(fc.constantFrom("10.244.0.1", "10.244.0.2", "bad"), { maxLength: 3 }),
    ready: fc.boolean(),
    hostname: fc.constantFrom(undefined, "p0", "p1", "Not_A_Label!"),
  }),
  fc.record({
    kind: fc.constant("pod" as const),
    ns: NS,
    name: fc.constantFrom("p1", "p2"),
    ip: fc.constantFrom("10.244.0.1", "10.244.0.9"),
    phase: fc.constantFrom("Running", "Succeeded"),
  }),
  fc.record({
    kind: fc.constant("delete" as const),
    what: fc.constantFrom("Service", "EndpointSlice", "Pod") as fc.Arbitrary<"Service" | "EndpointSlice" | "Pod">,
    ns: NS,
    name: NAME,
  }),
);
type Op = typeof op extends fc.Arbitrary<infer T> ? T : never;

function applyOp(store: Store, o: Op): void {
  if (o.kind === "service")
    store.upsert(
      "Service",
      o.external
        ? service(o.ns, o.name, { type: "ExternalName", externalName: `${o.name}.example.com` })
        : service(o.ns, o.name, { clusterIP: o.clusterIP, ports: [{ name: o.portName, port: 80 }] }),
    );
  else if (o.kind === "slice")
    store.upsert(
      "EndpointSlice",
      slice(
        o.ns,
        o.name,
        `${o.name}-${o.n}`,
        o.ips.map((ip) => ({ addresses: [ip], hostname: o.hostname, conditions: { ready: o.ready } })),
        [{ name: "http", port: 8080 }],
      ),
    );
  else if (o.kind === "pod") store.upsert("Pod", pod(o.ns, o.name, [o.ip], o.phase));
  else {
    const name = o.what === "EndpointSlice" ? `${o.name}-1` : o.what === "Pod" ? "p1" : o.name;
    store.delete(o.what, `${o.ns}/${name}`);
  }
}

/** Records as plain data, keeping every order (arrays, endpoint maps and sets) as it is. */
function plain(snapshot: DnsSnapshot): unknown {
  const value = (r: DnsRecords) =>
    Object.fromEntries(
      Object.entries(r).map(([k, v]) => [k, v instanceof Map ? [...v.entries()] : v instanceof Set ? [...v] : v]),
    );
  return {
    records: [...snapshot.records.entries()].map(([k, v]) => [k, value(v)]).sort((a, b) => (a[0]! < b[0]! ? -1 : 1)),
    size: snapshot.records.size,
    namespaces: [...snapshot.namespaces].sort(),
    pods: snapshot.pods,
    domain: snapshot.domain,
  };
}

function freshBuild(store: Store, mode: PodRecordMode) {
  const copy = new Store();
  for (const kind of ["Service", "EndpointSlice", "Pod"] as const)
    for (const obj of store.list(kind)) copy.upsert(kind, structuredClone(obj));
  return new DnsTranslator().translate(copy, options(mode));
}

describe("DnsTranslator: change-driven builds equal fresh builds (fast-check)", () => {
  it("after every change, also when built inside a batch", () => {
    fc.assert(
      fc.property(
        fc.constantFrom<PodRecordMode>("insecure", "verified"),
        fc.array(fc.record({ ops: fc.array(op, { minLength: 1, maxLength: 3 }), inBatch: fc.boolean() }), {
          minLength: 1,
          maxLength: 20,
        }),
        (mode, steps) => {
          const store = new Store();
          const translator = new DnsTranslator();
          translator.translate(store, options(mode));
          for (const step of steps) {
            let result = translator.translate(store, options(mode));
            if (step.inBatch)
              store.batch(() => {
                for (const o of step.ops) applyOp(store, o);
                // a build that runs before the batch's changes are delivered
                result = translator.translate(store, options(mode));
              });
            else {
              for (const o of step.ops) applyOp(store, o);
              result = translator.translate(store, options(mode));
            }
            const expected = freshBuild(store, mode);
            expect(plain(result.snapshot)).toEqual(plain(expected.snapshot));
            expect(result.problems).toEqual(expected.problems);
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it("a one-slice change shares every untouched shard of the previous index and leaves that index as it was", () => {
    const store = new Store();
    for (let i = 0; i < 200; i++) {
      store.upsert(
        "Service",
        service("ns", `s${i}`, { clusterIP: `10.96.1.${i}`, ports: [{ name: "http", port: 80 }] }),
      );
      store.upsert(
        "EndpointSlice",
        slice("ns", `s${i}`, `s${i}-1`, [{ addresses: [`10.244.1.${i}`] }], [{ name: "http", port: 8080 }]),
      );
    }
    const translator = new DnsTranslator();
    const first = translator.translate(store, options()).snapshot;
    const before = plain(first);
    store.upsert(
      "EndpointSlice",
      slice("ns", "s7", "s7-1", [{ addresses: ["10.244.9.9"] }], [{ name: "http", port: 8080 }]),
    );
    const second = translator.translate(store, options()).snapshot;
    expect(second).not.toBe(first);
    expect(plain(first)).toEqual(before);
    expect([...(second.records.get("s7.ns.svc.cluster.local")?.endpointIps ?? [])]).toEqual(["10.244.9.9"]);
    expect(second.records.get("s8.ns.svc.cluster.local")).toBe(first.records.get("s8.ns.svc.cluster.local"));
    expect(second.namespaces).toBe(first.namespaces);
    // an unrelated change gives back the same snapshot
    store.upsert("Ingress", { metadata: { namespace: "ns", name: "x" } });
    expect(translator.translate(store, options()).snapshot).toBe(second);
  });

  it("ShardedMap: edits make a new map and never touch the old one", () => {
    const a = ShardedMap.empty<number>().edit();
    for (let i = 0; i < 1000; i++) a.set(`n${i}`, i);
    const first = a.finish(ShardedMap.empty());
    const b = first.edit();
    b.set("n1", -1);
    b.delete("n2");
    b.set("new", 5);
    const second = b.finish(first);
    expect(first.size).toBe(1000);
    expect(first.get("n1")).toBe(1);
    expect(first.has("n2")).toBe(true);
    expect(second.size).toBe(1000);
    expect(second.get("n1")).toBe(-1);
    expect(second.has("n2")).toBe(false);
    expect(new Map(second).get("new")).toBe(5);
    expect(first.edit().finish(first)).toBe(first);
    expect(JSON.parse(JSON.stringify(second)).new).toBe(5);
  });
});
