import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type Backend,
  curl,
  type Harness,
  ingress,
  rawExchange,
  rule,
  service,
  slicesFor,
  startBackend,
  startIngress,
} from "./harness.ts";

/** Sends raw bytes, returns everything the server sends until it closes (bounded by `ms`). */
async function raw(
  port: number,
  chunks: string[],
  options: { tls?: boolean; gapMs?: number; ms?: number } = {},
): Promise<string> {
  return (await rawExchange(port, chunks, options)).data;
}

const status = (response: string) => /^HTTP\/1\.1 (\d{3})/.exec(response)?.[1];

/** The status curl gets for a plain request to h.com: the proxy still serves after hostile input. */
async function plainStatus(port: number): Promise<string> {
  return (await curl(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Host: h.com", `http://127.0.0.1:${port}/`]))
    .stdout;
}

// Backends of this file: 127.245.4.x
describe("ingress plane: hostile HTTP is rejected and the proxy stays up", () => {
  let web: Backend;
  let h: Harness;

  beforeAll(async () => {
    web = await startBackend("web", "127.245.4.1");
    h = await startIngress(
      [
        service("default", "web", [{ name: "http", port: 80 }]),
        ...slicesFor("default", "web", "http", [web]),
        ingress("default", "web", { rules: [rule("h.com", [{ path: "/", service: "web", port: 80 }])] }),
      ],
      {
        limits: {
          maxHeaderSize: 4096,
          headersTimeoutMs: 500,
          requestTimeoutMs: 2_000,
          connectionsCheckingIntervalMs: 100,
        },
      },
    );
  });

  afterAll(async () => {
    await h?.close();
    await web?.close();
  });

  const SMUGGLED = "GET /smuggled HTTP/1.1\r\nHost: h.com\r\n\r\n";

  it.each([
    [
      "conflicting Content-Length",
      `POST / HTTP/1.1\r\nHost: h.com\r\nContent-Length: 5\r\nContent-Length: 41\r\n\r\nhello${SMUGGLED}`,
      "400",
    ],
    [
      "duplicate Content-Length",
      `POST / HTTP/1.1\r\nHost: h.com\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello`,
      "400",
    ],
    [
      "Content-Length with Transfer-Encoding",
      `POST / HTTP/1.1\r\nHost: h.com\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`,
      "400",
    ],
    [
      "Transfer-Encoding not ending in chunked",
      `POST / HTTP/1.1\r\nHost: h.com\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n`,
      "400",
    ],
    [
      "Transfer-Encoding with a bad token",
      `POST / HTTP/1.1\r\nHost: h.com\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n`,
      "400",
    ],
    ["obs-fold header continuation", `GET / HTTP/1.1\r\nHost: h.com\r\nX-Folded: a\r\n  b\r\n\r\n`, "400"],
    ["space before the colon", `GET / HTTP/1.1\r\nHost: h.com\r\nX-Bad : a\r\n\r\n`, "400"],
    ["bare LF line endings", `GET / HTTP/1.1\nHost: h.com\n\n`, "400"],
    ["no Host on HTTP/1.1", `GET / HTTP/1.1\r\n\r\n`, "400"],
    ["oversized headers", `GET / HTTP/1.1\r\nHost: h.com\r\nX-Big: ${"a".repeat(8192)}\r\n\r\n`, "431"],
  ])("%s → %s", async (_name, request, expected) => {
    const before = web.hits;
    const response = await raw(h.httpPort, [request]);
    expect(status(response)).toBe(expected);
    expect(response).toMatch(/\r\nServer: nodeplane\r\n/i);
    expect(web.hits - before).toBe(0);
    expect(await plainStatus(h.httpPort)).toBe("200");
  });

  it("survives random request heads (fast-check, bounded)", async () => {
    const token = fc.stringMatching(/^[!-~]{0,12}$/);
    const line = fc.oneof(
      fc.tuple(token, token).map(([k, v]) => `${k}: ${v}`),
      fc.constantFrom(
        "Content-Length: 3",
        "Content-Length: -1",
        "Transfer-Encoding: chunked",
        " folded",
        "X:\u0000",
        "Host: h.com",
      ),
      fc.string({ maxLength: 20 }),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("GET", "POST", "G\u00e9T", ""),
        fc.array(line, { maxLength: 6 }),
        async (method, lines) => {
          const head = `${method} / HTTP/1.1\r\n${lines.join("\r\n")}\r\n\r\n`;
          const response = await raw(h.httpPort, [head], { ms: 500 });
          const code = status(response);
          // either a well-formed answer from the proxy, or (for a request awaiting a body) silence until we hang up
          expect(code === undefined || /^[1-5]\d\d$/.test(code)).toBe(true);
        },
      ),
      { numRuns: 30 },
    );
    expect(await plainStatus(h.httpPort)).toBe("200");
  });

  it("answers 408 to headers that trickle in too slowly", async () => {
    const response = await raw(
      h.httpPort,
      ["GET / HTTP/1.1\r\n", "Host: h.com\r\n", "X-A: 1\r\n", "X-B: 2\r\n", "X-C: 3\r\n", "\r\n"],
      { gapMs: 300 },
    );
    expect(status(response)).toBe("408");
  });

  it("applies the same limits to HTTP/1.1 over TLS", async () => {
    const big = await raw(h.httpsPort, [`GET / HTTP/1.1\r\nHost: h.com\r\nX-Big: ${"a".repeat(8192)}\r\n\r\n`], {
      tls: true,
    });
    expect(status(big)).toBe("431");
    const smuggle = await raw(
      h.httpsPort,
      [`POST / HTTP/1.1\r\nHost: h.com\r\nContent-Length: 5\r\nContent-Length: 41\r\n\r\nhello${SMUGGLED}`],
      { tls: true },
    );
    expect(status(smuggle)).toBe("400");
    const slow = await raw(
      h.httpsPort,
      ["GET / HTTP/1.1\r\n", "Host: h.com\r\n", "X-A: 1\r\n", "X-B: 2\r\n", "X-C: 3\r\n", "\r\n"],
      { tls: true, gapMs: 300 },
    );
    expect(status(slow)).toBe("408");
    expect(
      (
        await curl([
          "-sk",
          "-o",
          "/dev/null",
          "-w",
          "%{http_code}",
          "--resolve",
          `h.com:${h.httpsPort}:127.0.0.1`,
          `https://h.com:${h.httpsPort}/`,
        ])
      ).stdout,
    ).toBe("200");
  });
});
