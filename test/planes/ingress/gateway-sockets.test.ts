import { X509Certificate } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { type AddressInfo, connect, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TlsCertificate } from "../../../src/snapshot/ingress.ts";
import type { StatusWriter } from "../../../src/status/writer.ts";
import { backend, freePort, type GatewayHarness, httpSocket, rule, startGateway, vhost } from "./gateway-harness.ts";
import {
  type Backend,
  curl,
  ingress,
  rule as ingressRule,
  service,
  slicesFor,
  startBackend,
  tlsSecret,
} from "./harness.ts";

/**
 * Gateway sockets as the plane binds, shares, reconciles and reports them: on the ingress listener's own
 * socket (Gateway virtual hosts first, then the Ingress table), a bind failure reported while the other
 * sockets serve, HTTPS with certificates by SNI (curl --resolve), sockets dropped and kept across snapshots.
 */

// this file's backends: 127.245.31.x
let h: GatewayHarness;
let ingressBackend: Backend;
let gatewayBackend: Backend;
const reports: [string, string | undefined][] = [];
let dir: string;

beforeAll(async () => {
  ingressBackend = await startBackend("ingress-backend", "127.245.31.1");
  gatewayBackend = await startBackend("gateway-backend", "127.245.31.2");
  h = await startGateway([
    service("default", "ing", [{ name: "http", port: 80 }]),
    ...slicesFor("default", "ing", "http", [ingressBackend]),
    ingress("default", "ing", {
      rules: [
        ingressRule("both.test", [{ path: "/", service: "ing", port: 80 }]),
        ingressRule("ingress.test", [{ path: "/", service: "ing", port: 80 }]),
      ],
    }),
  ]);
  (h.status as StatusWriter).reportGatewayBind = (id: string, error: string | undefined) => {
    reports.push([id, error]);
  };
  dir = await mkdtemp(join(tmpdir(), "gw-sockets-"));
});

afterAll(async () => {
  await h?.close();
  await ingressBackend?.close();
  await gatewayBackend?.close();
  await rm(dir, { recursive: true, force: true });
});

const gw = () => backend(gatewayBackend.port, { ip: "127.245.31.2" });

async function who(port: number, host: string, path = "/"): Promise<string> {
  const r = await curl(["-H", `Host: ${host}`, `http://127.0.0.1:${port}${path}`]);
  try {
    return JSON.parse(r.stdout).backend as string;
  } catch {
    return r.stdout.trim();
  }
}

describe("a Gateway socket on the ingress listener's address and port", () => {
  it("shares it: Gateway virtual hosts first, the Ingress table for every other Host", async () => {
    await h.serve([
      httpSocket(h.httpPort, [
        vhost("both.test", [rule({ path: { type: "PathPrefix", value: "/gw" }, backends: [gw()] })]),
        vhost("*.gw.test", [rule({ backends: [gw()] })]),
      ]),
    ]);
    expect(await who(h.httpPort, "both.test", "/gw")).toBe("gateway-backend");
    // the Gateway virtual host claims the Host: its rules alone decide (no fallback to the Ingress path)
    expect(await who(h.httpPort, "both.test", "/other")).toBe("404 Not Found");
    expect(await who(h.httpPort, "a.b.gw.test")).toBe("gateway-backend");
    expect(await who(h.httpPort, "ingress.test")).toBe("ingress-backend");
    expect(reports.filter(([id]) => id === `127.0.0.1:${h.httpPort}`).at(-1)?.[1]).toBeUndefined();
    // dropped: the Ingress serves that Host again, on the same listener
    await h.serve([]);
    expect(await who(h.httpPort, "both.test", "/gw")).toBe("ingress-backend");
  });
});

describe("bind failures", () => {
  let squatter: Server;
  let taken: number;

  beforeAll(async () => {
    squatter = createServer();
    await new Promise<void>((resolve) => squatter.listen(0, "127.0.0.1", () => resolve()));
    taken = (squatter.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => squatter.close(() => resolve()));
  });

  it("a port in use is reported and listed as a problem; the other sockets serve; retried on a later snapshot", async () => {
    const free = await freePort();
    reports.length = 0;
    const sockets = () => [
      httpSocket(taken, [vhost("", [rule({ backends: [gw()] })])]),
      httpSocket(free, [vhost("", [rule({ backends: [gw()] })])]),
    ];
    await h.serve(sockets());
    expect(reports).toContainEqual([`127.0.0.1:${taken}`, expect.stringMatching(/EADDRINUSE/)]);
    expect(reports).toContainEqual([`127.0.0.1:${free}`, undefined]);
    const problems = h.plane.problems();
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ kind: "Gateway", namespace: "default", name: "gw" });
    expect(problems[0]!.message).toContain(`127.0.0.1:${taken}`);
    expect(problems[0]!.message).toContain("default/gw/l-");
    expect(await who(free, "any.test")).toBe("gateway-backend");

    // freed, and a later snapshot binds it, even one whose Gateway part did not change
    await new Promise<void>((resolve) => squatter.close(() => resolve()));
    await h.plane.apply(h.snapshot, { ...h.snapshot, generation: h.snapshot.generation + 1 });
    expect(h.plane.problems()).toHaveLength(0);
    expect(reports.at(-1)).toEqual([`127.0.0.1:${taken}`, undefined]);
    expect(await who(taken, "any.test")).toBe("gateway-backend");
    await h.serve([]);
    // re-listen so afterAll's close has a server to close
    squatter = createServer();
    await new Promise<void>((resolve) => squatter.listen(0, "127.0.0.1", () => resolve()));
  });
});

describe("the ingress listener of the other protocol", () => {
  it("is never bound beside: an HTTP Gateway socket on the ingress HTTPS address is reported", async () => {
    reports.length = 0;
    await h.serve([httpSocket(h.httpsPort, [vhost("", [rule({ backends: [gw()] })])])]);
    expect(reports).toEqual([[`127.0.0.1:${h.httpsPort}`, "address in use by the ingress HTTPS listener"]]);
    expect(h.plane.problems()[0]!.message).toContain("ingress HTTPS listener");
    // the HTTPS listener still speaks TLS only
    const tls = await curl(["-k", "-s", "-o", "/dev/null", "-w", "%{http_code}", `https://127.0.0.1:${h.httpsPort}/`]);
    expect(tls.stdout).toBe("404");
    await h.serve([]);
    expect(h.plane.problems()).toHaveLength(0);
  });
});

describe("workers (SO_REUSEPORT)", () => {
  it("two plane processes' worth of sockets bind the same Gateway port", async () => {
    const other = await startGateway([], { reusePort: true });
    const mine = await startGateway([], { reusePort: true });
    try {
      const port = await freePort();
      const sockets = [httpSocket(port, [vhost("", [rule({ backends: [gw()] })])])];
      await other.serve(sockets);
      await mine.serve(sockets);
      expect(other.plane.problems()).toEqual([]);
      expect(mine.plane.problems()).toEqual([]);
      expect(await who(port, "any.test")).toBe("gateway-backend");
    } finally {
      await other.close();
      await mine.close();
    }
  });
});

describe("reconcile", () => {
  it("keeps an unchanged socket with its connections, swaps its routes, closes a dropped one", async () => {
    const port = await freePort();
    await h.serve([httpSocket(port, [vhost("", [rule({ path: { type: "Exact", value: "/a" }, backends: [gw()] })])])]);
    // a keep-alive connection opened before the route change
    const socket: Socket = connect(port, "127.0.0.1");
    await new Promise((r) => socket.once("connect", r));
    const ask = (path: string) =>
      new Promise<string>((resolve) => {
        socket.once("data", (d: Buffer) => resolve(d.toString("latin1")));
        socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
      });
    expect(await ask("/a")).toMatch(/^HTTP\/1\.1 200/);
    await h.serve([httpSocket(port, [vhost("", [rule({ path: { type: "Exact", value: "/b" }, backends: [gw()] })])])]);
    expect(await ask("/a")).toMatch(/^HTTP\/1\.1 404/);
    expect(await ask("/b")).toMatch(/^HTTP\/1\.1 200/);
    await h.serve([]);
    await new Promise<void>((resolve) => {
      if (socket.destroyed) resolve();
      else socket.once("close", () => resolve());
    });
    const after = await curl(["-H", "Host: x", `http://127.0.0.1:${port}/b`]);
    expect(after.code).not.toBe(0);
  });
});

describe("HTTPS", () => {
  it("terminates TLS with the socket's certificates by SNI (curl --resolve), the default certificate otherwise", async () => {
    const port = await freePort();
    const secret = await tlsSecret("default", "gw-cert", "secure.gw.test", dir);
    const fallback = await tlsSecret("default", "gw-default", "default.gw.test", dir);
    const cert = (s: typeof secret, hosts: string[]): TlsCertificate => {
      const pem = Buffer.from(s.data!["tls.crt"]!, "base64").toString();
      const x = new X509Certificate(pem);
      const c = {
        secret: `default/${s.metadata?.name}`,
        hosts,
        certPem: pem,
        subject: x.subject,
        validFrom: new Date(x.validFrom).toISOString(),
        validTo: new Date(x.validTo).toISOString(),
        fingerprint256: x.fingerprint256,
      };
      Object.defineProperty(c, "keyPem", {
        value: Buffer.from(s.data!["tls.key"]!, "base64").toString(),
        enumerable: false,
      });
      return c as unknown as TlsCertificate;
    };
    await h.serve([
      httpSocket(
        port,
        [
          vhost("*.gw.test", [
            rule({
              filters: [
                {
                  type: "ResponseHeaderModifier",
                  modifier: { set: [["x-served-by", "gateway"]], add: [], remove: [] },
                },
              ],
              backends: [gw()],
            }),
          ]),
        ],
        {
          protocol: "HTTPS",
          certificates: [cert(secret, ["secure.gw.test"])],
          defaultCertificate: cert(fallback, ["default.gw.test"]),
        },
      ),
    ]);
    const ok = await curl([
      "-k",
      "-v",
      "--resolve",
      `secure.gw.test:${port}:127.0.0.1`,
      `https://secure.gw.test:${port}/x`,
    ]);
    expect(JSON.parse(ok.stdout).backend).toBe("gateway-backend");
    expect(ok.stderr).toMatch(/subject: CN\s?=\s?secure\.gw\.test/);
    expect(JSON.parse(ok.stdout).headers["x-forwarded-proto"]).toBe("https");
    const other = await curl([
      "-k",
      "-v",
      "--resolve",
      `a.b.gw.test:${port}:127.0.0.1`,
      `https://a.b.gw.test:${port}/x`,
    ]);
    expect(JSON.parse(other.stdout).backend).toBe("gateway-backend");
    expect(other.stderr).toMatch(/subject: CN\s?=\s?default\.gw\.test/);
    // HTTP/2 by ALPN, the response modifier applied to its header record
    const h2 = await curl([
      "-k",
      "-i",
      "--http2",
      "--resolve",
      `secure.gw.test:${port}:127.0.0.1`,
      `https://secure.gw.test:${port}/x`,
    ]);
    expect(h2.stdout).toMatch(/^HTTP\/2 200/);
    expect(h2.stdout).toMatch(/\r\nx-served-by: gateway\r\n/);
    await h.serve([]);
  });
});
