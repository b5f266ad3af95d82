/**
 * L7 comparison for the ingress plane: autocannon against (1) the backend directly, (2) nodeplane's
 * ingress plane, (3) a Node http-proxy proxy doing the same job. Each side runs in its own process;
 * each run is bounded (default 10 s, 50 connections). Usage: node bench/ingress-l7.ts [seconds] [connections]
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer, request } from "node:http";
import type { AddressInfo } from "node:net";

const HOST = "127.0.0.1";
const BACKEND_IP = "127.246.0.1";
const BODY = Buffer.from("hello from the backend\n");

async function serveBackend(port: number): Promise<void> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/plain", "content-length": BODY.length });
    res.end(BODY);
  });
  server.keepAliveTimeout = 65_000;
  server.listen(port, BACKEND_IP);
}

async function serveNodeplane(port: number, backendPort: number): Promise<void> {
  const { parseFlags } = await import("../src/cli/flags.ts");
  const { silentLogger } = await import("../src/log.ts");
  const { createRegistry } = await import("../src/metrics.ts");
  const { IngressPlane } = await import("../src/planes/ingress/index.ts");
  const { MemoryStatusWriter } = await import("../src/status/writer.ts");
  const { Store } = await import("../src/store/store.ts");
  const { Translator } = await import("../src/translate/index.ts");
  const { translateOptions } = await import("../src/app.ts");
  const config = parseFlags(["--manifests", "-", "--http-address", `${HOST}:${port}`, "--https-address", ""], {});
  const store = new Store();
  store.upsert("Service", {
    metadata: { namespace: "bench", name: "echo" },
    spec: { ports: [{ name: "http", port: 80 }] },
  });
  store.upsert("EndpointSlice", {
    metadata: { namespace: "bench", name: "echo-1", labels: { "kubernetes.io/service-name": "echo" } },
    addressType: "IPv4",
    ports: [{ name: "http", port: backendPort, protocol: "TCP" }],
    endpoints: [{ addresses: [BACKEND_IP], conditions: { ready: true } }],
  });
  store.upsert("Ingress", {
    metadata: { namespace: "bench", name: "echo" },
    spec: {
      ingressClassName: "nodeplane",
      rules: [
        {
          host: "bench.local",
          http: {
            paths: [{ path: "/", pathType: "Prefix", backend: { service: { name: "echo", port: { number: 80 } } } }],
          },
        },
      ],
    },
  });
  const plane = new IngressPlane({
    config,
    logger: silentLogger,
    registry: createRegistry(false),
    store,
    status: new MemoryStatusWriter(),
  });
  await plane.start();
  await plane.apply(undefined, new Translator(translateOptions(config)).build(store));
}

async function serveHttpProxy(port: number, backendPort: number): Promise<void> {
  const { default: httpProxy } = await import("http-proxy");
  const { Agent } = await import("node:http");
  const proxy = httpProxy.createProxyServer({
    target: `http://${BACKEND_IP}:${backendPort}`,
    agent: new Agent({ keepAlive: true, maxSockets: 256 }),
    xfwd: true,
  });
  proxy.on("error", (_err, _req, res) => {
    if ("writeHead" in res && !res.headersSent) res.writeHead(502);
    res.end();
  });
  createServer((req, res) => proxy.web(req, res)).listen(port, HOST);
}

/** CPU seconds (user + system) a process has used so far, from /proc (Linux). */
function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, HOST, () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

function waitReady(port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + 15_000;
    const attempt = () => {
      const req = request({ host, port, path: "/", headers: { host: "bench.local" } }, (res) => {
        res.resume();
        if (res.statusCode === 200) resolve();
        else retry();
      });
      req.on("error", retry);
      req.end();
    };
    const retry = () =>
      Date.now() > deadline ? reject(new Error(`port ${port} not ready`)) : setTimeout(attempt, 100);
    attempt();
  });
}

async function orchestrate(seconds: number, connections: number): Promise<void> {
  const { default: autocannon } = await import("autocannon");
  const children: ChildProcess[] = [];
  const start = (...args: string[]) => {
    const child = spawn(process.execPath, [import.meta.filename, ...args], { stdio: "inherit" });
    children.push(child);
    return child;
  };
  try {
    const backendPort = await freePort();
    const nodeplanePort = await freePort();
    const proxyPort = await freePort();
    const backend = start("backend", String(backendPort));
    await waitReady(backendPort, BACKEND_IP);
    const nodeplane = start("nodeplane", String(nodeplanePort), String(backendPort));
    const httpProxy = start("http-proxy", String(proxyPort), String(backendPort));
    await Promise.all([waitReady(nodeplanePort, HOST), waitReady(proxyPort, HOST)]);
    const rows: { target: string; reqPerSec: number; p50: number; p99: number; errors: number; cpu: number }[] = [];
    for (const [target, host, port, server] of [
      ["direct", BACKEND_IP, backendPort, backend],
      ["nodeplane L7", HOST, nodeplanePort, nodeplane],
      ["http-proxy", HOST, proxyPort, httpProxy],
    ] as const) {
      const cpuBefore = cpuSeconds(server.pid);
      const result = await autocannon({
        url: `http://${host}:${port}/`,
        headers: { host: "bench.local" },
        connections,
        duration: seconds,
      });
      rows.push({
        target,
        reqPerSec: Math.round(result.requests.average),
        p50: result.latency.p50,
        p99: result.latency.p99,
        errors: result.errors + result.non2xx,
        // CPU of the process under test (the backend for "direct", the proxy otherwise), in cores
        cpu: (cpuSeconds(server.pid) - cpuBefore) / seconds,
      });
    }
    const direct = rows[0]!.reqPerSec;
    console.log(
      `\n${seconds}s per run, ${connections} connections, keep-alive, 2-core machine shared by all processes\n`,
    );
    console.log("| target | req/s | p50 ms | p99 ms | errors | vs direct | CPU (cores) | req/s per core |");
    console.log("|---|---:|---:|---:|---:|---:|---:|---:|");
    for (const r of rows)
      console.log(
        `| ${r.target} | ${r.reqPerSec} | ${r.p50} | ${r.p99} | ${r.errors} | ${(r.reqPerSec / direct).toFixed(2)} | ${r.cpu.toFixed(2)} | ${Math.round(r.reqPerSec / r.cpu)} |`,
      );
  } finally {
    for (const child of children) child.kill();
  }
}

const [mode, a, b] = process.argv.slice(2);
if (mode === "backend") await serveBackend(Number(a));
else if (mode === "nodeplane") {
  // a clean exit on SIGTERM lets `node --cpu-prof` write its profile
  process.once("SIGTERM", () => process.exit(0));
  await serveNodeplane(Number(a), Number(b));
} else if (mode === "http-proxy") await serveHttpProxy(Number(a), Number(b));
else await orchestrate(Number(mode ?? 10), Number(a ?? 50));
