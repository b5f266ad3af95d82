import { describe, expect, it } from "vitest";
import type { Kind, KindMap } from "../../../src/model/k8s.ts";
import { Store } from "../../../src/store/store.ts";
import { GatewayTranslator } from "../../../src/translate/gateway/translator.ts";
import { translateOptions } from "../../support/options.ts";

const NODE = { name: "node-a", addresses: ["192.168.1.10"], nodePortAddresses: [] };

/** Objects of the wrong shape, as a manifest or an old CRD may let through: each may fail only itself. */
const HOSTILE: [Kind, unknown][] = [
  [
    "Gateway",
    { metadata: { name: "listeners-object", namespace: "x" }, spec: { gatewayClassName: "np", listeners: { a: 1 } } },
  ],
  [
    "Gateway",
    { metadata: { name: "listener-null", namespace: "x" }, spec: { gatewayClassName: "np", listeners: [null, 7] } },
  ],
  [
    "Gateway",
    {
      metadata: { name: "odd-fields", namespace: "x" },
      spec: {
        gatewayClassName: "np",
        addresses: "10.0.0.1",
        listeners: [
          { name: "h", port: "80", protocol: "HTTP", hostname: 42 },
          {
            name: "k",
            port: 81,
            protocol: "HTTP",
            allowedRoutes: {
              kinds: "HTTPRoute",
              namespaces: { from: "Selector", selector: { matchLabels: "x", matchExpressions: {} } },
            },
          },
          { name: "t", port: 443, protocol: "HTTPS", tls: { certificateRefs: [null, { name: 5 }] } },
        ],
      },
    },
  ],
  ["HTTPRoute", { metadata: { name: "parents-object", namespace: "default" }, spec: { parentRefs: { name: "gw" } } }],
  [
    "HTTPRoute",
    {
      metadata: { name: "parent-null", namespace: "default" },
      spec: { parentRefs: [null, { name: "gw" }], hostnames: "a.com" },
    },
  ],
  [
    "HTTPRoute",
    {
      metadata: { name: "rules-odd", namespace: "default" },
      spec: { parentRefs: [{ name: "gw" }], hostnames: [5], rules: { x: 1 } },
    },
  ],
  [
    "TCPRoute",
    {
      metadata: { name: "tcp-odd", namespace: "default" },
      spec: { parentRefs: [{ name: "gw" }], rules: [{ backendRefs: [null, { name: {} }] }] },
    },
  ],
  ["GatewayClass", { metadata: { name: "odd-class" }, spec: { controllerName: ["x"] } }],
];

/** GatewayClass np (ours) and Gateway default/gw of that class with `listeners`. */
function upsertGateway(store: Store, listeners: { name: string; port: number; protocol: string }[]): void {
  store.upsert("GatewayClass", {
    metadata: { name: "np" },
    spec: { controllerName: "nodeplane.dev/gateway-controller" },
  });
  store.upsert("Gateway", {
    metadata: { name: "gw", namespace: "default" },
    spec: { gatewayClassName: "np", listeners },
  });
}

describe("GatewayTranslator: hostile shapes", () => {
  it("never throws, and a good Gateway and Route beside the broken objects are still served", () => {
    const store = new Store();
    store.batch(() => {
      upsertGateway(store, [{ name: "tcp", port: 9000, protocol: "TCP" }]);
      store.upsert("Service", { metadata: { name: "svc", namespace: "default" }, spec: { ports: [{ port: 80 }] } });
      store.upsert("TCPRoute", {
        metadata: { name: "good", namespace: "default" },
        spec: { parentRefs: [{ name: "gw" }], rules: [{ backendRefs: [{ name: "svc", port: 80 }] }] },
      });
      for (const [kind, obj] of HOSTILE) store.upsert(kind, obj as KindMap[typeof kind] as never);
    });
    const { snapshot, problems } = new GatewayTranslator().translate(store, translateOptions(), NODE);
    const tcp = snapshot.l4.find((s) => s.id === "127.0.0.1:9000/TCP");
    expect(tcp?.route?.name).toBe("good");
    expect(tcp?.backends[0]?.target?.service).toBe("svc");
    const good = snapshot.status.routes.find((r) => r.name === "good")!;
    expect(good.parents[0]!.conditions[0]).toMatchObject({ type: "Accepted", status: "True" });
    // every broken Gateway has a status and at least one Problem naming it
    for (const name of ["listeners-object", "odd-fields"]) {
      expect(snapshot.status.gateways.some((g) => g.name === name)).toBe(true);
    }
    expect(problems.some((p) => p.name === "odd-fields" && p.field?.startsWith("spec.listeners[0]"))).toBe(true);
    expect(problems.some((p) => p.name === "rules-odd" && p.field === "spec.hostnames[0]")).toBe(true);
  });
});

describe("GatewayTranslator: a parentRef listed twice", () => {
  it("gets one status entry, and the Route counts once on the listener", () => {
    const store = new Store();
    store.batch(() => {
      upsertGateway(store, [{ name: "http", port: 8080, protocol: "HTTP" }]);
      store.upsert("HTTPRoute", {
        metadata: { name: "twice", namespace: "default" },
        spec: {
          parentRefs: [{ name: "gw" }, { name: "gw", namespace: "default" }, { name: "gw", sectionName: "http" }],
        },
      });
    });
    const { snapshot } = new GatewayTranslator().translate(store, translateOptions(), NODE);
    expect(snapshot.status.routes[0]!.parents.map((p) => p.parentRef)).toEqual([
      { name: "gw" },
      { name: "gw", sectionName: "http" },
    ]);
    expect(snapshot.status.gateways[0]!.listeners[0]!.attachedRoutes).toBe(1);
  });
});
