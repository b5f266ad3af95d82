import { availableParallelism } from "node:os";
import { describe, expect, it } from "vitest";
import { demoArgs } from "../../src/cli/demo.ts";
import { parseFlags } from "../../src/cli/flags.ts";
import { workerTraffic } from "../../src/workers/metrics.ts";
import type { WorkerMetrics } from "../../src/workers/protocol.ts";

describe("--workers", () => {
  it.each([
    [[], Math.min(64, availableParallelism())],
    [["--manifests", "d"], Math.min(64, availableParallelism())],
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
