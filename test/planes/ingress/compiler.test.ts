import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { silentLogger } from "../../../src/log.ts";
import { IngressMetrics } from "../../../src/planes/ingress/metrics.ts";
import { RouteCompiler } from "../../../src/planes/ingress/routes.ts";
import { UpstreamPools } from "../../../src/planes/ingress/upstream.ts";
import type { IngressRoute } from "../../../src/snapshot/ingress.ts";

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
  it("keeps the runtime of a route that is the same object and compiles a changed one", async () => {
    const pools = new UpstreamPools(
      { connectTimeoutMs: 1000, headerTimeoutMs: 1000, idleTimeoutMs: 1000 },
      silentLogger,
    );
    const metrics = new IngressMetrics(new Registry());
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
    expect(second.created).toEqual([rb2]);
    expect([...second.compiled.keys()]).toEqual([a, b2]);
    await pools.close();
  });
});

describe("Matcher with the previous snapshot's matcher", () => {
  it("reuses the path table of a virtual host that is the same object, and hands its routes to adopt", async () => {
    const { Matcher } = await import("../../../src/planes/ingress/matcher.ts");
    const a = route("a", ["10.0.0.1"]);
    const b = route("b", ["10.0.0.2"]);
    const va = { host: a.host, routes: [a] };
    const vb = { host: b.host, routes: [b] };
    const compiled: IngressRoute[] = [];
    const first = new Matcher<IngressRoute>(
      { hosts: [va, vb], certificates: [], ingresses: [], statusAddresses: [] },
      (r) => {
        compiled.push(r);
        return r;
      },
    );
    const b2 = route("b", ["10.0.0.3"]);
    const vb2 = { host: b.host, routes: [b2] };
    const adopted: IngressRoute[] = [];
    const second = new Matcher<IngressRoute>(
      { hosts: [va, vb2], certificates: [], ingresses: [], statusAddresses: [] },
      (r) => {
        compiled.push(r);
        return r;
      },
      first,
      (r) => adopted.push(r),
    );
    expect(compiled).toEqual([a, b, b2]);
    expect(adopted).toEqual([a]);
    expect(second.match("a.example.com", "/x")).toBe(a);
    expect(second.match("b.example.com", "/")).toBe(b2);
  });
});
