import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { ServiceMetrics } from "../../../src/planes/service/metrics.ts";

const ref = { namespace: "default", name: "web", portName: "http", protocol: "TCP" } as const;

async function lines(registry: Registry, name: string): Promise<string[]> {
  const text = await registry.getSingleMetricAsString(name);
  return text.split("\n").filter((l) => l.startsWith(name));
}

describe("service plane metrics", () => {
  it("publishes the per-port tallies when scraped", async () => {
    const registry = new Registry();
    const metrics = new ServiceMetrics(registry);
    const port = metrics.acquire(ref);
    port.total.inc();
    port.total.inc();
    port.active.inc();
    port.active.inc();
    port.active.dec();
    port.bytesIn.inc(1500);
    port.bytesOut.inc(70);
    port.rejected.inc();
    const labels = 'namespace="default",service="web",port="http",protocol="TCP"';
    expect(await lines(registry, "nodeplane_service_connections_total")).toEqual([
      `nodeplane_service_connections_total{${labels}} 2`,
    ]);
    expect(await lines(registry, "nodeplane_service_connections_active")).toEqual([
      `nodeplane_service_connections_active{${labels}} 1`,
    ]);
    expect(await lines(registry, "nodeplane_service_received_bytes_total")).toEqual([
      `nodeplane_service_received_bytes_total{${labels}} 1500`,
    ]);
    expect(await lines(registry, "nodeplane_service_sent_bytes_total")).toEqual([
      `nodeplane_service_sent_bytes_total{${labels}} 70`,
    ]);
    expect(await lines(registry, "nodeplane_service_connections_reset_total")).toEqual([
      `nodeplane_service_connections_reset_total{${labels}} 1`,
    ]);
    expect(await lines(registry, "nodeplane_service_dial_failures_total")).toEqual([
      `nodeplane_service_dial_failures_total{${labels}} 0`,
    ]);
  });

  it("shares a port's tallies between its users and drops the series after the last one", async () => {
    const registry = new Registry();
    const metrics = new ServiceMetrics(registry);
    const cluster = metrics.acquire(ref);
    const external = metrics.acquire(ref);
    expect(external).toBe(cluster);
    cluster.total.inc();
    external.total.inc();
    cluster.release();
    expect(await lines(registry, "nodeplane_service_connections_total")).toHaveLength(1);
    expect((await lines(registry, "nodeplane_service_connections_total"))[0]).toMatch(/ 2$/);
    external.release();
    expect(await lines(registry, "nodeplane_service_connections_total")).toEqual([]);
    // A port that comes back starts from zero.
    const again = metrics.acquire(ref);
    again.total.inc();
    expect((await lines(registry, "nodeplane_service_connections_total"))[0]).toMatch(/ 1$/);
  });
});
