import { createSocket } from "node:dgram";
import { Registry } from "prom-client";
import { afterEach, describe, expect, it } from "vitest";
import { silentLogger } from "../../../src/log.ts";
import type { PlaneRole } from "../../../src/planes/context.ts";
import { ServicePlane } from "../../../src/planes/service/plane.ts";
import type { IpRunner } from "../../../src/planes/service/vip.ts";
import type { GatewayHttpSocket } from "../../../src/snapshot/gateway.ts";
import { gatewaySnapshot, l4Backend, l4Socket } from "./gateway-helpers.ts";
import {
  Cleanup,
  endpoint,
  firstLine,
  frontend,
  nameEchoBackend,
  servicePort,
  testConfig,
  udpEchoBackend,
  uniqueLoopback,
} from "./helpers.ts";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

function plane(role: PlaneRole) {
  const calls: string[] = [];
  const run: IpRunner = async (args) => {
    calls.push(args.join(" "));
    return args.includes("-j") ? "[]" : "";
  };
  const p = new ServicePlane({
    config: { ...testConfig, vipInterface: "np-test0" },
    logger: silentLogger,
    registry: new Registry(),
    ip: run,
    vipStateFile: `/tmp/nodeplane-gw-roles-test-${process.pid}-${Math.random()}.json`,
    role,
    reusePort: role === "worker",
  });
  cleanup.add(() => p.close());
  return { plane: p, calls };
}

describe("Gateway sockets and the plane's roles", () => {
  it("the node-wide process adds a Gateway's non-local address as a virtual IP (not 0.0.0.0 or ::) and listens on nothing; workers share the sockets", async () => {
    const pod = await nameEchoBackend("127.0.0.1", "a");
    const udp = await udpEchoBackend("127.0.0.1", "u");
    cleanup.add(() => pod.close());
    cleanup.add(() => udp.close());
    const loop = uniqueLoopback();
    const snap = gatewaySnapshot([
      l4Socket("TCP", "10.250.0.20", 7000, [l4Backend(1, "a", [pod])]),
      l4Socket("TCP", "0.0.0.0", 17_000 + (process.pid % 500), [l4Backend(1, "a", [pod])]),
      l4Socket("TCP", loop, 7001, [l4Backend(1, "a", [pod])]),
      l4Socket("UDP", loop, 7002, [l4Backend(1, "u", [udp])]),
    ]);
    const primary = plane("primary");
    await primary.plane.start();
    await primary.plane.apply(undefined, snap);
    expect(primary.calls).toContain("addr add 10.250.0.20/32 dev np-test0 label np-test0:np");
    expect(primary.calls.filter((c) => c.startsWith("addr add"))).toHaveLength(1);
    expect(primary.plane.status().listening).toEqual([]);

    // a Gateway that goes takes its address with it
    await primary.plane.apply(undefined, gatewaySnapshot(snap.gateway.l4.slice(2)));
    expect(primary.calls).toContain("addr del 10.250.0.20/32 dev np-test0");

    const one = plane("worker");
    const two = plane("worker");
    await one.plane.apply(undefined, gatewaySnapshot(snap.gateway.l4.slice(2)));
    await two.plane.apply(undefined, gatewaySnapshot(snap.gateway.l4.slice(2)));
    expect(one.calls).toEqual([]);
    const both = [`TCP ${loop}:7001`, `UDP ${loop}:7002`];
    expect(one.plane.status()).toEqual({ listening: both, failed: {} });
    expect(two.plane.status()).toEqual({ listening: both, failed: {} });
    expect(await firstLine(loop, 7001)).toBe("a");
    const reply = await new Promise<string>((resolve) => {
      const c = createSocket("udp4");
      c.on("message", (m) => {
        c.close();
        resolve(String(m));
      });
      c.send("hi", 7002, loop);
    });
    expect(reply).toBe("u:hi");
  });

  // The ingress plane binds a Gateway's HTTP and HTTPS sockets, but only the service plane adds addresses: a
  // Gateway with a non-local spec.addresses and only an HTTP listener had no address to bind.
  it("adds the non-local address of a Gateway's HTTP socket too, and removes it when the socket goes", async () => {
    const primary = plane("primary");
    await primary.plane.start();
    const http: GatewayHttpSocket = {
      id: "10.250.0.21:80",
      address: "10.250.0.21",
      port: 80,
      protocol: "HTTP",
      listeners: [{ namespace: "default", gateway: "gw", listener: "http" }],
      hosts: [],
      certificates: [],
    };
    const wildcard: GatewayHttpSocket = { ...http, id: "0.0.0.0:81", address: "0.0.0.0", port: 81 };
    const base = gatewaySnapshot([]);
    await primary.plane.apply(undefined, { ...base, gateway: { ...base.gateway, http: [http, wildcard] } });
    expect(primary.calls).toContain("addr add 10.250.0.21/32 dev np-test0 label np-test0:np");
    expect(primary.calls.filter((c) => c.startsWith("addr add"))).toHaveLength(1);
    await primary.plane.apply(undefined, { ...base, gateway: { ...base.gateway, http: [] } });
    expect(primary.calls).toContain("addr del 10.250.0.21/32 dev np-test0");
  });

  it("a Service port that claims a Gateway socket's key later takes it; the Gateway socket is reported not bound", async () => {
    const reports: [string, string | undefined][] = [];
    const gwPod = await nameEchoBackend("127.0.0.1", "gw");
    const svcPod = await nameEchoBackend("127.0.0.1", "svc");
    cleanup.add(() => gwPod.close());
    cleanup.add(() => svcPod.close());
    const p = new ServicePlane({
      config: testConfig,
      logger: silentLogger,
      registry: new Registry(),
      status: { reportGatewayBind: (id, error) => reports.push([id, error]) },
    });
    cleanup.add(() => p.close());
    const loop = uniqueLoopback();
    const l4 = [l4Socket("TCP", loop, 7003, [l4Backend(1, "gw", [gwPod])])];
    await p.apply(undefined, gatewaySnapshot(l4));
    expect(await firstLine(loop, 7003)).toBe("gw");
    await p.apply(
      undefined,
      gatewaySnapshot(l4, [servicePort("web", [frontend(loop, 7003)], [endpoint(svcPod.host, svcPod.port)])]),
    );
    expect(await firstLine(loop, 7003)).toBe("svc");
    expect(reports).toEqual([
      [`${loop}:7003/TCP`, undefined],
      [`${loop}:7003/TCP`, "already served for Service default/web"],
    ]);
    // the Service goes: the Gateway socket is bound again
    await p.apply(undefined, gatewaySnapshot(l4));
    expect(await firstLine(loop, 7003)).toBe("gw");
    expect(reports.at(-1)).toEqual([`${loop}:7003/TCP`, undefined]);
  });
});
