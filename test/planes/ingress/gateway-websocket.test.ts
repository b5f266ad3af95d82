import { createHash } from "node:crypto";
import { once } from "node:events";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import type { Duplex } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backend, freePort, type GatewayHarness, httpSocket, rule, startGateway, vhost } from "./gateway-harness.ts";

/**
 * WebSocket backends (appProtocol kubernetes.io/ws) through a Gateway socket, with a real WebSocket client (Node's
 * own, undici's) and a backend that echoes text and binary messages exactly: conformance
 * HTTPRouteBackendProtocolWebSocket ("websocket connection should reach backend": a text and a binary frame
 * echoed). The proxy tunnels through the upgrade path (upgrade.ts) once the backend answers 101.
 */

/** Unmasked server frame for `payload` (opcode 1 text, 2 binary). */
function serverFrame(opcode: number, payload: Buffer): Buffer {
  if (payload.length < 126) return Buffer.concat([Buffer.from([0x80 | opcode, payload.length]), payload]);
  const head = Buffer.from([0x80 | opcode, 126, 0, 0]);
  head.writeUInt16BE(payload.length, 2);
  return Buffer.concat([head, payload]);
}

/** Echoes each message back with its opcode; payloads up to 64 KiB (enough here). Counts upgrades and their paths. */
function echoBackend(): { server: Server; upgrades: string[]; sockets: Set<Socket> } {
  const upgrades: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((_req, res) => {
    res.writeHead(426, { "content-type": "text/plain" });
    res.end("upgrade required\n");
  });
  server.on("connection", (s: Socket) => {
    sockets.add(s);
    s.once("close", () => sockets.delete(s));
  });
  server.on("upgrade", (req: IncomingMessage, socket: Duplex) => {
    upgrades.push(req.url ?? "");
    const accept = createHash("sha1")
      .update(`${req.headers["sec-websocket-key"] ?? ""}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`)
      .digest("base64");
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
    );
    let buffer = Buffer.alloc(0);
    socket.on("error", () => socket.destroy());
    socket.on("data", (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        if (buffer.length < 2) return;
        const opcode = buffer[0]! & 0x0f;
        let len = buffer[1]! & 0x7f;
        let offset = 2;
        if (len === 126) {
          if (buffer.length < 4) return;
          len = buffer.readUInt16BE(2);
          offset = 4;
        }
        if (buffer.length < offset + 4 + len) return;
        const mask = buffer.subarray(offset, offset + 4);
        const payload = Buffer.from(buffer.subarray(offset + 4, offset + 4 + len).map((b, i) => b ^ mask[i % 4]!));
        buffer = buffer.subarray(offset + 4 + len);
        if (opcode === 8) {
          socket.end(Buffer.from([0x88, 0]));
          return;
        }
        if (opcode === 1 || opcode === 2) socket.write(serverFrame(opcode, payload));
      }
    });
  });
  return { server, upgrades, sockets };
}

let h: GatewayHarness;
let ws: ReturnType<typeof echoBackend>;
let port: number;

beforeAll(async () => {
  ws = echoBackend();
  ws.server.listen(0, "127.0.0.1");
  await once(ws.server, "listening");
  h = await startGateway();
  port = await freePort();
  await h.serve([
    httpSocket(port, [
      vhost("", [
        rule({
          path: { type: "PathPrefix", value: "/ws" },
          filters: [{ type: "URLRewrite", path: { type: "ReplacePrefixMatch", value: "/echo" } }],
          backends: [backend((ws.server.address() as AddressInfo).port, { appProtocol: "ws" })],
        }),
      ]),
    ]),
  ]);
});

afterAll(async () => {
  await h?.close();
  for (const s of ws.sockets) s.destroy();
  ws.server.close();
});

function open(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url);
    socket.binaryType = "arraybuffer";
    socket.addEventListener("open", () => resolve(socket), { once: true });
    socket.addEventListener("error", () => reject(new Error("websocket failed")), { once: true });
  });
}

function next(socket: WebSocket): Promise<string | Buffer> {
  return new Promise((resolve, reject) => {
    socket.addEventListener(
      "message",
      (event: MessageEvent) =>
        resolve(typeof event.data === "string" ? event.data : Buffer.from(event.data as ArrayBuffer)),
      { once: true },
    );
    socket.addEventListener("close", () => reject(new Error("closed")), { once: true });
  });
}

describe("WebSocket backends (appProtocol kubernetes.io/ws) through a Gateway socket", () => {
  it("echoes a text and a binary message (conformance HTTPRouteBackendProtocolWebSocket), with the rule's rewrite", async () => {
    const socket = await open(`ws://127.0.0.1:${port}/ws`);
    try {
      socket.send("Websocket Support!");
      expect(await next(socket)).toBe("Websocket Support!");
      socket.send(new Uint8Array([1, 2, 3, 4, 5, 6, 7]));
      expect(Buffer.compare((await next(socket)) as Buffer, Buffer.from([1, 2, 3, 4, 5, 6, 7]))).toBe(0);
      // a larger binary message in both directions (extended length)
      const big = Buffer.alloc(20_000, 9);
      socket.send(big);
      expect(((await next(socket)) as Buffer).equals(big)).toBe(true);
      expect(ws.upgrades[ws.upgrades.length - 1]).toBe("/echo");
    } finally {
      socket.close();
    }
  });

  it("many tunnels at once each get their own echoes", async () => {
    const sockets = await Promise.all(Array.from({ length: 10 }, () => open(`ws://127.0.0.1:${port}/ws/x`)));
    try {
      const answers = await Promise.all(
        sockets.map((s, i) => {
          const answer = next(s);
          s.send(`message ${i}`);
          return answer;
        }),
      );
      expect(answers).toEqual(sockets.map((_, i) => `message ${i}`));
    } finally {
      for (const s of sockets) s.close();
    }
  });
});
