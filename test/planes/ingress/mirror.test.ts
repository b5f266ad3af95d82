import { once } from "node:events";
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import { createServer as createH2Server, type Http2Server, type ServerHttp2Stream } from "node:http2";
import type { AddressInfo, Socket } from "node:net";
import { Readable } from "node:stream";
import { Registry } from "prom-client";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../../src/log.ts";
import { Mirror, type MirrorBody, teeBody } from "../../../src/planes/ingress/mirror.ts";

interface Seen {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** An HTTP/1 backend recording what it got; `mode` "hang" never answers, "stall" answers but never reads the body. */
async function recorder(mode: "ok" | "hang" | "stall" = "ok") {
  const seen: Seen[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (mode === "hang") return;
    if (mode === "stall") {
      req.pause();
      return;
    }
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      seen.push({ method: req.method ?? "", path: req.url ?? "", headers: req.headers, body: Buffer.concat(chunks) });
      res.end("mirror answer");
    });
  });
  server.on("connection", (s: Socket) => {
    sockets.add(s);
    s.once("close", () => sockets.delete(s));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    seen,
    port: (server.address() as AddressInfo).port,
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

async function until(check: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
}

describe("teeBody", () => {
  it("passes every chunk to the main side and a copy to the mirror", async () => {
    const chunks = [Buffer.from("a"), Buffer.from("bc"), Buffer.from("def")];
    const { main, mirror } = teeBody(Readable.from(chunks));
    const got: Buffer[] = [];
    for await (const c of main) got.push(c);
    const copied: Buffer[] = [];
    for await (const c of mirror) copied.push(c);
    expect(Buffer.concat(got).toString()).toBe("abcdef");
    expect(Buffer.concat(copied).toString()).toBe("abcdef");
  });

  it("drops the mirror's copy instead of buffering past its limit; the main side is unaffected", async () => {
    const big = Array.from({ length: 20 }, () => Buffer.alloc(64 * 1024, 1));
    const { main, mirror } = teeBody(Readable.from(big), 256 * 1024);
    let bytes = 0;
    for await (const c of main) bytes += c.length;
    expect(bytes).toBe(20 * 64 * 1024);
    expect(mirror.dropped).toBe(true);
    await expect(async () => {
      for await (const _ of mirror) {
        // nothing: the copy was dropped
      }
    }).rejects.toThrow(/dropped/);
  });

  it("a main side that stops early fails the mirror's copy (never sent as if whole)", async () => {
    const { main, mirror } = teeBody(Readable.from([Buffer.from("a"), Buffer.from("b"), Buffer.from("c")]));
    for await (const _ of main) break;
    expect(mirror.dropped).toBe(true);
  });
});

describe("Mirror", () => {
  let ok: Awaited<ReturnType<typeof recorder>>;
  let hang: Awaited<ReturnType<typeof recorder>>;
  let stall: Awaited<ReturnType<typeof recorder>>;
  let h2: Http2Server;
  let h2Port: number;
  const h2Seen: { headers: Record<string, unknown>; body: Buffer }[] = [];
  let deadPort: number;

  beforeAll(async () => {
    ok = await recorder("ok");
    hang = await recorder("hang");
    stall = await recorder("stall");
    h2 = createH2Server();
    h2.on("stream", (stream: ServerHttp2Stream, headers) => {
      const chunks: Buffer[] = [];
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("end", () => {
        h2Seen.push({ headers, body: Buffer.concat(chunks) });
        stream.respond({ ":status": 200 });
        stream.end("h2 mirror answer");
      });
      stream.on("error", () => undefined);
    });
    h2.listen(0, "127.0.0.1");
    await once(h2, "listening");
    h2Port = (h2.address() as AddressInfo).port;
    const dead = createServer();
    dead.listen(0, "127.0.0.1");
    await once(dead, "listening");
    deadPort = (dead.address() as AddressInfo).port;
    dead.close();
  });

  afterAll(() => {
    ok.close();
    hang.close();
    stall.close();
    h2.close();
  });

  it("the HTTP/1 mirror backend sees the same method, path, headers and body", async () => {
    const mirror = new Mirror(silentLogger, { connectTimeoutMs: 1000, maxInFlight: 10 });
    try {
      const body = Buffer.alloc(300 * 1024, 7);
      const { main, mirror: copy } = teeBody(Readable.from([body.subarray(0, 1000), body.subarray(1000)]));
      const before = ok.seen.length;
      expect(
        mirror.send(
          { ip: "127.0.0.1", port: ok.port, appProtocol: "http" },
          "PUT",
          "/m/path?q=1",
          ["host", "app.example", "x-custom", "v", "content-length", String(body.length), "connection", "keep-alive"],
          copy,
        ),
      ).toBe(true);
      // the real upstream reads the main side
      let bytes = 0;
      for await (const c of main) bytes += c.length;
      expect(bytes).toBe(body.length);
      await until(() => ok.seen.length > before);
      const got = ok.seen[ok.seen.length - 1]!;
      expect(got.method).toBe("PUT");
      expect(got.path).toBe("/m/path?q=1");
      expect(got.headers.host).toBe("app.example");
      expect(got.headers["x-custom"]).toBe("v");
      expect(got.body.equals(body)).toBe(true);
      await until(() => mirror.inFlight === 0);
      expect(mirror.inFlight).toBe(0);
    } finally {
      await mirror.close();
    }
  });

  it("a request without a body is mirrored without one", async () => {
    const mirror = new Mirror(silentLogger, { connectTimeoutMs: 1000, maxInFlight: 10 });
    try {
      const before = ok.seen.length;
      mirror.send(
        { ip: "127.0.0.1", port: ok.port, appProtocol: "http" },
        "GET",
        "/g",
        ["host", "a.example"],
        undefined,
      );
      await until(() => ok.seen.length > before);
      expect(ok.seen[ok.seen.length - 1]).toMatchObject({ method: "GET", path: "/g", body: Buffer.alloc(0) });
    } finally {
      await mirror.close();
    }
  });

  it("an h2c mirror backend sees the same request", async () => {
    const mirror = new Mirror(silentLogger, { connectTimeoutMs: 1000, maxInFlight: 10 });
    try {
      const { main, mirror: copy } = teeBody(Readable.from([Buffer.from("hello "), Buffer.from("h2")]));
      mirror.send(
        { ip: "127.0.0.1", port: h2Port, appProtocol: "h2c" },
        "POST",
        "/pkg.Svc/Call",
        ["host", "grpc.example", "content-type", "application/grpc", "te", "trailers"],
        copy,
      );
      for await (const _ of main) {
        // the real upstream's reads
      }
      await until(() => h2Seen.length > 0);
      const got = h2Seen[0]!;
      expect(got.headers[":method"]).toBe("POST");
      expect(got.headers[":path"]).toBe("/pkg.Svc/Call");
      expect(got.headers[":authority"]).toBe("grpc.example");
      expect(got.headers["content-type"]).toBe("application/grpc");
      expect(got.body.toString()).toBe("hello h2");
    } finally {
      await mirror.close();
    }
  });

  it("a mirror backend that is down: send returns at once, never throws, the copy counts as failed", async () => {
    const mirror = new Mirror(silentLogger, { connectTimeoutMs: 1000, maxInFlight: 10 });
    try {
      for (const appProtocol of ["http", "h2c"] as const) {
        const { main, mirror: copy } = teeBody(Readable.from([Buffer.from("x")]));
        mirror.send({ ip: "127.0.0.1", port: deadPort, appProtocol }, "POST", "/", ["content-length", "1"], copy);
        for await (const _ of main) {
          // the real request goes on
        }
      }
      await until(() => mirror.failed === 2);
      expect(mirror.failed).toBe(2);
      expect(mirror.inFlight).toBe(0);
    } finally {
      await mirror.close();
    }
  });

  it("bounds the copies in flight: the rest are skipped and counted in nodeplane_gateway_mirror_skipped_total", async () => {
    const registry = new Registry();
    const mirror = new Mirror(silentLogger, { connectTimeoutMs: 1000, maxInFlight: 2, timeoutMs: 500, registry });
    try {
      const target = { ip: "127.0.0.1", port: hang.port, appProtocol: "http" as const };
      const started = Array.from({ length: 5 }, () => mirror.send(target, "GET", "/h", [], undefined));
      expect(started).toEqual([true, true, false, false, false]);
      expect(mirror.inFlight).toBe(2);
      expect(mirror.skipped).toBe(3);
      const metric = await registry.getSingleMetricAsString("nodeplane_gateway_mirror_skipped_total");
      expect(metric).toMatch(/nodeplane_gateway_mirror_skipped_total 3/);
      // a skipped copy's body is abandoned: its tee keeps nothing for it
      const { mirror: copy } = teeBody(Readable.from([Buffer.from("x")]));
      expect(mirror.send(target, "POST", "/h", [], copy)).toBe(false);
      expect((copy as MirrorBody).dropped).toBe(true);
      // the hanging copies are abandoned after timeoutMs: the bound frees up
      await until(() => mirror.inFlight === 0, 3000);
      expect(mirror.inFlight).toBe(0);
      expect(mirror.send(target, "GET", "/h", [], undefined)).toBe(true);
    } finally {
      await mirror.close();
    }
  });
});

/**
 * The real request is never delayed by its mirror: a minimal proxy (standing in for the gateway's flow, which
 * calls Mirror.send with the teed body the same way) forwards an 8 MiB upload to a real backend while its mirror
 * is down, hangs, or never reads; the client's answer is the same each time.
 */
describe("Mirror beside a real request", () => {
  let upstream: Awaited<ReturnType<typeof recorder>>;
  let hang: Awaited<ReturnType<typeof recorder>>;
  let stall: Awaited<ReturnType<typeof recorder>>;
  let proxy: Server;
  let mirror: Mirror;
  let mirrorPort = 0;

  beforeAll(async () => {
    upstream = await recorder("ok");
    hang = await recorder("hang");
    stall = await recorder("stall");
    mirror = new Mirror(silentLogger, { connectTimeoutMs: 500, maxInFlight: 10, timeoutMs: 5000 });
    proxy = createServer(async (req, res) => {
      const { main, mirror: copy } = teeBody(req, 256 * 1024);
      const headers = ["host", req.headers.host ?? "", "content-length", req.headers["content-length"] ?? "0"];
      mirror.send(
        { ip: "127.0.0.1", port: mirrorPort, appProtocol: "http" },
        req.method ?? "GET",
        req.url ?? "/",
        headers,
        copy,
      );
      try {
        const answer = await request(`http://127.0.0.1:${upstream.port}${req.url}`, {
          method: "POST",
          headers: { "content-length": req.headers["content-length"] ?? "0" },
          body: Readable.from(main),
        });
        const text = await answer.body.text();
        res.end(`${answer.statusCode} ${text}`);
      } catch (err) {
        res.statusCode = 502;
        res.end(String(err));
      }
    });
    proxy.listen(0, "127.0.0.1");
    await once(proxy, "listening");
  });

  afterAll(async () => {
    await mirror.close();
    proxy.close();
    upstream.close();
    hang.close();
    stall.close();
  });

  const upload = async () => {
    const body = Buffer.alloc(8 * 1024 * 1024, 3);
    const started = performance.now();
    const answer = await request(`http://127.0.0.1:${(proxy.address() as AddressInfo).port}/up`, {
      method: "POST",
      body,
    });
    return { text: await answer.body.text(), ms: performance.now() - started, status: answer.statusCode };
  };

  it.each([
    ["down", () => 1],
    ["hanging", () => hang.port],
    ["not reading the body", () => stall.port],
  ])("mirror %s: the client's answer is unaffected", async (_name, port) => {
    mirrorPort = port();
    if (mirrorPort === 1) {
      const dead = createServer();
      dead.listen(0, "127.0.0.1");
      await once(dead, "listening");
      mirrorPort = (dead.address() as AddressInfo).port;
      dead.close();
    }
    const failedBefore = mirror.failed;
    const r = await upload();
    expect(r.status).toBe(200);
    expect(r.text).toBe("200 mirror answer");
    const last = upstream.seen[upstream.seen.length - 1]!;
    expect(last.body.length).toBe(8 * 1024 * 1024);
    if (_name === "not reading the body") {
      // the copy could not keep up: dropped (its request aborted), never buffered whole
      await until(() => mirror.failed > failedBefore);
      expect(mirror.failed).toBeGreaterThan(failedBefore);
    }
  });
});
