import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect, createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { Problem } from "../../src/model/problems.ts";
import {
  alive,
  cleanups,
  dig,
  httpBackend,
  httpGet,
  INGRESS_CLASS,
  ingressYaml,
  listen,
  NET,
  type Running,
  runCleanups,
  serviceYaml,
  sliceYaml,
  start,
  tcpRead,
  until,
  workers,
  yamlDocuments,
} from "./harness.ts";

/**
 * Fault domains (docs/workers.md): the ingress runs in processes of its own, so whatever kills one (an
 * unknown bug: SIGKILL is its honest stand-in, or a request that crashes it) leaves every established
 * ClusterIP connection and the DNS answers alone, and the ingress comes back by itself.
 */

// a /24 of the harness's /16 that multi-process.test.ts does not use
const ECHO_IP = `${NET}.1.10`;
const NAME = "echo.default.svc.cluster.local";

function manifests(echoPort: number, webPort: number): string {
  return yamlDocuments(
    INGRESS_CLASS,
    serviceYaml("echo", { name: "tcp", port: 7000, targetPort: echoPort }, { clusterIP: ECHO_IP }),
    sliceYaml("echo-1", "echo", "tcp", echoPort),
    serviceYaml("web", { name: "http", port: 8080, targetPort: webPort }),
    sliceYaml("web-1", "web", "http", webPort),
    ingressYaml("web", "web.example", "web"),
  );
}

afterEach(runCleanups);

async function echoBackend(): Promise<number> {
  const server = createServer((s) => s.pipe(s));
  const port = await listen(server);
  cleanups.push(() => {
    server.close();
    server.unref();
  });
  return port;
}

/** An established connection through the ClusterIP; `echo` sends a line and resolves with what comes back. */
async function openEcho(): Promise<{ socket: Socket; echo: (line: string) => Promise<string | undefined> }> {
  const socket = connect({ host: ECHO_IP, port: 7000 });
  socket.setEncoding("utf8");
  socket.on("error", () => {});
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  cleanups.push(() => socket.destroy());
  let buffered = "";
  socket.on("data", (d: string) => {
    buffered += d;
  });
  const echo = async (line: string) => {
    socket.write(`${line}\n`);
    const ok = await until(() => buffered.includes(`${line}\n`) || socket.destroyed, 3_000);
    return ok && !socket.destroyed ? line : undefined;
  };
  return { socket, echo };
}

async function startIsolated(workersFlag: number): Promise<Running> {
  const dir = mkdtempSync(join(tmpdir(), "nodeplane-isolation-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, "all.yaml"), manifests(await echoBackend(), await httpBackend("web")));
  return start(dir, workersFlag);
}

async function problems(admin: string): Promise<Problem[]> {
  return ((await (await fetch(`http://${admin}/api/problems`)).json()) as { problems: Problem[] }).problems;
}

async function ingressPids(admin: string): Promise<number[]> {
  return (await workers(admin, "ingress")).map((w) => w.pid!);
}

/** Every ingress worker is a new process, running, with the current snapshot. */
async function ingressBack(admin: string, old: readonly number[]): Promise<boolean> {
  const ws = await workers(admin, "ingress");
  return ws.every((w) => w.state === "running" && w.generation > 0 && w.pid !== undefined && !old.includes(w.pid));
}

/** The other planes still serve: the established connection echoes, a new one connects, DNS answers. */
async function expectOthersServe(np: Running, echo: (line: string) => Promise<string | undefined>, round: string) {
  expect(await echo(`still-${round}`)).toBe(`still-${round}`);
  expect(await tcpRead(ECHO_IP, 7000, `new-${round}\n`)).toBe(`new-${round}\n`);
  expect(await dig(np.dns, NAME)).toBe(ECHO_IP);
}

describe("the ingress runs apart from the service proxy and DNS (--ingress-isolation process)", () => {
  it.each([1, 2])(
    "--workers %i: killing the ingress workers keeps ClusterIP connections and DNS, and the ingress comes back",
    async (n) => {
      const np = await startIsolated(n);
      const ws = await workers(np.admin);
      expect(ws.filter((w) => w.group === "ingress")).toHaveLength(n);
      expect(ws.filter((w) => w.planes.includes("ingress")).every((w) => w.planes.length === 1)).toBe(true);
      const { echo } = await openEcho();
      expect(await echo("before")).toBe("before");
      expect(await dig(np.dns, NAME)).toBe(ECHO_IP);
      expect(await httpGet(np.http, "/", "web.example")).toBe("web\n");

      const victims = await ingressPids(np.admin);
      for (const pid of victims) process.kill(pid, "SIGKILL");
      await until(() => victims.every((pid) => !alive(pid)), 5_000);
      await expectOthersServe(np, echo, "after-kill");
      // the crash is a problem while it restarts, and for a while after
      const names = (await workers(np.admin, "ingress")).map((w) => w.name);
      const reported = async () =>
        (await problems(np.admin)).filter((p) => p.kind === "Worker" && p.message.includes("signal SIGKILL"));
      expect(await until(async () => (await reported()).length === n)).toBe(true);
      expect((await reported()).map((p) => p.name)).toEqual(names);
      expect(await until(() => ingressBack(np.admin, victims))).toBe(true);
      expect(await httpGet(np.http, "/", "web.example")).toBe("web\n");
      expect((await workers(np.admin, "ingress")).every((w) => w.restarts === 1)).toBe(true);
      const metrics = await (await fetch(`http://${np.admin}/metrics`)).text();
      expect(metrics).toContain(`nodeplane_worker_restarts_total{group="ingress"} ${n}`);
      // the processes that serve ClusterIPs and DNS were never touched
      const others = ws.filter((w) => w.group !== "ingress").map((w) => w.pid);
      expect((await workers(np.admin)).filter((w) => w.group !== "ingress").map((w) => w.pid)).toEqual(others);
      await expectOthersServe(np, echo, "after-restart");
    },
    60_000,
  );

  it("a crash loop backs off and shows in /api/problems, /readyz and /api/workers; the other planes never stop", async () => {
    const np = await startIsolated(1);
    const { echo } = await openEcho();
    expect(await echo("before")).toBe("before");
    // 4 kills in a row, each as soon as the worker is back: backoff 100, 200, 400, then 800 ms
    let pids = await ingressPids(np.admin);
    for (let round = 1; round <= 4; round++) {
      process.kill(pids[0]!, "SIGKILL");
      if (round < 4) {
        expect(await until(() => ingressBack(np.admin, pids))).toBe(true);
        pids = await ingressPids(np.admin);
      }
    }
    // while it waits its 800 ms: not ready, and /readyz says which worker and why
    let readyz = "";
    expect(
      await until(async () => {
        const res = await fetch(`http://${np.admin}/readyz`);
        readyz = await res.text();
        return res.status === 503 && readyz.includes("Worker ingress-0");
      }, 5_000),
    ).toBe(true);
    expect(readyz).toMatch(/signal SIGKILL.*4 times in a row/);
    const [ingress] = await workers(np.admin, "ingress");
    expect(ingress!.lastExit).toMatchObject({ cause: "signal SIGKILL", inARow: 4 });
    expect(ingress!.restarts).toBe(3);
    await expectOthersServe(np, echo, "looping");
    // back after the backoff; the problem stays until it has run stably
    expect(await until(() => ingressBack(np.admin, pids))).toBe(true);
    expect((await fetch(`http://${np.admin}/readyz`)).status).toBe(200);
    expect(await problems(np.admin)).toContainEqual(
      expect.objectContaining({ kind: "Worker", name: "ingress-0", message: expect.stringContaining("4 restarts") }),
    );
    expect(await httpGet(np.http, "/", "web.example")).toBe("web\n");
  }, 60_000);

  it("a request that crashed the ingress (32 header fields, case A) cannot take ClusterIP or DNS with it", async () => {
    const np = await startIsolated(1);
    const { echo } = await openEcho();
    expect(await echo("before")).toBe("before");
    const [host, port] = np.http.split(":");
    const fields = Array.from({ length: 31 }, (_, i) => `X-${i}: v\r\n`).join("");
    // Whatever the ingress does with it (crash before the fix of the front end, an answer after), the
    // ClusterIP connection and DNS keep serving, and the ingress serves again.
    for (let i = 0; i < 3; i++) {
      await tcpRead(host!, Number(port), `GET /c HTTP/1.1\r\nHost: nothing.invalid\r\n${fields}\r\n`);
      await expectOthersServe(np, echo, `input-a-${i}`);
      expect(await until(async () => (await httpGet(np.http, "/", "web.example")) === "web\n")).toBe(true);
    }
  }, 60_000);
});
