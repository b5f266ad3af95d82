import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import { type AddressInfo, connect, type Socket } from "node:net";
import type { Duplex } from "node:stream";
import { connect as tlsConnect } from "node:tls";
import { promisify } from "node:util";
import { Registry } from "prom-client";
import { parseFlags } from "../../../src/cli/flags.ts";
import type { Config } from "../../../src/config.ts";
import { type Logger, silentLogger } from "../../../src/log.ts";
import type { KindMap } from "../../../src/model/k8s.ts";
import { type ClientLimits, DEFAULT_CLIENT_LIMITS, IngressPlane } from "../../../src/planes/ingress/index.ts";
import type { Snapshot } from "../../../src/snapshot/snapshot.ts";
import { MemoryStatusWriter } from "../../../src/status/writer.ts";
import { Store } from "../../../src/store/store.ts";
import { Translator } from "../../../src/translate/index.ts";
import { translateOptions } from "../../support/options.ts";

const run = promisify(execFile);

export interface Backend {
  name: string;
  ip: string;
  port: number;
  server: Server;
  /** requests seen */
  hits: number;
  close(): Promise<void>;
}

/**
 * An echo backend: answers JSON naming itself with the request it got. `/slow?ms=N` waits first,
 * `/big?kb=N` sends N KiB, POST bodies are echoed as their length; Upgrade requests become a tiny
 * WebSocket echo (text frames up to 125 bytes, enough for the tests).
 */
export async function startBackend(name: string, ip: string, port = 0): Promise<Backend> {
  const sockets = new Set<Socket>();
  const backend: Backend = {
    name,
    ip,
    port: 0,
    hits: 0,
    server: createServer((req, res) => {
      backend.hits++;
      const url = new URL(req.url ?? "/", "http://x");
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const reply = () => {
          if (url.pathname.endsWith("/big")) {
            const kb = Number(url.searchParams.get("kb") ?? "1");
            res.writeHead(200, {
              "content-type": "application/octet-stream",
              "content-length": kb * 1024,
              server: "backend",
            });
            res.end(Buffer.alloc(kb * 1024, 97));
            return;
          }
          const body = JSON.stringify({
            backend: name,
            method: req.method,
            url: req.url,
            headers: req.headers,
            bodyLength: Buffer.concat(chunks).length,
          });
          res.writeHead(200, {
            "content-type": "application/json",
            server: "backend",
            connection: "keep-alive",
            "x-backend": name,
            "content-length": Buffer.byteLength(body),
          });
          res.end(body);
        };
        const ms = Number(url.searchParams.get("ms") ?? "0");
        if (url.pathname.endsWith("/slow") && ms > 0) setTimeout(reply, ms);
        else reply();
      });
    }),
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => backend.server.close(() => r()));
    },
  };
  backend.server.on("connection", (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  backend.server.on("upgrade", (req: IncomingMessage, socket: Duplex) => websocketEcho(name, req, socket));
  await new Promise<void>((resolve, reject) => {
    backend.server.once("error", reject);
    backend.server.listen(port, ip, () => resolve());
  });
  backend.port = (backend.server.address() as AddressInfo).port;
  return backend;
}

function websocketEcho(name: string, req: IncomingMessage, socket: Duplex): void {
  const key = req.headers["sec-websocket-key"] ?? "";
  const accept = createHash("sha1").update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest("base64");
  socket.write(
    `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\nX-Backend: ${name}\r\n\r\n`,
  );
  let buffer = Buffer.alloc(0);
  socket.on("data", (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk]);
    while (buffer.length >= 6) {
      const opcode = buffer[0]! & 0x0f;
      const len = buffer[1]! & 0x7f;
      if (len > 125 || buffer.length < 6 + len) return;
      const mask = buffer.subarray(2, 6);
      const payload = Buffer.from(buffer.subarray(6, 6 + len).map((b, i) => b ^ mask[i % 4]!));
      buffer = buffer.subarray(6 + len);
      if (opcode === 8) {
        socket.end(Buffer.from([0x88, 0]));
        return;
      }
      const text = Buffer.from(`${name}:${payload.toString()}`);
      socket.write(Buffer.concat([Buffer.from([0x81, text.length]), text]));
    }
  });
  socket.on("error", () => socket.destroy());
}

export interface Harness {
  plane: IngressPlane;
  store: Store;
  status: MemoryStatusWriter;
  registry: Registry;
  config: Config;
  httpPort: number;
  httpsPort: number;
  snapshot: Snapshot;
  /** re-translates the store and applies the result, as the pipeline does after a change */
  sync(): Promise<Snapshot>;
  close(): Promise<void>;
}

type AnyObject = { kind: keyof KindMap } & KindMap[keyof KindMap];

export async function startIngress(
  objects: readonly AnyObject[],
  options: { limits?: Partial<ClientLimits>; flags?: string[]; reusePort?: boolean; logger?: Logger } = {},
): Promise<Harness> {
  const config = parseFlags(
    [
      "--manifests",
      "unused",
      "--http-address",
      "127.0.0.1:0",
      "--https-address",
      "127.0.0.1:0",
      "--node-name",
      "test-node",
      ...(options.flags ?? []),
    ],
    {},
  );
  const store = new Store();
  for (const obj of objects) store.upsert(obj.kind, obj as never);
  const registry = new Registry();
  const status = new MemoryStatusWriter();
  const plane = new IngressPlane(
    { config, logger: options.logger ?? silentLogger, registry, store, status, reusePort: options.reusePort },
    { ...DEFAULT_CLIENT_LIMITS, ...options.limits },
    TEST_CERTIFICATE,
  );
  await plane.start();
  const translator = new Translator(
    translateOptions({
      nodeName: config.nodeName,
      localAddresses: ["127.0.0.1"],
      clusterDomain: config.clusterDomain,
      ingressClass: config.ingressClass,
      ingressController: config.ingressController,
      publishAddresses: config.publishAddresses,
      dnsPods: config.dnsPods,
    }),
  );
  let current: Snapshot | undefined;
  const harness: Harness = {
    plane,
    store,
    status,
    registry,
    config,
    httpPort: (plane.httpListener!.address() as AddressInfo).port,
    httpsPort: (plane.https!.address() as AddressInfo).port,
    snapshot: undefined as unknown as Snapshot,
    async sync() {
      const next = translator.build(store);
      await plane.apply(current, next);
      current = next;
      harness.snapshot = next;
      return next;
    },
    close: () => plane.close(),
  };
  await harness.sync();
  return harness;
}

/** One default certificate for all tests: RSA generation is the slow part of starting a plane. */
const { generateDefaultCertificate } = await import("../../../src/planes/ingress/certificates.ts");
export const TEST_CERTIFICATE = generateDefaultCertificate("nodeplane test default");

/** A certificate for `hosts`, as a kubernetes.io/tls Secret, made with openssl (as a user would). */
export async function tlsSecret(
  namespace: string,
  name: string,
  commonName: string,
  dir: string,
): Promise<KindMap["Secret"] & { kind: "Secret" }> {
  const key = `${dir}/${name}.key`;
  const crt = `${dir}/${name}.crt`;
  await run("openssl", [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-days",
    "2",
    "-subj",
    `/CN=${commonName}`,
    "-addext",
    `subjectAltName=DNS:${commonName}`,
    "-keyout",
    key,
    "-out",
    crt,
  ]);
  const { readFile } = await import("node:fs/promises");
  return {
    kind: "Secret",
    apiVersion: "v1",
    metadata: { namespace, name },
    type: "kubernetes.io/tls",
    data: {
      "tls.crt": (await readFile(crt)).toString("base64"),
      "tls.key": (await readFile(key)).toString("base64"),
    },
  };
}

/** Runs curl; returns stdout, stderr and the exit code (never throws on HTTP errors). */
export async function curl(args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await run("curl", ["-sS", "--max-time", "10", ...args], { maxBuffer: 16 * 1024 * 1024 });
    return { stdout, stderr, code: 0 };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; code?: number };
    return { stdout: e.stdout ?? "", stderr: e.stderr ?? "", code: typeof e.code === "number" ? e.code : -1 };
  }
}

/**
 * Sends raw bytes to 127.0.0.1:port (one write per chunk, `gapMs` after each; over TLS to SNI h.com when
 * `tls`), half-closes afterwards when `halfClose`, and returns everything the server sent until the
 * connection closed (bounded by `ms`) and whether the server closed it (FIN) rather than the time bound.
 */
export function rawExchange(
  port: number,
  chunks: readonly string[],
  options: { tls?: boolean; gapMs?: number; ms?: number; halfClose?: boolean } = {},
): Promise<{ data: string; closed: boolean }> {
  return new Promise((resolve) => {
    const socket = options.tls
      ? tlsConnect({
          host: "127.0.0.1",
          port,
          rejectUnauthorized: false,
          servername: "h.com",
          ALPNProtocols: ["http/1.1"],
        })
      : connect({ host: "127.0.0.1", port });
    let data = "";
    let closed = false;
    const timer = setTimeout(() => socket.destroy(), options.ms ?? 5_000);
    socket.on("data", (c: Buffer) => {
      data += c.toString("latin1");
    });
    socket.on("end", () => {
      closed = true;
    });
    socket.on("error", () => undefined);
    socket.on("close", () => {
      clearTimeout(timer);
      resolve({ data, closed });
    });
    socket.once(options.tls ? "secureConnect" : "connect", async () => {
      for (const chunk of chunks) {
        if (socket.destroyed) return;
        socket.write(chunk);
        if (options.gapMs) await new Promise((r) => setTimeout(r, options.gapMs));
      }
      if (options.halfClose && !socket.destroyed) socket.end();
    });
  });
}

// ---- object builders -----------------------------------------------------------------------------

/**
 * The one-route setup many tests start from: Service default/web (port "http" 80) on `backend`, and Ingress
 * default/web routing `host` / to it.
 */
export function webIngress(backend: Backend, host = "h.com") {
  return [
    service("default", "web", [{ name: "http", port: 80 }]),
    ...slicesFor("default", "web", "http", [backend]),
    ingress("default", "web", { rules: [rule(host, [{ path: "/", service: "web", port: 80 }])] }),
  ];
}

export function service(
  namespace: string,
  name: string,
  ports: { name?: string; port: number; targetPort?: number }[],
) {
  return {
    kind: "Service" as const,
    metadata: { namespace, name },
    spec: { ports: ports.map((p) => ({ protocol: "TCP", ...p })) },
  };
}

export function slice(
  namespace: string,
  serviceName: string,
  ports: { name?: string; port: number }[],
  endpoints: { ip: string; ready?: boolean; serving?: boolean; terminating?: boolean }[],
  suffix = "a",
) {
  return {
    kind: "EndpointSlice" as const,
    metadata: { namespace, name: `${serviceName}-${suffix}`, labels: { "kubernetes.io/service-name": serviceName } },
    addressType: endpoints[0]?.ip.includes(":") ? "IPv6" : "IPv4",
    ports: ports.map((p) => ({ protocol: "TCP", ...p })),
    endpoints: endpoints.map((e) => ({
      addresses: [e.ip],
      conditions: {
        ready: e.ready ?? true,
        ...(e.serving !== undefined ? { serving: e.serving } : {}),
        ...(e.terminating !== undefined ? { terminating: e.terminating } : {}),
      },
    })),
  };
}

/** One EndpointSlice per backend (slices may differ in port), all ready unless said otherwise. */
export function slicesFor(
  namespace: string,
  serviceName: string,
  portName: string,
  backends: readonly { ip: string; port: number }[],
) {
  return backends.map((b, i) =>
    slice(namespace, serviceName, [{ name: portName, port: b.port }], [{ ip: b.ip }], `s${i}`),
  );
}

export function ingress(
  namespace: string,
  name: string,
  spec: KindMap["Ingress"]["spec"],
  annotations: Record<string, string> = {},
  creationTimestamp?: string,
) {
  return {
    kind: "Ingress" as const,
    metadata: { namespace, name, annotations, ...(creationTimestamp ? { creationTimestamp } : {}) },
    spec: { ingressClassName: "nodeplane", ...spec },
  };
}

export function rule(
  host: string | undefined,
  paths: { path?: string; pathType?: string; service: string; port: number | string }[],
) {
  return {
    ...(host !== undefined ? { host } : {}),
    http: {
      paths: paths.map((p) => ({
        ...(p.path !== undefined ? { path: p.path } : {}),
        pathType: p.pathType ?? "Prefix",
        backend: {
          service: { name: p.service, port: typeof p.port === "number" ? { number: p.port } : { name: p.port } },
        },
      })),
    },
  };
}
