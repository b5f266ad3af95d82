import type { AddressInfo } from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type RunningApp, startApp } from "../../../src/app.ts";
import { KubeClient } from "../../../src/kube/client.ts";
import { silentLogger } from "../../../src/log.ts";
import type { Service } from "../../../src/model/k8s.ts";
import { KubeSource } from "../../../src/source/kube/source.ts";
import { KubeStatusWriter } from "../../../src/status/kube.ts";
import { TestApiServer } from "../../fixtures/apiserver.ts";
import { clusterConfig, node, service, slice, waitFor } from "../../fixtures/cluster.ts";

describe("startApp in cluster mode against the test API server", () => {
  let api: TestApiServer;
  let app: RunningApp | undefined;
  let client: KubeClient;

  beforeEach(async () => {
    api = new TestApiServer();
    await api.start();
    api.apply("nodes", node("node-a", "127.0.0.1"));
    api.apply("services", service("default", "web", { clusterIP: "127.96.0.10", clusterIPs: ["127.96.0.10"] }));
    api.apply("endpointslices", slice("default", "web", ["127.244.0.5"]));
    client = new KubeClient(api.kubeConfig());
  });

  afterEach(async () => {
    await app?.stop();
    app = undefined;
    await client.close();
    await api.stop();
  });

  async function start(config = clusterConfig()) {
    const source = new KubeSource(config, silentLogger, { client, backoff: { initialMs: 20, maxMs: 200 } });
    app = await startApp(config, silentLogger, {
      source,
      withProcessMetrics: false,
      leaderElection: { identity: "pod-a", leaseDurationMs: 1000, renewDeadlineMs: 600, retryPeriodMs: 100 },
    });
    const port = (app.admin.server.address() as AddressInfo).port;
    return { app, admin: `http://127.0.0.1:${port}` };
  }

  it("serves a snapshot built from the watch, follows changes, and elects itself", async () => {
    const { app, admin } = await start();
    expect(app.pipeline.snapshot?.services.map((s) => s.metadata?.name)).toEqual(["web"]);
    expect(app.pipeline.snapshot?.node.zone).toBe("zone-node-a");
    expect(app.status).toBeInstanceOf(KubeStatusWriter);
    expect((await fetch(`${admin}/readyz`)).status).toBe(200);

    api.apply("services", service("default", "api", { clusterIP: "127.96.0.11", clusterIPs: ["127.96.0.11"] }));
    await waitFor("snapshot with the new Service", () => app.pipeline.snapshot?.services.length === 2);
    api.remove("services", "default", "api");
    await waitFor("snapshot without it", () => app.pipeline.snapshot?.services.length === 1);

    await waitFor("lease", () => api.get("leases", "nodeplane-system", "nodeplane") !== undefined);
    const metrics = await (await fetch(`${admin}/metrics`)).text();
    expect(metrics).toMatch(/^nodeplane_source_healthy 1$/m);
    expect(metrics).toMatch(/^nodeplane_leader 1$/m);
  });

  it("keeps serving the last snapshot while the API server is down and reports it", async () => {
    const { app, admin } = await start();
    await api.stop();
    await waitFor("unhealthy", () => !app.source.healthy());
    const metrics = await (await fetch(`${admin}/metrics`)).text();
    expect(metrics).toMatch(/^nodeplane_source_healthy 0$/m);
    expect(app.pipeline.snapshot?.services.map((s) => s.metadata?.name)).toEqual(["web"]);
    await api.start();
    await waitFor("healthy again", () => app.source.healthy());
  });

  it("--lb-pool assigns an address that comes back through the watch into the snapshot", async () => {
    api.apply(
      "services",
      service("default", "lb", { type: "LoadBalancer", clusterIP: "127.96.0.12", clusterIPs: ["127.96.0.12"] }),
    );
    const { app } = await start(clusterConfig({ lbPool: ["127.240.0.0/30"] }));
    const lbIngress = () =>
      (app.pipeline.snapshot?.services.find((s) => s.metadata?.name === "lb") as Service | undefined)?.status
        ?.loadBalancer?.ingress;
    await waitFor("LB IP in the snapshot", () => lbIngress()?.[0]?.ip === "127.240.0.1");
  });
});
