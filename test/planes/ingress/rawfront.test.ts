import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { withoutEndToEndTokens } from "../../../src/planes/ingress/headers.ts";
import { type Backend, curl, type Harness, rawExchange, startBackend, startIngress, webIngress } from "./harness.ts";

/** Sends raw bytes in one write, returns everything the server sends until it closes (bounded by `ms`). */
function exchange(
  port: number,
  bytes: string,
  ms = 5_000,
  halfClose = false,
): Promise<{ data: string; closed: boolean }> {
  return rawExchange(port, [bytes], { ms, halfClose });
}

const statuses = (data: string) => [...data.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => m[1]);
const urls = (data: string) => [...data.matchAll(/"url":"([^"]*)"/g)].map((m) => m[1]);

// Backends of this file: 127.245.9.x
describe("ingress plane: the raw-socket HTTP/1 front end", () => {
  let web: Backend;
  let h: Harness;

  beforeAll(async () => {
    web = await startBackend("web", "127.245.9.1");
    h = await startIngress(webIngress(web), { limits: { httpFrontend: "raw" } });
  });

  afterAll(async () => {
    await h?.close();
    await web?.close();
  });

  it("answers pipelined requests in request order, bodies included, and closes after Connection: close", async () => {
    const { data, closed } = await exchange(
      h.httpPort,
      "GET /slow?ms=150 HTTP/1.1\r\nHost: h.com\r\n\r\n" +
        "POST /post HTTP/1.1\r\nHost: h.com\r\nContent-Length: 5\r\n\r\nhello" +
        "POST /chunked HTTP/1.1\r\nHost: h.com\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n" +
        "GET /nowhere HTTP/1.1\r\nHost: other.com\r\n\r\n" +
        "GET /last HTTP/1.1\r\nHost: h.com\r\nConnection: close\r\n\r\n" +
        "GET /never HTTP/1.1\r\nHost: h.com\r\n\r\n",
    );
    expect(statuses(data)).toEqual(["200", "200", "200", "404", "200"]);
    expect(urls(data)).toEqual(["/slow?ms=150", "/post", "/chunked", "/last"]);
    expect([...data.matchAll(/"bodyLength":(\d+)/g)].map((m) => m[1])).toEqual(["0", "5", "5", "0"]);
    expect(data.match(/^server: nodeplane\r$/gim)).toHaveLength(5);
    expect(data).toMatch(/Connection: close\r\n/);
    expect(closed).toBe(true);
  });

  it("parses each new connection from a clean state though llhttp parsers are reused across connections", async () => {
    // Connections that leave their parser mid-head, mid-body or mid-header-line, each followed by a clean one
    // (which gets a parser freed by the one before it).
    const cuts = [
      "GET /half HTTP/1.1\r\nHost: h.c",
      "POST /post HTTP/1.1\r\nHost: h.com\r\nContent-Length: 100\r\n\r\nabc",
      "POST /chunked HTTP/1.1\r\nHost: h.com\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
      "GET /bad HTTP/1.1\r\nHo st: h.com\r\n\r\n",
    ];
    for (const cut of cuts) {
      await exchange(h.httpPort, cut, 200);
      const { data, closed } = await exchange(
        h.httpPort,
        "GET /clean HTTP/1.1\r\nHost: h.com\r\nConnection: close\r\n\r\n",
      );
      expect(statuses(data)).toEqual(["200"]);
      expect(urls(data)).toEqual(["/clean"]);
      expect(closed).toBe(true);
    }
  });

  it("answers every pipelined request of a client that half-closes after sending them", async () => {
    const { data, closed } = await exchange(
      h.httpPort,
      "GET /a?ms=100 HTTP/1.1\r\nHost: h.com\r\n\r\nGET /b HTTP/1.1\r\nHost: h.com\r\n\r\n",
      5_000,
      true,
    );
    expect(statuses(data)).toEqual(["200", "200"]);
    expect(urls(data)).toEqual(["/a?ms=100", "/b"]);
    expect(closed).toBe(true);
  });

  it("serves HTTP/1.0: closes after the response unless keep-alive is asked for", async () => {
    const plain = await exchange(h.httpPort, "GET /ten HTTP/1.0\r\nHost: h.com\r\n\r\n");
    expect(statuses(plain.data)).toEqual(["200"]);
    expect(urls(plain.data)).toEqual(["/ten"]);
    expect(plain.data).toMatch(/Connection: close\r\n/);
    expect(plain.closed).toBe(true);

    const kept = await exchange(
      h.httpPort,
      "GET /one HTTP/1.0\r\nHost: h.com\r\nConnection: keep-alive\r\n\r\nGET /two HTTP/1.0\r\nHost: h.com\r\n\r\n",
    );
    expect(statuses(kept.data)).toEqual(["200", "200"]);
    expect(urls(kept.data)).toEqual(["/one", "/two"]);
    expect(kept.data).toMatch(/Connection: keep-alive\r\n/);
    expect(kept.closed).toBe(true);
  });

  it("answers earlier pipelined requests before the 400 for a malformed one", async () => {
    const { data, closed } = await exchange(
      h.httpPort,
      "GET /ok?ms=100 HTTP/1.1\r\nHost: h.com\r\n\r\nGET /bad HTTP/1.1\nHost: h.com\r\n\r\n",
    );
    expect(statuses(data)).toEqual(["200", "400"]);
    expect(urls(data)).toEqual(["/ok?ms=100"]);
    expect(closed).toBe(true);
  });

  it("streams a large response to a slow reader completely", async () => {
    const out = await curl([
      "-s",
      "-o",
      "/dev/null",
      "--limit-rate",
      "4M",
      "--max-time",
      "20",
      "-w",
      "%{http_code} %{size_download}",
      "-H",
      "Host: h.com",
      `http://127.0.0.1:${h.httpPort}/big?kb=4096`,
    ]);
    expect(out.stdout).toBe(`200 ${4096 * 1024}`);
  });

  it("sends 100 Continue to a request that expects it", async () => {
    const { data } = await exchange(
      h.httpPort,
      "POST /expect HTTP/1.1\r\nHost: h.com\r\nExpect: 100-continue\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
    );
    expect(statuses(data)).toEqual(["100", "200"]);
    expect(data).toMatch(/"bodyLength":2/);
  });
});

describe("withoutEndToEndTokens: a Connection header may not name Host or the framing headers", () => {
  it.each([
    ["keep-alive, Host", "keep-alive"],
    ["Host", ""],
    ["x-a, HOST , content-length,Transfer-Encoding, x-b", "x-a, x-b"],
    ["keep-alive", undefined],
    ["x-foo, close", undefined],
    ["hostname", undefined],
  ])("%j → %j", (value, expected) => {
    expect(withoutEndToEndTokens(value)).toBe(expected);
  });
});
