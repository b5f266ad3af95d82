import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import type { Service } from "../../src/model/k8s.ts";
import type { Problem } from "../../src/model/problems.ts";
import { controlPathFlags } from "../support/flags.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

const GOOD = (ports: number[]) => `apiVersion: v1
kind: Service
metadata: {name: good}
spec:
  ports:
${ports.map((p) => `    - {name: p${p}, port: ${p}}`).join("\n")}
`;
const BROKEN = `apiVersion: v1
kind: Service
metadata: {name: broken}
spec:
  ports: [{port: 99999}]
`;

interface Running {
  child: ChildProcess;
  admin: string;
  exited: Promise<number | null>;
}

/** Starts `nodeplane --manifests DIR` on an admin port the OS picks; the ready log line tells which. */
async function start(dir: string): Promise<Running> {
  const child = spawn(
    process.execPath,
    ["bin/nodeplane.js", "--manifests", dir, ...controlPathFlags("127.99.0.0/16")],
    { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
  );
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  let out = "";
  const admin = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ready line: ${out}`)), 20_000);
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /"admin":"(127\.0\.0\.1:\d+)".*"msg":"nodeplane ready"/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once("exit", () => reject(new Error(`exited: ${out}`)));
  });
  return { child, admin, exited };
}

function getServices(admin: string): Promise<Service[]> {
  return new Promise((resolve, reject) =>
    execFile(
      process.execPath,
      ["bin/nodeplane.js", "get", "services", "-o", "json", "--admin-address", admin],
      { cwd: ROOT },
      (err, out) => (err ? reject(err) : resolve((JSON.parse(out) as { items: Service[] }).items)),
    ),
  );
}

describe("nodeplane --manifests with the admin API (docs/manifests.md, docs/admin-cli.md)", () => {
  const running: Running[] = [];
  let dir: string | undefined;
  afterEach(() => {
    for (const r of running.splice(0)) if (r.child.exitCode === null) r.child.kill("SIGKILL");
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it("stays up with a broken document, reports it, allocates a stable clusterIP and shows edits", async () => {
    dir = mkdtempSync(join(tmpdir(), "nodeplane-admin-"));
    writeFileSync(join(dir, "good.yaml"), GOOD([80]));
    writeFileSync(join(dir, "broken.yaml"), BROKEN);

    const first = await start(dir);
    running.push(first);
    expect((await fetch(`http://${first.admin}/readyz`)).status).toBe(200);
    const [good] = await getServices(first.admin);
    expect(good?.metadata?.name).toBe("good");
    expect(good?.spec?.clusterIP).toMatch(/^127\.99\.\d+\.\d+$/);
    const problems = (await (await fetch(`http://${first.admin}/api/problems`)).json()) as { problems: Problem[] };
    expect(problems.problems.some((p) => p.origin?.includes("broken.yaml") && p.name === "broken")).toBe(true);

    // an edit shows up (bounded poll; the manifests source debounces re-reads)
    writeFileSync(join(dir, "good.yaml"), GOOD([80, 81]));
    let ports: number[] = [];
    for (let i = 0; i < 40 && ports.length < 2; i++) {
      await new Promise((r) => setTimeout(r, 50));
      ports = ((await getServices(first.admin))[0]?.spec?.ports ?? []).map((p) => p.port);
    }
    expect(ports).toEqual([80, 81]);

    first.child.kill("SIGTERM");
    expect(await first.exited).toBe(0);

    const second = await start(dir);
    running.push(second);
    expect((await getServices(second.admin))[0]?.spec?.clusterIP).toBe(good?.spec?.clusterIP);
    second.child.kill("SIGTERM");
    expect(await second.exited).toBe(0);
  });
});
