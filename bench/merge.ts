// Combines result files of separate `npm run bench` runs (e.g. L4/DNS first, L7 after a late change) into one
// report: the runs are concatenated as they were measured, nothing is recomputed or dropped.
// usage: node bench/merge.ts OUT_DIR RESULTS.json RESULTS.json…
import { readFileSync } from "node:fs";
import { writeReport } from "./lib/report.ts";
import type { ResultsFile } from "./lib/results.ts";

const [outDir, ...files] = process.argv.slice(2);
if (!outDir || files.length < 2) {
  process.stderr.write("usage: node bench/merge.ts OUT_DIR RESULTS.json RESULTS.json…\n");
  process.exit(2);
}
const parts = files.map((f) => JSON.parse(readFileSync(f, "utf8")) as ResultsFile);
const dates = parts.map((p) => p.date).sort();
const text = writeReport({
  outDir,
  date: new Date(dates.at(-1)!),
  machine: parts[0]!.machine,
  runs: parts.flatMap((p) => p.runs),
  description: `full runs merged from ${parts.length} sessions (${dates.join(", ")}), medians`,
  notes: [],
});
process.stdout.write(text);
