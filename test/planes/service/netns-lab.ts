import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "./helpers.ts";

/**
 * A simulated cluster in network namespaces (README, Tests), for the node simulation suites. Traffic
 * stays inside the namespaces it creates; names are unique per run (`np-svc-<pid>-<tag>-…`) and
 * everything is torn down by `teardown()`, on exit and on SIGINT/SIGTERM. Namespaces left by a
 * run whose process died are removed on setup.
 *
 *   pod-a 10.244.1.2 ─┐
 *   pod-b 10.244.1.3 ─┴─ veth ─ br0 10.244.1.1/24 (node1) ── eth1 172.31.0.1/24 ══ eth1 172.31.0.2/24 (node2)
 *
 * node2 routes the pod network via node1, as a CNI would.
 */

export const isRoot = process.getuid?.() === 0;
export const NODE = process.execPath;
export const NODE1 = "172.31.0.1";
export const NODE2 = "172.31.0.2";
const PREFIX = "np-svc-";

export function ip(...args: string[]): void {
  execFileSync("ip", args, { stdio: ["ignore", "ignore", "pipe"] });
}

export interface Started {
  child: ChildProcess;
  /** the rest of the `ready` line */
  status: string;
  logs: () => string;
}

export class NetnsLab {
  readonly ns: { node1: string; node2: string; podA: string; podB: string };
  workdir = "";
  private readonly children: ChildProcess[] = [];
  private readonly created: string[] = [];

  constructor(tag: string) {
    const prefix = `${PREFIX}${process.pid}-${tag}`;
    this.ns = { node1: `${prefix}-n1`, node2: `${prefix}-n2`, podA: `${prefix}-pa`, podB: `${prefix}-pb` };
  }

  /** Builds the namespaces and links, and starts an HTTP backend in each pod answering its name. */
  async setup(): Promise<void> {
    const teardown = () => this.teardown();
    process.once("exit", teardown);
    for (const signal of ["SIGINT", "SIGTERM"] as const)
      process.once(signal, () => {
        teardown();
        process.exit(130);
      });
    removeStale();
    this.workdir = mkdtempSync(join(tmpdir(), `${PREFIX}${process.pid}-`));
    const { ns } = this;
    for (const name of Object.values(ns)) {
      ip("netns", "add", name);
      this.created.push(name);
      ip("-n", name, "link", "set", "lo", "up");
    }
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
    ip("-n", ns.node2, "route", "add", "10.244.1.0/24", "via", NODE1);
    execFileSync("ip", ["netns", "exec", ns.node1, "sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    for (const [pod, name] of [
      [ns.podA, "pod-a"],
      [ns.podB, "pod-b"],
    ] as const) {
      await this.start(pod, [
        "-e",
        `require("node:http").createServer((q, s) => s.end(${JSON.stringify(`${name}\n`)})).listen(8080, "0.0.0.0", () => console.log("ready"))`,
      ]);
    }
  }

  teardown(): void {
    for (const child of this.children.splice(0)) {
      if (child.exitCode === null && child.pid) {
        try {
          process.kill(child.pid, "SIGKILL");
        } catch {
          // already gone
        }
      }
    }
    for (const name of this.created.splice(0).reverse()) {
      try {
        ip("netns", "del", name);
      } catch {
        // already gone
      }
    }
    if (this.workdir) rmSync(this.workdir, { recursive: true, force: true });
    this.workdir = "";
  }

  /** Starts `node ARGS…` in a namespace and waits for a stdout line matching `ready` (default: starting with "ready"). */
  start(
    name: string,
    args: string[],
    ready: (line: string) => boolean = (l) => l.startsWith("ready"),
  ): Promise<Started> {
    const child = spawn("ip", ["netns", "exec", name, NODE, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    this.children.push(child);
    let logs = "";
    child.stderr!.on("data", (d) => {
      logs += d;
    });
    return new Promise((resolve, reject) => {
      let out = "";
      const timer = setTimeout(() => reject(new Error(`${name}: not ready in time\n${out}\n${logs}`)), 20_000);
      child.stdout!.on("data", (d) => {
        out += d;
        const line = out.split("\n").find(ready);
        if (line) {
          clearTimeout(timer);
          resolve({ child, status: line.slice(6), logs: () => `${out}\n${logs}` });
        }
      });
      child.on("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`${name}: exited with ${code}\n${out}\n${logs}`));
      });
    });
  }

  inNs(name: string, cmd: string, args: string[], timeoutMs = 15_000) {
    return run("ip", ["netns", "exec", name, cmd, ...args], timeoutMs);
  }

  curl(name: string, url: string) {
    return this.inNs(name, "curl", ["-sS", "--max-time", "5", url]);
  }

  /** How a TCP connect from inside a namespace ends: refused, reset, data, or timeout. */
  async probe(name: string, host: string, port: number): Promise<string> {
    const script = `const s = require("node:net").connect(${port}, ${JSON.stringify(host)});
s.setTimeout(5000, () => { console.log("timeout"); process.exit(); });
s.on("error", (e) => { console.log(e.code === "ECONNREFUSED" ? "refused" : e.code === "ECONNRESET" ? "reset" : e.code); process.exit(); });
s.on("connect", () => s.write("GET / HTTP/1.0\\r\\n\\r\\n"));
s.on("data", () => { console.log("data"); process.exit(); });`;
    return (await this.inNs(name, NODE, ["-e", script])).stdout.trim();
  }

  /** Addresses in 10.96.0.0/16 on any link of a namespace (where the service plane puts clusterIPs). */
  vips(name: string): { local: string; label?: string; dev: string }[] {
    const out = execFileSync("ip", ["-n", name, "-j", "addr", "show"], { encoding: "utf8" });
    const links = JSON.parse(out) as { ifname: string; addr_info: { local: string; label?: string }[] }[];
    return links.flatMap((l) =>
      l.addr_info
        .filter((a) => a.local.startsWith("10.96."))
        .map((a) => ({ local: a.local, label: a.label, dev: l.ifname })),
    );
  }
}

export function stop(child: ChildProcess, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once("exit", () => resolve());
    child.kill(signal);
  });
}

/** Namespaces of an earlier run of these suites whose process died without tearing down. */
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
