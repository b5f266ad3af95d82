import { connect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import type { Counter } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { perSourceCap } from "../../../src/planes/ingress/source-cap.ts";
import { type Backend, type Harness, startBackend, startIngress, webIngress } from "./harness.ts";

const CAP = 5;
const CLIENTS = 20;
const REFUSED = "nodeplane_ingress_connections_refused_total";

async function until(what: string, ok: () => boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function open(port: number, localAddress: string, tls: boolean): Socket {
  return tls
    ? tlsConnect({
        socket: connect({ host: "127.0.0.1", port, localAddress }),
        rejectUnauthorized: false,
        servername: "a.test",
      })
    : connect({ host: "127.0.0.1", port, localAddress });
}

interface Held {
  socket: Socket;
  /** the server closed it (FIN, RST or a reset handshake) before we did */
  closedByServer: boolean;
  close(): void;
}

/** `n` idle client connections from `localAddress`, opened together. */
function hold(port: number, n: number, localAddress: string, tls: boolean): Held[] {
  return Array.from({ length: n }, () => {
    const socket = open(port, localAddress, tls);
    let byUs = false;
    const held: Held = {
      socket,
      closedByServer: false,
      close() {
        byUs = true;
        socket.destroy();
      },
    };
    socket.on("error", () => undefined);
    socket.on("data", () => undefined);
    socket.on("end", () => socket.destroy());
    socket.on("close", () => {
      if (!byUs) held.closedByServer = true;
    });
    return held;
  });
}

/** One GET / for host a.test from `localAddress`; everything the server sent until it closed (bounded). */
function get(port: number, localAddress: string, tls: boolean): Promise<string> {
  return new Promise((resolve) => {
    const socket = open(port, localAddress, tls);
    let data = "";
    const timer = setTimeout(() => socket.destroy(), 5_000);
    socket.on("data", (c: Buffer) => {
      data += c.toString("latin1");
    });
    socket.on("error", () => undefined);
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(data);
    });
    socket.once(tls ? "secureConnect" : "connect", () =>
      socket.write("GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n"),
    );
  });
}

/** GET until answered (a slot is given back when the server sees the close, a moment after ours). */
async function getServed(port: number, localAddress: string, tls: boolean): Promise<string> {
  let answer = "";
  for (let i = 0; i < 50 && !answer.startsWith("HTTP/1.1 200"); i++) {
    answer = await get(port, localAddress, tls);
    if (!answer.startsWith("HTTP/1.1 200")) await new Promise((r) => setTimeout(r, 50));
  }
  return answer;
}

async function refused(h: Harness, listener: string, cap: string): Promise<number> {
  const metric = h.registry.getSingleMetric(REFUSED) as Counter | undefined;
  const values = (await metric?.get())?.values ?? [];
  return values.find((v) => v.labels.listener === listener && v.labels.cap === cap)?.value ?? 0;
}

describe.each([["raw"], ["node"]] as const)(
  "per-source cap on ingress client connections (%s HTTP front end)",
  (frontend) => {
    let web: Backend;
    let h: Harness;
    beforeAll(async () => {
      web = await startBackend("web", "127.0.0.1");
      h = await startIngress(webIngress(web, "a.test"), {
        flags: ["--max-ingress-connections-per-source", String(CAP)],
        limits: { httpFrontend: frontend },
      });
    });
    afterAll(async () => {
      await h?.close();
      await web?.close();
    });

    it.each([
      ["http", false],
      ["https", true],
    ])(
      `%s: ${CLIENTS} connections from one IP keep ${CAP} open, another IP is served, closed ones free their slots`,
      async (listener, tls) => {
        const port = tls ? h.httpsPort : h.httpPort;
        const held = hold(port, CLIENTS, "127.0.0.1", tls);
        try {
          await until(
            "the server to close those over the cap",
            () => held.filter((c) => c.closedByServer).length >= CLIENTS - CAP,
          );
          // a moment more: nothing else is closed
          await new Promise((r) => setTimeout(r, 200));
          expect(held.filter((c) => c.closedByServer).length).toBe(CLIENTS - CAP);
          expect(held.filter((c) => !c.socket.destroyed).length).toBe(CAP);
          expect(await refused(h, listener, "source")).toBe(CLIENTS - CAP);

          // another client IP is not affected
          expect(await get(port, "127.0.0.2", tls)).toMatch(/^HTTP\/1\.1 200/);
          // nor is one more from the full IP let in
          expect(await get(port, "127.0.0.1", tls)).toBe("");
        } finally {
          for (const c of held) c.close();
        }
        // the slots come back once the server sees the closes
        expect(await getServed(port, "127.0.0.1", tls)).toMatch(/^HTTP\/1\.1 200/);
        await until("every slot given back", () => h.plane.sourceCap?.sources() === 0);
      },
    );

    it("upgraded (tunnelled) connections give their slots back when they close", { timeout: 20_000 }, async () => {
      const tunnels = await Promise.all(Array.from({ length: CAP }, () => tunnel(h.httpPort)));
      try {
        for (const t of tunnels) expect(t.head).toMatch(/^HTTP\/1\.1 101/);
        expect(h.plane.sourceCap?.count("127.0.0.1")).toBe(CAP);
      } finally {
        for (const t of tunnels) t.socket.destroy();
      }
      // the tunnel lingers a few seconds for the backend's half before it closes
      await until("the tunnels' slots given back", () => h.plane.sourceCap?.sources() === 0, 15_000);
      const again = await tunnel(h.httpPort);
      again.socket.destroy();
      expect(again.head).toMatch(/^HTTP\/1\.1 101/);
    });
  },
);

/** A WebSocket upgrade through the ingress from 127.0.0.1: the response head, and the socket left open. */
function tunnel(port: number): Promise<{ head: string; socket: Socket }> {
  return new Promise((resolve) => {
    const socket = open(port, "127.0.0.1", false);
    let head = "";
    const done = () => {
      clearTimeout(timer);
      resolve({ head, socket });
    };
    const timer = setTimeout(done, 5_000);
    socket.on("error", () => undefined);
    socket.on("close", done);
    socket.on("data", (c: Buffer) => {
      head += c.toString("latin1");
      if (head.includes("\r\n\r\n")) done();
    });
    socket.once("connect", () =>
      socket.write(
        "GET /ws HTTP/1.1\r\nHost: a.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
          "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
      ),
    );
  });
}

describe("connections over the listener's total cap", () => {
  it("are counted as refused by cap total, apart from the per-source ones", async () => {
    const h = await startIngress([], {
      flags: ["--max-ingress-connections", "4", "--max-ingress-connections-per-source", "10"],
    });
    const held = hold(h.httpPort, 3, "127.0.0.1", false);
    try {
      await until("the third connection closed", () => held.filter((c) => c.closedByServer).length >= 1);
      expect(held.filter((c) => c.closedByServer).length).toBe(1);
      expect(await refused(h, "http", "total")).toBe(1);
      expect(await refused(h, "http", "source")).toBe(0);
    } finally {
      for (const c of held) c.close();
      await h.close();
    }
  });
});

describe("perSourceCap", () => {
  it.each([
    // flag, connections one listener may hold → per-source cap
    [0, 1000, 500],
    [0, 1, 1],
    [0, 3, 1],
    [7, 1000, 7],
    [5000, 1000, 5000],
  ])("--max-ingress-connections-per-source %d with %d per listener → %d", (flag, perListener, expected) => {
    expect(perSourceCap(flag, perListener)).toBe(expected);
  });
});
