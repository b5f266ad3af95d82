import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Secret } from "../../../src/model/k8s.ts";
import { generateDefaultCertificate } from "../../../src/planes/ingress/certificates.ts";
import { Store } from "../../../src/store/store.ts";
import { IngressTranslator } from "../../../src/translate/ingress/translator.ts";
import { ing, NODE, OPTIONS, svc } from "./fixtures.ts";

/**
 * The change-driven ingress translator against a fresh one on a copy of the store, after every
 * change: the same table and the same problems in the same order. A small universe, so hosts and
 * paths collide between Ingresses, backends come and go, Secrets turn valid and invalid, and classes
 * change which Ingresses are ours.
 */
const pem = generateDefaultCertificate("incremental.test");
const secret = (name: string, valid: boolean): Secret => ({
  kind: "Secret",
  metadata: { namespace: "default", name },
  type: "kubernetes.io/tls",
  data: {
    "tls.crt": Buffer.from(pem.cert).toString("base64"),
    ...(valid ? { "tls.key": Buffer.from(pem.key).toString("base64") } : {}),
  },
});

const HOST = fc.constantFrom(undefined, "a.com", "b.com", "*.b.com", "Bad_Host");
const pathArb = fc.record({
  path: fc.constantFrom("/", "/x", "/x/", "/y", "/(a|b)"),
  pathType: fc.constantFrom("Prefix", "Exact", "ImplementationSpecific"),
  service: fc.constantFrom("s1", "s2", "gone"),
  port: fc.constantFrom<number | string>(80, "http", "nope"),
});
const op = fc.oneof(
  fc.record({
    kind: fc.constant("ingress" as const),
    name: fc.constantFrom("i1", "i2", "i3"),
    className: fc.constantFrom<string | null>("nodeplane", "other", null),
    rules: fc.array(fc.record({ host: HOST, paths: fc.array(pathArb, { minLength: 1, maxLength: 2 }) }), {
      maxLength: 2,
    }),
    defaultBackend: fc.constantFrom(undefined, "s1", "gone"),
    tls: fc.array(
      fc.record({
        hosts: fc.constantFrom<string[] | undefined>(undefined, ["a.com"], ["*.b.com", "b.com"]),
        secretName: fc.constantFrom(undefined, "good", "bad", "missing"),
      }),
      { maxLength: 2 },
    ),
    created: fc.constantFrom(undefined, "2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z"),
    redirect: fc.constantFrom(undefined, "false", "maybe"),
  }),
  fc.record({
    kind: fc.constant("service" as const),
    name: fc.constantFrom("s1", "s2"),
    ips: fc.array(fc.constantFrom("10.0.0.1", "10.0.0.2"), { maxLength: 2 }),
  }),
  fc.record({ kind: fc.constant("secret" as const), name: fc.constantFrom("good", "bad"), valid: fc.boolean() }),
  fc.record({ kind: fc.constant("class" as const), ours: fc.boolean(), isDefault: fc.boolean() }),
  fc.record({
    kind: fc.constant("delete" as const),
    what: fc.constantFrom("Ingress", "Service", "EndpointSlice", "Secret", "IngressClass") as fc.Arbitrary<
      "Ingress" | "Service" | "EndpointSlice" | "Secret" | "IngressClass"
    >,
    name: fc.constantFrom("i1", "s1", "good"),
  }),
);
type Op = typeof op extends fc.Arbitrary<infer T> ? T : never;

function applyOp(store: Store, o: Op): void {
  switch (o.kind) {
    case "ingress": {
      const obj = ing(
        o.name,
        { className: o.className, rules: o.rules, defaultBackend: o.defaultBackend, tls: o.tls },
        {
          ...(o.created ? { created: o.created } : {}),
          ...(o.redirect ? { annotations: { "nodeplane.dev/ssl-redirect": o.redirect } } : {}),
        },
      );
      store.upsert("Ingress", obj as never);
      return;
    }
    case "service":
      for (const obj of svc(o.name, o.ips)) store.upsert(obj.kind, obj as never);
      return;
    case "secret":
      store.upsert("Secret", secret(o.name, o.valid));
      return;
    case "class":
      store.upsert("IngressClass", {
        kind: "IngressClass",
        metadata: {
          name: "nodeplane",
          ...(o.isDefault ? { annotations: { "ingressclass.kubernetes.io/is-default-class": "true" } } : {}),
        },
        spec: { controller: o.ours ? OPTIONS.ingressController : "example.com/other" },
      });
      return;
    case "delete": {
      const key =
        o.what === "IngressClass"
          ? "nodeplane"
          : o.what === "EndpointSlice"
            ? `default/${o.name}-abc`
            : `default/${o.name}`;
      store.delete(o.what, key);
    }
  }
}

function fresh(store: Store) {
  const copy = new Store();
  for (const kind of ["IngressClass", "Secret", "Service", "EndpointSlice", "Ingress"] as const)
    for (const obj of store.list(kind)) copy.upsert(kind, structuredClone(obj) as never);
  return new IngressTranslator().translate(copy, OPTIONS, NODE);
}

describe("IngressTranslator: change-driven builds equal fresh builds (fast-check)", () => {
  it("after every change, also when built inside a batch", () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ ops: fc.array(op, { minLength: 1, maxLength: 3 }), inBatch: fc.boolean() }), {
          minLength: 1,
          maxLength: 15,
        }),
        (steps) => {
          const store = new Store();
          const translator = new IngressTranslator();
          translator.translate(store, OPTIONS, NODE);
          for (const step of steps) {
            let result = translator.translate(store, OPTIONS, NODE);
            if (step.inBatch)
              store.batch(() => {
                for (const o of step.ops) applyOp(store, o);
                result = translator.translate(store, OPTIONS, NODE);
              });
            else {
              for (const o of step.ops) applyOp(store, o);
              result = translator.translate(store, OPTIONS, NODE);
            }
            const expected = fresh(store);
            expect(result.snapshot).toEqual(expected.snapshot);
            expect(result.problems).toEqual(expected.problems);
          }
        },
      ),
      { numRuns: 120 },
    );
  });

  it("an endpoint change rebuilds only its Ingress's host; an unrelated change returns the same snapshot", () => {
    const store = new Store();
    for (const obj of [...svc("s1", ["10.0.0.1"]), ...svc("s2", ["10.0.0.2"])]) store.upsert(obj.kind, obj as never);
    store.upsert(
      "Ingress",
      ing("i1", { rules: [{ host: "a.com", paths: [{ path: "/", pathType: "Prefix", service: "s1" }] }] }) as never,
    );
    store.upsert(
      "Ingress",
      ing("i2", { rules: [{ host: "b.com", paths: [{ path: "/", pathType: "Prefix", service: "s2" }] }] }) as never,
    );
    const translator = new IngressTranslator();
    const first = translator.translate(store, OPTIONS, NODE).snapshot;
    store.upsert("ConfigMap" as never, { metadata: { name: "x" } } as never);
    store.upsert("Pod", { metadata: { namespace: "default", name: "p" } });
    expect(translator.translate(store, OPTIONS, NODE).snapshot).toBe(first);
    for (const obj of svc("s2", ["10.0.0.3"])) store.upsert(obj.kind, obj as never);
    const second = translator.translate(store, OPTIONS, NODE).snapshot;
    expect(second).not.toBe(first);
    expect(second.hosts[0]).toBe(first.hosts[0]);
    expect(second.hosts[1]!.routes[0]!.backend.endpoints).toEqual([{ ip: "10.0.0.3", port: 8080 }]);
  });
});
