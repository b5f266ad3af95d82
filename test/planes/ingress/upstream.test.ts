import { createHash } from "node:crypto";
import { readFileSync, rmSync } from "node:fs";
import { type AddressInfo, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { curl, type Harness, ingress, rule, service, slice, startIngress } from "./harness.ts";

/** What a scripted backend does with one request (its head, without the final CRLFCRLF). */
type Script = (socket: Socket, head: string) => void;

const OK = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
const SMUGGLED = "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled";

/** Writes `text` one byte per write, a few ms apart, so the proxy sees every possible split. */
async function trickle(socket: Socket, text: string): Promise<void> {
  for (const ch of text) {
    if (socket.destroyed) return;
    socket.write(ch, "latin1");
    await new Promise((r) => setTimeout(r, 1));
  }
}

const BIG = Buffer.alloc(1024 * 1024);
for (let i = 0; i < BIG.length; i++) BIG[i] = (i * 7) & 0xff;

const scripts: Record<string, Script> = {
  "/ok": (s) => s.write(OK),
  "/trickle": (s) =>
    void trickle(
      s,
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nX-A: 1\r\nTransfer-Encoding: chunked\r\n\r\n" +
        "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n",
    ),
  "/double": (s) => s.write(OK + SMUGGLED),
  "/late": (s) => {
    s.write(OK);
    setTimeout(() => s.destroyed || s.write(SMUGGLED), 50);
  },
  "/cut": (s) => {
    s.write(`HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n${"x".repeat(10)}`);
    setTimeout(() => s.destroy(), 20);
  },
  "/silent-close": (s) => s.destroy(),
  "/bad-chunk-late": (s) => s.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n"),
  "/head": (s) => s.write("HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nX-Head: yes\r\n\r\n"),
  "/no-content": (s) => s.write("HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n"),
  "/not-modified": (s) => s.write("HTTP/1.1 304 Not Modified\r\nETag: x\r\n\r\n"),
  "/close-delimited": (s) => s.end("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it, until EOF"),
  "/big": (s) => {
    s.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (let off = 0; off < BIG.length; off += 65536) {
      s.write(`10000\r\n`);
      s.write(BIG.subarray(off, off + 65536));
      s.write("\r\n");
    }
    s.write("0\r\n\r\n");
  },
  "/hop": (s) =>
    s.write(
      "HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Private\r\nKeep-Alive: timeout=5\r\nX-Private: p\r\n" +
        "Server: backend\r\nDate: Thu, 01 Jan 1970 00:00:00 GMT\r\nX-Public: q\r\nContent-Length: 2\r\n\r\nok",
    ),
};

const MALFORMED: [string, string][] = [
  ["conflicting Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc"],
  [
    "Content-Length with Transfer-Encoding",
    "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
  ],
  ["obs-fold", "HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 0\r\n\r\n"],
  ["bare LF", "HTTP/1.1 200 OK\nContent-Length: 0\n\n\r\n\r\n"],
  ["space before the colon", "HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n"],
  ["NUL in a header value", "HTTP/1.1 200 OK\r\nX-A: a\u0000b\r\nContent-Length: 0\r\n\r\n"],
  ["bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"],
  ["unexpected 101", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"],
  ["HTTP/2.0 status line", "HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n"],
  ["oversized head", `HTTP/1.1 200 OK\r\nX-Big: ${"a".repeat(20_000)}\r\nContent-Length: 0\r\n\r\n`],
  ["not HTTP at all", "SSH-2.0-OpenSSH_9.2\r\n\r\n"],
];
MALFORMED.forEach(([, wire], i) => {
  scripts[`/bad${i}`] = (s) => s.write(wire);
});

// Backends of this file: 127.245.6.x
describe("ingress plane: hostile upstream responses (the hand-written HTTP/1.1 client)", () => {
  let server: Server;
  let h: Harness;
  const sockets = new Set<Socket>();
  let connections = 0;
  let closedByProxy = 0;

  beforeAll(async () => {
    server = createServer((socket) => {
      connections++;
      sockets.add(socket);
      let buffered = "";
      let ended = false;
      socket.on("end", () => {
        ended = true;
      });
      socket.on("close", () => {
        sockets.delete(socket);
        if (ended) closedByProxy++;
      });
      socket.on("error", () => undefined);
      socket.on("data", (data: Buffer) => {
        buffered += data.toString("latin1");
        for (let end = buffered.indexOf("\r\n\r\n"); end >= 0; end = buffered.indexOf("\r\n\r\n")) {
          const head = buffered.slice(0, end);
          buffered = buffered.slice(end + 4);
          const path = /^[A-Z]+ ([^ ?]+)/.exec(head)?.[1] ?? "";
          (scripts[path] ?? ((s: Socket) => s.write("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")))(
            socket,
            head,
          );
        }
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.245.6.1", r));
    const port = (server.address() as AddressInfo).port;
    h = await startIngress([
      service("default", "up", [{ name: "http", port: 80 }]),
      slice("default", "up", [{ name: "http", port }], [{ ip: "127.245.6.1" }]),
      ingress("default", "up", { rules: [rule("up.com", [{ path: "/", service: "up", port: 80 }])] }),
    ]);
  });

  afterAll(async () => {
    await h?.close();
    for (const s of sockets) s.destroy();
    await new Promise((r) => server?.close(r));
  });

  beforeEach(() => {
    closedByProxy = 0;
  });

  const url = (path: string) => `http://127.0.0.1:${h.httpPort}${path}`;
  const get = (path: string, extra: string[] = []) =>
    curl(["-s", "-w", "\n%{http_code}", "-H", "Host: up.com", ...extra, url(path)]);
  const split = (r: { stdout: string }) => {
    const at = r.stdout.lastIndexOf("\n");
    return { body: r.stdout.slice(0, at), status: r.stdout.slice(at + 1) };
  };
  const waitFor = async (check: () => boolean, ms = 2_000) => {
    for (const end = Date.now() + ms; Date.now() < end && !check(); ) await new Promise((r) => setTimeout(r, 10));
    return check();
  };

  it("reuses one upstream connection for consecutive requests", async () => {
    expect(split(await get("/ok"))).toEqual({ body: "ok", status: "200" });
    const before = connections;
    for (let i = 0; i < 3; i++) expect(split(await get("/ok"))).toEqual({ body: "ok", status: "200" });
    expect(connections).toBe(before);
  });

  it("assembles a response trickled one byte at a time (1xx skipped, chunked decoded)", async () => {
    const r = await curl(["-s", "-D", "-", "-H", "Host: up.com", url("/trickle")]);
    expect(r.stdout).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(r.stdout).toMatch(/\r\nx-a: 1\r\n/i);
    expect(r.stdout.endsWith("\r\n\r\nhello world")).toBe(true);
  });

  it("closes a connection that sent more than one response, and never serves the extra one", async () => {
    expect(split(await get("/double"))).toEqual({ body: "ok", status: "200" });
    expect(await waitFor(() => closedByProxy >= 1)).toBe(true);
    for (let i = 0; i < 3; i++) expect(split(await get("/ok")).body).toBe("ok");
  });

  it("closes a connection that sends bytes while idle", async () => {
    expect(split(await get("/late")).body).toBe("ok");
    expect(await waitFor(() => closedByProxy >= 1)).toBe(true);
    for (let i = 0; i < 3; i++) expect(split(await get("/ok")).body).toBe("ok");
  });

  it("cuts the client response when the upstream closes mid-body, and keeps serving", async () => {
    const r = await curl([
      "-s",
      "-o",
      "/dev/null",
      "-w",
      "%{http_code} %{size_download}",
      "-H",
      "Host: up.com",
      url("/cut"),
    ]);
    expect(r.code).not.toBe(0);
    expect(r.stdout).toBe("200 10");
    expect(split(await get("/ok")).body).toBe("ok");
  });

  it("cuts the client response when the body turns malformed after it started, and closes the upstream", async () => {
    const r = await curl(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Host: up.com", url("/bad-chunk-late")]);
    expect(r.code).not.toBe(0);
    expect(await waitFor(() => closedByProxy >= 1)).toBe(true);
    expect(split(await get("/ok")).body).toBe("ok");
  });

  it("answers 502 when the upstream closes without answering (after one retry of the GET)", async () => {
    const before = connections;
    expect(split(await get("/silent-close")).status).toBe("502");
    // the request was sent once more on a fresh connection
    expect(connections - before).toBeGreaterThanOrEqual(1);
    expect(split(await get("/ok")).body).toBe("ok");
  });

  it("has no body for HEAD, 204 and 304, and keeps the connection", async () => {
    await get("/ok");
    const before = connections;
    const head = await curl(["-s", "-I", "-H", "Host: up.com", url("/head")]);
    expect(head.stdout).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(head.stdout).toMatch(/\r\ncontent-length: 1234\r\n/i);
    expect(split(await get("/no-content"))).toEqual({ body: "", status: "204" });
    expect(split(await get("/not-modified"))).toEqual({ body: "", status: "304" });
    expect(split(await get("/ok")).body).toBe("ok");
    expect(connections).toBe(before);
  });

  it("passes a close-delimited body through whole", async () => {
    expect(split(await get("/close-delimited"))).toEqual({ body: "all of it, until EOF", status: "200" });
  });

  it("streams a large chunked body to a slow client intact (backpressure)", async () => {
    const file = join(tmpdir(), `nodeplane-big-${process.pid}`);
    const r = await curl(["-s", "--limit-rate", "4M", "-o", file, "-H", "Host: up.com", url("/big")]);
    const got = readFileSync(file);
    rmSync(file);
    expect(r.code).toBe(0);
    expect(got.length).toBe(BIG.length);
    expect(createHash("sha1").update(got).digest("hex")).toBe(createHash("sha1").update(BIG).digest("hex"));
  });

  it("removes hop-by-hop headers (and those named by Connection) and replaces Server and Date", async () => {
    const r = await curl(["-s", "-D", "-", "-o", "/dev/null", "-H", "Host: up.com", url("/hop")]);
    expect(r.stdout).toMatch(/\r\nx-public: q\r\n/i);
    expect(r.stdout).not.toMatch(/x-private|timeout=5|backend|1970/i);
    expect(r.stdout).toMatch(/\r\nserver: nodeplane\r\n/i);
  });

  it.each(MALFORMED.map(([name], i) => [name, i] as const))(
    "%s → 502, upstream connection closed",
    async (_name, i) => {
      expect(split(await get(`/bad${i}`))).toEqual({ body: "502 Bad Gateway\n", status: "502" });
      expect(await waitFor(() => closedByProxy >= 1)).toBe(true);
      expect(split(await get("/ok"))).toEqual({ body: "ok", status: "200" });
    },
  );
});
