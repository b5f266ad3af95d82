import { describe, expect, it } from "vitest";
import { lookupName } from "../../src/snapshot/dns-lookup.ts";
import { Store } from "../../src/store/store.ts";
import { Translator } from "../../src/translate/index.ts";
import { decodeSnapshot, encodeSnapshot, type SnapshotDelta } from "../../src/workers/snapshot-wire.ts";
import { translateOptions } from "../support/options.ts";

/** What a worker receives: the delta through structured clone, as IPC does. */
const overIpc = (delta: SnapshotDelta): SnapshotDelta => structuredClone(delta);

const service = (name: string, ip: string) => ({
  kind: "Service" as const,
  metadata: { namespace: "default", name },
  spec: { clusterIP: ip, ports: [{ name: "http", port: 80 }] },
});

describe("the DNS index over the worker wire", () => {
  it("arrives whole as a Map the first time, then as the few names a change touched", () => {
    const store = new Store();
    for (let i = 0; i < 300; i++) store.upsert("Service", service(`s${i}`, `10.96.1.${i % 250}`));
    const translator = new Translator(translateOptions({ nodeName: "n", localAddresses: ["127.0.0.1"] }));
    const first = translator.build(store);
    const held = decodeSnapshot(undefined, overIpc(encodeSnapshot(undefined, first)));
    expect(lookupName(held.dns, "s7.default.svc.cluster.local")).toEqual({
      kind: "records",
      // the bare Service name's SRV lists its ports (CoreDNS)
      records: {
        a: ["10.96.1.7"],
        srv: [{ priority: 0, weight: 100, port: 80, target: "s7.default.svc.cluster.local" }],
      },
    });
    expect(held.dns.records.size).toBe(first.dns.records.size);

    store.upsert("Service", service("s7", "10.96.2.7"));
    const second = translator.build(store);
    const delta = encodeSnapshot(first, second);
    const records = (delta.parts.dns as { fields: Record<string, { kind: string; set?: unknown[] }> }).fields.records!;
    expect(records.kind).toBe("map");
    expect(records.set!.length).toBeLessThan(10);
    const next = decodeSnapshot(held, overIpc(delta));
    expect(lookupName(next.dns, "s7.default.svc.cluster.local")).toEqual({
      kind: "records",
      // the bare Service name's SRV lists its ports (CoreDNS)
      records: {
        a: ["10.96.2.7"],
        srv: [{ priority: 0, weight: 100, port: 80, target: "s7.default.svc.cluster.local" }],
      },
    });
    expect(next.dns.records.get("s8.default.svc.cluster.local")).toBe(
      held.dns.records.get("s8.default.svc.cluster.local"),
    );
    expect(next.dns.records.size).toBe(second.dns.records.size);
    translator.close();
  });
});

describe("a long array over the worker wire", () => {
  it("with one element replaced in place sends that element alone; the worker keeps the rest", () => {
    const ports = Array.from({ length: 1000 }, (_, i) => ({ id: `p${i}` }));
    const first = {
      generation: 1,
      node: { name: "n", nodePortAddresses: [], addresses: [] },
      services: [],
      servicePorts: ports,
      healthChecks: [],
      ingress: { hosts: [], certificates: [], ingresses: [], statusAddresses: [] },
      dns: {
        domain: "",
        records: new Map(),
        soa: { mname: "", rname: "", serial: 0, refresh: 0, retry: 0, expire: 0 },
        pods: "disabled" as const,
        namespaces: new Set<string>(),
      },
      problems: [],
    } as unknown as Parameters<typeof encodeSnapshot>[1];
    const held = decodeSnapshot(undefined, overIpc(encodeSnapshot(undefined, first)));
    const changed = [...ports];
    changed[500] = { id: "p500b" };
    const second = { ...first, generation: 2, servicePorts: changed } as unknown as typeof first;
    const delta = encodeSnapshot(first, second);
    expect(delta.parts.servicePorts).toMatchObject({ kind: "array", fresh: [{ id: "p500b" }] });
    const next = decodeSnapshot(held, overIpc(delta));
    expect(next.servicePorts[500]).toEqual({ id: "p500b" });
    expect(next.servicePorts[499]).toBe(held.servicePorts[499]);
    expect(next.servicePorts).toHaveLength(1000);
  });
});
