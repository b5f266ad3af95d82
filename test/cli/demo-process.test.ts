import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { LISTENERS_OFF } from "../support/flags.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const NET = `127.244.${100 + Math.floor(Math.random() * 150)}`;
const PORT = 20000 + Math.floor(Math.random() * 20000);

function manifests(pods: string[]): string {
  return `apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: ${PORT}}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-1
  namespace: default
  labels: {kubernetes.io/service-name: web}
addressType: IPv4
ports: [{name: http, port: ${PORT}, protocol: TCP}]
endpoints:
${pods.map((ip, i) => `  - addresses: [${ip}]\n    targetRef: {kind: Pod, name: web-${i}}`).join("\n")}
`;
}

function curl(url: string): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) =>
    execFile("curl", ["-sS", "--max-time", "5", url], (err, stdout) =>
      resolve({ code: err ? (typeof err.code === "number" ? err.code : -1) : 0, stdout }),
    ),
  );
}

function listening(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

async function eventually(check: () => Promise<boolean>, tries = 150): Promise<boolean> {
  for (let i = 0; i < tries; i++) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

describe("nodeplane demo as a process", () => {
  let child: ChildProcess | undefined;
  let dir: string | undefined;
  afterEach(() => {
    if (child && child.exitCode === null) child.kill("SIGKILL");
    if (dir) rmSync(dir, { recursive: true, force: true });
    child = dir = undefined;
  });

  it("plays the pods of a manifests folder, follows edits, serves `get`, and stops on SIGINT", async () => {
    dir = mkdtempSync(join(tmpdir(), "nodeplane-demo-"));
    writeFileSync(join(dir, "web.yaml"), manifests([`${NET}.31`]));
    child = spawn(
      process.execPath,
      [
        "bin/nodeplane.js",
        "demo",
        "--manifests",
        dir,
        ...LISTENERS_OFF,
        "--service-cidr=127.98.0.0/16",
        "--log-format=json",
        "--log-level=info",
      ],
      { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
    );
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr!.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => child!.once("exit", (code) => resolve(code)));

    expect(await eventually(async () => /dashboard: http:\/\/127\.0\.0\.1:\d+\//.test(stdout), 400), stderr).toBe(true);
    const admin = /dashboard: http:\/\/(127\.0\.0\.1:\d+)\//.exec(stdout)![1]!;
    expect(stdout).toContain("1 echo backend play the pods");
    expect(stdout).toMatch(/# web: ClusterIP, one pod answers\n {2}curl 127\.98\.\d+\.\d+:80\n/);
    expect(stdout).toContain(`npx nodeplane get svc --admin-address ${admin}`);
    // JSON logs, as asked for instead of the demo's pretty default
    // pino may flush the ready line after the demo's own output
    expect(await eventually(async () => /^\{"level":30,.*"msg":"nodeplane ready"/m.test(stdout), 400), stdout).toBe(
      true,
    );

    const answer = await curl(`http://${NET}.31:${PORT}/hello`);
    expect(answer.stdout).toContain(`nodeplane-echo: pod web-0 (${NET}.31:${PORT})`);

    // a second pod appears in the manifests: its backend starts
    writeFileSync(join(dir, "web.yaml"), manifests([`${NET}.31`, `${NET}.32`]));
    expect(await eventually(() => listening(`${NET}.32`, PORT))).toBe(true);
    expect((await curl(`http://${NET}.32:${PORT}/`)).stdout).toContain("pod web-1");

    const get = await new Promise<string>((resolve, reject) =>
      execFile(
        process.execPath,
        ["bin/nodeplane.js", "get", "svc", "--admin-address", admin],
        { cwd: ROOT },
        (err, out) => (err ? reject(err) : resolve(out)),
      ),
    );
    expect(get).toMatch(/^web\s+ClusterIP\s+127\.98\.\d+\.\d+\s+<none>\s+80\/TCP\s+\d+s$/m);

    child.kill("SIGINT");
    expect(await exited).toBe(0);
    expect(await listening(`${NET}.31`, PORT)).toBe(false);
  });
});
