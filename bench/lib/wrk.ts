/** wrk: command line and report parsing (pure), see wrk-report.lua for the report line. */

export interface WrkPlan {
  url: string;
  connections: number;
  threads: number;
  durationS: number;
  /** extra request headers, e.g. `Connection: close` for connection-rate runs */
  headers: readonly string[];
  /** path of wrk-report.lua */
  script: string;
  timeoutS: number;
}

export interface WrkReport {
  requests: number;
  durationS: number;
  bytes: number;
  /** socket errors plus non-2xx/3xx responses */
  errors: number;
  rps: number;
  gbps: number;
  p50_ms: number;
  p90_ms: number;
  p99_ms: number;
  mean_ms: number;
  max_ms: number;
}

export function wrkArgs(plan: WrkPlan): string[] {
  if (plan.connections < plan.threads) throw new RangeError("wrk needs at least one connection per thread");
  const args = [
    "-t",
    String(plan.threads),
    "-c",
    String(plan.connections),
    "-d",
    // wrk takes whole seconds only
    `${Math.max(1, Math.round(plan.durationS))}s`,
    "--timeout",
    `${plan.timeoutS}s`,
    "-s",
    plan.script,
  ];
  for (const h of plan.headers) args.push("-H", h);
  args.push(plan.url);
  return args;
}

interface WrkJson {
  requests: number;
  duration_us: number;
  bytes: number;
  connect_errors: number;
  read_errors: number;
  write_errors: number;
  status_errors: number;
  timeouts: number;
  p50_us: number;
  p90_us: number;
  p99_us: number;
  mean_us: number;
  max_us: number;
}

const KEYS: readonly (keyof WrkJson)[] = [
  "requests",
  "duration_us",
  "bytes",
  "connect_errors",
  "read_errors",
  "write_errors",
  "status_errors",
  "timeouts",
  "p50_us",
  "p90_us",
  "p99_us",
  "mean_us",
  "max_us",
];

/** Reads the WRK_JSON line out of wrk's stdout; throws when it is missing or malformed. */
export function parseWrkOutput(stdout: string): WrkReport {
  const line = stdout.split("\n").find((l) => l.startsWith("WRK_JSON "));
  if (!line) throw new Error(`wrk printed no report line (stdout: ${JSON.stringify(stdout.slice(-300))})`);
  const raw = JSON.parse(line.slice("WRK_JSON ".length)) as Record<string, unknown>;
  for (const k of KEYS)
    if (typeof raw[k] !== "number" || !Number.isFinite(raw[k])) throw new Error(`wrk report: ${k} is not a number`);
  const j = raw as unknown as WrkJson;
  const durationS = j.duration_us / 1e6;
  if (durationS <= 0) throw new Error("wrk report: zero duration");
  return {
    requests: j.requests,
    durationS,
    bytes: j.bytes,
    errors: j.connect_errors + j.read_errors + j.write_errors + j.status_errors + j.timeouts,
    rps: j.requests / durationS,
    gbps: (j.bytes * 8) / durationS / 1e9,
    p50_ms: j.p50_us / 1000,
    p90_ms: j.p90_us / 1000,
    p99_ms: j.p99_us / 1000,
    mean_ms: j.mean_us / 1000,
    max_ms: j.max_us / 1000,
  };
}
