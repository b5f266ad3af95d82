// npm run bench [-- --quick …]: nodeplane side by side with nginx, HAProxy, a Node http-proxy and
// BIND/dnsmasq on loopback, per core. See docs/bench.md.
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus as osCpus, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { parseAutocannonOutput } from "./lib/autocannon.ts";
import { dnsperfArgs, dnsperfQueries, parseDnsperfOutput } from "./lib/dnsperf.ts";
import { type ForwardRecord, forwardRecords } from "./lib/forward.ts";
import { readBenchCluster } from "./lib/manifests.ts";
import { type BenchOptions, OptionsError, parseBenchArgs, USAGE } from "./lib/options.ts";
import {
  LOAD_CPU,
  type NodeplanePeer,
  type Peer,
  type PeerContext,
  PROXY_CPU,
  startBackend,
  startBind,
  startDnsmasq,
  startDnsmasqForward,
  startHaproxy,
  startHttpProxy,
  startNginxProxy,
  startNodeplane,
  startUnbound,
  startUpstream,
} from "./lib/peers.ts";
import { ProcessManager, runBounded } from "./lib/processes.ts";
import { cpuFraction, treeTicks } from "./lib/procstat.ts";
import { writeReport } from "./lib/report.ts";
import { fileStamp, type Machine, type RunRecord } from "./lib/results.ts";
import {
  DNS_FORWARD_TARGETS,
  DNS_TARGETS,
  type DnsScenario,
  HTTP_TARGETS,
  type HttpScenario,
  SCENARIO_TABLE,
  type Scenario,
} from "./lib/scenarios.ts";
import { rotated } from "./lib/stats.ts";
import { ensureTools } from "./lib/tools.ts";
import { parseWrkOutput, wrkArgs } from "./lib/wrk.ts";

const REPO = resolve(dirname(new URL(import.meta.url).pathname), "..");
const CLUSTER_DOMAIN = "cluster.local";
const DNS_TTL = 5;

const say = (msg: string) => process.stdout.write(`bench: ${msg}\n`);

/** A target of one scenario: where the load goes and which process tree is measured. */
interface Target {
  name: string;
  url?: string;
  dns?: { host: string; port: number };
  /** root of the process tree under test; undefined for direct */
  pid?: number;
}

interface Env {
  options: BenchOptions;
  pm: ProcessManager;
  runDir: string;
  clkTck: number;
  backendPid?: number;
  tools: Set<string>;
  notes: string[];
  runs: RunRecord[];
  queryFile: string;
  /** dns-forward-cached: the bench.example names */
  forwardQueryFile: string;
}

function clockTicks(): number {
  const r = spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" });
  const n = Number(r.stdout?.trim());
  return Number.isInteger(n) && n > 0 ? n : 100;
}

function note(env: Env, msg: string): void {
  env.notes.push(msg);
  say(`skip: ${msg}`);
}

function ticks(pid: number | undefined): number | null {
  return pid === undefined ? null : treeTicks(pid).ticks;
}

function cpuOver(env: Env, pid: number | undefined, before: number | null, seconds: number): number | null {
  if (pid === undefined || before === null) return null;
  return cpuFraction(before, treeTicks(pid).ticks, env.clkTck, seconds);
}

function perCore(rps: number | null, cpu: number | null): number | null {
  return rps !== null && cpu !== null && cpu > 0.01 ? rps / cpu : null;
}

/** One wrk or autocannon run against an HTTP target; null (with a note) when the generator failed. */
async function measureHttp(
  env: Env,
  scenario: HttpScenario,
  target: Target,
  generator: "wrk" | "autocannon",
  durationS: number,
  round: number,
): Promise<RunRecord | null> {
  const url = `${target.url}${scenario.path}`;
  const before = ticks(target.pid);
  const backendBefore = ticks(env.backendPid);
  const timeoutMs = (durationS + 30) * 1000;
  let report: { rps: number; gbps: number; p50_ms: number; p99_ms: number; errors: number; durationS: number };
  if (generator === "wrk") {
    const args = wrkArgs({
      url,
      connections: scenario.connections,
      threads: 1,
      durationS,
      headers: [...(scenario.close ? ["Connection: close"] : []), ...(scenario.headers ?? [])],
      script: join(REPO, "bench", "lib", "wrk-report.lua"),
      timeoutS: 5,
    });
    const r = await runBounded(env.pm, "wrk", "wrk", args, { cpu: LOAD_CPU, timeoutMs });
    try {
      report = parseWrkOutput(r.stdout);
    } catch (err) {
      note(
        env,
        `${scenario.name} ${target.name} wrk round ${round}: ${(err as Error).message} ${r.stderr.slice(-200)}`,
      );
      return null;
    }
  } else {
    const plan = {
      url,
      connections: scenario.connections,
      durationS,
      headers: {
        ...(scenario.close ? { connection: "close" } : {}),
        ...Object.fromEntries(
          (scenario.headers ?? []).map((h) => [h.slice(0, h.indexOf(":")), h.slice(h.indexOf(":") + 1).trim()]),
        ),
      },
    };
    const r = await runBounded(
      env.pm,
      "autocannon",
      process.execPath,
      [join(REPO, "bench", "lib", "autocannon-worker.ts"), JSON.stringify(plan)],
      { cpu: LOAD_CPU, timeoutMs, cwd: REPO },
    );
    try {
      report = parseAutocannonOutput(r.stdout);
    } catch (err) {
      note(
        env,
        `${scenario.name} ${target.name} autocannon round ${round}: ${(err as Error).message} ${r.stderr.slice(-200)}`,
      );
      return null;
    }
  }
  if (report.rps === 0) {
    note(
      env,
      `${scenario.name} ${target.name} ${generator} round ${round}: no request answered (${report.errors} errors)`,
    );
    return null;
  }
  const cpu = cpuOver(env, target.pid, before, report.durationS);
  const backendCpu = cpuOver(env, env.backendPid, backendBefore, report.durationS);
  const record: RunRecord = {
    scenario: scenario.name,
    target: target.name,
    generator,
    round,
    rps: report.rps,
    p50_ms: report.p50_ms,
    p99_ms: report.p99_ms,
    gbps: report.gbps,
    cpu,
    rps_per_core: perCore(report.rps, cpu),
    duration_s: report.durationS,
    errors: report.errors,
    connections: scenario.connections,
    backend_cpu: backendCpu,
  };
  return record;
}

function dnsQueryFile(env: Env, scenario: DnsScenario): string {
  return scenario.names === "forward" ? env.forwardQueryFile : env.queryFile;
}

/** Asks every name of the query file once, so the rounds measure cache hits only. */
async function warmDnsCache(env: Env, scenario: DnsScenario, target: Target): Promise<void> {
  const args = dnsperfArgs({
    server: target.dns!.host,
    port: target.dns!.port,
    queryFile: dnsQueryFile(env, scenario),
    durationS: 30,
    clients: 1,
    outstanding: 20,
    passes: 1,
  });
  const r = await runBounded(env.pm, "dnsperf", "dnsperf", args, { cpu: LOAD_CPU, timeoutMs: 60_000 });
  try {
    const report = parseDnsperfOutput(r.stdout);
    if (report.completed < report.sent) note(env, `${scenario.name} ${target.name} warm-up: ${report.lost} lost`);
  } catch (err) {
    note(env, `${scenario.name} ${target.name} warm-up: ${(err as Error).message}`);
  }
}

async function measureDns(
  env: Env,
  scenario: DnsScenario,
  target: Target,
  durationS: number,
  round: number,
): Promise<RunRecord | null> {
  const seconds = Math.max(1, Math.round(durationS));
  const before = ticks(target.pid);
  const args = dnsperfArgs({
    server: target.dns!.host,
    port: target.dns!.port,
    queryFile: dnsQueryFile(env, scenario),
    durationS: seconds,
    clients: 8,
    outstanding: 100,
  });
  const r = await runBounded(env.pm, "dnsperf", "dnsperf", args, { cpu: LOAD_CPU, timeoutMs: (seconds + 30) * 1000 });
  try {
    const report = parseDnsperfOutput(r.stdout);
    if (report.completed === 0) throw new Error("no query was answered");
    const cpu = cpuOver(env, target.pid, before, seconds);
    return {
      scenario: scenario.name,
      target: target.name,
      generator: "dnsperf",
      round,
      rps: report.qps,
      p50_ms: null,
      p99_ms: null,
      gbps: null,
      cpu,
      rps_per_core: perCore(report.qps, cpu),
      duration_s: seconds,
      errors: report.lost,
      avg_ms: report.avg_ms,
      max_ms: report.max_ms,
    };
  } catch (err) {
    note(env, `${scenario.name} ${target.name} round ${round}: ${(err as Error).message} ${r.stderr.slice(-200)}`);
    return null;
  }
}

function describe(rec: RunRecord): string {
  const f = (v: number | null | undefined, digits = 0) => (v == null ? "–" : v.toFixed(digits));
  return (
    `${rec.target.padEnd(12)} ${rec.generator.padEnd(10)} ${f(rec.rps).padStart(8)} req/s` +
    `  cpu ${rec.cpu == null ? "–" : `${Math.round(rec.cpu * 100)}%`}  ${f(rec.rps_per_core).padStart(8)} /core` +
    `  p50 ${f(rec.p50_ms, 3)} ms  p99 ${f(rec.p99_ms, 3)} ms  ${f(rec.gbps, 2)} Gbit/s  errors ${rec.errors}`
  );
}

/** Warm-up, then rounds with the targets interleaved in rotated order; every run recorded. */
async function runTraffic(env: Env, scenario: Scenario, targets: Target[]): Promise<void> {
  if (targets.length === 0) return;
  const { options } = env;
  say(`${scenario.name}: ${targets.map((t) => t.name).join(", ")}`);
  if (scenario.kind === "dns" && scenario.names === "forward")
    for (const t of targets) await warmDnsCache(env, scenario, t);
  const generators =
    scenario.kind === "http" ? scenario.generators.filter((g) => g !== "wrk" || env.tools.has("wrk")) : ["dnsperf"];
  if (options.warmupS > 0)
    for (const t of targets)
      if (scenario.kind === "http") await measureHttp(env, scenario, t, generators[0] as "wrk", options.warmupS, -1);
      else if (scenario.kind === "dns") await measureDns(env, scenario, t, options.warmupS, -1);
  // wrk's keep-alive runs give the headline latency figures, so they run longer; autocannon's
  // latency has 1 ms resolution and is not one of them
  const duration = (g: string) =>
    scenario.kind === "http" && scenario.latency && g === "wrk" ? options.latencyDurationS : options.durationS;
  for (let round = 0; round < options.rounds; round++)
    for (const t of rotated(targets, round))
      for (const g of generators) {
        const rec =
          scenario.kind === "http"
            ? await measureHttp(env, scenario, t, g as "wrk" | "autocannon", duration(g), round)
            : scenario.kind === "dns"
              ? await measureDns(env, scenario, t, duration(g), round)
              : null;
        if (!rec) continue;
        env.runs.push(rec);
        say(`  ${scenario.name} r${round + 1} ${describe(rec)}`);
      }
}

async function runRebuild(env: Env, scenario: Extract<Scenario, { kind: "rebuild" }>): Promise<void> {
  say(`${scenario.name}: ${scenario.services} Services × ${scenario.endpointsPerService} endpoints (in-process)`);
  const fullBuilds = env.options.quick ? 1 : 5;
  const changes = env.options.quick ? 20 : 200;
  // end to end through the pipeline and the planes (one listener per Service on 127.98.x.x)
  const e2eChanges = env.options.quick ? 10 : 50;
  for (let round = 0; round < env.options.rounds; round++) {
    const r = await runBounded(
      env.pm,
      "snapshot-rebuild",
      process.execPath,
      [
        "--expose-gc",
        join(REPO, "bench", "snapshot-rebuild.ts"),
        String(scenario.services),
        String(scenario.endpointsPerService),
        String(fullBuilds),
        String(changes),
        String(e2eChanges),
      ],
      { cpu: PROXY_CPU, cwd: REPO, timeoutMs: 300_000 },
    );
    const line = r.stdout.split("\n").find((l) => l.startsWith("SNAPSHOT_JSON "));
    if (!line) {
      note(env, `snapshot-rebuild round ${round}: no result (${r.stderr.slice(-300)})`);
      continue;
    }
    const j = JSON.parse(line.slice("SNAPSHOT_JSON ".length)) as Record<string, number>;
    const rec: RunRecord = {
      scenario: scenario.name,
      target: "nodeplane",
      generator: "in-process",
      round,
      rps: null,
      p50_ms: null,
      p99_ms: null,
      gbps: null,
      cpu: null,
      rps_per_core: null,
      duration_s: null,
      errors: 0,
      ...j,
    };
    env.runs.push(rec);
    say(
      `  snapshot-rebuild r${round + 1}: full rebuild ${j.full_rebuild_ms?.toFixed(1)} ms ` +
        `(${j.full_rebuild_cpu_ms?.toFixed(1)} ms CPU), one-endpoint change ${j.endpoint_change_ms?.toFixed(2)} ms ` +
        `(${j.endpoint_change_cpu_ms?.toFixed(2)} ms CPU), end to end ${j.e2e_change_ms?.toFixed(2)} ms, ` +
        `heap ${j.heap_mib?.toFixed(0)} MiB, ${j.service_ports} service ports`,
    );
  }
}

function httpTargets(env: Env, scenario: HttpScenario, peers: Map<string, Peer>, backend: Peer | undefined): Target[] {
  const out: Target[] = [];
  for (const name of HTTP_TARGETS[scenario.plane]) {
    if (!wanted(env.options, name)) continue;
    if (name === "direct") {
      if (backend) out.push({ name, url: backend.l7 });
      continue;
    }
    const peer = peers.get(name);
    if (!peer) continue;
    if (name === "nodeplane" || name.startsWith("nodeplane-")) {
      const why = (peer as NodeplanePeer).missing[scenario.plane];
      if (why) {
        note(env, `${scenario.name} ${name}: ${why}`);
        continue;
      }
    }
    const url = planeUrl(peer, scenario.plane);
    if (url) out.push({ name, url, pid: peer.proc.pid });
  }
  return out;
}

/** Where a peer serves a plane (the Gateway listener is nodeplane's alone). */
function planeUrl(peer: Peer, plane: HttpScenario["plane"]): string | undefined {
  if (plane === "gateway") return (peer as NodeplanePeer).gateway;
  return plane === "l7" ? peer.l7 : peer.l4;
}

function dnsTargets(env: Env, peers: Map<string, Peer>): Target[] {
  const out: Target[] = [];
  for (const name of DNS_TARGETS) {
    const peer = peers.get(name);
    if (!peer || !wanted(env.options, name)) continue;
    if (name === "nodeplane" && (peer as NodeplanePeer).missing.dns) {
      note(env, `dns-cached nodeplane: ${(peer as NodeplanePeer).missing.dns}`);
      continue;
    }
    if (peer.dns) out.push({ name, dns: peer.dns, pid: peer.proc.pid });
  }
  return out;
}

/**
 * dns-forward-cached: BIND as the authoritative upstream for bench.example, and nodeplane, dnsmasq
 * and unbound forwarding to it with their caches. The single nodeplane of the other scenarios is
 * stopped first (the new one holds the same ClusterIP sockets); the forwarders are stopped after.
 */
async function runForward(
  env: Env,
  ctx: PeerContext,
  scenario: DnsScenario,
  peers: Map<string, Peer>,
  records: ForwardRecord[],
): Promise<void> {
  const own = new Map<string, Peer>();
  try {
    await tryStart(env, "upstream", () => startUpstream(ctx, records), own);
    const upstream = own.get("upstream");
    if (!upstream?.dns) return;
    const first = records[0];
    const up = upstream.dns.port;
    if (wanted(env.options, "nodeplane")) {
      const single = peers.get("nodeplane");
      if (single) {
        await env.pm.stop(single.proc);
        peers.delete("nodeplane");
      }
      await tryStart(env, "nodeplane", () => startNodeplane(ctx, "nodeplane", undefined, up), own);
    }
    if (wanted(env.options, "dnsmasq") && env.tools.has("dnsmasq"))
      await tryStart(env, "dnsmasq", () => startDnsmasqForward(ctx, up, first), own);
    if (wanted(env.options, "unbound") && env.tools.has("unbound"))
      await tryStart(env, "unbound", () => startUnbound(ctx, up, first), own);
    const targets: Target[] = [];
    for (const name of DNS_FORWARD_TARGETS) {
      const peer = own.get(name);
      if (peer?.dns) targets.push({ name, dns: peer.dns, pid: peer.proc.pid });
    }
    await runTraffic(env, scenario, targets);
  } finally {
    for (const peer of own.values()) await env.pm.stop(peer.proc);
  }
}

function wanted(options: BenchOptions, target: string): boolean {
  if (options.targets === null) return true;
  if (/^nodeplane-\d+$/.test(target))
    return options.targets.includes("nodeplane-N") || options.targets.includes(target);
  return options.targets.includes(target);
}

async function tryStart(env: Env, name: string, start: () => Promise<Peer>, peers: Map<string, Peer>): Promise<void> {
  try {
    const peer = await start();
    peers.set(name, peer);
    say(`started ${name} (pid ${peer.proc.pid})`);
  } catch (err) {
    note(env, `${name}: ${(err as Error).message}`);
  }
}

function readManifests(): string {
  const dir = join(REPO, "examples", "bench");
  return readdirSync(dir)
    .filter((f) => /\.(ya?ml|json)$/.test(f))
    .sort()
    .map((f) => readFileSync(join(dir, f), "utf8"))
    .join("\n---\n");
}

function machine(): Machine {
  const cpus = osCpus();
  return { cpus: cpus.length, model: cpus[0]?.model.trim() ?? "unknown", node: process.version };
}

async function main(): Promise<number> {
  const cpuCount = osCpus().length;
  let options: BenchOptions;
  try {
    options = parseBenchArgs(process.argv.slice(2), cpuCount);
  } catch (err) {
    if (err instanceof OptionsError) {
      process.stderr.write(`bench: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  if (options.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const started = Date.now();
  const date = new Date();
  const runDir = mkdtempSync(join(tmpdir(), "nodeplane-bench-"));
  chmodSync(runDir, 0o755);
  const pm = new ProcessManager(runDir, cpuCount);
  pm.installSignalHandlers((signal) => say(`${signal}: stopping every peer`));
  process.once("exit", () => rmSync(runDir, { recursive: true, force: true }));
  // the harness itself stays off the CPU of the process under test
  if (pm.pinning) spawnSync("taskset", ["-pc", String(LOAD_CPU), String(process.pid)], { stdio: "ignore" });
  const env: Env = {
    options,
    pm,
    runDir,
    clkTck: clockTicks(),
    tools: new Set(),
    notes: [],
    runs: [],
    queryFile: join(runDir, "queries.txt"),
    forwardQueryFile: join(runDir, "forward-queries.txt"),
  };
  say(
    `${options.quick ? "quick" : "full"} run: ${options.scenarios.join(", ")}; ${options.rounds} round(s); ` +
      `work dir ${runDir}`,
  );
  const scenarios = options.scenarios.map((s) => SCENARIO_TABLE[s]);
  const http = scenarios.filter((s): s is HttpScenario => s.kind === "http");
  const needsDns = scenarios.some((s) => s.kind === "dns");
  const forward = scenarios.find((s): s is DnsScenario => s.kind === "dns" && s.names === "forward");
  const needsL4 = http.some((s) => s.plane === "l4");
  const toolKeys = ["taskset"];
  if (http.length > 0) toolKeys.push("wrk", "nginx", "haproxy");
  if (needsL4) toolKeys.push("nginx-stream");
  if (needsDns) toolKeys.push("dnsperf", "named", "dnsmasq");
  if (forward) toolKeys.push("unbound");
  env.tools = ensureTools(toolKeys, options.install, say);
  if (!pm.pinning) say("taskset missing or a single CPU: nothing is pinned; per-core figures still come from /proc");
  if (http.length > 0 && !env.tools.has("wrk"))
    say("wrk missing: HTTP scenarios run with autocannon only (keep-alive scenarios)");

  const cluster = readBenchCluster(readManifests(), CLUSTER_DOMAIN);
  writeFileSync(env.queryFile, dnsperfQueries(cluster.records.map((r) => r.name)));
  const fwdRecords = forwardRecords();
  writeFileSync(env.forwardQueryFile, dnsperfQueries(fwdRecords.map((r) => r.name)));
  const ctx: PeerContext = { pm, repoRoot: REPO, runDir, cluster, clusterDomain: CLUSTER_DOMAIN, dnsTtl: DNS_TTL, say };
  const peers = new Map<string, Peer>();
  let backend: Peer | undefined;

  try {
    if (http.length > 0) {
      if (!env.tools.has("nginx")) note(env, "backend: nginx is missing, so no HTTP scenario can run");
      else {
        await tryStart(env, "backend", () => startBackend(ctx), peers);
        backend = peers.get("backend");
        peers.delete("backend");
        env.backendPid = backend?.proc.pid;
      }
      if (backend) {
        if (wanted(options, "nginx") && env.tools.has("nginx") && (!needsL4 || env.tools.has("nginx-stream")))
          await tryStart(env, "nginx", () => startNginxProxy(ctx), peers);
        if (wanted(options, "haproxy") && env.tools.has("haproxy"))
          await tryStart(env, "haproxy", () => startHaproxy(ctx), peers);
        if (wanted(options, "http-proxy") && http.some((s) => s.plane === "l7"))
          await tryStart(env, "http-proxy", () => startHttpProxy(ctx), peers);
      }
    }
    if (needsDns && env.tools.has("dnsperf")) {
      if (wanted(options, "bind") && env.tools.has("named")) await tryStart(env, "bind", () => startBind(ctx), peers);
      if (wanted(options, "dnsmasq") && env.tools.has("dnsmasq"))
        await tryStart(env, "dnsmasq", () => startDnsmasq(ctx), peers);
    } else if (needsDns) note(env, "dns-cached: dnsperf is missing");
    // dns-forward-cached has its own peers (forwarders of a local upstream), started after the others
    const trafficScenarios = scenarios.filter((s) => s.kind !== "rebuild" && s !== forward);
    if (wanted(options, "nodeplane") && trafficScenarios.length > 0)
      await tryStart(env, "nodeplane", () => startNodeplane(ctx, "nodeplane"), peers);

    for (const scenario of scenarios) {
      if (scenario.kind === "http" && backend)
        await runTraffic(env, scenario, httpTargets(env, scenario, peers, backend));
      else if (scenario.kind === "dns" && scenario !== forward && env.tools.has("dnsperf"))
        await runTraffic(env, scenario, dnsTargets(env, peers));
      else if (scenario.kind === "rebuild" && wanted(options, "nodeplane")) await runRebuild(env, scenario);
    }

    if (forward && env.tools.has("dnsperf") && env.tools.has("named")) {
      await runForward(env, ctx, forward, peers, fwdRecords);
    } else if (forward) note(env, `${forward.name}: dnsperf or named (the upstream) is missing`);

    // nodeplane with N workers: its own pass, since it needs the ClusterIP the single process holds
    const nName = `nodeplane-${options.workers}`;
    if (options.workers > 1 && wanted(options, nName) && trafficScenarios.length > 0) {
      const single = peers.get("nodeplane");
      if (single) {
        await pm.stop(single.proc);
        peers.delete("nodeplane");
      }
      let multi: NodeplanePeer | undefined;
      try {
        multi = await startNodeplane(ctx, nName, options.workers);
      } catch (err) {
        note(env, `${nName}: ${(err as Error).message}`);
      }
      if (multi && multi.processes < 2) {
        note(env, `${nName}: nodeplane --workers ${options.workers} started a single process; no multi-process rows`);
        await pm.stop(multi.proc);
      } else if (multi) {
        for (const scenario of trafficScenarios) {
          if (scenario.kind === "http" && backend) {
            // httpTargets walks the fixed target list (direct, nodeplane, peers): name this one directly
            const why = multi.missing[scenario.plane];
            const url = planeUrl(multi, scenario.plane);
            if (why) note(env, `${scenario.name} ${nName}: ${why}`);
            else if (url) await runTraffic(env, scenario, [{ name: nName, url, pid: multi.proc.pid }]);
          }
          if (scenario.kind === "dns" && !multi.missing.dns)
            await runTraffic(env, scenario, [{ name: nName, dns: multi.dns, pid: multi.proc.pid }]);
        }
      }
    }
  } finally {
    await pm.stopAll();
  }

  report(env, date, started);
  return 0;
}

function report(env: Env, date: Date, started: number): void {
  const mode = env.options.quick ? "quick" : "full";
  const text = writeReport({
    outDir: resolve(REPO, env.options.outDir),
    date,
    machine: machine(),
    runs: env.runs,
    description: `${mode} run, ${env.options.rounds} round(s), medians; took ${Math.round((Date.now() - started) / 1000)} s`,
    notes: env.notes,
  });
  process.stdout.write(`\n${text}`);
  say(
    `results: ${join(env.options.outDir, `${fileStamp(date)}.json`)}, latest.json, latest.txt and one SVG per scenario`,
  );
}

process.exitCode = await main();
