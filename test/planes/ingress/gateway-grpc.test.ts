import { X509Certificate } from "node:crypto";
import { once } from "node:events";
import { connect } from "node:net";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TlsCertificate } from "../../../src/snapshot/ingress.ts";
import { backend, freePort, type GatewayHarness, httpSocket, rule, startGateway, vhost } from "./gateway-harness.ts";
import { bindInsecure, clientConstructor, closedPort, rawMethod, settle, type Unary } from "./grpc-support.ts";
import { TEST_CERTIFICATE } from "./harness.ts";

/**
 * gRPC end to end through the ingress plane's Gateway sockets, with @grpc/grpc-js on both sides (generic client
 * and server, raw Buffer messages: no protoc): a plain-HTTP Gateway listener reached with h2c prior knowledge
 * (what a gRPC client does on an http:// target), and an HTTPS one (HTTP/2 by ALPN), routing by GRPCRoute-shaped
 * rules (paths `/service/method`, header matches, timeouts; built by hand as the translator would compile
 * them) to an h2c backend (appProtocol kubernetes.io/h2c). Ported from conformance GRPCRouteExactMethodMatching,
 * GRPCRouteHeaderMatching and GRPCRouteRequestHeaderModifier, with the proxy's own failures as gRPC statuses.
 */
const SERVICE = {
  Echo: rawMethod("/test.Echo/Echo", false, false),
  Other: rawMethod("/test.Echo/Other", false, false),
  Plain: rawMethod("/test.Echo/Plain", false, false),
  Slow: rawMethod("/test.Echo/Slow", false, false),
  Count: rawMethod("/test.Echo/Count", false, true),
  Missing: rawMethod("/test.Missing/Call", false, false),
};
type Client = grpc.Client & {
  Echo: Unary;
  Other: Unary;
  Plain: Unary;
  Slow: Unary;
  Missing: Unary;
  Count(req: Buffer, md?: grpc.Metadata): grpc.ClientReadableStream<Buffer>;
};
const ClientCtor = clientConstructor<Client>(SERVICE);

function call(
  client: Client,
  name: "Echo" | "Other" | "Plain" | "Slow" | "Missing",
  body: string,
  metadata: Record<string, string> = {},
): Promise<{ err: grpc.ServiceError | null; res?: string; trailers?: grpc.Metadata; headers?: grpc.Metadata }> {
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(metadata)) md.set(k, v);
  return new Promise((resolve) => {
    let trailers: grpc.Metadata | undefined;
    let headers: grpc.Metadata | undefined;
    const c = client[name](Buffer.from(body), md, {}, (err, res) => {
      setImmediate(() => resolve({ err, res: res?.toString(), trailers, headers }));
    });
    c.on("metadata", (m: grpc.Metadata) => {
      headers = m;
    });
    c.on("status", (status: grpc.StatusObject) => {
      trailers = status.metadata;
    });
  });
}

let h: GatewayHarness;
let server: grpc.Server;
let grpcPort: number;
let deadPort: number;
let plainPort: number;
let tlsPort: number;
let slowCancelled = 0;
let mirrorServer: grpc.Server;
let mirrorPort: number;
/** what the mirror's grpc-js server got: method and message */
const mirrored: string[] = [];

beforeAll(async () => {
  server = new grpc.Server();
  const echo = (tag: string) => (c: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
    const trailer = new grpc.Metadata();
    trailer.set("x-served-by", tag);
    const gw = c.metadata.get("x-gw")[0];
    cb(null, Buffer.from(`${tag}:${String(gw ?? "")}:${c.request.toString()}`), trailer);
  };
  server.addService(SERVICE, {
    Echo: echo("echo"),
    Other: echo("other"),
    Plain: echo("plain"),
    Missing: echo("missing"),
    Slow: (c: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      const timer = setTimeout(() => cb(null, c.request), 3000);
      c.on("cancelled", () => {
        slowCancelled++;
        clearTimeout(timer);
      });
    },
    Count: (c: grpc.ServerWritableStream<Buffer, Buffer>) => {
      for (let i = 0; i < 500; i++) c.write(Buffer.from(String(i)));
      c.end();
    },
  });
  grpcPort = await bindInsecure(server);
  mirrorServer = new grpc.Server();
  const record = (tag: string) => (c: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
    mirrored.push(`${tag}:${c.request.toString()}`);
    cb(null, Buffer.from("from the mirror"));
  };
  mirrorServer.addService(SERVICE, {
    Echo: record("Echo"),
    Other: record("Other"),
    Plain: record("Plain"),
    Missing: record("Missing"),
    Slow: record("Slow"),
    Count: (c: grpc.ServerWritableStream<Buffer, Buffer>) => c.end(),
  });
  mirrorPort = await bindInsecure(mirrorServer);
  deadPort = await closedPort();

  h = await startGateway();
  plainPort = await freePort();
  tlsPort = await freePort();
  const rules = [
    rule({
      name: "echo-exact",
      path: { type: "Exact", value: "/test.Echo/Echo" },
      filters: [
        { type: "RequestHeaderModifier", modifier: { set: [["x-gw", "set-by-gateway"]], add: [], remove: [] } },
        { type: "ResponseHeaderModifier", modifier: { set: [["x-resp", "gw"]], add: [], remove: [] } },
      ],
      backends: [backend(grpcPort, { appProtocol: "h2c" })],
    }),
    rule({
      name: "mirrored",
      path: { type: "PathPrefix", value: "/test.Echo/" },
      headers: [{ name: "x-mirror", type: "Exact", value: "yes" }],
      filters: [
        {
          type: "RequestMirror",
          backend: {
            id: "default/mirror:80",
            namespace: "default",
            service: "mirror",
            port: 80,
            endpoints: [{ ip: "127.0.0.1", port: mirrorPort }],
          },
          appProtocol: "h2c",
          percent: 100,
        },
      ],
      backends: [backend(grpcPort, { appProtocol: "h2c" })],
    }),
    rule({
      name: "other-timeout",
      path: { type: "Exact", value: "/test.Echo/Other" },
      timeouts: { requestMs: 200 },
      backends: [backend(grpcPort, { appProtocol: "h2c" })],
    }),
    rule({
      name: "slow-timeout",
      path: { type: "Exact", value: "/test.Echo/Slow" },
      timeouts: { requestMs: 200 },
      backends: [backend(grpcPort, { appProtocol: "h2c" })],
    }),
    rule({
      name: "to-dead",
      path: { type: "PathPrefix", value: "/test.Echo/" },
      headers: [{ name: "x-to", type: "Exact", value: "dead" }],
      backends: [backend(deadPort, { appProtocol: "h2c" })],
    }),
    rule({
      name: "echo-service",
      path: { type: "PathPrefix", value: "/test.Echo/" },
      backends: [backend(grpcPort, { appProtocol: "h2c" })],
    }),
  ];
  const certificate = testCertificate();
  await h.serve([
    httpSocket(plainPort, [vhost("grpc.gw.test", rules)]),
    httpSocket(tlsPort, [vhost("grpc.gw.test", rules)], {
      protocol: "HTTPS",
      certificates: [certificate],
      defaultCertificate: certificate,
    }),
  ]);
});

afterAll(async () => {
  await h?.close();
  server?.forceShutdown();
  mirrorServer?.forceShutdown();
});

/** The harness's default certificate, as a Gateway listener's certificateRef would give it. */
function testCertificate(): TlsCertificate {
  const x = new X509Certificate(TEST_CERTIFICATE.cert);
  const c = {
    secret: "default/grpc-cert",
    hosts: ["grpc.gw.test"],
    certPem: TEST_CERTIFICATE.cert,
    subject: x.subject,
    validFrom: new Date(x.validFrom).toISOString(),
    validTo: new Date(x.validTo).toISOString(),
    fingerprint256: x.fingerprint256,
  };
  Object.defineProperty(c, "keyPem", { value: TEST_CERTIFICATE.key, enumerable: false });
  return c as unknown as TlsCertificate;
}

const AUTHORITY = { "grpc.default_authority": "grpc.gw.test" };

describe.each([
  [
    "plain-HTTP listener, h2c prior knowledge",
    () => new ClientCtor(`127.0.0.1:${plainPort}`, grpc.credentials.createInsecure(), AUTHORITY),
  ],
  [
    "HTTPS listener, HTTP/2 by ALPN",
    () =>
      new ClientCtor(
        `127.0.0.1:${tlsPort}`,
        grpc.credentials.createSsl(null, null, null, {
          checkServerIdentity: () => undefined,
          rejectUnauthorized: false,
        }),
        { ...AUTHORITY, "grpc.ssl_target_name_override": "grpc.gw.test" },
      ),
  ],
])("gRPC through a Gateway %s", (_name, makeClient) => {
  it("routes by exact method with the rule's header modifier; trailers come back (GRPCRouteExactMethodMatching, GRPCRouteRequestHeaderModifier)", async () => {
    const client = makeClient();
    try {
      const echo = await call(client, "Echo", "hi");
      expect(echo.err).toBeNull();
      expect(echo.res).toBe("echo:set-by-gateway:hi");
      expect(echo.trailers?.get("x-served-by")).toEqual(["echo"]);
      // the rule's ResponseHeaderModifier (GRPCRoute supports it too)
      expect(echo.headers?.get("x-resp")).toEqual(["gw"]);
      // another method of the service: the service's prefix rule, without the modifier
      const other = await call(client, "Other", "there");
      expect(other.res).toBe("other::there");
    } finally {
      client.close();
    }
  });

  it("routes by header to another backend (GRPCRouteHeaderMatching): that one is down, UNAVAILABLE", async () => {
    const client = makeClient();
    try {
      const r = await call(client, "Plain", "x", { "x-to": "dead" });
      expect(r.err?.code).toBe(grpc.status.UNAVAILABLE);
      // without the header: the service's prefix rule
      const ok = await call(client, "Plain", "y");
      expect(ok.res).toBe("plain::y");
    } finally {
      client.close();
    }
  });

  it("the rule's timeout: DEADLINE_EXCEEDED, and the backend's call is cancelled", async () => {
    const client = makeClient();
    try {
      const before = slowCancelled;
      const r = await call(client, "Slow", "x");
      expect(r.err?.code).toBe(grpc.status.DEADLINE_EXCEEDED);
      await settle(() => slowCancelled !== before);
      expect(slowCancelled).toBe(before + 1);
    } finally {
      client.close();
    }
  });

  it("RequestMirror on a gRPC rule: the mirror's server gets the same call, the client the real answer", async () => {
    const client = makeClient();
    try {
      const before = mirrored.length;
      const r = await call(client, "Plain", "copy me", { "x-mirror": "yes" });
      expect(r.err).toBeNull();
      expect(r.res).toBe("plain::copy me");
      await settle(() => mirrored.length !== before);
      expect(mirrored.slice(before)).toEqual(["Plain:copy me"]);
    } finally {
      client.close();
    }
  });

  it("a server stream of 500 messages arrives whole and in order", async () => {
    const client = makeClient();
    try {
      const got: string[] = [];
      const stream = client.Count(Buffer.alloc(0));
      stream.on("data", (b: Buffer) => got.push(b.toString()));
      const status = await new Promise<grpc.StatusObject>((resolve) => stream.on("status", resolve));
      expect(status.code).toBe(grpc.status.OK);
      expect(got).toEqual(Array.from({ length: 500 }, (_, i) => String(i)));
    } finally {
      client.close();
    }
  });

  it("a service no rule matches is never forwarded (the proxy's 404: UNIMPLEMENTED)", async () => {
    const client = makeClient();
    try {
      const r = await call(client, "Missing", "x");
      expect(r.err?.code).toBe(grpc.status.UNIMPLEMENTED);
    } finally {
      client.close();
    }
  });
});

describe("an h2c backend behind a rule with a timeout, from an HTTP/1.1 client", () => {
  it("a response that came in time leaves the keep-alive connection alone once the timeout has passed", async () => {
    const socket = connect(plainPort, "127.0.0.1");
    await once(socket, "connect");
    let data = "";
    let closed = false;
    socket.on("data", (d: Buffer) => {
      data += d.toString("latin1");
    });
    socket.on("close", () => {
      closed = true;
    });
    socket.on("error", () => undefined);
    const request = "POST /test.Echo/Other HTTP/1.1\r\nHost: grpc.gw.test\r\nContent-Length: 0\r\n\r\n";
    try {
      socket.write(request);
      await until(() => /^HTTP\/1\.1 \d{3} /.test(data));
      // past the rule's 200 ms: a deadline left running would now cut the connection
      await new Promise((r) => setTimeout(r, 400));
      expect(closed).toBe(false);
      socket.write(request);
      await until(() => (data.match(/HTTP\/1\.1 \d{3} /g) ?? []).length === 2);
      expect((data.match(/HTTP\/1\.1 \d{3} /g) ?? []).length).toBe(2);
      expect(data).not.toContain("504");
    } finally {
      socket.destroy();
    }
  });
});

async function until(check: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
}
