import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DirectExchange } from "../../../src/planes/ingress/direct.ts";
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
  webIngress,
} from "./harness.ts";
import { header, type Recorder, type Seen, startRecorder } from "./recorder.ts";

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
    h = await startIngress(webIngress(web), {
      limits: {
        maxHeaderSize: 4096,
        headersTimeoutMs: 500,
        requestTimeoutMs: 2_000,
        connectionsCheckingIntervalMs: 100,
      },
    });
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

/** `n` header lines `X-i: v` (CRLF each). */
const fields = (n: number) => Array.from({ length: n }, (_, i) => `X-${i}: v\r\n`).join("");

/** `text` cut into writes of `size` bytes. */
const pieces = (text: string, size: number) =>
  Array.from({ length: Math.ceil(text.length / size) }, (_, i) => text.slice(i * size, (i + 1) * size));

interface Row {
  /** case of docs/reliability.md and what the row sends */
  name: string;
  /** the client's writes */
  send: string[];
  /** statuses the client gets, in order */
  statuses: string[];
  /** the proxy closes the connection after its answers (else it keeps it open: the row's client half-closes) */
  closed: boolean;
  /** `METHOD target` of each request the backend saw, in order */
  seen: string[];
  /** further checks on what the backend saw */
  check?: (seen: Seen[]) => void;
  /** the backend never had two of this connection's requests at once */
  oneAtATime?: boolean;
  gapMs?: number;
}

const H = "Host: h.com\r\n";

/** cases of docs/reliability.md against the raw front end (rawserver.ts): header state across llhttp callbacks, Host, pipelining, versions */
const RAW_ROWS: Row[] = [
  // A: llhttp hands headers over in batches of 31 fields (kOnHeaders) before kOnHeadersComplete
  ...[32, 100, 500].map(
    (n): Row => ({
      name: `A: ${n} header fields`,
      send: [`GET /a${n}?q=1 HTTP/1.1\r\n${H}${fields(n - 1)}\r\n`],
      statuses: ["200"],
      closed: false,
      seen: [`GET /a${n}?q=1`],
      check: ([s]) => {
        expect(header(s!, "host")).toEqual({ value: "h.com", count: 1 });
        expect(header(s!, `x-${n - 2}`).value).toBe("v");
        expect(s!.headers.filter(([name]) => name.startsWith("x-") && /^x-\d+$/.test(name))).toHaveLength(n - 1);
      },
    }),
  ),
  {
    name: "A: 100 header fields and a long target, in 7-byte writes",
    send: pieces(`GET /split/${"p".repeat(300)} HTTP/1.1\r\n${fields(50)}${H}${fields(49)}\r\n`, 7),
    statuses: ["200"],
    closed: false,
    seen: [`GET /split/${"p".repeat(300)}`],
    check: ([s]) => expect(header(s!, "host")).toEqual({ value: "h.com", count: 1 }),
  },
  {
    name: "A: 40 header fields on a POST with a body, then a pipelined GET",
    send: [`POST /a40 HTTP/1.1\r\n${H}${fields(39)}Content-Length: 5\r\n\r\nhelloGET /next HTTP/1.1\r\n${H}\r\n`],
    statuses: ["200", "200"],
    closed: false,
    seen: ["POST /a40", "GET /next"],
    check: ([post, get]) => {
      expect(post!.body).toBe("hello");
      expect(get!.headers.map(([n]) => n)).not.toContain("x-0");
    },
  },
  {
    name: "A: chunked trailers (Host among them) never become the next request's headers",
    send: [
      `POST /t HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n0\r\nHost: evil.com\r\nX-Trailer: 1\r\n\r\n` +
        `GET /after HTTP/1.1\r\n${H}\r\n`,
    ],
    statuses: ["200", "200"],
    closed: false,
    seen: ["POST /t", "GET /after"],
    check: ([post, get]) => {
      expect(post!.body).toBe("abc");
      expect(header(get!, "host")).toEqual({ value: "h.com", count: 1 });
      expect(header(get!, "x-trailer").count).toBe(0);
    },
  },
  // E: one Host, and Connection never strips it (nor the framing headers)
  {
    name: "E: two Host headers, same value → 400",
    send: [`GET /e HTTP/1.1\r\n${H}${H}\r\n`],
    statuses: ["400"],
    closed: true,
    seen: [],
  },
  {
    name: "E: two Host headers, different values → 400",
    send: [`GET /e HTTP/1.1\r\n${H}host: evil.com\r\n\r\n`],
    statuses: ["400"],
    closed: true,
    seen: [],
  },
  {
    name: "E: two Host headers on a POST → 400, the body never forwarded",
    send: [`POST /e HTTP/1.1\r\nHost: evil.com\r\n${H}Content-Length: 5\r\n\r\nhello`],
    statuses: ["400"],
    closed: true,
    seen: [],
  },
  {
    name: "E: Connection: keep-alive, Host keeps Host",
    send: [`GET /e HTTP/1.1\r\n${H}Connection: keep-alive, Host\r\n\r\n`],
    statuses: ["200"],
    closed: false,
    seen: ["GET /e"],
    check: ([s]) => expect(header(s!, "host")).toEqual({ value: "h.com", count: 1 }),
  },
  {
    name: "E: Connection: Host keeps Host",
    send: [`GET /e HTTP/1.1\r\nConnection: Host\r\n${H}\r\n`],
    statuses: ["200"],
    closed: false,
    seen: ["GET /e"],
    check: ([s]) => expect(header(s!, "host")).toEqual({ value: "h.com", count: 1 }),
  },
  {
    name: "E: Connection: Host, Content-Length on a POST keeps Host and the body",
    send: [`POST /e HTTP/1.1\r\n${H}Connection: Host, Content-Length\r\nContent-Length: 5\r\n\r\nhello`],
    statuses: ["200"],
    closed: false,
    seen: ["POST /e"],
    check: ([s]) => {
      expect(header(s!, "host")).toEqual({ value: "h.com", count: 1 });
      expect(s!.body).toBe("hello");
    },
  },
  {
    name: "E: Connection: Transfer-Encoding, x-drop on a chunked POST keeps the body, drops x-drop",
    send: [
      `POST /e HTTP/1.1\r\n${H}Connection: Transfer-Encoding, x-drop\r\nX-Drop: 1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n`,
    ],
    statuses: ["200"],
    closed: false,
    seen: ["POST /e"],
    check: ([s]) => {
      expect(header(s!, "host").value).toBe("h.com");
      expect(header(s!, "x-drop").count).toBe(0);
      expect(s!.body).toBe("hi");
    },
  },
  // F: pipelined requests go upstream one at a time, in order
  {
    name: "F: pipelined POST (slow answer) then GET: the GET goes up after the POST's response",
    send: [`POST /slow?ms=150 HTTP/1.1\r\n${H}Content-Length: 5\r\n\r\nhelloGET /g HTTP/1.1\r\n${H}\r\n`],
    statuses: ["200", "200"],
    closed: false,
    seen: ["POST /slow?ms=150", "GET /g"],
    oneAtATime: true,
    check: ([post]) => expect(post!.body).toBe("hello"),
  },
  {
    name: "F: 10 pipelined GETs to a slow backend arrive one at a time",
    send: [Array.from({ length: 10 }, (_, i) => `GET /slow?ms=20&i=${i} HTTP/1.1\r\n${H}\r\n`).join("")],
    statuses: Array(10).fill("200"),
    closed: false,
    seen: Array.from({ length: 10 }, (_, i) => `GET /slow?ms=20&i=${i}`),
    oneAtATime: true,
  },
  {
    name: "F: a pipelined chunked POST, a 404 and a GET, answered in order",
    send: [
      `POST /slow?ms=50 HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n` +
        `GET /x HTTP/1.1\r\nHost: nowhere.com\r\n\r\nGET /last HTTP/1.1\r\n${H}\r\n`,
    ],
    statuses: ["200", "404", "200"],
    closed: false,
    seen: ["POST /slow?ms=50", "GET /last"],
    oneAtATime: true,
  },
  // G: HTTP/1.0 with Transfer-Encoding, and versions other than 1.0/1.1, are refused
  {
    name: "G: HTTP/1.0 with Transfer-Encoding: chunked → 400",
    send: [`POST /g10 HTTP/1.0\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`],
    statuses: ["400"],
    closed: true,
    seen: [],
  },
  {
    name: "G: HTTP/1.0 keep-alive with Transfer-Encoding after a good request → 200, 400",
    send: [
      `GET /ok HTTP/1.0\r\n${H}Connection: keep-alive\r\n\r\n` +
        `POST /g10 HTTP/1.0\r\n${H}Connection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    ],
    statuses: ["200", "400"],
    closed: true,
    seen: ["GET /ok"],
  },
  {
    name: "G/B: HTTP/2.0 POST in an HTTP/1 request line → 505",
    send: [`POST /v20 HTTP/2.0\r\n${H}Content-Length: 5\r\n\r\nhello`],
    statuses: ["505"],
    closed: true,
    seen: [],
  },
  {
    name: "G/B: HTTP/2.0 GET with Connection: x-foo → 505",
    send: [`GET /v20 HTTP/2.0\r\n${H}Connection: x-foo\r\n\r\n`],
    statuses: ["505"],
    closed: true,
    seen: [],
  },
  {
    name: "G: HTTP/2.0 Upgrade request → 505",
    send: [`GET /v20 HTTP/2.0\r\n${H}Connection: Upgrade\r\nUpgrade: x\r\n\r\n`],
    statuses: ["505"],
    closed: true,
    seen: [],
  },
  {
    name: "E: two Host headers on an Upgrade request → 400",
    send: [`GET /e HTTP/1.1\r\n${H}Host: evil.com\r\nConnection: Upgrade\r\nUpgrade: x\r\n\r\n`],
    statuses: ["400"],
    closed: true,
    seen: [],
  },
  {
    name: "G: HTTP/2.0 plain GET → 505",
    send: [`GET /v20 HTTP/2.0\r\n${H}\r\n`],
    statuses: ["505"],
    closed: true,
    seen: [],
  },
  {
    name: "G: HTTP/0.9 with headers → 505",
    send: [`GET /v09 HTTP/0.9\r\n${H}\r\n`],
    statuses: ["505"],
    closed: true,
    seen: [],
  },
  {
    name: "G: HTTP/1.2 → 400",
    send: [`GET /v12 HTTP/1.2\r\n${H}\r\n`],
    statuses: ["400"],
    closed: true,
    seen: [],
  },
  {
    name: "G: HTTP/3.0 → 400",
    send: [`GET /v30 HTTP/3.0\r\n${H}\r\n`],
    statuses: ["400"],
    closed: true,
    seen: [],
  },
  {
    name: "G: a good request pipelined before an HTTP/2.0 one → 200, 505",
    send: [`GET /ok HTTP/1.1\r\n${H}\r\nGET /v20 HTTP/2.0\r\n${H}\r\n`],
    statuses: ["200", "505"],
    closed: true,
    seen: ["GET /ok"],
  },
];

const allStatuses = (data: string) => [...data.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => m[1]);

// Backends of this file: 127.245.4.x
describe("ingress plane: hostile input to the raw HTTP/1 front end (cases A, E, F, G of docs/reliability.md)", () => {
  let rec: Recorder;
  let h: Harness;

  beforeAll(async () => {
    rec = await startRecorder("127.245.4.2");
    h = await startIngress(
      [
        service("default", "rec", [{ name: "http", port: 80 }]),
        ...slicesFor("default", "rec", "http", [{ ip: "127.245.4.2", port: rec.port }]),
        ingress("default", "rec", { rules: [rule("h.com", [{ path: "/", service: "rec", port: 80 }])] }),
      ],
      { limits: { httpFrontend: "raw" } },
    );
  });

  afterAll(async () => {
    await h?.close();
    await rec?.close();
  });

  it.each(RAW_ROWS.map((row) => [row.name, row] as const))("%s", async (_name, row) => {
    rec.reset();
    // A row the proxy answers and keeps open: the client half-closes after sending, and gets every answer first.
    const { data, closed } = await rawExchange(h.httpPort, row.send, {
      ms: 3_000,
      gapMs: row.gapMs,
      halfClose: !row.closed,
    });
    expect(allStatuses(data)).toEqual(row.statuses);
    expect(closed).toBe(true);
    if (!row.closed) expect(data).not.toMatch(/^Connection: close\r$/im);
    expect(rec.seen.map((s) => `${s.method} ${s.url}`)).toEqual(row.seen);
    // the answers are the backend's, in request order
    const answered = [...data.matchAll(/^(GET|POST) (\S+) \d+$/gm)].map((m) => `${m[1]} ${m[2]}`);
    expect(answered).toEqual(row.seen);
    row.check?.(rec.seen);
    if (row.oneAtATime) expect(rec.maxInFlight).toBe(1);
    expect(
      (
        await curl([
          "-s",
          "-o",
          "/dev/null",
          "-w",
          "%{http_code}",
          "-H",
          "Host: h.com",
          `http://127.0.0.1:${h.httpPort}/still`,
        ])
      ).stdout,
    ).toBe("200");
  });
});

// Backends of this file: 127.245.4.x
describe("ingress plane: a fault while handling one raw HTTP/1 connection closes only that connection (case A)", () => {
  let rec: Recorder;
  let h: Harness;

  beforeAll(async () => {
    rec = await startRecorder("127.245.4.3");
    h = await startIngress(
      [
        service("default", "rec", [{ name: "http", port: 80 }]),
        ...slicesFor("default", "rec", "http", [{ ip: "127.245.4.3", port: rec.port }]),
        ingress("default", "rec", { rules: [rule("h.com", [{ path: "/", service: "rec", port: 80 }])] }),
      ],
      { limits: { httpFrontend: "raw", connectionsCheckingIntervalMs: 50 } },
    );
  });

  afterAll(async () => {
    await h?.close();
    await rec?.close();
  });

  /** the fault counter's value for `stage` on the plain-HTTP listener */
  async function faults(stage: string): Promise<number> {
    const metric = h.registry.getSingleMetric("nodeplane_ingress_connection_faults_total");
    const values = (await metric?.get())?.values ?? [];
    return values.find((v) => v.labels.stage === stage && v.labels.listener === "http")?.value ?? 0;
  }

  /**
   * Routing (the fast path's) and the hand-off to the proxy (the generic path's) throw, a stand-in for any bug,
   * for paths under /boom while `run` runs.
   */
  async function withFaultyRouting<T>(run: () => Promise<T>): Promise<T> {
    const proxy = h.plane.proxy;
    const matcher = proxy.matcher;
    const match = matcher.match;
    const handle = proxy.handle;
    matcher.match = function (host, path) {
      if (path.startsWith("/boom")) throw new TypeError("injected fault");
      return match.call(this, host, path);
    };
    proxy.handle = function (req, res, secure) {
      if (req.url?.startsWith("/boom")) throw new TypeError("injected fault");
      return handle.call(this, req, res, secure);
    };
    try {
      return await run();
    } finally {
      matcher.match = match;
      proxy.handle = handle;
    }
  }

  it.each([
    ["a bodyless GET (fast path)", [`GET /boom HTTP/1.1\r\n${H}\r\n`], [], "parse"],
    ["a POST with a body (generic path)", [`POST /boom HTTP/1.1\r\n${H}Content-Length: 5\r\n\r\nhello`], [], "parse"],
    [
      "a pipelined request handed on when the one before it is answered",
      [`GET /ok?ms=30 HTTP/1.1\r\n${H}\r\nGET /boom HTTP/1.1\r\n${H}\r\n`],
      ["200"],
      "dispatch",
    ],
  ])("%s: the connection is closed, counted, and the proxy serves on", async (_name, send, statuses, stage) => {
    const before = await faults(stage);
    const { data, closed } = await withFaultyRouting(() => rawExchange(h.httpPort, send, { ms: 3_000 }));
    expect(allStatuses(data)).toEqual(statuses);
    expect(closed).toBe(true); // at once, not at the client's time bound
    expect(await faults(stage)).toBe(before + 1);
    const again = await rawExchange(h.httpPort, [`GET /after HTTP/1.1\r\n${H}Connection: close\r\n\r\n`]);
    expect(allStatuses(again.data)).toEqual(["200"]);
  });

  it("a fault while reading the upstream's answer (fast path) ends that request with a 502, and the proxy serves on", async () => {
    const onDirectHead = DirectExchange.prototype.onDirectHead;
    DirectExchange.prototype.onDirectHead = () => {
      throw new TypeError("injected fault");
    };
    try {
      const { data } = await rawExchange(h.httpPort, [`GET /up HTTP/1.1\r\n${H}Connection: close\r\n\r\n`]);
      expect(allStatuses(data)).toEqual(["502"]);
    } finally {
      DirectExchange.prototype.onDirectHead = onDirectHead;
    }
    const again = await rawExchange(h.httpPort, [`GET /after HTTP/1.1\r\n${H}Connection: close\r\n\r\n`]);
    expect(allStatuses(again.data)).toEqual(["200"]);
  });

  it("a fault in the connection timers closes the connections it hits, and the listener serves on", async () => {
    const before = await faults("timer");
    const limits = h.plane.rawHttp!.limits;
    const open = rawExchange(h.httpPort, [`GET /idle HTTP/1.1\r\n${H}\r\n`], { ms: 3_000 });
    await new Promise((r) => setTimeout(r, 100));
    Object.defineProperty(limits, "requestTimeoutMs", {
      configurable: true,
      get() {
        throw new TypeError("injected fault");
      },
    });
    try {
      const { data } = await open;
      expect(allStatuses(data)).toEqual(["200"]);
      expect(await faults("timer")).toBeGreaterThan(before);
    } finally {
      Object.defineProperty(limits, "requestTimeoutMs", { configurable: true, writable: true, value: 0 });
    }
    const again = await rawExchange(h.httpPort, [`GET /after HTTP/1.1\r\n${H}Connection: close\r\n\r\n`]);
    expect(allStatuses(again.data)).toEqual(["200"]);
  });
});
