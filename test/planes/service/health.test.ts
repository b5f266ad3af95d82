import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import type { Node } from "../../../src/model/k8s.ts";
import { goTime, HealthzServer, healthzBody, serviceHealthBody } from "../../../src/planes/service/health.ts";
import { Cleanup, run, snapshot, startPlane, uniqueLoopback } from "./helpers.ts";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

async function curl(url: string) {
  const r = await run("curl", ["-sS", "--max-time", "5", "-w", "\n%{http_code}", url]);
  const cut = r.stdout.lastIndexOf("\n");
  return { ...r, body: r.stdout.slice(0, cut), status: r.stdout.slice(cut + 1) };
}

describe("kube-proxy health formats", () => {
  it("formats times like Go's time.Time.String in UTC", () => {
    expect(goTime(Date.UTC(2024, 0, 2, 3, 4, 5, 670))).toBe("2024-01-02 03:04:05.67 +0000 UTC");
    expect(goTime(Date.UTC(2024, 11, 31, 23, 59, 59, 0))).toBe("2024-12-31 23:59:59 +0000 UTC");
  });
  it("lays out /healthz and the service check like kube-proxy", () => {
    const t = Date.UTC(2024, 0, 2, 3, 4, 5);
    expect(healthzBody(t, t, true)).toBe(
      '{"lastUpdated": "2024-01-02 03:04:05 +0000 UTC","currentTime": "2024-01-02 03:04:05 +0000 UTC", "nodeEligible": true}',
    );
    expect(JSON.parse(serviceHealthBody({ namespace: "ns", name: "lb", localEndpoints: 2 }))).toEqual({
      service: { namespace: "ns", name: "lb" },
      localEndpoints: 2,
      serviceProxyHealthy: true,
    });
  });
});

describe("health servers", () => {
  it("serves /healthz and /livez, 503 on /healthz when the node is being deleted", async () => {
    let node: Node | undefined;
    const server = new HealthzServer(() => node);
    await server.listen({ host: "127.0.0.1", port: 0 });
    cleanup.add(() => server.close());
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    let r = await curl(`${base}/healthz`);
    let { body, status: code } = r;
    expect(code).toBe("200");
    expect(JSON.parse(body)).toMatchObject({ nodeEligible: true });
    expect(body).toMatch(/^\{"lastUpdated": "\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)? \+0000 UTC","currentTime": /);
    node = {
      apiVersion: "v1",
      kind: "Node",
      metadata: { name: "n" },
      spec: { taints: [{ key: "ToBeDeletedByClusterAutoscaler", effect: "NoSchedule" }] },
    } as Node;
    r = await curl(`${base}/healthz`);
    ({ body, status: code } = r);
    expect(code).toBe("503");
    expect(JSON.parse(body).nodeEligible).toBe(false);
    r = await curl(`${base}/livez`);
    ({ body, status: code } = r);
    expect(code).toBe("200");
    expect(Object.keys(JSON.parse(body))).toEqual(["lastUpdated", "currentTime"]);
    expect((await curl(`${base}/other`)).stdout.endsWith("404")).toBe(true);
  });

  it("serves healthCheckNodePort: 200 with local endpoints, 503 without, on any path", async () => {
    const { plane } = await startPlane();
    cleanup.add(() => plane.close());
    const node = uniqueLoopback();
    const port = 32000 + (process.pid % 700);
    const check = { namespace: "default", name: "lb-local", port, localEndpoints: 2 };
    const s1 = snapshot([], { healthChecks: [check], nodePortAddresses: [node] });
    await plane.apply(undefined, s1);
    let r = await curl(`http://${node}:${port}/anything`);
    let { body, status: code } = r;
    expect(code).toBe("200");
    expect(JSON.parse(body)).toEqual({
      service: { namespace: "default", name: "lb-local" },
      localEndpoints: 2,
      serviceProxyHealthy: true,
    });
    await plane.apply(s1, snapshot([], { healthChecks: [{ ...check, localEndpoints: 0 }], nodePortAddresses: [node] }));
    r = await curl(`http://${node}:${port}/healthz`);
    ({ body, status: code } = r);
    expect(code).toBe("503");
    expect(JSON.parse(body).localEndpoints).toBe(0);
    await plane.apply(s1, snapshot([], { nodePortAddresses: [node] }));
    expect((await curl(`http://${node}:${port}/`)).code).toBe(7);
  });

  it("serves the plane's /healthz on --healthz-address and exports the sync metrics", async () => {
    const { plane, registry } = await startPlane({ healthzAddress: { host: "127.0.0.1", port: 0 } });
    cleanup.add(() => plane.close());
    await plane.apply(undefined, snapshot([]));
    const port = (plane.healthzAddress as AddressInfo).port;
    expect((await curl(`http://127.0.0.1:${port}/healthz`)).stdout.endsWith("200")).toBe(true);
    const text = await registry.metrics();
    expect(text).toMatch(/^kubeproxy_sync_proxy_rules_duration_seconds_count 1$/m);
    expect(text).toMatch(/^kubeproxy_sync_proxy_rules_last_timestamp_seconds \d+/m);
  });
});
