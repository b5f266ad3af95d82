import { Writable } from "node:stream";
import pino from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { KubeClient } from "../../../src/kube/client.ts";
import { KubeSource } from "../../../src/source/kube/source.ts";
import { Store } from "../../../src/store/store.ts";
import { TestApiServer } from "../../fixtures/apiserver.ts";
import { clusterConfig, node, service, waitFor } from "../../fixtures/cluster.ts";

/** A logger whose lines the test reads. */
function capturingLogger() {
  const lines: { msg: string; level: number }[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString("utf8").split("\n").filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: pino({ level: "info" }, stream), lines };
}

const gateway = (namespace: string, name: string) => ({
  metadata: { name, namespace },
  spec: { gatewayClassName: "nodeplane", listeners: [{ name: "http", port: 8080, protocol: "HTTP" }] },
});

describe("KubeSource: Gateway API kinds through discovery", () => {
  let api: TestApiServer;
  const cleanups: (() => Promise<void>)[] = [];

  beforeEach(async () => {
    api = new TestApiServer();
    await api.start();
    api.apply("nodes", node("node-a", "127.0.0.1"));
    api.apply("services", service("default", "web"));
    api.apply("namespaces", { metadata: { name: "default", labels: { "kubernetes.io/metadata.name": "default" } } });
  });

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    await api.stop();
  });

  async function startSource(intervalMs = 50) {
    const { logger, lines } = capturingLogger();
    const client = new KubeClient(api.kubeConfig());
    const source = new KubeSource(clusterConfig(), logger, {
      client,
      backoff: { initialMs: 20, maxMs: 200 },
      gatewayDiscoveryIntervalMs: intervalMs,
    });
    const store = new Store();
    cleanups.push(async () => {
      await source.stop();
      await client.close();
    });
    await source.start(store);
    return { source, store, lines };
  }

  const gatewayCalls = () =>
    api.requests.filter((r) => r.group === "gateway.networking.k8s.io" || r.resource === "namespaces");

  it("CRDs absent: the rest syncs and serves, one log line however often discovery asks", async () => {
    const { source, store, lines } = await startSource();
    expect(source.healthy()).toBe(true);
    expect(store.size("Service")).toBe(1);
    await waitFor(
      "discovery asked again several times",
      () => api.requests.filter((r) => r.resource === "/apis/gateway.networking.k8s.io").length >= 4,
    );
    const absent = lines.filter((l) => l.msg.includes("gateway.networking.k8s.io is not served"));
    expect(absent).toHaveLength(1);
    expect(absent[0]!.level).toBe(30); // info
    expect(gatewayCalls()).toEqual([]); // no list/watch of a kind that is not there (nor of Namespaces)
    expect(store.size("Gateway")).toBe(0);
  });

  it("CRDs installed later: objects arrive without a restart, then follow the watch", async () => {
    const { store, lines } = await startSource();
    api.installGatewayApi();
    api.apply("gatewayclasses", {
      metadata: { name: "nodeplane" },
      spec: { controllerName: "nodeplane.dev/gateway-controller" },
    });
    api.apply("gateways", gateway("default", "gw"));
    await waitFor(
      "Gateway listed",
      () => store.size("Gateway") === 1 && store.size("GatewayClass") === 1 && store.size("Namespace") === 1,
    );
    const gw = store.get("Gateway", "default/gw")!;
    expect(gw.apiVersion).toBe("gateway.networking.k8s.io/v1");
    expect(gw.kind).toBe("Gateway");
    expect(store.get("Namespace", "default")?.metadata?.labels).toEqual({ "kubernetes.io/metadata.name": "default" });
    api.apply("httproutes", {
      metadata: { name: "web", namespace: "default" },
      spec: { parentRefs: [{ name: "gw" }] },
    });
    await waitFor("HTTPRoute through the watch", () => store.size("HTTPRoute") === 1);
    expect(lines.some((l) => l.msg === "watching Gateway API kinds")).toBe(true);
    // one watch per kind, never a second one on a later discovery
    await waitFor(
      "more discovery",
      () => api.requests.filter((r) => r.resource === "/apis/gateway.networking.k8s.io").length >= 4,
    );
    expect(api.watcherCount("gateways")).toBe(1);
    expect(api.watcherCount("namespaces")).toBe(1);
  });

  it("CRDs installed before start: in the first sync; each kind at the first accepted version served", async () => {
    api.installGatewayApi({
      versions: { tcproutes: "v1alpha2", referencegrants: "v1beta1" },
      only: ["gateways", "tcproutes", "referencegrants"],
    });
    api.apply("gateways", gateway("default", "gw"));
    api.apply("tcproutes", { metadata: { name: "db", namespace: "default" }, spec: { rules: [] } });
    const { store } = await startSource(60_000);
    expect(store.size("Gateway")).toBe(1);
    expect(store.get("TCPRoute", "default/db")?.apiVersion).toBe("gateway.networking.k8s.io/v1alpha2");
    const lists = gatewayCalls()
      .filter((r) => r.verb === "list")
      .map((r) => `${r.resource}`)
      .sort();
    expect(lists).toEqual(["gateways", "namespaces", "referencegrants", "tcproutes"]);
    const paths = api.requests.filter((r) => r.verb === "list" && r.resource === "tcproutes");
    expect(paths).toHaveLength(1);
  });

  it("CRDs removed: their watches stop and their objects leave the store", async () => {
    api.installGatewayApi();
    api.apply("gateways", gateway("default", "gw"));
    const { store, source } = await startSource();
    expect(store.size("Gateway")).toBe(1);
    api.uninstallGatewayApi();
    await waitFor("Gateway objects gone", () => store.size("Gateway") === 0 && store.size("Namespace") === 0);
    await waitFor("watches closed", () => api.watcherCount("gateways") === 0);
    expect(source.healthy()).toBe(true);
  });
});

describe("KubeSource: Gateway API kinds that cannot be listed", () => {
  it("the first sync waits a bounded time, then everything else serves and the source stays healthy", async () => {
    const api = new TestApiServer();
    await api.start();
    api.apply("nodes", node("node-a", "127.0.0.1"));
    api.apply("services", service("default", "web"));
    api.installGatewayApi();
    api.apply("gateways", gateway("default", "gw"));
    // an RBAC older than the Gateway API rules, as seen by one call that never completes
    let refuse = true;
    api.stall = (r) => refuse && r.group === "gateway.networking.k8s.io" && r.verb === "list";
    const { logger, lines } = capturingLogger();
    const client = new KubeClient(api.kubeConfig());
    const source = new KubeSource(clusterConfig(), logger, {
      client,
      backoff: { initialMs: 20, maxMs: 200 },
      gatewaySyncTimeoutMs: 300,
    });
    const store = new Store();
    try {
      const started = Date.now();
      await source.start(store);
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(store.size("Service")).toBe(1);
      expect(store.size("Gateway")).toBe(0);
      expect(source.healthy()).toBe(true);
      expect(lines.some((l) => l.msg.startsWith("Gateway API kinds not listed yet"))).toBe(true);
      refuse = false;
      api.endWatches();
      await api.stop(); // drops the stalled lists: the reflectors retry
      await api.start();
      await waitFor("Gateway listed once the list is answered", () => store.size("Gateway") === 1);
    } finally {
      await source.stop();
      await client.close();
      await api.stop();
    }
  });
});
