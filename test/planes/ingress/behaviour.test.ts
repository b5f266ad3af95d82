import { createServer as createHttpsServer } from "node:https";
import { type AddressInfo, createServer as createTcpServer, type Socket, type Server as TcpServer } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type Backend,
  curl,
  type Harness,
  ingress,
  rule,
  service,
  slice,
  slicesFor,
  startBackend,
  startIngress,
  TEST_CERTIFICATE,
} from "./harness.ts";

// Backends of this file: 127.245.3.x
describe("ingress plane: upstream failures, annotations, WebSocket, status and metrics", () => {
  let a: Backend;
  let b: Backend;
  let tlsBackend: ReturnType<typeof createHttpsServer>;
  let resetter: TcpServer;
  const resetterSockets = new Set<Socket>();
  /** every other connection is cut as soon as a request arrives, as a backend closing a kept-alive connection would */
  let cut = 0;
  let h: Harness;
  const N = "nodeplane.dev/";
  const X = "nginx.ingress.kubernetes.io/";

  beforeAll(async () => {
    a = await startBackend("a", "127.245.3.1");
    b = await startBackend("b", "127.245.3.2");
    tlsBackend = createHttpsServer(TEST_CERTIFICATE, (req, res) => res.end(`tls backend saw ${req.url}`));
    await new Promise<void>((r) => tlsBackend.listen(0, "127.245.3.3", r));
    const tlsPort = (tlsBackend.address() as AddressInfo).port;
    resetter = createTcpServer((socket) => {
      resetterSockets.add(socket);
      socket.on("close", () => resetterSockets.delete(socket));
      socket.on("error", () => undefined);
      const shouldCut = cut++ % 2 === 0;
      socket.once("data", () => {
        if (shouldCut) socket.destroy();
        else socket.end("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
      });
    });
    await new Promise<void>((r) => resetter.listen(0, "127.245.3.4", r));
    const resetPort = (resetter.address() as AddressInfo).port;
    h = await startIngress(
      [
        service("default", "ab", [{ name: "http", port: 80 }]),
        ...slicesFor("default", "ab", "http", [a, b]),
        service("default", "a", [{ name: "http", port: 80 }]),
        ...slicesFor("default", "a", "http", [a]),
        // one dead endpoint (nothing listens on 127.245.3.99) and one live one
        service("default", "flaky", [{ name: "http", port: 80 }]),
        slice("default", "flaky", [{ name: "http", port: a.port }], [{ ip: "127.245.3.99" }], "dead"),
        slice("default", "flaky", [{ name: "http", port: a.port }], [{ ip: "127.245.3.1" }], "live"),
        service("default", "secure", [{ name: "https", port: 443 }]),
        slice("default", "secure", [{ name: "https", port: tlsPort }], [{ ip: "127.245.3.3" }]),
        service("default", "resetter", [{ name: "http", port: 80 }]),
        slice("default", "resetter", [{ name: "http", port: resetPort }], [{ ip: "127.245.3.4" }]),
        ingress("default", "reset", { rules: [rule("reset.com", [{ path: "/", service: "resetter", port: 80 }])] }),
        ingress("default", "main", {
          rules: [
            rule("t.com", [
              { path: "/ab", service: "ab", port: 80 },
              { path: "/flaky", service: "flaky", port: "http" },
            ]),
            // no host: the browser-style WebSocket client sends Host: 127.0.0.1:port
            rule(undefined, [{ path: "/ws", service: "ab", port: 80 }]),
          ],
        }),
        ingress(
          "default",
          "limits",
          { rules: [rule("limits.com", [{ path: "/", service: "a", port: 80 }])] },
          {
            [`${N}proxy-body-size`]: "1k",
            [`${X}proxy-read-timeout`]: "300ms",
          },
        ),
        ingress(
          "default",
          "rewrite",
          { rules: [rule("rw.com", [{ path: "/api", service: "a", port: 80 }])] },
          { [`${X}rewrite-target`]: "/v2/$2" },
        ),
        ingress(
          "default",
          "private",
          { rules: [rule("private.com", [{ path: "/", service: "a", port: 80 }])] },
          { [`${X}whitelist-source-range`]: "10.0.0.0/8" },
        ),
        ingress(
          "default",
          "local",
          { rules: [rule("local.com", [{ path: "/", service: "a", port: 80 }])] },
          { [`${N}whitelist-source-range`]: "127.0.0.0/8" },
        ),
        ingress(
          "default",
          "sticky",
          { rules: [rule("sticky.com", [{ path: "/", service: "ab", port: 80 }])] },
          { [`${N}affinity`]: "cookie", [`${N}session-cookie-name`]: "np" },
        ),
        ingress(
          "default",
          "secure",
          { rules: [rule("secure.com", [{ path: "/", service: "secure", port: "https" }])] },
          { [`${X}backend-protocol`]: "HTTPS" },
        ),
        {
          kind: "Ingress",
          metadata: { namespace: "default", name: "foreign" },
          spec: { ingressClassName: "nginx", rules: [rule("foreign.com", [{ path: "/", service: "a", port: 80 }])] },
        },
      ],
      { flags: ["--publish-address", "192.0.2.7"] },
    );
  });

  afterAll(async () => {
    await h?.close();
    await Promise.all([a?.close(), b?.close()]);
    await new Promise((r) => tlsBackend?.close(r));
    for (const socket of resetterSockets) socket.destroy();
    await new Promise((r) => resetter?.close(r));
  });

  const url = (path: string) => `http://127.0.0.1:${h.httpPort}${path}`;
  const code = async (host: string, path: string, extra: string[] = []) =>
    (await curl(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", `Host: ${host}`, ...extra, url(path)])).stdout;

  it("retries a refused connect on another endpoint", async () => {
    const results = await Promise.all(Array.from({ length: 10 }, () => code("t.com", "/flaky")));
    expect(results).toEqual(Array(10).fill("200"));
  });

  it("sends an idempotent request once more when the upstream cuts the connection, but never a POST", async () => {
    cut = 0;
    expect(await code("reset.com", "/")).toBe("200");
    cut = 0;
    expect(await code("reset.com", "/", ["--data-binary", "x"])).toBe("502");
  });

  it("lets an in-flight request finish when a reconcile removes its endpoint", async () => {
    // rw.com: no proxy-read-timeout (limits.com's 300 ms would rightly cut a 400 ms answer)
    const inFlight = curl(["-s", "-H", "Host: rw.com", url("/api/slow?ms=400")]);
    await new Promise((r) => setTimeout(r, 100));
    const saved = h.store.get("EndpointSlice", "default/a-s0")!;
    h.store.delete("EndpointSlice", "default/a-s0");
    await h.sync();
    expect(await code("limits.com", "/")).toBe("503");
    expect(JSON.parse((await inFlight).stdout).backend).toBe("a");
    h.store.upsert("EndpointSlice", saved);
    await h.sync();
    expect(await code("limits.com", "/")).toBe("200");
  });

  it("answers 502 when every endpoint refuses", async () => {
    await a.close();
    try {
      expect(await code("limits.com", "/")).toBe("502");
    } finally {
      a = await startBackend("a", "127.245.3.1", a.port);
    }
  });

  it("answers 504 when the upstream is slower than the read timeout, and the proxy keeps serving", async () => {
    expect(await code("limits.com", "/slow?ms=2000")).toBe("504");
    expect(await code("limits.com", "/slow?ms=10")).toBe("200");
  });

  it("rejects bodies over proxy-body-size with 413 (Content-Length and chunked)", async () => {
    const big = "x".repeat(2048);
    expect(await code("limits.com", "/", ["--data-binary", big])).toBe("413");
    expect(await code("limits.com", "/", ["--data-binary", big, "-H", "Transfer-Encoding: chunked"])).toBe("413");
    const small = await curl(["-s", "-H", "Host: limits.com", "--data-binary", "x".repeat(512), url("/")]);
    expect(JSON.parse(small.stdout).bodyLength).toBe(512);
    const chunked = await curl([
      "-s",
      "-H",
      "Host: t.com",
      "-H",
      "Transfer-Encoding: chunked",
      "--data-binary",
      "y".repeat(100_000),
      url("/ab"),
    ]);
    expect(JSON.parse(chunked.stdout).bodyLength).toBe(100_000);
  });

  it("rewrites the matched prefix with rewrite-target", async () => {
    const r = await curl(["-s", "-H", "Host: rw.com", url("/api/users/1?x=2")]);
    expect(JSON.parse(r.stdout).url).toBe("/v2/users/1?x=2");
  });

  it("enforces whitelist-source-range with 403", async () => {
    expect(await code("private.com", "/")).toBe("403");
    expect(await code("local.com", "/")).toBe("200");
  });

  it("pins a client to one endpoint with the affinity cookie", async () => {
    const first = await curl(["-s", "-D", "-", "-o", "/dev/null", "-H", "Host: sticky.com", url("/")]);
    const cookie = /set-cookie: (np=[0-9a-f]+)/i.exec(first.stdout)?.[1];
    expect(cookie).toBeDefined();
    const backends = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const r = await curl(["-s", "-H", "Host: sticky.com", "-H", `Cookie: ${cookie}`, url("/")]);
      backends.add(JSON.parse(r.stdout).backend);
    }
    expect(backends.size).toBe(1);
  });

  it("speaks HTTPS to the upstream with backend-protocol HTTPS", async () => {
    const r = await curl(["-s", "-H", "Host: secure.com", url("/x")]);
    expect(r.stdout).toBe("tls backend saw /x");
  });

  it("tunnels a WebSocket both ways", async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${h.httpPort}/ws/socket`);
    await new Promise((res, rej) => {
      ws.onopen = res;
      ws.onerror = rej;
    });
    const reply = new Promise<string>((res) => {
      ws.onmessage = (e) => res(String(e.data));
    });
    ws.send("hello");
    expect(await reply).toMatch(/^[ab]:hello$/);
    ws.close();
  });

  it("writes the ADDRESS of our Ingresses only, and clears it when one leaves our class", async () => {
    expect(h.status.ingressStatus("default", "main")).toEqual([{ ip: "192.0.2.7" }]);
    expect(h.status.ingressStatus("default", "foreign")).toBeUndefined();
    const main = h.store.get("Ingress", "default/main")!;
    h.store.upsert("Ingress", { ...main, spec: { ...main.spec, ingressClassName: "nginx" } });
    await h.sync();
    expect(h.status.ingressStatus("default", "main")).toEqual([]);
    h.store.upsert("Ingress", main);
    await h.sync();
  });

  it("counts requests with ingress-nginx's metric names", async () => {
    await code("rw.com", "/api/x");
    expect(await code("nothing.com", "/nothing")).toBe("404");
    const text = await h.registry.metrics();
    expect(text).toMatch(
      /nginx_ingress_controller_requests\{ingress="rewrite",namespace="default",service="a",host="rw.com",path="\/api",status="200",method="GET"\} \d+/,
    );
    expect(text).toMatch(/nginx_ingress_controller_request_duration_seconds_bucket\{[^}]*ingress="rewrite"/);
    expect(text).toMatch(/nginx_ingress_controller_requests\{ingress="",[^}]*status="404"/);
  });
});
