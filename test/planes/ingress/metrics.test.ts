import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { IngressMetrics } from "../../../src/planes/ingress/metrics.ts";

const labels = {
  ingress: "web",
  namespace: "default",
  service: "web",
  host: "a.com",
  path: "/",
  status: "200",
  method: "GET",
};

describe("ingress request metrics (batched, exposed on scrape)", () => {
  it("exposes counts and a cumulative histogram in the Prometheus text format", async () => {
    const registry = new Registry();
    const metrics = new IngressMetrics(registry);
    const series = metrics.series(labels);
    expect(metrics.series({ ...labels })).toBe(series);
    for (const s of [0.001, 0.004, 0.02, 0.3, 20]) series.observe(s);
    metrics.series({ ...labels, status: "404" }).observe(0.001);
    const text = await registry.metrics();
    const l = 'ingress="web",namespace="default",service="web",host="a.com",path="/"';
    expect(text).toContain("# TYPE nginx_ingress_controller_requests counter");
    expect(text).toContain(`nginx_ingress_controller_requests{${l},status="200",method="GET"} 5\n`);
    expect(text).toContain(`nginx_ingress_controller_requests{${l},status="404",method="GET"} 1\n`);
    expect(text).toContain("# TYPE nginx_ingress_controller_request_duration_seconds histogram");
    const bucket = (le: string) =>
      new RegExp(
        `nginx_ingress_controller_request_duration_seconds_bucket\\{${l},status="200",method="GET",le="${le.replace(/[.+]/g, "\\$&")}"\\} (\\d+)`,
      ).exec(text)?.[1];
    expect([bucket("0.005"), bucket("0.025"), bucket("0.25"), bucket("0.5"), bucket("10"), bucket("+Inf")]).toEqual([
      "2",
      "3",
      "3",
      "4",
      "4",
      "5",
    ]);
    expect(text).toMatch(/request_duration_seconds_sum\{[^}]*status="200"[^}]*\} 20\.325/);
    expect(text).toMatch(/request_duration_seconds_count\{[^}]*status="200"[^}]*\} 5\n/);
  });

  it("works with getMetricsAsJSON (cluster aggregation) and resetMetrics", async () => {
    const registry = new Registry();
    const metrics = new IngressMetrics(registry);
    metrics.series(labels).observe(0.01);
    const json = await registry.getMetricsAsJSON();
    const requests = json.find((m) => m.name === "nginx_ingress_controller_requests");
    expect(requests).toMatchObject({ type: "counter", aggregator: "sum", values: [{ labels, value: 1 }] });
    registry.resetMetrics();
    expect(await registry.metrics()).toContain(`method="GET"} 0\n`);
  });
});
