import { randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { FORWARD_ZONE, type ForwardRecord, forwardZoneFile } from "./forward.ts";
import { type BenchCluster, dnsmasqHostRecords, zoneRecords } from "./manifests.ts";
import { canConnect, dnsProbe, freePort, httpProbe, waitFor } from "./net.ts";
import type { Managed, ProcessManager } from "./processes.ts";
import { treeTicks } from "./procstat.ts";
import { fillTemplate } from "./template.ts";
import { NGINX_MODULES } from "./tools.ts";

/** CPU the process under test is pinned to; the backend and the load generators get the other one. */
export const PROXY_CPU = 0;
export const LOAD_CPU = 1;

export interface PeerContext {
  pm: ProcessManager;
  repoRoot: string;
  runDir: string;
  cluster: BenchCluster;
  clusterDomain: string;
  dnsTtl: number;
  say: (msg: string) => void;
}

/** A started peer: the process (tree) whose CPU is measured and where each of its planes answers. */
export interface Peer {
  name: string;
  proc: Managed;
  /** base URL of the L7 (HTTP proxy) listener */
  l7?: string;
  /** base URL of the L4 (TCP proxy) listener */
  l4?: string;
  dns?: { host: string; port: number };
}

/** The backend's small body starts with this (bench/peers/backend.nginx.conf): proof a proxy reached it. */
export const BACKEND_MARKER = "nodeplane bench backend";
export const BULK_BYTES = 1024 * 1024;

function peersDir(ctx: PeerContext): string {
  return join(ctx.repoRoot, "bench", "peers");
}

function render(ctx: PeerContext, file: string, out: string, vars: Record<string, string | number>): string {
  const text = fillTemplate(readFileSync(join(peersDir(ctx), file), "utf8"), { RUN_DIR: ctx.runDir, ...vars });
  const path = join(ctx.runDir, out);
  writeFileSync(path, text);
  return path;
}

function tail(path: string, lines = 5): string {
  try {
    return readFileSync(path, "utf8").trimEnd().split("\n").slice(-lines).join(" | ");
  } catch {
    return "(no log)";
  }
}

/** Waits until the peer accepts TCP on every port, or fails with its log tail. */
async function ready(ctx: PeerContext, proc: Managed, ports: readonly number[], timeoutMs = 10_000): Promise<void> {
  let exited = false;
  void proc.exited.then(() => {
    exited = true;
  });
  const ok = await waitFor(async () => {
    if (exited) return true;
    for (const p of ports) if (!(await canConnect("127.0.0.1", p))) return false;
    return true;
  }, timeoutMs);
  if (exited || !ok) {
    await ctx.pm.stop(proc);
    throw new Error(`${proc.name} did not start: ${tail(proc.log)}`);
  }
}

/** nginx serving the small response and the 1 MiB object, on the port examples/bench names. */
export async function startBackend(ctx: PeerContext): Promise<Peer> {
  const port = ctx.cluster.backendPort;
  if (await canConnect("127.0.0.1", port))
    throw new Error(`port 127.0.0.1:${port} (the backend port in examples/bench) is already in use`);
  const www = join(ctx.runDir, "www");
  mkdirSync(www, { recursive: true });
  mkdirSync(join(ctx.runDir, "backend-tmp"), { recursive: true });
  writeFileSync(join(www, "1m"), randomBytes(BULK_BYTES));
  chmodSync(www, 0o755);
  const conf = render(ctx, "backend.nginx.conf", "backend.nginx.conf", { BACKEND_PORT: port });
  const proc = ctx.pm.start(
    "backend",
    "nginx",
    ["-p", ctx.runDir, "-c", conf, "-e", join(ctx.runDir, "backend.startup.log")],
    { cpu: LOAD_CPU },
  );
  await ready(ctx, proc, [port]);
  const small = await httpProbe(`http://127.0.0.1:${port}/`);
  const bulk = await httpProbe(`http://127.0.0.1:${port}/1m`);
  if ("error" in small || small.status !== 200 || !small.head.startsWith(BACKEND_MARKER))
    throw new Error(`backend: GET / did not give the small 200 (${JSON.stringify(small)})`);
  if ("error" in bulk || bulk.status !== 200 || bulk.bytes !== BULK_BYTES)
    throw new Error(`backend: GET /1m did not give 1 MiB (${JSON.stringify(bulk)})`);
  return { name: "backend", proc, l7: `http://127.0.0.1:${port}`, l4: `http://127.0.0.1:${port}` };
}

export async function startNginxProxy(ctx: PeerContext): Promise<Peer> {
  const http = await freePort();
  const stream = await freePort();
  mkdirSync(join(ctx.runDir, "nginx-tmp"), { recursive: true });
  const conf = render(ctx, "proxy.nginx.conf", "proxy.nginx.conf", {
    BACKEND_PORT: ctx.cluster.backendPort,
    NGINX_HTTP_PORT: http,
    NGINX_STREAM_PORT: stream,
    NGINX_MODULES,
  });
  const proc = ctx.pm.start(
    "nginx",
    "nginx",
    ["-p", ctx.runDir, "-c", conf, "-e", join(ctx.runDir, "nginx.startup.log")],
    {
      cpu: PROXY_CPU,
    },
  );
  await ready(ctx, proc, [http, stream]);
  return { name: "nginx", proc, l7: `http://127.0.0.1:${http}`, l4: `http://127.0.0.1:${stream}` };
}

export async function startHaproxy(ctx: PeerContext): Promise<Peer> {
  const http = await freePort();
  const tcp = await freePort();
  const conf = render(ctx, "haproxy.cfg", "haproxy.cfg", {
    BACKEND_PORT: ctx.cluster.backendPort,
    HAPROXY_HTTP_PORT: http,
    HAPROXY_TCP_PORT: tcp,
  });
  const proc = ctx.pm.start("haproxy", "haproxy", ["-f", conf, "-db"], { cpu: PROXY_CPU });
  await ready(ctx, proc, [http, tcp]);
  return { name: "haproxy", proc, l7: `http://127.0.0.1:${http}`, l4: `http://127.0.0.1:${tcp}` };
}

export async function startHttpProxy(ctx: PeerContext): Promise<Peer> {
  const port = await freePort();
  const proc = ctx.pm.start(
    "http-proxy",
    process.execPath,
    [join(peersDir(ctx), "http-proxy.ts"), String(port), `http://127.0.0.1:${ctx.cluster.backendPort}`],
    { cpu: PROXY_CPU, cwd: ctx.repoRoot },
  );
  await ready(ctx, proc, [port]);
  return { name: "http-proxy", proc, l7: `http://127.0.0.1:${port}` };
}

export async function startBind(ctx: PeerContext): Promise<Peer> {
  const port = await freePort();
  writeFileSync(
    join(ctx.runDir, "cluster.zone"),
    fillTemplate(readFileSync(join(peersDir(ctx), "cluster.zone"), "utf8"), {
      TTL: ctx.dnsTtl,
      CLUSTER_DOMAIN: ctx.clusterDomain,
      RECORDS: zoneRecords(ctx.cluster.records, ctx.clusterDomain),
    }),
  );
  const conf = render(ctx, "named.conf", "named.conf", { BIND_PORT: port, CLUSTER_DOMAIN: ctx.clusterDomain });
  const proc = ctx.pm.start("bind", "named", ["-g", "-c", conf, "-n", "1", "-U", "1", "-4"], { cpu: PROXY_CPU });
  await readyDns(ctx, proc, port);
  return { name: "bind", proc, dns: { host: "127.0.0.1", port } };
}

export async function startDnsmasq(ctx: PeerContext): Promise<Peer> {
  const port = await freePort();
  const conf = render(ctx, "dnsmasq.conf", "dnsmasq.conf", {
    DNSMASQ_PORT: port,
    TTL: ctx.dnsTtl,
    HOST_RECORDS: dnsmasqHostRecords(ctx.cluster.records),
  });
  const proc = ctx.pm.start("dnsmasq", "dnsmasq", ["-k", "-C", conf, "--log-facility=-"], { cpu: PROXY_CPU });
  await readyDns(ctx, proc, port);
  return { name: "dnsmasq", proc, dns: { host: "127.0.0.1", port } };
}

async function readyDns(
  ctx: PeerContext,
  proc: Managed,
  port: number,
  first: { name: string; ip: string } | undefined = ctx.cluster.records[0],
): Promise<void> {
  if (!first) throw new Error("examples/bench has no Service with a ClusterIP to ask for");
  let exited = false;
  void proc.exited.then(() => {
    exited = true;
  });
  const ok = await waitFor(async () => {
    if (exited) return true;
    const r = await dnsProbe("127.0.0.1", port, first.name, 300);
    return "addresses" in r && r.addresses.includes(first.ip);
  }, 10_000);
  if (exited || !ok) {
    await ctx.pm.stop(proc);
    throw new Error(`${proc.name} did not answer ${first.name}: ${tail(proc.log)}`);
  }
}

/**
 * dns-forward-cached's authoritative upstream: BIND serving the bench zone on the load CPU (its CPU
 * is not measured; once the forwarders' caches are warm it sees no queries).
 */
export async function startUpstream(ctx: PeerContext, records: readonly ForwardRecord[]): Promise<Peer> {
  const port = await freePort();
  writeFileSync(join(ctx.runDir, "forward.zone"), forwardZoneFile(records));
  const conf = render(ctx, "upstream.named.conf", "upstream.named.conf", {
    UPSTREAM_PORT: port,
    FORWARD_ZONE,
  });
  const proc = ctx.pm.start("upstream", "named", ["-g", "-c", conf, "-n", "1", "-U", "1", "-4"], { cpu: LOAD_CPU });
  await readyDns(ctx, proc, port, records[0]);
  return { name: "upstream", proc, dns: { host: "127.0.0.1", port } };
}

/** dnsmasq forwarding to the upstream, with its cache. */
export async function startDnsmasqForward(
  ctx: PeerContext,
  upstreamPort: number,
  first: ForwardRecord | undefined,
): Promise<Peer> {
  const port = await freePort();
  const conf = render(ctx, "dnsmasq-forward.conf", "dnsmasq-forward.conf", {
    DNSMASQ_PORT: port,
    UPSTREAM_PORT: upstreamPort,
  });
  const proc = ctx.pm.start("dnsmasq", "dnsmasq", ["-k", "-C", conf, "--log-facility=-"], { cpu: PROXY_CPU });
  await readyDns(ctx, proc, port, first);
  return { name: "dnsmasq", proc, dns: { host: "127.0.0.1", port } };
}

/** unbound with a forward-zone to the upstream, one thread. */
export async function startUnbound(
  ctx: PeerContext,
  upstreamPort: number,
  first: ForwardRecord | undefined,
): Promise<Peer> {
  const port = await freePort();
  const conf = render(ctx, "unbound.conf", "unbound.conf", {
    UNBOUND_PORT: port,
    UPSTREAM_PORT: upstreamPort,
    FORWARD_ZONE,
  });
  const proc = ctx.pm.start("unbound", "unbound", ["-d", "-c", conf], { cpu: PROXY_CPU });
  await readyDns(ctx, proc, port, first);
  return { name: "unbound", proc, dns: { host: "127.0.0.1", port } };
}

export interface NodeplanePeer extends Peer {
  /** why a plane has no rows (not listening, wrong answer), by plane */
  missing: { l4?: string; l7?: string; gateway?: string; dns?: string };
  /** base URL of the Gateway listener (examples/bench's Gateway, on --gateway-address 127.0.0.1) */
  gateway?: string;
  /** processes in its tree once ready (workers show up here) */
  processes: number;
}

/**
 * nodeplane from examples/bench: ingress, DNS and admin on free ports, pinned like the peers (one
 * process) or, with workers, left on all CPUs. Each plane is probed; a plane that does not answer
 * yet is reported in `missing` rather than measured.
 */
export async function startNodeplane(
  ctx: PeerContext,
  name: string,
  workers?: number,
  /** dns-forward-cached: the local upstream's port (otherwise nothing is forwarded off this machine) */
  upstreamPort?: number,
): Promise<NodeplanePeer> {
  const http = await freePort();
  const dns = await freePort();
  const admin = await freePort();
  const args = [
    join(ctx.repoRoot, "bin", "nodeplane.js"),
    "--manifests",
    join(ctx.repoRoot, "examples", "bench"),
    "--node-name",
    "bench",
    "--http-address",
    `127.0.0.1:${http}`,
    "--https-address",
    "",
    "--dns-address",
    `127.0.0.1:${dns}`,
    // never forward anywhere off this machine; dns-cached asks only cluster names
    "--dns-upstream",
    upstreamPort === undefined ? "127.0.0.1:9" : `127.0.0.1:${upstreamPort}`,
    "--admin-address",
    `127.0.0.1:${admin}`,
    "--vip-interface",
    "none",
    "--log-level",
    "warn",
  ];
  // one data-plane process unless asked for more (nodeplane's default is one worker per CPU)
  args.push("--workers", String(workers ?? 1));
  const proc = ctx.pm.start(name, process.execPath, args, {
    cpu: workers === undefined ? PROXY_CPU : undefined,
    cwd: ctx.repoRoot,
  });
  let exited = false;
  void proc.exited.then(() => {
    exited = true;
  });
  const isReady = await waitFor(async () => {
    if (exited) return true;
    const r = await httpProbe(`http://127.0.0.1:${admin}/readyz`, 500);
    return "status" in r && r.status === 200;
  }, 20_000);
  if (exited || !isReady) {
    await ctx.pm.stop(proc);
    throw new Error(`${name} did not become ready: ${tail(proc.log)}`);
  }
  const missing: NodeplanePeer["missing"] = {};
  const { clusterIP, servicePort, records } = ctx.cluster;
  const l4 = `http://${clusterIP}:${servicePort}`;
  const l7 = `http://127.0.0.1:${http}`;
  // the pipeline applies the first snapshot asynchronously; give the planes a moment
  const probeHttp = async (url: string, headers: Record<string, string> = {}) => {
    let last = "";
    const ok = await waitFor(async () => {
      const r = await httpProbe(`${url}/`, 1000, headers);
      last = "error" in r ? r.error : `HTTP ${r.status}, ${r.bytes} bytes: ${JSON.stringify(r.head.slice(0, 60))}`;
      return "status" in r && r.status === 200 && r.head.startsWith(BACKEND_MARKER);
    }, 3000);
    return ok ? undefined : last;
  };
  const l4Problem = await probeHttp(l4);
  if (l4Problem) missing.l4 = `ClusterIP ${clusterIP}:${servicePort} does not proxy to the backend (${l4Problem})`;
  const l7Problem = await probeHttp(l7);
  if (l7Problem) missing.l7 = `ingress on 127.0.0.1:${http} does not route to the backend (${l7Problem})`;
  const gateway = ctx.cluster.gatewayPort ? `http://127.0.0.1:${ctx.cluster.gatewayPort}` : undefined;
  if (gateway === undefined) missing.gateway = "examples/bench has no Gateway";
  else {
    const gatewayProblem = await probeHttp(gateway, { "x-bench": "1" });
    if (gatewayProblem) missing.gateway = `Gateway on ${gateway} does not route to the backend (${gatewayProblem})`;
  }
  const first = records[0];
  if (first) {
    const r = await dnsProbe("127.0.0.1", dns, first.name, 1000);
    if (!("addresses" in r) || !r.addresses.includes(first.ip))
      missing.dns = `DNS on 127.0.0.1:${dns} does not answer ${first.name} A ${first.ip} (${JSON.stringify(r)})`;
  }
  return {
    name,
    proc,
    l4,
    l7,
    ...(gateway ? { gateway } : {}),
    dns: { host: "127.0.0.1", port: dns },
    missing,
    processes: treeTicks(proc.pid).pids.length,
  };
}
