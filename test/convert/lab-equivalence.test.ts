/**
 * The migration's acceptance test (issue 13): convert the lab's Ingresses with `nodeplane convert`, serve the
 * result, and get the same answers as the Ingresses give, request by request.
 *
 * Two runs of `nodeplane demo` (its echo servers play the pods), one after the other on the same pod addresses:
 *   A: the lab's Services, Secret, IngressClass and Ingresses, the ingress on 127.0.0.1:PORT_A (HTTPS PORT_A+1);
 *   B: the same Services and Secret, and `nodeplane convert` of the lab (--http-port PORT_B, --https-port PORT_B+2),
 *      no Ingress, so only the Gateway's listeners on 127.0.0.1 (--gateway-address) route.
 * For each request: the same status, and for answers from a pod the same pod, request line (what the backend
 * got: method and path after any rewrite), Host (without the port, which differs) and body size; over HTTPS also
 * the certificate's subject. Error answers
 * (404) are nodeplane's own pages, whose text differs between the two planes: their status is compared.
 * The lab's pod addresses are moved to 127.244.21x.x so this file can run beside demo-lab.test.ts.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const LAB = join(ROOT, "examples/lab");
const PORT_A = 21000 + Math.floor(Math.random() * 4000);
const PORT_B = PORT_A + 4000;

/** The requests compared: the lab's curl lines and their neighbours (prefix edges, other hosts, no host). */
const REQUESTS: { host?: string; path: string; method?: string; body?: string; tls?: true }[] = [
  { host: "foo.bar.com", path: "/foo" },
  { host: "foo.bar.com", path: "/foo/" },
  { host: "foo.bar.com", path: "/foo/bar?x=1" },
  { host: "foo.bar.com", path: "/foobar" },
  { host: "foo.bar.com", path: "/bar" },
  { host: "foo.bar.com", path: "/bar/baz" },
  { host: "foo.bar.com", path: "/" },
  { host: "foo.bar.com", path: "/other" },
  { host: "FOO.BAR.COM", path: "/foo" },
  { host: "foo.bar.com:1234", path: "/bar" },
  { host: "other.example.com", path: "/foo" },
  { path: "/" },
  { path: "/foo" },
  { path: "/anything/else" },
  { host: "foo.bar.com", path: "/foo", method: "POST", body: "hello" },
  { host: "foo.bar.com", path: "/bar", method: "HEAD" },
  // HTTPS: the lab's test-ingress names testsecret for every host (no tls.hosts), so no redirect either
  { host: "foo.bar.com", path: "/bar", tls: true },
  { host: "foo.bar.com", path: "/other", tls: true },
  { host: "localhost", path: "/", tls: true },
];

function labFile(name: string): string {
  return readFileSync(join(LAB, name), "utf8").replace(
    /127\.244\.(\d+)\.(\d+)/g,
    (_m, a: string, b: string) => `127.244.${210 + (Number(a) % 40)}.${b}`,
  );
}

interface Answer {
  status: number;
  /** HTTPS: the certificate's subject */
  subject?: string;
  pod?: string;
  request?: string;
  host?: string;
  bodyBytes?: string;
}

/** `ports.http` or, for TLS rows, `ports.https`; HTTPS with SNI = the Host (curl --resolve), -k (self-signed lab Secret). */
function curl(ports: { http: number; https: number }, r: (typeof REQUESTS)[number]): Promise<Answer> {
  const args = ["-sS", "--max-time", "5", "-o", "-", "-w", "\n%{http_code}", "-X", r.method ?? "GET"];
  if (r.method === "HEAD") args.splice(args.indexOf("-X"), 2, "-I");
  if (r.body) args.push("--data-binary", r.body);
  if (r.tls) {
    args.push(
      "-k",
      "-v",
      "--resolve",
      `${r.host}:${ports.https}:127.0.0.1`,
      `https://${r.host}:${ports.https}${r.path}`,
    );
  } else {
    if (r.host) args.push("-H", `Host: ${r.host}`);
    args.push(`http://127.0.0.1:${ports.http}${r.path}`);
  }
  return new Promise((resolve) =>
    execFile("curl", args, (_err, stdout, stderr) => {
      const cut = stdout.lastIndexOf("\n");
      const status = Number(stdout.slice(cut + 1));
      const body = stdout.slice(0, cut);
      const answer: Answer = { status };
      if (r.tls) answer.subject = /subject: (.*)$/m.exec(stderr)?.[1];
      const pod = /^nodeplane-echo: pod (\S+)/m.exec(body);
      if (pod) {
        answer.pod = pod[1];
        answer.request = /^([A-Z]+ \S+) HTTP\//m.exec(body)?.[1];
        answer.host = /^host: (.*)$/m.exec(body)?.[1]?.replace(/:\d+$/, "");
        answer.bodyBytes = /^body: (\d+) bytes$/m.exec(body)?.[1];
      }
      if (r.method === "HEAD") answer.pod = /^server: nodeplane-echo/im.test(body) ? "(HEAD from a pod)" : undefined;
      resolve(answer);
    }),
  );
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

async function eventually(check: () => Promise<boolean> | boolean, tries = 300): Promise<boolean> {
  for (let i = 0; i < tries; i++) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

/** Runs the demo on `dir`, sends every request once the port answers, stops it, returns the answers. */
async function serve(
  dir: string,
  ports: { http: number; https: number },
  flags: string[],
): Promise<{ answers: Answer[]; log: string }> {
  const child: ChildProcess = spawn(
    process.execPath,
    [
      "bin/nodeplane.js",
      "demo",
      "--manifests",
      dir,
      "--admin-address=127.0.0.1:0",
      "--dns-address=",
      "--service-cidr=127.93.0.0/16",
      "--vip-interface=none",
      "--log-format=json",
      ...flags,
    ],
    { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
  );
  let log = "";
  child.stdout!.on("data", (d: Buffer) => {
    log += d.toString();
  });
  child.stderr!.on("data", (d: Buffer) => {
    log += d.toString();
  });
  const exited = new Promise((resolve) => child.once("exit", resolve));
  try {
    const up = await eventually(
      async () => /Try:/.test(log) && (await listening(ports.http)) && listening(ports.https),
    );
    if (!up) return { answers: [], log };
    // the echo pods start with the first snapshot; give them the same moment in both runs
    await eventually(async () => (await curl(ports, REQUESTS[0]!)).pod !== undefined, 100);
    const answers: Answer[] = [];
    for (const r of REQUESTS) answers.push(await curl(ports, r));
    return { answers, log };
  } finally {
    child.kill("SIGINT");
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    if (child.exitCode === null) child.kill("SIGKILL");
  }
}

describe("nodeplane convert examples/lab, served: the same answers as the lab's Ingresses", () => {
  const dir = mkdtempSync(join(tmpdir(), "np-lab-equivalence-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("request by request", { timeout: 120_000 }, async () => {
    const common = ["10-ingress-backends.yaml", "11-testsecret.yaml"];
    const a = join(dir, "ingress");
    const b = join(dir, "gateway");
    mkdirSync(a);
    mkdirSync(b);
    for (const f of [...common, "08-ingress-test-ingress.yaml", "09-ingress-test.yaml", "12-ingressclass.yaml"])
      writeFileSync(join(a, f), labFile(f));
    for (const f of common) writeFileSync(join(b, f), labFile(f));

    const converted = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile(
        process.execPath,
        [
          "bin/nodeplane.js",
          "convert",
          "examples/lab",
          "--http-port",
          String(PORT_B),
          "--https-port",
          String(PORT_B + 2),
        ],
        { cwd: ROOT, timeout: 20_000 },
        (err, stdout, stderr) =>
          resolve({ code: err ? (typeof err.code === "number" ? err.code : -1) : 0, stdout, stderr }),
      ),
    );
    expect(converted.stderr).toBe("");
    expect(converted.code).toBe(0);
    writeFileSync(join(b, "converted.yaml"), converted.stdout);

    const ingress = await serve(a, { http: PORT_A, https: PORT_A + 1 }, [
      `--http-address=127.0.0.1:${PORT_A}`,
      `--https-address=127.0.0.1:${PORT_A + 1}`,
    ]);
    expect(ingress.answers.length, ingress.log).toBe(REQUESTS.length);
    // the lab's answers, as the README says: /foo → s1, /bar → s2, anything else → testsvc
    expect(ingress.answers[0]).toMatchObject({ status: 200, request: "GET /foo", host: "foo.bar.com" });
    expect(ingress.answers[4]?.pod).not.toBe(ingress.answers[0]?.pod);
    expect(ingress.answers.at(-3)).toMatchObject({
      status: 200,
      request: "GET /bar",
      subject: expect.stringContaining("foo.bar.com"),
    });

    // B has no Ingress: its ingress listener (another port) serves nothing; the Gateway's is PORT_B
    const gateway = await serve(b, { http: PORT_B, https: PORT_B + 2 }, [
      `--http-address=127.0.0.1:${PORT_B + 1}`,
      "--https-address=",
    ]);
    expect(gateway.answers.length, `the Gateway listener never answered on ${PORT_B}\n${gateway.log}`).toBe(
      REQUESTS.length,
    );
    const rows = REQUESTS.map((r, i) => ({
      request: `${r.method ?? "GET"} ${r.host ?? "(no host)"} ${r.path}`,
      ingress: ingress.answers[i],
      gateway: gateway.answers[i],
    }));
    for (const row of rows) expect(row.gateway, row.request).toEqual(row.ingress);
  });
});
