import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { SCENARIOS } from "./options.ts";
import { fileStamp, type Machine, type ResultsFile, type RunRecord, summarise } from "./results.ts";
import { renderChart, scenarioChart } from "./svg.ts";
import { renderRebuildTable, renderTrafficTable } from "./table.ts";

export interface ReportInput {
  outDir: string;
  date: Date;
  machine: Machine;
  runs: RunRecord[];
  /** what the header says about how the runs were taken, e.g. `full run, 3 round(s), medians; took 900 s` */
  description: string;
  notes: readonly string[];
}

/** Writes `<date>.json`, `latest.json`, `latest.txt` and one SVG per measured scenario; returns the text table. */
export function writeReport(input: ReportInput): string {
  const { outDir, date, machine: m, runs } = input;
  const rows = summarise(runs);
  const header = `nodeplane bench — ${date.toISOString()} — ${m.cpus} × ${m.model}, Node ${m.node} — ${input.description}\n`;
  const text = [
    header,
    renderTrafficTable(rows),
    renderRebuildTable(rows),
    input.notes.length > 0 ? `not measured:\n${input.notes.map((n) => `  - ${n}`).join("\n")}\n` : "",
  ]
    .filter(Boolean)
    .join("\n");
  mkdirSync(outDir, { recursive: true });
  const results: ResultsFile = { date: date.toISOString(), machine: m, runs };
  const json = `${JSON.stringify(results, null, 2)}\n`;
  writeFileSync(join(outDir, `${fileStamp(date)}.json`), json);
  writeFileSync(join(outDir, "latest.json"), json);
  writeFileSync(join(outDir, "latest.txt"), text);
  const subtitle = `${date.toISOString().slice(0, 10)} · ${m.cpus} × ${m.model} · Node ${m.node} · medians`;
  const measured = new Set(rows.map((r) => r.scenario));
  for (const scenario of SCENARIOS) {
    const file = join(outDir, `${scenario}.svg`);
    // a chart left from an earlier run would disagree with latest.json
    if (measured.has(scenario)) writeFileSync(file, renderChart(scenarioChart(scenario, rows, subtitle)));
    else rmSync(file, { force: true });
  }
  return text;
}
