// The reliability suite's backends: they play the pods, and record what crossed the proxy so that a changed
// request boundary (a smuggled request, a dropped body, a reordered pipeline) can be seen from outside.
import { createSocket } from "node:dgram";
import { createServer as createHttpServer, type IncomingMessage, type Server } from "node:http";
import { createServer as createNetServer, type Socket } from "node:net";
import dnsPacket from "dns-packet";

/** One request as the backend saw it. */
export interface Seen {
  /** `request`: an ordinary HTTP request; `upgrade`: an Upgrade request (its tunnel bytes in `tunnel`) */
  via: "request" | "upgrade";
  method: string;
  url: string;
  /** every Host header, in order, as received */
  hosts: string[];
  body: string;
  /** bytes that arrived on an upgraded connection after the backend's answer */
  tunnel: string;
  /** a backend connection id: requests on separate upstream connections differ */
  connection: number;
  startedAt: number;
  endedAt: number;
}

export interface RecordingBackend {
  port: number;
  seen: Seen[];
  close(): Promise<void>;
}

/**
 * An HTTP/1.1 backend that records every request. Paths decide its answers:
 * - `/slow…` waits 150 ms before answering (so concurrent upstream requests would overlap);
 * - Upgrade requests to `/ws…` get `101 Switching Protocols` and an echoing tunnel; other Upgrade requests get
 *   `200 OK` and the connection is kept, as the backend of case C in docs/reliability.md does (the proxy must not
 *   tunnel then).
 */
export async function startRecordingBackend(host: string): Promise<RecordingBackend> {
  const seen: Seen[] = [];
  let nextConnection = 1;
  const connectionIds = new WeakMap<Socket, number>();
  const idOf = (socket: Socket) => {
    let id = connectionIds.get(socket);
    if (id === undefined) {
      id = nextConnection++;
      connectionIds.set(socket, id);
    }
    return id;
  };
  const record = (req: IncomingMessage, via: Seen["via"]): Seen => {
    const hosts: string[] = [];
    for (let i = 0; i < req.rawHeaders.length; i += 2)
      if (req.rawHeaders[i]?.toLowerCase() === "host") hosts.push(req.rawHeaders[i + 1] ?? "");
    const entry: Seen = {
      via,
      method: req.method ?? "",
      url: req.url ?? "",
      hosts,
      body: "",
      tunnel: "",
      connection: idOf(req.socket),
      startedAt: Date.now(),
      endedAt: 0,
    };
    seen.push(entry);
    return entry;
  };
  const server: Server = createHttpServer({ requireHostHeader: false, keepAliveTimeout: 5_000 }, (req, res) => {
    const entry = record(req, "request");
    req.setEncoding("latin1");
    req.on("data", (s: string) => {
      entry.body += s;
    });
    req.on("end", () => {
      const answer = () => {
        entry.endedAt = Date.now();
        const body = `seen ${entry.method} ${entry.url}\n`;
        res.writeHead(200, { "content-type": "text/plain", "content-length": Buffer.byteLength(body) });
        res.end(body);
      };
      if (entry.url.startsWith("/slow")) setTimeout(answer, 150);
      else answer();
    });
  });
  const upgraded = new Set<Socket>();
  server.on("upgrade", (req: IncomingMessage, socket: Socket, head: Buffer) => {
    const entry = record(req, "upgrade");
    upgraded.add(socket);
    socket.on("close", () => upgraded.delete(socket));
    entry.tunnel += head.toString("latin1");
    socket.on("data", (b: Buffer) => {
      entry.tunnel += b.toString("latin1");
      if (entry.url.startsWith("/ws")) socket.write(b);
    });
    socket.on("error", () => undefined);
    if (entry.url.startsWith("/ws"))
      socket.write("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
    else socket.write("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nok\n");
    entry.endedAt = Date.now();
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const address = server.address();
  if (!address || typeof address === "string") throw new Error("recording backend has no port");
  return {
    port: address.port,
    seen,
    close: () =>
      new Promise((resolve) => {
        // upgraded connections left the HTTP server: closeAllConnections does not see them
        for (const socket of upgraded) socket.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A TCP echo server (the ClusterIP's endpoint for the long-lived connection). */
export async function startTcpEcho(host: string): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createNetServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => undefined);
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const address = server.address();
  if (!address || typeof address === "string") throw new Error("echo has no port");
  return {
    port: address.port,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A UDP echo server (the UDP Service's endpoint). */
export async function startUdpEcho(host: string): Promise<{ port: number; received(): number; close(): void }> {
  const socket = createSocket("udp4");
  let count = 0;
  socket.on("message", (msg, rinfo) => {
    count++;
    socket.send(msg, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, host, resolve));
  return { port: socket.address().port, received: () => count, close: () => socket.close() };
}

/**
 * An upstream resolver for names outside the cluster: every TXT question gets a ~3.5 KB answer (the
 * amplification of case J in docs/reliability.md), every A question one address.
 */
export async function startBigUpstream(host: string): Promise<{ port: number; close(): void }> {
  const socket = createSocket("udp4");
  const strings = Array.from({ length: 14 }, (_, i) => `${i}`.padEnd(250, "x"));
  socket.on("message", (msg, rinfo) => {
    let query: dnsPacket.Packet;
    try {
      query = dnsPacket.decode(msg);
    } catch {
      return;
    }
    const question = query.questions?.[0];
    if (!question) return;
    const answers: dnsPacket.Answer[] =
      question.type === "TXT"
        ? [{ type: "TXT", name: question.name, ttl: 60, class: "IN", data: strings }]
        : [{ type: "A", name: question.name, ttl: 60, class: "IN", data: "192.0.2.1" }];
    const response = dnsPacket.encode({
      type: "response",
      id: query.id,
      flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE,
      questions: [question],
      answers,
    });
    socket.send(response, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, host, resolve));
  return { port: socket.address().port, close: () => socket.close() };
}
