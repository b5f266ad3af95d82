import { Agent, request as httpRequest } from "node:http";
import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { HttpRouteRule } from "../../../src/snapshot/gateway.ts";
import {
  backend,
  freePort,
  type GatewayHarness,
  httpSocket,
  invalidBackend,
  rule,
  startGateway,
  vhost,
} from "./gateway-harness.ts";
import { curl } from "./harness.ts";
import { header, type Recorder, startRecorder } from "./recorder.ts";

/**
 * Gateway HTTP sockets on the ingress plane's stack, through real sockets: filters byte for byte as the
 * backend (a recorder) or the client (curl, raw sockets) sees them, weights, the specification's 500s,
 * timeouts, the fast path. Cases ported from the Gateway API conformance tests name the test.
 */

const agent = new Agent({ keepAlive: true, maxSockets: 8 });

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  raw: string[];
  body: string;
}

function get(port: number, path: string, headers: Record<string, string> = {}, method = "GET"): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: "127.0.0.1", port, path, method, headers: { host: "example.com", ...headers }, agent, setHost: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            raw: res.rawHeaders,
            body: Buffer.concat(chunks).toString(),
          }),
        );
      },
    );
    req.on("error", reject);
    req.end();
  });
}

/** Sends raw bytes and returns everything the server wrote until it closed (or `ms`). */
function raw(port: number, bytes: string, ms = 1500): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    let out = "";
    socket.on("data", (d: Buffer) => {
      out += d.toString("latin1");
    });
    const timer = setTimeout(() => socket.destroy(), ms);
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(out);
    });
    socket.on("error", () => undefined);
    socket.write(bytes);
  });
}

let h: GatewayHarness;
let a: Recorder;
let b: Recorder;
let port: number;

beforeAll(async () => {
  h = await startGateway();
  a = await startRecorder("127.0.0.1");
  b = await startRecorder("127.0.0.1");
  port = await freePort();
});

afterAll(async () => {
  agent.destroy();
  await h.close();
  await a.close();
  await b.close();
});

/** Serves `rules` on the shared socket, for the one host example.com. */
function serveExample(rules: HttpRouteRule[]): Promise<unknown> {
  return h.serve([httpSocket(port, [vhost("example.com", rules)])]);
}

describe("virtual hosts and rules", () => {
  it("routes by host (exact, multi-label wildcard, catch-all) and by rule precedence order", async () => {
    await h.serve([
      httpSocket(port, [
        vhost("example.com", [
          rule({ name: "exact", path: { type: "Exact", value: "/x" }, backends: [backend(a.port)] }),
          rule({ name: "prefix", path: { type: "PathPrefix", value: "/x" }, backends: [backend(b.port)] }),
        ]),
        vhost("*.wild.test", [rule({ name: "wild", backends: [backend(b.port)] })]),
        vhost("", [rule({ name: "any", path: { type: "Exact", value: "/only" }, backends: [backend(a.port)] })]),
      ]),
    ]);
    a.reset();
    b.reset();
    expect((await get(port, "/x")).status).toBe(200);
    expect(a.seen.map((s) => s.url)).toEqual(["/x"]);
    expect((await get(port, "/x/y")).status).toBe(200);
    expect((await get(port, "/x/")).status).toBe(200);
    expect((await get(port, "/xy")).status).toBe(404);
    expect(b.seen.map((s) => s.url)).toEqual(["/x/y", "/x/"]);
    // `*.wild.test` matches one or more labels, never the bare suffix
    expect((await get(port, "/a", { host: "a.wild.test" })).status).toBe(200);
    expect((await get(port, "/a", { host: "a.b.wild.test:80" })).status).toBe(200);
    expect((await get(port, "/only", { host: "wild.test" })).status).toBe(200);
    expect((await get(port, "/a", { host: "wild.test" })).status).toBe(404);
    expect((await get(port, "/only", { host: "other.test" })).status).toBe(200);
    expect((await get(port, "/nope", { host: "other.test" })).status).toBe(404);
  });

  it("matches method, headers (any case, all of them) and query parameters (conformance HTTPRouteHeaderMatching, HTTPRouteQueryParamMatching, HTTPRouteMethodMatching)", async () => {
    await serveExample([
      rule({
        name: "hdr",
        headers: [
          { name: "version", type: "Exact", value: "one" },
          { name: "color", type: "RegularExpression", value: "or.nge|red" },
        ],
        backends: [backend(a.port)],
      }),
      rule({
        name: "query",
        queryParams: [{ name: "animal", type: "Exact", value: "whale" }],
        backends: [backend(a.port)],
      }),
      rule({ name: "post", method: "POST", backends: [backend(a.port)] }),
      rule({ name: "rest", path: { type: "Exact", value: "/never" }, backends: [backend(b.port)] }),
    ]);
    a.reset();
    expect((await get(port, "/", { Version: "one", COLOR: "orange" })).status).toBe(200);
    expect((await get(port, "/", { version: "one" })).status).toBe(404);
    expect((await get(port, "/", { version: "one", color: "redd" })).status).toBe(404);
    expect((await get(port, "/?animal=whale")).status).toBe(200);
    expect((await get(port, "/?animal=dolphin&x=whale")).status).toBe(404);
    expect((await get(port, "/?a=1&animal=wh%61le")).status).toBe(200);
    expect((await get(port, "/", {}, "POST")).status).toBe(200);
    expect(a.seen.length).toBe(4);
  });
});

describe("filters", () => {
  it("RequestHeaderModifier set/add/remove reaches the backend exactly (conformance HTTPRouteRequestHeaderModifier)", async () => {
    await serveExample([
      rule({
        filters: [
          {
            type: "RequestHeaderModifier",
            modifier: {
              set: [["x-header-set", "set-overwrites-values"]],
              add: [
                ["x-header-add", "header-val-1"],
                ["x-header-add-append", "header-val-2"],
              ],
              remove: ["x-header-remove"],
            },
          },
        ],
        backends: [backend(a.port)],
      }),
    ]);
    a.reset();
    const answer = await get(port, "/mod", {
      "X-Header-Set": "some-other-value",
      "X-Header-Add-Append": "append-val-1",
      "X-Header-Remove": "val",
    });
    expect(answer.status).toBe(200);
    const seen = a.seen[0]!;
    expect(header(seen, "x-header-set")).toEqual({ value: "set-overwrites-values", count: 1 });
    expect(header(seen, "x-header-add")).toEqual({ value: "header-val-1", count: 1 });
    expect(seen.headers.filter(([n]) => n === "x-header-add-append").map(([, v]) => v)).toEqual([
      "append-val-1",
      "header-val-2",
    ]);
    expect(header(seen, "x-header-remove").count).toBe(0);
    // X-Forwarded-* as for Ingress routes
    expect(header(seen, "x-forwarded-for").value).toBe("127.0.0.1");
    expect(header(seen, "x-forwarded-host").value).toBe("example.com");
  });

  it("ResponseHeaderModifier changes what the client gets (conformance HTTPRouteResponseHeaderModifier)", async () => {
    await serveExample([
      rule({
        filters: [
          {
            type: "ResponseHeaderModifier",
            modifier: { set: [["content-type", "text/x-set"]], add: [["x-added", "1"]], remove: ["x-none"] },
          },
        ],
        backends: [backend(a.port)],
      }),
    ]);
    const answer = await get(port, "/r");
    expect(answer.status).toBe(200);
    expect(answer.headers["content-type"]).toBe("text/x-set");
    expect(answer.headers["x-added"]).toBe("1");
    expect(answer.headers.server).toBe("nodeplane");
    // the same bytes from the fast path (no body) and from the generic path (a request with a body)
    const served = () => h.plane.gateway!.fastPathServed(`127.0.0.1:${port}`);
    const before = served();
    const fast = await raw(port, "GET /r HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n");
    expect(served()).toBe(before + 1);
    const generic = await raw(
      port,
      "POST /r HTTP/1.1\r\nHost: example.com\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi",
    );
    expect(served()).toBe(before + 1);
    for (const out of [fast, generic]) {
      const head = out.slice(0, out.indexOf("\r\n\r\n")).toLowerCase().split("\r\n");
      expect(head.filter((l) => l.startsWith("content-type:"))).toEqual(["content-type: text/x-set"]);
      expect(head.filter((l) => l.startsWith("x-added:"))).toEqual(["x-added: 1"]);
    }
  });

  it("RequestRedirect Location by scheme, hostname, port and path rules (conformance HTTPRouteRedirectPortAndScheme, HTTPRouteRedirectPath, HTTPRouteRedirectHostAndStatus)", async () => {
    await h.serve([
      httpSocket(port, [
        vhost("example.org", [
          rule({
            path: { type: "PathPrefix", value: "/scheme-nil-and-port-nil" },
            filters: [{ type: "RequestRedirect", statusCode: 302 }],
          }),
          rule({
            path: { type: "PathPrefix", value: "/scheme-nil-and-port-80" },
            filters: [{ type: "RequestRedirect", port: 80, statusCode: 302 }],
          }),
          rule({
            path: { type: "PathPrefix", value: "/scheme-https-and-port-nil" },
            filters: [{ type: "RequestRedirect", scheme: "https", statusCode: 302 }],
          }),
          rule({
            path: { type: "PathPrefix", value: "/scheme-https-and-port-8443" },
            filters: [{ type: "RequestRedirect", scheme: "https", port: 8443, statusCode: 302 }],
          }),
          rule({
            path: { type: "PathPrefix", value: "/original-prefix" },
            filters: [
              {
                type: "RequestRedirect",
                path: { type: "ReplacePrefixMatch", value: "/replacement-prefix" },
                statusCode: 302,
              },
            ],
          }),
          rule({
            path: { type: "PathPrefix", value: "/full-path-and-host" },
            filters: [
              {
                type: "RequestRedirect",
                hostname: "example.net",
                path: { type: "ReplaceFullPath", value: "/replacement-full" },
                statusCode: 301,
              },
            ],
          }),
        ]),
      ]),
    ]);
    const cases: [string, number, string][] = [
      ["/scheme-nil-and-port-nil", 302, `http://example.org:${port}/scheme-nil-and-port-nil`],
      ["/scheme-nil-and-port-80", 302, "http://example.org/scheme-nil-and-port-80"],
      ["/scheme-https-and-port-nil", 302, "https://example.org/scheme-https-and-port-nil"],
      ["/scheme-https-and-port-8443", 302, "https://example.org:8443/scheme-https-and-port-8443"],
      ["/original-prefix/lemon?x=1", 302, `http://example.org:${port}/replacement-prefix/lemon?x=1`],
      ["/full-path-and-host/x", 301, `http://example.net:${port}/replacement-full`],
    ];
    for (const [path, status, location] of cases) {
      const out = await curl([
        "-o",
        "/dev/null",
        "-w",
        "%{http_code} %{redirect_url}",
        "-H",
        "Host: example.org",
        `http://127.0.0.1:${port}${path}`,
      ]);
      expect(out.stdout, path).toBe(`${status} ${location}`);
    }
  });

  it("URLRewrite hostname and path as the backend sees them (conformance HTTPRouteRewritePath, HTTPRouteRewriteHost)", async () => {
    await serveExample([
      rule({
        path: { type: "PathPrefix", value: "/prefix/one" },
        filters: [{ type: "URLRewrite", path: { type: "ReplacePrefixMatch", value: "/one" } }],
        backends: [backend(a.port)],
      }),
      rule({
        path: { type: "PathPrefix", value: "/strip-prefix" },
        filters: [{ type: "URLRewrite", path: { type: "ReplacePrefixMatch", value: "/" } }],
        backends: [backend(a.port)],
      }),
      rule({
        path: { type: "PathPrefix", value: "/full/one" },
        filters: [
          { type: "URLRewrite", hostname: "one.example.org", path: { type: "ReplaceFullPath", value: "/one" } },
        ],
        backends: [backend(a.port)],
      }),
    ]);
    a.reset();
    for (const path of ["/prefix/one/two", "/strip-prefix/three", "/strip-prefix", "/full/one/two?q=1"])
      expect((await get(port, path)).status).toBe(200);
    expect(a.seen.map((s) => s.url)).toEqual(["/one/two", "/three", "/", "/one?q=1"]);
    expect(header(a.seen[3]!, "host").value).toBe("one.example.org");
    expect(header(a.seen[3]!, "x-forwarded-host").value).toBe("example.com");
  });
});

describe("backends", () => {
  it("splits 1,000 requests 1:3 by weight within binomial bounds; weight 0 never (conformance HTTPRouteWeight)", async () => {
    const c = await startRecorder("127.0.0.1");
    await serveExample([
      rule({
        backends: [backend(a.port, { weight: 1 }), backend(b.port, { weight: 3 }), backend(c.port, { weight: 0 })],
      }),
    ]);
    a.reset();
    b.reset();
    for (let i = 0; i < 1000; i += 10) {
      const batch = await Promise.all(Array.from({ length: 10 }, (_, j) => get(port, `/w${i + j}`)));
      for (const answer of batch) expect(answer.status).toBe(200);
    }
    // n = 1000, p = 1/4: σ = √(n p (1-p)) ≈ 13.7; ±4σ
    expect(Math.abs(a.seen.length - 250)).toBeLessThanOrEqual(55);
    expect(a.seen.length + b.seen.length).toBe(1000);
    expect(c.seen.length).toBe(0);
    await c.close();
  });

  it("answers 500 with no backends, all weights 0, or an invalid reference; 503 with no endpoints", async () => {
    const empty = backend(a.port);
    await serveExample([
      rule({ path: { type: "Exact", value: "/none" }, backends: [] }),
      rule({ path: { type: "Exact", value: "/zero" }, backends: [backend(a.port, { weight: 0 })] }),
      rule({ path: { type: "Exact", value: "/invalid" }, backends: [invalidBackend()] }),
      rule({
        path: { type: "Exact", value: "/noendpoints" },
        backends: [{ ...empty, target: { ...empty.target!, id: "default/empty:80", endpoints: [] } }],
      }),
    ]);
    expect((await get(port, "/none")).status).toBe(500);
    expect((await get(port, "/zero")).status).toBe(500);
    expect((await get(port, "/invalid")).status).toBe(500);
    expect((await get(port, "/noendpoints")).status).toBe(503);
  });

  it("timeouts.request answers 504 for a slow backend (conformance HTTPRouteTimeoutRequest)", async () => {
    await serveExample([
      rule({
        path: { type: "PathPrefix", value: "/slow" },
        timeouts: { requestMs: 200 },
        backends: [backend(a.port)],
      }),
      rule({
        path: { type: "PathPrefix", value: "/backend" },
        timeouts: { backendRequestMs: 200 },
        backends: [backend(a.port)],
      }),
    ]);
    expect((await get(port, "/slow?ms=1000")).status).toBe(504);
    expect((await get(port, "/slow?ms=0")).status).toBe(200);
    expect((await get(port, "/backend?ms=1000")).status).toBe(504);
  });
});

describe("RequestMirror, h2c and WebSocket backends", () => {
  it("mirrors a request with its body to the mirror backend; the real one answers (conformance HTTPRouteRequestMirror)", async () => {
    const mirror = await startRecorder("127.0.0.1");
    await serveExample([
      rule({
        filters: [
          {
            type: "RequestMirror",
            backend: {
              id: "m",
              namespace: "default",
              service: "m",
              port: 80,
              endpoints: [{ ip: "127.0.0.1", port: mirror.port }],
            },
            appProtocol: "http",
            percent: 100,
          },
        ],
        backends: [backend(a.port)],
      }),
    ]);
    a.reset();
    const out = await curl([
      "-H",
      "Host: example.com",
      "--data-binary",
      "hello mirror",
      `http://127.0.0.1:${port}/m?x=1`,
    ]);
    expect(out.stdout).toBe("POST /m?x=1 12\n");
    for (let i = 0; i < 50 && !mirror.seen[0]?.complete; i++) await new Promise((r) => setTimeout(r, 20));
    expect(mirror.seen.map((s) => [s.method, s.url, s.body])).toEqual([["POST", "/m?x=1", "hello mirror"]]);
    expect(a.seen.map((s) => s.body)).toEqual(["hello mirror"]);
    await mirror.close();
  });

  it("carries requests to an h2c backend over HTTP/2 prior knowledge", async () => {
    const { createServer } = await import("node:http2");
    const seen: Record<string, string | string[] | undefined>[] = [];
    const server = createServer((req, res) => {
      seen.push(req.headers);
      res.writeHead(200, { "content-type": "text/plain" });
      res.end(`h2c ${req.httpVersion} ${req.url}`);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
    const h2cPort = (server.address() as { port: number }).port;
    await serveExample([
      rule({
        filters: [{ type: "RequestHeaderModifier", modifier: { set: [["x-h2c", "yes"]], add: [], remove: [] } }],
        backends: [backend(h2cPort, { appProtocol: "h2c" })],
      }),
    ]);
    const out = await curl(["-H", "Host: example.com", `http://127.0.0.1:${port}/svc/Method`]);
    expect(out.stdout).toBe("h2c 2.0 /svc/Method");
    expect(seen[0]![":authority"]).toBe("example.com");
    expect(seen[0]!["x-h2c"]).toBe("yes");
    expect(seen[0]!["x-forwarded-for"]).toBe("127.0.0.1");
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it("upgrades to a WebSocket backend through the upgrade path, with the rule's filters", async () => {
    const { startBackend } = await import("./harness.ts");
    const ws = await startBackend("ws", "127.0.0.1");
    await serveExample([
      rule({
        filters: [{ type: "URLRewrite", path: { type: "ReplaceFullPath", value: "/socket" } }],
        backends: [backend(ws.port, { appProtocol: "ws" })],
      }),
    ]);
    const out = await raw(
      port,
      "GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
      500,
    );
    expect(out).toMatch(/^HTTP\/1\.1 101 /);
    expect(out).toMatch(/x-backend: ws/i);
    await ws.close();
  });
});

describe("fast path", () => {
  it("serves a rule with a header match and a RequestHeaderModifier on the fast path", async () => {
    await serveExample([
      rule({
        headers: [{ name: "x-go", type: "Exact", value: "yes" }],
        filters: [{ type: "RequestHeaderModifier", modifier: { set: [["x-set", "1"]], add: [], remove: [] } }],
        backends: [backend(a.port)],
      }),
    ]);
    a.reset();
    const served = () => h.plane.gateway!.fastPathServed(`127.0.0.1:${port}`);
    const before = served();
    const out = await raw(
      port,
      "GET /fast HTTP/1.1\r\nHost: example.com\r\nX-Go: yes\r\nX-Set: 0\r\nConnection: close\r\n\r\n",
    );
    expect(out).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(a.seen[0]!.headers.filter(([n]) => n === "x-set")).toEqual([["x-set", "1"]]);
    expect(served()).toBe(before + 1);
    // no rule matches: the generic path answers 404
    const miss = await raw(port, "GET /fast HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n");
    expect(miss).toMatch(/^HTTP\/1\.1 404 /);
    expect(served()).toBe(before + 1);
  });
});

describe("access log", () => {
  it("names the Route and the rule, and the metrics label the Route", async () => {
    const { pino } = await import("pino");
    const lines: Record<string, unknown>[] = [];
    const logger = pino(
      { level: "debug" },
      { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) },
    );
    const logged = await startGateway([], { logger });
    try {
      const logPort = await freePort();
      await logged.serve([
        httpSocket(logPort, [
          vhost("example.com", [
            rule({
              name: "shop",
              rule: 2,
              match: 1,
              path: { type: "PathPrefix", value: "/shop" },
              backends: [backend(a.port)],
            }),
          ]),
        ]),
      ]);
      expect((await get(logPort, "/shop/x")).status).toBe(200);
      const access = lines.filter((l) => l.access === true);
      expect(access).toHaveLength(1);
      expect(access[0]).toMatchObject({
        ingress: "default/HTTPRoute/shop",
        rule: "HTTPRoute default/shop rule 2 match 1",
        status: 200,
        uri: "/shop/x",
      });
      const metrics = await logged.registry.metrics();
      expect(metrics).toMatch(
        /nginx_ingress_controller_requests\{ingress="HTTPRoute\/shop",namespace="default",service="svc-\d+",host="example.com",path="\/shop",status="200",method="GET"\} 1/,
      );
    } finally {
      await logged.close();
    }
  });
});

describe("hostile", () => {
  it("a redirect or rewrite value that would put CR/LF or a space into a head makes its rule answer 500, the others serve", async () => {
    await serveExample([
      rule({
        path: { type: "PathPrefix", value: "/redirect" },
        filters: [{ type: "RequestRedirect", hostname: "evil.test\r\nSet-Cookie: x=1", statusCode: 302 }],
      }),
      rule({
        path: { type: "PathPrefix", value: "/rewrite" },
        filters: [{ type: "URLRewrite", path: { type: "ReplaceFullPath", value: "/a b\r\nx: 1" } }],
        backends: [backend(a.port)],
      }),
      rule({ path: { type: "PathPrefix", value: "/" }, backends: [backend(a.port)] }),
    ]);
    a.reset();
    const redirect = await raw(port, "GET /redirect HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n");
    expect(redirect).toMatch(/^HTTP\/1\.1 500 /);
    expect(redirect.toLowerCase()).not.toContain("set-cookie");
    expect((await get(port, "/rewrite")).status).toBe(500);
    expect((await get(port, "/fine")).status).toBe(200);
    expect(a.seen.map((x) => x.url)).toEqual(["/fine"]);
  });

  it("never writes a CR/LF from a header modifier value, and the request boundaries stay", async () => {
    await serveExample([
      rule({
        filters: [
          {
            type: "RequestHeaderModifier",
            modifier: {
              set: [
                ["x-evil", "a\r\nx-injected: 1"],
                ["x-good", "ok"],
              ],
              add: [["x-bad\r\nx", "v"]],
              remove: [],
            },
          },
          { type: "ResponseHeaderModifier", modifier: { set: [["x-r", "a\nb"]], add: [], remove: [] } },
        ],
        backends: [backend(a.port)],
      }),
    ]);
    a.reset();
    const out = await raw(
      port,
      "GET /one HTTP/1.1\r\nHost: example.com\r\n\r\nGET /two HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
    );
    expect(out.match(/HTTP\/1\.1 200 OK/g)?.length).toBe(2);
    expect(out).not.toMatch(/x-r:/i);
    expect(a.seen.map((s) => s.url)).toEqual(["/one", "/two"]);
    for (const seen of a.seen) {
      expect(header(seen, "x-injected").count).toBe(0);
      expect(header(seen, "x-evil").count).toBe(0);
      expect(header(seen, "x-good").value).toBe("ok");
    }
  });
});
