/**
 * The harness bench/ingress-l7.ts and bench/gateway-l7.ts share: a keep-alive backend, one nodeplane
 * ingress plane (its own process) routing an Ingress bench/echo → backend, readiness polling, per-process
 * CPU from /proc, and spawning this script's own modes as child processes.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer, request } from "node:http";
import type { IngressPlane } from "../../src/planes/ingress/index.ts";
import type { Snapshot } from "../../src/snapshot/snapshot.ts";

export { freePort } from "./net.ts";

export const HOST = "127.0.0.1";
export const BACKEND_IP = "127.246.0.1";
const BODY = Buffer.from("hello from the backend\n");

export async function serveBackend(port: number): Promise<void> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/plain", "content-length": BODY.length });
    res.end(BODY);
  });
  server.keepAliveTimeout = 65_000;
  server.listen(port, BACKEND_IP);
}

/**
 * Starts an ingress plane on HOST:httpPort (no HTTPS) with Ingress bench/echo (host bench.local, prefix /)
 * → the backend at BACKEND_IP:backendPort, and returns it with the translated snapshot, not yet applied.
 */
export async function startIngressPlane(
  httpPort: number,
  backendPort: number,
): Promise<{ plane: IngressPlane; snapshot: Snapshot }> {
  const { parseFlags } = await import("../../src/cli/flags.ts");
  const { silentLogger } = await import("../../src/log.ts");
  const { createRegistry } = await import("../../src/metrics.ts");
  const { IngressPlane } = await import("../../src/planes/ingress/index.ts");
  const { MemoryStatusWriter } = await import("../../src/status/writer.ts");
  const { Store } = await import("../../src/store/store.ts");
  const { Translator } = await import("../../src/translate/index.ts");
  const { translateOptions } = await import("../../src/app.ts");
  const config = parseFlags(["--manifests", "-", "--http-address", `${HOST}:${httpPort}`, "--https-address", ""], {});
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
  return { plane, snapshot: new Translator(translateOptions(config)).build(store) };
}

/** CPU seconds (user + system) a process has used so far, from /proc (Linux); NaN when unknown. */
export function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

/** Polls GET / (Host: bench.local plus `headers`) until it answers 200, for up to 15 s. */
export function waitReady(port: number, host: string, headers: Record<string, string> = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + 15_000;
    const attempt = () => {
      const req = request({ host, port, path: "/", headers: { host: "bench.local", ...headers } }, (res) => {
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

/** Spawns `script` (the calling bench) in another mode; `children` collects them for killing at the end. */
export function startChild(children: ChildProcess[], script: string, ...args: string[]): ChildProcess {
  const child = spawn(process.execPath, [script, ...args], { stdio: "inherit" });
  children.push(child);
  return child;
}
