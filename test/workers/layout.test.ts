import { describe, expect, it } from "vitest";
import { parseFlags } from "../../src/cli/flags.ts";
import { planLayout } from "../../src/workers/layout.ts";
import { type WorkerInfo, workerProblems } from "../../src/workers/supervisor.ts";

const HTTP = { host: "127.0.0.1", port: 80 };

describe("planLayout: which process runs which plane", () => {
  it.each([
    {
      row: "--workers 1, isolated: service+DNS here, the ingress in one worker",
      config: { workers: 1, ingressIsolation: "process", httpAddress: HTTP },
      want: {
        role: "single",
        planes: ["service", "dns"],
        groups: [{ name: "ingress", planes: ["ingress"], count: 1 }],
      },
    },
    {
      row: "--workers 1, none: everything in one process (the old mode)",
      config: { workers: 1, ingressIsolation: "none", httpAddress: HTTP },
      want: { role: "single", planes: ["service", "ingress", "dns"], groups: [] },
    },
    {
      row: "--workers 1, isolated but no ingress listener: no worker to fork",
      config: { workers: 1, ingressIsolation: "process" },
      want: { role: "single", planes: ["service", "ingress", "dns"], groups: [] },
    },
    {
      row: "--workers 3, isolated: primary keeps VIPs, 3 service+DNS and 3 ingress workers",
      config: { workers: 3, ingressIsolation: "process", httpsAddress: HTTP },
      want: {
        role: "primary",
        planes: ["service"],
        groups: [
          { name: "service", planes: ["service", "dns"], count: 3 },
          { name: "ingress", planes: ["ingress"], count: 3 },
        ],
      },
    },
    {
      row: "--workers 2, none: 2 workers with every plane (the old mode)",
      config: { workers: 2, ingressIsolation: "none", httpAddress: HTTP },
      want: {
        role: "primary",
        planes: ["service"],
        groups: [{ name: "all", planes: ["service", "ingress", "dns"], count: 2 }],
      },
    },
    {
      row: "--workers 2, isolated but no ingress listener: only service workers",
      config: { workers: 2, ingressIsolation: "process" },
      want: {
        role: "primary",
        planes: ["service"],
        groups: [{ name: "service", planes: ["service", "dns"], count: 2 }],
      },
    },
  ] as const)("$row", ({ config, want }) => {
    expect(planLayout(config)).toEqual(want);
  });

  it("--ingress-isolation is process by default, takes none, and refuses anything else", () => {
    expect(parseFlags([], {}).ingressIsolation).toBe("process");
    expect(parseFlags(["--ingress-isolation", "none"], {}).ingressIsolation).toBe("none");
    expect(() => parseFlags(["--ingress-isolation", "thread"], {})).toThrow(/--ingress-isolation/);
  });

  it("--stop-timeout defaults to 10 s and must be more than 0", () => {
    expect(parseFlags([], {}).stopTimeoutMs).toBe(10_000);
    expect(parseFlags(["--stop-timeout", "3s"], {}).stopTimeoutMs).toBe(3_000);
    expect(() => parseFlags(["--stop-timeout", "0"], {})).toThrow(/--stop-timeout: "0" must be more than 0/);
  });
});

describe("workerProblems", () => {
  const NOW = Date.parse("2026-01-01T00:01:00Z");
  const base: WorkerInfo = {
    index: 0,
    name: "ingress-0",
    group: "ingress",
    planes: ["ingress"],
    pid: 10,
    state: "running",
    generation: 3,
    restarts: 0,
    startedAt: "2026-01-01T00:00:00Z",
  };
  const exit = { cause: "signal SIGKILL", at: "2026-01-01T00:00:50Z", inARow: 3 };

  it.each([
    { row: "running, never crashed: none", worker: base, want: [] },
    { row: "starting the first time: none", worker: { ...base, state: "starting" as const, pid: undefined }, want: [] },
    { row: "stopped: none", worker: { ...base, state: "stopped" as const, lastExit: exit }, want: [] },
    {
      row: "restarting: the cause, the count in a row, the restarts and the next try",
      worker: {
        ...base,
        state: "restarting" as const,
        restarts: 2,
        lastExit: exit,
        nextRetryAt: "2026-01-01T00:01:00.4Z",
      },
      want: [
        "planes ingress: exited (signal SIGKILL) at 2026-01-01T00:00:50Z, 3 times in a row; 2 restarts so far; now restarting at 2026-01-01T00:01:00.4Z",
      ],
    },
    {
      row: "running again less than the stable time after a crash: still shown",
      worker: { ...base, restarts: 1, startedAt: "2026-01-01T00:00:51Z", lastExit: { ...exit, inARow: 1 } },
      want: [
        "planes ingress: exited (signal SIGKILL) at 2026-01-01T00:00:50Z, 1 time in a row; 1 restart so far; now running",
      ],
    },
    {
      row: "running stably since the crash: gone",
      worker: { ...base, restarts: 1, startedAt: "2026-01-01T00:00:20Z", lastExit: exit },
      want: [],
    },
    {
      row: "the worker's own reason for a failed start is kept",
      worker: {
        ...base,
        state: "restarting" as const,
        lastExit: { ...exit, cause: "code 1", reason: "listen EADDRINUSE" },
      },
      want: [
        "planes ingress: exited (code 1: listen EADDRINUSE) at 2026-01-01T00:00:50Z, 3 times in a row; 0 restarts so far; now restarting",
      ],
    },
  ])("$row", ({ worker, want }) => {
    const problems = workerProblems([worker], 30_000, NOW);
    expect(problems.map((p) => p.message)).toEqual(want);
    for (const p of problems) expect(p).toMatchObject({ kind: "Worker", name: "ingress-0" });
  });
});
