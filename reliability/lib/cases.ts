// The hostile inputs of docs/reliability.md (A–K), each as one case: what is sent from outside, what counts as a clean
// answer, and what would mean a request's boundaries changed (the backend saw something the proxy never
// routed as a request of its own).

import { createSocket, type Socket as DgramSocket } from "node:dgram";
import { appendFileSync, writeFileSync } from "node:fs";
import { connect as http2Connect } from "node:http2";
import { connect as netConnect, type Socket } from "node:net";
import { join } from "node:path";
import type { RecordingBackend, Seen } from "./backends.ts";
import { dnsQuery, dnsQueryTcp, exchange, statuses } from "./wire.ts";

export interface CaseContext {
  http: number;
  https: number;
  dns: { host: string; port: number };
  adminUrl: string;
  web: RecordingBackend;
  other: RecordingBackend;
  /** the UDP Service's clusterIP:port */
  udp: { host: string; port: number };
  manifestsDir: string;
  /** the nodeplane process tree's open descriptors */
  descriptors(): number;
  /** the open descriptors of its fullest process */
  fullestProcessDescriptors(): number;
  /** RLIMIT_NOFILE the nodeplane under test runs with (the suite sets it low, as a tight container would) */
  descriptorLimit: number;
  /** whether the nodeplane under test knows this flag (older builds lack the new ones) */
  hasFlag(name: string): boolean;
  /** --tls-handshake-timeout given to nodeplane, ms (undefined: not supported by this build) */
  handshakeTimeoutMs: number | undefined;
  quick: boolean;
}

export interface CaseResult {
  /** what came back, in a few words (`400 close`, `REFUSED 52 B`) */
  answer: string;
  /** the answer is one docs/reliability.md accepts (the clean column) */
  clean: boolean;
  /** the backend saw a request the proxy did not route as itself (smuggled, reordered, body lost, host changed) */
  boundary: boolean;
  detail?: string;
  /** inputs actually sent, when the case decides it at run time */
  inputs?: number;
}

export interface HostileCase {
  id: string;
  /** the case's letter in docs/reliability.md */
  cls: string;
  title: string;
  /** number of hostile inputs (requests, connections, datagrams) the case sends */
  inputs: number;
  run(ctx: CaseContext): Promise<CaseResult>;
}

const CRLF = "\r\n";
const head = (lines: string[]) => `${lines.join(CRLF)}${CRLF}${CRLF}`;

/** The backend requests recorded since `mark`, on both backends. */
function after(ctx: CaseContext, mark: [number, number]): Seen[] {
  return [...ctx.web.seen.slice(mark[0]), ...ctx.other.seen.slice(mark[1])];
}
const markOf = (ctx: CaseContext): [number, number] => [ctx.web.seen.length, ctx.other.seen.length];
const settle = (ms = 200) => new Promise((r) => setTimeout(r, ms));

/** A compact description of an HTTP exchange: the statuses, and `close` when the server closed. */
function describe(data: string, closed: boolean): string {
  const codes = statuses(data);
  return `${codes.length ? codes.join(",") : "no answer"}${closed ? " close" : ""}`;
}

/** A hostile HTTP/1 request (plain or TLS): clean when answered with a status from `ok` (or closed with none). */
function httpCase(
  id: string,
  cls: string,
  title: string,
  bytes: string,
  options: {
    tls?: boolean;
    ok: (codes: number[], closed: boolean) => boolean;
    forbidden: (seen: Seen) => boolean;
  },
): HostileCase {
  return {
    id,
    cls,
    title,
    inputs: 1,
    async run(ctx) {
      const mark = markOf(ctx);
      const r = await exchange(
        "127.0.0.1",
        options.tls ? ctx.https : ctx.http,
        [bytes],
        options.tls ? { tls: { servername: "foo.test" }, ms: 2_000 } : { ms: 2_000 },
      );
      await settle();
      const bad = after(ctx, mark).filter(options.forbidden);
      return {
        answer: describe(r.data, r.closed),
        clean: options.ok(statuses(r.data), r.closed),
        boundary: bad.length > 0,
        ...(bad.length ? { detail: bad.map((s) => `${s.method} ${s.url} hosts=${s.hosts.join("|")}`).join("; ") } : {}),
      };
    },
  };
}

const answered = (codes: number[]) => codes.length > 0 && codes.every((c) => c >= 200 && c < 600);
const refused = (codes: number[], closed: boolean) => (codes.length === 0 ? closed : codes.every((c) => c >= 400));
const never = () => false;

function manyHeaders(n: number): string {
  const lines = ["GET /c HTTP/1.1", "Host: nothing.invalid"];
  for (let i = 0; i < n - 1; i++) lines.push(`X-${i}: v`);
  return head(lines);
}

export const CASES: readonly HostileCase[] = [
  // A: more header fields than llhttp flushes in one batch
  httpCase("A1", "A", "32 header fields, plain HTTP", manyHeaders(32), { ok: answered, forbidden: never }),
  httpCase("A2", "A", "300 header fields, plain HTTP", manyHeaders(300), { ok: answered, forbidden: never }),
  httpCase(
    "A3",
    "A",
    "32 header fields to a routed host, TLS",
    head(["GET /a3 HTTP/1.1", "Host: foo.test", ...Array.from({ length: 31 }, (_, i) => `X-${i}: v`)]),
    {
      tls: true,
      ok: answered,
      forbidden: never,
    },
  ),
  // B: an HTTP/2 version string on an HTTP/1 connection
  httpCase(
    "B1",
    "B",
    "POST … HTTP/2.0 with a body, plain",
    `${head(["POST /v20 HTTP/2.0", "Host: foo.test", "Content-Length: 5"])}hello`,
    {
      ok: refused,
      forbidden: (s) => s.url === "/v20",
    },
  ),
  httpCase(
    "B2",
    "B",
    "GET … HTTP/2.0 with Connection: x-foo, plain",
    head(["GET /v20 HTTP/2.0", "Host: foo.test", "Connection: x-foo"]),
    {
      ok: refused,
      forbidden: (s) => s.url === "/v20",
    },
  ),
  httpCase(
    "B3",
    "B",
    "POST … HTTP/2.0 with a body, TLS (ALPN http/1.1)",
    `${head(["POST /v20 HTTP/2.0", "Host: foo.test", "Content-Length: 5"])}hello`,
    {
      tls: true,
      ok: refused,
      forbidden: (s) => s.url === "/v20",
    },
  ),
  // C: a tunnel without a 101: what follows must be routed (and access-checked) as a request of its own
  httpCase(
    "C1",
    "C",
    "Upgrade answered 200, then GET /admin/secret with spoofed X-Forwarded-For",
    head(["GET /up200 HTTP/1.1", "Host: foo.test", "Connection: Upgrade", "Upgrade: x"]) +
      head(["GET /admin/secret HTTP/1.1", "Host: foo.test", "X-Real-IP: 10.0.0.1", "X-Forwarded-For: 10.0.0.1"]),
    {
      ok: (codes, closed) => codes[0] === 200 && (codes[1] === 403 || (codes.length === 1 && closed)),
      forbidden: (s) => s.url.includes("admin") || s.tunnel.includes("admin"),
    },
  ),
  httpCase(
    "C2",
    "C",
    "Upgrade answered 200, then a request for another Host",
    head(["GET /up200 HTTP/1.1", "Host: foo.test", "Connection: Upgrade", "Upgrade: x"]) +
      head(["GET /c2-other HTTP/1.1", "Host: other.test"]),
    {
      ok: (codes) => codes[0] === 200,
      forbidden: (s) => s.tunnel.includes("c2-other") || (s.url === "/c2-other" && s.hosts[0] !== "other.test"),
    },
  ),
  // D: an Upgrade request's body must reach the backend (or be refused), never become the next request
  {
    id: "D1",
    cls: "D",
    title: "Upgrade with Content-Length: 5 and a body, then a pipelined request",
    inputs: 1,
    async run(ctx) {
      const mark = markOf(ctx);
      const r = await exchange(
        "127.0.0.1",
        ctx.http,
        [
          `${head(["GET /ws-d1 HTTP/1.1", "Host: foo.test", "Connection: Upgrade", "Upgrade: websocket", "Content-Length: 5"])}hello`,
        ],
        { ms: 1_500 },
      );
      await settle();
      const seen = after(ctx, mark);
      const upgrade = seen.find((s) => s.url === "/ws-d1");
      // clean: refused (4xx), or tunnelled with the body as the tunnel's first bytes
      const codes = statuses(r.data);
      const refusedIt = codes.length > 0 && codes[0] !== undefined && codes[0] >= 400 && !upgrade;
      const bodyFirst = upgrade?.tunnel.startsWith("hello") === true;
      return {
        answer: describe(r.data, r.closed),
        clean: refusedIt || bodyFirst,
        boundary: upgrade !== undefined && !bodyFirst,
        ...(upgrade && !bodyFirst ? { detail: `tunnel began ${JSON.stringify(upgrade.tunnel.slice(0, 20))}` } : {}),
      };
    },
  },
  // E: one Host, and Connection cannot remove it
  httpCase("E1", "E", "two Host headers, plain", head(["GET /e1 HTTP/1.1", "Host: foo.test", "Host: other.test"]), {
    ok: (codes, closed) => codes[0] === 400 || (codes.length === 0 && closed),
    forbidden: (s) => s.url === "/e1",
  }),
  httpCase("E2", "E", "two Host headers, TLS", head(["GET /e2 HTTP/1.1", "Host: foo.test", "Host: other.test"]), {
    tls: true,
    ok: (codes, closed) => codes[0] === 400 || (codes.length === 0 && closed),
    forbidden: (s) => s.url === "/e2",
  }),
  httpCase(
    "E3",
    "E",
    "Connection: keep-alive, Host",
    head(["GET /e3 HTTP/1.1", "Host: foo.test", "Connection: keep-alive, Host"]),
    {
      ok: answered,
      forbidden: (s) => s.url === "/e3" && s.hosts[0] !== "foo.test",
    },
  ),
  {
    id: "E4",
    cls: "E",
    title: "HTTP/2 :authority foo.test with host: other.test",
    inputs: 1,
    async run(ctx) {
      const mark = markOf(ctx);
      const status = await new Promise<string>((resolve) => {
        const session = http2Connect(`https://127.0.0.1:${ctx.https}`, {
          rejectUnauthorized: false,
          servername: "foo.test",
        });
        const timer = setTimeout(() => {
          session.destroy();
          resolve("no answer");
        }, 2_000);
        session.on("error", () => undefined);
        const req = session.request({ ":path": "/e4", ":authority": "foo.test", host: "other.test" });
        req.on("response", (h) => {
          clearTimeout(timer);
          resolve(String(h[":status"]));
          session.close();
        });
        req.on("error", () => {
          clearTimeout(timer);
          resolve("stream reset");
          session.destroy();
        });
        req.end();
      });
      await settle();
      const bad = after(ctx, mark).filter((s) => s.url === "/e4" && s.hosts[0] !== "foo.test");
      return {
        answer: status,
        clean: status !== "no answer",
        boundary: bad.length > 0,
        ...(bad.length ? { detail: bad.map((s) => `hosts=${s.hosts.join("|")}`).join("; ") } : {}),
      };
    },
  },
  // F: pipelined requests go upstream one at a time, in order
  {
    id: "F1",
    cls: "F",
    title: "pipelined POST (slow backend) then GET on one write",
    inputs: 2,
    async run(ctx) {
      const mark = markOf(ctx);
      const r = await exchange(
        "127.0.0.1",
        ctx.http,
        [
          `${head(["POST /slow-f1 HTTP/1.1", "Host: foo.test", "Content-Length: 5"])}hello${head(["GET /f1-after HTTP/1.1", "Host: foo.test"])}`,
        ],
        { ms: 2_000 },
      );
      await settle(300);
      const seen = after(ctx, mark).filter((s) => s.url === "/slow-f1" || s.url === "/f1-after");
      const post = seen.find((s) => s.url === "/slow-f1");
      const get = seen.find((s) => s.url === "/f1-after");
      const inOrder = post !== undefined && get !== undefined && get.startedAt >= post.endedAt && seen[0] === post;
      const codes = statuses(r.data);
      return {
        answer: describe(r.data, r.closed),
        clean: codes.length === 2 && codes.every((c) => c === 200),
        boundary: !inOrder || post?.body !== "hello",
        ...(!inOrder
          ? {
              detail: `backend order: ${seen.map((s) => s.url).join(", ")}${post && get && get.startedAt < post.endedAt ? " (overlapping)" : ""}`,
            }
          : {}),
      };
    },
  },
  // G: faulty framing, TRACE, paths that route elsewhere than the backend resolves them
  httpCase(
    "G1",
    "G",
    "HTTP/1.0 with Transfer-Encoding: chunked",
    `${head(["POST /g1 HTTP/1.0", "Host: foo.test", "Transfer-Encoding: chunked"])}5\r\nhello\r\n0\r\n\r\n`,
    {
      ok: (codes, closed) => (codes[0] === 400 && closed) || (codes.length === 0 && closed),
      forbidden: (s) => s.url === "/g1",
    },
  ),
  httpCase("G2", "G", "TRACE", head(["TRACE /g2 HTTP/1.1", "Host: foo.test"]), {
    ok: (codes) => codes[0] === 405,
    forbidden: (s) => s.method === "TRACE",
  }),
  httpCase(
    "G3",
    "G",
    "/public/..%2fadmin/x (escaped slash past the /admin rule)",
    head(["GET /public/..%2fadmin/x HTTP/1.1", "Host: foo.test"]),
    {
      ok: (codes) => codes[0] === 400 || codes[0] === 403 || codes[0] === 404,
      forbidden: (s) => /admin/i.test(decodeURIComponent(s.url)),
    },
  ),
  httpCase(
    "G4",
    "G",
    "/admin;x/y (matrix parameter past the /admin rule)",
    head(["GET /admin;x/y HTTP/1.1", "Host: foo.test"]),
    {
      ok: (codes) => codes[0] === 403 || codes[0] === 400,
      forbidden: (s) => s.url.startsWith("/admin"),
    },
  ),
  // H: TLS handshakes never finished
  {
    id: "H1",
    cls: "H",
    title: "50 TLS connections that never send a ClientHello, then closed by the client",
    inputs: 50,
    async run(ctx) {
      const before = ctx.descriptors();
      const sockets: Socket[] = [];
      let closedByServer = 0;
      for (let i = 0; i < 50; i++) {
        const s = netConnect({ host: "127.0.0.1", port: ctx.https });
        s.on("error", () => undefined);
        s.on("close", () => closedByServer++);
        sockets.push(s);
      }
      await settle(300);
      const held = ctx.descriptors();
      const wait = ctx.handshakeTimeoutMs !== undefined ? ctx.handshakeTimeoutMs + 1_000 : ctx.quick ? 3_000 : 12_000;
      await settle(wait);
      const serverClosed = closedByServer;
      for (const s of sockets) s.destroy();
      await settle(500);
      const afterClose = ctx.descriptors();
      const leaked = afterClose - before;
      return {
        answer: `${serverClosed}/50 reaped in ${wait} ms; fds ${before}→${held}→${afterClose}`,
        clean: serverClosed === 50 && leaked <= 5,
        boundary: false,
        ...(leaked > 5 ? { detail: `${leaked} descriptors not given back` } : {}),
      };
    },
  },
  // I: one plane's flood must not take descriptors from the others
  {
    id: "I1",
    cls: "I",
    title: "UDP datagrams from 16 client IPs and more source ports than the process has descriptors, to a UDP Service",
    inputs: 0,
    async run(ctx) {
      const count = ctx.quick ? 8_000 : 12_000;
      const before = ctx.fullestProcessDescriptors();
      let peak = before;
      for (let sent = 0; sent < count; ) {
        const batch = Math.min(500, count - sent);
        const sockets = await Promise.all(
          Array.from(
            { length: batch },
            (_, i) =>
              new Promise<DgramSocket>((resolve) => {
                const s = createSocket("udp4");
                s.on("error", () => undefined);
                // 16 client addresses, so the total cap is reached, not only one client's share
                s.bind(0, `127.0.1.${((sent + i) % 16) + 1}`, () => resolve(s));
              }),
          ),
        );
        await Promise.all(
          sockets.map(
            (s) => new Promise<void>((resolve) => s.send("flood", ctx.udp.port, ctx.udp.host, () => resolve())),
          ),
        );
        for (const s of sockets) s.close();
        sent += batch;
        peak = Math.max(peak, ctx.fullestProcessDescriptors());
      }
      await settle(300);
      peak = Math.max(peak, ctx.fullestProcessDescriptors());
      // the other planes are checked after every case; here: the flood stayed inside its share
      const headroom = ctx.descriptorLimit - peak;
      return {
        answer: `fds ${before}→peak ${peak} of ${ctx.descriptorLimit} (fullest process)`,
        clean: headroom >= ctx.descriptorLimit / 20,
        boundary: false,
        inputs: count,
      };
    },
  },
  {
    id: "I2",
    cls: "I",
    title: "1,100 idle DNS-over-TCP connections, then dig +tcp",
    inputs: 1_100,
    async run(ctx) {
      const sockets: Socket[] = [];
      for (let i = 0; i < 1_100; i++) {
        const s = netConnect({ host: ctx.dns.host, port: ctx.dns.port });
        s.on("error", () => undefined);
        sockets.push(s);
        if (i % 200 === 199) await settle(20);
      }
      await settle(300);
      const answer = await dnsQueryTcp(ctx.dns, "web.rel.svc.cluster.local", 4_000);
      for (const s of sockets) s.destroy();
      return {
        answer: answer ? `${answer.rcode} over TCP` : "no TCP answer",
        clean: answer?.rcode === "NOERROR" && answer.answers > 0,
        boundary: false,
      };
    },
  },
  // J: no open resolver, no amplification
  {
    id: "J1",
    cls: "J",
    title: "outside name, EDNS 4096, from a source not allowed to recurse (127.0.0.2)",
    inputs: 1,
    async run(ctx) {
      const r = await dnsQuery(ctx.dns, "big.example.org", "TXT", { localAddress: "127.0.0.2", ednsSize: 4096 });
      if (!r) return { answer: "no answer", clean: true, boundary: false };
      const factor = r.answer.bytes / r.queryBytes;
      return {
        answer: `${r.answer.rcode} ${r.answer.bytes} B (${factor.toFixed(1)}×)`,
        clean: r.answer.rcode === "REFUSED" && r.answer.bytes <= 1232,
        boundary: false,
      };
    },
  },
  {
    id: "J2",
    cls: "J",
    title: "outside name, EDNS 4096, from an allowed source: UDP answer capped at 1232 B",
    inputs: 1,
    async run(ctx) {
      const r = await dnsQuery(ctx.dns, "big2.example.org", "TXT", { ednsSize: 4096 });
      if (!r) return { answer: "no answer", clean: false, boundary: false };
      return {
        answer: `${r.answer.rcode} ${r.answer.bytes} B${r.answer.truncated ? " TC" : ""}`,
        clean: r.answer.bytes <= 1232,
        boundary: false,
      };
    },
  },
  // K: manifests an attacker (or an accident) puts in the folder
  {
    id: "K1",
    cls: "K",
    title: "deeply nested JSON manifest, then a new Service in another file",
    inputs: 1,
    async run(ctx) {
      const depth = 100_000;
      const deep = `${'{"x":'.repeat(depth)}1${"}".repeat(depth)}`;
      writeFileSync(
        join(ctx.manifestsDir, "zz-deep.json"),
        `{"apiVersion":"v1","kind":"Service","metadata":{"name":"deep","namespace":"rel","labels":{}},"spec":{"ports":[{"port":81}],"x":${deep}}}`,
      );
      await settle(1_500);
      writeFileSync(join(ctx.manifestsDir, "zz-late.json"), JSON.stringify(lateService()));
      let applied = false;
      let named = false;
      for (let i = 0; i < 30 && !(applied && named); i++) {
        await settle(200);
        applied = await hasService(ctx.adminUrl, "late");
        named = (await problemsText(ctx.adminUrl)).includes("zz-deep.json");
      }
      return {
        answer: `${applied ? "new Service applied" : "new Service NOT applied"}, ${named ? "file named in /api/problems" : "no problem shown"}`,
        clean: applied && named,
        boundary: false,
      };
    },
  },
  {
    id: "K2",
    cls: "K",
    title: "Ingress with nginx.ingress.kubernetes.io/configuration-snippet",
    inputs: 1,
    async run(ctx) {
      appendFileSync(join(ctx.manifestsDir, "zz-snippet.json"), JSON.stringify(snippetIngress()));
      let shown = false;
      for (let i = 0; i < 20 && !shown; i++) {
        await settle(200);
        shown = /snippet/i.test(await problemsText(ctx.adminUrl));
      }
      return { answer: shown ? "problem shown" : "ignored silently", clean: shown, boundary: false };
    },
  },
];

function lateService() {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: "late", namespace: "rel" },
    spec: { clusterIP: "127.96.210.40", ports: [{ name: "http", port: 18091, protocol: "TCP" }] },
  };
}

function snippetIngress() {
  return {
    apiVersion: "networking.k8s.io/v1",
    kind: "Ingress",
    metadata: {
      name: "snippet",
      namespace: "rel",
      annotations: { "nginx.ingress.kubernetes.io/configuration-snippet": 'more_set_headers "X-Pwned: 1";' },
    },
    spec: {
      ingressClassName: "nodeplane",
      rules: [
        {
          host: "snippet.test",
          http: {
            paths: [{ path: "/", pathType: "Prefix", backend: { service: { name: "web", port: { number: 18090 } } } }],
          },
        },
      ],
    },
  };
}

async function hasService(adminUrl: string, name: string): Promise<boolean> {
  try {
    const r = await fetch(`${adminUrl}/api/snapshot`, { signal: AbortSignal.timeout(2_000) });
    return (await r.text()).includes(`"${name}"`);
  } catch {
    return false;
  }
}

async function problemsText(adminUrl: string): Promise<string> {
  try {
    const r = await fetch(`${adminUrl}/api/problems`, { signal: AbortSignal.timeout(2_000) });
    return await r.text();
  } catch {
    return "";
  }
}
