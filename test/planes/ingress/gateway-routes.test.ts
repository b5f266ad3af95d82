import { Registry } from "prom-client";
import { afterAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../../src/log.ts";
import { GatewayRuleRuntime } from "../../../src/planes/ingress/gateway-routes.ts";
import { IngressMetrics } from "../../../src/planes/ingress/metrics.ts";
import { RouteCompiler } from "../../../src/planes/ingress/routes.ts";
import { UpstreamPools } from "../../../src/planes/ingress/upstream.ts";
import type { HttpFilter } from "../../../src/snapshot/gateway.ts";
import { backend, invalidBackend, rule, vhost } from "./gateway-harness.ts";

const pools = new UpstreamPools({ connectTimeoutMs: 1000, headerTimeoutMs: 1000, idleTimeoutMs: 1000 }, silentLogger);
const metrics = new IngressMetrics(new Registry());
afterAll(() => pools.close());

function runtime(r: ReturnType<typeof rule>): GatewayRuleRuntime {
  return new GatewayRuleRuntime(r, vhost("h", [r]), new RouteCompiler(pools, metrics), metrics);
}

/** which backend (by its target port) each of `n` picks went to */
function picks(rt: GatewayRuleRuntime, n: number): number[] {
  return Array.from({ length: n }, () => rt.pick()?.runtime?.backend?.endpoints[0]?.port ?? -1);
}

describe("weighted pick (smooth weighted round robin)", () => {
  it("splits every window of sum(weights) picks exactly, spread out, weight 0 never", () => {
    const rt = runtime(
      rule({ backends: [backend(1, { weight: 1 }), backend(2, { weight: 3 }), backend(3, { weight: 0 })] }),
    );
    const got = picks(rt, 400);
    for (let i = 0; i < 400; i += 4) {
      const window = got.slice(i, i + 4);
      expect(window.filter((p) => p === 1)).toHaveLength(1);
      expect(window.filter((p) => p === 2)).toHaveLength(3);
    }
    expect(got).not.toContain(3);
  });

  it("every weight 0 or no backend: no pick (500)", () => {
    expect(runtime(rule({ backends: [backend(1, { weight: 0 })] })).pick()).toBeUndefined();
    expect(runtime(rule({ backends: [] })).pick()).toBeUndefined();
    // an invalid reference is picked by its weight, and has no runtime (500 for that request)
    const half = runtime(rule({ backends: [invalidBackend(1), backend(2, { weight: 1 })] }));
    const got = picks(half, 100);
    expect(got.filter((p) => p === -1)).toHaveLength(50);
  });

  it("unpick takes the last pick back, so the split stays exact when the fast path declines", () => {
    const rt = runtime(rule({ backends: [backend(1, { weight: 2 }), backend(2, { weight: 5 })] }));
    const reference = runtime(rule({ backends: [backend(1, { weight: 2 }), backend(2, { weight: 5 })] }));
    const got: number[] = [];
    for (let i = 0; i < 70; i++) {
      if (i % 3 === 0) {
        rt.pick();
        rt.unpick();
      }
      got.push(rt.pick()!.runtime!.backend!.endpoints[0]!.port);
    }
    expect(got).toEqual(picks(reference, 70));
  });
});

describe("what the fast path may serve", () => {
  const modifier: HttpFilter = {
    type: "RequestHeaderModifier",
    modifier: { set: [["x-a", "1"]], add: [], remove: [] },
  };
  it.each<[string, Parameters<typeof rule>[0], boolean]>([
    [
      "header matches and header modifiers",
      { headers: [{ name: "x", type: "Exact", value: "1" }], filters: [modifier], backends: [backend(1)] },
      true,
    ],
    [
      "response header modifier",
      {
        filters: [{ type: "ResponseHeaderModifier", modifier: { set: [], add: [["x", "1"]], remove: [] } }],
        backends: [backend(1)],
      },
      true,
    ],
    ["weighted plain-HTTP backends", { backends: [backend(1, { weight: 2 }), backend(2, { weight: 3 })] }, true],
    ["a redirect", { filters: [{ type: "RequestRedirect", statusCode: 302 }] }, false],
    ["a rewrite", { filters: [{ type: "URLRewrite", hostname: "x" }], backends: [backend(1)] }, false],
    ["a timeout", { timeouts: { requestMs: 100 }, backends: [backend(1)] }, false],
    ["an h2c backend", { backends: [backend(1, { appProtocol: "h2c" })] }, false],
    ["no backend with weight", { backends: [backend(1, { weight: 0 })] }, false],
    ["an invalid backend", { backends: [invalidBackend(1)] }, false],
  ])("%s → %s", (_name, partial, fast) => {
    expect(runtime(rule(partial)).fastReady).toBe(fast);
  });
});
