import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";

/**
 * The default `--workers`: one per CPU this process may use. `os.availableParallelism()` follows the
 * CPU affinity mask (taskset, cpusets) but not a CFS quota, and a container limited to `cpu: 2` on a
 * 32-CPU node would otherwise fork 32 workers; so a cgroup CPU limit caps it (rounded up).
 */
export function defaultWorkers(): number {
  return Math.max(1, Math.min(64, availableParallelism(), cgroupCpuLimit() ?? Number.POSITIVE_INFINITY));
}

/** CPUs allowed by the cgroup's CFS quota (v2 `cpu.max`, else v1), rounded up; undefined = no limit. */
export function cgroupCpuLimit(read: (path: string) => string | undefined = readOrUndefined): number | undefined {
  const v2 = read("/sys/fs/cgroup/cpu.max");
  if (v2 !== undefined) return cpusFromQuota(...(v2.trim().split(/\s+/) as [string, string]));
  for (const dir of ["/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct"]) {
    const quota = read(`${dir}/cpu.cfs_quota_us`);
    const period = read(`${dir}/cpu.cfs_period_us`);
    if (quota !== undefined && period !== undefined) return cpusFromQuota(quota.trim(), period.trim());
  }
  return undefined;
}

/** Pure: `max`/-1 = unlimited; otherwise quota ÷ period CPUs, rounded up. */
export function cpusFromQuota(quota: string, period: string): number | undefined {
  const q = Number(quota);
  const p = Number(period);
  if (quota === "max" || !Number.isFinite(q) || q <= 0 || !Number.isFinite(p) || p <= 0) return undefined;
  return Math.ceil(q / p);
}

function readOrUndefined(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}
