import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { HealthCheckSnapshot, ServicePortSnapshot } from "../../../src/snapshot/snapshot.ts";
import { endpoint, frontend, servicePort, snapshot } from "./helpers.ts";
import { isRoot, NetnsLab, NODE1, NODE2, stop } from "./netns-lab.ts";

/**
 * Node simulation (README, Tests): network namespaces as two nodes and two pods. All traffic stays inside
 * namespaces this test creates; names are unique per run and everything is torn down, also on exit.
 *
 *   pod-a 10.244.1.2 ─┐                     node1: br0 10.244.1.1/24, eth1 172.31.0.1/24 ── node2: eth1 172.31.0.2/24
 *   pod-b 10.244.1.3 ─┴─ veth ─ br0 (node1)        service plane, VIPs on its VIP link        service plane (no local pods)
 */

const RUNNER = join(import.meta.dirname, "netns-runner.ts");
const lab = new NetnsLab("rt");
const ns = lab.ns;
const curl = (name: string, url: string) => lab.curl(name, url);
const inNs = (name: string, cmd: string, args: string[]) => lab.inNs(name, cmd, args);
const probeIn = (name: string, host: string, port: number) => lab.probe(name, host, port);
const vipAddresses = (name: string) => lab.vips(name);

async function startPlaneIn(
  name: string,
  ports: ServicePortSnapshot[],
  healthChecks: HealthCheckSnapshot[],
  nodeAddress: string,
) {
  const snapFile = join(lab.workdir, `${name}.snapshot.json`);
  const configFile = join(lab.workdir, `${name}.config.json`);
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
      vipStateFile: join(lab.workdir, `${name}.vips.json`),
    }),
  );
  return lab.start(name, [RUNNER, snapFile, configFile]);
}

const CLUSTER_IP = "10.96.0.10";
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

/**
 * A Service whose first endpoint is on the pod network but answered by no pod: a connect to it gets no
 * answer at all (no ARP reply), so only the dial timeout (1 s here) ends it and the next endpoint is tried.
 */
const flaky = servicePort(
  "flaky",
  [frontend("10.96.0.30", 80)],
  [endpoint("10.244.1.99", 8080, { nodeName: "node1" }), podB],
);

describe.skipIf(!isRoot)("node simulation in network namespaces", () => {
  let node1: Awaited<ReturnType<typeof startPlaneIn>>;
  let node2: Awaited<ReturnType<typeof startPlaneIn>>;

  beforeAll(async () => {
    await lab.setup();
    const n1 = portsFor("node1");
    const n2 = portsFor("node2");
    node1 = await startPlaneIn(ns.node1, [...n1.ports, flaky], n1.checks, NODE1);
    node2 = await startPlaneIn(ns.node2, n2.ports, n2.checks, NODE2);
  }, 60_000);

  afterAll(() => lab.teardown());

  it("binds the clusterIPs on the node's VIP link with its own label", () => {
    const vips = vipAddresses(ns.node1);
    expect(vips.map((v) => v.local).sort()).toEqual([CLUSTER_IP, "10.96.0.20", "10.96.0.30"]);
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

  it("retries on the next endpoint after the dial timeout when an endpoint does not answer", async () => {
    // Round-robin starts at the dead endpoint for the first connection.
    const started = Date.now();
    const r = await curl(ns.podA, "http://10.96.0.30/");
    expect(r.stderr).toBe("");
    expect(r.stdout.trim()).toBe("pod-b");
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
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
      join(lab.workdir, `${ns.node1}.snapshot.json`),
      JSON.stringify(snapshot([rejected, ...rest, flaky], { healthChecks: n1.checks, nodePortAddresses: [NODE1] })),
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
