import { execFileSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type Backend,
  type Harness,
  ingress,
  rule,
  service,
  slicesFor,
  startBackend,
  startIngress,
} from "./harness.ts";

const HANDSHAKE_TIMEOUT_MS = 400;
const CLIENTS = 50;

/** Descriptors this process holds: the plane runs in the test process, so its sockets are counted here. */
const openFds = () => readdirSync("/proc/self/fd").length;

/** Server-side sockets on `port` in CLOSE-WAIT (the peer closed, we never did), as `ss` sees them. */
function closeWait(port: number): number {
  const out = execFileSync("ss", ["-Htan", "state", "close-wait", `( sport = :${port} )`], { encoding: "utf8" });
  return out.split("\n").filter((l) => l.trim() !== "").length;
}

async function until(what: string, ok: () => boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A TLS 1.2 ClientHello record that announces 512 bytes of handshake and stops after 10 of them. */
const HALF_CLIENT_HELLO = Buffer.from([
  0x16, 0x03, 0x01, 0x02, 0x04, 0x01, 0x00, 0x02, 0x00, 0x03, 0x03, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
]);

interface Held {
  socket: Socket;
  /** closes from the client side (destroy, or end when `half`) */
  close(half?: boolean): void;
  /** resolves with true when the server closed the connection (FIN or RST), false when we did */
  closedByServer: Promise<boolean>;
}

/** Opens `n` raw TCP connections to the HTTPS port, each sending `bytes` (possibly nothing). */
async function hold(port: number, n: number, bytes?: Buffer | string): Promise<Held[]> {
  const held = Array.from({ length: n }, () => {
    const socket = connect({ host: "127.0.0.1", port });
    let byUs = false;
    socket.on("error", () => undefined);
    socket.on("data", () => undefined);
    if (bytes !== undefined) socket.once("connect", () => socket.write(bytes));
    // bounded: a server that never closes makes the row fail here, not hang
    const bound = setTimeout(() => close(), 5_000);
    const close = (half = false) => {
      byUs = true;
      if (half) socket.end();
      else socket.destroy();
    };
    const closedByServer = new Promise<boolean>((resolve) =>
      socket.once("close", () => {
        clearTimeout(bound);
        resolve(!byUs);
      }),
    );
    return { socket, close, closedByServer };
  });
  await Promise.all(held.map((h) => new Promise((r) => (h.socket.connecting ? h.socket.once("connect", r) : r(0)))));
  return held;
}

// Backends of this file: 127.245.9.x
describe("ingress plane: hostile TLS clients cannot hold descriptors", () => {
  let web: Backend;
  let h: Harness;

  beforeAll(async () => {
    web = await startBackend("web", "127.245.9.1");
    h = await startIngress(
      [
        service("default", "web", [{ name: "http", port: 80 }]),
        ...slicesFor("default", "web", "http", [web]),
        ingress("default", "web", { rules: [rule("h.com", [{ path: "/", service: "web", port: 80 }])] }),
      ],
      { flags: ["--tls-handshake-timeout", `${HANDSHAKE_TIMEOUT_MS}ms`] },
    );
  });

  afterAll(async () => {
    await h?.close();
    await web?.close();
  });

  /** The listener still completes a handshake and answers after the hostile row. */
  function stillServes(): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = tlsConnect({
        host: "127.0.0.1",
        port: h.httpsPort,
        rejectUnauthorized: false,
        servername: "h.com",
        ALPNProtocols: ["http/1.1"],
      });
      let data = "";
      socket.on("data", (c: Buffer) => {
        data += c.toString("latin1");
        if (data.includes("\r\n\r\n")) socket.destroy();
      });
      socket.on("error", reject);
      socket.on("close", () => resolve(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? "none"));
      socket.once("secureConnect", () => socket.write("GET / HTTP/1.1\r\nHost: h.com\r\nConnection: close\r\n\r\n"));
    });
  }

  const rows: { name: string; bytes?: Buffer | string }[] = [
    { name: "send nothing" },
    { name: "send half a ClientHello", bytes: HALF_CLIENT_HELLO },
    { name: "send one byte of a TLS record", bytes: Buffer.from([0x16]) },
  ];

  for (const row of rows) {
    it(`${CLIENTS} connections that ${row.name}: the server closes them after the handshake timeout, no fd left`, async () => {
      const before = openFds();
      const started = Date.now();
      const held = await hold(h.httpsPort, CLIENTS, row.bytes);
      expect(openFds()).toBeGreaterThanOrEqual(before + CLIENTS); // our client ends plus the server's
      const byServer = await Promise.all(held.map((c) => c.closedByServer));
      const elapsed = Date.now() - started;
      expect(byServer.every((b) => b)).toBe(true);
      expect(elapsed).toBeGreaterThanOrEqual(HANDSHAKE_TIMEOUT_MS - 50);
      await until("descriptors back", () => openFds() <= before);
      expect(closeWait(h.httpsPort)).toBe(0);
      expect(await stillServes()).toBe("200");
    });
  }

  it(`${CLIENTS} clients that hold a silent connection past the timeout and then close leave no CLOSE-WAIT`, async () => {
    const before = openFds();
    const held = await hold(h.httpsPort, CLIENTS, HALF_CLIENT_HELLO);
    // the attacker of the report: hold past the server's timeout, then close from the client side
    await new Promise((r) => setTimeout(r, HANDSHAKE_TIMEOUT_MS + 200));
    for (const c of held) c.close();
    await Promise.all(held.map((c) => c.closedByServer));
    await until("descriptors back", () => openFds() <= before);
    expect(closeWait(h.httpsPort)).toBe(0);
  });

  it(`${CLIENTS} clients that close before the handshake timeout leave no CLOSE-WAIT`, async () => {
    const before = openFds();
    const held = await hold(h.httpsPort, CLIENTS, HALF_CLIENT_HELLO);
    for (const c of held) c.close(true);
    await Promise.all(held.map((c) => c.closedByServer));
    await until("descriptors back", () => openFds() <= before, HANDSHAKE_TIMEOUT_MS * 3);
    expect(closeWait(h.httpsPort)).toBe(0);
  });

  it("plain HTTP on the TLS port is dropped at once, not answered or kept", async () => {
    const before = openFds();
    const held = await hold(h.httpsPort, 10, "GET / HTTP/1.1\r\nHost: h.com\r\n\r\n");
    const started = Date.now();
    expect((await Promise.all(held.map((c) => c.closedByServer))).every((b) => b)).toBe(true);
    expect(Date.now() - started).toBeLessThan(HANDSHAKE_TIMEOUT_MS);
    await until("descriptors back", () => openFds() <= before);
    expect(closeWait(h.httpsPort)).toBe(0);
  });

  it("an idle HTTP/2 session is closed after the keep-alive timeout", async () => {
    const idle = await startIngress([], { limits: { keepAliveTimeoutMs: 300 } });
    try {
      const { connect: h2connect } = await import("node:http2");
      const session = h2connect(`https://127.0.0.1:${idle.httpsPort}`, { rejectUnauthorized: false });
      session.on("error", () => undefined);
      const started = Date.now();
      const bound = setTimeout(() => session.destroy(), 5_000);
      await new Promise((resolve) => session.once("close", resolve));
      clearTimeout(bound);
      expect(Date.now() - started).toBeLessThan(3_000);
    } finally {
      await idle.close();
    }
  });

  it("close() finishes while clients sit in the TLS handshake (SIGTERM must not wait on them)", async () => {
    const slow = await startIngress([], { flags: ["--tls-handshake-timeout", "60s"] });
    const held = await hold(slow.httpsPort, CLIENTS, HALF_CLIENT_HELLO);
    const started = Date.now();
    await slow.close();
    expect(Date.now() - started).toBeLessThan(5_000);
    expect((await Promise.all(held.map((c) => c.closedByServer))).every((b) => b)).toBe(true);
  });
});
