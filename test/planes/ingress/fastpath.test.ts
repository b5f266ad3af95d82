import { createHash, randomBytes } from "node:crypto";
import { createServer as createHttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { connect, createServer, type Server, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Harness, ingress, rawExchange, rule, service, slicesFor, startIngress } from "./harness.ts";

/**
 * The raw front end's fast path (direct.ts) must put the same bytes on the wire as the generic path, both
 * ways: the same run of requests goes through two planes, one with the fast path and one without, to a
 * scripted upstream, and the request heads the upstream saw and the responses the client saw are compared.
 */

const BIG = 40 * 1024;

/** What the scripted upstream answers, by request path; `then` runs after the bytes are written. */
const SCRIPTS: Record<string, { parts: string[]; after?: "end" | "destroy"; gapMs?: number }> = {
  "/cl": {
    parts: [
      "HTTP/1.1 200 OK\r\nServer: up\r\nDate: Mon, 01 Jan 2001 00:00:00 GMT\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nX-A: 1\r\nX-A: 2\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello",
    ],
  },
  "/chunked": {
    parts: [
      "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\nX-B: b\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nTrailer-X: t\r\n\r\n",
    ],
  },
  "/eof": { parts: ["HTTP/1.0 200 OK\r\nX-C: c\r\n\r\nuntil-eof"], after: "end" },
  "/204": { parts: ["HTTP/1.1 204 No Content\r\nX-D: d\r\n\r\n"] },
  "/404": { parts: ["HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nnop"] },
  "/interim": {
    parts: ["HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"],
  },
  "/close": { parts: ["HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"], after: "end" },
  "/split": { parts: ["HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n", "bo", "dy"], gapMs: 20 },
  "/big": { parts: [`HTTP/1.1 200 OK\r\nContent-Length: ${BIG}\r\n\r\n${"b".repeat(BIG)}`] },
  "/bigchunked": {
    parts: [
      `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${(20000).toString(16)}\r\n${"c".repeat(20000)}\r\n0\r\n\r\n`,
    ],
  },
  "/bad": { parts: ["HTTP/1.1 200 OK\r\nBad Header\r\n\r\n"] },
  "/badafterhead": { parts: ["HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n", "HTTP/9"], gapMs: 20 },
  "/hang": { parts: [] },
  "/cut": { parts: ["HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial"], after: "destroy", gapMs: 20 },
};

interface Upstream {
  server: Server;
  port: number;
  /** request heads seen, in order */
  heads: string[];
  close(): Promise<void>;
}

async function startUpstream(ip: string): Promise<Upstream> {
  const sockets = new Set<Socket>();
  const up: Upstream = {
    server: createServer((socket) => {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
      socket.on("error", () => socket.destroy());
      let buffered = "";
      socket.on("data", (chunk: Buffer) => {
        buffered += chunk.toString("latin1");
        for (let end = buffered.indexOf("\r\n\r\n"); end >= 0; end = buffered.indexOf("\r\n\r\n")) {
          const head = buffered.slice(0, end + 4);
          buffered = buffered.slice(end + 4);
          up.heads.push(head);
          const [method, target] = head.split(" ");
          const script = SCRIPTS[target!.split("?")[0]!] ?? SCRIPTS["/cl"]!;
          let parts = script.parts;
          if (method === "HEAD") {
            // the heads only (an interim one included), up to the end of the final one
            const all = parts.join("");
            parts = [all.slice(0, all.indexOf("\r\n\r\n", all.lastIndexOf("HTTP/1.")) + 4)];
          }
          // a HEAD answer is complete with its head: cutting the connection after it would race the next request
          void play(
            socket,
            parts,
            script.gapMs ?? 0,
            method === "HEAD" && script.after === "destroy" ? undefined : script.after,
          );
        }
      });
    }),
    port: 0,
    heads: [],
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => up.server.close(() => r()));
    },
  };
  await new Promise<void>((resolve) => up.server.listen(0, ip, resolve));
  up.port = (up.server.address() as AddressInfo).port;
  return up;
}

async function play(socket: Socket, parts: string[], gapMs: number, after: "end" | "destroy" | undefined) {
  for (const [i, part] of parts.entries()) {
    if (i > 0 && gapMs > 0) await new Promise((r) => setTimeout(r, gapMs));
    if (socket.destroyed) return;
    socket.write(part, "latin1");
  }
  if (gapMs > 0 && after !== undefined) await new Promise((r) => setTimeout(r, gapMs));
  if (after === "end") socket.end();
  else if (after === "destroy") socket.destroy();
}

/** Sends raw bytes, returns everything until the server closes (bounded). */
async function exchange(port: number, bytes: string, halfClose: boolean): Promise<string> {
  return (await rawExchange(port, [bytes], { halfClose })).data;
}

const normalizeResponse = (data: string) => data.replace(/\r\nDate: [^\r]*/g, "\r\nDate: D");
const normalizeHead = (head: string, port: number) =>
  head
    .replace(/\r\nx-request-id: [0-9a-f-]{36}\r\n/, "\r\nx-request-id: GENERATED\r\n")
    .replace(`\r\nx-forwarded-port: ${port}\r\n`, "\r\nx-forwarded-port: PORT\r\n");

const CLIENT_HEADERS =
  "Host: d.com\r\nFoo: bar\r\nX-Forwarded-For: 10.1.1.1\r\nkeep-alive: 5\r\nTE: trailers\r\nX-Real-IP: 1.1.1.1\r\n";

/** [what the client sends, whether it half-closes after sending] */
const CASES: [string, string, boolean][] = [];
for (const path of Object.keys(SCRIPTS).filter((p) => p !== "/hang")) {
  CASES.push([`${path} 1.1 close`, `GET ${path} HTTP/1.1\r\n${CLIENT_HEADERS}Connection: close\r\n\r\n`, false]);
  CASES.push([
    `${path} 1.1 keep-alive`,
    `GET ${path}?q=1 HTTP/1.1\r\n${CLIENT_HEADERS}X-Request-Id: r-1\r\n\r\n`,
    true,
  ]);
  CASES.push([`${path} 1.0`, `GET ${path} HTTP/1.0\r\n${CLIENT_HEADERS}\r\n`, false]);
  CASES.push([
    `${path} 1.0 keep-alive`,
    `GET ${path} HTTP/1.0\r\n${CLIENT_HEADERS}Connection: keep-alive\r\n\r\n`,
    true,
  ]);
  CASES.push([`${path} HEAD`, `HEAD ${path} HTTP/1.1\r\n${CLIENT_HEADERS}Connection: close\r\n\r\n`, false]);
}

// Upstreams of this file: 127.245.11.x
describe("ingress plane: the raw front end's fast path", () => {
  let up: Upstream;
  let fast: Harness;
  let generic: Harness;

  beforeAll(async () => {
    up = await startUpstream("127.245.11.1");
    const objects = [
      service("default", "up", [{ name: "http", port: 80 }]),
      ...slicesFor("default", "up", "http", [{ ip: "127.245.11.1", port: up.port }]),
      ingress("default", "up", { rules: [rule("d.com", [{ path: "/", service: "up", port: 80 }])] }),
    ];
    fast = await startIngress(objects, { limits: { httpFrontend: "raw", fastPath: true } });
    generic = await startIngress(objects, { limits: { httpFrontend: "raw", fastPath: false } });
  });

  afterAll(async () => {
    await fast?.close();
    await generic?.close();
    await up?.close();
  });

  it.each(CASES)("sends and answers %s exactly as the generic path", async (_name, request, halfClose) => {
    const servedBefore = fast.plane.rawHttp!.fastPathServed;
    up.heads.length = 0;
    const viaFast = await exchange(fast.httpPort, request, halfClose);
    const fastHeads = up.heads.map((h) => normalizeHead(h, fast.httpPort));
    up.heads.length = 0;
    const viaGeneric = await exchange(generic.httpPort, request, halfClose);
    const genericHeads = up.heads.map((h) => normalizeHead(h, generic.httpPort));
    expect(fast.plane.rawHttp!.fastPathServed).toBe(servedBefore + 1);
    expect(generic.plane.rawHttp!.fastPathServed).toBe(0);
    expect(viaFast.length).toBeGreaterThan(0);
    expect(normalizeResponse(viaFast)).toBe(normalizeResponse(viaGeneric));
    expect(fastHeads).toEqual(genericHeads);
    expect(fastHeads.length).toBeGreaterThan(0);
  });

  it("forwards the client's headers minus hop-by-hop ones, and sets X-Forwarded-* and X-Request-Id", async () => {
    up.heads.length = 0;
    await exchange(fast.httpPort, `GET /cl HTTP/1.1\r\n${CLIENT_HEADERS}Connection: close\r\n\r\n`, false);
    expect(up.heads[0]).toMatch(
      new RegExp(
        `^GET /cl HTTP/1\\.1\\r\\nHost: d\\.com\\r\\nFoo: bar\\r\\nx-forwarded-for: 10\\.1\\.1\\.1, 127\\.0\\.0\\.1\\r\\nx-real-ip: 127\\.0\\.0\\.1\\r\\nx-forwarded-proto: http\\r\\nx-forwarded-host: d\\.com\\r\\nx-forwarded-port: ${fast.httpPort}\\r\\nx-request-id: [0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\\r\\n\\r\\n$`,
      ),
    );
  });

  it("leaves requests whose Connection header names other headers to the generic path", async () => {
    const servedBefore = fast.plane.rawHttp!.fastPathServed;
    up.heads.length = 0;
    const data = await exchange(
      fast.httpPort,
      "GET /cl HTTP/1.1\r\nHost: d.com\r\nFoo: bar\r\nX-Hop: 1\r\nConnection: close, x-hop\r\n\r\n",
      false,
    );
    expect(data).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(up.heads[0]).not.toMatch(/x-hop/i);
    expect(fast.plane.rawHttp!.fastPathServed).toBe(servedBefore);
  });

  it("serves a keep-alive connection's successive requests, pipelined ones in order", async () => {
    const servedBefore = fast.plane.rawHttp!.fastPathServed;
    const data = await exchange(
      fast.httpPort,
      `GET /split HTTP/1.1\r\n${CLIENT_HEADERS}\r\nGET /chunked HTTP/1.1\r\n${CLIENT_HEADERS}\r\nGET /cl HTTP/1.1\r\n${CLIENT_HEADERS}\r\n`,
      true,
    );
    expect([...data.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => m[1])).toEqual(["200", "201", "200"]);
    expect(data.indexOf("body")).toBeLessThan(data.indexOf("3\r\nabc"));
    expect(data.indexOf("3\r\nabc")).toBeLessThan(data.indexOf("hello"));
    // pipelined requests go upstream one at a time (case F, docs/reliability.md), each with nothing else in
    // flight: all the fast way
    expect(fast.plane.rawHttp!.fastPathServed).toBe(servedBefore + 3);
  });

  // Also the body of a request with Connection: close that spans several reads: the raw front end used to stop
  // reading at that request's head, and the upload hung.
  it("passes request bodies through intact although client reads share one buffer", async () => {
    // a backend answering the SHA-256 of the body it got
    const hasher = createHttpServer((req, res) => {
      const hash = createHash("sha256");
      req.on("data", (c: Buffer) => hash.update(c));
      req.on("end", () => res.end(hash.digest("hex")));
    });
    await new Promise<void>((r) => hasher.listen(0, "127.245.11.2", r));
    const port = hasher.address() as AddressInfo;
    const h = await startIngress(
      [
        service("default", "hash", [{ name: "http", port: 80 }]),
        ...slicesFor("default", "hash", "http", [{ ip: "127.245.11.2", port: port.port }]),
        ingress("default", "hash", { rules: [rule("hash.com", [{ path: "/", service: "hash", port: 80 }])] }),
      ],
      { limits: { httpFrontend: "raw" } },
    );
    try {
      const body = randomBytes(900 * 1024); // under the default proxy-body-size (1m)
      // two pipelined uploads in one write: their bytes arrive in many reads, some shared by both requests
      const head = (n: number) =>
        `POST /up${n} HTTP/1.1\r\nHost: hash.com\r\nContent-Length: ${body.length}\r\n${n === 2 ? "Connection: close\r\n" : ""}\r\n`;
      const data = await new Promise<string>((resolve) => {
        const socket = connect({ host: "127.0.0.1", port: h.httpPort });
        let out = "";
        const timer = setTimeout(() => socket.destroy(), 10_000);
        socket.on("data", (c: Buffer) => {
          out += c.toString("latin1");
        });
        socket.on("error", () => undefined);
        socket.on("close", () => {
          clearTimeout(timer);
          resolve(out);
        });
        socket.write(Buffer.concat([Buffer.from(head(1)), body, Buffer.from(head(2)), body]));
      });
      const digest = createHash("sha256").update(body).digest("hex");
      expect(data.split(digest).length - 1).toBe(2);
    } finally {
      await h.close();
      await new Promise<void>((r) => hasher.close(() => r()));
    }
  });

  it("drops the upstream request when the client goes away, counts a 499, and keeps serving", async () => {
    const servedBefore = fast.plane.rawHttp!.fastPathServed;
    up.heads.length = 0;
    const socket = connect({ host: "127.0.0.1", port: fast.httpPort });
    socket.on("error", () => undefined);
    await new Promise<void>((r) => socket.once("connect", () => r()));
    socket.write("GET /hang HTTP/1.1\r\nHost: d.com\r\n\r\n");
    for (let i = 0; i < 100 && up.heads.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(up.heads).toHaveLength(1);
    const upstreamSockets = () => new Promise<number>((r) => up.server.getConnections((_e, n) => r(n)));
    const before = await upstreamSockets();
    // a reset: a plain FIN would be a half-close, after which the answer is still owed
    socket.resetAndDestroy();
    // the upstream connection waiting for /hang's answer is closed (its answer could never be used)
    let after = before;
    for (let i = 0; i < 100 && after >= before; i++) {
      await new Promise((r) => setTimeout(r, 10));
      after = await upstreamSockets();
    }
    expect(after).toBe(before - 1);
    expect(fast.plane.rawHttp!.fastPathServed).toBe(servedBefore + 1);
    expect(await fast.registry.metrics()).toMatch(
      /nginx_ingress_controller_requests\{[^}]*host="d\.com"[^}]*status="499",method="GET"\} 1/,
    );
    const next = await exchange(fast.httpPort, "GET /cl HTTP/1.1\r\nHost: d.com\r\nConnection: close\r\n\r\n", false);
    expect(next).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*hello$/);
  });
});
