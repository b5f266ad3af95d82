/**
 * L7 comparison for the ingress plane: autocannon against (1) the backend directly, (2) nodeplane's
 * ingress plane, (3) a Node http-proxy proxy doing the same job. Each side runs in its own process;
 * each run is bounded (default 10 s, 50 connections). Usage: node bench/ingress-l7.ts [seconds] [connections]
 */
import type { ChildProcess } from "node:child_process";
import { createServer } from "node:http";
import {
  BACKEND_IP,
  cpuSeconds,
  freePort,
  HOST,
  serveBackend,
  startChild,
  startIngressPlane,
  waitReady,
} from "./lib/l7.ts";

async function serveNodeplane(port: number, backendPort: number): Promise<void> {
  const { plane, snapshot } = await startIngressPlane(port, backendPort);
  await plane.apply(undefined, snapshot);
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

async function orchestrate(seconds: number, connections: number): Promise<void> {
  const { default: autocannon } = await import("autocannon");
  const children: ChildProcess[] = [];
  const start = (...args: string[]) => startChild(children, import.meta.filename, ...args);
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
