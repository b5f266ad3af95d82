import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import type { Kind, KindMap } from "../../../src/model/k8s.ts";
import type { NodeSnapshot } from "../../../src/snapshot/snapshot.ts";
import { objectKey, Store } from "../../../src/store/store.ts";
import { GatewayTranslator } from "../../../src/translate/gateway/translator.ts";
import { translateOptions } from "../../support/options.ts";

const FIXTURES = join(import.meta.dirname, "..", "fixtures", "gateway");
const NODE: NodeSnapshot = {
  name: "node-a",
  zone: "zone-a",
  addresses: ["192.168.1.10", "fd00::10"],
  nodePortAddresses: ["192.168.1.10", "fd00::10"],
};
const OPTIONS = translateOptions();

type Obj = { kind: Kind } & KindMap[Kind];

function objects(yamlText: string): Obj[] {
  return parseAllDocuments(yamlText)
    .map((d) => d.toJS() as Obj | null)
    .filter((o): o is Obj => o !== null)
    .map((o) => ({ ...o, metadata: { namespace: "default", ...o.metadata } }) as Obj);
}

function fixture(name: string): Obj[] {
  return objects(readFileSync(join(FIXTURES, name, "input.yaml"), "utf8"));
}

function storeWith(list: readonly Obj[]): Store {
  const store = new Store();
  store.batch(() => {
    for (const o of list) store.upsert(o.kind, o as never);
  });
  return store;
}

function key(o: Obj): string {
  return objectKey(o.kind, o.metadata?.namespace, o.metadata?.name);
}

/** A deterministic shuffle (no randomness in tests): rotate, then interleave from both ends. */
function permutations(list: readonly Obj[]): Obj[][] {
  const reversed = [...list].reverse();
  const rotated = [...list.slice(3), ...list.slice(0, 3)];
  const interleaved: Obj[] = [];
  for (let i = 0, j = list.length - 1; i <= j; i++, j--) {
    interleaved.push(list[i]!);
    if (i !== j) interleaved.push(list[j]!);
  }
  return [reversed, rotated, interleaved];
}

describe("GatewayTranslator: determinism", () => {
  it.each([
    "gateway-http-listener-isolation-with-hostname-intersection",
    "httproute-hostname-intersection",
    "own-gateways-share-a-socket",
    "own-https-sni-and-selector",
    "tcproute-multiple-routes-attachment",
    "tlsroute-hostname-intersection",
  ])("%s: the same snapshot and problems whatever order the store lists the objects in", (name) => {
    const list = fixture(name);
    const plain = (store: Store) => JSON.parse(JSON.stringify(new GatewayTranslator().translate(store, OPTIONS, NODE)));
    const reference = plain(storeWith(list));
    for (const order of permutations(list)) expect(plain(storeWith(order))).toEqual(reference);
  });
});

describe("GatewayTranslator: memo", () => {
  it("returns the very same snapshot and problems when nothing changed, or only what no Gateway or Route names", () => {
    const store = storeWith(fixture("own-broken-route-isolated"));
    const translator = new GatewayTranslator();
    const first = translator.translate(store, OPTIONS, NODE);
    expect(translator.translate(store, OPTIONS, NODE)).toBe(first);
    store.upsert("Service", { metadata: { name: "unrelated", namespace: "apps" }, spec: { ports: [{ port: 1 }] } });
    store.upsert("Secret", { metadata: { name: "unrelated", namespace: "apps" } });
    const again = translator.translate(store, OPTIONS, NODE);
    expect(again.snapshot).toBe(first.snapshot);
    expect(again.problems).toBe(first.problems);
  });

  it("a relevant change that changes nothing keeps the same objects (sockets, status, problems)", () => {
    const list = fixture("own-gateways-share-a-socket");
    const store = storeWith(list);
    const translator = new GatewayTranslator();
    const first = translator.translate(store, OPTIONS, NODE);
    // a label on a Namespace no listener selects by: rebuilt, and equal
    store.upsert("Namespace", { metadata: { name: "a", labels: { x: "y" } } });
    const second = translator.translate(store, OPTIONS, NODE);
    expect(second.snapshot).toBe(first.snapshot);
    expect(second.problems).toBe(first.problems);
  });

  it("sockets that did not change keep their identity when another one changes", () => {
    const list = fixture("own-gateways-share-a-socket");
    const store = storeWith(list);
    const translator = new GatewayTranslator();
    const first = translator.translate(store, OPTIONS, NODE).snapshot;
    const route = list.find((o) => o.kind === "HTTPRoute" && o.metadata?.name === "cart")!;
    store.upsert("HTTPRoute", {
      ...route,
      spec: { ...(route as KindMap["HTTPRoute"]).spec, hostnames: ["shop.example.com"] },
    } as never);
    store.delete("Gateway", "c/mixed");
    const second = translator.translate(store, OPTIONS, NODE).snapshot;
    expect(second).not.toBe(first);
    const port81 = (s: typeof first) => s.http.find((x) => x.id === "127.0.0.1:81");
    expect(port81(second)).toBe(port81(first));
  });

  it("a changed Route changes its virtual host only: the others, and unchanged Routes' rules, keep their identity", () => {
    const list = fixture("gateway-http-listener-isolation");
    const store = storeWith(list);
    const translator = new GatewayTranslator();
    const hosts = () => translator.translate(store, OPTIONS, NODE).snapshot.http[0]!.hosts;
    const before = hosts();
    const route = list.find((o) => o.kind === "HTTPRoute" && o.metadata?.name === "attaches-to-abc-foo-example-com")!;
    const spec = (route as KindMap["HTTPRoute"]).spec!;
    const rules = spec.rules!.map((r) => ({ ...r, matches: [{ path: { type: "Exact" as const, value: "/only" } }] }));
    store.upsert("HTTPRoute", {
      ...route,
      metadata: { ...route.metadata, generation: 2 },
      spec: { ...spec, rules },
    } as never);
    const after = hosts();
    expect(after).not.toBe(before);
    for (const vhost of after) {
      const old = before.find((h) => h.host === vhost.host)!;
      if (vhost.host === "abc.foo.example.com") expect(vhost).not.toBe(old);
      else expect(vhost).toBe(old);
    }
    // a Service change a Route does not name leaves every compiled rule as it was
    store.upsert("Service", {
      metadata: { name: "other", namespace: "gateway-conformance-infra" },
      spec: { ports: [{ port: 1 }] },
    });
    expect(hosts()).toBe(after);
  });

  it("rebuilds when a Service a Route names appears: no stale ResolvedRefs survives the fix", () => {
    const store = storeWith(fixture("tcproute-invalid-backendref-nonexistent"));
    const translator = new GatewayTranslator();
    const resolved = () =>
      translator
        .translate(store, OPTIONS, NODE)
        .snapshot.status.routes[0]!.parents[0]!.conditions.find((c) => c.type === "ResolvedRefs")!;
    expect(resolved()).toMatchObject({ status: "False", reason: "BackendNotFound" });
    store.upsert("Service", {
      metadata: { name: "nonexistent-service", namespace: "gateway-conformance-infra" },
      spec: { ports: [{ port: 8080 }] },
    });
    expect(resolved()).toMatchObject({ status: "True", reason: "ResolvedRefs" });
    expect(translator.translate(store, OPTIONS, NODE).snapshot.l4[0]!.backends[0]!.target?.service).toBe(
      "nonexistent-service",
    );
  });

  it("a ReferenceGrant added later lets the cross-namespace certificate through (gateway-secret-missing-reference-grant fixed)", () => {
    const store = storeWith(fixture("gateway-secret-missing-reference-grant"));
    const translator = new GatewayTranslator();
    const listener = () => translator.translate(store, OPTIONS, NODE).snapshot.status.gateways[0]!.listeners[0]!;
    expect(listener().conditions.find((c) => c.type === "ResolvedRefs")).toMatchObject({ reason: "RefNotPermitted" });
    store.upsert("ReferenceGrant", {
      metadata: { name: "allow", namespace: "gateway-conformance-web-backend" },
      spec: {
        from: [{ group: "gateway.networking.k8s.io", kind: "Gateway", namespace: "gateway-conformance-infra" }],
        to: [{ group: "", kind: "Secret" }],
      },
    });
    expect(listener().conditions.find((c) => c.type === "ResolvedRefs")).toMatchObject({ status: "True" });
    expect(translator.translate(store, OPTIONS, NODE).snapshot.http).toHaveLength(1);
  });

  it("a listener added to a Gateway is served and its routes attach (GatewayModifyListeners)", () => {
    const list = fixture("gateway-modify-listeners");
    const store = storeWith(list);
    const translator = new GatewayTranslator();
    const before = translator.translate(store, OPTIONS, NODE).snapshot;
    const gw = list.find(
      (o) => o.kind === "Gateway" && o.metadata?.name === "gateway-add-listener",
    ) as KindMap["Gateway"] & Obj;
    const listeners = [...(gw.spec?.listeners ?? []), { name: "http", port: 80, protocol: "HTTP" }];
    store.upsert("Gateway", { ...gw, metadata: { ...gw.metadata, generation: 2 }, spec: { ...gw.spec, listeners } });
    const after = translator.translate(store, OPTIONS, NODE).snapshot;
    expect(after).not.toBe(before);
    const status = after.status.gateways.find((g) => g.name === "gateway-add-listener")!;
    expect(status.listeners.map((l) => [l.name, l.attachedRoutes])).toEqual([
      ["https", 1],
      ["http", 1],
    ]);
    expect(status.conditions.every((c) => c.observedGeneration === 2)).toBe(true);
  });

  it("a different --gateway-address rebinds", () => {
    const store = storeWith(fixture("own-broken-route-isolated"));
    const translator = new GatewayTranslator();
    expect(translator.translate(store, OPTIONS, NODE).snapshot.http[0]!.id).toBe("127.0.0.1:8080");
    const moved = translator.translate(store, { ...OPTIONS, gatewayAddress: "::1" }, NODE).snapshot;
    expect(moved.http[0]!.id).toBe("[::1]:8080");
  });

  it("deleting every object empties the part", () => {
    const list = fixture("own-broken-route-isolated");
    const store = storeWith(list);
    const translator = new GatewayTranslator();
    expect(translator.translate(store, OPTIONS, NODE).snapshot.http).toHaveLength(1);
    store.batch(() => {
      for (const o of list) store.delete(o.kind, key(o));
    });
    const empty = translator.translate(store, OPTIONS, NODE);
    expect(empty.snapshot).toMatchObject({
      http: [],
      l4: [],
      status: { gatewayClasses: [], gateways: [], routes: [] },
    });
    expect(empty.problems).toEqual([]);
  });
});
