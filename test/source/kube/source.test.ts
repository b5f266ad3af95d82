import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { KubeClient } from "../../../src/kube/client.ts";
import { silentLogger } from "../../../src/log.ts";
import { KubeSource, type KubeSourceOptions } from "../../../src/source/kube/source.ts";
import { Store, type StoreChange } from "../../../src/store/store.ts";
import { TestApiServer } from "../../fixtures/apiserver.ts";
import { clusterConfig, ingress, node, secret, service, slice, waitFor } from "../../fixtures/cluster.ts";

const FAST = { backoff: { initialMs: 20, maxMs: 200 } } satisfies KubeSourceOptions;

function seed(api: TestApiServer): void {
  api.apply("services", service("default", "web"));
  api.apply("services", service("shop", "cart", { clusterIP: "10.96.0.11", clusterIPs: ["10.96.0.11"] }));
  api.apply("endpointslices", slice("default", "web", ["10.244.1.5", "10.244.2.6"]));
  api.apply("ingresses", ingress("default", "web"));
  api.apply("ingressclasses", { metadata: { name: "nodeplane" }, spec: { controller: "nodeplane.dev/ingress" } });
  api.apply("secrets", secret("default", "web-tls", "kubernetes.io/tls"));
  api.apply("secrets", secret("default", "db-password", "Opaque"));
  api.apply("nodes", node("node-a", "172.18.0.2"));
  api.apply("nodes", node("node-b", "172.18.0.3"));
  api.apply("pods", { metadata: { name: "web-1", namespace: "default" }, status: { podIP: "10.244.1.5" } });
}

describe("KubeSource against the test API server", () => {
  let api: TestApiServer;
  const cleanups: (() => Promise<void> | void)[] = [];

  beforeEach(async () => {
    api = new TestApiServer();
    await api.start();
    seed(api);
  });

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    await api.stop();
  });

  async function startSource(options: KubeSourceOptions = {}, config = clusterConfig()) {
    const client = new KubeClient(api.kubeConfig());
    const source = new KubeSource(config, silentLogger, { client, ...FAST, ...options });
    const store = new Store();
    cleanups.push(async () => {
      await source.stop();
      await client.close();
    });
    await source.start(store);
    return { source, store };
  }

  it("syncs every kind once, as plain JSON, with only TLS Secrets and only its own Node", async () => {
    const { source, store } = await startSource();
    expect(source.healthy()).toBe(true);
    expect([...store.list("Service")].map((s) => s.metadata?.name).sort()).toEqual(["cart", "web"]);
    expect(store.slicesFor("default/web")).toHaveLength(1);
    expect(store.size("Ingress")).toBe(1);
    expect(store.size("IngressClass")).toBe(1);
    expect([...store.list("Secret")].map((s) => s.metadata?.name)).toEqual(["web-tls"]);
    expect([...store.list("Node")].map((n) => n.metadata?.name)).toEqual(["node-a"]);
    expect(store.size("Pod")).toBe(0);

    const web = store.get("Service", "default/web")!;
    expect(Object.getPrototypeOf(web)).toBe(Object.prototype);
    expect(web.kind).toBe("Service");
    expect(web.apiVersion).toBe("v1");
    expect(web.metadata).not.toHaveProperty("managedFields");
    expect(typeof web.metadata?.creationTimestamp).toBe("string");
    expect(store.get("EndpointSlice", "default/web-abc")?.apiVersion).toBe("discovery.k8s.io/v1");
  });

  it("never asks for a Secret without the TLS field selector", async () => {
    await startSource();
    await waitFor("secret watch", () => api.watcherCount("secrets") === 1);
    const secretCalls = api.requests.filter((r) => r.resource.startsWith("secrets"));
    expect(secretCalls.map((r) => r.verb).sort()).toEqual(["list", "watch"]);
    for (const call of secretCalls) expect(call.query.fieldSelector).toBe("type=kubernetes.io/tls");
    const nodeCalls = api.requests.filter((r) => r.resource === "nodes");
    for (const call of nodeCalls) expect(call.query.fieldSelector).toBe("metadata.name=node-a");
    expect(api.requests.some((r) => r.resource === "pods")).toBe(false);
  });

  it("--watch-namespaces a,b: Ingresses and TLS Secrets through namespaced list/watch URLs only", async () => {
    for (const ns of ["a", "b", "c"]) {
      api.apply("secrets", secret(ns, `tls-${ns}`, "kubernetes.io/tls"));
      api.apply("secrets", secret(ns, `opaque-${ns}`, "Opaque"));
      api.apply("ingresses", ingress(ns, `web-${ns}`));
    }
    const client = new KubeClient(api.kubeConfig());
    // the paths exactly as the source asks for them
    const paths: string[] = [];
    const request = client.request.bind(client);
    const watch = client.watch.bind(client);
    client.request = ((path, init) => {
      paths.push(`list ${path}`);
      return request(path, init);
    }) as typeof client.request;
    client.watch = (path, ...rest) => {
      paths.push(`watch ${path}`);
      return watch(path, ...rest);
    };
    const source = new KubeSource(clusterConfig({ watchNamespaces: ["a", "b"] }), silentLogger, { client, ...FAST });
    const store = new Store();
    cleanups.push(async () => {
      await source.stop();
      await client.close();
    });
    await source.start(store);
    await waitFor("every watch", () => api.watcherCount() === 8);

    // each namespace's list replaces only its own objects: a's list did not wipe b's, or the other way round
    expect([...store.list("Secret")].map((o) => `${o.metadata?.namespace}/${o.metadata?.name}`).sort()).toEqual([
      "a/tls-a",
      "b/tls-b",
    ]);
    expect([...store.list("Ingress")].map((o) => `${o.metadata?.namespace}/${o.metadata?.name}`).sort()).toEqual([
      "a/web-a",
      "b/web-b",
    ]);
    // the service proxy and DNS still see every namespace
    expect(store.size("Service")).toBe(2);

    const scoped = paths.filter((p) => /secrets|ingresses$/.test(p)).sort();
    expect(scoped).toEqual([
      "list /api/v1/namespaces/a/secrets",
      "list /api/v1/namespaces/b/secrets",
      "list /apis/networking.k8s.io/v1/namespaces/a/ingresses",
      "list /apis/networking.k8s.io/v1/namespaces/b/ingresses",
      "watch /api/v1/namespaces/a/secrets",
      "watch /api/v1/namespaces/b/secrets",
      "watch /apis/networking.k8s.io/v1/namespaces/a/ingresses",
      "watch /apis/networking.k8s.io/v1/namespaces/b/ingresses",
    ]);
    // as the API server (and so RBAC) saw them: never cluster-wide, always with the TLS selector
    const secretCalls = api.requests.filter((r) => r.resource === "secrets");
    expect(secretCalls.map((r) => `${r.verb} ${r.namespace}`).sort()).toEqual([
      "list a",
      "list b",
      "watch a",
      "watch b",
    ]);
    for (const call of secretCalls) expect(call.query.fieldSelector).toBe("type=kubernetes.io/tls");
    const ingressCalls = api.requests.filter((r) => r.resource === "ingresses");
    expect(ingressCalls.every((r) => r.namespace === "a" || r.namespace === "b")).toBe(true);

    // events and a re-list after 410 Gone stay inside their namespace
    api.apply("secrets", secret("c", "tls-c2", "kubernetes.io/tls"));
    api.apply("secrets", secret("a", "tls-a2", "kubernetes.io/tls"));
    await waitFor("event in a", () => store.get("Secret", "a/tls-a2") !== undefined);
    await api.stop();
    api.remove("secrets", "b", "tls-b");
    api.compact();
    await api.start();
    await waitFor("re-list of b", () => store.get("Secret", "b/tls-b") === undefined);
    await waitFor("watches again", () => api.watcherCount() === 8);
    expect([...store.list("Secret")].map((o) => `${o.metadata?.namespace}/${o.metadata?.name}`).sort()).toEqual([
      "a/tls-a",
      "a/tls-a2",
    ]);
    expect(paths).not.toContain("list /api/v1/secrets");
    expect(paths).not.toContain("watch /api/v1/secrets");
  });

  it("watches Pods only for --dns-pods verified", async () => {
    const { store } = await startSource({}, clusterConfig({ dnsPods: "verified" }));
    expect([...store.list("Pod")].map((p) => p.metadata?.name)).toEqual(["web-1"]);
  });

  it("delivers add, modify and delete events to the store", async () => {
    const { store } = await startSource();
    await waitFor("all watches", () => api.watcherCount() === 6);
    const changes: StoreChange[] = [];
    store.subscribe((batch) => changes.push(...batch));

    api.apply("services", service("default", "api", { clusterIP: "10.96.0.12", clusterIPs: ["10.96.0.12"] }));
    await waitFor("added", () => store.get("Service", "default/api") !== undefined);

    api.apply("endpointslices", slice("default", "web", ["10.244.1.5"]));
    await waitFor("modified", () => store.slicesFor("default/web")[0]?.endpoints?.length === 1);

    api.remove("services", "shop", "cart");
    await waitFor("deleted", () => store.get("Service", "shop/cart") === undefined);

    // a Secret turning into a TLS Secret appears; one leaving the type disappears (selector on the server)
    api.apply("secrets", secret("default", "db-password", "kubernetes.io/tls"));
    await waitFor("secret entering the selector", () => store.get("Secret", "default/db-password") !== undefined);
    api.apply("secrets", secret("default", "web-tls", "Opaque"));
    await waitFor("secret leaving the selector", () => store.get("Secret", "default/web-tls") === undefined);

    expect(changes.map((c) => `${c.type} ${c.kind} ${c.key}`)).toEqual([
      "added Service default/api",
      "modified EndpointSlice default/web-abc",
      "deleted Service shop/cart",
      "added Secret default/db-password",
      "deleted Secret default/web-tls",
    ]);
  });

  it("moves its resourceVersion forward on BOOKMARK events", async () => {
    await startSource();
    await waitFor("all watches", () => api.watcherCount() === 6);
    api.apply("nodes", node("node-c", "172.18.0.4")); // not ours: the Node watch sees nothing of it
    api.bookmark();
    const bookmarkRv = api.resourceVersion;
    const before = api.requests.length;
    api.endWatches();
    await waitFor("re-watch", () => api.requests.slice(before).filter((r) => r.verb === "watch").length === 6);
    const rewatch = api.requests.slice(before).find((r) => r.verb === "watch" && r.resource === "nodes")!;
    expect(rewatch.query.resourceVersion).toBe(bookmarkRv);
    expect(rewatch.query.allowWatchBookmarks).toBe("true");
    expect(api.requests.slice(before).some((r) => r.verb === "list")).toBe(false);
  });

  for (const goneAsHttpStatus of [false, true]) {
    it(`re-lists after 410 Gone (${goneAsHttpStatus ? "HTTP status" : "ERROR event"}) without losing or duplicating`, async () => {
      await api.stop();
      api = new TestApiServer({ goneAsHttpStatus });
      await api.start();
      seed(api);
      const { store } = await startSource();
      await waitFor("all watches", () => api.watcherCount() === 6);
      const untouched = store.get("Service", "default/web");
      const changes: StoreChange[] = [];
      store.subscribe((batch) => changes.push(...batch));

      // changes the client will only learn about by re-listing: the history is compacted and the watches end
      await api.stop();
      api.apply("services", service("default", "api", { clusterIP: "10.96.0.12", clusterIPs: ["10.96.0.12"] }));
      api.remove("services", "shop", "cart");
      api.apply("ingresses", {
        ...ingress("default", "web"),
        metadata: { name: "web", namespace: "default", labels: { v: "2" } },
      });
      api.compact();
      const before = api.requests.length;
      await api.start();

      await waitFor(
        "re-list",
        () => store.get("Service", "default/api") !== undefined && store.get("Service", "shop/cart") === undefined,
      );
      await waitFor("watches again", () => api.watcherCount() === 6);
      expect([...store.list("Service")].map((s) => s.metadata?.name).sort()).toEqual(["api", "web"]);
      expect(store.get("Ingress", "default/web")?.metadata?.labels).toEqual({ v: "2" });
      // unchanged objects keep their identity: nothing re-added, nothing duplicated
      expect(store.get("Service", "default/web")).toBe(untouched);
      expect(changes.map((c) => `${c.type} ${c.kind} ${c.key}`).sort()).toEqual([
        "added Service default/api",
        "deleted Service shop/cart",
        "modified Ingress default/web",
      ]);
      const lists = api.requests
        .slice(before)
        .filter((r) => r.verb === "list")
        .map((r) => r.resource);
      expect(lists.sort()).toEqual(["endpointslices", "ingressclasses", "ingresses", "nodes", "secrets", "services"]);
    });
  }

  it("keeps the last state while the API server is down and reconnects when it is back", async () => {
    const { source, store } = await startSource();
    await waitFor("all watches", () => api.watcherCount() === 6);
    await api.stop();
    await waitFor("unhealthy", () => !source.healthy());
    expect(store.size("Service")).toBe(2);

    api.apply("services", service("default", "late", { clusterIP: "10.96.0.13", clusterIPs: ["10.96.0.13"] }));
    await api.start();
    await waitFor("healthy again", () => source.healthy());
    await waitFor("missed event", () => store.get("Service", "default/late") !== undefined);
    expect(store.size("Service")).toBe(3);
  });

  it("pages large lists with limit and continue", async () => {
    for (let i = 0; i < 5; i++) api.apply("services", service("bulk", `s${i}`));
    const { store } = await startSource({ pageSize: 2 });
    expect(store.size("Service")).toBe(7);
    const serviceLists = api.requests.filter((r) => r.resource === "services" && r.verb === "list");
    expect(serviceLists.map((r) => r.query.limit)).toEqual(["2", "2", "2", "2"]);
    expect(serviceLists.filter((r) => r.query.continue).length).toBe(3);
  });
});

describe("API server configuration", () => {
  let api: TestApiServer;
  let dir: string;

  beforeEach(async () => {
    api = new TestApiServer();
    await api.start();
    api.apply("services", service("default", "web"));
    dir = mkdtempSync(join(tmpdir(), "nodeplane-sa-"));
  });

  afterEach(async () => {
    await api.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("uses the in-cluster service account: token, CA and KUBERNETES_SERVICE_HOST/PORT", async () => {
    writeFileSync(join(dir, "token"), api.token);
    writeFileSync(join(dir, "ca.crt"), api.caPem);
    writeFileSync(join(dir, "namespace"), "nodeplane-system");
    const env = { KUBERNETES_SERVICE_HOST: "127.0.0.1", KUBERNETES_SERVICE_PORT: String(api.port) };
    const source = new KubeSource(clusterConfig(), silentLogger, { serviceAccountDir: dir, env, ...FAST });
    const store = new Store();
    try {
      await source.start(store);
      expect(source.client.server).toBe(`https://127.0.0.1:${api.port}`);
      expect(store.get("Service", "default/web")).toBeDefined();
    } finally {
      await source.stop();
    }
  });

  it("refuses an API server whose certificate the service-account CA did not sign", async () => {
    const other = new TestApiServer();
    writeFileSync(join(dir, "token"), api.token);
    writeFileSync(join(dir, "ca.crt"), other.caPem);
    const env = { KUBERNETES_SERVICE_HOST: "127.0.0.1", KUBERNETES_SERVICE_PORT: String(api.port) };
    const source = new KubeSource(clusterConfig(), silentLogger, { serviceAccountDir: dir, env, ...FAST });
    const store = new Store();
    const started = source.start(store);
    try {
      await new Promise((r) => setTimeout(r, 300));
      expect(source.healthy()).toBe(false);
      expect(store.size("Service")).toBe(0);
      expect(api.requests).toHaveLength(0); // the TLS handshake failed before any request
    } finally {
      await source.stop();
      await started;
    }
  });

  it("uses --kubeconfig when given", async () => {
    const path = join(dir, "kubeconfig");
    writeFileSync(path, api.kubeconfigYaml());
    const source = new KubeSource(clusterConfig({ kubeconfig: path }), silentLogger, FAST);
    const store = new Store();
    try {
      await source.start(store);
      expect(store.get("Service", "default/web")).toBeDefined();
    } finally {
      await source.stop();
    }
  });
});
