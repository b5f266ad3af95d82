import { median, ratio } from "./stats.ts";

/** Targets as named in results files (docs/bench.md, What runs). */
export const TARGETS = ["direct", "nodeplane", "nginx", "haproxy", "http-proxy", "bind", "dnsmasq", "unbound"] as const;

/** Peers: the reference implementations nodeplane is compared with (not `direct`, not nodeplane). */
export const PEERS: ReadonlySet<string> = new Set(["nginx", "haproxy", "http-proxy", "bind", "dnsmasq", "unbound"]);

export function isNodeplaneTarget(target: string): boolean {
  return target === "nodeplane" || /^nodeplane-\d+$/.test(target);
}

/** One measured round of one target in one scenario with one generator. */
export interface RunRecord {
  scenario: string;
  target: string;
  generator: string;
  round: number;
  /** requests (or DNS queries) per second */
  rps: number | null;
  p50_ms: number | null;
  p99_ms: number | null;
  gbps: number | null;
  /** CPU of the process(es) under test as a fraction of one core (null for `direct`) */
  cpu: number | null;
  /** rps ÷ cpu: the per-core figure ratios between proxies use */
  rps_per_core: number | null;
  duration_s: number | null;
  errors: number;
  [extra: string]: number | string | null | undefined;
}

export interface Machine {
  cpus: number;
  model: string;
  node: string;
}

export interface ResultsFile {
  date: string;
  machine: Machine;
  runs: RunRecord[];
}

/** Medians over rounds of one (scenario, target, generator), with the ratios the table shows. */
export interface SummaryRow {
  scenario: string;
  target: string;
  generator: string;
  rounds: number;
  rps: number | null;
  cpu: number | null;
  rps_per_core: number | null;
  p50_ms: number | null;
  p99_ms: number | null;
  gbps: number | null;
  errors: number;
  /** rps ÷ direct's rps (same scenario and generator) */
  vs_direct: number | null;
  /** rps_per_core ÷ the best peer's rps_per_core (same scenario and generator) */
  vs_best_peer: number | null;
  best_peer: string | null;
  /** medians of the numeric extra fields (e.g. full_rebuild_ms) */
  extra: Record<string, number>;
}

const BASE_FIELDS = new Set([
  "scenario",
  "target",
  "generator",
  "round",
  "rps",
  "p50_ms",
  "p99_ms",
  "gbps",
  "cpu",
  "rps_per_core",
  "duration_s",
  "errors",
]);

/**
 * Groups runs by (scenario, target, generator) in first-seen order, takes medians over rounds,
 * and computes the ratios to direct and to the best peer per core.
 */
export function summarise(runs: readonly RunRecord[]): SummaryRow[] {
  const groups = new Map<string, RunRecord[]>();
  for (const r of runs) {
    const key = `${r.scenario}\u0000${r.target}\u0000${r.generator}`;
    const list = groups.get(key);
    if (list) list.push(r);
    else groups.set(key, [r]);
  }
  const rows: SummaryRow[] = [];
  for (const list of groups.values()) {
    const first = list[0]!;
    const extraKeys = new Set<string>();
    for (const r of list)
      for (const [k, v] of Object.entries(r)) if (!BASE_FIELDS.has(k) && typeof v === "number") extraKeys.add(k);
    const extra: Record<string, number> = {};
    for (const k of extraKeys) {
      const m = median(list.map((r) => r[k] as number | null | undefined));
      if (m !== null) extra[k] = m;
    }
    rows.push({
      scenario: first.scenario,
      target: first.target,
      generator: first.generator,
      rounds: list.length,
      rps: median(list.map((r) => r.rps)),
      cpu: median(list.map((r) => r.cpu)),
      rps_per_core: median(list.map((r) => r.rps_per_core)),
      p50_ms: median(list.map((r) => r.p50_ms)),
      p99_ms: median(list.map((r) => r.p99_ms)),
      gbps: median(list.map((r) => r.gbps)),
      errors: list.reduce((s, r) => s + r.errors, 0),
      vs_direct: null,
      vs_best_peer: null,
      best_peer: null,
      extra,
    });
  }
  for (const row of rows) {
    const same = rows.filter((r) => r.scenario === row.scenario && r.generator === row.generator);
    const direct = same.find((r) => r.target === "direct");
    if (direct && row.target !== "direct") row.vs_direct = ratio(row.rps, direct.rps);
    let best: SummaryRow | undefined;
    for (const r of same)
      if (PEERS.has(r.target) && r.rps_per_core !== null && (!best || r.rps_per_core > (best.rps_per_core ?? 0)))
        best = r;
    if (best && row.target !== "direct") {
      row.vs_best_peer = ratio(row.rps_per_core, best.rps_per_core);
      row.best_peer = best.target;
    }
  }
  return rows;
}

/** Date as used in file names: `2026-11-01T12-30-05Z` (no colons). */
export function fileStamp(date: Date): string {
  return date
    .toISOString()
    .replace(/\.\d+Z$/, "Z")
    .replace(/:/g, "-");
}
