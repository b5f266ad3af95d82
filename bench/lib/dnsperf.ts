/** dnsperf: command line and report parsing (pure). */

export interface DnsperfPlan {
  server: string;
  port: number;
  queryFile: string;
  durationS: number;
  clients: number;
  /** queries kept in flight */
  outstanding: number;
  /** run through the query file this many times and stop (the cache warm-up); default: for durationS */
  passes?: number;
}

export interface DnsperfReport {
  sent: number;
  completed: number;
  lost: number;
  qps: number;
  avg_ms: number;
  max_ms: number;
}

export function dnsperfArgs(plan: DnsperfPlan): string[] {
  return [
    "-s",
    plan.server,
    "-p",
    String(plan.port),
    "-d",
    plan.queryFile,
    "-l",
    String(plan.durationS),
    "-c",
    String(plan.clients),
    "-T",
    "1",
    "-q",
    String(plan.outstanding),
    "-t",
    "2",
    ...(plan.passes === undefined ? [] : ["-n", String(plan.passes)]),
  ];
}

/** Reads dnsperf's "Statistics:" block. */
export function parseDnsperfOutput(stdout: string): DnsperfReport {
  const num = (label: RegExp): number => {
    const m = label.exec(stdout);
    if (!m) throw new Error(`dnsperf output has no ${label.source} (tail: ${JSON.stringify(stdout.slice(-300))})`);
    return Number(m[1]);
  };
  const avg = /Average Latency \(s\):\s+([\d.]+)\s+\(min\s+([\d.]+),\s+max\s+([\d.]+)\)/.exec(stdout);
  if (!avg) throw new Error("dnsperf output has no Average Latency line");
  return {
    sent: num(/Queries sent:\s+(\d+)/),
    completed: num(/Queries completed:\s+(\d+)/),
    lost: num(/Queries lost:\s+(\d+)/),
    qps: num(/Queries per second:\s+([\d.]+)/),
    avg_ms: Number(avg[1]) * 1000,
    max_ms: Number(avg[3]) * 1000,
  };
}

/** dnsperf's input format: one `name TYPE` per line. */
export function dnsperfQueries(names: readonly string[], type = "A"): string {
  return names.map((n) => `${n} ${type}\n`).join("");
}
