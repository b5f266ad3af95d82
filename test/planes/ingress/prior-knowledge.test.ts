import { once } from "node:events";
import { connect as h2Connect, type IncomingHttpHeaders } from "node:http2";
import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PREFACE, sniffPreface } from "../../../src/planes/ingress/prior-knowledge.ts";
import { type Backend, curl, type Harness, rawExchange, startBackend, startIngress, webIngress } from "./harness.ts";

describe("sniffPreface", () => {
  it.each([
    ["the whole preface", PREFACE.toString("latin1"), "h2"],
    ["the preface and a SETTINGS frame", `${PREFACE.toString("latin1")}\0\0\0\x04\0\0\0\0\0`, "h2"],
    ["a prefix of it", "PRI * HTT", "more"],
    ["one byte of it", "P", "more"],
    ["an HTTP/1 request", "GET / HTTP/1.1\r\n", "h1"],
    ["an HTTP/1 PRI request", "PRI / HTTP/1.1\r\nHost: x\r\n\r\n", "h1"],
    ["PRI * HTTP/1.1", "PRI * HTTP/1.1\r\n\r\n", "h1"],
    ["the preface with a different tail", "PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n", "h1"],
  ])("%s", (_name, bytes, expected) => {
    expect(sniffPreface(Buffer.from(bytes, "latin1"))).toBe(expected);
  });
});

async function h2Request(
  port: number,
  path: string,
  authority = "h.com",
): Promise<{ headers: IncomingHttpHeaders; body: string }> {
  const session = h2Connect(`http://127.0.0.1:${port}`);
  session.on("error", () => undefined);
  try {
    const stream = session.request({ ":path": path, ":authority": authority });
    stream.on("error", () => undefined);
    const chunks: Buffer[] = [];
    stream.on("data", (c: Buffer) => chunks.push(c));
    let headers: IncomingHttpHeaders = {};
    stream.once("response", (h: IncomingHttpHeaders) => {
      headers = h;
    });
    // a stream the server closes without answering resolves too (no :status), never hangs
    await new Promise((resolve) => stream.once("close", resolve));
    return { headers, body: Buffer.concat(chunks).toString() };
  } finally {
    session.close();
  }
}

// Backends of this file: 127.245.13.x
describe("ingress plane: h2c prior knowledge on the plain-HTTP listener", () => {
  let web: Backend;
  let h: Harness;

  beforeAll(async () => {
    web = await startBackend("web", "127.245.13.1");
    h = await startIngress(webIngress(web), { limits: { httpFrontend: "raw" } });
  });

  afterAll(async () => {
    await h?.close();
    await web?.close();
  });

  it("serves an h2c GET (node:http2 client), routed like any request", async () => {
    const r = await h2Request(h.httpPort, "/pk?x=1");
    expect(r.headers[":status"]).toBe(200);
    expect(r.headers.server).toBe("nodeplane");
    const echo = JSON.parse(r.body) as { url: string; headers: Record<string, string> };
    expect(echo.url).toBe("/pk?x=1");
    expect(echo.headers.host).toBe("h.com");
    expect(echo.headers["x-forwarded-proto"]).toBe("http");
    // unknown host: the proxy's own 404, over HTTP/2 too
    const missing = await h2Request(h.httpPort, "/", "nowhere.com");
    expect(missing.headers[":status"]).toBe(404);
  });

  it("serves curl --http2-prior-knowledge, and HTTP/1.1 on another connection is still served", async () => {
    const h2 = await curl([
      "-s",
      "--http2-prior-knowledge",
      "-o",
      "/dev/null",
      "-w",
      "%{http_version} %{http_code}",
      "-H",
      "Host: h.com",
      `http://127.0.0.1:${h.httpPort}/a`,
    ]);
    expect(h2.stdout).toBe("2 200");
    const h1 = await curl([
      "-s",
      "--http1.1",
      "-o",
      "/dev/null",
      "-w",
      "%{http_version} %{http_code}",
      "-H",
      "Host: h.com",
      `http://127.0.0.1:${h.httpPort}/b`,
    ]);
    expect(h1.stdout).toBe("1.1 200");
  });

  it("recognises a preface split over several reads", async () => {
    const socket = connect(h.httpPort, "127.0.0.1");
    await once(socket, "connect");
    const received: Buffer[] = [];
    socket.on("data", (c: Buffer) => received.push(c));
    for (const part of [PREFACE.subarray(0, 3), PREFACE.subarray(3, 20), PREFACE.subarray(20)]) {
      socket.write(part);
      await new Promise((r) => setTimeout(r, 30));
    }
    // an empty SETTINGS frame: the server answers with its own SETTINGS (frame type 4)
    socket.write(Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]));
    const deadline = Date.now() + 3000;
    while (Buffer.concat(received).length < 9 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    socket.destroy();
    const frames = Buffer.concat(received);
    expect(frames.length).toBeGreaterThanOrEqual(9);
    expect(frames[3]).toBe(4);
  });

  it("garbage after the preface closes only that connection", async () => {
    const { data, closed } = await rawExchange(h.httpPort, [`${PREFACE.toString("latin1")}GET / HTTP/1.1\r\n\r\n`], {
      ms: 3000,
    });
    expect(closed).toBe(true);
    // no HTTP/1 answer: the connection spoke (broken) HTTP/2; the server's SETTINGS and GOAWAY at most
    expect(data).not.toContain("HTTP/1.1");
    const ok = await h2Request(h.httpPort, "/after");
    expect(ok.headers[":status"]).toBe(200);
    const h1 = await rawExchange(h.httpPort, ["GET /h1 HTTP/1.1\r\nHost: h.com\r\nConnection: close\r\n\r\n"], {
      ms: 3000,
    });
    expect(h1.data).toMatch(/^HTTP\/1\.1 200 /);
  });

  it("HTTP/1 requests that merely start with PRI are unaffected (llhttp's answers as before)", async () => {
    const pri = await rawExchange(h.httpPort, ["PRI /x HTTP/1.1\r\nHost: h.com\r\nConnection: close\r\n\r\n"], {
      ms: 3000,
    });
    // llhttp refuses a PRI request line that is not the preface's: 400 and close, exactly as without h2c
    expect(pri.data).toMatch(/^HTTP\/1\.1 400 /);
    expect(pri.closed).toBe(true);
    const h2line = await rawExchange(h.httpPort, ["PRI * HTTP/1.1\r\nHost: h.com\r\n\r\n"], { ms: 3000 });
    expect(h2line.data).toMatch(/^HTTP\/1\.1 [45]\d\d /);
    expect(h2line.closed).toBe(true);
  });
});

// Backends of this file: 127.245.13.x
describe("h2c prior knowledge: idle sessions", () => {
  let web: Backend;
  let h: Harness;

  beforeAll(async () => {
    web = await startBackend("web", "127.245.13.2");
    h = await startIngress(webIngress(web), {
      limits: { httpFrontend: "raw", keepAliveTimeoutMs: 300, connectionsCheckingIntervalMs: 100 },
    });
  });

  afterAll(async () => {
    await h?.close();
    await web?.close();
  });

  it("a session without streams is closed after the keep-alive timeout; one with a silent stream is kept", async () => {
    const idle = h2Connect(`http://127.0.0.1:${h.httpPort}`);
    idle.on("error", () => undefined);
    const closed = new Promise((resolve) => idle.once("close", resolve));
    await once(idle, "connect");
    const started = Date.now();
    await Promise.race([closed, new Promise((r) => setTimeout(r, 3000))]);
    expect(idle.closed || idle.destroyed).toBe(true);
    expect(Date.now() - started).toBeLessThan(3000);
    // a response that takes 800 ms (no frame meanwhile) on a session whose idle timeout is 300 ms is kept, and
    // the session is closed once idle again
    const session = h2Connect(`http://127.0.0.1:${h.httpPort}`);
    session.on("error", () => undefined);
    const sessionClosed = new Promise((resolve) => session.once("close", resolve));
    const stream = session.request({ ":path": "/slow?ms=800", ":authority": "h.com" });
    stream.on("error", () => undefined);
    stream.resume();
    let status: unknown;
    stream.once("response", (headers: IncomingHttpHeaders) => {
      status = headers[":status"];
    });
    await new Promise((resolve) => stream.once("close", resolve));
    expect(status).toBe(200);
    const answered = Date.now();
    await Promise.race([sessionClosed, new Promise((r) => setTimeout(r, 3000))]);
    expect(session.closed || session.destroyed).toBe(true);
    expect(Date.now() - answered).toBeLessThan(3000);
  });

  it("the HTTPS listener's HTTP/2 sessions too: a silent stream outlives the idle timeout", async () => {
    const session = h2Connect(`https://127.0.0.1:${h.httpsPort}`, { rejectUnauthorized: false });
    session.on("error", () => undefined);
    try {
      const stream = session.request({ ":path": "/slow?ms=800", ":authority": "h.com" });
      stream.on("error", () => undefined);
      stream.resume();
      let status: unknown;
      stream.once("response", (headers: IncomingHttpHeaders) => {
        status = headers[":status"];
      });
      await new Promise((resolve) => stream.once("close", resolve));
      expect(status).toBe(200);
    } finally {
      session.close();
    }
  });
});
