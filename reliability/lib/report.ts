// Pure: the rows of a reliability run, their totals, and the table printed at the end.

export interface CaseRow {
  id: string;
  cls: string;
  title: string;
  inputs: number;
  answer: string;
  /** the answer is one docs/reliability.md accepts (the clean column) */
  clean: boolean;
  /** the nodeplane process or one of its workers exited during the case */
  crashed: boolean;
  /** the backend saw a request whose boundaries the proxy changed */
  boundary: boolean;
  /** checks of the other planes that failed right after the case (established ClusterIP connection, DNS, ingress, health) */
  collateral: string[];
  detail?: string;
  /** the case itself threw or timed out */
  error?: string;
}

export interface Totals {
  cases: number;
  inputs: number;
  crashes: number;
  boundaryChanges: number;
  uncleanAnswers: number;
  collateralFailures: number;
  errors: number;
}

export function totals(rows: readonly CaseRow[]): Totals {
  return {
    cases: rows.length,
    inputs: rows.reduce((n, r) => n + r.inputs, 0),
    crashes: rows.filter((r) => r.crashed).length,
    boundaryChanges: rows.filter((r) => r.boundary).length,
    uncleanAnswers: rows.filter((r) => !r.clean).length,
    collateralFailures: rows.reduce((n, r) => n + r.collateral.length, 0),
    errors: rows.filter((r) => r.error !== undefined).length,
  };
}

/** A run passes when nothing crashed, no boundary moved, every answer was clean and the other planes held. */
export function passed(t: Totals): boolean {
  return (
    t.crashes === 0 && t.boundaryChanges === 0 && t.uncleanAnswers === 0 && t.collateralFailures === 0 && t.errors === 0
  );
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + " ".repeat(n - s.length);
}

function cut(s: string, n: number): string {
  return s.length <= n ? s : `${s.slice(0, n - 1)}…`;
}

/** The table printed at the end of a run, one line per case, then the totals. */
export function renderTable(rows: readonly CaseRow[]): string {
  const header = ["case", "inputs", "answer", "clean", "crash", "boundary", "other planes", "what was sent"];
  const body = rows.map((r) => [
    r.id,
    String(r.inputs),
    cut(r.error ? `error: ${r.error}` : r.answer, 44),
    r.clean ? "yes" : "NO",
    r.crashed ? "CRASH" : "-",
    r.boundary ? "CHANGED" : "-",
    r.collateral.length ? cut(r.collateral.join(", "), 30) : "ok",
    cut(r.title, 60),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]?.length ?? 0)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => pad(c, widths[i] ?? 0))
      .join("  ")
      .trimEnd();
  const t = totals(rows);
  return [
    line(header),
    line(widths.map((w) => "-".repeat(w))),
    ...body.map(line),
    "",
    `hostile inputs sent: ${t.inputs} in ${t.cases} cases; crashes: ${t.crashes}; boundary changes: ${t.boundaryChanges}; ` +
      `unclean answers: ${t.uncleanAnswers}; other-plane failures: ${t.collateralFailures}; case errors: ${t.errors}`,
  ].join("\n");
}
