import dgram from "node:dgram";
import { createServer, isIP, type Server, type Socket } from "node:net";
import dnsPacket from "dns-packet";
import type { HostPort } from "../../config.ts";
import type { Logger } from "../../log.ts";
import { type DnsSnapshot, EMPTY_DNS } from "../../snapshot/dns.ts";
import { inDomain } from "../../snapshot/dns-lookup.ts";
import { listen } from "../../util/listen.ts";
import type { RecursionAcl } from "./acl.ts";
import { type Forwarder, SERVFAIL } from "./forward.ts";
import type { DnsMetrics } from "./metrics.ts";
import { type CloseReason, DEFAULT_TCP_LIMITS, type DnsTcpLimits, TcpConnections } from "./tcp.ts";
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
import { encodeTemplate, withOwnerCase, Zone, type ZoneAnswer } from "./zone.ts";

export interface DnsServerOptions {
  /** the main address (`--dns-address`); absent: only the addresses added by `bindExtra` (node-local DNS alone) */
  address?: HostPort;
  /** the cluster domain (lowercase, no trailing dot): answered locally, never forwarded */
  domain: string;
  ttl: number;
  forwarder: Forwarder;
  metrics?: DnsMetrics;
  logger: Logger;
  /** clients whose names outside the cluster domain are forwarded; the others get REFUSED */
  recursion: RecursionAcl;
  /** DNS-over-TCP bounds; any left out take DEFAULT_TCP_LIMITS */
  tcp?: Partial<DnsTcpLimits>;
  /** told each time a TCP connection is closed by the server (not by the client) */
  onTcpClose?: (reason: CloseReason) => void;
  /** SO_REUSEPORT on both sockets: workers share the port (the port must then be fixed, not 0) */
  reusePort?: boolean;
}

type Proto = "udp" | "tcp";

const REFUSED = rcodeTemplate(RCODE_REFUSED);
const BADVERS = rcodeTemplate(RCODE_BADVERS);
const NOTIMP = rcodeTemplate(RCODE_NOTIMP);
const TYPE_IXFR = 251;
const TYPE_AXFR = 252;
const AUTHORITATIVE = FLAG_QR | FLAG_AA | FLAG_RA;
const TCP_LIMIT = 65535;
/**
 * REFUSED to a client that may not recurse: RA clear (recursion is not available to it), the
 * question echoed, nothing else, so the answer is never larger than the question that caused it.
 */
const NO_RECURSION: Template = { ...rcodeTemplate(RCODE_REFUSED), flags: FLAG_QR | RCODE_REFUSED };

/**
 * The cluster DNS server: UDP and TCP on one port. Names under the cluster domain are answered from
 * the current zone (SERVFAIL until the first snapshot), everything else goes to the forwarder.
 * No input, however malformed, may throw out of a handler.
 */
export class DnsServer {
  private zone: Zone | undefined;
  private udp: dgram.Socket | undefined;
  private tcp: Server | undefined;
  private readonly connections: TcpConnections;
  private readonly options: DnsServerOptions;
  private recursion: RecursionAcl;
  /** an ExternalName's CNAME alone, per zone answer, for clients that may not recurse */
  private readonly cnameOnly = new WeakMap<object, Template>();
  private readonly zoneLabel: string;
  /** the answer for cluster names before the first snapshot */
  private readonly notSynced: Template;
  port = 0;
  /** round-robin position over answers with rotations */
  private turn = 0;
  /** sockets added by bindExtra, by the caller's key */
  private readonly extra = new Map<string, dgram.Socket | Server>();
  private closed = false;

  constructor(options: DnsServerOptions) {
    this.options = options;
    this.zoneLabel = `${options.domain}.`;
    this.recursion = options.recursion;
    const { domain } = options;
    this.notSynced = new Zone(
      { ...EMPTY_DNS, domain, soa: { ...EMPTY_DNS.soa, mname: `ns.dns.${domain}`, rname: `hostmaster.${domain}` } },
      options.ttl,
    ).servfail();
    this.connections = new TcpConnections(
      { ...DEFAULT_TCP_LIMITS, ...options.tcp },
      (msg, connection) => this.handle(msg, "tcp", connection.family, connection.address, connection.send),
      options.onTcpClose,
    );
  }

  /** open DNS-over-TCP connections */
  get tcpConnections(): number {
    return this.connections.size;
  }

  setRecursionAcl(acl: RecursionAcl): void {
    this.recursion = acl;
  }

  /** Binds TCP and UDP on the same port (with port 0: an ephemeral port free for both). */
  async start(): Promise<void> {
    const { address } = this.options;
    if (!address) return;
    for (let attempt = 0; ; attempt++) {
      // No server.maxConnections: at the cap, the oldest idle connection makes room instead (tcp.ts).
      const tcp = createServer((socket) => this.onConnection(socket));
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

  /** Questions from now on go to `forwarder` (node-local DNS: the upstreams follow the DNS Service's endpoints). */
  setForwarder(forwarder: Forwarder): void {
    this.options.forwarder = forwarder;
  }

  setSnapshot(snapshot: DnsSnapshot): void {
    this.zone = new Zone(snapshot, this.options.ttl);
  }

  /**
   * Serves one more address, on one protocol, like the main one (node-local DNS: the cluster DNS Service's
   * clusterIPs and the link-local address). Rejects when it cannot bind; `key` names it for unbindExtra.
   */
  async bindExtra(key: string, protocol: "UDP" | "TCP", host: string, port: number): Promise<void> {
    if (this.closed || this.extra.has(key)) return;
    let socket: dgram.Socket | Server;
    if (protocol === "UDP") socket = await this.bindUdp(host, port);
    else {
      const tcp = createServer((s) => this.onConnection(s));
      try {
        await listen(tcp, { host, port }, { reusePort: this.options.reusePort === true });
      } catch (err) {
        tcp.close();
        throw err;
      }
      socket = tcp;
    }
    // closed (or bound twice) while binding
    if (this.closed || this.extra.has(key)) socket.close();
    else this.extra.set(key, socket);
  }

  /** Stops serving an address added by bindExtra (its open TCP connections finish as they are). */
  unbindExtra(key: string): void {
    const socket = this.extra.get(key);
    if (!socket) return;
    this.extra.delete(key);
    socket.close();
  }

  /** The keys of the addresses bindExtra added and that are bound. */
  get extraKeys(): string[] {
    return [...this.extra.keys()];
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const key of [...this.extra.keys()]) this.unbindExtra(key);
    this.udp?.close();
    this.udp = undefined;
    this.connections.closeAll();
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
          this.handle(msg, "udp", family, rinfo.address, (out) => socket.send(out, rinfo.port, rinfo.address));
        });
        resolve(socket);
      });
    });
  }

  private onConnection(socket: Socket): void {
    socket.on("error", ignore);
    socket.setNoDelay(true);
    this.connections.admit(socket);
  }

  /**
   * Answers one message from `source`; `send` gets the response. Returns true when the response
   * comes later (a forwarded question): `send` is then called exactly once. Never throws.
   */
  handle(msg: Buffer, proto: Proto, family: 4 | 6, source: string, send: (out: Buffer) => void): boolean {
    try {
      return this.dispatch(msg, proto, family, source, send);
    } catch (err) {
      this.options.logger.debug({ err }, "dns query failed");
      return false;
    }
  }

  private dispatch(msg: Buffer, proto: Proto, family: 4 | 6, source: string, send: (out: Buffer) => void): boolean {
    const { metrics } = this.options;
    const parsed = parseQuery(msg);
    if (!parsed.ok) {
      if (parsed.drop) return false;
      metrics?.response(".", parsed.rcode, undefined, "");
      send(headerOnly(parsed.id, parsed.flags, parsed.rcode));
      return false;
    }
    const query = parsed.query;
    const limit = proto === "udp" ? query.udpSize : TCP_LIMIT;
    // Also runs later for forwarded answers, possibly after close(): it must never throw.
    // `startedMs`: set for answers that wait (forwarded), for the request-duration histogram.
    const reply = (zone: string, template: Template, startedMs?: number, plugin?: string) => {
      let out: Buffer;
      try {
        const seconds = startedMs === undefined ? undefined : (performance.now() - startedMs) / 1000;
        metrics?.response(zone, template.extendedRcode ?? template.flags & 0xf, seconds, plugin);
        out = assemble(msg, query, template, limit, template.storedAtMs === undefined ? 0 : Date.now());
      } catch (err) {
        this.options.logger.debug({ err }, "dns reply not assembled");
        out = headerOnly(query.id, query.flags, RCODE_SERVFAIL);
      }
      // Exactly one send per answered question: a TCP connection counts the answers it is owed.
      try {
        send(out);
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
    // Cluster names are everyone's (as with CoreDNS); anything that needs the upstream is for allowed clients only.
    else if (answer.kind === "chase") {
      if (!this.recursion.allows(source)) template = this.cnameOnlyFor(answer);
      else {
        const started = performance.now();
        this.chase(answer, query).then(
          (t) => reply(zone, t, started),
          () => reply(zone, SERVFAIL, started),
        );
        return true;
      }
    } else if (!this.recursion.allows(source)) template = NO_RECURSION;
    else if (this.options.forwarder.upstreams.length === 0) template = SERVFAIL;
    else {
      // DO is part of the question (coalescing, cache): a DNSSEC answer is not a plain one
      const key = `${query.type}${query.dnssecOk ? "+do" : ""}/${query.qclass}/${query.name}`;
      const result = this.options.forwarder.resolve(key, msg.subarray(12, query.questionEnd), query.dnssecOk);
      if (result instanceof Promise) {
        const started = performance.now();
        result.then(
          (t) => reply(zone, t, started),
          () => reply(zone, SERVFAIL, started),
        );
        return true;
      }
      // a cache hit: CoreDNS labels it with the plugin that wrote it
      reply(zone, result, undefined, "cache");
      return false;
    }
    reply(zone, template);
    return false;
  }

  private route(query: Query): ZoneAnswer {
    const zone = this.zone;
    if (zone) return zone.answer(query.name, query.type);
    // Before the first snapshot: our own names fail (the client retries), the rest can be forwarded.
    if (inDomain(query.name, this.options.domain)) return { kind: "answer", template: this.notSynced };
    return { kind: "forward" };
  }

  private cnameOnlyFor(answer: { cname: dnsPacket.Answer }): Template {
    let template = this.cnameOnly.get(answer);
    if (!template) {
      template = withOwnerCase(encodeTemplate(AUTHORITATIVE, [answer.cname], [], []), answer.cname.name);
      this.cnameOnly.set(answer, template);
    }
    return template;
  }

  /** An ExternalName answer: the CNAME, then the target's records as the upstream resolver has them. */
  private async chase(answer: { cname: dnsPacket.Answer; target: string }, query: Query): Promise<Template> {
    const cnameOnly = () => this.cnameOnlyFor(answer);
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
    return withOwnerCase(
      encodeTemplate(AUTHORITATIVE | rcode, [answer.cname, ...(decoded.answers ?? [])], [], []),
      answer.cname.name,
    );
  }
}

function ignore(): void {}
