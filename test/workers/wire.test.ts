import { deserialize, serialize } from "node:v8";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { EMPTY_DNS } from "../../src/snapshot/dns.ts";
import { EMPTY_GATEWAY } from "../../src/snapshot/gateway.ts";
import type { IngressSnapshot, TlsCertificate } from "../../src/snapshot/ingress.ts";
import type { Snapshot } from "../../src/snapshot/snapshot.ts";
import { decodeSnapshot, encodeSnapshot, type SnapshotDelta } from "../../src/workers/snapshot-wire.ts";

/** What `serialization: "advanced"` IPC does to a message: v8's structured clone. */
const overIpc = (delta: SnapshotDelta): SnapshotDelta => deserialize(serialize(delta)) as SnapshotDelta;

function certificate(secret: string, key: string): TlsCertificate {
  const c = {
    secret,
    hosts: [`${secret}.example`],
    certPem: `CERT ${secret}`,
    subject: secret,
    validFrom: "2026-01-01",
    validTo: "2027-01-01",
    fingerprint256: "AA",
  } as Omit<TlsCertificate, "keyPem">;
  Object.defineProperty(c, "keyPem", { value: key, enumerable: false });
  return c as TlsCertificate;
}

function snapshot(generation: number, extra: Partial<Snapshot> = {}): Snapshot {
  const ingress: IngressSnapshot = { hosts: [], certificates: [], ingresses: [], statusAddresses: [] };
  return {
    generation,
    node: { name: "n", nodePortAddresses: ["127.0.0.1"], addresses: ["127.0.0.1"] },
    services: [],
    servicePorts: [],
    healthChecks: [],
    ingress,
    gateway: EMPTY_GATEWAY,
    dns: { ...EMPTY_DNS, domain: "cluster.local", records: new Map([["a.cluster.local", { a: ["10.0.0.1"] }]]) },
    problems: [],
    ...extra,
  };
}

describe("snapshot over IPC", () => {
  it("a new worker gets every part, Maps and Sets intact", () => {
    const s = snapshot(1);
    const got = decodeSnapshot(undefined, overIpc(encodeSnapshot(undefined, s)));
    expect(got).toEqual(s);
    expect(got.dns.records).toBeInstanceOf(Map);
    expect(got.dns.namespaces).toBeInstanceOf(Set);
  });

  it("parts unchanged since the last send are left out, and the worker keeps its own object", () => {
    const first = snapshot(1);
    const second = { ...snapshot(2), dns: first.dns, node: first.node };
    const delta = encodeSnapshot(first, second);
    expect(Object.keys(delta.parts).sort()).toEqual([
      "healthChecks",
      "ingress",
      "problems",
      "servicePorts",
      "services",
    ]);
    const held = decodeSnapshot(undefined, overIpc(encodeSnapshot(undefined, first)));
    const next = decodeSnapshot(held, overIpc(delta));
    expect(next.generation).toBe(2);
    // the DNS plane compares by identity to keep its zone warm
    expect(next.dns).toBe(held.dns);
    expect(next.node).toBe(held.node);
    expect(next.ingress).not.toBe(held.ingress);
  });

  it("a changed array or Map sends only its new elements; the worker keeps the rest as its own objects", () => {
    const port = (name: string) => ({ id: `default/${name}:`, name }) as unknown as Snapshot["servicePorts"][number];
    const ports = Array.from({ length: 10 }, (_, i) => port(`s${i}`));
    const first = snapshot(1, { servicePorts: ports });
    const records = new Map(first.dns.records);
    records.set("b.cluster.local", { a: ["10.0.0.2"] });
    const second = snapshot(2, {
      node: first.node,
      servicePorts: [...ports.slice(0, 4), port("new"), ...ports.slice(5)],
      dns: { ...first.dns, records },
    });
    const held = decodeSnapshot(undefined, overIpc(encodeSnapshot(undefined, first)));
    const delta = overIpc(encodeSnapshot(first, second));
    expect(delta.parts.servicePorts).toMatchObject({ kind: "array", fresh: [{ name: "new" }] });
    expect(delta.parts.dns).toMatchObject({
      kind: "object",
      fields: { records: { kind: "map", set: [["b.cluster.local", { a: ["10.0.0.2"] }]], removed: [] } },
    });
    const next = decodeSnapshot(held, delta);
    expect(next).toEqual(second);
    expect(next.servicePorts[3]).toBe(held.servicePorts[3]);
    expect(next.servicePorts[4]).not.toBe(held.servicePorts[4]);
    expect(next.dns.records.get("a.cluster.local")).toBe(held.dns.records.get("a.cluster.local"));

    // and back: a removed name goes, a removed element goes
    const third = snapshot(3, { node: first.node, servicePorts: ports.slice(1), dns: first.dns });
    expect(decodeSnapshot(next, overIpc(encodeSnapshot(second, third)))).toEqual(third);
  });

  it("TLS private keys cross, and stay out of the snapshot's enumerable fields", () => {
    const s = snapshot(1);
    s.ingress = {
      ...s.ingress,
      certificates: [certificate("a", "KEY A")],
      defaultCertificate: certificate("d", "KEY D"),
    };
    const got = decodeSnapshot(undefined, overIpc(encodeSnapshot(undefined, s)));
    expect(got.ingress.certificates[0]!.keyPem).toBe("KEY A");
    expect(got.ingress.defaultCertificate!.keyPem).toBe("KEY D");
    expect(Object.keys(got.ingress.certificates[0]!)).not.toContain("keyPem");
    expect(JSON.stringify(got)).not.toContain("KEY");
    // without the explicit field, structured clone would have dropped them
    expect(deserialize(serialize(s.ingress.certificates[0]))).not.toHaveProperty("keyPem");
  });

  it("gateway certificates' private keys cross too, for new and for kept sockets", () => {
    const socket = (port: number, key: string) => ({
      id: `127.0.0.1:${port}`,
      address: "127.0.0.1",
      port,
      protocol: "HTTPS" as const,
      listeners: [],
      hosts: [],
      certificates: [certificate(`gw${port}`, `${key} CERT`)],
      defaultCertificate: certificate(`gwd${port}`, `${key} DEFAULT`),
    });
    const kept = socket(8443, "GW KEY A");
    const first = snapshot(1, { gateway: { ...EMPTY_GATEWAY, http: [kept] } });
    const held = decodeSnapshot(undefined, overIpc(encodeSnapshot(undefined, first)));
    expect(held.gateway.http[0]!.certificates[0]!.keyPem).toBe("GW KEY A CERT");
    expect(held.gateway.http[0]!.defaultCertificate!.keyPem).toBe("GW KEY A DEFAULT");
    expect(JSON.stringify(held)).not.toContain("GW KEY");
    // a second socket arrives as a delta: the kept one keeps its object (and key), the new one gets its key
    const second = snapshot(2, {
      node: first.node,
      dns: first.dns,
      gateway: { ...EMPTY_GATEWAY, http: [kept, socket(9443, "GW KEY B")] },
    });
    const got = decodeSnapshot(held, overIpc(encodeSnapshot(first, second)));
    expect(got.gateway.http[0]).toBe(held.gateway.http[0]);
    expect(got.gateway.http[0]!.certificates[0]!.keyPem).toBe("GW KEY A CERT");
    expect(got.gateway.http[1]!.certificates[0]!.keyPem).toBe("GW KEY B CERT");
    expect(got.gateway.http[1]!.defaultCertificate!.keyPem).toBe("GW KEY B DEFAULT");
    expect(Object.keys(got.gateway.http[1]!.certificates[0]!)).not.toContain("keyPem");
  });

  it("a delta without an earlier snapshot to complete it is refused", () => {
    const first = snapshot(1);
    const delta = encodeSnapshot(first, { ...snapshot(2), dns: first.dns });
    expect(() => decodeSnapshot(undefined, delta)).toThrow(/refers to an earlier snapshot/);
  });

  it("any sequence of snapshots arrives equal, in any mix of kept, changed, added and removed entries", () => {
    const entry = fc.record({ id: fc.integer({ min: 0, max: 30 }), v: fc.integer({ min: 0, max: 3 }) });
    // each step: which of the previous entries are kept (by index) and which new ones come
    const step = fc.record({ keep: fc.array(fc.nat(40), { maxLength: 30 }), add: fc.array(entry, { maxLength: 8 }) });
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 6 }), (steps) => {
        let sent: Snapshot | undefined;
        let held: Snapshot | undefined;
        let ports: unknown[] = [];
        for (const [g, { keep, add }] of steps.entries()) {
          ports = [...keep.filter((i) => i < ports.length).map((i) => ports[i]), ...add];
          const records = new Map(ports.map((p, i) => [`n${i}`, p as { a: string[] }]));
          const next = snapshot(g + 1, {
            servicePorts: ports as Snapshot["servicePorts"],
            dns: { ...EMPTY_DNS, records },
          });
          held = decodeSnapshot(held, overIpc(encodeSnapshot(sent, next)));
          expect(held).toEqual(next);
          sent = next;
        }
      }),
      { numRuns: 200 },
    );
  });
});
