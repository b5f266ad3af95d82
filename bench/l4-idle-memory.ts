/**
 * What an idle TCP connection through the L4 plane costs nodeplane in memory (< 30 KiB, docs/service-proxy.md).
 *
 *   node bench/l4-idle-memory.ts [--connections 10000] [--timeout-s 120]
 *
 * Starts a backend (in this process) on 127.0.0.1 and `nodeplane --manifests` (a child process) with a
 * ClusterIP on 127.96.x in front of it, opens N client connections through the ClusterIP, has each
 * exchange one line with the backend (so every connection is spliced and has read once each way),
 * and reads nodeplane's resident set size (/proc/<pid>/status VmRSS) and V8 heap (its metrics
 * endpoint) before and after. Everything stays on 127.0.0.0/8; the run is bounded in connections and
 * time and stops nodeplane by PID. Re-executes itself under `ulimit -n` high enough for both ends.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const args = process.argv.slice(2);
function option(name: string, fallback: number): number {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
}
const WANTED = option("--connections", 10_000);
const TIMEOUT_S = option("--timeout-s", 120);

if (process.env.NODEPLANE_IDLE_BENCH_FDS === undefined) {
  // Node cannot raise its own file descriptor limit: run again under a shell that raises the soft
  // limit to the hard one (raising the hard limit needs CAP_SYS_RESOURCE, which containers often lack).
  const self = fileURLToPath(import.meta.url);
  const script = `ulimit -n "$(ulimit -Hn)"; NODEPLANE_IDLE_BENCH_FDS="$(ulimit -n)" exec "$0" "$@"`;
  const child = spawn("sh", ["-c", script, process.execPath, self, ...args], { stdio: "inherit" });
  child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
} else {
  await main();
}

async function main(): Promise<void> {
  // nodeplane holds two descriptors per connection (client and upstream) plus a few of its own.
  const limit = Number(process.env.NODEPLANE_IDLE_BENCH_FDS);
  const fit = Number.isFinite(limit) ? Math.floor((limit - 200) / 2) : WANTED;
  const CONNECTIONS = Math.min(WANTED, fit);
  if (CONNECTIONS < WANTED)
    console.log(
      `l4-idle-memory: the file descriptor limit (${limit}) allows ${CONNECTIONS} connections, not ${WANTED}`,
    );
  const deadline = setTimeout(() => {
    console.error(`l4-idle-memory: gave up after ${TIMEOUT_S}s`);
    process.exit(2);
  }, TIMEOUT_S * 1000);
  deadline.unref();

  const repo = join(dirname(fileURLToPath(import.meta.url)), "..");
  // The echo backend runs in a process of its own (it holds as many descriptors as the clients).
  const backend = spawn(
    process.execPath,
    [
      "-e",
      `const s = require("node:net").createServer((c) => { c.on("error", () => {}); c.on("data", (d) => c.write(d)); });
       s.listen(0, "127.0.0.1", () => console.log(s.address().port));
       setInterval(() => s.getConnections((e, n) => console.log("connections " + n)), 500);`,
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  let backendConnections = 0;
  const backendPort = await new Promise<number>((resolve, reject) => {
    let first = true;
    backend.stdout.setEncoding("utf8");
    backend.stdout.on("data", (text: string) => {
      for (const line of text.split("\n").filter(Boolean)) {
        if (first) {
          first = false;
          resolve(Number(line));
        } else backendConnections = Number(line.split(" ")[1]);
      }
    });
    backend.once("exit", () => reject(new Error("backend exited")));
  });
  const adminPort = await freePort();
  const vip = `127.96.${100 + (process.pid % 100)}.${1 + (process.pid % 200)}`;
  const vipPort = 19_080;
  const dir = mkdtempSync(join(tmpdir(), "nodeplane-idle-"));
  writeFileSync(join(dir, "idle.yaml"), manifests(vip, vipPort, backendPort));

  const proc = spawn(
    process.execPath,
    [
      join(repo, "bin", "nodeplane.js"),
      "--manifests",
      dir,
      "--node-name",
      "idle",
      "--vip-interface",
      "none",
      "--http-address",
      "",
      "--https-address",
      "",
      "--dns-address",
      "",
      "--admin-address",
      `127.0.0.1:${adminPort}`,
      "--log-level",
      "warn",
      // One process: with workers the connections land in children, and the primary's RSS says nothing.
      "--workers",
      "1",
    ],
    { stdio: ["ignore", "inherit", "inherit"], cwd: repo },
  );
  const pid = proc.pid!;
  const clients: Socket[] = [];
  try {
    await waitFor(
      () =>
        roundTrip(vip, vipPort).then(
          () => true,
          () => false,
        ),
      20_000,
      "nodeplane to serve the ClusterIP",
    );
    // Warm up (JIT, buffer pool, timer lists), then let it settle before the first reading.
    for (let i = 0; i < 200; i++) await roundTrip(vip, vipPort);
    await sleep(2_000);
    const before = await reading(pid, adminPort);

    const batch = 500;
    for (let i = 0; i < CONNECTIONS; i += batch) {
      const n = Math.min(batch, CONNECTIONS - i);
      clients.push(...(await Promise.all(Array.from({ length: n }, () => openIdle(vip, vipPort)))));
    }
    await sleep(3_000);
    if (backendConnections !== CONNECTIONS) throw new Error(`the backend has ${backendConnections} connections`);
    const after = await reading(pid, adminPort);

    const kib = (bytes: number) => (bytes / 1024).toFixed(1);
    const perRss = (after.rss - before.rss) / CONNECTIONS;
    const perHeap = (after.heap - before.heap) / CONNECTIONS;
    console.log(
      JSON.stringify({
        connections: CONNECTIONS,
        rss_before_mib: +(before.rss / 2 ** 20).toFixed(1),
        rss_after_mib: +(after.rss / 2 ** 20).toFixed(1),
        heap_before_mib: +(before.heap / 2 ** 20).toFixed(1),
        heap_after_mib: +(after.heap / 2 ** 20).toFixed(1),
        rss_per_connection_kib: +kib(perRss),
        heap_per_connection_kib: +kib(perHeap),
      }),
    );
    console.log(
      `${CONNECTIONS} idle connections through the L4 plane: ${kib(perRss)} KiB RSS each (${kib(perHeap)} KiB of V8 heap)`,
    );
  } finally {
    for (const c of clients) c.destroy();
    proc.kill("SIGTERM");
    const killer = setTimeout(() => proc.kill("SIGKILL"), 5_000);
    await new Promise((r) => proc.once("exit", r));
    clearTimeout(killer);
    backend.kill("SIGTERM");
    rmSync(dir, { recursive: true, force: true });
  }
}

function manifests(vip: string, port: number, backendPort: number): string {
  return `apiVersion: v1
kind: Namespace
metadata:
  name: idle
---
apiVersion: v1
kind: Service
metadata:
  name: echo
  namespace: idle
spec:
  type: ClusterIP
  clusterIP: ${vip}
  ports:
    - name: tcp
      protocol: TCP
      port: ${port}
      targetPort: tcp
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: echo-1
  namespace: idle
  labels:
    kubernetes.io/service-name: echo
addressType: IPv4
ports:
  - name: tcp
    protocol: TCP
    port: ${backendPort}
endpoints:
  - addresses: ["127.0.0.1"]
    conditions:
      ready: true
`;
}

/** One connection that says hello, gets its echo, and then stays open and idle. */
function openIdle(host: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port }, () => s.write("hello\n"));
    s.once("data", () => resolve(s));
    s.once("error", reject);
    s.once("close", () => reject(new Error("closed before the echo")));
  });
}

async function roundTrip(host: string, port: number): Promise<void> {
  const s = await openIdle(host, port);
  s.destroy();
}

async function reading(pid: number, adminPort: number): Promise<{ rss: number; heap: number }> {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const rss = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1]) * 1024;
  const res = await fetch(`http://127.0.0.1:${adminPort}/metrics`);
  const text = await res.text();
  const heap = Number(/^nodeplane_nodejs_heap_size_used_bytes (\S+)$/m.exec(text)?.[1] ?? Number.NaN);
  return { rss, heap };
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve((server.address() as { port: number }).port)),
  );
}

async function freePort(): Promise<number> {
  const s = createServer();
  const port = await listen(s);
  await new Promise((r) => s.close(r));
  return port;
}

async function waitFor(check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
