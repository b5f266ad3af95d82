import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { KubeClient } from "../../src/kube/client.ts";
import { silentLogger } from "../../src/log.ts";
import type { Condition, GatewayApiStatus } from "../../src/model/gateway.ts";
import type { GatewaySnapshot } from "../../src/snapshot/gateway.ts";
import { KubeSource } from "../../src/source/kube/source.ts";
import { GatewayStatusReconciler, withBindReports } from "../../src/status/gateway.ts";
import { KubeStatusWriter } from "../../src/status/kube.ts";
import { Store } from "../../src/store/store.ts";
import { type KubeObject, TestApiServer } from "../fixtures/apiserver.ts";
import { clusterConfig, waitFor } from "../fixtures/cluster.ts";

const OURS = "nodeplane.dev/gateway-controller";
const FAST_RETRY = { initialMs: 20, maxMs: 200 };

const cond = (type: string, status: Condition["status"], reason = type, generation = 1): Condition => ({
  type,
  status,
  reason,
  message: "",
  observedGeneration: generation,
});

const theirs = {
  parentRef: { name: "their-gw" },
  controllerName: "example.com/other",
  conditions: [{ ...cond("Accepted", "True"), lastTransitionTime: "2025-06-01T00:00:00Z" }],
};

function routeStatus(accepted: Condition["status"], generation = 1): GatewayApiStatus {
  return {
    kind: "HTTPRoute",
    status: {
      parents: [
        {
          parentRef: { name: "gw" },
          controllerName: OURS,
          conditions: [
            cond("Accepted", accepted, accepted === "True" ? "Accepted" : "NotAllowedByListeners", generation),
          ],
        },
      ],
    },
  };
}

type Parent = { controllerName: string; parentRef: { name: string }; conditions: Condition[] };

describe("KubeStatusWriter: Gateway API status through the status subresource", () => {
  let api: TestApiServer;
  let clock: Date;
  const cleanups: (() => Promise<void>)[] = [];

  beforeEach(async () => {
    api = new TestApiServer();
    await api.start();
    api.installGatewayApi();
    api.apply("gatewayclasses", { metadata: { name: "nodeplane" }, spec: { controllerName: OURS } });
    api.apply("gateways", {
      metadata: { name: "gw", namespace: "default", generation: 1 },
      spec: { gatewayClassName: "nodeplane", listeners: [{ name: "http", port: 80, protocol: "HTTP" }] },
    });
    api.apply("httproutes", {
      metadata: { name: "web", namespace: "default", generation: 1 },
      spec: { parentRefs: [{ name: "gw" }, { name: "their-gw" }] },
      status: { parents: [theirs] },
    });
    clock = new Date("2026-01-01T00:00:00Z");
  });

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    await api.stop();
  });

  async function instance(leader: { value: boolean }) {
    const client = new KubeClient(api.kubeConfig());
    const store = new Store();
    const source = new KubeSource(clusterConfig(), silentLogger, { client, backoff: FAST_RETRY });
    await source.start(store);
    const writer = new KubeStatusWriter({
      client,
      store,
      logger: silentLogger,
      isLeader: () => leader.value,
      retryBackoff: FAST_RETRY,
      gatewayController: OURS,
      now: () => clock,
    });
    cleanups.push(async () => {
      await writer.close();
      await source.stop();
      await client.close();
    });
    return { writer, store };
  }

  const statusWrites = (resource: string) =>
    api.requests.filter((r) => r.resource === `${resource}/status` && r.verb === "update");
  const parents = (): Parent[] =>
    (api.get("httproutes", "default", "web")?.status as { parents?: Parent[] } | undefined)?.parents ?? [];

  it("the leader merges ours with other controllers' parents, keeps lastTransitionTime, writes only on change", async () => {
    const leader = { value: false };
    const { writer } = await instance(leader);
    await writer.setGatewayApiStatus("default", "web", routeStatus("True"));
    await writer.whenIdle();
    expect(statusWrites("httproutes")).toHaveLength(0); // not the leader: remembered, not written

    leader.value = true;
    writer.leadershipChanged(true);
    await waitFor("route status written", () => parents().length === 2);
    expect(parents()[0]).toEqual(theirs);
    expect(parents()[1]).toEqual({
      parentRef: { name: "gw" },
      controllerName: OURS,
      conditions: [{ ...cond("Accepted", "True"), lastTransitionTime: "2026-01-01T00:00:00Z" }],
    });
    expect(statusWrites("httproutes")).toHaveLength(1);

    // the same again, later: nothing written (the time would not change)
    clock = new Date("2026-01-01T00:05:00Z");
    await writer.setGatewayApiStatus("default", "web", routeStatus("True"));
    await writer.whenIdle();
    expect(statusWrites("httproutes")).toHaveLength(1);

    // a new generation with the same status: written, time kept
    await writer.setGatewayApiStatus("default", "web", routeStatus("True", 2));
    await waitFor("generation 2", () => parents()[1]!.conditions[0]!.observedGeneration === 2);
    expect(parents()[1]!.conditions[0]!.lastTransitionTime).toBe("2026-01-01T00:00:00Z");

    // the status flips: time set
    await writer.setGatewayApiStatus("default", "web", routeStatus("False", 2));
    await waitFor("flipped", () => parents()[1]!.conditions[0]!.status === "False");
    expect(parents()[1]!.conditions[0]!.lastTransitionTime).toBe("2026-01-01T00:05:00Z");
    expect(parents()[0]).toEqual(theirs);

    // no longer ours: our entry removed, theirs kept, and then the route is forgotten
    await writer.setGatewayApiStatus("default", "web", { kind: "HTTPRoute", status: { parents: [] } });
    await waitFor("ours removed", () => parents().length === 1);
    expect(parents()).toEqual([theirs]);
    await writer.whenIdle();
    expect(writer.gatewayApiStatus("HTTPRoute", "default", "web")).toBeUndefined();
  });

  it("someone else's write in between (409): re-read, merged with theirs, written", async () => {
    const { writer } = await instance({ value: true });
    let raced = false;
    api.beforeHandle = (request) => {
      if (raced || request.resource !== "httproutes/status" || request.verb !== "update") return;
      raced = true;
      const current = api.get("httproutes", "default", "web")!;
      const another = { ...theirs, parentRef: { name: "third-gw" }, controllerName: "example.com/third" };
      api.apply("httproutes", { ...current, status: { parents: [theirs, another] } } as KubeObject);
    };
    await writer.setGatewayApiStatus("default", "web", routeStatus("True"));
    await waitFor("written after the conflict", () => parents().length === 3);
    expect(api.requests.filter((r) => r.resource === "httproutes/status" && r.status === 409)).toHaveLength(1);
    expect(parents().map((p) => p.controllerName)).toEqual(["example.com/other", "example.com/third", OURS]);
  });

  it("deleted and created again before the next snapshot: the new object gets our status all the same", async () => {
    const { writer, store } = await instance({ value: true });
    await writer.setGatewayApiStatus("default", "web", routeStatus("True"));
    await waitFor("written", () => parents().length === 2);
    const { status: _s, ...spec } = api.get("httproutes", "default", "web")!;
    api.remove("httproutes", "default", "web");
    await waitFor("deletion seen", () => store.get("HTTPRoute", "default/web") === undefined);
    api.apply("httproutes", { ...spec, metadata: { name: "web", namespace: "default", generation: 1 } } as KubeObject);
    await waitFor("written to the new object", () => parents().length === 1 && parents()[0]!.controllerName === OURS);
    expect(statusWrites("httproutes")).toHaveLength(2);
  });

  it("drift: another writer removes our entry, the leader puts it back", async () => {
    const { writer } = await instance({ value: true });
    await writer.setGatewayApiStatus("default", "web", routeStatus("True"));
    await waitFor("written", () => parents().length === 2);
    const current = api.get("httproutes", "default", "web")!;
    api.apply("httproutes", { ...current, status: { parents: [theirs] } } as KubeObject);
    await waitFor("put back", () => parents().length === 2);
    expect(statusWrites("httproutes")).toHaveLength(2);
  });

  it("a Gateway that left our class is not written, nor put back when its new controller writes", async () => {
    api.apply("gatewayclasses", { metadata: { name: "other" }, spec: { controllerName: "example.com/other" } });
    const { writer, store } = await instance({ value: true });
    const gatewayStatus: GatewayApiStatus = {
      kind: "Gateway",
      status: { conditions: [cond("Accepted", "True")], listeners: [] },
    };
    await writer.setGatewayApiStatus("default", "gw", gatewayStatus);
    await waitFor("written", () => statusWrites("gateways").length === 1);
    const current = api.get("gateways", "default", "gw")!;
    // moved to another class, whose controller then writes its own status
    api.apply("gateways", {
      ...current,
      spec: { ...(current.spec as object), gatewayClassName: "other" },
    } as KubeObject);
    await waitFor("class change seen", () => store.get("Gateway", "default/gw")?.spec?.gatewayClassName === "other");
    api.apply("gateways", { ...api.get("gateways", "default", "gw")!, status: { conditions: [] } } as KubeObject);
    await waitFor(
      "their status seen",
      () => (store.get("Gateway", "default/gw")?.status?.conditions ?? [1]).length === 0,
    );
    await writer.whenIdle();
    await new Promise((r) => setTimeout(r, 200));
    await writer.whenIdle();
    expect(statusWrites("gateways")).toHaveLength(1);
    expect(api.get("gateways", "default", "gw")!.status).toEqual({ conditions: [] });
    expect(writer.gatewayApiStatus("Gateway", "default", "gw")).toBeUndefined();
  });

  it("the reconciler through the writer: GatewayClass, Gateway with a bind failure, cluster-scoped paths", async () => {
    const { writer } = await instance({ value: true });
    const reconciler = new GatewayStatusReconciler(writer, silentLogger, OURS);
    const planes = withBindReports(writer, reconciler);
    const snapshot: GatewaySnapshot = {
      http: [
        {
          id: "0.0.0.0:80",
          address: "0.0.0.0",
          port: 80,
          protocol: "HTTP",
          listeners: [{ namespace: "default", gateway: "gw", listener: "http" }],
          hosts: [],
          certificates: [],
        },
      ],
      l4: [],
      status: {
        gatewayClasses: [{ name: "nodeplane", conditions: [cond("Accepted", "True")], supportedFeatures: ["Gateway"] }],
        gateways: [
          {
            namespace: "default",
            name: "gw",
            addresses: [{ type: "IPAddress", value: "172.18.0.2" }],
            conditions: [cond("Accepted", "True"), cond("Programmed", "True")],
            listeners: [
              {
                name: "http",
                attachedRoutes: 0,
                supportedKinds: [{ group: "gateway.networking.k8s.io", kind: "HTTPRoute" }],
                conditions: [cond("Accepted", "True"), cond("Programmed", "True")],
              },
            ],
          },
        ],
        routes: [],
      },
    };
    await reconciler.apply(snapshot);
    await writer.whenIdle();
    await waitFor(
      "class written",
      () => (api.get("gatewayclasses", undefined, "nodeplane")?.status as object) !== undefined,
    );
    expect(api.get("gatewayclasses", undefined, "nodeplane")?.status).toEqual({
      conditions: [{ ...cond("Accepted", "True"), lastTransitionTime: "2026-01-01T00:00:00Z" }],
      supportedFeatures: [{ name: "Gateway" }],
    });
    expect(api.requests.some((r) => r.resource === "gatewayclasses/status" && r.namespace === undefined)).toBe(true);
    clock = new Date("2026-01-01T00:01:00Z");
    planes.reportGatewayBind?.("0.0.0.0:80", "listen EACCES: permission denied 0.0.0.0:80");
    await reconciler.whenIdle();
    const gatewayStatus = () =>
      api.get("gateways", "default", "gw")?.status as {
        conditions: Condition[];
        listeners: { conditions: Condition[] }[];
      };
    await waitFor(
      "bind failure written",
      () => gatewayStatus()?.listeners[0]?.conditions[0]?.reason === "PortUnavailable",
    );
    expect(gatewayStatus().listeners[0]!.conditions).toEqual([
      {
        ...cond("Accepted", "False", "PortUnavailable"),
        message: "listen EACCES: permission denied 0.0.0.0:80",
        lastTransitionTime: "2026-01-01T00:01:00Z",
      },
      {
        ...cond("Programmed", "False", "Invalid"),
        message: "listen EACCES: permission denied 0.0.0.0:80",
        lastTransitionTime: "2026-01-01T00:01:00Z",
      },
    ]);
    expect(gatewayStatus().conditions.find((c) => c.type === "Programmed")).toMatchObject({
      status: "False",
      reason: "Invalid",
    });
    expect(statusWrites("gateways")).toHaveLength(2);
  });
});
