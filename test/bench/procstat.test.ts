import { describe, expect, it } from "vitest";
import {
  cpuFraction,
  parseProcStat,
  processTree,
  readProcTable,
  ticksOf,
  treeTicks,
} from "../../bench/lib/procstat.ts";

// 52 fields as the kernel writes them; comm chosen to contain spaces and parentheses
const line = (pid: number, comm: string, ppid: number, utime: number, stime: number) =>
  `${pid} (${comm}) S ${ppid} ${pid} ${pid} 0 -1 4194560 1055 0 0 0 ${utime} ${stime} 0 0 20 0 1 0 12345 ` +
  "10000000 500 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0";

describe("parseProcStat", () => {
  it.each([
    [line(42, "nginx", 1, 150, 30), { pid: 42, comm: "nginx", ppid: 1, utime: 150, stime: 30, state: "S" }],
    [line(7, "nginx: worker process", 42, 9, 1), { pid: 7, comm: "nginx: worker process", ppid: 42 }],
    [line(8, "a) b (c", 2, 3, 4), { pid: 8, comm: "a) b (c", ppid: 2, utime: 3, stime: 4 }],
  ])("parses %s", (text, expected) => {
    expect(parseProcStat(text)).toMatchObject(expected);
  });

  it.each(["", "12 nginx S 1", "12 (x) S"])("rejects %j", (text) => {
    expect(() => parseProcStat(text)).toThrow();
  });
});

describe("processTree and ticksOf", () => {
  const table = [
    parseProcStat(line(1, "init", 0, 1000, 1000)),
    parseProcStat(line(10, "nginx master", 1, 5, 5)),
    parseProcStat(line(11, "nginx worker", 10, 300, 100)),
    parseProcStat(line(12, "helper", 11, 7, 3)),
    parseProcStat(line(20, "other", 1, 50, 50)),
  ];
  it("collects a process and its descendants only", () => {
    expect(processTree(10, table).sort()).toEqual([10, 11, 12]);
    expect(processTree(20, table)).toEqual([20]);
    expect(processTree(99, table)).toEqual([99]);
  });
  it("sums user+system ticks over the tree", () => {
    expect(ticksOf(processTree(10, table), table)).toBe(10 + 400 + 10);
    expect(ticksOf([99], table)).toBe(0);
  });
});

describe("cpuFraction", () => {
  it.each([
    [0, 100, 100, 1, 1],
    [100, 150, 100, 2, 0.25],
    [100, 90, 100, 1, 0],
  ])("%d→%d ticks at %d/s over %ds = %d", (before, after, hz, seconds, expected) => {
    expect(cpuFraction(before, after, hz, seconds)).toBeCloseTo(expected);
  });
  it("rejects zero time", () => {
    expect(() => cpuFraction(0, 1, 100, 0)).toThrow(RangeError);
  });
});

describe("reading /proc", () => {
  it("finds this process with its parent, and counts its CPU", () => {
    const me = readProcTable().find((p) => p.pid === process.pid);
    expect(me?.ppid).toBe(process.ppid);
    const deadline = Date.now() + 50;
    while (Date.now() < deadline); // burn a little CPU so the tick count is above zero
    const { ticks, pids } = treeTicks(process.pid);
    expect(pids[0]).toBe(process.pid);
    expect(ticks).toBeGreaterThan(0);
  });
});
