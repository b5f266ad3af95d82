import { formatNumber } from "./format.ts";
import type { SummaryRow } from "./results.ts";

/** One horizontal bar. `highlight` marks nodeplane's bars. */
export interface Bar {
  label: string;
  value: number;
  highlight?: boolean;
}

export interface Panel {
  title: string;
  bars: readonly Bar[];
}

export interface Chart {
  title: string;
  subtitle: string;
  panels: readonly Panel[];
}

const WIDTH = 720;
const LABEL_W = 190;
const VALUE_W = 90;
const BAR_H = 18;
const GAP = 6;
const PANEL_HEAD = 28;

export function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A hand-written SVG horizontal bar chart: one panel per metric, bars scaled to the panel's maximum. */
export function renderChart(chart: Chart): string {
  const parts: string[] = [];
  let y = 56;
  const barSpace = WIDTH - LABEL_W - VALUE_W - 20;
  for (const panel of chart.panels) {
    parts.push(`<text x="10" y="${y + 18}" class="panel">${escapeXml(panel.title)}</text>`);
    y += PANEL_HEAD;
    const max = Math.max(0, ...panel.bars.map((b) => b.value));
    if (panel.bars.length === 0) {
      parts.push(`<text x="${LABEL_W}" y="${y + 13}" class="label">no data</text>`);
      y += BAR_H + GAP;
    }
    for (const bar of panel.bars) {
      const w = max > 0 ? Math.max(1, Math.round((bar.value / max) * barSpace)) : 0;
      parts.push(
        `<text x="${LABEL_W - 8}" y="${y + 13}" class="label" text-anchor="end">${escapeXml(bar.label)}</text>`,
        `<rect x="${LABEL_W}" y="${y}" width="${w}" height="${BAR_H}" class="${bar.highlight ? "np" : "bar"}"/>`,
        `<text x="${LABEL_W + w + 6}" y="${y + 13}" class="value">${escapeXml(formatNumber(bar.value))}</text>`,
      );
      y += BAR_H + GAP;
    }
    y += 10;
  }
  const height = y + 10;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}">`,
    "<style>text{font-family:sans-serif;font-size:12px;fill:#222}.title{font-size:16px;font-weight:bold}" +
      ".sub{fill:#666}.panel{font-weight:bold}.bar{fill:#8c9fb8}.np{fill:#d9822b}.value{fill:#444}</style>",
    `<rect width="${WIDTH}" height="${height}" fill="#fff"/>`,
    `<text x="10" y="22" class="title">${escapeXml(chart.title)}</text>`,
    `<text x="10" y="42" class="sub">${escapeXml(chart.subtitle)}</text>`,
    ...parts,
    "</svg>",
    "",
  ].join("\n");
}

function bars(rows: readonly SummaryRow[], pick: (r: SummaryRow) => number | null | undefined): Bar[] {
  const out: Bar[] = [];
  for (const r of rows) {
    const v = pick(r);
    if (v == null || !Number.isFinite(v)) continue;
    out.push({ label: `${r.target} (${r.generator})`, value: v, highlight: r.target.startsWith("nodeplane") });
  }
  return out;
}

/** What the chart of one scenario shows, from its summary rows. */
export function scenarioChart(scenario: string, rows: readonly SummaryRow[], subtitle: string): Chart {
  const mine = rows.filter((r) => r.scenario === scenario);
  if (scenario === "snapshot-rebuild")
    return {
      title: "snapshot-rebuild: 10k Services / 100k endpoints",
      subtitle,
      panels: [
        { title: "ms per full rebuild (lower is better)", bars: bars(mine, (r) => r.extra.full_rebuild_ms) },
        {
          title: "ms per single-endpoint change (lower is better)",
          bars: bars(mine, (r) => r.extra.endpoint_change_ms),
        },
        { title: "heap used, MiB (lower is better)", bars: bars(mine, (r) => r.extra.heap_mib) },
      ],
    };
  const unit = scenario.startsWith("dns") ? "queries/s" : "req/s";
  const panels: Panel[] = [
    { title: `${unit} (higher is better)`, bars: bars(mine, (r) => r.rps) },
    { title: `${unit} per core of the process under test (higher is better)`, bars: bars(mine, (r) => r.rps_per_core) },
  ];
  if (scenario === "l4-bulk") panels.unshift({ title: "Gbit/s (higher is better)", bars: bars(mine, (r) => r.gbps) });
  const p99 = bars(mine, (r) => r.p99_ms);
  if (p99.length > 0) panels.push({ title: "p99 latency, ms (lower is better)", bars: p99 });
  return { title: scenario, subtitle, panels };
}
