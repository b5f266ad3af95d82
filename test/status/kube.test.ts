import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { KubeClient } from "../../src/kube/client.ts";
import { LoadBalancerAllocator } from "../../src/lbipam/controller.ts";
import { LeaderElector } from "../../src/leader/elector.ts";
import { silentLogger } from "../../src/log.ts";
import type { Ingress, Service } from "../../src/model/k8s.ts";
import { KubeSource } from "../../src/source/kube/source.ts";
import { IngressAddressTracker, readyNodeAddresses } from "../../src/status/addresses.ts";
import { KubeStatusWriter } from "../../src/status/kube.ts";
import { Store } from "../../src/store/store.ts";
import { TestApiServer } from "../fixtures/apiserver.ts";
import { clusterConfig, ingress, node, service, waitFor } from "../fixtures/cluster.ts";

const TIMING = { leaseDurationMs: 1000, renewDeadlineMs: 600, retryPeriodMs: 100 };
const FAST_RETRY = { initialMs: 20, maxMs: 200 };

describe("status writers against the test API server", () => {
  let api: TestApiServer;
  const cleanups: (() => Promise<void> | void)[] = [];

  beforeEach(async () => {
    api = new TestApiServer();
    await api.start();
    api.apply("ingresses", ingress("default", "web"));
    api.apply("services", service("default", "web"));
  });

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    await api.stop();
  });

  /** One nodeplane instance's cluster half: its own connection, watch-fed store and status writer. */
  async function instance(
    user: string,
    leader: { value: boolean } | (() => boolean),
    tracker?: (client: KubeClient) => IngressAddressTracker,
  ) {
    const client = new KubeClient(api.kubeConfig(api.addUser(user)));
    const store = new Store();
    const source = new KubeSource(clusterConfig(), silentLogger, { client, backoff: FAST_RETRY });
    await source.start(store);
    const isLeader = typeof leader === "function" ? leader : () => leader.value;
    const addresses = tracker?.(client);
    const writer = new KubeStatusWriter({
      client,
      store,
      logger: silentLogger,
      isLeader,
      retryBackoff: FAST_RETRY,
      ...(addresses ? { ingressAddresses: addresses } : {}),
    });
    cleanups.push(async () => {
      await addresses?.stop();
      await writer.close();
      await source.stop();
      await client.close();
    });
    return { client, store, source, writer, addresses };
  }

  const ingressIPs = () =>
    ((api.get("ingresses", "default", "web") as Ingress).status?.loadBalancer?.ingress ?? []).map((i) => i.ip);
  const serviceIPs = (name = "web") =>
    ((api.get("services", "default", name) as Service | undefined)?.status?.loadBalancer?.ingress ?? []).map(
      (i) => i.ip,
    );

  it("writes Ingress and Service status through the status subresource, once", async () => {
    const { writer } = await instance("node-a", { value: true });
    await writer.setIngressStatus("default", "web", [{ ip: "172.18.0.2" }]);
    await writer.setServiceStatus("default", "web", [{ ip: "192.168.50.1" }]);
    await waitFor("written", () => ingressIPs()[0] === "172.18.0.2" && serviceIPs()[0] === "192.168.50.1");
    // the spec is untouched and nothing else was written
    expect((api.get("ingresses", "default", "web") as Ingress).spec?.rules?.[0]?.host).toBe("web.example.com");
    const writes = api.requests.filter((r) => r.verb === "update");
    expect(writes.map((r) => r.resource).sort()).toEqual(["ingresses/status", "services/status"]);

    // the same status again: the store already shows it, so no request at all
    await waitFor("store caught up", () => writer.ingressStatus("default", "web")?.[0]?.ip === "172.18.0.2");
    const before = api.requests.length;
    await writer.setIngressStatus("default", "web", [{ ip: "172.18.0.2" }]);
    await writer.whenIdle();
    expect(api.requests.length).toBe(before);
  });

  it("retries on 409 Conflict with the fresh object", async () => {
    const { writer } = await instance("node-a", { value: true });
    let raced = false;
    api.beforeHandle = (request) => {
      if (raced || request.verb !== "update" || request.resource !== "ingresses/status") return;
      raced = true; // someone else changes the Ingress between our get and our update
      api.apply("ingresses", {
        ...ingress("default", "web"),
        metadata: { name: "web", namespace: "default", labels: { edited: "yes" } },
      });
    };
    await writer.setIngressStatus("default", "web", [{ ip: "172.18.0.2" }]);
    await waitFor("written after a conflict", () => ingressIPs()[0] === "172.18.0.2");
    const updates = api.requests.filter((r) => r.resource === "ingresses/status" && r.verb === "update");
    expect(updates.map((r) => r.status)).toEqual([409, 200]);
    expect((api.get("ingresses", "default", "web") as Ingress).metadata?.labels).toEqual({ edited: "yes" });
  });

  it("a non-leader only remembers; it writes when it becomes leader", async () => {
    const leader = { value: false };
    const { writer } = await instance("node-a", leader);
    await writer.setIngressStatus("default", "web", [{ ip: "172.18.0.2" }]);
    await writer.whenIdle();
    expect(api.requests.some((r) => r.resource.endsWith("/status"))).toBe(false);
    expect(writer.ingressStatus("default", "web")).toEqual([{ ip: "172.18.0.2" }]);
    leader.value = true;
    writer.leadershipChanged(true);
    await waitFor("written by the new leader", () => ingressIPs()[0] === "172.18.0.2");
  });

  it("puts back a status someone else changed, clears on request, and forgets deleted objects", async () => {
    const { writer, store } = await instance("node-a", { value: true });
    await writer.setIngressStatus("default", "web", [{ ip: "172.18.0.2" }]);
    await waitFor("written", () => ingressIPs()[0] === "172.18.0.2");
    const current = api.get("ingresses", "default", "web")!;
    api.apply("ingresses", { ...current, status: { loadBalancer: { ingress: [{ ip: "10.0.0.99" }] } } });
    await waitFor("drift corrected", () => ingressIPs()[0] === "172.18.0.2" && ingressIPs().length === 1);

    await writer.setIngressStatus("default", "web", []);
    await waitFor("cleared", () => ingressIPs().length === 0);
    await waitFor(
      "store saw the clear",
      () => (store.get("Ingress", "default/web")?.status?.loadBalancer?.ingress ?? []).length === 0,
    );
    expect(writer.ingressStatus("default", "web")).toBeUndefined();

    await writer.setServiceStatus("default", "web", [{ ip: "192.168.50.1" }]);
    api.remove("services", "default", "web");
    await waitFor("forgotten", () => writer.serviceStatus("default", "web") === undefined);
    await writer.whenIdle();
  });

  it("two instances: only the leader writes, and the other takes over when it stops", async () => {
    const make = async (identity: string, address: string) => {
      const electorBox: { elector?: LeaderElector } = {};
      const inst = await instance(identity, () => electorBox.elector?.isLeader() ?? false);
      const elector = new LeaderElector({
        client: inst.client,
        namespace: "nodeplane-system",
        name: "nodeplane",
        identity,
        logger: silentLogger,
        ...TIMING,
      });
      electorBox.elector = elector;
      elector.onChange((leader) => inst.writer.leadershipChanged(leader));
      cleanups.push(() => elector.stop());
      // each instance's ingress plane asks for its own node's address
      await inst.writer.setIngressStatus("default", "web", [{ ip: address }]);
      return { ...inst, elector };
    };
    const a = await make("pod-a", "172.18.0.2");
    const b = await make("pod-b", "172.18.0.3");
    a.elector.start();
    await waitFor("pod-a leads", () => a.elector.isLeader());
    b.elector.start();
    await waitFor("pod-a's status", () => ingressIPs()[0] === "172.18.0.2");
    await waitFor(
      "pod-b campaigned",
      () => api.requests.filter((r) => r.user === "pod-b" && r.resource === "leases").length >= 5,
    );
    expect(api.requests.filter((r) => r.user === "pod-b" && r.resource.endsWith("/status"))).toEqual([]);

    await a.elector.stop({ release: false });
    await waitFor("pod-b leads", () => b.elector.isLeader(), 10 * TIMING.leaseDurationMs);
    await waitFor("pod-b's status", () => ingressIPs().join() === "172.18.0.3");
    const statusWriters = new Set(
      api.requests.filter((r) => r.verb === "update" && r.resource.endsWith("/status")).map((r) => r.user),
    );
    expect([...statusWriters].sort()).toEqual(["pod-a", "pod-b"]);
  });

  it("--lb-pool: the leader assigns, releases on delete and type change, and never touches another class", async () => {
    api.apply("services", service("default", "lb-a", { type: "LoadBalancer" }));
    api.apply(
      "services",
      service("default", "lb-other", { type: "LoadBalancer", loadBalancerClass: "example.com/other" }),
    );
    const { writer, store } = await instance("node-a", { value: true });
    const allocator = new LoadBalancerAllocator({
      store,
      status: writer,
      pools: ["192.168.50.0/30"], // .1 and .2
      logger: silentLogger,
      isLeader: () => true,
    });
    allocator.start();
    cleanups.push(() => allocator.stop());
    await waitFor("lb-a assigned", () => serviceIPs("lb-a")[0] === "192.168.50.1");

    api.apply("services", service("default", "lb-b", { type: "LoadBalancer", loadBalancerIP: "192.168.50.2" }));
    await waitFor("lb-b honoured", () => serviceIPs("lb-b")[0] === "192.168.50.2");
    api.apply("services", service("default", "lb-c", { type: "LoadBalancer" }));
    await waitFor("pool exhausted reported", () => allocator.problems().some((p) => p.name === "lb-c"));
    expect(serviceIPs("lb-c")).toEqual([]);

    api.remove("services", "default", "lb-a");
    await waitFor("released to lb-c", () => serviceIPs("lb-c")[0] === "192.168.50.1");

    const lbB = api.get("services", "default", "lb-b")!;
    api.apply("services", { ...lbB, spec: { ...(lbB.spec as object), type: "ClusterIP", loadBalancerIP: undefined } });
    await waitFor("cleared after type change", () => serviceIPs("lb-b").length === 0);

    await writer.whenIdle();
    expect(api.requests.some((r) => r.name === "lb-other" && r.resource === "services/status")).toBe(false);
    expect(serviceIPs("lb-other")).toEqual([]);
  });

  it("without --publish-address the leader writes the nodes where a nodeplane pod is ready", async () => {
    const pod = (name: string, nodeName: string, ready: boolean) => ({
      metadata: { name, namespace: "nodeplane-system", labels: { "app.kubernetes.io/name": "nodeplane" } },
      spec: { nodeName },
      status: { conditions: [{ type: "Ready", status: ready ? "True" : "False" }] },
    });
    api.apply("nodes", node("node-a", "172.18.0.2"));
    api.apply("nodes", node("node-b", "172.18.0.3"));
    api.apply("nodes", node("node-c", "172.18.0.4"));
    api.apply("pods", pod("nodeplane-a", "node-a", true));
    api.apply("pods", pod("nodeplane-b", "node-b", true));
    api.apply("pods", pod("nodeplane-c", "node-c", false));
    api.apply("pods", { ...pod("other", "node-c", true), metadata: { name: "other", namespace: "nodeplane-system" } });
    const { writer, addresses } = await instance(
      "node-a",
      { value: true },
      (client) =>
        new IngressAddressTracker({
          client,
          namespace: "nodeplane-system",
          labelSelector: "app.kubernetes.io/name=nodeplane",
          logger: silentLogger,
          backoff: FAST_RETRY,
        }),
    );
    // the ingress plane asks for its own node's address; the leader writes every ready node's
    await writer.setIngressStatus("default", "web", [{ ip: "172.18.0.2" }]);
    addresses!.start();
    await waitFor("two ready nodes", () => ingressIPs().join() === "172.18.0.2,172.18.0.3");
    expect(writer.ingressStatus("default", "web")).toEqual([{ ip: "172.18.0.2" }, { ip: "172.18.0.3" }]);
    // written once: the leader waited for the pod list before writing
    expect(api.requests.filter((r) => r.verb === "update" && r.resource === "ingresses/status")).toHaveLength(1);

    api.apply("pods", pod("nodeplane-c", "node-c", true));
    await waitFor("third node ready", () => ingressIPs().join() === "172.18.0.2,172.18.0.3,172.18.0.4");
    api.remove("pods", "nodeplane-system", "nodeplane-a");
    await waitFor("node-a gone", () => ingressIPs().join() === "172.18.0.3,172.18.0.4");
    const podCalls = api.requests.filter((r) => r.resource === "pods");
    for (const call of podCalls) {
      expect(call.namespace).toBe("nodeplane-system");
      expect(call.query.labelSelector).toBe("app.kubernetes.io/name=nodeplane");
    }
  });
});

describe("readyNodeAddresses", () => {
  const n = (name: string, addresses: [string, string][]) => ({
    metadata: { name },
    status: { addresses: addresses.map(([type, address]) => ({ type, address })) },
  });
  const p = (nodeName: string, ready: boolean, deleting = false) => ({
    metadata: { name: `p-${nodeName}`, ...(deleting ? { deletionTimestamp: "2024-01-01T00:00:00Z" } : {}) },
    spec: { nodeName },
    status: { conditions: [{ type: "Ready", status: ready ? "True" : "False" }] },
  });
  const nodes = [
    n("a", [
      ["InternalIP", "10.0.0.1"],
      ["Hostname", "a"],
    ]),
    n("b", [
      ["InternalIP", "10.0.0.2"],
      ["ExternalIP", "203.0.113.2"],
    ]),
    n("c", [
      ["InternalIP", "10.0.0.3"],
      ["InternalIP", "fd00::3"],
    ]),
  ];
  const table: [string, ReturnType<typeof p>[], string[]][] = [
    ["ready pods only, sorted", [p("c", true), p("a", true), p("b", false)], ["10.0.0.1", "10.0.0.3", "fd00::3"]],
    ["ExternalIP wins over InternalIP", [p("b", true)], ["203.0.113.2"]],
    ["terminating pods and unknown nodes are skipped", [p("a", true, true), p("zz", true)], []],
  ];
  for (const [name, pods, want] of table) it(name, () => expect(readyNodeAddresses(pods, nodes)).toEqual(want));
});
