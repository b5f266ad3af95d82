import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { silentLogger } from "../../../src/log.ts";
import { ingressMetrics } from "../../../src/planes/ingress/metrics.ts";
import { RouteCompiler } from "../../../src/planes/ingress/routes.ts";
import { UpstreamPools } from "../../../src/planes/ingress/upstream.ts";
import type { IngressRoute } from "../../../src/translate/ingress/model.ts";

const route = (service: string, ips: string[]): IngressRoute => ({
  ingress: { namespace: "default", name: service },
  host: `${service}.example.com`,
  path: "/",
  pathType: "Prefix",
  declaredPathType: "Prefix",
  backend: {
    id: `default/${service}:80`,
    namespace: "default",
    service,
    port: 80,
    endpoints: ips.map((ip) => ({ ip, port: 8080 })),
  },
  settings: { sslRedirect: true, backendProtocol: "HTTP", maxBodyBytes: 0 },
  redirectToHttps: false,
});

describe("RouteCompiler with the previous snapshot's routes", () => {
  it("keeps the runtime of a route that is the same object, compiles a changed one, and counts both routes' pools as used", async () => {
    const pools = new UpstreamPools(
      { connectTimeoutMs: 1000, headerTimeoutMs: 1000, idleTimeoutMs: 1000 },
      silentLogger,
    );
    const metrics = ingressMetrics(new Registry());
    const a = route("a", ["10.0.0.1"]);
    const b = route("b", ["10.0.0.2"]);
    const first = new RouteCompiler(pools, metrics);
    const ra = first.compile(a);
    const rb = first.compile(b);
    const b2 = route("b", ["10.0.0.3"]);
    const second = new RouteCompiler(pools, metrics, first.compiled);
    expect(second.compile(a)).toBe(ra);
    const rb2 = second.compile(b2);
    expect(rb2).not.toBe(rb);
    expect(rb2.backend!.endpoints.map((e) => e.ip)).toEqual(["10.0.0.3"]);
    expect([...second.usedPools]).toEqual([ra.backend!.endpoints[0]!.pool, rb2.backend!.endpoints[0]!.pool]);
    expect([...second.compiled.keys()]).toEqual([a, b2]);
    await pools.close();
  });
});
