/** The autocannon worker's report line (pure parsing). */
export interface AutocannonReport {
  requests: number;
  durationS: number;
  bytes: number;
  errors: number;
  rps: number;
  gbps: number;
  p50_ms: number;
  p99_ms: number;
}

export function parseAutocannonOutput(stdout: string): AutocannonReport {
  const line = stdout.split("\n").find((l) => l.startsWith("AUTOCANNON_JSON "));
  if (!line) throw new Error(`autocannon printed no report line (stdout: ${JSON.stringify(stdout.slice(-300))})`);
  const j = JSON.parse(line.slice("AUTOCANNON_JSON ".length)) as Record<string, unknown>;
  const n = (k: string): number => {
    const v = j[k];
    if (typeof v !== "number" || !Number.isFinite(v)) throw new Error(`autocannon report: ${k} is not a number`);
    return v;
  };
  const durationS = n("durationS");
  if (durationS <= 0) throw new Error("autocannon report: zero duration");
  return {
    requests: n("requests"),
    durationS,
    bytes: n("bytes"),
    errors: n("errors"),
    rps: n("requests") / durationS,
    gbps: (n("bytes") * 8) / durationS / 1e9,
    p50_ms: n("p50_ms"),
    p99_ms: n("p99_ms"),
  };
}
