import fc from "fast-check";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import type { KindMap } from "../../src/model/k8s.ts";
import { SnapshotPipeline } from "../../src/pipeline.ts";
import type { Plane } from "../../src/planes/plane.ts";
import type { Snapshot } from "../../src/snapshot/snapshot.ts";
import { Store } from "../../src/store/store.ts";
import { Translator } from "../../src/translate/index.ts";
import type { TranslateOptions } from "../../src/translate/options.ts";
import { translateOptions } from "../support/options.ts";

/**
 * The whole snapshot, as `Translator.build` makes it change by change, against a fresh Translator on a
 * copy of the store: every part equal (the generation and the DNS serial count builds and revisions).
 */
const OPTIONS: TranslateOptions = translateOptions({ localAddresses: ["192.0.2.10"] });

const NAME = fc.constantFrom("a", "b", "c");
const NS = fc.constantFrom("x", "y");
const op = fc.oneof(
  fc.record({
    kind: fc.constant("service" as const),
    ns: NS,
    name: NAME,
    ip: fc.constantFrom("10.96.0.1", "10.96.0.2", "None", "bad"),
    port: fc.constantFrom(80, 81, 0),
    type: fc.constantFrom("ClusterIP", "NodePort", "LoadBalancer"),
    ports: fc.constantFrom(1, 2),
  }),
  fc.record({
    kind: fc.constant("slice" as const),
    ns: NS,
    name: NAME,
    ips: fc.array(fc.constantFrom("10.244.0.1", "10.244.0.2", "x"), { maxLength: 3 }),
    ready: fc.boolean(),
  }),
  fc.record({ kind: fc.constant("ingress" as const), ns: NS, name: NAME, host: fc.constantFrom("a.com", "b.com") }),
  fc.record({
    kind: fc.constant("delete" as const),
    what: fc.constantFrom("Service", "EndpointSlice", "Ingress") as fc.Arbitrary<
      "Service" | "EndpointSlice" | "Ingress"
    >,
    ns: NS,
    name: NAME,
  }),
);
type Op = typeof op extends fc.Arbitrary<infer T> ? T : never;

function applyOp(store: Store, o: Op): void {
  if (o.kind === "service")
    store.upsert("Service", {
      kind: "Service",
      metadata: { namespace: o.ns, name: o.name },
      spec: {
        type: o.type,
        clusterIP: o.ip,
        ports: [
          { name: "http", port: o.port, ...(o.type === "ClusterIP" ? {} : { nodePort: 30080 }) },
          ...(o.ports === 2 ? [{ name: "extra", port: 90 }] : []),
        ],
        ...(o.type === "LoadBalancer" ? { externalTrafficPolicy: "Local", healthCheckNodePort: 30999 } : {}),
      },
    });
  else if (o.kind === "slice")
    store.upsert("EndpointSlice", {
      kind: "EndpointSlice",
      metadata: { namespace: o.ns, name: `${o.name}-1`, labels: { "kubernetes.io/service-name": o.name } },
      addressType: "IPv4",
      ports: [{ name: "http", port: 8080 }],
      endpoints: o.ips.map((ip) => ({ addresses: [ip], conditions: { ready: o.ready } })),
    });
  else if (o.kind === "ingress")
    store.upsert("Ingress", {
      kind: "Ingress",
      metadata: { namespace: o.ns, name: o.name, creationTimestamp: "2024-01-01T00:00:00Z" },
      spec: {
        ingressClassName: "nodeplane",
        rules: [
          {
            host: o.host,
            http: {
              paths: [
                { path: "/", pathType: "Prefix", backend: { service: { name: o.name, port: { name: "http" } } } },
              ],
            },
          },
        ],
      },
    });
  else store.delete(o.what, `${o.ns}/${o.what === "EndpointSlice" ? `${o.name}-1` : o.name}`);
}

function comparable(s: Snapshot): unknown {
  return {
    node: s.node,
    services: s.services,
    servicePorts: s.servicePorts,
    healthChecks: s.healthChecks,
    ingress: s.ingress,
    dns: {
      ...s.dns,
      soa: { ...s.dns.soa, serial: 0 },
      records: [...s.dns.records].sort(([a], [b]) => (a < b ? -1 : 1)),
    },
    problems: s.problems,
  };
}

function copy(store: Store): Store {
  const out = new Store();
  for (const kind of ["Service", "EndpointSlice", "Ingress"] as const)
    for (const obj of store.list(kind)) out.upsert(kind, structuredClone(obj) as KindMap[typeof kind]);
  return out;
}

describe("Translator: change-driven snapshots equal fresh ones (fast-check)", () => {
  it("after every change", () => {
    fc.assert(
      fc.property(fc.array(fc.array(op, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 15 }), (steps) => {
        const store = new Store();
        const translator = new Translator(OPTIONS);
        translator.build(store);
        for (const step of steps) {
          for (const o of step) applyOp(store, o);
          const next = translator.build(store);
          const fresh = new Translator(OPTIONS);
          expect(comparable(next)).toEqual(comparable(fresh.build(copy(store))));
          fresh.close();
        }
        translator.close();
      }),
      { numRuns: 150 },
    );
  });
});

describe("SnapshotPipeline", () => {
  it("logs each problem once while it lasts, and a rebuild that changes no problem logs none", async () => {
    const warnings: string[] = [];
    const logger = pino(
      { level: "warn" },
      {
        write: (line: string) => {
          warnings.push(JSON.parse(line).msg as string);
        },
      },
    );
    const store = new Store();
    const applied: Snapshot[] = [];
    const plane: Plane = {
      name: "recorder",
      apply: async (_previous, next) => {
        applied.push(next);
      },
      close: async () => {},
    };
    const pipeline = new SnapshotPipeline(store, new Translator(OPTIONS), { maxDelayMs: 0, logger });
    pipeline.register(plane);
    applyOp(store, { kind: "service", ns: "x", name: "a", ip: "bad", port: 80, type: "ClusterIP", ports: 1 });
    await pipeline.start();
    // the bad clusterIP is named by the service and the DNS translators
    const first = warnings.length;
    expect(first).toBeGreaterThan(0);
    const problems = applied.at(-1)!.problems;
    applyOp(store, { kind: "slice", ns: "x", name: "b", ips: ["10.244.0.1"], ready: true });
    await pipeline.settled();
    expect(applied).toHaveLength(2);
    expect(applied.at(-1)!.problems).toBe(problems);
    expect(warnings).toHaveLength(first);
    applyOp(store, { kind: "service", ns: "y", name: "c", ip: "bad", port: 80, type: "ClusterIP", ports: 1 });
    await pipeline.settled();
    expect(warnings).toHaveLength(2 * first);
    await pipeline.stop();
  });
});
