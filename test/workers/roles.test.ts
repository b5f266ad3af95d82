import { connect } from "node:net";
import { Registry } from "prom-client";
import { afterEach, describe, expect, it } from "vitest";
import { parseFlags } from "../../src/cli/flags.ts";
import type { Config } from "../../src/config.ts";
import { silentLogger } from "../../src/log.ts";
import type { PlaneContext, PlaneRole } from "../../src/planes/context.ts";
import { planeFactories } from "../../src/planes/index.ts";
import { generateDefaultCertificate } from "../../src/planes/ingress/certificates.ts";
import type { Plane } from "../../src/planes/plane.ts";
import { ServicePlane } from "../../src/planes/service/plane.ts";
import type { IpRunner } from "../../src/planes/service/vip.ts";
import { MemoryStatusWriter } from "../../src/status/writer.ts";
import { Store } from "../../src/store/store.ts";
import { resolveEphemeralPorts } from "../../src/workers/ports.ts";
import {
  Cleanup,
  endpoint,
  frontend,
  nameEchoBackend,
  servicePort,
  snapshot,
  testConfig,
  uniqueLoopback,
} from "../planes/service/helpers.ts";
import { planService, withoutClientIPAffinity } from "../planes/service/reference-plan.ts";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/** An `ip` that records what it was asked; the VIP link exists and holds nothing. */
function recordingIp(): { run: IpRunner; calls: string[] } {
  const calls: string[] = [];
  const run: IpRunner = async (args) => {
    calls.push(args.join(" "));
    if (args.includes("-j")) return "[]";
    return "";
  };
  return { run, calls };
}

function servicePlane(role: PlaneRole, extra: { servesAffinity?: boolean } = {}) {
  const ip = recordingIp();
  const plane = new ServicePlane({
    config: { ...testConfig, vipInterface: "np-test0" },
    logger: silentLogger,
    registry: new Registry(),
    ip: ip.run,
    vipStateFile: `/tmp/nodeplane-roles-test-${process.pid}-${Math.random()}.json`,
    role,
    reusePort: role === "worker",
    ...extra,
  });
  cleanup.add(() => plane.close());
  return { plane, calls: ip.calls };
}

/** True when a TCP connect to ip:port is accepted (and says who answered). */
function answer(ip: string, port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const s = connect({ host: ip, port });
    s.setEncoding("utf8");
    s.once("data", (d: string) => {
      s.destroy();
      resolve(d.trim());
    });
    s.once("error", () => resolve(undefined));
  });
}

describe("service plane roles", () => {
  it("the primary manages virtual IPs and listens on nothing; a worker listens and never touches addresses", async () => {
    const backend = await nameEchoBackend("127.0.0.1", "b1");
    cleanup.add(() => backend.close());
    // 127.x is local: use a non-loopback VIP to see the primary ask for it (the recording ip adds nothing real)
    const vip = "10.250.0.10";
    const loop = uniqueLoopback();
    const snap = snapshot([
      servicePort(
        "web",
        [frontend(loop, 18_500 + (process.pid % 500)), frontend(vip, 80)],
        [endpoint("127.0.0.1", backend.port)],
      ),
    ]);

    const primary = servicePlane("primary");
    await primary.plane.start();
    await primary.plane.apply(undefined, snap);
    expect(primary.calls).toContain("addr add 10.250.0.10/32 dev np-test0 label np-test0:np");
    expect(primary.plane.status().listening).toEqual([]);
    expect(await answer(loop, snap.servicePorts[0]!.port)).toBeUndefined();

    const worker = servicePlane("worker");
    await worker.plane.start();
    await worker.plane.apply(undefined, snap);
    expect(worker.calls).toEqual([]);
    expect(worker.plane.status().listening).toContain(`TCP ${loop}:${snap.servicePorts[0]!.port}`);
    expect(await answer(loop, snap.servicePorts[0]!.port)).toBe("b1");
  });

  it("two workers share one socket (SO_REUSEPORT); only the affinity owner serves ClientIP ports", async () => {
    const backend = await nameEchoBackend("127.0.0.1", "b1");
    cleanup.add(() => backend.close());
    const loop = uniqueLoopback();
    const snap = snapshot([
      servicePort("plain", [frontend(loop, 81)], [endpoint("127.0.0.1", backend.port)]),
      servicePort("sticky", [frontend(loop, 82)], [endpoint("127.0.0.1", backend.port)], {
        sessionAffinity: { type: "ClientIP", timeoutSeconds: 60 },
      }),
    ]);
    const owner = servicePlane("worker", { servesAffinity: true });
    const other = servicePlane("worker", { servesAffinity: false });
    await owner.plane.apply(undefined, snap);
    await other.plane.apply(undefined, snap);
    expect(owner.plane.status()).toEqual({ listening: [`TCP ${loop}:81`, `TCP ${loop}:82`], failed: {} });
    expect(other.plane.status()).toEqual({ listening: [`TCP ${loop}:81`], failed: {} });

    // affinity turned off: the other worker now serves the port too; turned on again: it lets go
    const loose = snapshot([snap.servicePorts[0]!, { ...snap.servicePorts[1]!, sessionAffinity: { type: "None" } }]);
    await other.plane.apply(snap, loose);
    expect(other.plane.status().listening).toEqual([`TCP ${loop}:81`, `TCP ${loop}:82`]);
    await other.plane.apply(loose, snapshot(snap.servicePorts.slice()));
    expect(other.plane.status().listening).toEqual([`TCP ${loop}:81`]);
    expect(await answer(loop, 82)).toBe("b1");
  });

  it("withoutClientIPAffinity keeps the plan as it is when no port has affinity", () => {
    const plan = planService(snapshot([servicePort("a", [frontend("127.0.0.1", 80)], [endpoint("127.0.0.2", 80)])]));
    expect(withoutClientIPAffinity(plan)).toBe(plan);
  });
});

/** Every plane of PLANES, built as a worker would build it. */
async function buildPlanes(config: Config, role: PlaneRole, reusePort: boolean, pem: { cert: string; key: string }) {
  const context: PlaneContext = {
    config,
    logger: silentLogger,
    registry: new Registry(),
    store: new Store(),
    status: new MemoryStatusWriter(),
    role,
    reusePort,
    worker: { index: 0, count: 2 },
    defaultCertificate: pem,
  };
  const planes: Plane[] = [];
  cleanup.add(async () => {
    for (const p of planes.reverse()) await p.close();
  });
  for (const factory of await planeFactories()) {
    const plane = await factory(context);
    if (plane) planes.push(plane);
  }
  return planes;
}

describe("every plane's listeners", () => {
  const pem = generateDefaultCertificate();
  const configFor = () =>
    resolveEphemeralPorts({
      ...parseFlags(["--manifests", "unused", "--vip-interface", "none", "--dns-upstream", "127.0.0.1:9"], {}),
      httpAddress: { host: "127.0.0.1", port: 0 },
      httpsAddress: { host: "127.0.0.1", port: 0 },
      dnsAddress: { host: "127.0.0.1", port: 0 },
    });

  it("bind with SO_REUSEPORT in workers: a second worker binds the same ports", async () => {
    const config = await configFor();
    const first = await buildPlanes(config, "worker", true, pem);
    const second = await buildPlanes(config, "worker", true, pem);
    expect(first.map((p) => p.name)).toEqual(["service", "ingress", "dns"]);
    expect(second.map((p) => p.name)).toEqual(["service", "ingress", "dns"]);
  });

  it("stay exclusive in a single process: a second one on the same ports fails", async () => {
    const config = await configFor();
    await buildPlanes(config, "single", false, pem);
    await expect(buildPlanes(config, "single", false, pem)).rejects.toThrow(/EADDRINUSE/);
  });

  it("are not opened by the primary (only the service plane runs there, for addresses)", async () => {
    const config = await configFor();
    const planes = await buildPlanes(config, "primary", false, pem);
    expect(planes.map((p) => p.name)).toEqual(["service"]);
    // and the workers can still have the ports exclusively to themselves
    await buildPlanes(config, "single", false, pem);
  });
});
