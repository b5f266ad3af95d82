import { execFile } from "node:child_process";
import dgram from "node:dgram";
import { connect, createServer, type Server, type Socket } from "node:net";
import dnsPacket from "dns-packet";
import { Registry } from "prom-client";
import { parseFlags } from "../../../src/cli/flags.ts";
import type { Config } from "../../../src/config.ts";
import { type Logger, silentLogger } from "../../../src/log.ts";
import { createDnsPlane, type DnsPlane } from "../../../src/planes/dns/plane.ts";
import { MemoryStatusWriter } from "../../../src/status/writer.ts";
import type { Store } from "../../../src/store/store.ts";
import { Translator } from "../../../src/translate/index.ts";
import { options } from "../../translate/dns/fixtures.ts";

/** A tiny upstream resolver on loopback: answers from a table, counts questions, can stay silent. */
export interface UpstreamStub {
  port: number;
  /** questions seen, as `name/TYPE` (lowercase name), UDP and TCP alike */
  seen: string[];
  /** the most delayed answers it was holding at once, counting only names that `match` */
  maxDelayed(match: (name: string) => boolean): number;
  close(): Promise<void>;
}

export type StubAnswer =
  | { kind: "records"; answers: dnsPacket.Answer[]; delayMs?: number }
  | { kind: "nxdomain"; soaMinimum: number; soaTtl: number }
  | { kind: "silent" }
  /** truncated over UDP, the records over TCP */
  | { kind: "tcp-only"; answers: dnsPacket.Answer[] };

export async function startUpstreamStub(
  table: (name: string, type: string) => StubAnswer | undefined,
): Promise<UpstreamStub> {
  const seen: string[] = [];
  /** delayed answers starting (+1) and ending (-1), in order */
  const delays: [name: string, step: 1 | -1][] = [];
  const respond = (query: Buffer, tcp: boolean): Buffer | undefined | Promise<Buffer | undefined> => {
    const packet = dnsPacket.decode(query);
    const q = packet.questions?.[0];
    if (!q) return undefined;
    seen.push(`${q.name.toLowerCase()}/${q.type}`);
    const entry = table(q.name.toLowerCase(), q.type);
    const base = { type: "response" as const, id: packet.id, questions: [q] };
    // Like a real resolver: what the table does not know does not exist.
    switch ((entry ?? { kind: "nxdomain", soaMinimum: 30, soaTtl: 30 }).kind) {
      case "silent":
        return undefined;
      case "nxdomain": {
        const nx = (entry ?? { soaMinimum: 30, soaTtl: 30 }) as { soaMinimum: number; soaTtl: number };
        return dnsPacket.encode({
          ...base,
          flags: 3,
          authorities: [
            {
              name: "example",
              type: "SOA",
              ttl: nx.soaTtl,
              data: {
                mname: "ns.example",
                rname: "hostmaster.example",
                serial: 1,
                refresh: 1,
                retry: 1,
                expire: 1,
                minimum: nx.soaMinimum,
              },
            },
          ],
        });
      }
      case "tcp-only":
        if (entry?.kind !== "tcp-only") return undefined;
        if (!tcp) return dnsPacket.encode({ ...base, flags: dnsPacket.TRUNCATED_RESPONSE });
        return dnsPacket.encode({ ...base, answers: entry.answers });
      case "records": {
        if (entry?.kind !== "records") return undefined;
        const out = dnsPacket.encode({
          ...base,
          flags: dnsPacket.RECURSION_AVAILABLE,
          answers: entry.answers,
          additionals: [
            {
              name: ".",
              type: "OPT",
              udpPayloadSize: 1232,
              extendedRcode: 0,
              ednsVersion: 0,
              flags: 0,
              flag_do: false,
              options: [],
            },
          ],
        });
        if (!entry.delayMs) return out;
        delays.push([q.name.toLowerCase(), 1]);
        return new Promise((resolve) =>
          setTimeout(() => {
            delays.push([q.name.toLowerCase(), -1]);
            resolve(out);
          }, entry.delayMs),
        );
      }
    }
  };

  const udp = dgram.createSocket("udp4");
  udp.on("message", async (msg, rinfo) => {
    try {
      const out = await respond(msg, false);
      if (out) udp.send(out, rinfo.port, rinfo.address);
    } catch {
      // a stub ignores what it cannot read
    }
  });
  // TCP on the same port, for the truncation retry
  const { port, tcp } = await bindUdpAndTcp(udp, async (msg) => respond(msg, true), "the upstream stub");
  return {
    port,
    seen,
    maxDelayed: (match) => {
      let now = 0;
      let most = 0;
      for (const [name, step] of delays) {
        if (!match(name)) continue;
        now += step;
        most = Math.max(most, now);
      }
      return most;
    },
    close: async () => {
      udp.close();
      await new Promise<void>((resolve) => tcp.close(() => resolve()));
    },
  };
}

export interface Harness {
  plane: DnsPlane;
  port: number;
  registry: Registry;
  config: Config;
  /** translate the store and apply the snapshot to the plane */
  sync(): Promise<void>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  logger?: Logger;
  /** the forwarder's patience with the upstream (short by default, so SERVFAIL tests are quick) */
  attemptTimeoutMs?: number;
  totalTimeoutMs?: number;
}

export async function startDns(
  store: Store,
  upstreamPort: number | undefined,
  extra: Partial<Config> = {},
  { logger = silentLogger, attemptTimeoutMs = 400, totalTimeoutMs = 800 }: HarnessOptions = {},
): Promise<Harness> {
  const config: Config = {
    ...parseFlags(["--manifests", "unused", "--dns-ttl", "7"], {}),
    dnsAddress: { host: "127.0.0.1", port: 0 },
    dnsUpstream: upstreamPort ? [{ host: "127.0.0.1", port: upstreamPort }] : [{ host: "127.0.0.1", port: 9 }],
    ...extra,
  };
  const registry = new Registry();
  const plane = await createDnsPlane(
    { config, logger, registry, store, status: new MemoryStatusWriter() },
    { attemptTimeoutMs, totalTimeoutMs },
  );
  if (!plane) throw new Error("dns plane is off");
  const translator = new Translator({ ...options(config.dnsPods), clusterDomain: config.clusterDomain });
  let previous: ReturnType<Translator["build"]> | undefined;
  return {
    plane,
    port: plane.server.port,
    registry,
    config,
    async sync() {
      const next = translator.build(store);
      await plane.apply(previous, next);
      previous = next;
    },
    close: () => plane.close(),
  };
}

export interface DigResult {
  status: string;
  flags: string[];
  answers: string[][];
  authority: string[][];
  additional: string[][];
  raw: string;
}

/** Runs the real `dig` against the server and splits its output into sections of whitespace-separated fields. */
export function dig(port: number, args: string[], server = "127.0.0.1"): Promise<DigResult> {
  return new Promise((resolve, reject) => {
    execFile("dig", [`@${server}`, "-p", String(port), "+time=3", "+tries=1", ...args], (err, stdout) => {
      if (err && !stdout) return reject(err);
      resolve(parseDig(stdout));
    });
  });
}

export function parseDig(raw: string): DigResult {
  const status = /status: (\w+)/.exec(raw)?.[1] ?? "NONE";
  const flags = (/;; flags: ([^;]*);/.exec(raw)?.[1] ?? "").trim().split(/\s+/);
  const section = (title: string): string[][] => {
    const start = raw.indexOf(`;; ${title} SECTION:`);
    if (start < 0) return [];
    const lines: string[][] = [];
    for (const line of raw.slice(start).split("\n").slice(1)) {
      if (line.trim() === "") break;
      lines.push(line.trim().split(/\s+/));
    }
    return lines;
  };
  return {
    status,
    flags,
    answers: section("ANSWER"),
    authority: section("AUTHORITY"),
    additional: section("ADDITIONAL"),
    raw,
  };
}

/** Fires many datagrams from one socket without waiting for replies, then lingers briefly. */
export function floodUdp(port: number, payloads: readonly Buffer[], lingerMs = 200): Promise<void> {
  return new Promise((resolve) => {
    const socket = dgram.createSocket("udp4");
    socket.on("error", () => {});
    socket.on("message", () => {});
    for (const payload of payloads) socket.send(payload, port, "127.0.0.1");
    setTimeout(() => {
      socket.close();
      resolve();
    }, lingerMs);
  });
}

/** The data of the first answer record, or undefined. */
export function firstData(reply: Buffer): unknown {
  const answer = dnsPacket.decode(reply).answers?.[0];
  return answer && "data" in answer ? answer.data : undefined;
}

/**
 * Sends raw bytes over UDP and waits for one reply (undefined after `timeoutMs`). `from` binds the
 * client to another loopback address (127.0.0.2 plays a client outside the recursion list).
 */
export function rawUdp(port: number, payload: Buffer, timeoutMs = 300, from?: string): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const socket = dgram.createSocket("udp4");
    if (from) socket.bind(0, from);
    const done = (reply: Buffer | undefined) => {
      clearTimeout(timer);
      socket.close();
      resolve(reply);
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    socket.on("message", (msg) => done(msg));
    socket.on("error", () => done(undefined));
    socket.send(payload, port, "127.0.0.1");
  });
}

export function queryPacket(name: string, type: dnsPacket.RecordType, id = 4242, ednsSize?: number): Buffer {
  return dnsPacket.encode({
    type: "query",
    id,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ name, type, class: "IN" }],
    additionals:
      ednsSize === undefined
        ? []
        : [
            {
              name: ".",
              type: "OPT",
              udpPayloadSize: ednsSize,
              extendedRcode: 0,
              ednsVersion: 0,
              flags: 0,
              flag_do: false,
              options: [],
            },
          ],
  });
}

/** A message with its two-byte TCP length prefix. */
export function framed(msg: Buffer): Buffer {
  const out = Buffer.alloc(2 + msg.length);
  out.writeUInt16BE(msg.length, 0);
  msg.copy(out, 2);
  return out;
}

/** A TCP client that collects length-prefixed replies and notices when the server closes. */
export interface TcpClient {
  socket: Socket;
  replies: Buffer[];
  /** resolves true when the server has closed the connection within `ms`, false otherwise */
  closedWithin(ms: number): Promise<boolean>;
  /** resolves with the next `count` replies, or what arrived within `ms` */
  waitReplies(count: number, ms: number): Promise<Buffer[]>;
  destroy(): void;
}

export function tcpClient(port: number, host = "127.0.0.1"): Promise<TcpClient> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, host);
    const replies: Buffer[] = [];
    let buffered = Buffer.alloc(0);
    let closed = false;
    const waiters = new Set<() => void>();
    const wake = () => {
      for (const w of waiters) w();
    };
    socket.on("data", (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
        replies.push(buffered.subarray(2, 2 + buffered.readUInt16BE(0)));
        buffered = buffered.subarray(2 + buffered.readUInt16BE(0));
      }
      wake();
    });
    socket.on("close", () => {
      closed = true;
      wake();
    });
    socket.on("error", () => {});
    /** resolves once `met()` holds (checked on every event) or after `ms` */
    const until = (met: () => boolean, ms: number) =>
      new Promise<void>((resolve) => {
        const finish = () => {
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        };
        const check = () => {
          if (met()) finish();
        };
        const timer = setTimeout(finish, ms);
        waiters.add(check);
        check();
      });
    socket.once("error", reject);
    socket.once("connect", () => {
      socket.off("error", reject);
      resolve({
        socket,
        replies,
        async closedWithin(ms) {
          await until(() => closed, ms);
          return closed;
        },
        async waitReplies(count, ms) {
          await until(() => closed || replies.length >= count, ms);
          return replies.slice(0, count);
        },
        destroy: () => socket.destroy(),
      });
    });
  });
}

/**
 * A DNS-over-TCP server answering length-framed messages with `respond` (no answer: nothing sent), listening on
 * a free 127.0.0.1 port that `udp` is bound to as well, as a DNS server's two transports are.
 */
export async function bindUdpAndTcp(
  udp: dgram.Socket,
  respond: (msg: Buffer) => Promise<Buffer | undefined>,
  what: string,
): Promise<{ port: number; tcp: Server }> {
  const tcp: Server = createServer((socket) => {
    let buffered = Buffer.alloc(0);
    socket.on("error", () => {});
    socket.on("data", async (chunk) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
        const msg = buffered.subarray(2, 2 + buffered.readUInt16BE(0));
        buffered = buffered.subarray(2 + msg.length);
        const out = await respond(msg).catch(() => undefined);
        if (!out) continue;
        const framed = Buffer.alloc(2 + out.length);
        framed.writeUInt16BE(out.length, 0);
        out.copy(framed, 2);
        socket.write(framed);
      }
    });
  });
  for (let attempt = 0; ; attempt++) {
    await new Promise<void>((resolve) => tcp.listen(0, "127.0.0.1", resolve));
    const port = (tcp.address() as { port: number }).port;
    const ok = await new Promise<boolean>((resolve) => {
      udp.once("error", () => resolve(false));
      udp.bind(port, "127.0.0.1", () => resolve(true));
    });
    if (ok) break;
    await new Promise<void>((resolve) => tcp.close(() => resolve()));
    if (attempt > 20) throw new Error(`no free port for ${what}`);
  }
  return { port: (tcp.address() as { port: number }).port, tcp };
}
