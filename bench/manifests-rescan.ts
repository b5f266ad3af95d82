// manifests-rescan scenario (case K, docs/reliability.md): how long a rescan of a large manifests folder
// holds up serving.
// One process (--workers 1) with a ClusterIP Service in front of a TCP echo server; a client pings through the
// ClusterIP every 10 ms over one connection (from a worker thread) while files are added and the folder is rescanned. Prints, per
// step, the max event-loop delay (perf_hooks monitorEventLoopDelay) and the slowest echo round trip.
// usage: node bench/manifests-rescan.ts
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { Worker } from "node:worker_threads";
import { pino } from "pino";
import { startApp } from "../src/app.ts";
import { parseFlags } from "../src/cli/flags.ts";
import type { Source } from "../src/source/source.ts";

const service = (name: string, ports: number, annotationBytes = 0) =>
  JSON.stringify({
    apiVersion: "v1",
    kind: "Service",
    metadata: { name, ...(annotationBytes ? { annotations: { note: "x".repeat(annotationBytes) } } : {}) },
    spec: {
      selector: { app: name },
      ports: Array.from({ length: ports }, (_, i) => ({ name: `p${i}`, port: 1000 + i, protocol: "TCP" })),
    },
  });

const STEPS: { name: string; file: string; text: () => string }[] = [
  { name: "a 10,000-port Service", file: "ports.json", text: () => service("ports", 10_000) },
  {
    name: "a 7.4 MB YAML file of 2,000 Services",
    file: "big.yaml",
    text: () => Array.from({ length: 2000 }, (_, i) => service(`y${i}`, 1, 3500)).join("\n---\n"),
  },
  {
    name: "a 2,000-item JSON List",
    file: "list.json",
    text: () =>
      JSON.stringify({
        apiVersion: "v1",
        kind: "List",
        items: Array.from({ length: 2000 }, (_, i) => JSON.parse(service(`j${i}`, 1, 3500))),
      }),
  },
];

const dir = mkdtempSync(join(tmpdir(), "nodeplane-rescan-"));
const echo = createServer((socket) => socket.pipe(socket));
await new Promise<void>((resolve) => echo.listen(0, "127.0.0.1", resolve));
const echoPort = (echo.address() as { port: number }).port;
const clusterIP = "127.99.77.7";
writeFileSync(
  join(dir, "echo.yaml"),
  `apiVersion: v1
kind: Service
metadata: {name: echo}
spec: {clusterIP: ${clusterIP}, ports: [{port: 7, targetPort: ${echoPort}}]}
---
apiVersion: v1
kind: Endpoints
metadata: {name: echo}
subsets: [{addresses: [{ip: 127.0.0.1}], ports: [{port: ${echoPort}}]}]
`,
);
const config = parseFlags(
  [
    "--manifests",
    dir,
    "--admin-address=127.0.0.1:0",
    "--http-address=",
    "--https-address=",
    "--dns-address=",
    "--service-cidr=127.99.0.0/16",
    "--vip-interface=none",
    "--workers=1",
  ],
  {},
);
const app = await startApp(config, pino({ level: "error" }), { withProcessMetrics: false });
const source = app.source as Source & { refresh(): Promise<void> };

// One connection through the ClusterIP, pinged every 10 ms from a worker thread (its own event loop, so
// the pings keep going while the main thread is busy); it reports the slowest round trip when asked.
const pinger = new Worker(
  `
  const { parentPort, workerData } = require("node:worker_threads");
  const socket = require("node:net").createConnection({ host: workerData.host, port: 7 });
  let sentAt = 0, slowest = 0;
  socket.on("data", () => { slowest = Math.max(slowest, performance.now() - sentAt); sentAt = 0; });
  const timer = setInterval(() => {
    if (sentAt !== 0) { slowest = Math.max(slowest, performance.now() - sentAt); return; }
    sentAt = performance.now();
    socket.write("x");
  }, 10);
  parentPort.on("message", (m) => {
    if (m === "stop") { clearInterval(timer); socket.destroy(); parentPort.close(); return; }
    parentPort.postMessage(slowest);
    slowest = 0;
  });
  `,
  { eval: true, workerData: { host: clusterIP } },
);
const slowestEcho = () =>
  new Promise<number>((resolve) => {
    pinger.once("message", resolve);
    pinger.postMessage("report");
  });

const delay = monitorEventLoopDelay({ resolution: 1 });
delay.enable();
const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
for (const step of STEPS) {
  await settle(500);
  delay.reset();
  await slowestEcho();
  const started = performance.now();
  writeFileSync(join(dir, step.file), step.text());
  await source.refresh();
  const refreshMs = performance.now() - started;
  await settle(2000); // the snapshot build and the planes after the store changed
  console.log(
    JSON.stringify({
      step: step.name,
      refreshMs: Math.round(refreshMs),
      maxEventLoopDelayMs: Math.round(delay.max / 1e6),
      slowestEchoMs: Math.round(await slowestEcho()),
      rssMB: Math.round(process.memoryUsage().rss / 1e6),
    }),
  );
}
pinger.postMessage("stop");
await app.stop();
echo.close();
rmSync(dir, { recursive: true, force: true });
