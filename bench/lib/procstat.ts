import { readdirSync, readFileSync } from "node:fs";

/** The fields of /proc/<pid>/stat the harness uses (see proc(5)). */
export interface ProcStat {
  pid: number;
  comm: string;
  state: string;
  ppid: number;
  /** user-mode CPU time, in clock ticks */
  utime: number;
  /** kernel-mode CPU time, in clock ticks */
  stime: number;
}

/**
 * Parses one /proc/<pid>/stat line. `comm` is in parentheses and may itself contain spaces and
 * parentheses, so the fixed fields are counted from the last `)`.
 */
export function parseProcStat(line: string): ProcStat {
  const open = line.indexOf("(");
  const close = line.lastIndexOf(")");
  if (open < 0 || close < open) throw new Error(`not a /proc/<pid>/stat line: ${JSON.stringify(line.slice(0, 80))}`);
  const pid = Number(line.slice(0, open).trim());
  const rest = line
    .slice(close + 1)
    .trim()
    .split(/\s+/);
  // rest[0] is field 3 (state); field n is rest[n - 3]
  const field = (n: number): number => {
    const v = Number(rest[n - 3]);
    if (!Number.isFinite(v)) throw new Error(`/proc/${pid}/stat: field ${n} is not a number`);
    return v;
  };
  if (!Number.isInteger(pid) || rest.length < 13)
    throw new Error(`/proc/<pid>/stat line too short: ${line.slice(0, 80)}`);
  return {
    pid,
    comm: line.slice(open + 1, close),
    state: rest[0]!,
    ppid: field(4),
    utime: field(14),
    stime: field(15),
  };
}

/** `root` and every process below it in the parent links of `table`. */
export function processTree(root: number, table: readonly Pick<ProcStat, "pid" | "ppid">[]): number[] {
  const children = new Map<number, number[]>();
  for (const p of table) {
    const list = children.get(p.ppid);
    if (list) list.push(p.pid);
    else children.set(p.ppid, [p.pid]);
  }
  const out: number[] = [];
  const queue = [root];
  const seen = new Set<number>();
  while (queue.length > 0) {
    const pid = queue.shift()!;
    if (seen.has(pid)) continue;
    seen.add(pid);
    out.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return out;
}

/** Sum of user+system ticks of the given pids in `table` (pids not in the table count 0). */
export function ticksOf(pids: readonly number[], table: readonly ProcStat[]): number {
  const want = new Set(pids);
  let sum = 0;
  for (const p of table) if (want.has(p.pid)) sum += p.utime + p.stime;
  return sum;
}

/** CPU use as a fraction of one core: 1.0 = one core busy the whole time. */
export function cpuFraction(
  ticksBefore: number,
  ticksAfter: number,
  ticksPerSecond: number,
  wallSeconds: number,
): number {
  if (wallSeconds <= 0 || ticksPerSecond <= 0) throw new RangeError("wall time and tick rate must be positive");
  return Math.max(0, ticksAfter - ticksBefore) / ticksPerSecond / wallSeconds;
}

/** Reads every live process's stat line (processes that exit while reading are left out). */
export function readProcTable(): ProcStat[] {
  const table: ProcStat[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      table.push(parseProcStat(readFileSync(`/proc/${name}/stat`, "utf8")));
    } catch {
      // the process exited between readdir and read
    }
  }
  return table;
}

/** CPU ticks used so far by the process `pid` and all its descendants (alive now). */
export function treeTicks(pid: number): { ticks: number; pids: number[] } {
  const table = readProcTable();
  const pids = processTree(pid, table);
  return { ticks: ticksOf(pids, table), pids };
}
