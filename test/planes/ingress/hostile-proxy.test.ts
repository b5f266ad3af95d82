import { connect as h2connect, type IncomingHttpHeaders, type OutgoingHttpHeaders } from "node:http2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Matcher } from "../../../src/planes/ingress/matcher.ts";
import type { RouteRuntime } from "../../../src/planes/ingress/routes.ts";
import {
  type Backend,
  type Harness,
  ingress,
  rawExchange,
  rule,
  service,
  slicesFor,
  startBackend,
  startIngress,
} from "./harness.ts";
import { startRecorder as startRecording } from "./recorder.ts";

/**
 * The hostile suite of the generic (slow) path and the HTTPS listener: bytes in → status, close and what the
 * backend saw out, over plain HTTP, HTTP/1.1 over TLS and HTTP/2 where the input applies (cases B, C, D,
 * E, G). The backend is a plain http.Server without an 'upgrade' listener, so it answers an Upgrade request
 * with an ordinary 200, as the one in case C of docs/reliability.md does, and it records every request it parses.
 */

/** A request as this file's assertions look at it: every Host value in order, and the body's length. */
interface Seen {
  method: string;
  url: string;
  host: string[];
  body: number;
}

interface Recorder {
  ip: string;
  port: number;
  /** the requests the backend parsed, in arrival order */
  readonly seen: Seen[];
  close(): Promise<void>;
}

/** The shared recording backend (recorder.ts), seen through this file's Seen. */
async function startRecorder(ip: string): Promise<Recorder> {
  const recorder = await startRecording(ip);
  return {
    ip,
    port: recorder.port,
    get seen() {
      return recorder.seen.map((x) => ({
        method: x.method,
        url: x.url,
        host: x.headers.filter(([name]) => name === "host").map(([, value]) => value),
        body: x.body.length,
      }));
    },
    close: () => recorder.close(),
  };
}

type Transport = "http" | "tls";

/** Every response status in what the server sent, in order. */
const statuses = (data: string) => [...data.matchAll(/HTTP\/1\.[01] (\d{3}) /g)].map((m) => m[1]);

const WHITELIST = { "nginx.ingress.kubernetes.io/whitelist-source-range": "10.0.0.0/8" };

// Backends of this file: 127.245.9.x
describe("ingress plane: hostile input to the generic path and the HTTPS listener", () => {
  let backend: Recorder;
  let ws: Backend;
  let h: Harness;

  beforeAll(async () => {
    backend = await startRecorder("127.245.9.1");
    ws = await startBackend("ws", "127.245.9.3");
    h = await startIngress(
      [
        service("default", "web", [{ name: "http", port: 80 }]),
        ...slicesFor("default", "web", "http", [backend]),
        ingress("default", "web", {
          rules: [
            rule("h.com", [
              { path: "/", service: "web", port: 80 },
              { path: "/public", service: "web", port: 80 },
            ]),
            rule("other.com", [{ path: "/", service: "web", port: 80 }]),
          ],
        }),
        service("default", "ws", [{ name: "http", port: 80 }]),
        ...slicesFor("default", "ws", "http", [ws]),
        ingress("default", "ws", { rules: [rule("ws.com", [{ path: "/", service: "ws", port: 80 }])] }),
        // /admin answers 403 to 127.0.0.1 by itself: any request reaching the backend there is a bypass
        ingress(
          "default",
          "admin",
          { rules: [rule("h.com", [{ path: "/admin", service: "web", port: 80 }])] },
          WHITELIST,
        ),
      ],
      { limits: { headersTimeoutMs: 2_000, connectionsCheckingIntervalMs: 100 } },
    );
  });

  afterAll(async () => {
    await h?.close();
    await backend?.close();
    await ws?.close();
  });

  const port = (t: Transport) => (t === "tls" ? h.httpsPort : h.httpPort);

  /** Sends the bytes; returns what came back, whether the server closed, and what the backend parsed meanwhile. */
  async function exchange(t: Transport, bytes: string, ms = 1_500) {
    const before = backend.seen.length;
    const { data, closed } = await rawExchange(port(t), [bytes], { tls: t === "tls", ms });
    return { data, closed, seen: backend.seen.slice(before) };
  }

  /** A plain request still gets its 200: the process and the listener survived. */
  async function stillServes(t: Transport): Promise<void> {
    const { data } = await exchange(t, "GET /alive HTTP/1.1\r\nHost: h.com\r\nConnection: close\r\n\r\n");
    expect(statuses(data)).toEqual(["200"]);
  }

  const SECRET =
    "GET /admin/secret HTTP/1.1\r\nHost: h.com\r\nX-Real-IP: 10.0.0.1\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n";
  const OTHER_HOST = "GET /elsewhere HTTP/1.1\r\nHost: other.com\r\nConnection: close\r\n\r\n";

  describe.each(["http", "tls"] as const)("over %s", (t) => {
    // B: an HTTP/1 request line naming HTTP/2.0 (or any version but 1.0/1.1) is refused, never crashes
    it.each([
      ["POST with a body", "POST /v20 HTTP/2.0\r\nHost: h.com\r\nContent-Length: 5\r\n\r\nhello"],
      ["GET off the fast path", "GET /v20 HTTP/2.0\r\nHost: h.com\r\nConnection: x-foo\r\n\r\n"],
      ["plain GET", "GET /v20 HTTP/2.0\r\nHost: h.com\r\n\r\n"],
      ["HTTP/0.9", "GET /v09 HTTP/0.9\r\nHost: h.com\r\n\r\n"],
      ["Upgrade", "GET /v20 HTTP/2.0\r\nHost: h.com\r\nConnection: Upgrade\r\nUpgrade: x\r\n\r\n"],
    ])("B: HTTP/2.0 in an HTTP/1 request line, %s → 505 and close", async (_name, bytes) => {
      const r = await exchange(t, bytes);
      expect(statuses(r.data)).toEqual(["505"]);
      expect(r.closed).toBe(true);
      expect(r.seen).toEqual([]);
      await stillServes(t);
    });

    // C: no tunnel without a 101: the backend's 200 is relayed and the connection closed, so what follows is
    // never piped to the backend past the routing and the /admin whitelist
    it.each([
      ["a request for /admin", SECRET],
      ["a request for another Host", OTHER_HOST],
    ])("C: Upgrade answered 200, then %s → 200 and close, nothing else reaches the backend", async (_n, next) => {
      const r = await exchange(
        t,
        `GET /ws HTTP/1.1\r\nHost: h.com\r\nConnection: Upgrade\r\nUpgrade: x\r\n\r\n${next}`,
      );
      // either the connection closed after the 200, or the next request was routed on its own (403 for /admin)
      const s = statuses(r.data);
      expect(s[0]).toBe("200");
      if (next === SECRET) expect(s.slice(1).every((code) => code === "403")).toBe(true);
      expect(r.closed).toBe(true);
      expect(r.seen.map((x) => x.url)).toEqual(
        next === SECRET ? ["/ws"] : s.length > 1 ? ["/ws", "/elsewhere"] : ["/ws"],
      );
      await stillServes(t);
    });

    it("C: Upgrade answered 101 is tunnelled, with the bytes sent right behind the request", async () => {
      const payload = Buffer.from("hi");
      const mask = [1, 2, 3, 4];
      // rawExchange writes strings: every byte stays ASCII by leaving the FIN and mask bits unset (the echo
      // backend reads a text frame and its mask whatever those bits say)
      const frame = Buffer.from([0x01, payload.length, ...mask, ...payload.map((b, i) => b ^ mask[i % 4]!)]);
      const { data } = await rawExchange(
        port(t),
        [
          `GET /chat HTTP/1.1\r\nHost: ws.com\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n${frame.toString("latin1")}`,
        ],
        { tls: t === "tls", ms: 800 },
      );
      expect(statuses(data)).toEqual(["101"]);
      expect(data).toMatch(/\r\nX-Backend: ws\r\n/);
      expect(data).toContain("ws:hi");
    });

    it("a tunnel whose client has ended is closed within the linger time, even if the backend keeps its half", async () => {
      // the echo backend never ends its half (http.Server sockets allow half-open): without a bound, the proxy's
      // side of the client connection would sit in CLOSE-WAIT for good
      const { data, closed } = await rawExchange(
        port(t),
        [
          "GET /chat HTTP/1.1\r\nHost: ws.com\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        ],
        { tls: t === "tls", halfClose: true, gapMs: 100, ms: 8_000 },
      );
      expect(statuses(data)).toEqual(["101"]);
      expect(closed).toBe(true);
    }, 15_000);

    // D: an Upgrade request's body is never dropped (and never read by the backend as the next request)
    it.each([
      ["Content-Length", "Content-Length: 5\r\n\r\nhello"],
      ["chunked", "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"],
    ])("D: Upgrade with a %s body → 400 and close", async (_n, rest) => {
      const r = await exchange(
        t,
        `POST /ws HTTP/1.1\r\nHost: h.com\r\nConnection: Upgrade\r\nUpgrade: x\r\n${rest}${SECRET}`,
      );
      expect(statuses(r.data)).toEqual(["400"]);
      expect(r.closed).toBe(true);
      expect(r.seen).toEqual([]);
      await stillServes(t);
    });

    // E: one Host; Connection cannot strip it
    it("E: two Host headers → 400 and close, nothing forwarded", async () => {
      const r = await exchange(t, "GET /dup HTTP/1.1\r\nHost: h.com\r\nHost: other.com\r\nX-A: 1\r\n\r\n");
      expect(statuses(r.data)).toEqual(["400"]);
      expect(r.closed).toBe(true);
      expect(r.seen).toEqual([]);
    });

    it.each([
      ["keep-alive, Host", "GET /keep HTTP/1.1\r\nHost: h.com\r\nConnection: keep-alive, Host\r\n\r\n"],
      [
        "Host, Content-Length",
        "POST /keep HTTP/1.1\r\nHost: h.com\r\nConnection: Host, Content-Length\r\nContent-Length: 2\r\n\r\nhi",
      ],
    ])("E: Connection: %s never strips Host (or the framing)", async (_n, bytes) => {
      const r = await exchange(t, bytes, 800);
      expect(statuses(r.data)).toEqual(["200"]);
      expect(r.seen).toHaveLength(1);
      expect(r.seen[0]!.host).toEqual(["h.com"]);
      expect(r.seen[0]!.body).toBe(bytes.startsWith("POST") ? 2 : 0);
    });

    // G: TRACE is refused as nginx does
    it.each([
      ["TRACE", "TRACE /trace HTTP/1.1\r\nHost: h.com\r\n\r\n"],
      ["TRACE off the fast path", "TRACE /trace HTTP/1.1\r\nHost: h.com\r\nConnection: x-foo\r\n\r\n"],
    ])("G: %s → 405, nothing forwarded", async (_n, bytes) => {
      const r = await exchange(t, bytes, 800);
      expect(statuses(r.data)).toEqual(["405"]);
      expect(r.seen).toEqual([]);
    });

    // G: the route matched is the path the backend resolves
    it.each([
      ["/public/..%2fadmin/x", "400", undefined],
      ["/public/..%2Fadmin/x", "400", undefined],
      ["/public/..%5cadmin/x", "400", undefined],
      ["/public/..\\admin/x", "400", undefined],
      ["/admin;x/y", "403", undefined],
      ["/public/..;/admin/y", "403", undefined],
      // (a guard, not a hostile case: the matched route's path is only for matching, the request goes as sent)
      ["/public;x/y", "200", "/public;x/y"],
    ])("G: path %s → %s", async (path, expected, forwarded) => {
      const r = await exchange(t, `GET ${path} HTTP/1.1\r\nHost: h.com\r\n\r\n`, 800);
      expect(statuses(r.data)).toEqual([expected]);
      expect(r.seen.map((x) => x.url)).toEqual(forwarded === undefined ? [] : [forwarded]);
    });
  });

  describe("HTTP/2", () => {
    async function h2request(headers: OutgoingHttpHeaders, body?: string) {
      const before = backend.seen.length;
      const session = h2connect(`https://127.0.0.1:${h.httpsPort}`, { rejectUnauthorized: false, servername: "h.com" });
      session.on("error", () => undefined);
      try {
        const result = await new Promise<{ status: number; text: string }>((resolve, reject) => {
          const stream = session.request(headers, { endStream: body === undefined });
          stream.on("error", reject);
          let status = 0;
          let text = "";
          stream.on("response", (hs: IncomingHttpHeaders) => {
            status = Number(hs[":status"]);
          });
          stream.on("data", (c: Buffer) => {
            text += c.toString();
          });
          stream.on("end", () => resolve({ status, text }));
          if (body !== undefined) stream.end(body);
        });
        return { ...result, seen: backend.seen.slice(before) };
      } finally {
        session.close();
      }
    }

    it("E: :authority wins: a conflicting host header → 400, nothing forwarded", async () => {
      const r = await h2request({ ":method": "GET", ":path": "/h2", ":authority": "h.com", host: "other.com" });
      expect(r.status).toBe(400);
      expect(r.seen).toEqual([]);
    });

    it("E: a host header equal to :authority is forwarded once", async () => {
      const r = await h2request({ ":method": "GET", ":path": "/h2", ":authority": "h.com", host: "h.com" });
      expect(r.status).toBe(200);
      expect(r.seen.map((x) => x.host)).toEqual([["h.com"]]);
    });

    it("E: HTTP/2 POST with a body still reaches the backend whole", async () => {
      const r = await h2request({ ":method": "POST", ":path": "/h2post", ":authority": "h.com" }, "hello");
      expect(r.status).toBe(200);
      expect(r.seen.map((x) => x.body)).toEqual([5]);
    });

    it("G: TRACE → 405", async () => {
      const r = await h2request({ ":method": "TRACE", ":path": "/trace", ":authority": "h.com" });
      expect(r.status).toBe(405);
      expect(r.seen).toEqual([]);
    });

    it.each([
      ["/public/..%2fadmin/x", 400],
      ["/admin;x/y", 403],
    ])("G: path %s → %s", async (path, expected) => {
      const r = await h2request({ ":method": "GET", ":path": path, ":authority": "h.com" });
      expect(r.status).toBe(expected);
      expect(r.seen).toEqual([]);
    });
  });

  describe("containment", () => {
    it("an error event on a listener after listening (an accept failing) is logged, never thrown", () => {
      for (const server of [h.plane.httpListener!, h.plane.https!])
        expect(() => server.emit("error", Object.assign(new Error("accept EMFILE"), { code: "EMFILE" }))).not.toThrow();
    });

    it.each(["http", "tls", "h2"] as const)(
      "a fault inside the request handler (%s) answers 500, counts it, and the process serves on",
      async (t) => {
        const real = h.plane.proxy.matcher;
        const broken = {
          match() {
            throw new Error("injected fault");
          },
        } as unknown as Matcher<RouteRuntime>;
        const counter = async () =>
          (await h.registry.getSingleMetric("nodeplane_ingress_request_faults_total")?.get())?.values.reduce(
            (n, v) => n + v.value,
            0,
          ) ?? 0;
        const before = await counter();
        h.plane.proxy.matcher = broken;
        try {
          if (t === "h2") {
            const session = h2connect(`https://127.0.0.1:${h.httpsPort}`, { rejectUnauthorized: false });
            session.on("error", () => undefined);
            const status = await new Promise<number>((resolve) => {
              const stream = session.request({ ":path": "/fault", ":authority": "h.com" });
              stream.on("response", (hs: IncomingHttpHeaders) => resolve(Number(hs[":status"])));
              stream.on("error", () => resolve(-1));
            });
            session.destroy();
            expect(status).toBe(500);
          } else {
            // a body keeps the request off the plain listener's fast path (which matches routes itself)
            const r = await exchange(t, "POST /fault HTTP/1.1\r\nHost: h.com\r\nContent-Length: 2\r\n\r\nhi", 800);
            expect(statuses(r.data)).toEqual(["500"]);
            const u = await exchange(
              t,
              "GET /fault HTTP/1.1\r\nHost: h.com\r\nConnection: Upgrade\r\nUpgrade: x\r\n\r\n",
              800,
            );
            expect(statuses(u.data)).toEqual(["500"]);
            expect(u.closed).toBe(true);
          }
        } finally {
          h.plane.proxy.matcher = real;
        }
        expect(await counter()).toBeGreaterThan(before);
        await stillServes("http");
      },
    );
  });
});

describe("ingress plane: --allow-escaped-slashes keeps %2F and %5C unchanged", () => {
  let backend: Recorder;
  let h: Harness;

  beforeAll(async () => {
    backend = await startRecorder("127.245.9.2");
    h = await startIngress(
      [
        service("default", "web", [{ name: "http", port: 80 }]),
        ...slicesFor("default", "web", "http", [backend]),
        ingress("default", "web", { rules: [rule("h.com", [{ path: "/public", service: "web", port: 80 }])] }),
      ],
      { flags: ["--allow-escaped-slashes"] },
    );
  });

  afterAll(async () => {
    await h?.close();
    await backend?.close();
  });

  it.each(["http", "tls"] as const)("over %s the path is routed as one segment and forwarded as sent", async (t) => {
    const before = backend.seen.length;
    const { data } = await rawExchange(
      t === "tls" ? h.httpsPort : h.httpPort,
      ["GET /public/a%2Fb%5cc HTTP/1.1\r\nHost: h.com\r\nConnection: close\r\n\r\n"],
      { tls: t === "tls" },
    );
    expect(statuses(data)).toEqual(["200"]);
    expect(backend.seen.slice(before).map((x) => x.url)).toEqual(["/public/a%2Fb%5cc"]);
  });
});
