import { spawn } from "node:child_process";
import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { createServer as createHttpServer } from "node:http";
import { type AddressInfo, createServer, connect as netConnect, type Server, type Socket } from "node:net";
import { Writable } from "node:stream";
import { pino } from "pino";
import { Registry } from "prom-client";
import type { Logger } from "../../../src/log.ts";
import { ServicePlane, type ServicePlaneConfig } from "../../../src/planes/service/plane.ts";
import { EMPTY_DNS } from "../../../src/snapshot/dns.ts";
import { EMPTY_GATEWAY } from "../../../src/snapshot/gateway.ts";
import { EMPTY_INGRESS } from "../../../src/snapshot/ingress.ts";
import type {
  Endpoint,
  Frontend,
  HealthCheckSnapshot,
  ServicePortSnapshot,
  Snapshot,
} from "../../../src/snapshot/snapshot.ts";

let generation = 0;

export function snapshot(
  servicePorts: ServicePortSnapshot[],
  extra: { healthChecks?: HealthCheckSnapshot[]; nodePortAddresses?: string[] } = {},
): Snapshot {
  return {
    generation: ++generation,
    node: { name: "node-a", nodePortAddresses: extra.nodePortAddresses ?? ["127.0.0.1"], addresses: ["127.0.0.1"] },
    services: [],
    servicePorts,
    healthChecks: extra.healthChecks ?? [],
    ingress: EMPTY_INGRESS,
    gateway: EMPTY_GATEWAY,
    dns: EMPTY_DNS,
    problems: [],
  };
}

export function endpoint(ip: string, port: number, extra: Partial<Endpoint> = {}): Endpoint {
  return { ip, port, ready: true, serving: true, terminating: false, ...extra };
}

export function frontend(ip: string, port: number, extra: Partial<Frontend> = {}): Frontend {
  return { kind: "clusterIP", ip, port, protocol: "TCP", action: "forward", endpoints: "cluster", ...extra };
}

export function servicePort(
  name: string,
  frontends: Frontend[],
  endpoints: Endpoint[],
  extra: Partial<ServicePortSnapshot> = {},
): ServicePortSnapshot {
  const protocol = frontends[0]?.protocol ?? "TCP";
  return {
    id: `default/${name}:`,
    namespace: "default",
    name,
    portName: "",
    protocol,
    port: frontends[0]?.port ?? 80,
    frontends,
    clusterEndpoints: endpoints,
    externalEndpoints: endpoints,
    sessionAffinity: { type: "None" },
    ...extra,
  };
}

/** A loopback address unique to this test process, so parallel test files never collide. */
let nextAddress = 0;
export function uniqueLoopback(): string {
  nextAddress++;
  return `127.${100 + (process.pid % 150)}.${Math.floor(nextAddress / 250) % 250}.${(nextAddress % 250) + 1}`;
}

export const testConfig: ServicePlaneConfig = {
  vipInterface: "none",
  tcpIdleTimeoutMs: 60_000,
  udpIdleTimeoutMs: 60_000,
  endpointGracePeriodMs: 10_000,
  dialTimeoutMs: 1_000,
  dialRetries: 2,
};

/** A logger whose lines the test can read. */
export function captureLogger(): { logger: Logger; lines: () => { level: number; msg: string }[] } {
  const lines: { level: number; msg: string }[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      for (const line of String(chunk).split("\n").filter(Boolean)) lines.push(JSON.parse(line));
      cb();
    },
  });
  return { logger: pino({ level: "debug" }, stream), lines: () => lines };
}

export async function startPlane(
  config: Partial<ServicePlaneConfig> = {},
  logger = captureLogger().logger,
): Promise<{ plane: ServicePlane; registry: Registry }> {
  const registry = new Registry();
  const plane = new ServicePlane({ config: { ...testConfig, ...config }, logger, registry });
  await plane.start();
  return { plane, registry };
}

/** Closes whatever a test opened, in reverse order. */
export class Cleanup {
  private readonly steps: (() => unknown)[] = [];
  add(step: () => unknown): void {
    this.steps.push(step);
  }
  async run(): Promise<void> {
    while (this.steps.length) await this.steps.pop()!();
  }
}

function listenOn(server: Server, host: string, port = 0): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve((server.address() as AddressInfo).port));
  });
}

export interface Backend {
  host: string;
  port: number;
  connections: number;
  close(): Promise<void>;
}

function backend(server: Server, host: string): Promise<Backend> {
  const sockets = new Set<Socket>();
  const b: Backend = {
    host,
    port: 0,
    connections: 0,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  server.on("connection", (s: Socket) => {
    b.connections++;
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => {});
  });
  return listenOn(server, host).then((port) => {
    b.port = port;
    return b;
  });
}

/** Says its name on connect, then echoes (half-close aware: ends after the client does). */
export function nameEchoBackend(host: string, name: string): Promise<Backend> {
  const server = createServer({ allowHalfOpen: true }, (s) => {
    s.write(`${name}\n`);
    s.pipe(s);
  });
  return backend(server, host);
}

/** Echoes everything, ends after the client ends. */
export function echoBackend(host: string): Promise<Backend> {
  return backend(
    createServer({ allowHalfOpen: true }, (s) => s.pipe(s)),
    host,
  );
}

/** Reads until the client half-closes, then answers with the byte count and ends. */
export function countingBackend(host: string): Promise<Backend> {
  return backend(
    createServer({ allowHalfOpen: true }, (s) => {
      let n = 0;
      s.on("data", (d: Buffer) => {
        n += d.length;
      });
      s.on("end", () => s.end(`got ${n} bytes`));
    }),
    host,
  );
}

/** HTTP backend answering its name to any request. */
export function httpBackend(host: string, name: string): Promise<Backend> {
  const server = createHttpServer((_req, res) => res.end(`${name}\n`));
  server.keepAliveTimeout = 100;
  return backend(server, host);
}

export interface UdpBackend {
  host: string;
  port: number;
  peers: Set<string>;
  close(): Promise<void>;
}

/** Answers every datagram with `name:payload`. */
export function udpEchoBackend(host: string, name: string): Promise<UdpBackend> {
  const socket: UdpSocket = createSocket("udp4");
  const peers = new Set<string>();
  socket.on("message", (msg, rinfo) => {
    peers.add(`${rinfo.address}:${rinfo.port}`);
    socket.send(`${name}:${msg}`, rinfo.port, rinfo.address);
  });
  return new Promise((resolve) => {
    socket.bind(0, host, () =>
      resolve({
        host,
        port: socket.address().port,
        peers,
        close: () => new Promise((r) => socket.close(() => r())),
      }),
    );
  });
}

/** Runs a command; resolves with its exit code and output (never rejects on a non-zero exit). */
export function run(
  cmd: string,
  args: string[],
  timeoutMs = 15_000,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

/** Connects, reads the first line the backend sends, and closes. */
export function firstLine(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host, port });
    let data = "";
    socket.on("data", (d: Buffer) => {
      data += d;
      const nl = data.indexOf("\n");
      if (nl >= 0) {
        socket.destroy();
        resolve(data.slice(0, nl));
      }
    });
    socket.on("error", reject);
    socket.on("close", () => reject(new Error(`closed before a line (got ${JSON.stringify(data)})`)));
  });
}

/** Connects and reports how the connection ended: data, refused, reset, or closed. */
export function probe(host: string, port: number): Promise<"refused" | "reset" | "closed" | `data:${string}`> {
  return new Promise((resolve) => {
    const socket = netConnect({ host, port });
    let data = "";
    socket.on("data", (d: Buffer) => {
      data += d;
      if (data.includes("\n")) {
        socket.destroy();
        resolve(`data:${data.trim()}`);
      }
    });
    socket.on("error", (err: NodeJS.ErrnoException) => {
      resolve(err.code === "ECONNREFUSED" ? "refused" : err.code === "ECONNRESET" ? "reset" : "closed");
    });
    socket.on("close", () => resolve("closed"));
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `check` until it is true, or fails after `ms`. */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  ms = 5_000,
  what = "condition",
): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(20);
  }
  throw new Error(`timed out waiting for ${what}`);
}
