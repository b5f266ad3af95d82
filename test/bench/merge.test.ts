import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { ResultsFile, RunRecord } from "../../bench/lib/results.ts";

const dir = mkdtempSync(join(tmpdir(), "nodeplane-bench-merge-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(scenario: string, target: string, round: number, rps: number): RunRecord {
  return {
    scenario,
    target,
    generator: "wrk",
    round,
    rps,
    p50_ms: 1,
    p99_ms: 2,
    gbps: null,
    cpu: 0.5,
    rps_per_core: rps * 2,
    duration_s: 10,
    errors: 0,
  };
}

function results(date: string, runs: RunRecord[]): string {
  const file = join(dir, `${date}.in.json`);
  const body: ResultsFile = { date, machine: { cpus: 2, model: "test cpu", node: "v24.0.0" }, runs };
  writeFileSync(file, JSON.stringify(body));
  return file;
}

describe("bench/merge.ts", () => {
  it("concatenates the runs of several result files into one report", () => {
    const a = results("2026-11-28T03:40:00.000Z", [
      run("l4-keepalive", "nodeplane", 1, 100),
      run("l4-keepalive", "haproxy", 1, 120),
    ]);
    const b = results("2026-11-28T04:00:00.000Z", [
      run("l7-keepalive", "nodeplane", 1, 50),
      run("l7-keepalive", "nginx", 1, 80),
    ]);
    const out = join(dir, "out");
    const text = execFileSync(process.execPath, ["bench/merge.ts", out, a, b], { encoding: "utf8" });
    const merged = JSON.parse(readFileSync(join(out, "latest.json"), "utf8")) as ResultsFile;
    expect(merged.date).toBe("2026-11-28T04:00:00.000Z");
    expect(merged.runs.map((r) => `${r.scenario}/${r.target}`)).toEqual([
      "l4-keepalive/nodeplane",
      "l4-keepalive/haproxy",
      "l7-keepalive/nodeplane",
      "l7-keepalive/nginx",
    ]);
    expect(text).toContain("merged from 2");
    expect(
      readdirSync(out)
        .filter((f) => f.endsWith(".svg"))
        .sort(),
    ).toEqual(["l4-keepalive.svg", "l7-keepalive.svg"]);
  });

  it("refuses fewer than two inputs", () => {
    expect(() => execFileSync(process.execPath, ["bench/merge.ts", dir], { stdio: "pipe" })).toThrow();
  });
});
