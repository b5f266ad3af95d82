import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer as createTlsServer, type Server as TlsServer } from "node:tls";
import { Registry } from "prom-client";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ServicePlane } from "../../../src/planes/service/plane.ts";
import { forceTcpPath } from "../../../src/planes/service/tcp-handles.ts";
import { extension, gatewaySnapshot, hello, l4Backend, l4Socket, serverName } from "./gateway-helpers.ts";
import { Cleanup, captureLogger, echoBackend, run, sleep, testConfig, uniqueLoopback } from "./helpers.ts";

const HELLO_TIMEOUT_MS = 400;
const cleanup = new Cleanup();
afterEach(() => cleanup.run());

let dir: string;
const certs = new Map<string, { cert: string; key: string }>();

/** Self-signed certificates made with openssl, one per backend, each with its own subject. */
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "gw-tls-"));
  for (const name of ["a.example", "b.example", "any.w.example", "fallback.example"]) {
    const key = join(dir, `${name}.key`);
    const crt = join(dir, `${name}.crt`);
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "1",
        "-subj",
        `/CN=${name}/O=backend-${name}`,
        "-keyout",
        key,
        "-out",
        crt,
      ],
      { stdio: "ignore" },
    );
    certs.set(name, { cert: readFileSync(crt, "utf8"), key: readFileSync(key, "utf8") });
  }
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface TlsBackend {
  host: string;
  port: number;
  connections: number;
}

/** A TLS server with its own certificate that answers any HTTP request with its name. */
async function tlsBackend(name: string): Promise<TlsBackend> {
  const { cert, key } = certs.get(name)!;
  const sockets = new Set<Socket>();
  const b: TlsBackend = { host: "127.0.0.1", port: 0, connections: 0 };
  const server: TlsServer = createTlsServer({ cert, key }, (s) => {
    s.on("error", () => {});
    s.once("data", () =>
      s.end(`HTTP/1.1 200 OK\r\ncontent-length: ${name.length + 1}\r\nconnection: close\r\n\r\n${name}\n`),
    );
  });
  server.on("connection", (s: Socket) => {
    b.connections++;
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  b.port = (server.address() as { port: number }).port;
  cleanup.add(
    () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  );
  return b;
}

async function plane(registry = new Registry()) {
  const p = new ServicePlane({
    config: { ...testConfig, tlsHandshakeTimeoutMs: HELLO_TIMEOUT_MS },
    logger: captureLogger().logger,
    registry,
  });
  await p.start();
  cleanup.add(() => p.close());
  return p;
}

/** A TLS passthrough socket: a.example and b.example exact, *.w.example wildcard; more hosts optional. */
async function passthrough(port: number, extra: { host: string; backend: { host: string; port: number } }[] = []) {
  const registry = new Registry();
  const p = await plane(registry);
  const a = await tlsBackend("a.example");
  const b = await tlsBackend("b.example");
  const w = await tlsBackend("any.w.example");
  const ip = uniqueLoopback();
  const route = { kind: "TLSRoute" as const, namespace: "default", name: "tls" };
  const entry = (host: string, backend: { host: string; port: number }) => ({
    host,
    route,
    backends: [l4Backend(1, host, [backend])],
  });
  await p.apply(
    undefined,
    gatewaySnapshot([
      l4Socket(
        "TLS",
        ip,
        port,
        [],
        [
          entry("a.example", a),
          entry("b.example", b),
          entry("*.w.example", w),
          ...extra.map((e) => entry(e.host, e.backend)),
        ],
      ),
    ]),
  );
  return { p, ip, a, b, w, registry };
}

function curl(ip: string, port: number, host: string) {
  return run("curl", [
    "-sS",
    "-k",
    "-v",
    "--max-time",
    "5",
    "--resolve",
    `${host}:${port}:${ip}`,
    `https://${host}:${port}/`,
  ]);
}

/** Sends `bytes` (then stalls, or ends with `end`), reports how the proxy ended the connection and when. */
function send(
  ip: string,
  port: number,
  bytes: Buffer,
  end = false,
): Promise<{ how: string; ms: number; data: string }> {
  return new Promise((resolve) => {
    const started = Date.now();
    const s = connect({ host: ip, port }, () => {
      s.write(bytes);
      if (end) s.end();
    });
    let data = "";
    let how = "closed";
    s.on("data", (d: Buffer) => {
      data += d.toString("latin1");
    });
    s.on("error", (err: NodeJS.ErrnoException) => {
      how = err.code === "ECONNRESET" ? "reset" : (err.code ?? "error");
    });
    s.on("close", () => resolve({ how, ms: Date.now() - started, data }));
    setTimeout(() => s.destroy(), 5_000).unref();
  });
}

for (const path of ["handles", "sockets"] as const) {
  describe(`Gateway TLS passthrough on the service plane (${path} path)`, () => {
    beforeAll(() => forceTcpPath(path));
    afterAll(() => forceTcpPath(undefined));

    it("routes by SNI to the backend, whose own certificate reaches the client (conformance TLSRouteSimpleSameNamespace)", async () => {
      const { ip, a, b } = await passthrough(9443);
      const ra = await curl(ip, 9443, "a.example");
      expect(ra.code).toBe(0);
      expect(ra.stdout).toBe("a.example\n");
      expect(ra.stderr).toMatch(/subject: CN\s?=\s?a\.example/);
      const rb = await curl(ip, 9443, "b.example");
      expect(rb.stdout).toBe("b.example\n");
      expect(rb.stderr).toMatch(/subject: CN\s?=\s?b\.example/);
      expect(a.connections).toBe(1);
      expect(b.connections).toBe(1);
    });

    it("a `*.` entry matches one or more labels, not its bare suffix; exact names win (conformance TLSRouteHostnameIntersection)", async () => {
      const fallback = await tlsBackend("fallback.example");
      const { ip, w } = await passthrough(9444, [{ host: "", backend: fallback }]);
      const deep = await curl(ip, 9444, "x.y.w.example");
      expect(deep.stdout).toBe("any.w.example\n");
      expect(deep.stderr).toMatch(/subject: CN\s?=\s?any\.w\.example/);
      expect((await curl(ip, 9444, "other.w.example")).stdout).toBe("any.w.example\n");
      expect((await curl(ip, 9444, "a.example")).stdout).toBe("a.example\n");
      // `w.example` itself is not under `*.w.example`: the catch-all entry takes it
      expect((await curl(ip, 9444, "w.example")).stdout).toBe("fallback.example\n");
      expect(w.connections).toBe(2);
    });

    it("closes connections with no matching SNI, without reaching any backend", async () => {
      const { ip, a, b, w } = await passthrough(9445);
      const r = await curl(ip, 9445, "c.example");
      expect(r.code).not.toBe(0);
      expect(a.connections + b.connections + w.connections).toBe(0);
    });

    const hostile: [string, Buffer, boolean][] = [
      ["a hello without SNI", hello([extension(10, Buffer.alloc(4))]), false],
      ["a truncated ClientHello, then FIN", hello([serverName("a.example")]).subarray(0, 30), true],
      [
        "a huge extension length",
        (() => {
          const h = hello([serverName("a.example")]);
          h.writeUInt16BE(0xfff0, h.indexOf(serverName("a.example")) + 2);
          return h;
        })(),
        false,
      ],
      ["an SSLv2-style hello", Buffer.from("802e0103010015000000100000040000050000", "hex"), false],
      ["a declared hello larger than the cap", Buffer.from([0x16, 3, 1, 0, 4, 1, 0x10, 0, 0]), false],
      ["plain HTTP on the TLS port", Buffer.from("GET / HTTP/1.1\r\nhost: a.example\r\n\r\n"), false],
    ];
    it.each(hostile)(
      "%s: that connection is closed, nothing reaches a backend, the socket keeps serving",
      async (_name, bytes, end) => {
        const { ip, a, b, w } = await passthrough(9446);
        const r = await send(ip, 9446, bytes, end);
        expect(["reset", "closed"]).toContain(r.how);
        expect(r.data).toBe("");
        expect(r.ms).toBeLessThan(HELLO_TIMEOUT_MS);
        expect(a.connections + b.connections + w.connections).toBe(0);
        expect((await curl(ip, 9446, "a.example")).stdout).toBe("a.example\n");
      },
    );

    it("a client that sends 3 bytes and stalls is closed after the hello timeout; others are served meanwhile", async () => {
      const { ip, a } = await passthrough(9447);
      const stalled = send(ip, 9447, Buffer.from([0x16, 3, 1]));
      await sleep(50);
      expect((await curl(ip, 9447, "a.example")).stdout).toBe("a.example\n");
      const r = await stalled;
      expect(["reset", "closed"]).toContain(r.how);
      expect(r.ms).toBeGreaterThanOrEqual(HELLO_TIMEOUT_MS - 20);
      expect(r.ms).toBeLessThan(HELLO_TIMEOUT_MS + 2_000);
      expect(a.connections).toBe(1);
    });

    it("a hello split over many small TCP segments is reassembled, and every byte reaches the backend unchanged", async () => {
      const echo = await echoBackend("127.0.0.1");
      cleanup.add(() => echo.close());
      const { ip } = await passthrough(9448, [{ host: "echo.example", backend: echo }]);
      const bytes = hello([extension(10, Buffer.alloc(100)), serverName("echo.example")], { recordSize: 50 });
      const sent = Buffer.concat([bytes, Buffer.from("and what follows")]);
      const got = await new Promise<Buffer>((resolve) => {
        let back = Buffer.alloc(0);
        const s = connect({ host: ip, port: 9448 }, async () => {
          s.setNoDelay(true);
          for (let at = 0; at < bytes.length; at += 10) {
            s.write(bytes.subarray(at, at + 10));
            await sleep(2);
          }
          s.end("and what follows");
        });
        s.on("data", (d: Buffer) => {
          back = Buffer.concat([back, d]);
        });
        s.on("error", () => {});
        s.on("close", () => resolve(back));
        setTimeout(() => s.destroy(), 3_000).unref();
      });
      expect(got.equals(sent)).toBe(true);
    });
  });
}

it("counts a TLS socket's connections and resets in one series per socket, whatever the SNI entry", async () => {
  const { ip, registry } = await passthrough(9449);
  expect((await curl(ip, 9449, "a.example")).stdout).toBe("a.example\n");
  expect((await curl(ip, 9449, "b.example")).stdout).toBe("b.example\n");
  await send(ip, 9449, Buffer.from([0x80, 1, 2]));
  await curl(ip, 9449, "nope.example");
  const total = await registry.getSingleMetricAsString("nodeplane_gateway_l4_connections_total");
  expect(total).toContain(`nodeplane_gateway_l4_connections_total{socket="${ip}:9449/TLS",protocol="TLS"} 2`);
  const reset = await registry.getSingleMetricAsString("nodeplane_gateway_l4_connections_reset_total");
  expect(reset).toContain(`nodeplane_gateway_l4_connections_reset_total{socket="${ip}:9449/TLS",protocol="TLS"} 2`);
});
