import { afterEach, describe, expect, it } from "vitest";
import { INGRESS_OFF, type RunningApp, startApp } from "../../src/app.ts";
import { parseFlags } from "../../src/cli/flags.ts";
import { silentLogger } from "../../src/log.ts";
import type { Gateway, GatewayClass } from "../../src/model/gateway.ts";
import { FakeSource } from "../admin/fake-source.ts";
import { controlPathFlags } from "../support/flags.ts";

// With --http-address and --https-address both empty the ingress plane does not run, so nothing binds a Gateway's
// HTTP listener: before, its status said Programmed True while nothing listened.
const CLASS: GatewayClass = {
  apiVersion: "gateway.networking.k8s.io/v1",
  kind: "GatewayClass",
  metadata: { name: "nodeplane", generation: 1 },
  spec: { controllerName: "nodeplane.dev/gateway-controller" },
};
const GATEWAY: Gateway = {
  apiVersion: "gateway.networking.k8s.io/v1",
  kind: "Gateway",
  metadata: { name: "gw", namespace: "default", generation: 1, creationTimestamp: "2026-01-01T00:00:00Z" },
  spec: { gatewayClassName: "nodeplane", listeners: [{ name: "http", protocol: "HTTP", port: 18555 }] },
};

let app: RunningApp | undefined;
afterEach(async () => {
  await app?.stop();
  app = undefined;
});

describe("Gateway HTTP listeners with the ingress plane off", () => {
  it("are Programmed False with the reason, not shown as served", async () => {
    const source = new FakeSource([
      { kind: "GatewayClass", object: CLASS },
      { kind: "Gateway", object: GATEWAY },
    ]);
    const config = parseFlags(["--manifests=unused", ...controlPathFlags("127.97.0.0/16"), "--workers=1"]);
    app = await startApp(config, silentLogger, { source, withProcessMetrics: false });
    const running = app;
    const listener = async () => {
      const status = running.status.gatewayApiStatus?.("Gateway", "default", "gw");
      return status?.kind === "Gateway" ? status.status.listeners?.[0] : undefined;
    };
    let programmed: { status: string; reason: string; message: string } | undefined;
    for (let i = 0; i < 100 && programmed?.status !== "False"; i++) {
      programmed = (await listener())?.conditions.find((c) => c.type === "Programmed");
      if (programmed?.status !== "False") await new Promise((r) => setTimeout(r, 50));
    }
    expect(programmed).toMatchObject({ status: "False", reason: "Invalid", message: INGRESS_OFF });
  });
});
