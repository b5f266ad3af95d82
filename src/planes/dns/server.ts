import dgram from "node:dgram";
import { createServer, isIP, type Server, type Socket } from "node:net";
import dnsPacket from "dns-packet";
import type { HostPort } from "../../config.ts";
import type { Logger } from "../../log.ts";
import { inDomain } from "../../translate/dns/lookup.ts";
import type { DnsSnapshot } from "../../translate/dns/model.ts";
import { listen } from "../../util/listen.ts";
import { type Forwarder, SERVFAIL } from "./forward.ts";
import type { DnsMetrics } from "./metrics.ts";
import {
  assemble,
  CLASS_ANY,
  CLASS_IN,
  encodeQuestion,
  FLAG_AA,
  FLAG_QR,
  FLAG_RA,
  headerOnly,
  parseQuery,
  type Query,
  RCODE_BADVERS,
  RCODE_NOTIMP,
  RCODE_NXDOMAIN,
  RCODE_REFUSED,
  RCODE_SERVFAIL,
  rcodeTemplate,
  type Template,
} from "./wire.ts";
import { encodeTemplate, Zone, type ZoneAnswer } from "./zone.ts";

export interface DnsServerOptions {
  address: HostPort;
  /** the cluster domain (lowercase, no trailing dot): answered locally, never forwarded */
  domain: string;
  ttl: number;
  forwarder: Forwarder;
  metrics?: DnsMetrics;
  logger: Logger;
  /** close TCP connections idle this long */
  tcpIdleTimeoutMs?: number;
  /** SO_REUSEPORT on both sockets: workers share the port (the port must then be fixed, not 0) */
  reusePort?: boolean;
}

type Proto = "udp" | "tcp";

const REFUSED = rcodeTemplate(RCODE_REFUSED);
const BADVERS = rcodeTemplate(RCODE_BADVERS);
const NOTIMP = rcodeTemplate(RCODE_NOTIMP);
const TYPE_IXFR = 251;
const TYPE_AXFR = 252;
const SERVFAIL_AUTHORITATIVE = rcodeTemplate(RCODE_SERVFAIL, true);
const AUTHORITATIVE = FLAG_QR | FLAG_AA | FLAG_RA;
const TCP_LIMIT = 65535;
const MAX_TCP_CONNECTIONS = 1024;

/**
 * The cluster DNS server: UDP and TCP on one port. Names under the cluster domain are answered from
 * the current zone (SERVFAIL until the first snapshot), everything else goes to the forwarder.
 * No input, however malformed, may throw out of a handler.
 */
export class DnsServer {
  private zone: Zone | undefined;
  private udp: dgram.Socket | undefined;
  private tcp: Server | undefined;
  private readonly connections = new Set<Socket>();
  private readonly options: DnsServerOptions;
  private readonly zoneLabel: string;
  port = 0;
  /** round-robin position over answers with rotations */
  private turn = 0;

  constructor(options: DnsServerOptions) {
    this.options = options;
    this.zoneLabel = `${options.domain}.`;
  }

  /** Binds TCP and UDP on the same port (with port 0: an ephemeral port free for both). */
  async start(): Promise<void> {
    const { address } = this.options;
    for (let attempt = 0; ; attempt++) {
      const tcp = createServer((socket) => this.onConnection(socket));
      tcp.maxConnections = MAX_TCP_CONNECTIONS;
      await listen(tcp, address, { reusePort: this.options.reusePort === true });
      const bound = tcp.address();
      const port = typeof bound === "object" && bound ? bound.port : address.port;
      try {
        this.udp = await this.bindUdp(address.host, port);
        this.tcp = tcp;
        this.port = port;
        return;
      } catch (err) {
        await new Promise<void>((resolve) => tcp.close(() => resolve()));
        if (address.port !== 0 || attempt >= 20) throw err;
      }
    }
  }

  setSnapshot(snapshot: DnsSnapshot): void {
    this.zone = new Zone(snapshot, this.options.ttl);
  }

  async close(): Promise<void> {
    this.udp?.close();
    this.udp = undefined;
    for (const socket of this.connections) socket.destroy();
    const tcp = this.tcp;
    this.tcp = undefined;
    if (tcp) await new Promise<void>((resolve) => tcp.close(() => resolve()));
  }

  private bindUdp(host: string, port: number): Promise<dgram.Socket> {
    return new Promise((resolve, reject) => {
      const socket = dgram.createSocket({
        type: isIP(host) === 6 ? "udp6" : "udp4",
        // Replies go to the address the query came from, always an IP: skip the per-send dns.lookup (a nextTick).
        lookup: (address, _options, callback) => callback(null, address, isIP(address) === 6 ? 6 : 4),
        recvBufferSize: 4 * 1024 * 1024,
        sendBufferSize: 4 * 1024 * 1024,
        reusePort: this.options.reusePort === true,
      });
      const onError = (err: Error) => {
        socket.close();
        reject(err);
      };
      socket.once("error", onError);
      socket.bind(port, host, () => {
        socket.off("error", onError);
        socket.on("error", (err) => this.options.logger.warn({ err }, "dns udp socket error"));
        socket.on("message", (msg, rinfo) => {
          const family = rinfo.family === "IPv6" ? 6 : 4;
          // No send callback: Node then tries a synchronous send first (no request object per reply);
          // failures surface as socket 'error' events, which are logged.
          this.handle(msg, "udp", family, (out) => socket.send(out, rinfo.port, rinfo.address));
        });
        resolve(socket);
      });
    });
  }

  private onConnection(socket: Socket): void {
    this.connections.add(socket);
    socket.setNoDelay(true);
    socket.setTimeout(this.options.tcpIdleTimeoutMs ?? 10_000, () => socket.destroy());
    socket.on("close", () => this.connections.delete(socket));
    socket.on("error", ignore);
    const family = socket.remoteFamily === "IPv6" ? 6 : 4;
    const send = (out: Buffer) => {
      if (socket.destroyed) return;
      const framed = Buffer.allocUnsafe(2 + out.length);
      framed.writeUInt16BE(out.length, 0);
      out.copy(framed, 2);
      // A client that pipelines questions but does not read the answers must not grow our buffers:
      // stop reading from it until it has taken what we wrote.
      if (!socket.write(framed) && !socket.isPaused()) {
        socket.pause();
        socket.once("drain", () => socket.resume());
      }
    };
    let buffered: Buffer = Buffer.alloc(0);
    socket.on("data", (chunk: Buffer) => {
      buffered = buffered.length ? Buffer.concat([buffered, chunk]) : chunk;
      while (buffered.length >= 2) {
        const length = buffered.readUInt16BE(0);
        if (buffered.length < 2 + length) break;
        const msg = Buffer.from(buffered.subarray(2, 2 + length));
        buffered = buffered.subarray(2 + length);
        this.handle(msg, "tcp", family, send);
      }
    });
  }

  /** Answers one message; `send` gets the response. Never throws. */
  handle(msg: Buffer, proto: Proto, family: 4 | 6, send: (out: Buffer) => void): void {
    try {
      this.dispatch(msg, proto, family, send);
    } catch (err) {
      this.options.logger.debug({ err }, "dns query failed");
    }
  }

  private dispatch(msg: Buffer, proto: Proto, family: 4 | 6, send: (out: Buffer) => void): void {
    const { metrics } = this.options;
    const parsed = parseQuery(msg);
    if (!parsed.ok) {
      if (parsed.drop) return;
      metrics?.response(".", parsed.rcode);
      send(headerOnly(parsed.id, parsed.flags, parsed.rcode));
      return;
    }
    const query = parsed.query;
    const limit = proto === "udp" ? query.udpSize : TCP_LIMIT;
    // Also runs later for forwarded answers, possibly after close(): it must never throw.
    const reply = (zone: string, template: Template) => {
      try {
        metrics?.response(zone, template.extendedRcode ?? template.flags & 0xf);
        send(assemble(msg, query, template, limit, template.storedAtMs === undefined ? 0 : Date.now()));
      } catch (err) {
        this.options.logger.debug({ err }, "dns reply not sent");
      }
    };

    const answer = this.route(query);
    const zone = answer.kind === "forward" ? "." : this.zoneLabel;
    metrics?.request(zone, proto, family, query.type);
    let template: Template | undefined;
    if (query.edns && query.ednsVersion > 0) template = BADVERS;
    else if (query.qclass !== CLASS_IN && query.qclass !== CLASS_ANY) template = REFUSED;
    // Zone transfers are not offered (CoreDNS's kubernetes plugin needs `transfer` for that).
    else if (query.type === TYPE_AXFR || query.type === TYPE_IXFR)
      template = answer.kind === "forward" ? REFUSED : NOTIMP;
    else if (answer.kind === "answer")
      template = answer.rotations ? answer.rotations[this.turn++ % answer.rotations.length]! : answer.template;
    else if (answer.kind === "chase") {
      this.chase(answer, query).then(
        (t) => reply(zone, t),
        () => reply(zone, SERVFAIL),
      );
      return;
    } else if (this.options.forwarder.upstreams.length === 0) template = SERVFAIL;
    else {
      const key = `${query.type}/${query.qclass}/${query.name}`;
      const result = this.options.forwarder.resolve(key, msg.subarray(12, query.questionEnd));
      if (result instanceof Promise) {
        result.then(
          (t) => reply(zone, t),
          () => reply(zone, SERVFAIL),
        );
        return;
      }
      template = result;
    }
    reply(zone, template);
  }

  private route(query: Query): ZoneAnswer {
    const zone = this.zone;
    if (zone) return zone.answer(query.name, query.type);
    // Before the first snapshot: our own names fail (the client retries), the rest can be forwarded.
    if (inDomain(query.name, this.options.domain)) return { kind: "answer", template: SERVFAIL_AUTHORITATIVE };
    return { kind: "forward" };
  }

  /** An ExternalName answer: the CNAME, then the target's records as the upstream resolver has them. */
  private async chase(answer: { cname: dnsPacket.Answer; target: string }, query: Query): Promise<Template> {
    const cnameOnly = () => encodeTemplate(AUTHORITATIVE, [answer.cname], [], []);
    const { forwarder } = this.options;
    if (forwarder.upstreams.length === 0) return cnameOnly();
    const question = encodeQuestion(answer.target, query.type);
    const upstream = await forwarder.resolve(`${query.type}/1/${answer.target}`, question);
    const rcode = upstream.flags & 0xf;
    if (rcode !== 0 && rcode !== RCODE_NXDOMAIN) return cnameOnly();
    const header = Buffer.alloc(12);
    header.writeUInt16BE(FLAG_QR | rcode, 2);
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(upstream.an, 6);
    header.writeUInt16BE(upstream.ns, 8);
    header.writeUInt16BE(upstream.ar, 10);
    let decoded: dnsPacket.DecodedPacket;
    try {
      decoded = dnsPacket.decode(Buffer.concat([header, question, upstream.body]));
    } catch {
      return cnameOnly();
    }
    return encodeTemplate(AUTHORITATIVE | rcode, [answer.cname, ...(decoded.answers ?? [])], [], []);
  }
}

function ignore(): void {}
