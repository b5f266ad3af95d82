import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Counter, Registry } from "prom-client";
import { afterEach, describe, expect, it } from "vitest";
import { startAdminServer } from "../../src/admin/server.ts";
import { type RunningApp, startApp } from "../../src/app.ts";
import { parseFlags } from "../../src/cli/flags.ts";
import { formatHostPort, type HostPort } from "../../src/config.ts";
import { silentLogger } from "../../src/log.ts";
import type { Service } from "../../src/model/k8s.ts";
import { SnapshotPipeline } from "../../src/pipeline.ts";
import { MemoryStatusWriter } from "../../src/status/writer.ts";
import { Store } from "../../src/store/store.ts";
import { Translator } from "../../src/translate/index.ts";
import { controlPathFlags } from "../support/flags.ts";
import { translateOptions } from "../support/options.ts";
import { FakeSource } from "./fake-source.ts";
import { LAB_OBJECTS } from "./fixtures.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** Manifests-mode settings with every listener but the admin server off, on loopback ports the OS picks. */
function testConfig() {
  return parseFlags(["--manifests=unused", ...controlPathFlags("127.97.0.0/16"), "--sync-delay=10ms", "--workers=1"]);
}

function url(address: HostPort, path: string): string {
  return `http://${formatHostPort(address)}${path}`;
}

async function getJson<T>(address: HostPort, path: string): Promise<{ status: number; body: T }> {
  const res = await fetch(url(address, path));
  return { status: res.status, body: (await res.json()) as T };
}

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ["bin/nodeplane.js", ...args], { cwd: ROOT, timeout: 20_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

interface List<T> {
  apiVersion: string;
  kind: string;
  items: T[];
}

describe("admin server in a running app", () => {
  let app: RunningApp | undefined;
  afterEach(async () => {
    await app?.stop();
    app = undefined;
  });

  it("serves readiness, the object lists, metrics and the dashboard; `nodeplane get` reads them", async () => {
    const source = new FakeSource(LAB_OBJECTS);
    source.healthyNow = false;
    source.reported = [
      {
        kind: "Service",
        namespace: "default",
        name: "broken",
        field: "spec.ports[0].port",
        message: "must be 1-65535",
        origin: "bad.yaml#1",
      },
    ];
    app = await startApp(testConfig(), silentLogger, { source, withProcessMetrics: false });
    const admin = app.admin.address;
    expect(admin.port).toBeGreaterThan(0);

    // ready once the first sync is applied; a source that loses its origin later (API server down) keeps the
    // node ready (the last snapshot keeps serving, docs/cluster.md) and says so in /api/status
    expect((await fetch(url(admin, "/readyz"))).status).toBe(200);
    expect(await (await fetch(url(admin, "/api/status"))).json()).toMatchObject({ healthy: false });
    source.healthyNow = true;
    expect(await (await fetch(url(admin, "/api/status"))).json()).toMatchObject({ healthy: true });
    expect((await fetch(url(admin, "/readyz"))).status).toBe(200);
    expect(await (await fetch(url(admin, "/healthz"))).text()).toBe("ok\n");
    expect((await fetch(url(admin, "/livez"))).status).toBe(200);

    await app.status.setServiceStatus("other", "lb", [{ ip: "127.98.0.1" }]);
    await app.status.setIngressStatus("default", "foo", [{ ip: "127.0.0.1" }]);

    const services = await getJson<List<Service>>(admin, "/api/v1/services");
    expect(services.status).toBe(200);
    expect(services.body).toMatchObject({ apiVersion: "v1", kind: "List", metadata: { resourceVersion: "" } });
    expect(services.body.items.map((s) => `${s.metadata?.namespace}/${s.metadata?.name}`)).toEqual([
      "default/my-nginx",
      "default/my-svc-cp",
      "default/my-svc-np",
      "other/lb",
    ]);
    for (const s of services.body.items) {
      expect(s).toMatchObject({ apiVersion: "v1", kind: "Service" });
      expect(Date.parse(s.metadata?.creationTimestamp ?? "")).not.toBeNaN();
    }
    expect(services.body.items[1]?.metadata?.creationTimestamp).toBe("2024-01-01T00:00:00Z");
    expect(services.body.items[3]?.status?.loadBalancer?.ingress).toEqual([{ ip: "127.98.0.1" }]);

    const inOther = await getJson<List<Service>>(admin, "/api/v1/services?namespace=other");
    expect(inOther.body.items.map((s) => s.metadata?.name)).toEqual(["lb"]);
    const one = await getJson<Service>(admin, "/api/v1/namespaces/default/services/my-svc-np");
    expect(one.body.spec?.ports?.[0]?.nodePort).toBe(31234);
    expect((await fetch(url(admin, "/api/v1/namespaces/default/services/nope"))).status).toBe(404);
    expect((await fetch(url(admin, "/api/v1/widgets"))).status).toBe(404);

    const slices = await getJson<List<{ metadata: { name: string } }>>(admin, "/api/v1/endpointslices");
    expect(slices.body.items).toMatchObject([
      { apiVersion: "discovery.k8s.io/v1", kind: "EndpointSlice", metadata: { name: "my-nginx-abc12" } },
    ]);
    const ingresses = await getJson<List<unknown>>(admin, "/api/v1/ingresses?namespace=default");
    expect(ingresses.body.items).toMatchObject([
      {
        apiVersion: "networking.k8s.io/v1",
        kind: "Ingress",
        status: { loadBalancer: { ingress: [{ ip: "127.0.0.1" }] } },
      },
    ]);

    const problems = await getJson<{ problems: unknown[] }>(admin, "/api/problems");
    expect(problems.body.problems).toContainEqual(
      expect.objectContaining({ name: "broken", field: "spec.ports[0].port" }),
    );

    const metrics = await (await fetch(url(admin, "/metrics"))).text();
    expect(metrics).toContain("nodeplane_snapshot_rebuild_duration_seconds");

    const page = await fetch(url(admin, "/"));
    expect(page.headers.get("content-type")).toContain("text/html");
    expect(page.headers.get("content-security-policy")).toContain("script-src 'sha256-");
    expect(await page.text()).toContain('<div id="services">');
    expect((await fetch(url(admin, "/api/v1/services"), { method: "POST" })).status).toBe(405);

    // a change in the store shows in the API after the next snapshot
    source.store!.upsert("Service", {
      metadata: { name: "added", namespace: "default" },
      spec: { clusterIP: "127.97.33.20", ports: [{ port: 9000 }] },
    });
    await app.pipeline.settled();
    const after = await getJson<List<Service>>(admin, "/api/v1/services?namespace=default");
    expect(after.body.items.map((s) => s.metadata?.name)).toContain("added");

    // the CLI, as a user runs it
    const address = formatHostPort(admin);
    const json = await cli(["get", "services", "-o", "json", "--admin-address", address, "-A"]);
    expect(json.stderr).toBe("");
    expect(json.code).toBe(0);
    const list = JSON.parse(json.stdout) as List<Service>;
    expect(list.kind).toBe("List");
    expect(list.items.find((s) => s.metadata?.name === "my-svc-np")?.spec?.clusterIP).toBe("127.97.33.11");

    const table = await cli(["get", "svc", "--admin-address", address]);
    expect(table.code).toBe(0);
    const lines = table.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^NAME\s+TYPE\s+CLUSTER-IP\s+EXTERNAL-IP\s+PORT\(S\)\s+AGE$/);
    expect(lines.find((l) => l.startsWith("my-svc-np "))).toMatch(
      /^my-svc-np\s+NodePort\s+127\.97\.33\.11\s+<none>\s+1234:31234\/TCP\s+\S+$/,
    );
    expect(lines.some((l) => l.startsWith("lb "))).toBe(false);

    const env = { ...process.env, NODEPLANE_ADMIN_ADDRESS: address };
    const ing = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, ["bin/nodeplane.js", "get", "ing"], { cwd: ROOT, env }, (err, out) =>
        err ? reject(err) : resolve(out),
      ),
    );
    expect(ing).toMatch(/^foo\s+nodeplane\s+foo\.bar\.com\s+127\.0\.0\.1\s+80, 443\s+\S+$/m);

    const described = await cli(["describe", "svc", "my-nginx", "--admin-address", address]);
    expect(described.code).toBe(0);
    expect(described.stdout).toMatch(/^Endpoints:\s+127\.244\.33\.1:80$/m);
    expect(described.stdout).toMatch(/^Selector:\s+run=hello-nginx$/m);

    const missing = await cli(["describe", "svc", "nope", "--admin-address", address]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('services "nope" not found');
  });
});

describe("admin server on its own", () => {
  it("answers 503 before the first snapshot and summarises per-service traffic metrics", async () => {
    const store = new Store();
    const registry = new Registry();
    const pipeline = new SnapshotPipeline(store, new Translator(testTranslateOptions()), {
      maxDelayMs: 5,
      logger: silentLogger,
    });
    let ready = false;
    const admin = await startAdminServer({
      address: { host: "127.0.0.1", port: 0 },
      pipeline,
      registry,
      source: new FakeSource([]),
      status: new MemoryStatusWriter(),
      store,
      logger: silentLogger,
      ready: () => ready,
    });
    try {
      expect((await fetch(url(admin.address, "/readyz"))).status).toBe(503);
      expect((await fetch(url(admin.address, "/api/v1/services"))).status).toBe(503);
      await pipeline.start();
      ready = true;
      expect((await fetch(url(admin.address, "/readyz"))).status).toBe(200);
      expect((await getJson<List<unknown>>(admin.address, "/api/v1/services")).body.items).toEqual([]);

      const connections = new Counter({
        name: "nodeplane_test_connections_total",
        help: "test",
        labelNames: ["service", "namespace", "endpoint"],
        registers: [registry],
      });
      connections.inc({ service: "my-nginx", namespace: "default", endpoint: "a" }, 2);
      connections.inc({ service: "my-nginx", namespace: "default", endpoint: "b" }, 3);
      const traffic = await getJson<{ traffic: unknown[] }>(admin.address, "/api/traffic");
      expect(traffic.body.traffic).toEqual([
        { kind: "service", key: "default/my-nginx", metrics: { nodeplane_test_connections_total: 5 } },
      ]);
    } finally {
      await pipeline.stop();
      await admin.close();
    }
  });
});

function testTranslateOptions() {
  return translateOptions({ nodeName: "test", localAddresses: ["127.0.0.1"] });
}
