/** `nodeplane convert` as a process: a folder read recursively, stdin, flags, exit codes. */
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

function convert(args: string[], stdin?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      ["bin/nodeplane.js", "convert", ...args],
      { cwd: ROOT, timeout: 20_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
    child.stdin?.end(stdin ?? "");
  });
}

const INGRESS = (name: string, host: string) => `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: ${name}
spec:
  rules:
    - host: ${host}
      http:
        paths:
          - { path: /, pathType: Prefix, backend: { service: { name: web, port: { number: 80 } } } }
`;

describe("nodeplane convert (process)", () => {
  const dir = mkdtempSync(join(tmpdir(), "np-convert-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("reads a folder recursively, multi-document files included, and reports a broken document on stderr", async () => {
    mkdirSync(join(dir, "in", "nested"), { recursive: true });
    writeFileSync(join(dir, "in", "a.yaml"), `${INGRESS("a", "a.example.com")}---\n${INGRESS("b", "b.example.com")}`);
    writeFileSync(join(dir, "in", "nested", "c.yml"), INGRESS("c", "c.example.com"));
    writeFileSync(join(dir, "in", "nested", "broken.yaml"), "kind: [unclosed\n");
    const r = await convert([join(dir, "in"), "--http-port=8081", "--gateway-name", "lab"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^# nodeplane convert: 3 Ingresses/);
    expect(r.stdout.match(/^kind: HTTPRoute$/gm)).toHaveLength(3);
    expect(r.stdout).toContain("  name: lab\n");
    expect(r.stdout).toContain("      port: 8081\n");
    expect(r.stderr).toMatch(/skipped: .*broken\.yaml/);
  });

  it("reads stdin with - (and without an argument)", async () => {
    for (const args of [["-"], []]) {
      const r = await convert(args, INGRESS("s", "s.example.com"));
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("  name: s\n");
    }
  });

  it("exit 2 on bad usage, 1 when the input cannot be read; --help names every flag", async () => {
    expect((await convert(["--http-port", "http"])).code).toBe(2);
    expect((await convert(["--nope"])).stderr).toContain("unknown flag --nope");
    expect((await convert(["a", "b"])).code).toBe(2);
    const missing = await convert([join(dir, "does-not-exist")]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("cannot read");
    const help = await convert(["--help"]);
    for (const flag of ["--gateway-name", "--gateway-namespace", "--gateway-class", "--http-port", "--https-port"])
      expect(help.stdout).toContain(flag);
  });
});
