/**
 * One file-descriptor budget for the whole process, planned across the planes (docs/service-proxy.md;
 * case I, docs/reliability.md).
 *
 * Every plane draws descriptors from the same RLIMIT_NOFILE. Without a plan, one plane under load (a
 * UDP flood from many source ports, a Service with thousands of ports) takes them all and the others
 * fail with EMFILE: the ingress, /healthz, DNS over TCP, manifest rescans. So the limit is split once,
 * at start, into caps each plane enforces on its own, with a reserve no cap can reach.
 *
 * API (other planes: read it with `processFdBudget(config)`):
 *
 *   readFdLimits(text?)          → { soft, hard } of "Max open files" from /proc/self/limits (undefined when unreadable)
 *   raiseFdLimit(log?)           → raises the soft limit to the hard one with `prlimit --pid <self>`
 *                                  (Node has neither getrlimit nor setrlimit); logs once when it cannot.
 *                                  Node itself raises it at start on Linux, so this mostly finds nothing
 *                                  to do; it is there for when Node did not (an embedder, a changed default).
 *                                  Called once by the CLI before anything listens; forked workers inherit it.
 *   planFdBudget(limit, flags)   → FdBudget, pure (tested table-driven in test/util/fd-budget.test.ts)
 *   processFdBudget(flags)       → planFdBudget(soft limit of this process, flags)
 *   openFdCount()                → descriptors this process holds now (/proc/self/fd)
 *
 * FdBudget fields, all counts (not descriptors) of what each plane may hold open at once:
 *   limit                      the soft RLIMIT_NOFILE planned for
 *   reserve                    descriptors no cap may use: admin API, /healthz, DNS UDP sockets, manifest
 *                              reads, ingress upstream dials beyond the per-connection one, logs, workers' IPC
 *   listeners                  service-plane listening sockets (a Service with 10,000 ports: the ports beyond
 *                              this are reported as not bound, not left to fail elsewhere)
 *   udpFlows                   service-plane UDP flows across all UDP listeners (1 descriptor each)
 *   udpFlowsPerSource          UDP flows one client IP may hold across all listeners
 *   udpFlowsPerListener        UDP flows one listener may hold (never above 16,384)
 *   tcpConnections             service-plane TCP connections across all listeners (2 descriptors each)
 *   tcpConnectionsPerListener  service-plane TCP connections one listener may hold
 *   ingressConnections         ingress client connections (net.Server maxConnections; 2 descriptors each:
 *                              the client's and, at most times, one upstream)
 *   dnsTcpConnections          DNS-over-TCP client connections (1 descriptor each)
 *
 *   descriptorExhaustionCounter(registry)  → prom-client Counter nodeplane_descriptor_exhaustion_total{plane,listener},
 *                                          get-or-create (every plane may call it with the same registry)
 *   isDescriptorExhaustion(code) → EMFILE/ENFILE as an error code or a libuv status
 *   new ExhaustionBackoff(min, max) → hit(now) starts a growing pause; blockedAt(now) says whether to hold off
 *
 * Flags (`--max-udp-flows`, `--max-udp-flows-per-source`, `--max-tcp-connections`,
 * `--max-ingress-connections`): 0 or absent = derived here; a value given is used as is.
 */
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { Counter, type Registry } from "prom-client";

export interface FdLimits {
  soft: number;
  hard: number;
}

export interface FdBudget {
  limit: number;
  reserve: number;
  listeners: number;
  udpFlows: number;
  udpFlowsPerSource: number;
  udpFlowsPerListener: number;
  tcpConnections: number;
  tcpConnectionsPerListener: number;
  ingressConnections: number;
  dnsTcpConnections: number;
}

/** Explicit caps from flags; 0 or undefined = derived from the limit. */
export interface FdBudgetFlags {
  maxUdpFlows?: number | undefined;
  maxUdpFlowsPerSource?: number | undefined;
  maxTcpConnections?: number | undefined;
  maxIngressConnections?: number | undefined;
}

/** The per-listener UDP ceiling the service plane had before the budget; kept as an upper bound. */
export const UDP_FLOWS_PER_LISTENER_CEILING = 16_384;

/** Used when /proc/self/limits cannot be read (not Linux): Linux's usual default soft limit. */
export const FALLBACK_FD_LIMIT = 1024;

/**
 * Shares of what is left after the reserve, in descriptors. A TCP connection costs two (client and
 * upstream), so its share buys half as many connections. Sums to 1.
 */
const SHARES = { listeners: 0.1, udpFlows: 0.3, tcpConnections: 0.3, ingress: 0.25, dnsTcp: 0.05 } as const;

/**
 * Splits `limit` descriptors (the soft RLIMIT_NOFILE). The reserve is 10% of the limit and at least
 * 256, but never more than half (a tiny limit still leaves the planes something).
 */
export function planFdBudget(limit: number, flags: FdBudgetFlags = {}): FdBudget {
  const total = Math.max(0, Math.floor(limit));
  const reserve = Math.min(Math.max(256, Math.ceil(total * 0.1)), Math.floor(total / 2));
  const pool = total - reserve;
  const share = (fraction: number, perUnit: number) => Math.max(1, Math.floor((pool * fraction) / perUnit));
  const given = (value: number | undefined) => (value !== undefined && value > 0 ? Math.floor(value) : undefined);

  const udpFlows = given(flags.maxUdpFlows) ?? share(SHARES.udpFlows, 1);
  // One client may take a quarter of the flows: enough for a busy resolver (a new source port per
  // query), not enough to starve the rest.
  const udpFlowsPerSource =
    given(flags.maxUdpFlowsPerSource) ?? Math.max(1, Math.min(udpFlows, Math.floor(udpFlows / 4)));
  const udpFlowsPerListener = Math.min(UDP_FLOWS_PER_LISTENER_CEILING, Math.max(1, Math.ceil(udpFlows / 2)));
  const tcpConnections = given(flags.maxTcpConnections) ?? share(SHARES.tcpConnections, 2);
  const tcpConnectionsPerListener = Math.max(1, Math.ceil(tcpConnections / 2));
  return {
    limit: total,
    reserve,
    listeners: share(SHARES.listeners, 1),
    udpFlows,
    udpFlowsPerSource,
    udpFlowsPerListener,
    tcpConnections,
    tcpConnectionsPerListener,
    ingressConnections: given(flags.maxIngressConnections) ?? share(SHARES.ingress, 2),
    dnsTcpConnections: share(SHARES.dnsTcp, 1),
  };
}

/** "Max open files  20000  20000  files" from /proc/<pid>/limits; `unlimited` reads as 2^31-1. */
export function parseFdLimits(text: string): FdLimits | undefined {
  const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(text);
  if (!m) return undefined;
  const value = (s: string) => (s === "unlimited" ? 2 ** 31 - 1 : Number(s));
  const soft = value(m[1]!);
  const hard = value(m[2]!);
  if (!Number.isSafeInteger(soft) || !Number.isSafeInteger(hard) || soft < 0 || hard < soft) return undefined;
  return { soft, hard };
}

export function readFdLimits(path = "/proc/self/limits"): FdLimits | undefined {
  try {
    return parseFdLimits(readFileSync(path, "utf8"));
  } catch {
    return undefined;
  }
}

export interface RaiseResult {
  before: FdLimits | undefined;
  after: FdLimits | undefined;
  /** why the soft limit stays below the hard one; undefined when raised or already equal */
  failed?: string;
}

interface RaiseLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/**
 * Raises this process's soft RLIMIT_NOFILE to its hard limit. Node cannot call setrlimit, but
 * prlimit(1) (util-linux) can set it on another pid, ours included. When prlimit is missing or
 * refused, the process keeps going with the soft limit (the budget is planned for it) and says so once.
 */
export function raiseFdLimit(
  log?: RaiseLog,
  run: (args: string[]) => void = runPrlimit,
  pid: number = process.pid,
  read: () => FdLimits | undefined = () => readFdLimits(`/proc/${pid}/limits`),
): RaiseResult {
  const before = read();
  if (!before) return { before, after: before, failed: "cannot read the open-files limit" };
  if (before.soft >= before.hard) return { before, after: before };
  let failed: string | undefined;
  try {
    run([`--pid=${pid}`, `--nofile=${before.hard}:${before.hard}`]);
  } catch (err) {
    failed = `prlimit: ${(err as Error).message.split("\n")[0]}`;
  }
  const after = read() ?? before;
  if (!failed && after.soft < after.hard) failed = "prlimit ran but the soft limit did not change";
  if (failed)
    log?.warn(
      { soft: after.soft, hard: after.hard, reason: failed },
      `cannot raise the open-files limit to ${before.hard}; planning for ${after.soft}: ${failed}`,
    );
  else
    log?.info(
      { from: before.soft, to: after.soft },
      `raised the open-files limit from ${before.soft} to ${after.soft}`,
    );
  return { before, after, ...(failed ? { failed } : {}) };
}

function runPrlimit(args: string[]): void {
  execFileSync("prlimit", args, { stdio: ["ignore", "ignore", "pipe"], timeout: 5_000 });
}

/** This process's budget: its current soft limit (read each time: it may have been raised), split by planFdBudget. */
export function processFdBudget(flags: FdBudgetFlags = {}): FdBudget {
  return planFdBudget(readFdLimits()?.soft ?? FALLBACK_FD_LIMIT, flags);
}

/** Descriptors this process holds now (undefined when /proc cannot be read, or none is left to read it). */
export function openFdCount(): number | undefined {
  try {
    return readdirSync("/proc/self/fd").length - 1;
  } catch {
    return undefined;
  }
}

export const DESCRIPTOR_EXHAUSTION_METRIC = "nodeplane_descriptor_exhaustion_total";

/**
 * `nodeplane_descriptor_exhaustion_total{plane, listener}`: EMFILE/ENFILE seen on accept or on opening
 * a socket. One counter per registry, shared by the planes (get-or-create: any plane may ask first).
 */
export function descriptorExhaustionCounter(registry: Registry): Counter<"plane" | "listener"> {
  const existing = registry.getSingleMetric(DESCRIPTOR_EXHAUSTION_METRIC);
  if (existing) return existing as Counter<"plane" | "listener">;
  return new Counter({
    name: DESCRIPTOR_EXHAUSTION_METRIC,
    help: "Times a plane could not open a descriptor (EMFILE/ENFILE on accept or on a new socket), per plane and listener",
    labelNames: ["plane", "listener"],
    registers: [registry],
  });
}

/** EMFILE or ENFILE, as a Node error code or a libuv status (-24, -23 on Linux). */
export function isDescriptorExhaustion(code: string | number | undefined): boolean {
  return code === "EMFILE" || code === "ENFILE" || code === -24 || code === -23;
}

/**
 * Back-off after EMFILE: the first one pauses `minMs`, each further one within twice the last pause
 * after it ended doubles it up to `maxMs`; a quiet spell resets it. One during a pause changes nothing
 * (the retries of one connection must not compound). `blockedAt(now)` says whether to hold off.
 */
export class ExhaustionBackoff {
  /** end of the current pause (0: none yet) */
  until = 0;
  private delay = 0;
  private readonly minMs: number;
  private readonly maxMs: number;

  constructor(minMs = 100, maxMs = 5_000) {
    this.minMs = minMs;
    this.maxMs = maxMs;
  }

  /** Records an exhaustion at `now`; returns the pause it starts, 0 when one is running already. */
  hit(now: number): number {
    if (now < this.until) return 0;
    const recent = this.until !== 0 && now < this.until + 2 * this.delay;
    this.delay = recent ? Math.min(this.maxMs, this.delay * 2) : this.minMs;
    this.until = now + this.delay;
    return this.delay;
  }

  blockedAt(now: number): boolean {
    return now < this.until;
  }
}
