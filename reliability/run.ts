// npm run reliability [-- --quick …]: nodeplane as a user runs it (manifests mode, its default workers), under
// hostile input from outside; counts what was sent, crashes, changed request boundaries and damage to the other
// planes, and prints a table as the benchmark does. See docs/reliability.md.
import { spawn, spawnSync } from "node:child_process";
import { closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { freePort } from "../bench/lib/net.ts";
import { processTree, readProcTable } from "../bench/lib/procstat.ts";
import { startBigUpstream, startRecordingBackend, startTcpEcho, startUdpEcho } from "./lib/backends.ts";
import { CASES, type CaseContext } from "./lib/cases.ts";
import { ECHO_VIP, UDP_VIP, writeCluster } from "./lib/cluster.ts";
import { parseArgs, USAGE } from "./lib/options.ts";
import { type CaseRow, passed, renderTable, totals } from "./lib/report.ts";
import { dnsQuery, EchoConnection, exchange, statuses } from "./lib/wire.ts";

const REPO = resolve(dirname(new URL(import.meta.url).pathname), "..");
const DESCRIPTOR_LIMIT = 4096;
const say = (msg: string) => process.stdout.write(`reliability: ${msg}\n`);

/** Open descriptors of the process tree: in all, and of its fullest process (each has its own limit). */
function descriptors(pid: number): { total: number; max: number } {
  let total = 0;
  let max = 0;
  for (const p of processTree(pid, readProcTable())) {
    try {
      const n = readdirSync(`/proc/${p}/fd`).length;
      total += n;
      max = Math.max(max, n);
    } catch {
      // gone meanwhile
    }
  }
  return { total, max };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function getJson(url: string): Promise<unknown> {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(2_000) });
    return await r.json();
  } catch {
    return undefined;
  }
}

/** Restarts of every worker so far, from /api/workers (0 without workers). */
async function workerRestarts(adminUrl: string): Promise<number | undefined> {
  const body = (await getJson(`${adminUrl}/api/workers`)) as { workers?: { restarts?: number }[] } | undefined;
  if (!body?.workers) return undefined;
  return body.workers.reduce((n, w) => n + (w.restarts ?? 0), 0);
}

interface Nodeplane {
  pid: number;
  exited: Promise<number | null>;
  log: string;
  stop(): Promise<void>;
}

async function main(): Promise<number> {
  const parsed = parseArgs(process.argv.slice(2), join(REPO, "reliability", "results"));
  if (typeof parsed === "string") {
    process.stdout.write(parsed.endsWith("\n") ? parsed : `${parsed}\n`);
    return parsed === USAGE ? 0 : 2;
  }
  const options = parsed;
  const runDir = mkdtempSync(join(tmpdir(), "nodeplane-reliability-"));
  const manifestsDir = join(runDir, "manifests");
  mkdirSync(manifestsDir);
  const help = spawnSync(process.execPath, [join(REPO, "bin", "nodeplane.js"), "--help"], { encoding: "utf8" }).stdout;
  const hasFlag = (name: string) => help.includes(`--${name}`);

  const web = await startRecordingBackend("127.0.0.1");
  const other = await startRecordingBackend("127.0.0.1");
  const tcpEcho = await startTcpEcho("127.0.0.1");
  const udpEcho = await startUdpEcho("127.0.0.1");
  const upstream = await startBigUpstream("127.0.0.1");
  writeCluster(manifestsDir, { web: web.port, other: other.port, tcpEcho: tcpEcho.port, udpEcho: udpEcho.port });
  const [http, https, dnsPort, admin] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const adminUrl = `http://127.0.0.1:${admin}`;
  const dns = { host: "127.0.0.1", port: dnsPort };
  const handshakeTimeoutMs = hasFlag("tls-handshake-timeout") ? 2_000 : undefined;
  const args = [
    join(REPO, "bin", "nodeplane.js"),
    "--manifests",
    manifestsDir,
    "--node-name",
    "reliability",
    "--http-address",
    `127.0.0.1:${http}`,
    "--https-address",
    `127.0.0.1:${https}`,
    "--dns-address",
    `127.0.0.1:${dnsPort}`,
    "--dns-upstream",
    `127.0.0.1:${upstream.port}`,
    "--admin-address",
    `127.0.0.1:${admin}`,
    "--vip-interface",
    "none",
    "--log-level",
    "warn",
    ...(options.workers ? ["--workers", String(options.workers)] : []),
    ...(handshakeTimeoutMs ? ["--tls-handshake-timeout", `${handshakeTimeoutMs}ms`] : []),
    // 127.0.0.2 plays a client outside the node: it may ask cluster names, not recurse
    ...(hasFlag("dns-allow-recursion") ? ["--dns-allow-recursion", "127.0.0.1/32"] : []),
  ];
  const logFile = join(runDir, "nodeplane.log");
  const start = async (): Promise<Nodeplane> => {
    const fd = openSync(logFile, "a");
    // a tight descriptor limit, as a container may have, so a flood of one kind reaches it within the run
    const child = spawn("prlimit", [`--nofile=${DESCRIPTOR_LIMIT}:${DESCRIPTOR_LIMIT}`, process.execPath, ...args], {
      cwd: REPO,
      detached: true,
      stdio: ["ignore", fd, fd],
    });
    closeSync(fd);
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    const pid = child.pid ?? -1;
    for (let i = 0; i < 150; i++) {
      const r = await fetch(`${adminUrl}/readyz`, { signal: AbortSignal.timeout(500) }).catch(() => undefined);
      if (r?.status === 200) break;
      if (!alive(pid)) break;
      await new Promise((r2) => setTimeout(r2, 100));
    }
    return {
      pid,
      exited,
      log: logFile,
      async stop() {
        try {
          process.kill(-pid, "SIGTERM");
        } catch {
          return;
        }
        const t = setTimeout(() => {
          try {
            process.kill(-pid, "SIGKILL");
          } catch {}
        }, 10_000);
        await exited;
        clearTimeout(t);
      },
    };
  };

  let np = await start();
  if (!alive(np.pid)) {
    say(`nodeplane did not start; log: ${readFileSync(logFile, "utf8").slice(-2000)}`);
    return 1;
  }
  const ingressOk = async () => {
    const r = await exchange("127.0.0.1", http, [
      "GET /health-probe HTTP/1.1\r\nHost: foo.test\r\nConnection: close\r\n\r\n",
    ]);
    return statuses(r.data)[0] === 200;
  };
  for (let i = 0; i < 30 && !(await ingressOk()); i++) await new Promise((r) => setTimeout(r, 100));
  let echo = await EchoConnection.open(ECHO_VIP.host, ECHO_VIP.port);
  say(
    `nodeplane pid ${np.pid} (${options.workers ? `--workers ${options.workers}` : "default workers"}), ${cpus()[0]?.model ?? "?"} × ${availableParallelism()}; log ${logFile}`,
  );

  const ctx: CaseContext = {
    http,
    https,
    dns,
    adminUrl,
    web,
    other,
    udp: UDP_VIP,
    manifestsDir,
    descriptors: () => descriptors(np.pid).total,
    fullestProcessDescriptors: () => descriptors(np.pid).max,
    descriptorLimit: DESCRIPTOR_LIMIT,
    hasFlag,
    handshakeTimeoutMs,
    quick: options.quick,
  };
  const selected = CASES.filter((c) => !options.cases || options.cases.includes(c.id) || options.cases.includes(c.cls));
  const rows: CaseRow[] = [];
  for (const c of selected) {
    const restartsBefore = await workerRestarts(adminUrl);
    const row: CaseRow = {
      id: c.id,
      cls: c.cls,
      title: c.title,
      inputs: c.inputs,
      answer: "",
      clean: false,
      crashed: false,
      boundary: false,
      collateral: [],
    };
    try {
      const timeout = new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error("case timed out after 60 s")), 60_000).unref(),
      );
      const result = await Promise.race([c.run(ctx), timeout]);
      row.answer = result.answer;
      row.clean = result.clean;
      row.boundary = result.boundary;
      if (result.inputs !== undefined) row.inputs = result.inputs;
      if (result.detail) row.detail = result.detail;
    } catch (err) {
      row.error = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 300));
    // did anything die?
    const restartsAfter = await workerRestarts(adminUrl);
    if (!alive(np.pid)) row.crashed = true;
    else if (restartsBefore !== undefined && restartsAfter !== undefined && restartsAfter > restartsBefore)
      row.crashed = true;
    // did the other planes hold?
    if (!(await echo.ping(`ping-${c.id}\n`))) row.collateral.push("ClusterIP connection dropped");
    if (!(await dnsQuery(dns, "web.rel.svc.cluster.local", "A"))) row.collateral.push("DNS silent");
    const healthz = await fetch(`${adminUrl}/healthz`, { signal: AbortSignal.timeout(2_000) }).catch(() => undefined);
    if (healthz?.status !== 200) row.collateral.push("/healthz down");
    let ingressUp = false;
    for (let i = 0; i < 20 && !ingressUp; i++) {
      ingressUp = await ingressOk();
      if (!ingressUp) await new Promise((r) => setTimeout(r, 250));
    }
    if (!ingressUp) row.collateral.push("ingress down");
    rows.push(row);
    say(
      `${c.id} ${row.error ? `error: ${row.error}` : row.answer}${row.crashed ? " CRASH" : ""}${row.boundary ? " BOUNDARY CHANGED" : ""}${row.collateral.length ? ` [${row.collateral.join(", ")}]` : ""}`,
    );
    if (!alive(np.pid)) {
      say("nodeplane exited: starting it again for the remaining cases");
      echo.close();
      np = await start();
      for (let i = 0; i < 30 && !(await ingressOk()); i++) await new Promise((r) => setTimeout(r, 100));
      echo = await EchoConnection.open(ECHO_VIP.host, ECHO_VIP.port).catch(() => echo);
    } else if (row.collateral.includes("ClusterIP connection dropped") || echo.closed) {
      // a fresh established connection for the next case, so each case is judged on its own
      echo.close();
      echo = await EchoConnection.open(ECHO_VIP.host, ECHO_VIP.port).catch(() => echo);
    }
  }
  echo.close();
  await np.stop();
  await Promise.all([web.close(), other.close(), tcpEcho.close()]);
  udpEcho.close();
  upstream.close();

  const table = renderTable(rows);
  process.stdout.write(`\n${table}\n`);
  const t = totals(rows);
  const commit = spawnSync("git", ["rev-parse", "--short", "HEAD"], { cwd: REPO, encoding: "utf8" }).stdout.trim();
  const record = {
    date: new Date().toISOString(),
    commit,
    machine: { cpu: cpus()[0]?.model ?? "unknown", cpus: availableParallelism(), node: process.version },
    options: { quick: options.quick, workers: options.workers ?? "default" },
    totals: t,
    rows,
  };
  mkdirSync(options.outDir, { recursive: true });
  const stamp = record.date.replace(/[:.]/g, "-").replace(/-\d{3}Z$/, "Z");
  writeFileSync(join(options.outDir, `hostile-${stamp}.json`), `${JSON.stringify(record, null, 2)}\n`);
  writeFileSync(join(options.outDir, "latest.json"), `${JSON.stringify(record, null, 2)}\n`);
  writeFileSync(join(options.outDir, "latest.txt"), `${table}\n`);
  say(`results in ${options.outDir}/latest.json`);
  rmSync(runDir, { recursive: true, force: true });
  return passed(t) ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`reliability: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
