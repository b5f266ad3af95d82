import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { afterEach, describe, expect, it } from "vitest";
import {
  alive,
  cleanups,
  dig,
  freePort,
  generation,
  httpBackend,
  httpGet,
  INGRESS_CLASS,
  ingressYaml,
  listen,
  NET,
  nameBackend,
  ROOT,
  runCleanups,
  serviceYaml,
  sliceYaml,
  spreadOver,
  start,
  tcpRead,
  until,
  type Worker,
  workers,
  yamlDocuments,
} from "./harness.ts";

/**
 * The real thing: `bin/nodeplane.js --manifests DIR --workers 2` on loopback. Service proxy, ingress and
 * DNS are served by two worker processes sharing each socket (SO_REUSEPORT); the primary holds the
 * watch and the admin server. Every wait is bounded.
 */

const CLUSTER_IP = `${NET}.0.10`;
const STICKY_IP = `${NET}.0.11`;

function manifests(backendPort: number, stickyPorts: number[]): string {
  return yamlDocuments(
    INGRESS_CLASS,
    serviceYaml("web", { name: "http", port: 8080, targetPort: "http" }, { clusterIP: CLUSTER_IP }),
    sliceYaml("web-1", "web", "http", backendPort),
    serviceYaml(
      "sticky",
      { name: "tcp", port: 9000, targetPort: 9000 },
      { clusterIP: STICKY_IP, sessionAffinity: "ClientIP" },
    ),
    ...stickyPorts.map((port, i) => sliceYaml(`sticky-${i}`, "sticky", "tcp", port)),
    ingressYaml("web", "web.example", "web"),
  );
}

afterEach(runCleanups);

describe("nodeplane --workers 2 (SO_REUSEPORT data-plane processes)", () => {
  it("serves from both workers of each group, follows edits, restarts a killed worker, aggregates metrics, stops cleanly", async () => {
    const b1 = await httpBackend("b1");
    const b2 = await httpBackend("b2");
    const sticky = [await nameBackend("s1"), await nameBackend("s2")];
    const dir = mkdtempSync(join(tmpdir(), "nodeplane-workers-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, "all.yaml"), manifests(b1, sticky));

    const np = await start(dir, 2);
    expect((await fetch(`http://${np.admin}/readyz`)).status).toBe(200);
    const initial = await workers(np.admin);
    // the ingress in processes of its own (the default --ingress-isolation process)
    expect(initial.map((w) => [w.name, w.planes])).toEqual([
      ["service-0", ["service", "dns"]],
      ["service-1", ["service", "dns"]],
      ["ingress-0", ["ingress"]],
      ["ingress-1", ["ingress"]],
    ]);
    const pids = initial.map((w) => w.pid!);
    expect(new Set([...pids, np.child.pid]).size).toBe(5);
    expect(initial.every((w) => w.state === "running" && w.generation >= 1)).toBe(true);

    // L4 through the ClusterIP: connections land on both workers
    const l4 = await spreadOver(
      np.admin,
      "connections",
      () => tcpRead(CLUSTER_IP, 8080, "GET / HTTP/1.0\r\n\r\n"),
      "service",
    );
    expect(l4.results.every((r) => typeof r === "string" && r.endsWith("b1\n"))).toBe(true);
    expect(l4.after.every((w, i) => w.traffic!.connections > l4.before[i]!.traffic!.connections)).toBe(true);

    // L7 through the ingress listener
    const l7 = await spreadOver(np.admin, "requests", () => httpGet(np.http, "/", "web.example"), "ingress");
    expect(l7.results.every((r) => r === "b1\n")).toBe(true);
    expect(l7.after.every((w, i) => w.traffic!.requests > l7.before[i]!.traffic!.requests)).toBe(true);

    // DNS over UDP: dig picks a new source port per run
    const name = "web.default.svc.cluster.local";
    const dns = await spreadOver(np.admin, "dnsQueries", () => dig(np.dns, name), "service", 60);
    expect(dns.results.every((r) => r === CLUSTER_IP)).toBe(true);
    expect(dns.after.every((w, i) => w.traffic!.dnsQueries > dns.before[i]!.traffic!.dnsQueries)).toBe(true);

    // ClientIP affinity: one worker serves the port alone, so every connection of this client sticks
    const stickyBefore = await workers(np.admin, "service");
    const answers = new Set<string | undefined>();
    for (let i = 0; i < 20; i++) answers.add(await tcpRead(STICKY_IP, 9000));
    expect(answers.size).toBe(1);
    expect([...answers][0]).toMatch(/^s[12]\n$/);
    const stickyAfter = await workers(np.admin, "service");
    const grew = stickyAfter.map((w, i) => w.traffic!.connections - stickyBefore[i]!.traffic!.connections);
    expect(grew).toEqual([20, 0]);

    // /metrics merges the processes: the Service's counter is the sum over the workers
    const metrics = await (await fetch(`http://${np.admin}/metrics`)).text();
    const total = (stickyAfter as Worker[]).reduce((n, w) => n + w.traffic!.connections, 0);
    const series = [...metrics.matchAll(/^nodeplane_service_connections_total\{[^}]*\} (\d+)$/gm)].map((m) =>
      Number(m[1]),
    );
    expect(series.reduce((a, b) => a + b, 0)).toBe(total);
    expect(metrics).toMatch(/^nodeplane_workers\{group="service",state="running"\} 2$/m);
    expect(metrics).toMatch(/^nodeplane_workers\{group="ingress",state="running"\} 2$/m);
    expect(metrics).toMatch(/^nginx_ingress_controller_requests\{/m);
    expect(metrics).toMatch(/^coredns_dns_requests_total\{/m);

    // Ingress status written by the workers reached the primary's status writer
    const ingress = (await (await fetch(`http://${np.admin}/api/v1/namespaces/default/ingresses/web`)).json()) as {
      status?: { loadBalancer?: { ingress?: unknown[] } };
    };
    expect(ingress.status?.loadBalancer?.ingress?.length).toBeGreaterThan(0);

    // a manifest edit reaches both workers
    writeFileSync(join(dir, "all.yaml"), manifests(b2, sticky));
    expect(
      await until(async () => {
        const g = await generation(np.admin);
        return g > 1 && (await workers(np.admin)).every((w) => w.generation === g);
      }),
    ).toBe(true);
    for (let i = 0; i < 10; i++) expect(await httpGet(np.http, "/", "web.example")).toBe("b2\n");
    for (let i = 0; i < 20; i++) expect(await tcpRead(CLUSTER_IP, 8080, "GET / HTTP/1.0\r\n\r\n")).toMatch(/b2\n$/);

    // a killed worker is restarted, gets the current snapshot, and serves again
    const victim = pids[1]!;
    expect(initial[1]!.name).toBe("service-1");
    process.kill(victim, "SIGKILL");
    expect(
      await until(async () => {
        const w = await workers(np.admin);
        return w[1]!.pid !== victim && w[1]!.state === "running" && w[1]!.generation === (await generation(np.admin));
      }),
    ).toBe(true);
    expect((await fetch(`http://${np.admin}/readyz`)).status).toBe(200);
    const restarted = await workers(np.admin);
    expect(restarted[1]!.restarts).toBe(1);
    expect(restarted[0]!.pid).toBe(pids[0]);
    const resumed = await spreadOver(
      np.admin,
      "connections",
      () => tcpRead(CLUSTER_IP, 8080, "GET / HTTP/1.0\r\n\r\n"),
      "service",
    );
    expect(resumed.results.every((r) => typeof r === "string" && r.endsWith("b2\n"))).toBe(true);
    expect(resumed.after.every((w, i) => w.traffic!.connections > resumed.before[i]!.traffic!.connections)).toBe(true);
    expect(await (await fetch(`http://${np.admin}/metrics`)).text()).toMatch(
      /^nodeplane_worker_restarts_total\{group="service"\} 1$/m,
    );

    // SIGTERM: everything stops, nothing is left behind
    const all = [np.child.pid!, ...restarted.map((w) => w.pid!)];
    np.child.kill("SIGTERM");
    expect(await np.exited).toBe(0);
    expect(await until(() => all.every((pid) => !alive(pid)), 5_000)).toBe(true);
    expect(await tcpRead(CLUSTER_IP, 8080)).toBeUndefined();
    expect(await httpGet(np.http, "/", "web.example")).toBeUndefined();
  }, 90_000);

  it("workers exit when their primary dies", async () => {
    const dir = mkdtempSync(join(tmpdir(), "nodeplane-workers-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, "all.yaml"), manifests(await httpBackend("b1"), [await nameBackend("s1")]));
    const np = await start(dir, 2);
    const pids = (await workers(np.admin)).map((w) => w.pid!);
    expect(pids.every(alive)).toBe(true);
    np.child.kill("SIGKILL");
    await np.exited;
    expect(await until(() => pids.every((pid) => !alive(pid)), 5_000)).toBe(true);
  }, 60_000);

  it("a worker that cannot start fails the start with its reason", async () => {
    const dir = mkdtempSync(join(tmpdir(), "nodeplane-workers-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, "all.yaml"), manifests(await httpBackend("b1"), [await nameBackend("s1")]));
    // a port held without SO_REUSEPORT cannot be shared
    const taken = createServer();
    const port = await listen(taken);
    cleanups.push(() => new Promise<void>((r) => taken.close(() => r())));
    await expect(start(dir, 2, [`--http-address=127.0.0.1:${port}`])).rejects.toThrow(
      /nodeplane: worker ingress-\d exited before it started: listen EADDRINUSE/,
    );
  }, 60_000);

  it("`nodeplane worker` by hand (no primary) refuses to run", async () => {
    const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, ["bin/nodeplane.js", "worker"], {
        cwd: ROOT,
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stderr = "";
      child.stderr!.on("data", (d: Buffer) => {
        stderr += d.toString();
      });
      child.once("exit", (code) => resolve({ code, stderr }));
    });
    expect(result).toEqual({ code: 2, stderr: "nodeplane worker: started by `nodeplane --workers N`, not by hand\n" });
  });

  it.each(["SIGINT", "SIGTERM"] as const)(
    "%s to the whole process group (Ctrl-C, systemd) stops everything once, with no restart",
    async (signal) => {
      const dir = mkdtempSync(join(tmpdir(), "nodeplane-workers-"));
      cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
      writeFileSync(join(dir, "all.yaml"), manifests(await httpBackend("b1"), [await nameBackend("s1")]));
      const np = await start(dir, 2, [], true);
      const pids = [np.child.pid!, ...(await workers(np.admin)).map((w) => w.pid!)];
      process.kill(-np.child.pid!, signal);
      expect(await np.exited).toBe(0);
      expect(await until(() => pids.every((pid) => !alive(pid)), 5_000)).toBe(true);
      expect(np.out()).not.toMatch(/restarting worker|worker [a-z]+-\d restarted/);
    },
    60_000,
  );

  it("every worker presents the same self-signed default certificate (made once by the primary)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "nodeplane-workers-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, "all.yaml"), manifests(await httpBackend("b1"), [await nameBackend("s1")]));
    const https = await freePort();
    const np = await start(dir, 2, [`--https-address=127.0.0.1:${https}`]);
    const fingerprint = () =>
      new Promise<string>((resolve, reject) => {
        const s = tlsConnect({
          host: "127.0.0.1",
          port: https,
          servername: "unknown.example",
          rejectUnauthorized: false,
        });
        s.once("secureConnect", () => {
          resolve(s.getPeerCertificate().fingerprint256);
          s.destroy();
        });
        s.once("error", reject);
      });
    const seen = new Set<string>();
    // 40 handshakes: all on one worker has probability 2^-39
    for (let i = 0; i < 40; i++) seen.add(await fingerprint());
    expect(seen.size).toBe(1);
    expect((await workers(np.admin, "ingress")).map((w) => w.state)).toEqual(["running", "running"]);
  }, 60_000);
});
