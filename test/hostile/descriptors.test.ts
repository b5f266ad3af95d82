import { type ChildProcess, execFile, spawn } from "node:child_process";
import { createSocket } from "node:dgram";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { cleanups, freePort, listen, ROOT, runCleanups, untilReady } from "../workers/harness.ts";

/**
 * Hostile inputs against the descriptor budget (case I of docs/reliability.md), on the real process:
 * `bin/nodeplane.js --manifests DIR --workers 1` started under `prlimit --nofile=SOFT:HARD`, so a flood
 * meets a real, small RLIMIT_NOFILE. Each row sends its input, then checks that the process is up and
 * every other plane still answers: /healthz, the admin API, the ingress, a ClusterIP over TCP and DNS
 * over TCP. Every flood and wait is bounded.
 */

// a /16 of 127.0.0.0/8 of our own, so parallel runs in other worktrees never collide
const NET = `127.${120 + (process.pid % 50)}`;
const UDP1 = `${NET}.0.53`;
const UDP2 = `${NET}.0.54`;
const WEB = `${NET}.0.80`;
const MANY = `${NET}.0.99`;

afterEach(runCleanups);

async function backends(): Promise<{ http: number; udp: number }> {
  const http = createHttpServer((_req, res) => res.writeHead(200, { connection: "close" }).end("web\n"));
  const httpPort = await listen(http);
  cleanups.push(() => new Promise<void>((r) => http.close(() => r())));
  const udp = createSocket("udp4");
  udp.on("message", (msg, rinfo) => udp.send(`u:${msg}`, rinfo.port, rinfo.address));
  await new Promise<void>((r) => udp.bind(0, "127.0.0.1", () => r()));
  cleanups.push(() => new Promise<void>((r) => udp.close(() => r())));
  return { http: httpPort, udp: udp.address().port };
}

function service(name: string, ip: string, ports: { name: string; port: number; protocol: string }[]) {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name, namespace: "default" },
    spec: { clusterIP: ip, ports },
  };
}

function slice(name: string, service: string, ports: { name: string; port: number; protocol: string }[]) {
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: { name, namespace: "default", labels: { "kubernetes.io/service-name": service } },
    addressType: "IPv4",
    ports,
    endpoints: [{ addresses: ["127.0.0.1"], conditions: { ready: true } }],
  };
}

function baseManifests(http: number, udp: number): object[] {
  return [
    {
      apiVersion: "networking.k8s.io/v1",
      kind: "IngressClass",
      metadata: { name: "nodeplane" },
      spec: { controller: "nodeplane.dev/ingress" },
    },
    service("web", WEB, [{ name: "http", port: 80, protocol: "TCP" }]),
    slice("web-1", "web", [{ name: "http", port: http, protocol: "TCP" }]),
    service("u1", UDP1, [{ name: "dns", port: 53, protocol: "UDP" }]),
    slice("u1-1", "u1", [{ name: "dns", port: udp, protocol: "UDP" }]),
    service("u2", UDP2, [{ name: "dns", port: 53, protocol: "UDP" }]),
    slice("u2-1", "u2", [{ name: "dns", port: udp, protocol: "UDP" }]),
    {
      apiVersion: "networking.k8s.io/v1",
      kind: "Ingress",
      metadata: { name: "web", namespace: "default" },
      spec: {
        ingressClassName: "nodeplane",
        rules: [
          {
            host: "web.example",
            http: {
              paths: [{ path: "/", pathType: "Prefix", backend: { service: { name: "web", port: { name: "http" } } } }],
            },
          },
        ],
      },
    },
  ];
}

/** A Service with `n` TCP ports (all to the web backend), its endpoints in slices of 100 ports (the API's limit). */
function manyPorts(n: number, http: number): object[] {
  const ports = Array.from({ length: n }, (_, i) => ({ name: `p${i}`, port: 10_000 + i, protocol: "TCP" }));
  const slices = [];
  for (let i = 0; i < n; i += 100)
    slices.push(
      slice(
        `many-${i / 100}`,
        "many",
        ports.slice(i, i + 100).map((p) => ({ ...p, port: http })),
      ),
    );
  return [service("many", MANY, ports), ...slices];
}

interface Running {
  child: ChildProcess;
  pid: number;
  admin: string;
  http: number;
  healthz: number;
  dns: number;
  out: () => string;
}

async function start(dir: string, nofile: string, extra: string[] = []): Promise<Running> {
  const [http, healthz, dns] = [await freePort(), await freePort(), await freePort()];
  const child = spawn(
    "prlimit",
    [
      `--nofile=${nofile}`,
      process.execPath,
      "bin/nodeplane.js",
      "--manifests",
      dir,
      "--workers=1",
      "--node-name=hostile-fds",
      "--admin-address=127.0.0.1:0",
      `--healthz-address=127.0.0.1:${healthz}`,
      `--http-address=127.0.0.1:${http}`,
      "--https-address=",
      `--dns-address=127.0.0.1:${dns}`,
      "--dns-upstream=127.0.0.1:9",
      `--service-cidr=${NET}.0.0/16`,
      "--vip-interface=none",
      "--sync-delay=20ms",
      "--udp-idle-timeout=2s",
      ...extra,
    ],
    { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
  );
  const { admin, out } = await untilReady(child);
  return { child, pid: child.pid!, admin, http, healthz, dns, out };
}

function fds(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return -1;
  }
}

/**
 * One datagram from each of `count` fresh sockets, spread over `sources` loopback addresses, to the
 * targets in turn; at most 100 sockets open on this side at once. Samples the server's descriptors.
 */
async function flood(pid: number, sources: string[], targets: string[], count: number): Promise<number> {
  let most = fds(pid);
  for (let i = 0; i < count; i += 100) {
    const batch: Promise<void>[] = [];
    for (let j = i; j < Math.min(count, i + 100); j++)
      batch.push(
        new Promise<void>((resolve) => {
          const s = createSocket("udp4");
          s.on("error", () => resolve());
          s.bind(0, sources[j % sources.length], () =>
            s.send("x", 53, targets[j % targets.length], () => s.close(() => resolve())),
          );
        }),
      );
    await Promise.all(batch);
    most = Math.max(most, fds(pid));
  }
  await new Promise((r) => setTimeout(r, 200));
  return Math.max(most, fds(pid));
}

function ask(from: string, host: string, ms = 1_000): Promise<string | undefined> {
  return new Promise((resolve) => {
    const s = createSocket("udp4");
    const done = (answer: string | undefined) => {
      clearTimeout(timer);
      s.close();
      resolve(answer);
    };
    const timer = setTimeout(() => done(undefined), ms);
    s.on("message", (msg) => done(String(msg)));
    s.on("error", () => done(undefined));
    s.bind(0, from, () => s.send("q", 53, host));
  });
}

function tcpLine(host: string, port: number, payload: string): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    let data = "";
    s.setTimeout(3_000, () => s.destroy());
    s.on("connect", () => s.write(payload));
    s.on("data", (d: Buffer) => {
      data += d;
    });
    s.on("error", (err: NodeJS.ErrnoException) => {
      data ||= `error:${err.code}`;
    });
    s.on("close", () => resolve(data));
  });
}

async function status(url: string): Promise<number | string> {
  try {
    return (await fetch(url, { signal: AbortSignal.timeout(3_000) })).status;
  } catch (err) {
    return String((err as Error).cause ?? err);
  }
}

function digTcp(port: number, name: string): Promise<string> {
  return new Promise((resolve) =>
    execFile("dig", ["@127.0.0.1", "-p", String(port), "+tcp", "+short", "+time=2", "+tries=1", name], (_err, out) =>
      resolve(String(out).trim()),
    ),
  );
}

async function metric(admin: string, line: RegExp): Promise<number> {
  const text = await (await fetch(`http://${admin}/metrics`)).text();
  return text
    .split("\n")
    .filter((l) => line.test(l))
    .reduce((sum, l) => sum + Number(l.split(" ").pop()), 0);
}

/** The other planes, each asked once: what a node must keep answering whatever the input. */
async function planes(np: Running) {
  return {
    healthz: await status(`http://127.0.0.1:${np.healthz}/healthz`),
    admin: await status(`http://${np.admin}/api/status`),
    ingress: (
      await tcpLine("127.0.0.1", np.http, "GET / HTTP/1.1\r\nHost: web.example\r\nConnection: close\r\n\r\n")
    ).split("\r\n")[0],
    clusterIP: (await tcpLine(WEB, 80, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")).split("\r\n")[0],
    dnsTcp: await digTcp(np.dns, "web.default.svc.cluster.local"),
  };
}

const SERVING = {
  healthz: 200,
  admin: 200,
  ingress: "HTTP/1.1 200 OK",
  clusterIP: "HTTP/1.1 200 OK",
  dnsTcp: WEB,
};

const SOURCES = Array.from({ length: 8 }, (_, i) => `127.0.${(process.pid % 200) + 20}.${i + 1}`);

async function until(check: () => Promise<boolean> | boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

describe("hostile inputs: descriptors (a real process under a small RLIMIT_NOFILE)", () => {
  it("runs with the soft limit raised to the hard one and logs the budget", async () => {
    const dir = mkdtempSync(join(tmpdir(), "nodeplane-fds-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const { http, udp } = await backends();
    writeFileSync(
      join(dir, "base.json"),
      JSON.stringify({ apiVersion: "v1", kind: "List", items: baseManifests(http, udp) }),
    );
    const np = await start(dir, "512:1024");
    // (Node raises it itself at start; raiseFdLimit is there for when it did not)
    expect(readFileSync(`/proc/${np.pid}/limits`, "utf8")).toMatch(/Max open files\s+1024\s+1024/);
    expect(np.out()).toMatch(/descriptor budget: limit 1024, reserve 256; service proxy: 76 listeners, 230 UDP flows/);
    const s = (await (await fetch(`http://${np.admin}/api/status`)).json()) as {
      descriptors: { budget: { limit: number; udpFlows: number }; open: number };
    };
    expect(s.descriptors.budget).toMatchObject({ limit: 1024, udpFlows: 230 });
    expect(s.descriptors.open).toBeGreaterThan(0);
  });

  // Rows: the hostile input, the limit the process runs under, extra flags, and what must hold after it.
  const rows = [
    {
      name: "UDP flood from 2,000 distinct source ports (8 client IPs) to two UDP Services",
      nofile: "1024:1024",
      flags: [] as string[],
      async send(np: Running) {
        return flood(np.pid, SOURCES, [UDP1, UDP2], 2_000);
      },
      async after(np: Running, most: number) {
        // capped by the budget's total (230 flows), far below the limit
        expect(most).toBeLessThan(1024 - 256);
        // each listener's cap is half the total: two of them fill it
        expect(await metric(np.admin, /^nodeplane_service_budget_refused_total\{protocol="UDP"/)).toBeGreaterThan(0);
        expect(await metric(np.admin, /^nodeplane_service_connections_active\{.*protocol="UDP"/)).toBe(230);
      },
    },
    {
      name: "UDP flood from 1,000 source ports of one client IP",
      nofile: "1024:1024",
      flags: [] as string[],
      async send(np: Running) {
        return flood(np.pid, [SOURCES[0]!], [UDP1], 1_000);
      },
      async after(np: Running) {
        // one IP holds its quarter of the flows; another client is served at once
        expect(await metric(np.admin, /^nodeplane_service_connections_active\{.*protocol="UDP"/)).toBe(57);
        expect(await metric(np.admin, /^nodeplane_service_budget_refused_total\{.*cap="source"/)).toBeGreaterThan(0);
        expect(await ask(SOURCES[1]!, UDP1)).toBe("u:q");
      },
    },
    {
      name: "a Service with 2,000 ports",
      nofile: "1024:1024",
      flags: [] as string[],
      async send(np: Running, dir: string, http: number) {
        writeFileSync(
          join(dir, "many.json"),
          JSON.stringify({ apiVersion: "v1", kind: "List", items: manyPorts(2_000, http) }),
        );
        const bound = await until(() => /service port\(s\) not bound/.test(np.out()), 15_000);
        expect(bound, np.out().slice(-3000)).toBe(true);
        return fds(np.pid);
      },
      async after(np: Running, most: number) {
        expect(most).toBeLessThan(1024 - 256);
        // 76 listening sockets: web, u1, u2 and 73 of the 2,000 ports
        expect(np.out()).toMatch(
          /1927 service port\(s\) not bound: the service proxy's budget of 76 listening sockets/,
        );
        expect(await metric(np.admin, /^nodeplane_service_listeners\{state="listening"\}/)).toBe(76);
        expect(await metric(np.admin, /^nodeplane_service_listeners\{state="failed"\}/)).toBe(1927);
        const { problems } = (await (await fetch(`http://${np.admin}/api/problems`)).json()) as { problems: object[] };
        expect(problems).toContainEqual(
          expect.objectContaining({
            kind: "Service",
            namespace: "default",
            name: "many",
            message: expect.stringMatching(
              /^1927 port\(s\) not bound \(TCP .*\): the service proxy's 76 listening sockets/,
            ),
          }),
        );
        // a bound port of it serves
        expect(
          (await tcpLine(MANY, 10_000, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")).split("\r\n")[0],
        ).toBe("HTTP/1.1 200 OK");
      },
    },
    {
      name: "UDP flood past a --max-udp-flows set above the limit: EMFILE, back-off, recovery",
      nofile: "400:400",
      flags: ["--max-udp-flows=100000", "--max-udp-flows-per-source=100000"],
      async send(np: Running) {
        return flood(np.pid, SOURCES, [UDP1, UDP2], 1_500);
      },
      async after(np: Running, most: number) {
        // the descriptors really ran out, and the listener counted it
        expect(most).toBeGreaterThanOrEqual(395);
        expect(await metric(np.admin, /^nodeplane_descriptor_exhaustion_total\{plane="service"/)).toBeGreaterThan(0);
        expect(np.out()).toMatch(/out of file descriptors \(EMFILE\)/);
        // the flows idle out (--udp-idle-timeout 2s): the other planes are checked after that
        expect(await until(() => fds(np.pid) < 200, 10_000)).toBe(true);
        expect(await ask(SOURCES[1]!, UDP1)).toBe("u:q");
      },
    },
  ];

  it.each(rows)("$name: the process stays up and the other planes serve", async (row) => {
    const dir = mkdtempSync(join(tmpdir(), "nodeplane-fds-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const { http, udp } = await backends();
    writeFileSync(
      join(dir, "base.json"),
      JSON.stringify({ apiVersion: "v1", kind: "List", items: baseManifests(http, udp) }),
    );
    const np = await start(dir, row.nofile, row.flags);
    expect(await planes(np)).toEqual(SERVING);
    const most = await row.send(np, dir, http);
    await row.after(np, most);
    expect(np.child.exitCode).toBe(null);
    expect(await planes(np)).toEqual(SERVING);
  });
});
