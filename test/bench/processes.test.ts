import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ProcessManager, runBounded } from "../../bench/lib/processes.ts";
import { processTree, readProcTable } from "../../bench/lib/procstat.ts";

/** Running (a zombie waiting for its reaper counts as gone). */
function alive(pid: number): boolean {
  const p = readProcTable().find((x) => x.pid === pid);
  return p !== undefined && p.state !== "Z";
}

describe("ProcessManager", () => {
  let dir: string;
  let pm: ProcessManager;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "bench-pm-test-"));
    pm = new ProcessManager(dir, 2);
  });
  afterEach(async () => {
    await pm.stopAll();
    rmSync(dir, { recursive: true, force: true });
  });

  it("stops a peer and the processes it started (its process group), logging its output", async () => {
    const m = pm.start("peer", "sh", ["-c", "echo started; sleep 30 & sleep 30; wait"]);
    let children: number[] = [];
    for (let i = 0; i < 50 && children.length < 2; i++) {
      await new Promise((r) => setTimeout(r, 20));
      children = processTree(m.pid, readProcTable()).filter((p) => p !== m.pid);
    }
    expect(children.length).toBeGreaterThanOrEqual(2);
    await pm.stop(m);
    await new Promise((r) => setTimeout(r, 50));
    expect([m.pid, ...children].filter(alive)).toEqual([]);
    expect(readFileSync(m.log, "utf8")).toContain("started");
  });

  it("kills a bounded run that overstays, and reports it", async () => {
    const started = Date.now();
    const r = await runBounded(pm, "slow", "sh", ["-c", "echo partial; sleep 30"], { timeoutMs: 300 });
    expect(r.timedOut).toBe(true);
    expect(r.stdout).toContain("partial");
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it("captures the output of a run that finishes", async () => {
    const r = await runBounded(pm, "quick", "sh", ["-c", "echo out; echo err >&2; exit 3"], { timeoutMs: 5000 });
    expect(r).toEqual({ code: 3, stdout: "out\n", stderr: "err\n", timedOut: false });
  });

  it("prefixes taskset only for a CPU that exists, when pinning is possible", () => {
    const [cmd, args] = pm.pinned(1, "nginx", ["-c", "x"]);
    if (pm.pinning) expect([cmd, args]).toEqual(["taskset", ["-c", "1", "nginx", "-c", "x"]]);
    else expect([cmd, args]).toEqual(["nginx", ["-c", "x"]]);
    expect(pm.pinned(7, "nginx", [])).toEqual(["nginx", []]);
    expect(pm.pinned(undefined, "nginx", [])).toEqual(["nginx", []]);
  });
});
