/**
 * gateway-keepalive against l7-keepalive, on one nodeplane ingress plane (its own process): wrk keep-alive
 * load through (1) an Ingress route and (2) a Gateway HTTP socket whose HTTPRoute rule has a header match and
 * a RequestHeaderModifier (the gateway-keepalive scenario), rounds interleaved. The figure that
 * counts is requests per second per core of the nodeplane process (its CPU from /proc), since the
 * backend and wrk share the machine. The Gateway part of the snapshot is built by hand, as the translator
 * would build it for:
 *   HTTPRoute bench/echo: hostnames [bench.local], matches [{path: PathPrefix /, headers: [x-bench: 1]}],
 *   filters [RequestHeaderModifier set x-gateway: bench], backendRefs [echo:80].
 * Usage: node bench/gateway-l7.ts [seconds] [connections] [rounds]
 */
import { type ChildProcess, execFile } from "node:child_process";
import { promisify } from "node:util";
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

const run = promisify(execFile);

async function serveNodeplane(ingressPort: number, gatewayPort: number, backendPort: number): Promise<void> {
  const { EMPTY_GATEWAY } = await import("../src/snapshot/gateway.ts");
  const { plane, snapshot } = await startIngressPlane(ingressPort, backendPort);
  await plane.apply(undefined, {
    ...snapshot,
    gateway: {
      ...EMPTY_GATEWAY,
      http: [
        {
          id: `${HOST}:${gatewayPort}`,
          address: HOST,
          port: gatewayPort,
          protocol: "HTTP",
          listeners: [{ namespace: "bench", gateway: "bench", listener: "http" }],
          certificates: [],
          hosts: [
            {
              host: "bench.local",
              rules: [
                {
                  route: { kind: "HTTPRoute", namespace: "bench", name: "echo" },
                  created: "2026-01-01T00:00:00Z",
                  rule: 0,
                  match: 0,
                  path: { type: "PathPrefix", value: "/" },
                  headers: [{ name: "x-bench", type: "Exact", value: "1" }],
                  queryParams: [],
                  filters: [
                    {
                      type: "RequestHeaderModifier",
                      modifier: { set: [["x-gateway", "bench"]], add: [], remove: [] },
                    },
                  ],
                  backends: [
                    {
                      weight: 1,
                      appProtocol: "http",
                      filters: [],
                      target: {
                        id: "bench/echo:80",
                        namespace: "bench",
                        service: "echo",
                        port: 80,
                        endpoints: [{ ip: BACKEND_IP, port: backendPort }],
                      },
                    },
                  ],
                },
              ],
            },
          ],
        },
      ],
    },
  });
}

async function wrk(port: number, seconds: number, connections: number, headers: string[]): Promise<number> {
  const args = ["-t1", `-c${connections}`, `-d${seconds}s`, "-H", "Host: bench.local"];
  for (const h of headers) args.push("-H", h);
  const { stdout } = await run("wrk", [...args, `http://${HOST}:${port}/`], { timeout: (seconds + 30) * 1000 });
  const match = /Requests\/sec:\s+([\d.]+)/.exec(stdout);
  if (!match) throw new Error(`wrk: no Requests/sec in ${stdout}`);
  if (/Non-2xx/.test(stdout)) throw new Error(`wrk: non-2xx answers\n${stdout}`);
  return Number(match[1]);
}

async function orchestrate(seconds: number, connections: number, rounds: number): Promise<void> {
  const children: ChildProcess[] = [];
  const start = (...args: string[]) => startChild(children, import.meta.filename, ...args);
  try {
    const backendPort = await freePort();
    const ingressPort = await freePort();
    const gatewayPort = await freePort();
    start("backend", String(backendPort));
    await waitReady(backendPort, BACKEND_IP);
    const nodeplane = start("nodeplane", String(ingressPort), String(gatewayPort), String(backendPort));
    await waitReady(ingressPort, HOST);
    await waitReady(gatewayPort, HOST, { "x-bench": "1" });
    const results: Record<string, { rps: number; perCore: number }[]> = { "l7-keepalive": [], "gateway-keepalive": [] };
    const scenarios = [
      ["l7-keepalive", ingressPort, [] as string[]],
      ["gateway-keepalive", gatewayPort, ["x-bench: 1"]],
    ] as const;
    // warm-up (JIT) on both
    for (const [, port, headers] of scenarios) await wrk(port, 2, connections, [...headers]);
    for (let round = 0; round < rounds; round++) {
      // alternate which goes first, so drift on the shared machine hits both alike
      const order = round % 2 === 0 ? scenarios : [...scenarios].reverse();
      for (const [name, port, headers] of order) {
        const before = cpuSeconds(nodeplane.pid);
        const rps = await wrk(port, seconds, connections, [...headers]);
        const cores = (cpuSeconds(nodeplane.pid) - before) / seconds;
        results[name]!.push({ rps, perCore: rps / cores });
        console.log(
          `round ${round + 1} ${name}: ${Math.round(rps)} req/s, ${cores.toFixed(2)} cores, ${Math.round(rps / cores)} req/s per core`,
        );
      }
    }
    const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
    const l7 = median(results["l7-keepalive"]!.map((r) => r.perCore));
    const gw = median(results["gateway-keepalive"]!.map((r) => r.perCore));
    console.log(
      `\n${rounds} rounds × ${seconds}s, ${connections} connections, wrk -t1, keep-alive, one nodeplane process`,
    );
    console.log("| scenario | median req/s | median req/s per core |");
    console.log("|---|---:|---:|");
    for (const name of ["l7-keepalive", "gateway-keepalive"]) {
      const rows = results[name]!;
      console.log(
        `| ${name} | ${Math.round(median(rows.map((r) => r.rps)))} | ${Math.round(median(rows.map((r) => r.perCore)))} |`,
      );
    }
    console.log(`\ngateway-keepalive per core / l7-keepalive per core: ${(gw / l7).toFixed(3)} (target ≥ 0.90)`);
  } finally {
    for (const child of children) child.kill();
  }
}

const [mode, a, b, c] = process.argv.slice(2);
if (mode === "backend") await serveBackend(Number(a));
else if (mode === "nodeplane") {
  process.once("SIGTERM", () => process.exit(0));
  await serveNodeplane(Number(a), Number(b), Number(c));
} else await orchestrate(Number(mode ?? 10), Number(a ?? 64), Number(b ?? 3));
