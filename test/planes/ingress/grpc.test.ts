import { once } from "node:events";
import {
  createServer as createH2Server,
  createSecureServer,
  type Http2SecureServer,
  type Http2Server,
  type Http2ServerRequest,
  type Http2ServerResponse,
} from "node:http2";
import type { AddressInfo } from "node:net";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../../src/log.ts";
import { generateDefaultCertificate } from "../../../src/planes/ingress/certificates.ts";
import { H2cClients } from "../../../src/planes/ingress/h2c.ts";
import { bindInsecure, clientConstructor, closedPort, rawMethod, settle, type Unary } from "./grpc-support.ts";

/**
 * gRPC end to end through H2cClients, with @grpc/grpc-js on both sides (generic client and server, raw Buffer
 * messages: no protoc). The proxy in the middle is a minimal harness standing in for the gateway's request
 * flow (P1's IngressProxy routes GRPCRoutes to H2cClients.forward the same way): a node:http2 server, plain
 * (h2c prior knowledge) and TLS, forwarding every stream to the grpc-js server.
 */
const SERVICE = {
  Echo: rawMethod("/test.Echo/Echo", false, false),
  Fail: rawMethod("/test.Echo/Fail", false, false),
  Slow: rawMethod("/test.Echo/Slow", false, false),
  Count: rawMethod("/test.Echo/Count", false, true),
  Sum: rawMethod("/test.Echo/Sum", true, false),
};
type EchoClient = grpc.Client & {
  Echo: Unary;
  Fail: Unary;
  Slow: Unary;
  Count(req: Buffer, md?: grpc.Metadata): grpc.ClientReadableStream<Buffer>;
  Sum(cb: (err: grpc.ServiceError | null, res?: Buffer) => void): grpc.ClientWritableStream<Buffer>;
};
const EchoClientCtor = clientConstructor<EchoClient>(SERVICE);

function unary(
  client: EchoClient,
  name: "Echo" | "Fail" | "Slow",
  body: Buffer,
  metadata = new grpc.Metadata(),
  options: grpc.CallOptions = {},
): Promise<{ err: grpc.ServiceError | null; res?: Buffer; trailers?: grpc.Metadata }> {
  return new Promise((resolve) => {
    let trailers: grpc.Metadata | undefined;
    const call = client[name](body, metadata, options, (err, res) => {
      // 'status' comes after the callback on success; give it a tick
      setImmediate(() => resolve({ err, res, trailers }));
    });
    call.on("status", (status: grpc.StatusObject) => {
      trailers = status.metadata;
    });
  });
}

describe("gRPC through H2cClients (grpc-js client and server)", () => {
  let server: grpc.Server;
  let grpcPort: number;
  let clients: H2cClients;
  let plain: Http2Server;
  let tls: Http2SecureServer;
  let deadPort: number;
  let slowCancelled = 0;
  const seen: number[] = [];

  beforeAll(async () => {
    server = new grpc.Server();
    server.addService(SERVICE, {
      Echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
        const md = new grpc.Metadata();
        md.set("x-echo-trailer", "t1");
        const from = call.metadata.get("x-from")[0];
        cb(null, Buffer.concat([Buffer.from(`${String(from ?? "")}:`), call.request]), md);
      },
      Fail: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
        cb({ code: grpc.status.NOT_FOUND, details: "no such thing ✗" });
      },
      Slow: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
        const timer = setTimeout(() => cb(null, call.request), 2000);
        call.on("cancelled", () => {
          slowCancelled++;
          clearTimeout(timer);
        });
      },
      Count: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
        const n = call.request.readUInt32BE(0);
        for (let i = 0; i < n; i++) {
          const b = Buffer.alloc(4);
          b.writeUInt32BE(i);
          call.write(b);
        }
        call.end();
      },
      Sum: (call: grpc.ServerReadableStream<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
        let bytes = 0;
        call.on("data", (b: Buffer) => {
          bytes += b.length;
        });
        call.on("end", () => {
          const out = Buffer.alloc(4);
          out.writeUInt32BE(bytes);
          cb(null, out);
        });
      },
    });
    grpcPort = await bindInsecure(server);
    deadPort = await closedPort();

    clients = new H2cClients(silentLogger, { connectTimeoutMs: 1000, idleTimeoutMs: 5000 });
    const handler = (req: Http2ServerRequest, res: Http2ServerResponse) => {
      const headers: Record<string, string | string[]> = {};
      for (const [name, value] of Object.entries(req.headers)) {
        if (value !== undefined && !name.startsWith(":")) headers[name] = value;
      }
      const port = req.headers["x-to"] === "dead" ? deadPort : grpcPort;
      const timeout = Number(req.headers["x-route-timeout"] ?? 0) || undefined;
      clients.forward(
        req,
        res,
        { ip: "127.0.0.1", port },
        { method: req.method, path: req.url, authority: req.authority, headers },
        timeout,
        (status) => seen.push(status),
      );
    };
    plain = createH2Server(handler);
    const pem = generateDefaultCertificate();
    tls = createSecureServer({ key: pem.key, cert: pem.cert }, handler);
    for (const s of [plain, tls]) {
      s.listen(0, "127.0.0.1");
      await once(s, "listening");
    }
  });

  afterAll(async () => {
    await clients?.close();
    server?.forceShutdown();
    plain?.close();
    tls?.close();
  });

  const plainClient = () =>
    new EchoClientCtor(`127.0.0.1:${(plain.address() as AddressInfo).port}`, grpc.credentials.createInsecure());

  it("a unary call over h2c: response, metadata and trailers", async () => {
    const client = plainClient();
    try {
      const md = new grpc.Metadata();
      md.set("x-from", "client");
      const r = await unary(client, "Echo", Buffer.from("hello"), md);
      expect(r.err).toBeNull();
      expect(r.res?.toString()).toBe("client:hello");
      expect(r.trailers?.get("x-echo-trailer")).toEqual(["t1"]);
    } finally {
      client.close();
    }
  });

  it("a unary call over HTTP/2 TLS downstream", async () => {
    const client = new EchoClientCtor(
      `127.0.0.1:${(tls.address() as AddressInfo).port}`,
      grpc.credentials.createSsl(null, null, null, { checkServerIdentity: () => undefined, rejectUnauthorized: false }),
    );
    try {
      const r = await unary(client, "Echo", Buffer.from("over tls"));
      expect(r.err).toBeNull();
      expect(r.res?.toString()).toBe(":over tls");
    } finally {
      client.close();
    }
  });

  it("the server's error status and message arrive (trailers)", async () => {
    const client = plainClient();
    try {
      const r = await unary(client, "Fail", Buffer.from("x"));
      expect(r.err?.code).toBe(grpc.status.NOT_FOUND);
      expect(r.err?.details).toBe("no such thing ✗");
    } finally {
      client.close();
    }
  });

  it("server streaming: 2,000 messages in order", async () => {
    const client = plainClient();
    try {
      const n = Buffer.alloc(4);
      n.writeUInt32BE(2000);
      const got: number[] = [];
      const call = client.Count(n);
      call.on("data", (b: Buffer) => got.push(b.readUInt32BE(0)));
      const status = await new Promise<grpc.StatusObject>((resolve) => call.on("status", resolve));
      expect(status.code).toBe(grpc.status.OK);
      expect(got.length).toBe(2000);
      expect(got.every((v, i) => v === i)).toBe(true);
    } finally {
      client.close();
    }
  });

  it("client streaming: 4 MiB in 64 KiB messages", async () => {
    const client = plainClient();
    try {
      const result = new Promise<Buffer | undefined>((resolve, reject) => {
        const call = client.Sum((err, res) => (err ? reject(err) : resolve(res)));
        for (let i = 0; i < 64; i++) call.write(Buffer.alloc(64 * 1024, i));
        call.end();
      });
      expect((await result)?.readUInt32BE(0)).toBe(4 * 1024 * 1024);
    } finally {
      client.close();
    }
  });

  it("backend down: UNAVAILABLE", async () => {
    const client = plainClient();
    try {
      const md = new grpc.Metadata();
      md.set("x-to", "dead");
      const r = await unary(client, "Echo", Buffer.from("x"), md);
      expect(r.err?.code).toBe(grpc.status.UNAVAILABLE);
    } finally {
      client.close();
    }
  });

  it("the route's timeout: DEADLINE_EXCEEDED, and the backend's call is cancelled", async () => {
    const client = plainClient();
    try {
      const before = slowCancelled;
      const md = new grpc.Metadata();
      md.set("x-route-timeout", "150");
      const r = await unary(client, "Slow", Buffer.from("x"), md);
      expect(r.err?.code).toBe(grpc.status.DEADLINE_EXCEEDED);
      await settle(() => slowCancelled !== before);
      expect(slowCancelled).toBe(before + 1);
    } finally {
      client.close();
    }
  });

  it("a client cancel cancels the backend's call", async () => {
    const client = plainClient();
    try {
      const before = slowCancelled;
      const call = client.Slow(Buffer.from("x"), new grpc.Metadata(), {}, () => undefined);
      await new Promise((res) => setTimeout(res, 150));
      call.cancel();
      await settle(() => slowCancelled !== before);
      expect(slowCancelled).toBe(before + 1);
    } finally {
      client.close();
    }
  });

  it("reuses one upstream session for many calls", async () => {
    const client = plainClient();
    try {
      const calls = await Promise.all(Array.from({ length: 50 }, (_, i) => unary(client, "Echo", Buffer.from(`${i}`))));
      expect(calls.every((c) => c.err === null)).toBe(true);
      expect(clients.sessions).toBe(1);
    } finally {
      client.close();
    }
  });
});
