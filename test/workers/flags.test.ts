import { describe, expect, it } from "vitest";
import { demoArgs } from "../../src/cli/demo.ts";
import { parseFlags } from "../../src/cli/flags.ts";
import { cgroupCpuLimit, cpusFromQuota, defaultWorkers } from "../../src/workers/cpus.ts";
import { workerTraffic } from "../../src/workers/metrics.ts";
import type { WorkerMetrics } from "../../src/workers/protocol.ts";

describe("--workers", () => {
  it.each([
    [[], defaultWorkers()],
    [["--manifests", "d"], defaultWorkers()],
    [["--workers", "1"], 1],
    [["--workers=4"], 4],
    // the demo is one process unless asked otherwise
    [demoArgs([]), 1],
    [demoArgs(["--workers", "3"]), 3],
  ])("%j → %i", (argv, workers) => {
    expect(parseFlags(argv, {}).workers).toBe(workers);
  });

  it.each([["0"], ["65"], ["two"]])("--workers %s is rejected", (value) => {
    expect(() => parseFlags(["--workers", value], {})).toThrow(/--workers/);
  });
});

describe("default worker count", () => {
  it.each([
    ["max", "100000", undefined],
    ["-1", "100000", undefined],
    ["200000", "100000", 2],
    ["150000", "100000", 2],
    ["50000", "100000", 1],
    ["junk", "100000", undefined],
  ])("quota %s / period %s → %s CPUs", (quota, period, cpus) => {
    expect(cpusFromQuota(quota, period)).toBe(cpus);
  });

  it("reads cgroup v2 cpu.max, else v1 quota and period", () => {
    const files = (map: Record<string, string>) => (path: string) => map[path];
    expect(cgroupCpuLimit(files({ "/sys/fs/cgroup/cpu.max": "300000 100000\n" }))).toBe(3);
    expect(
      cgroupCpuLimit(
        files({
          "/sys/fs/cgroup/cpu/cpu.cfs_quota_us": "100000\n",
          "/sys/fs/cgroup/cpu/cpu.cfs_period_us": "100000\n",
        }),
      ),
    ).toBe(1);
    expect(cgroupCpuLimit(files({}))).toBeUndefined();
  });

  it("is at least one and at most the CPUs this process may run on", () => {
    expect(defaultWorkers()).toBeGreaterThanOrEqual(1);
    expect(defaultWorkers()).toBeLessThanOrEqual(64);
  });
});

describe("workerTraffic", () => {
  it("sums each traffic counter over its label sets and ignores everything else", () => {
    const metrics = [
      {
        name: "nodeplane_service_connections_total",
        help: "",
        type: "counter",
        aggregator: "sum",
        values: [
          { value: 3, labels: { service: "a" } },
          { value: 4, labels: { service: "b" } },
        ],
      },
      {
        name: "nginx_ingress_controller_requests",
        help: "",
        type: "counter",
        aggregator: "sum",
        values: [{ value: 2, labels: {} }],
      },
      {
        name: "nodeplane_service_connections_active",
        help: "",
        type: "gauge",
        aggregator: "sum",
        values: [{ value: 9, labels: {} }],
      },
    ] as unknown as WorkerMetrics;
    expect(workerTraffic(metrics)).toEqual({ connections: 7, requests: 2, dnsQueries: 0 });
  });
});
