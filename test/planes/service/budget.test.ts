import { createSocket } from "node:dgram";
import { type AddressInfo, connect, createServer, type Socket } from "node:net";
import { Registry } from "prom-client";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ServicePlane } from "../../../src/planes/service/plane.ts";
import { forceTcpPath } from "../../../src/planes/service/tcp-handles.ts";
import { type FdBudget, planFdBudget } from "../../../src/util/fd-budget.ts";
import {
  Cleanup,
  captureLogger,
  endpoint,
  eventually,
  firstLine,
  frontend,
  nameEchoBackend,
  probe,
  servicePort,
  snapshot,
  testConfig,
  udpEchoBackend,
  uniqueLoopback,
} from "./helpers.ts";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const udp = { protocol: "UDP" as const };

/** A service plane with the given caps over a budget that leaves everything else roomy. */
async function plane(caps: Partial<FdBudget>) {
  const registry = new Registry();
  const log = captureLogger();
  const budget = { ...planFdBudget(100_000), ...caps };
  const p = new ServicePlane({ config: testConfig, logger: log.logger, registry, budget });
  await p.start();
  cleanup.add(() => p.close());
  return { plane: p, registry, lines: log.lines };
}

async function refused(registry: Registry, protocol: string, cap: string): Promise<number> {
  const metric = await registry.getSingleMetric("nodeplane_service_budget_refused_total")?.get();
  return metric?.values.find((v) => v.labels.protocol === protocol && v.labels.cap === cap)?.value ?? 0;
}

/**
 * Sends one datagram from each of `count` fresh sockets (distinct source ports) bound to `from`, in
 * batches of 100 so the flooding side holds at most 100 descriptors.
 */
async function flood(from: string, targets: { host: string; port: number }[], count: number): Promise<void> {
  for (let i = 0; i < count; i += 100) {
    const batch: Promise<void>[] = [];
    for (let j = i; j < Math.min(count, i + 100); j++) {
      const target = targets[j % targets.length]!;
      batch.push(
        new Promise<void>((resolve) => {
          const s = createSocket("udp4");
          s.on("error", () => resolve());
          s.bind(0, from, () => s.send("x", target.port, target.host, () => s.close(() => resolve())));
        }),
      );
    }
    await Promise.all(batch);
  }
}

/** One datagram from a fresh socket on `from`; its answer, or undefined after `ms`. */
function ask(from: string, host: string, port: number, ms = 1_000): Promise<string | undefined> {
  return new Promise((resolve) => {
    const s = createSocket("udp4");
    const done = (answer: string | undefined) => {
      clearTimeout(timer);
      s.close();
      resolve(answer);
    };
    const timer = setTimeout(() => done(undefined), ms);
    s.on("message", (msg) => done(String(msg)));
    s.bind(0, from, () => s.send("q", port, host));
  });
}

function sum(counts: Record<string, number>): number {
  return Object.values(counts).reduce((a, b) => a + b, 0);
}

/** A TCP server of its own in the test process (another plane's listener, say): does it still accept? */
async function sideServer(): Promise<number> {
  const server = createServer((s) => s.end("side\n"));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  cleanup.add(() => new Promise<void>((r) => server.close(() => r())));
  return (server.address() as AddressInfo).port;
}

describe("descriptor budget of the service plane", () => {
  it("caps UDP flows across listeners under a flood from distinct source ports; TCP keeps serving (bounded: 2,000 datagrams)", async () => {
    const { plane: p, registry } = await plane({ udpFlows: 100, udpFlowsPerSource: 100 });
    const u = await udpEchoBackend("127.0.0.1", "u");
    cleanup.add(() => u.close());
    const t = await nameEchoBackend("127.0.0.1", "t");
    cleanup.add(() => t.close());
    const [vip1, vip2, vip3] = [uniqueLoopback(), uniqueLoopback(), uniqueLoopback()];
    await p.apply(
      undefined,
      snapshot([
        servicePort("u1", [frontend(vip1, 53, udp)], [endpoint(u.host, u.port)]),
        servicePort("u2", [frontend(vip2, 53, udp)], [endpoint(u.host, u.port)]),
        servicePort("t", [frontend(vip3, 80)], [endpoint(t.host, t.port)]),
      ]),
    );
    const side = await sideServer();

    await flood(
      "127.0.0.1",
      [
        { host: vip1, port: 53 },
        { host: vip2, port: 53 },
      ],
      2_000,
    );
    // the cap is for both UDP Services together, not per listener
    await eventually(() => p.budgetUse().udpFlows === 100, 3_000, "100 flows");
    const open = p.openConnections();
    expect(sum(open)).toBe(100);
    expect(open["default/u1:|cluster|4"]).toBeGreaterThan(0);
    expect(open["default/u2:|cluster|4"]).toBeGreaterThan(0);
    expect(await refused(registry, "UDP", "total")).toBeGreaterThan(0);
    // a new client is dropped, not served by evicting an established flow
    expect(await ask("127.0.0.1", vip1, 53, 300)).toBeUndefined();
    expect(p.budgetUse().udpFlows).toBe(100);

    // the other listeners still accept: the ClusterIP over TCP and a server of the same process
    expect(await firstLine(vip3, 80)).toBe("t");
    expect(await firstLine("127.0.0.1", side)).toBe("side");
  });

  it("caps the UDP flows of one client IP; another client is still served (bounded: 300 datagrams)", async () => {
    const { plane: p, registry } = await plane({ udpFlows: 1_000, udpFlowsPerSource: 50 });
    const u = await udpEchoBackend("127.0.0.1", "u");
    cleanup.add(() => u.close());
    const vip = uniqueLoopback();
    await p.apply(undefined, snapshot([servicePort("u", [frontend(vip, 53, udp)], [endpoint(u.host, u.port)])]));

    await flood("127.0.0.1", [{ host: vip, port: 53 }], 300);
    await eventually(() => p.budgetUse().udpFlows === 50, 3_000, "50 flows");
    expect(await refused(registry, "UDP", "source")).toBeGreaterThan(0);
    expect(await ask("127.0.0.1", vip, 53, 300)).toBeUndefined();
    // another source address has its own share
    expect(await ask("127.0.0.2", vip, 53)).toBe("u:q");
    expect(p.budgetUse()).toMatchObject({ udpFlows: 51, udpSources: 2 });
  });

  it("gives a flow's slot back when it idles out", async () => {
    const registry = new Registry();
    const budget = { ...planFdBudget(100_000), udpFlows: 2, udpFlowsPerSource: 2 };
    const p = new ServicePlane({
      config: { ...testConfig, udpIdleTimeoutMs: 150 },
      logger: captureLogger().logger,
      registry,
      budget,
    });
    cleanup.add(() => p.close());
    const u = await udpEchoBackend("127.0.0.1", "u");
    cleanup.add(() => u.close());
    const vip = uniqueLoopback();
    await p.apply(undefined, snapshot([servicePort("u", [frontend(vip, 53, udp)], [endpoint(u.host, u.port)])]));
    expect(await ask("127.0.0.1", vip, 53)).toBe("u:q");
    expect(await ask("127.0.0.1", vip, 53)).toBe("u:q");
    expect(await ask("127.0.0.1", vip, 53, 300)).toBeUndefined();
    await eventually(() => p.budgetUse().udpFlows === 0, 3_000, "flows idled out");
    expect(await ask("127.0.0.1", vip, 53)).toBe("u:q");
  });

  it("binds no more listening sockets than the budget; the rest are one problem and one log line", async () => {
    const { plane: p, lines } = await plane({ listeners: 20 });
    const t = await nameEchoBackend("127.0.0.1", "t");
    cleanup.add(() => t.close());
    const vip = uniqueLoopback();
    const ports = Array.from({ length: 50 }, (_, i) => 20_000 + i);
    const many = servicePort(
      "many",
      ports.map((port) => frontend(vip, port)),
      [endpoint(t.host, t.port)],
    );
    await p.apply(undefined, snapshot([many]));
    const status = p.status();
    expect(status.listening).toHaveLength(20);
    expect(Object.keys(status.failed)).toHaveLength(30);
    expect(Object.values(status.failed)[0]).toMatch(/20 listening sockets \(descriptor budget\)/);
    expect(p.problems()).toEqual([
      expect.objectContaining({
        kind: "Service",
        namespace: "default",
        name: "many",
        message: expect.stringMatching(/^30 port\(s\) not bound/),
      }),
    ]);
    // a bound one serves, and the process can still open sockets of its own
    const [first] = status.listening;
    expect(await firstLine(vip, Number(first!.split(":").pop()))).toBe("t");
    expect(await firstLine("127.0.0.1", await sideServer())).toBe("side");
    // the next apply (same plan) retries without another line per port
    await p.apply(undefined, snapshot([many]));
    expect(lines().filter((l) => /not bound/.test(l.msg))).toHaveLength(1);
  });
});

for (const path of ["handles", "sockets"] as const)
  describe(`TCP connection caps (${path} path)`, () => {
    beforeAll(() => forceTcpPath(path));
    afterAll(() => forceTcpPath(undefined));

    it("resets connections over the plane-wide cap and takes new ones once a slot is free", async () => {
      const { plane: p, registry } = await plane({ tcpConnections: 3, tcpConnectionsPerListener: 3 });
      const t = await nameEchoBackend("127.0.0.1", "t");
      cleanup.add(() => t.close());
      const [vip1, vip2] = [uniqueLoopback(), uniqueLoopback()];
      await p.apply(
        undefined,
        snapshot([
          servicePort("a", [frontend(vip1, 80)], [endpoint(t.host, t.port)]),
          servicePort("b", [frontend(vip2, 80)], [endpoint(t.host, t.port)]),
        ]),
      );
      const held: Socket[] = [];
      cleanup.add(() => {
        for (const s of held) s.destroy();
      });
      const hold = (host: string) =>
        new Promise<void>((resolve, reject) => {
          const s = connect(80, host);
          held.push(s);
          s.once("data", () => resolve());
          s.once("error", reject);
        });
      await hold(vip1);
      await hold(vip1);
      await hold(vip2);
      expect(p.budgetUse().tcpConnections).toBe(3);
      // over the cap, whichever listener: reset at once
      expect(await probe(vip2, 80)).toMatch(/reset|closed/);
      expect(await refused(registry, "TCP", "total")).toBe(1);
      held.shift()!.destroy();
      await eventually(() => p.budgetUse().tcpConnections === 2, 3_000, "slot released");
      expect(await probe(vip2, 80)).toBe("data:t");
      await eventually(() => p.budgetUse().tcpConnections === 2, 3_000, "probe's slot released");
    });

    it("caps one listener's connections below the plane-wide cap", async () => {
      const { plane: p, registry } = await plane({ tcpConnections: 10, tcpConnectionsPerListener: 1 });
      const t = await nameEchoBackend("127.0.0.1", "t");
      cleanup.add(() => t.close());
      const [vip1, vip2] = [uniqueLoopback(), uniqueLoopback()];
      await p.apply(
        undefined,
        snapshot([
          servicePort("a", [frontend(vip1, 80)], [endpoint(t.host, t.port)]),
          servicePort("b", [frontend(vip2, 80)], [endpoint(t.host, t.port)]),
        ]),
      );
      const s = connect(80, vip1);
      cleanup.add(() => s.destroy());
      await new Promise((r) => s.once("data", r));
      expect(await probe(vip1, 80)).toMatch(/reset|closed/);
      expect(await refused(registry, "TCP", "listener")).toBe(1);
      expect(await probe(vip2, 80)).toBe("data:t");
    });

    it("gives the slot back when every endpoint refuses the dial", async () => {
      const { plane: p } = await plane({ tcpConnections: 1, tcpConnectionsPerListener: 1 });
      // a port nothing listens on
      const closed = createServer();
      await new Promise<void>((r) => closed.listen(0, "127.0.0.1", () => r()));
      const deadPort = (closed.address() as AddressInfo).port;
      await new Promise<void>((r) => closed.close(() => r()));
      const vip = uniqueLoopback();
      await p.apply(undefined, snapshot([servicePort("dead", [frontend(vip, 80)], [endpoint("127.0.0.1", deadPort)])]));
      for (let i = 0; i < 3; i++) expect(await probe(vip, 80)).toMatch(/reset|closed/);
      await eventually(() => p.budgetUse().tcpConnections === 0, 3_000, "slot released");
    });
  });
