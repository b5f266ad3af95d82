import { formatNumber, formatPercent, formatRatio } from "./format.ts";
import type { SummaryRow } from "./results.ts";

/** Lays out rows of cells as an aligned plain-text table (numbers right-aligned). */
export function renderGrid(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const leftAligned = (i: number) => i < 3;
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (leftAligned(i) ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n") + "\n";
}

const TRAFFIC_HEADER = [
  "scenario",
  "target",
  "generator",
  "req/s",
  "cpu",
  "req/s/core",
  "p50 ms",
  "p99 ms",
  "Gbit/s",
  "×direct",
  "×best peer/core",
  "errors",
];

/** The main table: one line per (scenario, target, generator), medians over rounds. */
export function renderTrafficTable(rows: readonly SummaryRow[]): string {
  const traffic = rows.filter((r) => r.rps !== null);
  return renderGrid(
    TRAFFIC_HEADER,
    traffic.map((r) => [
      r.scenario,
      r.target,
      r.generator,
      formatNumber(r.rps),
      formatPercent(r.cpu),
      formatNumber(r.rps_per_core),
      formatNumber(r.p50_ms),
      formatNumber(r.p99_ms),
      r.scenario === "l4-bulk" ? formatNumber(r.gbps) : "–",
      formatRatio(r.vs_direct),
      r.best_peer ? `${formatRatio(r.vs_best_peer)} ${r.best_peer}` : "–",
      String(r.errors),
    ]),
  );
}

/** The snapshot-rebuild rows, whose figures are times and memory rather than traffic. */
export function renderRebuildTable(rows: readonly SummaryRow[]): string {
  const rebuild = rows.filter((r) => r.scenario === "snapshot-rebuild");
  if (rebuild.length === 0) return "";
  return renderGrid(
    [
      "scenario",
      "target",
      "generator",
      "services",
      "endpoints",
      "full rebuild ms",
      "1-endpoint change ms",
      "heap MiB",
      "full CPU ms",
      "change CPU ms",
      "end to end ms",
      "end to end CPU ms",
    ],
    rebuild.map((r) => [
      r.scenario,
      r.target,
      r.generator,
      formatNumber(r.extra.services),
      formatNumber(r.extra.endpoints),
      formatNumber(r.extra.full_rebuild_ms),
      formatNumber(r.extra.endpoint_change_ms),
      formatNumber(r.extra.heap_mib),
      formatNumber(r.extra.full_rebuild_cpu_ms),
      formatNumber(r.extra.endpoint_change_cpu_ms),
      formatNumber(r.extra.e2e_change_ms),
      formatNumber(r.extra.e2e_change_cpu_ms),
    ]),
  );
}
