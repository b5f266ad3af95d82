import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { HealthCheckSnapshot, ServicePortSnapshot } from "../../../src/translate/snapshot.ts";
import { endpoint, frontend, run, servicePort, snapshot } from "./helpers.ts";

/**
 * Node simulation (design §7): network namespaces as two nodes and two pods. All traffic stays inside
 * namespaces this test creates; names are unique per run and everything is torn down, also on exit.
 *
 *   pod-a 10.244.1.2 ─┐                     node1: br0 10.244.1.1/24, eth1 172.31.0.1/24 ── node2: eth1 172.31.0.2/24
 *   pod-b 10.244.1.3 ─┴─ veth ─ br0 (node1)        service plane, VIPs on its VIP link        service plane (no local pods)
 */

const isRoot = process.getuid?.() === 0;
const NODE = process.execPath;
const RUNNER = join(import.meta.dirname, "netns-runner.ts");
const PREFIX = "np-svc-";
const prefix = `${PREFIX}${process.pid}`;
const ns = { node1: `${prefix}-n1`, node2: `${prefix}-n2`, podA: `${prefix}-pa`, podB: `${prefix}-pb` };
const children: ChildProcess[] = [];
const created: string[] = [];
let workdir = "";

function ip(...args: string[]): void {
  execFileSync("ip", args, { stdio: ["ignore", "ignore", "pipe"] });
}

/** Namespaces of an earlier run of this suite whose process died without tearing down. */
function removeStale(): void {
  const list = execFileSync("ip", ["netns", "list"], { encoding: "utf8" });
  for (const line of list.split("\n")) {
    const name = line.split(" ")[0] ?? "";
    const pid = Number(name.slice(PREFIX.length).split("-")[0]);
    if (!name.startsWith(PREFIX) || !pid || pid === process.pid) continue;
    try {
      process.kill(pid, 0);
    } catch {
      ip("netns", "del", name);
    }
  }
}

function teardown(): void {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.pid) {
      try {
        process.kill(child.pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
  }
  for (const name of created.splice(0).reverse()) {
    try {
      ip("netns", "del", name);
    } catch {
      // already gone
    }
  }
  if (workdir) rmSync(workdir, { recursive: true, force: true });
  workdir = "";
}

function inNs(name: string, cmd: string, args: string[], timeoutMs = 15_000) {
  return run("ip", ["netns", "exec", name, cmd, ...args], timeoutMs);
}

/** How a TCP connect from inside a namespace ends: refused, reset, or the first bytes of data. */
async function probeIn(name: string, host: string, port: number): Promise<string> {
  const script = `const s = require("node:net").connect(${port}, ${JSON.stringify(host)});
s.setTimeout(5000, () => { console.log("timeout"); process.exit(); });
s.on("error", (e) => { console.log(e.code === "ECONNREFUSED" ? "refused" : e.code === "ECONNRESET" ? "reset" : e.code); process.exit(); });
s.on("connect", () => s.write("GET / HTTP/1.0\\r\\n\\r\\n"));
s.on("data", () => { console.log("data"); process.exit(); });`;
  return (await inNs(name, NODE, ["-e", script])).stdout.trim();
}

function curl(name: string, url: string) {
  return inNs(name, "curl", ["-sS", "--max-time", "5", url]);
}

/** Starts a long-running process in a namespace and waits for its first stdout line starting with `ready`. */
function startIn(name: string, args: string[]): Promise<{ child: ChildProcess; status: string; logs: () => string }> {
  const child = spawn("ip", ["netns", "exec", name, NODE, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  let logs = "";
  child.stderr!.on("data", (d) => {
    logs += d;
  });
  return new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`${name}: not ready in time\n${logs}`)), 15_000);
    child.stdout!.on("data", (d) => {
      out += d;
      const line = out.split("\n").find((l) => l.startsWith("ready"));
      if (line) {
        clearTimeout(timer);
        resolve({ child, status: line.slice(6), logs: () => logs });
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${name}: exited with ${code}\n${logs}`));
    });
  });
}

function stop(child: ChildProcess, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once("exit", () => resolve());
    child.kill(signal);
  });
}

async function startPlaneIn(
  name: string,
  ports: ServicePortSnapshot[],
  healthChecks: HealthCheckSnapshot[],
  nodeAddress: string,
) {
  const snapFile = join(workdir, `${name}.snapshot.json`);
  const configFile = join(workdir, `${name}.config.json`);
  writeFileSync(snapFile, JSON.stringify(snapshot(ports, { healthChecks, nodePortAddresses: [nodeAddress] })));
  writeFileSync(
    configFile,
    JSON.stringify({
      vipInterface: "nodeplane0", // dummy link when the kernel can make one, else lo
      tcpIdleTimeoutMs: 60_000,
      udpIdleTimeoutMs: 60_000,
      endpointGracePeriodMs: 1_000,
      dialTimeoutMs: 1_000,
      dialRetries: 2,
      vipStateFile: join(workdir, `${name}.vips.json`),
    }),
  );
  return startIn(name, [RUNNER, snapFile, configFile]);
}

function vipAddresses(name: string): { local: string; label?: string; dev: string }[] {
  const out = execFileSync("ip", ["-n", name, "-j", "addr", "show"], { encoding: "utf8" });
  const links = JSON.parse(out) as {
    ifname: string;
    addr_info: { local: string; label?: string; prefixlen: number }[];
  }[];
  return links.flatMap((l) =>
    l.addr_info
      .filter((a) => a.local.startsWith("10.96."))
      .map((a) => ({ local: a.local, label: a.label, dev: l.ifname })),
  );
}

const CLUSTER_IP = "10.96.0.10";
const NODE1 = "172.31.0.1";
const NODE2 = "172.31.0.2";
const podA = endpoint("10.244.1.2", 8080, { nodeName: "node1" });
const podB = endpoint("10.244.1.3", 8080, { nodeName: "node1" });

/** What the translator gives each node for: my-nginx (ClusterIP + NodePort 30080, Cluster policy) and
 * lb-local (NodePort 30081, externalTrafficPolicy Local, healthCheckNodePort 30900). */
function portsFor(node: "node1" | "node2"): { ports: ServicePortSnapshot[]; checks: HealthCheckSnapshot[] } {
  const nodeIp = node === "node1" ? NODE1 : NODE2;
  const local = node === "node1" ? [podA, podB] : [];
  return {
    ports: [
      servicePort(
        "my-nginx",
        [frontend(CLUSTER_IP, 80), frontend(nodeIp, 30080, { kind: "nodePort", endpoints: "external" })],
        [podA, podB],
      ),
      {
        ...servicePort(
          "lb-local",
          [
            frontend("10.96.0.20", 80),
            frontend(nodeIp, 30081, {
              kind: "nodePort",
              endpoints: "external",
              action: local.length > 0 ? "forward" : "drop",
            }),
          ],
          [podA, podB],
        ),
        externalEndpoints: local,
      },
    ],
    checks: [{ namespace: "default", name: "lb-local", port: 30900, localEndpoints: local.length }],
  };
}

describe.skipIf(!isRoot)("node simulation in network namespaces", () => {
  let node1: Awaited<ReturnType<typeof startPlaneIn>>;
  let node2: Awaited<ReturnType<typeof startPlaneIn>>;

  beforeAll(async () => {
    process.once("exit", teardown);
    for (const signal of ["SIGINT", "SIGTERM"] as const)
      process.once(signal, () => {
        teardown();
        process.exit(130);
      });
    removeStale();
    workdir = mkdtempSync(join(tmpdir(), `${prefix}-`));
    for (const name of Object.values(ns)) {
      ip("netns", "add", name);
      created.push(name);
      ip("-n", name, "link", "set", "lo", "up");
    }
    // node1: the pod bridge and the "node network" link to node2
    ip("-n", ns.node1, "link", "add", "br0", "type", "bridge");
    ip("-n", ns.node1, "addr", "add", "10.244.1.1/24", "dev", "br0");
    ip("-n", ns.node1, "link", "set", "br0", "up");
    for (const [pod, addr, veth] of [
      [ns.podA, "10.244.1.2/24", "vpa"],
      [ns.podB, "10.244.1.3/24", "vpb"],
    ] as const) {
      ip("-n", ns.node1, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", pod);
      ip("-n", ns.node1, "link", "set", veth, "master", "br0", "up");
      ip("-n", pod, "addr", "add", addr, "dev", "eth0");
      ip("-n", pod, "link", "set", "eth0", "up");
      ip("-n", pod, "route", "add", "default", "via", "10.244.1.1");
    }
    ip("-n", ns.node1, "link", "add", "eth1", "type", "veth", "peer", "name", "eth1", "netns", ns.node2);
    ip("-n", ns.node1, "addr", "add", `${NODE1}/24`, "dev", "eth1");
    ip("-n", ns.node2, "addr", "add", `${NODE2}/24`, "dev", "eth1");
    ip("-n", ns.node1, "link", "set", "eth1", "up");
    ip("-n", ns.node2, "link", "set", "eth1", "up");
    // The pod network is routed through node1, as a CNI would set it up.
    ip("-n", ns.node2, "route", "add", "10.244.1.0/24", "via", NODE1);
    execFileSync("ip", ["netns", "exec", ns.node1, "sysctl", "-qw", "net.ipv4.ip_forward=1"]);

    // Backends inside the pods.
    for (const [pod, name] of [
      [ns.podA, "pod-a"],
      [ns.podB, "pod-b"],
    ] as const) {
      await startIn(pod, [
        "-e",
        `require("node:http").createServer((q, s) => s.end(${JSON.stringify(`${name}\n`)})).listen(8080, "0.0.0.0", () => console.log("ready"))`,
      ]);
    }
    const n1 = portsFor("node1");
    const n2 = portsFor("node2");
    node1 = await startPlaneIn(ns.node1, n1.ports, n1.checks, NODE1);
    node2 = await startPlaneIn(ns.node2, n2.ports, n2.checks, NODE2);
  }, 60_000);

  afterAll(() => teardown());

  it("binds the clusterIPs on the node's VIP link with its own label", () => {
    const vips = vipAddresses(ns.node1);
    expect(vips.map((v) => v.local).sort()).toEqual([CLUSTER_IP, "10.96.0.20"]);
    for (const v of vips) {
      expect(["lo", "nodeplane0"]).toContain(v.dev);
      expect(v.label).toBe(`${v.dev}:np`);
    }
    expect(JSON.parse(node1.status).failed).toEqual({});
  });

  it("answers curl from a pod namespace to the ClusterIP, balanced over both pods", async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const r = await curl(ns.podA, `http://${CLUSTER_IP}/`);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      seen.add(r.stdout.trim());
    }
    expect([...seen].sort()).toEqual(["pod-a", "pod-b"]);
  });

  it("answers curl from the node namespace to the NodePort, and from the other node", async () => {
    const local = await curl(ns.node1, `http://${NODE1}:30080/`);
    expect(local.code).toBe(0);
    expect(["pod-a", "pod-b"]).toContain(local.stdout.trim());
    const remote = await curl(ns.node2, `http://${NODE1}:30080/`);
    expect(remote.code).toBe(0);
    expect(["pod-a", "pod-b"]).toContain(remote.stdout.trim());
  });

  it("externalTrafficPolicy Local: served on the node with local pods, reset on the node without", async () => {
    const withPods = await curl(ns.node2, `http://${NODE1}:30081/`);
    expect(withPods.code).toBe(0);
    const without = await curl(ns.node1, `http://${NODE2}:30081/`);
    expect([7, 56]).toContain(without.code);
    expect(await probeIn(ns.node1, NODE2, 30081)).toBe("reset");
    expect(await probeIn(ns.node1, NODE1, 30081)).toBe("data");
    // The ClusterIP of the same Service still works from node2 (internal traffic is not restricted).
    const cluster = await curl(ns.node2, "http://10.96.0.20/");
    expect(cluster.code).toBe(0);
    // healthCheckNodePort tells a load balancer which node to use.
    const hc1 = await inNs(ns.node2, "curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", `http://${NODE1}:30900/`]);
    const hc2 = await inNs(ns.node1, "curl", ["-s", "-w", "\n%{http_code}", `http://${NODE2}:30900/`]);
    expect(hc1.stdout).toBe("200");
    expect(hc2.stdout.endsWith("\n503")).toBe(true);
    expect(JSON.parse(hc2.stdout.slice(0, hc2.stdout.lastIndexOf("\n"))).localEndpoints).toBe(0);
  });

  it("refuses at once when a Service loses its endpoints (the VIP stays bound)", async () => {
    const n1 = portsFor("node1");
    const [nginx, ...rest] = n1.ports;
    const rejected = {
      ...nginx!,
      frontends: nginx!.frontends.map((f) => ({ ...f, action: "reject" as const })),
      clusterEndpoints: [],
      externalEndpoints: [],
    };
    writeFileSync(
      join(workdir, `${ns.node1}.snapshot.json`),
      JSON.stringify(snapshot([rejected, ...rest], { healthChecks: n1.checks, nodePortAddresses: [NODE1] })),
    );
    const applied = new Promise<void>((resolve) =>
      node1.child.stdout!.on("data", (d) => String(d).includes("applied") && resolve()),
    );
    node1.child.kill("SIGHUP");
    await applied;
    const r = await curl(ns.podA, `http://${CLUSTER_IP}/`);
    expect(r.code).toBe(7);
    expect(await probeIn(ns.podA, CLUSTER_IP, 80)).toBe("refused");
    expect(vipAddresses(ns.node1).map((v) => v.local)).toContain(CLUSTER_IP);
    // The other Service is untouched.
    expect((await curl(ns.podB, "http://10.96.0.20/")).code).toBe(0);
  });

  it("removes its VIPs on shutdown, and a restart cleans what a killed run left", async () => {
    await stop(node2.child, "SIGKILL");
    const left = vipAddresses(ns.node2).map((v) => v.local);
    expect(left.sort()).toEqual([CLUSTER_IP, "10.96.0.20"]);
    // Restart with nothing to serve: the leftovers go.
    node2 = await startPlaneIn(ns.node2, [], [], NODE2);
    expect(vipAddresses(ns.node2)).toEqual([]);
    await stop(node2.child);
    await stop(node1.child);
    expect(vipAddresses(ns.node1)).toEqual([]);
  });
});

if (!isRoot) {
  console.log("node simulation in network namespaces skipped: needs root (ip netns); CI runs it as root");
}
