import { type ChildProcess, execFile, spawn } from "node:child_process";
import { createServer as createHttpServer, request } from "node:http";
import { type AddressInfo, connect, createServer, type Server } from "node:net";
import { fileURLToPath } from "node:url";
import type { WorkerTraffic } from "../../src/workers/metrics.ts";
import type { WorkerInfo } from "../../src/workers/supervisor.ts";

/**
 * Runs the real `bin/nodeplane.js --manifests DIR` with workers on loopback, for the tests of this
 * folder. Every wait is bounded.
 */

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));
// a /16 of 127.0.0.0/8 of our own, so parallel runs in other worktrees never collide
export const NET = `127.${180 + (process.pid % 60)}`;

export type Worker = WorkerInfo & { traffic?: WorkerTraffic };

export interface Running {
  child: ChildProcess;
  admin: string;
  http: string;
  dns: number;
  exited: Promise<number | null>;
  out: () => string;
}

/** Run (last first) by each test file's afterEach. */
export const cleanups: (() => unknown)[] = [];
export async function runCleanups(): Promise<void> {
  while (cleanups.length) await cleanups.pop()!();
}

export function listen<T extends Server>(server: T): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port));
  });
}

/** An HTTP backend answering its name; connections close after each response so each request is a new one. */
export async function httpBackend(name: string): Promise<number> {
  const server = createHttpServer((_req, res) => res.writeHead(200, { connection: "close" }).end(`${name}\n`));
  const port = await listen(server);
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  return port;
}

/** A TCP backend that says its name and closes. */
export async function nameBackend(name: string): Promise<number> {
  const server = createServer((s) => s.end(`${name}\n`));
  const port = await listen(server);
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  return port;
}

/** Three free ports: ingress HTTP, DNS (TCP and UDP), admin. */
export async function freePort(): Promise<number> {
  const server = createServer();
  const port = await listen(server);
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

export async function start(dir: string, workers: number, extra: string[] = [], group = false): Promise<Running> {
  const http = await freePort();
  const dns = await freePort();
  const child = spawn(
    process.execPath,
    [
      "bin/nodeplane.js",
      "--manifests",
      dir,
      "--workers",
      String(workers),
      "--node-name",
      "workers-test",
      "--admin-address=127.0.0.1:0",
      `--http-address=127.0.0.1:${http}`,
      "--https-address=",
      `--dns-address=127.0.0.1:${dns}`,
      "--dns-upstream=127.0.0.1:9",
      `--service-cidr=${NET}.0.0/16`,
      "--vip-interface=none",
      "--sync-delay=20ms",
      ...extra,
    ],
    // group: its own process group, so the test can signal the whole group as a terminal or systemd does
    { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], detached: group },
  );
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const { admin, out } = await untilReady(child);
  return { child, admin, http: `127.0.0.1:${http}`, dns, exited, out };
}

/**
 * Waits for a started `bin/nodeplane.js` (stdout and stderr piped) to log "nodeplane ready", and answers its
 * admin address and everything it printed so far and later; the process is killed at cleanup if still running.
 */
export async function untilReady(child: ChildProcess): Promise<{ admin: string; out: () => string }> {
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGKILL");
      await exited;
    }
  });
  let out = "";
  child.stderr!.on("data", (d: Buffer) => {
    out += d.toString();
  });
  const admin = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ready line: ${out}`)), 30_000);
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /"admin":"(127\.0\.0\.1:\d+)".*"msg":"nodeplane ready"/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once("exit", () => {
      clearTimeout(timer);
      reject(new Error(`exited: ${out}`));
    });
  });
  return { admin, out: () => out };
}

/** /api/workers, or only those of one group (`service`, `ingress`, `all`) */
export async function workers(admin: string, group?: string): Promise<Worker[]> {
  const all = ((await (await fetch(`http://${admin}/api/workers`)).json()) as { workers: Worker[] }).workers;
  return group === undefined ? all : all.filter((w) => w.group === group);
}

export async function generation(admin: string): Promise<number> {
  return ((await (await fetch(`http://${admin}/api/status`)).json()) as { generation: number }).generation;
}

/** Polls `check` every 50 ms until it returns true, for at most `ms`. */
export async function until(check: () => Promise<boolean> | boolean, ms = 10_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

/** One TCP connection: reads everything the far side sends until it closes (undefined if refused). */
export function tcpRead(host: string, port: number, payload = ""): Promise<string | undefined> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    let data = "";
    s.setEncoding("utf8");
    s.setTimeout(3_000, () => s.destroy());
    s.on("connect", () => s.write(payload));
    s.on("data", (d: string) => {
      data += d;
    });
    s.on("close", () => resolve(data === "" ? undefined : data));
    s.on("error", () => {});
  });
}

export function httpGet(hostPort: string, path: string, host: string): Promise<string | undefined> {
  const [h, p] = hostPort.split(":");
  return new Promise((resolve) => {
    const req = request({ host: h, port: Number(p), path, headers: { host }, agent: false, timeout: 3_000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => {
        body += d;
      });
      res.on("end", () => resolve(res.statusCode === 200 ? body : `HTTP ${res.statusCode}`));
    });
    req.on("error", () => resolve(undefined));
    req.on("timeout", () => req.destroy());
    req.end();
  });
}

export function dig(port: number, name: string): Promise<string> {
  return new Promise((resolve) =>
    execFile("dig", ["@127.0.0.1", "-p", String(port), "+short", "+time=2", "+tries=1", name], (_err, out) =>
      resolve(String(out).trim()),
    ),
  );
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Makes up to `max` new connections with `one` until every worker's `field` count has grown, so each
 * has served at least one. SO_REUSEPORT picks a worker by hashing the 4-tuple: with 2 workers, 100
 * connections all landing on one has probability 2^-99.
 */
export async function spreadOver(
  admin: string,
  field: keyof WorkerTraffic,
  one: () => Promise<unknown>,
  group: string,
  max = 100,
): Promise<{ results: unknown[]; before: Worker[]; after: Worker[] }> {
  const before = await workers(admin, group);
  const results: unknown[] = [];
  let after = before;
  for (let i = 0; i < max; i++) {
    results.push(await one());
    if (i % 10 === 9) {
      after = await workers(admin, group);
      if (after.every((w, k) => (w.traffic?.[field] ?? 0) > (before[k]?.traffic?.[field] ?? 0))) break;
    }
  }
  return { results, before, after: await workers(admin, group) };
}

/** The IngressClass the tests' Ingresses name. */
export const INGRESS_CLASS = `apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: { name: nodeplane }
spec: { controller: nodeplane.dev/ingress }
`;

/** A Service in `default` with one named TCP port. */
export function serviceYaml(
  name: string,
  port: { name: string; port: number; targetPort: number | string },
  options: { clusterIP?: string; sessionAffinity?: "ClientIP" } = {},
): string {
  return `apiVersion: v1
kind: Service
metadata: { name: ${name}, namespace: default }
spec:
${options.clusterIP ? `  clusterIP: ${options.clusterIP}\n` : ""}${options.sessionAffinity ? `  sessionAffinity: ${options.sessionAffinity}\n` : ""}  ports: [{ name: ${port.name}, port: ${port.port}, targetPort: ${port.targetPort} }]
`;
}

/** An EndpointSlice of `service` with one ready endpoint, 127.0.0.1:`port`. */
export function sliceYaml(name: string, service: string, portName: string, port: number): string {
  return `apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: ${name}, namespace: default, labels: { kubernetes.io/service-name: ${service} } }
addressType: IPv4
ports: [{ name: ${portName}, port: ${port}, protocol: TCP }]
endpoints: [{ addresses: ["127.0.0.1"], conditions: { ready: true } }]
`;
}

/** An Ingress sending every path of `host` to the `http` port of `service`. */
export function ingressYaml(name: string, host: string, service: string): string {
  return `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: ${name}, namespace: default }
spec:
  ingressClassName: nodeplane
  rules:
    - host: ${host}
      http:
        paths: [{ path: /, pathType: Prefix, backend: { service: { name: ${service}, port: { name: http } } } }]
`;
}

/** YAML documents as one multi-document file. */
export function yamlDocuments(...documents: string[]): string {
  return documents.join("---\n");
}
