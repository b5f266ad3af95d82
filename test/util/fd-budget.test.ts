import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import {
  descriptorExhaustionCounter,
  ExhaustionBackoff,
  type FdBudget,
  isDescriptorExhaustion,
  parseFdLimits,
  planFdBudget,
  raiseFdLimit,
} from "../../src/util/fd-budget.ts";

/** descriptors the caps can hold at once, with the reserve */
function descriptorsPlanned(b: FdBudget): number {
  return b.reserve + b.listeners + b.udpFlows + 2 * b.tcpConnections + 2 * b.ingressConnections + b.dnsTcpConnections;
}

describe("planFdBudget", () => {
  it.each([
    {
      limit: 20_000,
      want: {
        reserve: 2000,
        listeners: 1800,
        udpFlows: 5400,
        udpFlowsPerSource: 1350,
        udpFlowsPerListener: 2700,
        tcpConnections: 2700,
        tcpConnectionsPerListener: 1350,
        ingressConnections: 2250,
        dnsTcpConnections: 900,
      },
    },
    {
      limit: 1024,
      want: {
        reserve: 256,
        listeners: 76,
        udpFlows: 230,
        udpFlowsPerSource: 57,
        udpFlowsPerListener: 115,
        tcpConnections: 115,
        tcpConnectionsPerListener: 58,
        ingressConnections: 96,
        dnsTcpConnections: 38,
      },
    },
    {
      // a tiny limit: the reserve stops at half
      limit: 256,
      want: {
        reserve: 128,
        listeners: 12,
        udpFlows: 38,
        udpFlowsPerSource: 9,
        tcpConnections: 19,
        ingressConnections: 16,
      },
    },
    {
      // the per-listener UDP ceiling of 16,384 stays
      limit: 1_048_576,
      want: { reserve: 104_858, udpFlows: 283_115, udpFlowsPerSource: 70_778, udpFlowsPerListener: 16_384 },
    },
    { limit: 0, want: { reserve: 0, listeners: 1, udpFlows: 1, udpFlowsPerSource: 1, tcpConnections: 1 } },
  ])("limit $limit", ({ limit, want }) => {
    expect(planFdBudget(limit)).toMatchObject({ limit, ...want });
  });

  it.each([
    { flags: { maxUdpFlows: 100 }, want: { udpFlows: 100, udpFlowsPerSource: 25, udpFlowsPerListener: 50 } },
    { flags: { maxUdpFlows: 100, maxUdpFlowsPerSource: 7 }, want: { udpFlows: 100, udpFlowsPerSource: 7 } },
    { flags: { maxTcpConnections: 40 }, want: { tcpConnections: 40, tcpConnectionsPerListener: 20 } },
    { flags: { maxIngressConnections: 9 }, want: { ingressConnections: 9, udpFlows: 5400 } },
    // 0 = derived
    { flags: { maxUdpFlows: 0, maxTcpConnections: 0 }, want: { udpFlows: 5400, tcpConnections: 2700 } },
  ])("flags $flags", ({ flags, want }) => {
    expect(planFdBudget(20_000, flags)).toMatchObject(want);
  });

  it("never plans more descriptors than the limit (from 512 up)", () => {
    for (let limit = 512; limit < 2_000_000; limit = Math.ceil(limit * 1.37)) {
      const b = planFdBudget(limit);
      expect(descriptorsPlanned(b), `limit ${limit}`).toBeLessThanOrEqual(limit);
      expect(b.reserve, `limit ${limit}`).toBeGreaterThanOrEqual(256);
      expect(b.udpFlowsPerSource).toBeLessThanOrEqual(b.udpFlows);
      expect(b.udpFlowsPerListener).toBeLessThanOrEqual(Math.min(16_384, b.udpFlows));
    }
  });
});

describe("parseFdLimits", () => {
  const row = (soft: string, hard: string) =>
    `Limit                     Soft Limit           Hard Limit           Units     \nMax processes             63419                63419                processes \nMax open files            ${soft}                ${hard}                files     \n`;
  it.each([
    { text: row("1024", "524288"), want: { soft: 1024, hard: 524288 } },
    { text: row("20000", "20000"), want: { soft: 20000, hard: 20000 } },
    { text: row("1024", "unlimited"), want: { soft: 1024, hard: 2 ** 31 - 1 } },
    { text: row("2048", "1024"), want: undefined },
    { text: row("x", "1024"), want: undefined },
    { text: "Max processes 1 1 processes\n", want: undefined },
  ])("$want", ({ text, want }) => {
    expect(parseFdLimits(text)).toEqual(want);
  });

  it("reads this process's limits", () => {
    const limits = parseFdLimits(readFileSync("/proc/self/limits", "utf8"));
    expect(limits?.soft).toBeGreaterThan(0);
  });
});

describe("raiseFdLimit", () => {
  it("raises another process's soft limit to its hard one with prlimit", async () => {
    const child = spawn("prlimit", ["--nofile=64:200", "sleep", "10"], { stdio: "ignore" });
    try {
      // prlimit execs sleep: same pid, once the limit is set
      const path = `/proc/${child.pid}/limits`;
      for (let i = 0; i < 100 && !/Max open files\s+64\s/.test(readFileSync(path, "utf8")); i++)
        await new Promise((r) => setTimeout(r, 20));
      const result = raiseFdLimit(undefined, undefined, child.pid);
      expect(result).toEqual({ before: { soft: 64, hard: 200 }, after: { soft: 200, hard: 200 } });
    } finally {
      child.kill();
    }
  });

  it("keeps the soft limit and says why when prlimit fails", () => {
    const logged: string[] = [];
    const log = { info: (_: object, m: string) => logged.push(m), warn: (_: object, m: string) => logged.push(m) };
    const path = "/proc/self/limits";
    const own = parseFdLimits(readFileSync(path, "utf8"))!;
    const result = raiseFdLimit(
      log,
      () => {
        throw new Error("spawnSync prlimit ENOENT");
      },
      process.pid,
      // pretend the soft limit is below the hard one
      () => ({ soft: 100, hard: own.hard }),
    );
    expect(result.failed).toBe("prlimit: spawnSync prlimit ENOENT");
    expect(result.after?.soft).toBe(100);
    expect(logged).toEqual([
      `cannot raise the open-files limit to ${own.hard}; planning for 100: prlimit: spawnSync prlimit ENOENT`,
    ]);
  });
});

describe("ExhaustionBackoff", () => {
  it("grows while exhaustion repeats, resets after a quiet spell", () => {
    const b = new ExhaustionBackoff(100, 1000);
    expect(b.blockedAt(0)).toBe(false);
    expect(b.hit(0)).toBe(100);
    expect(b.blockedAt(50)).toBe(true);
    // during the pause: no new one, no growth
    expect(b.hit(60)).toBe(0);
    expect(b.blockedAt(100)).toBe(false);
    expect(b.hit(150)).toBe(200);
    expect(b.hit(400)).toBe(400);
    expect(b.hit(800)).toBe(800);
    expect(b.hit(1600)).toBe(1000);
    // quiet for more than twice the pause
    expect(b.hit(10_000)).toBe(100);
  });
});

describe("descriptor exhaustion counter", () => {
  it("is one counter per registry, whichever plane asks first", async () => {
    const registry = new Registry();
    descriptorExhaustionCounter(registry).inc({ plane: "service", listener: "UDP/127.0.0.1:53" });
    descriptorExhaustionCounter(registry).inc({ plane: "dns", listener: "tcp" });
    const text = await registry.metrics();
    expect(text).toContain('nodeplane_descriptor_exhaustion_total{plane="service",listener="UDP/127.0.0.1:53"} 1');
    expect(text).toContain('nodeplane_descriptor_exhaustion_total{plane="dns",listener="tcp"} 1');
  });

  it.each([
    ["EMFILE", true],
    ["ENFILE", true],
    [-24, true],
    [-23, true],
    ["ECONNREFUSED", false],
    [undefined, false],
  ] as const)("%s", (code, want) => {
    expect(isDescriptorExhaustion(code)).toBe(want);
  });
});
