import { randomInt } from "node:crypto";
import dgram from "node:dgram";
import { isIP, Socket } from "node:net";
import type { HostPort } from "../../config.ts";
import type { Logger } from "../../log.ts";
import type { DnsMetrics } from "./metrics.ts";
import { rcodeNameOf } from "./names.ts";
import {
  FLAG_QR,
  FLAG_RA,
  FLAG_RD,
  FLAG_TC,
  OUR_UDP_SIZE,
  RCODE_NOERROR,
  RCODE_NXDOMAIN,
  RCODE_REFUSED,
  RCODE_SERVFAIL,
  rcodeTemplate,
  type Template,
  TYPE_OPT,
  TYPE_SOA,
  walkRecords,
} from "./wire.ts";

export interface ForwarderOptions {
  upstreams: readonly HostPort[];
  /** entries in the answer cache; 0 turns caching off */
  cacheSize: number;
  /** how long one upstream gets to answer before the next is tried */
  attemptTimeoutMs?: number;
  /** longest a client waits before SERVFAIL */
  totalTimeoutMs?: number;
  /** longest a positive answer is cached (seconds) */
  maxTtl?: number;
  /** longest a negative answer is cached (seconds) */
  maxNegativeTtl?: number;
  /** distinct questions in flight upstream at most (CoreDNS's `max_concurrent`); beyond it: REFUSED */
  maxConcurrent?: number;
  metrics?: DnsMetrics;
  logger: Logger;
  now?: () => number;
}

interface CacheEntry extends Template {
  expiresAtMs: number;
  negative: boolean;
}

export const SERVFAIL: Template = rcodeTemplate(RCODE_SERVFAIL);
const OVERLOADED: Template = rcodeTemplate(RCODE_REFUSED);

/**
 * Forwards questions outside the cluster domain upstream (UDP, TCP when the answer is truncated),
 * with a bounded LRU cache honouring TTLs and negative caching (RFC 2308: the SOA's minimum), one
 * upstream exchange per distinct question at a time (coalescing), and SERVFAIL on timeout.
 */
export class Forwarder {
  private readonly cache = new Map<string, CacheEntry>();
  private readonly inflight = new Map<string, Promise<Template>>();
  private readonly pending = new Map<number, { resolve: (msg: Buffer) => void; upstream: HostPort }>();
  private readonly sockets = new Map<4 | 6, dgram.Socket>();
  private readonly options: ForwarderOptions;
  private readonly now: () => number;
  private closed = false;

  constructor(options: ForwarderOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
  }

  get upstreams(): readonly HostPort[] {
    return this.options.upstreams;
  }

  /**
   * The answer to one question. `question` is its wire form (qname, qtype, qclass) as the client sent
   * it; `key` identifies it case-insensitively. Returns synchronously on a cache hit.
   */
  resolve(key: string, question: Buffer): Template | Promise<Template> {
    const cached = this.cache.get(key);
    if (cached) {
      if (cached.expiresAtMs > this.now()) {
        // refresh its place in the LRU order
        this.cache.delete(key);
        this.cache.set(key, cached);
        this.options.metrics?.cacheHit(cached.negative);
        return cached;
      }
      this.cache.delete(key);
    }
    this.options.metrics?.cacheMiss();
    const running = this.inflight.get(key);
    if (running) return running;
    // A flood of distinct names must not pile up timers, IDs and memory without bound.
    if (this.inflight.size >= (this.options.maxConcurrent ?? 1000)) return OVERLOADED;
    const started = this.exchange(key, question).finally(() => this.inflight.delete(key));
    this.inflight.set(key, started);
    return started;
  }

  close(): void {
    this.closed = true;
    for (const socket of this.sockets.values()) socket.close();
    this.sockets.clear();
    for (const { resolve } of this.pending.values()) resolve(Buffer.alloc(0));
    this.pending.clear();
  }

  private async exchange(key: string, question: Buffer): Promise<Template> {
    const { upstreams, metrics, logger } = this.options;
    const attemptMs = this.options.attemptTimeoutMs ?? 2000;
    const deadline = this.now() + (this.options.totalTimeoutMs ?? 4000);
    for (let i = 0; i < upstreams.length && !this.closed; i++) {
      const upstream = upstreams[i]!;
      const budget = Math.min(attemptMs, deadline - this.now());
      if (budget <= 0) break;
      const started = performance.now();
      let reply = await this.udp(upstream, question, budget);
      if (reply && reply.readUInt16BE(2) & FLAG_TC) {
        reply = await this.tcp(upstream, question, Math.max(1, Math.min(attemptMs, deadline - this.now())));
      }
      const seconds = (performance.now() - started) / 1000;
      if (!reply) {
        metrics?.forwardDone(upstream, "timeout", seconds);
        logger.debug({ upstream, key }, "dns upstream did not answer");
        continue;
      }
      const rcode = reply.readUInt16BE(2) & 0xf;
      metrics?.forwardDone(upstream, rcodeNameOf(rcode), seconds);
      if (rcode === RCODE_SERVFAIL || rcode === RCODE_REFUSED) continue;
      const entry = this.toEntry(reply, question.length);
      if (!entry) continue;
      this.store(key, entry);
      return entry;
    }
    return SERVFAIL;
  }

  /** The upstream reply as a cacheable template: OPT dropped (we add our own), TTL positions noted. */
  private toEntry(reply: Buffer, questionLength: number): CacheEntry | undefined {
    const an = reply.readUInt16BE(6);
    const ns = reply.readUInt16BE(8);
    const ar = reply.readUInt16BE(10);
    const bodyStart = 12 + questionLength;
    const spans = walkRecords(reply, bodyStart, an + ns + ar);
    if (!spans) return undefined;
    const rcode = reply.readUInt16BE(2) & 0xf;
    let bodyEnd = spans.at(-1)?.end ?? bodyStart;
    let kept = spans.length;
    const ttlOffsets: number[] = [];
    let minTtl = Number.POSITIVE_INFINITY;
    let negativeTtl: number | undefined;
    for (let i = 0; i < spans.length; i++) {
      const span = spans[i]!;
      if (span.type === TYPE_OPT) {
        // Everything from the OPT on is dropped: later records may point into it (pointers only go back).
        bodyEnd = span.start;
        kept = i;
        break;
      }
      const ttl = reply.readUInt32BE(span.ttlAt);
      ttlOffsets.push(span.ttlAt - bodyStart);
      if (i < an + ns) minTtl = Math.min(minTtl, ttl);
      if (i >= an && i < an + ns && span.type === TYPE_SOA && span.end - 4 >= span.rdataStart) {
        negativeTtl = Math.min(ttl, reply.readUInt32BE(span.end - 4));
      }
    }
    const negative = rcode === RCODE_NXDOMAIN || (rcode === RCODE_NOERROR && an === 0);
    const ttl = negative
      ? Math.min(negativeTtl ?? 0, this.options.maxNegativeTtl ?? 1800)
      : Math.min(minTtl, this.options.maxTtl ?? 3600);
    const now = this.now();
    return {
      flags: FLAG_QR | FLAG_RA | rcode,
      an: Math.min(an, kept),
      ns: Math.max(0, Math.min(ns, kept - an)),
      ar: Math.max(0, kept - an - ns),
      body: Buffer.from(reply.subarray(bodyStart, bodyEnd)),
      ttlOffsets,
      storedAtMs: now,
      expiresAtMs: now + (Number.isFinite(ttl) ? ttl : 0) * 1000,
      negative,
    };
  }

  private store(key: string, entry: CacheEntry): void {
    const size = this.options.cacheSize;
    if (size <= 0 || entry.expiresAtMs <= entry.storedAtMs!) return;
    this.cache.delete(key);
    this.cache.set(key, entry);
    while (this.cache.size > size) {
      const oldest = this.cache.keys().next().value as string;
      this.cache.delete(oldest);
    }
  }

  private query(question: Buffer, id: number): Buffer {
    const out = Buffer.alloc(12 + question.length + 11);
    out.writeUInt16BE(id, 0);
    out.writeUInt16BE(FLAG_RD, 2);
    out.writeUInt16BE(1, 4);
    out.writeUInt16BE(1, 10);
    question.copy(out, 12);
    const opt = 12 + question.length;
    out[opt] = 0;
    out.writeUInt16BE(TYPE_OPT, opt + 1);
    out.writeUInt16BE(OUR_UDP_SIZE, opt + 3);
    return out;
  }

  private socketFor(family: 4 | 6): dgram.Socket {
    let socket = this.sockets.get(family);
    if (socket) return socket;
    socket = dgram.createSocket(family === 4 ? "udp4" : "udp6");
    socket.on("message", (msg, rinfo) => this.onReply(msg, rinfo));
    socket.on("error", (err) => this.options.logger.warn({ err }, "dns forwarder socket error"));
    socket.unref();
    this.sockets.set(family, socket);
    return socket;
  }

  private onReply(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    if (msg.length < 12 || !(msg.readUInt16BE(2) & FLAG_QR)) return;
    const waiter = this.pending.get(msg.readUInt16BE(0));
    // Only the upstream we asked may answer (a spoofed source port or address is ignored).
    if (!waiter || waiter.upstream.port !== rinfo.port || !sameHost(waiter.upstream.host, rinfo.address)) return;
    waiter.resolve(msg);
  }

  private udp(upstream: HostPort, question: Buffer, timeoutMs: number): Promise<Buffer | undefined> {
    const family = isIP(upstream.host) === 6 ? 6 : 4;
    const socket = this.socketFor(family);
    let id = randomInt(0, 65536);
    for (let tries = 0; this.pending.has(id) && tries < 16; tries++) id = randomInt(0, 65536);
    if (this.pending.has(id)) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const timer = setTimeout(() => finish(undefined), timeoutMs);
      const finish = (reply: Buffer | undefined) => {
        clearTimeout(timer);
        this.pending.delete(id);
        resolve(reply);
      };
      this.pending.set(id, {
        upstream,
        resolve: (msg) => {
          if (msg.length === 0 || !sameQuestion(msg, question)) return finish(undefined);
          finish(msg);
        },
      });
      socket.send(this.query(question, id), upstream.port, upstream.host, (err) => {
        if (err) finish(undefined);
      });
    });
  }

  private tcp(upstream: HostPort, question: Buffer, timeoutMs: number): Promise<Buffer | undefined> {
    const id = randomInt(0, 65536);
    const query = this.query(question, id);
    return new Promise((resolve) => {
      const socket = new Socket();
      let buffered = Buffer.alloc(0);
      const finish = (reply: Buffer | undefined) => {
        clearTimeout(timer);
        socket.destroy();
        resolve(reply);
      };
      const timer = setTimeout(() => finish(undefined), timeoutMs);
      socket.on("error", () => finish(undefined));
      socket.on("close", () => finish(undefined));
      socket.on("data", (chunk) => {
        buffered = Buffer.concat([buffered, chunk]);
        if (buffered.length < 2) return;
        const length = buffered.readUInt16BE(0);
        if (buffered.length < 2 + length) return;
        const reply = buffered.subarray(2, 2 + length);
        finish(reply.length >= 12 && reply.readUInt16BE(0) === id && sameQuestion(reply, question) ? reply : undefined);
      });
      socket.connect(upstream.port, upstream.host, () => {
        const framed = Buffer.alloc(2 + query.length);
        framed.writeUInt16BE(query.length, 0);
        query.copy(framed, 2);
        socket.write(framed);
      });
    });
  }
}

/** The reply's question must be ours (name compared case-insensitively: resolvers may play with 0x20). */
function sameQuestion(reply: Buffer, question: Buffer): boolean {
  if (reply.length < 12 + question.length || reply.readUInt16BE(4) !== 1) return false;
  for (let i = 0; i < question.length; i++) {
    let a = reply[12 + i]!;
    let b = question[i]!;
    if (a >= 0x41 && a <= 0x5a) a += 0x20;
    if (b >= 0x41 && b <= 0x5a) b += 0x20;
    if (a !== b) return false;
  }
  return true;
}

function sameHost(configured: string, seen: string): boolean {
  if (configured === seen) return true;
  // an IPv4 upstream reached over a dual-stack socket shows up as ::ffff:a.b.c.d
  return seen === `::ffff:${configured}`;
}
