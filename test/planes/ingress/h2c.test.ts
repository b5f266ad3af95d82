import { once } from "node:events";
import { createServer as createH1Server, type Server as H1Server, request as h1Request } from "node:http";
import {
  type ClientHttp2Session,
  constants,
  createServer as createH2Server,
  createSecureServer,
  type Http2SecureServer,
  type Http2Server,
  type Http2ServerRequest,
  type Http2ServerResponse,
  connect as h2Connect,
  type IncomingHttpHeaders,
  type ServerHttp2Stream,
} from "node:http2";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../../src/log.ts";
import { generateDefaultCertificate } from "../../../src/planes/ingress/certificates.ts";
import { H2cClients } from "../../../src/planes/ingress/h2c.ts";
import { DEFAULT_CLIENT_LIMITS } from "../../../src/planes/ingress/limits.ts";
import type { IngressProxy } from "../../../src/planes/ingress/proxy.ts";
import { RawHttpServer } from "../../../src/planes/ingress/rawserver.ts";
import { rawExchange } from "./harness.ts";

/**
 * An h2c (prior knowledge) echo backend: answers with what it got and sets trailers; `/big?mb=N` sends N MiB;
 * `/slow?ms=N` waits before answering; `/reset` resets the stream after the head; `/hang` never answers.
 * Counts streams reset by the client (`cancelled`).
 */
interface H2cBackend {
  server: Http2Server;
  port: number;
  cancelled: number;
  streams: number;
  /** sessions accepted so far */
  sessions: number;
  /** streams to refuse (REFUSED_STREAM) before serving again */
  refuseNext: number;
  lastHeaders: IncomingHttpHeaders | undefined;
  close(): Promise<void>;
}

async function startH2cBackend(): Promise<H2cBackend> {
  const server = createH2Server();
  const backend: H2cBackend = {
    server,
    port: 0,
    cancelled: 0,
    streams: 0,
    sessions: 0,
    refuseNext: 0,
    lastHeaders: undefined,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sessions) s.destroy();
      }),
  };
  const sessions = new Set<import("node:http2").ServerHttp2Session>();
  server.on("session", (s) => {
    backend.sessions++;
    sessions.add(s);
    s.once("close", () => sessions.delete(s));
  });
  server.on("stream", (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
    backend.streams++;
    backend.lastHeaders = headers;
    if (backend.refuseNext > 0) {
      // as a backend that will not take this stream: REFUSED_STREAM, nothing processed
      backend.refuseNext--;
      stream.on("error", () => undefined);
      stream.close(constants.NGHTTP2_REFUSED_STREAM);
      return;
    }
    stream.on("error", () => undefined);
    stream.once("close", () => {
      if (stream.rstCode === constants.NGHTTP2_CANCEL) backend.cancelled++;
    });
    const url = new URL(headers[":path"] ?? "/", "http://x");
    if (url.pathname === "/hang") return;
    if (url.pathname === "/goaway") {
      // answers, then closes its session gracefully (GOAWAY), as a backend going away does
      stream.respond({ ":status": 200 });
      stream.end("bye");
      stream.session?.close();
      return;
    }
    if (url.pathname === "/reset") {
      stream.respond({ ":status": 200, "content-type": "text/plain" });
      stream.write("partial");
      setTimeout(() => stream.destroy(new Error("backend fault")), 20);
      return;
    }
    let bytes = 0;
    stream.on("data", (c: Buffer) => {
      bytes += c.length;
    });
    stream.on("end", () => {
      const answer = () => {
        if (stream.destroyed) return;
        stream.respond(
          { ":status": 200, "content-type": "application/json", "x-backend": "h2c", connection: undefined },
          { waitForTrailers: true },
        );
        stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0", "x-trailer": "done" }));
        if (url.pathname === "/big") {
          const mb = Number(url.searchParams.get("mb") ?? "1");
          const chunk = Buffer.alloc(64 * 1024, 98);
          let left = mb * 16;
          const pump = () => {
            while (left > 0) {
              left--;
              if (!stream.write(chunk)) {
                stream.once("drain", pump);
                return;
              }
            }
            stream.end();
          };
          pump();
          return;
        }
        stream.end(
          JSON.stringify({
            method: headers[":method"],
            path: headers[":path"],
            authority: headers[":authority"],
            headers,
            bodyLength: bytes,
          }),
        );
      };
      const ms = Number(url.searchParams.get("ms") ?? "0");
      if (url.pathname === "/slow" && ms > 0) setTimeout(answer, ms);
      else answer();
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  backend.port = (server.address() as AddressInfo).port;
  return backend;
}

/** A downstream that forwards everything through H2cClients to `target` (the minimal harness of P1's flow). */
function forwardTo(clients: H2cClients, target: () => { ip: string; port: number }, seen: number[]) {
  return (req: import("node:http").IncomingMessage | Http2ServerRequest, res: unknown) => {
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined && !name.startsWith(":")) headers[name] = value;
    }
    clients.forward(
      req,
      res as Http2ServerResponse,
      target(),
      {
        method: req.method ?? "GET",
        path: req.url ?? "/",
        authority: (req.headers[":authority"] as string | undefined) ?? req.headers.host ?? "",
        headers,
      },
      Number(headers["x-test-timeout"] ?? 0) || undefined,
      (status) => seen.push(status),
    );
  };
}

async function h2Get(
  session: ClientHttp2Session,
  path: string,
  headers: Record<string, string> = {},
  body?: Buffer,
): Promise<{ headers: IncomingHttpHeaders; trailers: IncomingHttpHeaders | undefined; body: Buffer; rstCode: number }> {
  const stream = session.request({ ":path": path, ":method": body ? "POST" : "GET", ...headers }, { endStream: !body });
  if (body) stream.end(body);
  let trailers: IncomingHttpHeaders | undefined;
  stream.on("trailers", (t) => {
    trailers = t;
  });
  stream.on("error", () => undefined);
  const chunks: Buffer[] = [];
  stream.on("data", (c: Buffer) => chunks.push(c));
  const closed = new Promise((resolve) => stream.once("close", resolve));
  const [head] = (await once(stream, "response")) as [IncomingHttpHeaders];
  await closed;
  return { headers: head, trailers, body: Buffer.concat(chunks), rstCode: stream.rstCode };
}

describe("H2cClients", () => {
  let backend: H2cBackend;
  let clients: H2cClients;
  let h2front: Http2Server;
  let tlsFront: Http2SecureServer;
  let h1front: H1Server;
  const seen: number[] = [];
  let target = () => ({ ip: "127.0.0.1", port: backend.port });

  beforeAll(async () => {
    backend = await startH2cBackend();
    clients = new H2cClients(silentLogger, { connectTimeoutMs: 1000, idleTimeoutMs: 5000 });
    const handler = forwardTo(clients, () => target(), seen);
    h2front = createH2Server(handler);
    const pem = generateDefaultCertificate();
    tlsFront = createSecureServer({ key: pem.key, cert: pem.cert, allowHTTP1: true }, handler);
    h1front = createH1Server(handler);
    for (const s of [h2front, tlsFront, h1front]) {
      s.listen(0, "127.0.0.1");
      await once(s, "listening");
    }
  });
  afterAll(async () => {
    await clients.close();
    await backend.close();
    for (const s of [h2front, tlsFront, h1front]) s.close();
  });
  afterEach(() => {
    target = () => ({ ip: "127.0.0.1", port: backend.port });
  });

  const portOf = (s: { address(): unknown }) => (s.address() as AddressInfo).port;

  it("passes headers, body and trailers over an h2c downstream", async () => {
    const session = h2Connect(`http://127.0.0.1:${portOf(h2front)}`);
    try {
      const r = await h2Get(session, "/echo?x=1", { te: "trailers", "x-custom": "a" }, Buffer.from("hello"));
      expect(r.headers[":status"]).toBe(200);
      expect(r.headers.server).toBe("nodeplane");
      expect(r.headers["x-backend"]).toBe("h2c");
      expect(r.trailers?.["grpc-status"]).toBe("0");
      expect(r.trailers?.["x-trailer"]).toBe("done");
      const echo = JSON.parse(r.body.toString()) as { path: string; bodyLength: number; headers: IncomingHttpHeaders };
      expect(echo.path).toBe("/echo?x=1");
      expect(echo.bodyLength).toBe(5);
      expect(echo.headers["x-custom"]).toBe("a");
      expect(echo.headers.te).toBe("trailers");
    } finally {
      session.close();
    }
  });

  it("sends te: trailers for gRPC requests even when the head lost it, and only then", async () => {
    const session = h2Connect(`http://127.0.0.1:${portOf(h2front)}`);
    try {
      await h2Get(session, "/pkg.Svc/M", { "content-type": "application/grpc" }, Buffer.from([0, 0, 0, 0, 0]));
      expect(backend.lastHeaders?.te).toBe("trailers");
      await h2Get(session, "/plain");
      expect(backend.lastHeaders?.te).toBeUndefined();
    } finally {
      session.close();
    }
  });

  it("passes trailers over an HTTP/2 TLS downstream", async () => {
    const session = h2Connect(`https://127.0.0.1:${portOf(tlsFront)}`, { rejectUnauthorized: false });
    try {
      const r = await h2Get(session, "/echo");
      expect(r.headers[":status"]).toBe(200);
      expect(r.trailers?.["x-trailer"]).toBe("done");
    } finally {
      session.close();
    }
  });

  it("an HTTP/1.1 downstream gets chunked trailers only with TE: trailers", async () => {
    const get = (te: boolean) =>
      new Promise<{ trailers: NodeJS.Dict<string>; status: number }>((resolve, reject) => {
        const req = h1Request({
          host: "127.0.0.1",
          port: portOf(h1front),
          path: "/echo",
          headers: te ? { te: "trailers" } : {},
        });
        req.on("response", (res) => {
          res.resume();
          res.on("end", () => resolve({ trailers: res.trailers, status: res.statusCode ?? 0 }));
        });
        req.on("error", reject);
        req.end();
      });
    const withTe = await get(true);
    expect(withTe.status).toBe(200);
    expect(withTe.trailers["x-trailer"]).toBe("done");
    const without = await get(false);
    expect(without.trailers["x-trailer"]).toBeUndefined();
  });

  it("streams a 5 MiB body both ways with backpressure", async () => {
    const session = h2Connect(`http://127.0.0.1:${portOf(h2front)}`);
    try {
      const big = Buffer.alloc(5 * 1024 * 1024, 120);
      const up = await h2Get(session, "/echo", {}, big);
      expect((JSON.parse(up.body.toString()) as { bodyLength: number }).bodyLength).toBe(big.length);
      const down = await h2Get(session, "/big?mb=5");
      expect(down.body.length).toBe(5 * 1024 * 1024);
      expect(down.trailers?.["x-trailer"]).toBe("done");
    } finally {
      session.close();
    }
  });

  it("answers 502 when the upstream is down, gRPC UNAVAILABLE for gRPC requests", async () => {
    const dead = createH1Server();
    dead.listen(0, "127.0.0.1");
    await once(dead, "listening");
    const port = portOf(dead);
    dead.close();
    target = () => ({ ip: "127.0.0.1", port });
    const session = h2Connect(`http://127.0.0.1:${portOf(h2front)}`);
    try {
      const plain = await h2Get(session, "/x");
      expect(plain.headers[":status"]).toBe(502);
      const grpc = await h2Get(session, "/pkg.Svc/Method", { "content-type": "application/grpc", te: "trailers" });
      expect(grpc.headers[":status"]).toBe(200);
      expect(grpc.headers["grpc-status"]).toBe("14");
    } finally {
      session.close();
    }
  });

  it("answers 504 / DEADLINE_EXCEEDED when the deadline passes first", async () => {
    const session = h2Connect(`http://127.0.0.1:${portOf(h2front)}`);
    try {
      const plain = await h2Get(session, "/hang", { "x-test-timeout": "100" });
      expect(plain.headers[":status"]).toBe(504);
      const grpc = await h2Get(session, "/hang", { "x-test-timeout": "100", "content-type": "application/grpc" });
      expect(grpc.headers["grpc-status"]).toBe("4");
    } finally {
      session.close();
    }
  });

  it("resets the upstream stream when the client aborts", async () => {
    const session = h2Connect(`http://127.0.0.1:${portOf(h2front)}`);
    try {
      const before = backend.cancelled;
      const stream = session.request({ ":path": "/hang" });
      stream.on("error", () => undefined);
      await new Promise((r) => setTimeout(r, 100));
      stream.close(constants.NGHTTP2_CANCEL);
      const deadline = Date.now() + 3000;
      while (backend.cancelled === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(backend.cancelled).toBe(before + 1);
    } finally {
      session.close();
    }
  });

  it("resets the client's stream when the upstream resets after the head", async () => {
    const session = h2Connect(`http://127.0.0.1:${portOf(h2front)}`);
    try {
      const r = await h2Get(session, "/reset");
      expect(r.headers[":status"]).toBe(200);
      expect(r.rstCode).not.toBe(constants.NGHTTP2_NO_ERROR);
      // the session survives
      const ok = await h2Get(session, "/echo");
      expect(ok.headers[":status"]).toBe(200);
    } finally {
      session.close();
    }
  });
});

describe("H2cClients sessions", () => {
  let backend: H2cBackend;
  let clients: H2cClients;
  let front: Http2Server;
  const seen: number[] = [];

  beforeAll(async () => {
    backend = await startH2cBackend();
    clients = new H2cClients(silentLogger, { connectTimeoutMs: 1000, idleTimeoutMs: 300, maxStreamsPerEndpoint: 2 });
    front = createH2Server(forwardTo(clients, () => ({ ip: "127.0.0.1", port: backend.port }), seen));
    front.listen(0, "127.0.0.1");
    await once(front, "listening");
  });
  afterAll(async () => {
    await clients.close();
    await backend.close();
    front.close();
  });

  const session = () => h2Connect(`http://127.0.0.1:${(front.address() as AddressInfo).port}`);

  it("closes an idle session after idleTimeoutMs, and opens a new one for the next request", async () => {
    const s = session();
    try {
      const before = backend.sessions;
      expect((await h2Get(s, "/echo")).headers[":status"]).toBe(200);
      expect(clients.sessions).toBe(1);
      await until(() => clients.sessions === 0, 3000);
      expect(clients.sessions).toBe(0);
      expect((await h2Get(s, "/echo")).headers[":status"]).toBe(200);
      expect(backend.sessions).toBe(before + 2);
    } finally {
      s.close();
    }
  });

  it("a stream silent for longer than the idle timeout keeps its session; the session closes once idle after it", async () => {
    const s = session();
    try {
      const r = await h2Get(s, "/slow?ms=800");
      expect(r.headers[":status"]).toBe(200);
      expect(clients.sessions).toBe(1);
      await until(() => clients.sessions === 0, 3000);
      expect(clients.sessions).toBe(0);
    } finally {
      s.close();
    }
  });

  it("a backend's GOAWAY: in-flight answers complete, the next requests go over a new session", async () => {
    const s = session();
    try {
      const before = backend.sessions;
      // the first request may reuse the session an earlier test left open
      const open = clients.sessions;
      for (let i = 0; i < 3; i++) {
        const r = await h2Get(s, "/goaway");
        expect(r.headers[":status"]).toBe(200);
        expect(r.body.toString()).toBe("bye");
      }
      expect(backend.sessions).toBe(before + 3 - open);
    } finally {
      s.close();
    }
  });

  it("a refused stream (REFUSED_STREAM) is sent once more, body included; refused twice: 502", async () => {
    const s = session();
    try {
      backend.refuseNext = 1;
      const r = await h2Get(s, "/echo", {}, Buffer.from("replayed body"));
      expect(r.headers[":status"]).toBe(200);
      expect((JSON.parse(r.body.toString()) as { bodyLength: number }).bodyLength).toBe(13);
      expect(backend.refuseNext).toBe(0);
      backend.refuseNext = 2;
      const twice = await h2Get(s, "/echo", {}, Buffer.from("x"));
      expect(twice.headers[":status"]).toBe(502);
      backend.refuseNext = 0;
    } finally {
      s.close();
    }
  });

  it("bounds the streams in flight to one endpoint: beyond, 503 (gRPC: UNAVAILABLE)", async () => {
    const s = session();
    try {
      const hanging = [s.request({ ":path": "/hang" }), s.request({ ":path": "/hang" })];
      for (const h of hanging) h.on("error", () => undefined);
      await until(() => backend.streams >= 2);
      await new Promise((r) => setTimeout(r, 50));
      const over = await h2Get(s, "/echo");
      expect(over.headers[":status"]).toBe(503);
      const grpc = await h2Get(s, "/echo", { "content-type": "application/grpc+proto" });
      expect(grpc.headers["grpc-status"]).toBe("14");
      for (const h of hanging) h.close(constants.NGHTTP2_CANCEL);
      // the bound frees as the streams end
      await new Promise((r) => setTimeout(r, 100));
      expect((await h2Get(s, "/echo")).headers[":status"]).toBe(200);
    } finally {
      s.close();
    }
  });
});

async function until(check: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
}

/**
 * The plain-HTTP listener's raw front end (RawHttpServer) in front of H2cClients: HTTP/1.1 clients (chunked
 * trailers with `TE: trailers`) and h2c prior-knowledge clients, as conformance's HTTPRouteBackendProtocolH2C
 * sends ("http2 prior knowledge request should reach backend"). The proxy is a stand-in whose handle()
 * forwards every request to the h2c backend, as the gateway flow does for an h2c backendRef.
 */
describe("the raw front end to an h2c backend", () => {
  let backend: H2cBackend;
  let clients: H2cClients;
  let raw: RawHttpServer;
  const seen: number[] = [];

  beforeAll(async () => {
    backend = await startH2cBackend();
    clients = new H2cClients(silentLogger, { connectTimeoutMs: 1000, idleTimeoutMs: 5000 });
    const forward = forwardTo(clients, () => ({ ip: "127.0.0.1", port: backend.port }), seen);
    const proxy = { logger: silentLogger, handle: forward } as unknown as IngressProxy;
    raw = new RawHttpServer(proxy, { ...DEFAULT_CLIENT_LIMITS, fastPath: false });
    raw.server.listen(0, "127.0.0.1");
    await once(raw.server, "listening");
  });
  afterAll(async () => {
    raw.server.close();
    raw.closeAllConnections();
    await clients.close();
    await backend.close();
  });

  const port = () => (raw.server.address() as AddressInfo).port;

  it("HTTP/1.1 with TE: trailers gets the trailers in the chunked body", async () => {
    const { data } = await rawExchange(
      port(),
      ["GET /echo HTTP/1.1\r\nHost: h.com\r\nTE: trailers\r\nConnection: close\r\n\r\n"],
      { ms: 3000 },
    );
    expect(data).toMatch(/^HTTP\/1\.1 200 /);
    expect(data).toMatch(/Transfer-Encoding: chunked\r\n/i);
    expect(data).toMatch(/\r\n0\r\n(grpc-status: 0\r\nx-trailer: done|x-trailer: done\r\ngrpc-status: 0)\r\n\r\n$/);
  });

  it("HTTP/1.1 without TE: trailers gets the body without them", async () => {
    const { data } = await rawExchange(port(), ["GET /echo HTTP/1.1\r\nHost: h.com\r\nConnection: close\r\n\r\n"], {
      ms: 3000,
    });
    expect(data).toMatch(/^HTTP\/1\.1 200 /);
    expect(data).toMatch(/\r\n0\r\n\r\n$/);
    expect(data).not.toContain("x-trailer");
  });

  it("an h2c prior-knowledge client reaches the h2c backend (HTTPRouteBackendProtocolH2C)", async () => {
    const s = h2Connect(`http://127.0.0.1:${port()}`);
    try {
      const r = await h2Get(s, "/", { ":authority": "h.com" });
      expect(r.headers[":status"]).toBe(200);
      expect(r.trailers?.["x-trailer"]).toBe("done");
      expect(backend.lastHeaders?.[":authority"]).toBe("h.com");
    } finally {
      s.close();
    }
  });
});

/** Backends that do not speak HTTP/2 properly: the client gets the proxy's answer, and nothing else breaks. */
describe("H2cClients against hostile or wrong backends", () => {
  let clients: H2cClients;
  let front: Http2Server;
  let targetPort = 0;
  const seen: number[] = [];
  const servers: { close(): void }[] = [];

  beforeAll(async () => {
    clients = new H2cClients(silentLogger, { connectTimeoutMs: 1000, idleTimeoutMs: 5000 });
    front = createH2Server(forwardTo(clients, () => ({ ip: "127.0.0.1", port: targetPort }), seen));
    front.listen(0, "127.0.0.1");
    await once(front, "listening");
  });
  afterAll(async () => {
    await clients.close();
    front.close();
    for (const s of servers) s.close();
  });

  async function tcpServer(onConnection: (socket: import("node:net").Socket) => void): Promise<number> {
    const { createServer } = await import("node:net");
    const sockets = new Set<import("node:net").Socket>();
    const server = createServer((socket) => {
      sockets.add(socket);
      socket.on("error", () => undefined);
      onConnection(socket);
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    servers.push({
      close: () => {
        for (const s of sockets) s.destroy();
        server.close();
      },
    });
    return (server.address() as AddressInfo).port;
  }

  const ask = async (headers: Record<string, string> = {}) => {
    const s = h2Connect(`http://127.0.0.1:${(front.address() as AddressInfo).port}`);
    try {
      return await h2Get(s, "/x", headers);
    } finally {
      s.close();
    }
  };

  it.each([
    [
      "an HTTP/1.1 server (appProtocol h2c on the wrong backend)",
      (s: import("node:net").Socket) => {
        s.once("data", () => s.end("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"));
      },
    ],
    [
      "garbage bytes",
      (s: import("node:net").Socket) => {
        s.once("data", () => s.write(Buffer.alloc(64, 0xff)));
      },
    ],
    [
      "a close right after accept",
      (s: import("node:net").Socket) => {
        s.destroy();
      },
    ],
  ])("%s: 502, gRPC UNAVAILABLE", async (_name, behaviour) => {
    targetPort = await tcpServer(behaviour);
    const plain = await ask();
    expect(plain.headers[":status"]).toBe(502);
    const grpc = await ask({ "content-type": "application/grpc" });
    expect(grpc.headers[":status"]).toBe(200);
    expect(grpc.headers["grpc-status"]).toBe("14");
  });

  it("a fault in the caller's done callback stays inside the exchange", async () => {
    const backend = await startH2cBackend();
    servers.push({ close: () => void backend.close() });
    const faulty = new H2cClients(silentLogger, { connectTimeoutMs: 1000, idleTimeoutMs: 5000 });
    const server = createH2Server((req, res) => {
      faulty.forward(
        req,
        res,
        { ip: "127.0.0.1", port: backend.port },
        { method: req.method, path: req.url, authority: req.authority, headers: {} },
        undefined,
        () => {
          throw new Error("caller bug");
        },
      );
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const s = h2Connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    try {
      const r = await h2Get(s, "/echo");
      expect(r.headers[":status"]).toBe(200);
      expect(r.trailers?.["x-trailer"]).toBe("done");
    } finally {
      s.close();
      server.close();
      await faulty.close();
    }
  });
});
