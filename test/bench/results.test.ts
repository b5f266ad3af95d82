import { describe, expect, it } from "vitest";
import { fileStamp, type RunRecord, summarise } from "../../bench/lib/results.ts";

function run(
  target: string,
  round: number,
  rps: number,
  cpu: number | null,
  extra: Partial<RunRecord> = {},
): RunRecord {
  return {
    scenario: "l7-keepalive",
    target,
    generator: "wrk",
    round,
    rps,
    p50_ms: 0.5,
    p99_ms: 1 + round,
    gbps: 0.1,
    cpu,
    rps_per_core: cpu ? rps / cpu : null,
    duration_s: 10,
    errors: round,
    ...extra,
  };
}

describe("summarise", () => {
  const runs = [
    run("direct", 0, 100_000, null),
    run("direct", 1, 120_000, null),
    run("direct", 2, 110_000, null),
    run("nginx", 0, 40_000, 0.5), // 80k/core
    run("nginx", 1, 42_000, 0.5), // 84k/core
    run("nginx", 2, 38_000, 0.5), // 76k/core
    run("haproxy", 0, 30_000, 0.5), // 60k/core
    run("nodeplane", 0, 33_000, 0.5), // 66k/core
    run("nodeplane", 0, 20_000, 1, { generator: "autocannon" }),
    run("nginx", 0, 30_000, 0.5, { generator: "autocannon" }), // 60k/core
  ];
  const rows = summarise(runs);
  const row = (target: string, generator = "wrk") =>
    rows.find((r) => r.target === target && r.generator === generator)!;

  it("takes medians over rounds per (scenario, target, generator), in first-seen order", () => {
    expect(rows.map((r) => `${r.target}/${r.generator}`)).toEqual([
      "direct/wrk",
      "nginx/wrk",
      "haproxy/wrk",
      "nodeplane/wrk",
      "nodeplane/autocannon",
      "nginx/autocannon",
    ]);
    expect(row("direct")).toMatchObject({
      rounds: 3,
      rps: 110_000,
      cpu: null,
      rps_per_core: null,
      p99_ms: 2,
      errors: 3,
    });
    expect(row("nginx")).toMatchObject({ rps: 40_000, cpu: 0.5, rps_per_core: 80_000 });
  });

  it("gives ratios to direct and to the best peer per core, within the same generator", () => {
    expect(row("direct").vs_direct).toBeNull();
    expect(row("direct").vs_best_peer).toBeNull();
    expect(row("nginx").vs_direct).toBeCloseTo(40_000 / 110_000);
    expect(row("nodeplane")).toMatchObject({ best_peer: "nginx" });
    expect(row("nodeplane").vs_best_peer).toBeCloseTo(66_000 / 80_000);
    expect(row("haproxy").vs_best_peer).toBeCloseTo(60_000 / 80_000);
    expect(row("nginx").vs_best_peer).toBe(1);
    // autocannon rows compare with autocannon rows only, and there is no direct autocannon row
    expect(row("nodeplane", "autocannon")).toMatchObject({ vs_direct: null, best_peer: "nginx" });
    expect(row("nodeplane", "autocannon").vs_best_peer).toBeCloseTo(20_000 / 60_000);
  });

  it("does not treat nodeplane rows as peers", () => {
    const only = summarise([run("nodeplane", 0, 99_000, 0.5), run("nginx", 0, 10_000, 0.5)]);
    expect(only.find((r) => r.target === "nodeplane")?.best_peer).toBe("nginx");
  });

  it("keeps medians of numeric extra fields", () => {
    const rebuild = summarise([
      run("nodeplane", 0, 0, null, { scenario: "snapshot-rebuild", rps: null, full_rebuild_ms: 120, note: "x" }),
      run("nodeplane", 1, 0, null, { scenario: "snapshot-rebuild", rps: null, full_rebuild_ms: 100 }),
      run("nodeplane", 2, 0, null, { scenario: "snapshot-rebuild", rps: null, full_rebuild_ms: 300 }),
    ]);
    expect(rebuild[0]!.extra).toEqual({ full_rebuild_ms: 120 });
    expect(rebuild[0]!.rps).toBeNull();
  });
});

describe("fileStamp", () => {
  it("is the ISO date without colons or milliseconds", () => {
    expect(fileStamp(new Date("2026-11-01T12:30:05.123Z"))).toBe("2026-11-01T12-30-05Z");
  });
});
