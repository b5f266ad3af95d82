// Raw clients for the reliability suite: bytes out, everything the server sends back, and whether it closed.
import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import dnsPacket from "dns-packet";

export interface Exchange {
  /** everything received, latin1 */
  data: string;
  /** the server closed (or reset) the connection before `ms` ran out */
  closed: boolean;
}

export interface ExchangeOptions {
  tls?: { servername?: string; alpn?: string[] };
  /** how long to wait for the server, in all (default 2 s) */
  ms?: number;
  /** pause between chunks (default 0) */
  gapMs?: number;
  /** stop waiting once this many bytes arrived and the connection is idle for 150 ms */
  settleMs?: number;
}

/** Sends `chunks` on one TCP (or TLS) connection and collects the answer until close or `ms`. */
export function exchange(host: string, port: number, chunks: (string | Buffer)[], options: ExchangeOptions = {}) {
  const ms = options.ms ?? 2_000;
  return new Promise<Exchange>((resolve) => {
    const received: Buffer[] = [];
    let done = false;
    let socket: Socket;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(deadline);
      socket.destroy();
      resolve({ data: Buffer.concat(received).toString("latin1"), closed });
    };
    const deadline = setTimeout(() => finish(false), ms);
    const send = async () => {
      for (const chunk of chunks) {
        if (done) return;
        socket.write(chunk);
        if (options.gapMs) await new Promise((r) => setTimeout(r, options.gapMs));
      }
    };
    if (options.tls) {
      socket = tlsConnect(
        {
          host,
          port,
          rejectUnauthorized: false,
          servername: options.tls.servername,
          ALPNProtocols: options.tls.alpn ?? ["http/1.1"],
        },
        () => void send(),
      );
    } else socket = netConnect({ host, port }, () => void send());
    socket.on("data", (b: Buffer) => received.push(b));
    socket.on("error", () => finish(true));
    socket.on("close", () => finish(true));
  });
}

/** Status codes of every HTTP/1.x response head in `data`, in order. */
export function statuses(data: string): number[] {
  return [...data.matchAll(/HTTP\/1\.[01] (\d{3})/g)].map((m) => Number(m[1]));
}

/** A long-lived TCP connection to an echo server: `ping` sends a line and resolves with what came back. */
export class EchoConnection {
  private readonly socket: Socket;
  private buffered = "";
  private waiter: (() => void) | undefined;
  closed = false;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.setEncoding("latin1");
    socket.on("data", (s: string) => {
      this.buffered += s;
      this.waiter?.();
    });
    socket.on("close", () => {
      this.closed = true;
      this.waiter?.();
    });
    socket.on("error", () => undefined);
  }

  static open(host: string, port: number): Promise<EchoConnection> {
    return new Promise((resolve, reject) => {
      const socket = netConnect({ host, port }, () => resolve(new EchoConnection(socket)));
      socket.once("error", reject);
    });
  }

  /** True when `text` came back within `ms` on this same connection. */
  async ping(text: string, ms = 2_000): Promise<boolean> {
    if (this.closed) return false;
    this.buffered = "";
    this.socket.write(text);
    const until = Date.now() + ms;
    while (!this.buffered.includes(text) && !this.closed && Date.now() < until)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, until - Date.now()));
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    this.waiter = undefined;
    return this.buffered.includes(text);
  }

  close(): void {
    this.socket.destroy();
  }
}

const RCODES = ["NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED"];

/** The header's 4-bit response code, by name. */
export function rcodeName(flags: number | undefined): string {
  const code = (flags ?? 0) & 0xf;
  return RCODES[code] ?? `RCODE${code}`;
}

export interface DnsAnswer {
  rcode: string;
  truncated: boolean;
  answers: number;
  bytes: number;
}

/** One UDP DNS query; `localAddress` picks the client's source address; undefined = no answer in `ms`. */
export function dnsQuery(
  server: { host: string; port: number },
  name: string,
  type: dnsPacket.RecordType,
  options: { localAddress?: string; ednsSize?: number; ms?: number } = {},
): Promise<{ answer: DnsAnswer; queryBytes: number } | undefined> {
  const query = dnsPacket.encode({
    type: "query",
    id: Math.floor(Math.random() * 65535),
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type, name }],
    additionals: options.ednsSize
      ? [
          {
            type: "OPT",
            name: ".",
            udpPayloadSize: options.ednsSize,
            extendedRcode: 0,
            ednsVersion: 0,
            flags: 0,
            flag_do: false,
            options: [],
          },
        ]
      : [],
  });
  return new Promise((resolve) => {
    const socket: UdpSocket = createSocket("udp4");
    const timer = setTimeout(() => {
      socket.close();
      resolve(undefined);
    }, options.ms ?? 2_000);
    socket.on("error", () => {
      clearTimeout(timer);
      socket.close();
      resolve(undefined);
    });
    socket.on("message", (msg: Buffer) => {
      clearTimeout(timer);
      socket.close();
      try {
        const p = dnsPacket.decode(msg);
        resolve({
          answer: {
            rcode: rcodeName(p.flags),
            truncated: ((p.flags ?? 0) & dnsPacket.TRUNCATED_RESPONSE) !== 0,
            answers: p.answers?.length ?? 0,
            bytes: msg.length,
          },
          queryBytes: query.length,
        });
      } catch {
        resolve({ answer: { rcode: "UNDECODABLE", truncated: false, answers: 0, bytes: msg.length }, queryBytes: 0 });
      }
    });
    socket.bind({ address: options.localAddress ?? "127.0.0.1", port: 0 }, () =>
      socket.send(query, server.port, server.host),
    );
  });
}

/** One DNS query over TCP; undefined = no answer in `ms`. */
export function dnsQueryTcp(
  server: { host: string; port: number },
  name: string,
  ms = 3_000,
): Promise<DnsAnswer | undefined> {
  const query = dnsPacket.streamEncode({
    type: "query",
    id: 7,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type: "A", name }],
  });
  return new Promise((resolve) => {
    let buffered = Buffer.alloc(0);
    const socket = netConnect({ host: server.host, port: server.port }, () => socket.write(query));
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(undefined);
    }, ms);
    socket.on("data", (b: Buffer) => {
      buffered = Buffer.concat([buffered, b]);
      if (buffered.length < 2 || buffered.length < 2 + buffered.readUInt16BE(0)) return;
      clearTimeout(timer);
      socket.destroy();
      try {
        const p = dnsPacket.streamDecode(buffered);
        resolve({
          rcode: rcodeName(p.flags),
          truncated: false,
          answers: p.answers?.length ?? 0,
          bytes: buffered.length,
        });
      } catch {
        resolve(undefined);
      }
    });
    socket.on("error", () => {
      clearTimeout(timer);
      resolve(undefined);
    });
  });
}
