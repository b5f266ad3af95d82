import { type ClientHttp2Session, connect as h2Connect } from "node:http2";
import { connect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { closeGraceMs } from "../../../src/planes/ingress/index.ts";
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

/**
 * The ingress plane's close() finishes whatever its clients hold (case H, docs/reliability.md: "SIGTERM always exits", and
 * cleanly): idle and half-open connections are closed at once, requests in flight get a short grace, then
 * every socket left (HTTP/1, HTTP/2 sessions, tunnels on both listeners, TLS handshakes) is destroyed. Each
 * row opens its clients against a fresh plane, calls close(), and expects close() to resolve (the test
 * timeout is the bound) and every client to see its connection closed.
 */

// Backends of this file: 127.245.31.x
const HOST = "close.test";
/** within it close() must resolve; the plane's grace is 2 s (stop timeout 10 s) */
const ROW_TIMEOUT_MS = 8_000;

/** A client connection of a row, and a promise that resolves once it is closed. */
interface Client {
  closed: Promise<unknown>;
  /** HTTP/2: resolves true when a GOAWAY came before the close */
  goaway?: Promise<boolean>;
}

/** masked WebSocket text frame (clients must mask), payload ≤ 125 bytes */
function frame(text: string): Buffer {
  const payload = Buffer.from(text);
  const mask = Buffer.from([1, 2, 3, 4]);
  return Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, payload.map((b, i) => b ^ mask[i % 4]!)]);
}

function closedOf(socket: Socket): Promise<unknown> {
  return new Promise((resolve) => (socket.destroyed ? resolve(0) : socket.once("close", resolve)));
}

const sockets: Socket[] = [];
const sessions: ClientHttp2Session[] = [];
function track(socket: Socket): Socket {
  sockets.push(socket);
  socket.on("error", () => undefined);
  return socket;
}

/** resolves once `socket` has received `text` */
function receive(socket: Socket, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = "";
    const onData = (c: Buffer) => {
      data += c.toString("latin1");
      if (data.includes(text)) {
        socket.off("data", onData);
        resolve(data);
      }
    };
    socket.on("data", onData);
    socket.once("close", () => reject(new Error(`closed before ${JSON.stringify(text)}: ${data}`)));
  });
}

const UPGRADE = `GET /chat HTTP/1.1\r\nHost: ${HOST}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`;

/** A WebSocket tunnel through the listener: 101, then one frame echoed by the backend. */
async function tunnel(socket: Socket): Promise<Client> {
  const closed = closedOf(socket);
  socket.write(UPGRADE);
  await receive(socket, "\r\n\r\n").then((head) => expect(head).toMatch(/^HTTP\/1\.1 101/));
  socket.write(frame("hello"));
  await receive(socket, "echo:hello");
  return { closed };
}

function plain(port: number): Promise<Socket> {
  return new Promise((resolve) => {
    const socket = track(connect({ host: "127.0.0.1", port }));
    socket.once("connect", () => resolve(socket));
  });
}

function secure(port: number): Promise<Socket> {
  return new Promise((resolve) => {
    const socket = track(
      tlsConnect({ host: "127.0.0.1", port, rejectUnauthorized: false, servername: HOST, ALPNProtocols: ["http/1.1"] }),
    );
    socket.once("secureConnect", () => resolve(socket));
  });
}

function h2(port: number): Promise<ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = h2Connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false, servername: HOST });
    sessions.push(session);
    session.on("error", () => undefined);
    session.once("connect", () => resolve(session));
    session.once("close", () => reject(new Error("session closed before connecting")));
  });
}

function sessionClosed(session: ClientHttp2Session): Promise<unknown> {
  return new Promise((resolve) => (session.closed && session.destroyed ? resolve(0) : session.once("close", resolve)));
}

function h2Client(session: ClientHttp2Session): Client {
  let goaway = false;
  session.once("goaway", () => {
    goaway = true;
  });
  const closed = sessionClosed(session);
  return { closed, goaway: closed.then(() => goaway) };
}

/** A TLS 1.2 ClientHello record that announces 512 bytes of handshake and stops after 10 of them. */
const HALF_CLIENT_HELLO = Buffer.from([
  0x16, 0x03, 0x01, 0x02, 0x04, 0x01, 0x00, 0x02, 0x00, 0x03, 0x03, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
]);
const HALF_HEAD = `GET / HTTP/1.1\r\nHost: ${HOST}\r\n`;

/** Makes `n` clients with `open` and waits until `n` are accepted, each sent `bytes` (maybe nothing). */
async function many(n: number, open: () => Promise<Socket>, bytes?: Buffer | string): Promise<Client[]> {
  const opened = await Promise.all(Array.from({ length: n }, open));
  for (const s of opened) if (bytes !== undefined) s.write(bytes);
  return opened.map((s) => ({ closed: closedOf(s) }));
}

describe("ingress plane: close() finishes whatever clients hold", () => {
  let echo: Backend;
  let h: Harness | undefined;

  beforeAll(async () => {
    echo = await startBackend("echo", "127.245.31.1");
  });
  afterAll(async () => {
    await echo?.close();
  });
  afterEach(async () => {
    // a row that failed leaves its plane and clients: cut them so the next row starts clean
    for (const s of sockets.splice(0)) s.destroy();
    for (const s of sessions.splice(0)) s.destroy();
    const plane = h;
    h = undefined;
    if (plane) await Promise.race([plane.close(), new Promise((r) => setTimeout(r, 3_000))]);
  });

  async function plane(flags: string[] = []): Promise<Harness> {
    h = await startIngress(
      [
        service("default", "echo", [{ name: "http", port: 80 }]),
        ...slicesFor("default", "echo", "http", [echo]),
        ingress("default", "close", { rules: [rule(HOST, [{ path: "/", service: "echo", port: 80 }])] }),
      ],
      { flags },
    );
    return h;
  }

  /**
   * A keep-alive request on the plain listener that the backend answers after `ms`: in flight when close()
   * begins. `answered` says whether its answer has arrived yet; `answer` resolves with what came before the
   * connection closed.
   */
  async function witness(h: Harness, ms: number) {
    const socket = await plain(h.httpPort);
    const state = { answered: false, answer: Promise.resolve("") };
    let data = "";
    socket.on("data", (c: Buffer) => {
      data += c.toString("latin1");
      if (data.includes('"backend":"echo"')) state.answered = true;
    });
    state.answer = new Promise((resolve) => socket.once("close", () => resolve(data)));
    socket.write(`GET /slow?ms=${ms} HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`);
    return state;
  }

  const rows: {
    name: string;
    open: (h: Harness) => Promise<Client[]>;
    /** nothing in flight: closed at once, before the witness's answer (else: within the grace, after it) */
    atOnce: boolean;
  }[] = [
    {
      name: "a WebSocket tunnel through the plain-HTTP listener",
      open: async (h) => [await tunnel(await plain(h.httpPort))],
      atOnce: false,
    },
    {
      name: "a WebSocket tunnel through the TLS listener",
      open: async (h) => [await tunnel(await secure(h.httpsPort))],
      atOnce: false,
    },
    {
      name: "an HTTP/2 session with a stream whose response is never read, and one whose response never comes",
      open: async (h) => {
        const session = await h2(h.httpsPort);
        // 4 MiB the client never reads: flow control stops the response after the first window
        const unread = session.request({ ":path": "/big?kb=4096", ":authority": HOST });
        unread.pause();
        unread.on("error", () => undefined);
        await new Promise((resolve) => unread.once("response", resolve));
        const waiting = session.request({ ":path": "/slow?ms=20000", ":authority": HOST });
        waiting.on("error", () => undefined);
        return [h2Client(session)];
      },
      atOnce: false,
    },
    {
      name: "20 half-open clients on each listener: silent, half a head, half a ClientHello, silent after the handshake",
      open: async (h) => [
        ...(await many(10, () => plain(h.httpPort))),
        ...(await many(10, () => plain(h.httpPort), HALF_HEAD)),
        ...(await many(5, () => plain(h.httpsPort))),
        ...(await many(5, () => plain(h.httpsPort), HALF_CLIENT_HELLO)),
        ...(await many(5, () => secure(h.httpsPort))),
        ...(await many(5, () => secure(h.httpsPort), HALF_HEAD)),
      ],
      atOnce: true,
    },
    {
      name: "idle keep-alive clients: HTTP/1.1 on both listeners, an HTTP/2 session",
      open: async (h) => {
        const clients: Client[] = [];
        for (const socket of [await plain(h.httpPort), await secure(h.httpsPort)]) {
          clients.push({ closed: closedOf(socket) });
          socket.write(`GET /one HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`);
          const answer = await receive(socket, '"backend":"echo"');
          expect(answer).toMatch(/^HTTP\/1\.1 200/);
          expect(answer).not.toMatch(/connection: close/i);
        }
        const session = await h2(h.httpsPort);
        const stream = session.request({ ":path": "/one", ":authority": HOST });
        stream.resume();
        await new Promise((resolve) => stream.once("end", resolve));
        clients.push(h2Client(session));
        return clients;
      },
      atOnce: true,
    },
  ];

  it.each(rows.map((row) => [row.name, row] as const))(
    "%s: close() resolves, every client sees its connection closed, a request in flight is answered",
    async (_name, { open, atOnce }) => {
      const h = await plane();
      const clients = await open(h);
      const inFlight = await witness(h, 1_000);
      // all still open: nothing but close() may end them
      await new Promise((r) => setTimeout(r, 200));
      const closedAfterAnswer: boolean[] = [];
      for (const c of clients) void c.closed.then(() => closedAfterAnswer.push(inFlight.answered));
      await new Promise((r) => setImmediate(r));
      expect(closedAfterAnswer).toEqual([]);
      expect(inFlight.answered).toBe(false);

      await h.close();
      await Promise.all(clients.map((c) => c.closed));
      // the request in flight had its grace, and its keep-alive connection was closed after the answer
      expect(await inFlight.answer).toMatch(/^HTTP\/1\.1 200/);
      // idle and half-open connections are not kept for the grace
      expect(closedAfterAnswer).toEqual(clients.map(() => !atOnce));
      // HTTP/2 clients are told (GOAWAY) before their connection goes
      for (const c of clients) if (c.goaway) expect(await c.goaway).toBe(true);
    },
    ROW_TIMEOUT_MS,
  );

  it("requests in flight on each listener (HTTP/1.1, HTTP/1.1 over TLS, HTTP/2) are answered, then their connections close", async () => {
    const h = await plane();
    const tls = await secure(h.httpsPort);
    const tlsClosed = closedOf(tls);
    tls.write(`GET /slow?ms=500 HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`);
    const tlsAnswer = receive(tls, '"backend":"echo"');
    const session = await h2(h.httpsPort);
    const h2Closed = sessionClosed(session);
    const stream = session.request({ ":path": "/slow?ms=500", ":authority": HOST });
    let h2Body = "";
    stream.on("data", (c: Buffer) => {
      h2Body += c.toString();
    });
    const h2Status = new Promise((resolve) => stream.once("response", (headers) => resolve(headers[":status"])));
    const h2End = new Promise((resolve) => stream.once("end", resolve));
    const inFlight = await witness(h, 500);
    await new Promise((r) => setTimeout(r, 100));
    await h.close();
    expect(await inFlight.answer).toMatch(/^HTTP\/1\.1 200/);
    expect(await tlsAnswer).toMatch(/^HTTP\/1\.1 200/);
    expect(await h2Status).toBe(200);
    await h2End;
    expect(h2Body).toContain('"backend":"echo"');
    await Promise.all([tlsClosed, h2Closed]);
  });

  it.each(rows.filter((row) => !row.atOnce).map((row) => [row.name, row] as const))(
    "%s, with --stop-timeout 1s: cut with the request in flight after the 250 ms grace, never held to the 2 s most",
    async (_name, { open }) => {
      const h = await plane(["--stop-timeout", "1s"]);
      const clients = await open(h);
      const inFlight = await witness(h, 1_500);
      await new Promise((r) => setTimeout(r, 200));
      const closedAfterAnswer: boolean[] = [];
      for (const c of clients) void c.closed.then(() => closedAfterAnswer.push(inFlight.answered));
      await h.close();
      await Promise.all(clients.map((c) => c.closed));
      // the request in flight was cut at the grace: its answer (due at 1,500 ms) never came, and no client
      // outlived it
      expect(await inFlight.answer).toBe("");
      expect(closedAfterAnswer).toEqual(clients.map(() => false));
    },
    ROW_TIMEOUT_MS,
  );
});

describe("closeGraceMs: the grace in-flight requests get never exceeds what the stop allows", () => {
  it.each([
    // [stop timeout, grace]
    [10_000, 2_000],
    [8_000, 2_000],
    [4_000, 1_000],
    [2_000, 500],
    [1_000, 250],
    [1, 0],
  ])("stop timeout %i ms → grace %i ms", (stopTimeoutMs, grace) => {
    expect(closeGraceMs(stopTimeoutMs)).toBe(grace);
  });
});
