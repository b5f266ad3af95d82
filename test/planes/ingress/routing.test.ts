import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type Backend,
  curl,
  type Harness,
  ingress,
  rule,
  service,
  slicesFor,
  startBackend,
  startIngress,
} from "./harness.ts";

// Addresses of this file's backends: 127.245.1.x (each test file uses its own third octet).
describe("ingress plane: routing with real clients", () => {
  let s1: Backend[];
  let s2: Backend;
  let h: Harness;

  beforeAll(async () => {
    s1 = await Promise.all([1, 2, 3].map((n) => startBackend(`s1-${n}`, `127.245.1.${n}`)));
    s2 = await startBackend("s2", "127.245.1.10");
    h = await startIngress([
      service("default", "s1", [{ name: "http", port: 80 }]),
      ...slicesFor("default", "s1", "http", s1),
      service("default", "s2", [{ name: "web", port: 80 }]),
      ...slicesFor("default", "s2", "web", [s2]),
      service("default", "empty", [{ port: 80 }]),
      ingress("default", "test", {
        rules: [
          rule("foo.bar.com", [
            { path: "/foo", service: "s1", port: 80 },
            { path: "/bar", service: "s2", port: "web" },
            { path: "/empty", service: "empty", port: 80 },
          ]),
        ],
      }),
    ]);
  });

  afterAll(async () => {
    await h?.close();
    await Promise.all([...(s1 ?? []), s2].filter(Boolean).map((b) => b.close()));
  });

  const url = (path: string) => `http://127.0.0.1:${h.httpPort}${path}`;

  it("routes by Host and path like the lab (/foo → s1, /bar → s2)", async () => {
    const foo = await curl(["-H", "Host: foo.bar.com", url("/foo")]);
    expect(JSON.parse(foo.stdout).backend).toMatch(/^s1-/);
    const bar = await curl(["-H", "Host: foo.bar.com", url("/bar/x?y=1")]);
    const body = JSON.parse(bar.stdout);
    expect(body.backend).toBe("s2");
    expect(body.url).toBe("/bar/x?y=1");
  });

  it("answers 404 from the default backend when nothing matches, with a Server header", async () => {
    const r = await curl(["-i", "-H", "Host: foo.bar.com", url("/foobar")]);
    expect(r.stdout).toMatch(/^HTTP\/1.1 404/);
    expect(r.stdout).toMatch(/\r\nserver: nodeplane\r\n/i);
    const other = await curl(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Host: other.com", url("/foo")]);
    expect(other.stdout).toBe("404");
  });

  it("answers 503 when the backend has no endpoints", async () => {
    const r = await curl(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Host: foo.bar.com", url("/empty")]);
    expect(r.stdout).toBe("503");
  });

  it("sets forwarding headers, keeps Host and X-Request-Id, drops hop-by-hop headers", async () => {
    const r = await curl([
      "-H",
      "Host: FOO.bar.com:8080",
      "-H",
      "X-Request-Id: abc-123",
      "-H",
      "X-Forwarded-For: 10.0.0.1",
      "-H",
      "Connection: keep-alive, X-Secret",
      "-H",
      "X-Secret: 1",
      "-H",
      "Keep-Alive: timeout=5",
      url("/foo"),
    ]);
    const { headers } = JSON.parse(r.stdout);
    expect(headers.host).toBe("FOO.bar.com:8080");
    expect(headers["x-request-id"]).toBe("abc-123");
    expect(headers["x-forwarded-for"]).toBe("10.0.0.1, 127.0.0.1");
    expect(headers["x-forwarded-proto"]).toBe("http");
    expect(headers["x-forwarded-host"]).toBe("FOO.bar.com:8080");
    expect(headers["x-forwarded-port"]).toBe(String(h.httpPort));
    expect(headers["x-secret"]).toBeUndefined();
    expect(headers["keep-alive"]).toBeUndefined();
    const generated = JSON.parse((await curl(["-H", "Host: foo.bar.com", url("/foo")])).stdout);
    expect(generated.headers["x-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("replaces the upstream Server header and keeps Content-Length", async () => {
    const r = await curl(["-s", "-D", "-", "-o", "/dev/null", "-H", "Host: foo.bar.com", url("/foo/big?kb=64")]);
    expect(r.stdout).toMatch(/server: nodeplane/i);
    expect(r.stdout).not.toMatch(/server: backend/i);
    expect(r.stdout).toMatch(/content-length: 65536/i);
  });

  it("spreads 100 requests on one keep-alive connection over all endpoints", async () => {
    const before = s1.map((b) => b.hits);
    const urls: string[] = [];
    for (let i = 0; i < 100; i++) urls.push(url(`/foo/${i}`));
    const r = await curl(["-H", "Host: foo.bar.com", "-w", "\\n%{num_connects}\\n", ...urls]);
    const connects = r.stdout
      .split("\n")
      .filter((l) => /^\d+$/.test(l))
      .map(Number);
    expect(connects.reduce((a, b) => a + b, 0)).toBe(1);
    const seen = s1.map((b, i) => b.hits - before[i]!);
    expect(seen.reduce((a, b) => a + b, 0)).toBe(100);
    for (const n of seen) expect(n).toBeGreaterThanOrEqual(30);
  });

  it("serves HTTP/2 over TLS (ALPN) and HTTP/1.1 on the same listener", async () => {
    const base = `https://foo.bar.com:${h.httpsPort}`;
    const resolve = `foo.bar.com:${h.httpsPort}:127.0.0.1`;
    const v2 = await curl(["-k", "--http2", "--resolve", resolve, "-w", "\\n%{http_version}", `${base}/bar`]);
    const [body2, version2] = v2.stdout.split("\n");
    expect(version2).toBe("2");
    expect(JSON.parse(body2!).headers["x-forwarded-proto"]).toBe("https");
    expect(JSON.parse(body2!).headers.host).toBe(`foo.bar.com:${h.httpsPort}`);
    const post = await curl(["-k", "--http2", "--resolve", resolve, "--data-binary", "z".repeat(1000), `${base}/bar`]);
    expect(JSON.parse(post.stdout)).toMatchObject({ method: "POST", bodyLength: 1000 });
    const v1 = await curl(["-k", "--http1.1", "--resolve", resolve, "-w", "\\n%{http_version}", `${base}/bar`]);
    expect(v1.stdout.split("\n")[1]).toBe("1.1");
  });
});
