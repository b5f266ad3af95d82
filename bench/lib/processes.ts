import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { join } from "node:path";

export interface Managed {
  name: string;
  pid: number;
  child: ChildProcess;
  /** file receiving the process's stdout and stderr */
  log: string;
  exited: Promise<number | null>;
}

export interface SpawnOptions {
  /** pin to this CPU with taskset (ignored when taskset is missing or the CPU does not exist) */
  cpu?: number;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

/**
 * Starts the peers and load generators and stops them by PID: each runs in its own process group
 * (detached), so stopping signals the group and also reaches nginx's worker. Stops everything on
 * exit, Ctrl-C and SIGTERM.
 */
export class ProcessManager {
  private readonly live = new Map<number, Managed>();
  private readonly runDir: string;
  private readonly taskset: boolean;
  private readonly cpus: number;

  constructor(runDir: string, cpus: number) {
    this.runDir = runDir;
    this.cpus = cpus;
    this.taskset = spawnSync("taskset", ["--version"], { stdio: "ignore" }).status === 0;
  }

  get pinning(): boolean {
    return this.taskset && this.cpus > 1;
  }

  /** The command line with taskset in front when pinning applies. */
  pinned(cpu: number | undefined, cmd: string, args: readonly string[]): [string, string[]] {
    if (cpu === undefined || !this.pinning || cpu >= this.cpus) return [cmd, [...args]];
    return ["taskset", ["-c", String(cpu), cmd, ...args]];
  }

  start(name: string, cmd: string, args: readonly string[], options: SpawnOptions = {}): Managed {
    const log = join(this.runDir, `${name}.log`);
    const fd = openSync(log, "a");
    const [file, argv] = this.pinned(options.cpu, cmd, args);
    const child = spawn(file, argv, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      detached: true,
      stdio: ["ignore", fd, fd],
    });
    closeSync(fd);
    return this.track(name, child, log);
  }

  /** Registers a spawned (detached) child so that stopAll and the signal handlers reach it. */
  track(name: string, child: ChildProcess, log = ""): Managed {
    if (child.pid === undefined) throw new Error(`${name}: could not start ${child.spawnfile}`);
    const exited = new Promise<number | null>((resolve) => {
      child.once("exit", (code) => resolve(code));
      child.once("error", () => resolve(null));
    });
    const managed: Managed = { name, pid: child.pid, child, log, exited };
    this.live.set(child.pid, managed);
    void exited.then(() => this.live.delete(managed.pid));
    return managed;
  }

  /** SIGTERM to the process group, SIGKILL after `graceMs`; resolves when the leader has exited. */
  async stop(m: Managed, graceMs = 3000): Promise<void> {
    if (!this.live.has(m.pid)) return;
    signalGroup(m.pid, "SIGTERM");
    const timer = setTimeout(() => signalGroup(m.pid, "SIGKILL"), graceMs);
    await m.exited;
    clearTimeout(timer);
    // stragglers of the group (e.g. workers whose master died first)
    signalGroup(m.pid, "SIGKILL");
    this.live.delete(m.pid);
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.live.values()].map((m) => this.stop(m)));
  }

  /** Synchronous last resort (process 'exit'): SIGKILL every group still running. */
  killAllNow(): void {
    for (const pid of this.live.keys()) signalGroup(pid, "SIGKILL");
    this.live.clear();
  }

  /** Stops everything on Ctrl-C / SIGTERM (then exits 130/143) and kills leftovers on exit. */
  installSignalHandlers(onSignal?: (signal: string) => void): void {
    const handler = (signal: NodeJS.Signals, code: number) => {
      onSignal?.(signal);
      void this.stopAll().finally(() => process.exit(code));
    };
    process.once("SIGINT", () => handler("SIGINT", 130));
    process.once("SIGTERM", () => handler("SIGTERM", 143));
    process.once("exit", () => this.killAllNow());
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

/** Runs a command to completion, capturing stdout; kills its group after `timeoutMs`. */
export async function runBounded(
  manager: ProcessManager,
  name: string,
  cmd: string,
  args: readonly string[],
  options: SpawnOptions & { timeoutMs: number },
): Promise<{ code: number | null; stdout: string; stderr: string; timedOut: boolean }> {
  const [file, argv] = manager.pinned(options.cpu, cmd, args);
  const child = spawn(file, argv, { cwd: options.cwd, env: options.env ?? process.env, detached: true });
  if (child.pid !== undefined) manager.track(name, child);
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => {
    stdout += d;
  });
  child.stderr.setEncoding("utf8").on("data", (d: string) => {
    stderr += d;
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    if (child.pid !== undefined) signalGroup(child.pid, "SIGKILL");
  }, options.timeoutMs);
  const code = await new Promise<number | null>((resolve) => {
    child.once("close", (c) => resolve(c));
    child.once("error", (err) => {
      stderr += `${name}: ${err.message}`;
      resolve(null);
    });
  });
  clearTimeout(timer);
  return { code, stdout, stderr, timedOut };
}
