import { randomInt } from "node:crypto";
import dgram from "node:dgram";
import { isIP, Socket } from "node:net";
import type { HostPort } from "../../config.ts";
import type { Logger } from "../../log.ts";
import type { DnsMetrics } from "./metrics.ts";
import { rcodeNameOf } from "./names.ts";
import { attemptOrder, type ForwardZone, type Upstream, UpstreamRoutes } from "./upstreams.ts";
import {
  encodeQuestion,
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
  TYPE_NS,
  TYPE_OPT,
  TYPE_SOA,
  walkRecords,
} from "./wire.ts";

export interface ForwarderOptions {
  /** where names go unless a forward zone claims them */
  upstreams: readonly HostPort[];
  /** per-zone upstreams (`--dns-forward-zone`); the longest zone containing the name wins */
  zones?: readonly ForwardZone[];
  /** entries in the answer cache; 0 turns caching off */
  cacheSize: number;
  /** how long one upstream gets to answer before the next is tried */
  attemptTimeoutMs?: number;
  /** longest a client waits before SERVFAIL */
  totalTimeoutMs?: number;
  /** longest a positive answer is cached (seconds) */
  maxTtl?: number;
  /** longest a negative answer is cached (seconds; RFC 2308 §5 suggests 1–3 hours at most) */
  maxNegativeTtl?: number;
  /** distinct questions in flight upstream at most (CoreDNS's `max_concurrent`); beyond it: REFUSED */
  maxConcurrent?: number;
  /** how long past expiry an entry may be served when every upstream fails (RFC 8767); 0 = never */
  serveStaleMs?: number;
  /** CoreDNS `prefetch AMOUNT DURATION PERCENTAGE%`: amount 0 = off */
  prefetch?: { amount: number; windowMs: number; percentage: number };
  /** failed health checks after which an upstream is down (CoreDNS `max_fails`, 2) */
  maxFails?: number;
  /** interval of the `. IN NS` probes of an upstream that failed (CoreDNS `health_check`, 0.5 s) */
  healthCheckMs?: number;
  metrics?: DnsMetrics;
  logger: Logger;
  now?: () => number;
}

interface CacheEntry extends Template {
  expiresAtMs: number;
  /** the TTL it was stored with (ms), for the prefetch threshold */
  ttlMs: number;
  negative: boolean;
  /** hits within the prefetch window, and the last one (CoreDNS's cache item frequency) */
  hits: number;
  lastHitMs: number;
}

export const SERVFAIL: Template = rcodeTemplate(RCODE_SERVFAIL);
const OVERLOADED: Template = rcodeTemplate(RCODE_REFUSED);
/** RFC 8767 §4: stale answers carry a TTL of 30 seconds. */
const STALE_TTL = 30;
const ROOT_NS = encodeQuestion("", TYPE_NS);

/**
 * Forwards questions outside the cluster domain upstream (UDP, TCP when the answer is truncated):
 * - a bounded LRU cache honouring TTLs, with negative caching (RFC 2308 §5: min(SOA TTL, SOA minimum));
 * - serve-stale (RFC 8767): an expired entry, within `serveStaleMs`, answers (TTL 30) when no upstream does;
 * - prefetch of popular entries before they expire (CoreDNS `prefetch`);
 * - per-zone upstream groups, tried in order, skipping upstreams that health checks found down;
 * - one upstream exchange per distinct question at a time (coalescing), at most `maxConcurrent` of them.
 */
export class Forwarder {
  private readonly cache = new Map<string, CacheEntry>();
  private readonly inflight = new Map<string, Promise<Template>>();
  private readonly pending = new Map<number, { resolve: (msg: Buffer) => void; upstream: HostPort }>();
  private readonly sockets = new Map<4 | 6, dgram.Socket>();
  private readonly options: ForwarderOptions;
  private routes: UpstreamRoutes;
  private allUpstreams: readonly HostPort[];
  private readonly now: () => number;
  private readonly timers = new Set<NodeJS.Timeout>();
  private closed = false;

  constructor(options: ForwarderOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
    this.routes = new UpstreamRoutes(options.upstreams, options.zones);
    this.allUpstreams = this.routes.all.map((u) => u.address);
    options.metrics?.watchCache(() => this.cacheCounts());
  }

  /**
   * Replaces the default upstreams (names no forward zone claims), e.g. when they follow a Service's
   * endpoints. Upstreams kept keep their health state; the cache stays.
   */
  setUpstreams(upstreams: readonly HostPort[]): void {
    const zones = this.routes.zones.map((z) => ({ zone: z.zone, upstreams: z.upstreams.map((u) => u.address) }));
    this.routes = new UpstreamRoutes(upstreams, zones, this.routes);
    this.allUpstreams = this.routes.all.map((u) => u.address);
  }

  /** Every upstream, default and per zone (empty: nothing can be forwarded). */
  get upstreams(): readonly HostPort[] {
    return this.allUpstreams;
  }

  /**
   * The answer to one question. `question` is its wire form (qname, qtype, qclass) as the client sent
   * it; `key` identifies it case-insensitively and ends with the lowercase name ("type/class/name").
   * Returns synchronously on a cache hit.
   */
  resolve(key: string, question: Buffer, dnssecOk = false): Template | Promise<Template> {
    const now = this.now();
    let cached = this.cache.get(key);
    if (cached) {
      if (cached.expiresAtMs > now) {
        // refresh its place in the LRU order
        this.cache.delete(key);
        this.cache.set(key, cached);
        this.options.metrics?.cacheHit(cached.negative);
        if (this.options.prefetch?.amount) this.maybePrefetch(key, question, cached, now, dnssecOk);
        return cached;
      }
      if (now - cached.expiresAtMs > (this.options.serveStaleMs ?? 0)) {
        this.cache.delete(key);
        cached = undefined;
      }
    }
    this.options.metrics?.cacheMiss();
    const running = this.inflight.get(key);
    if (running) return cached ? running.then((t) => this.orStale(key, t)) : running;
    const upstreams = this.routes.for(nameOf(key));
    if (upstreams.length === 0) return SERVFAIL;
    // Every upstream down and an answer from the past at hand: give it now, refresh behind it (RFC 8767 §5).
    if (cached && attemptOrder(upstreams, this.maxFails).broken) {
      const stale = this.staleOf(cached);
      if (stale && this.inflight.size < this.maxConcurrent) this.start(key, question, upstreams, dnssecOk);
      if (stale) return stale;
    }
    // A flood of distinct names must not pile up timers, IDs and memory without bound.
    if (this.inflight.size >= this.maxConcurrent) {
      this.options.metrics?.maxConcurrentReject();
      return (cached && this.staleOf(cached)) || OVERLOADED;
    }
    const started = this.start(key, question, upstreams, dnssecOk);
    return cached ? started.then((t) => this.orStale(key, t)) : started;
  }

  close(): void {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    for (const socket of this.sockets.values()) socket.close();
    this.sockets.clear();
    for (const { resolve } of this.pending.values()) resolve(Buffer.alloc(0));
    this.pending.clear();
  }

  private get maxFails(): number {
    return this.options.maxFails ?? 2;
  }

  private get maxConcurrent(): number {
    return this.options.maxConcurrent ?? 1000;
  }

  private start(key: string, question: Buffer, upstreams: readonly Upstream[], dnssecOk = false): Promise<Template> {
    const started = this.exchange(key, question, upstreams, dnssecOk).finally(() => this.inflight.delete(key));
    this.inflight.set(key, started);
    return started;
  }

  /** SERVFAIL from the upstreams, but a stale entry within bounds: that instead (RFC 8767). */
  private orStale(key: string, template: Template): Template {
    if (template !== SERVFAIL) return template;
    const entry = this.cache.get(key);
    return (entry && this.staleOf(entry)) || template;
  }

  /** An expired entry as a stale answer (TTLs 30), or undefined when serve-stale is off or it is too old. */
  private staleOf(entry: CacheEntry): Template | undefined {
    const now = this.now();
    const bound = this.options.serveStaleMs ?? 0;
    if (bound <= 0 || entry.expiresAtMs > now || now - entry.expiresAtMs > bound) return undefined;
    const body = Buffer.from(entry.body);
    for (const at of entry.ttlOffsets ?? []) body.writeUInt32BE(STALE_TTL, at);
    this.options.metrics?.servedStale();
    return {
      flags: entry.flags,
      an: entry.an,
      ns: entry.ns,
      ar: entry.ar,
      body,
      ttlOffsets: entry.ttlOffsets,
      storedAtMs: now,
    };
  }

  /** CoreDNS's prefetch: AMOUNT hits with no gap over the window, and less than PERCENTAGE of the TTL left. */
  private maybePrefetch(key: string, question: Buffer, entry: CacheEntry, now: number, dnssecOk: boolean): void {
    const { amount, windowMs, percentage } = this.options.prefetch!;
    if (now - entry.lastHitMs > windowMs) entry.hits = 0;
    entry.hits++;
    entry.lastHitMs = now;
    if (entry.hits < amount || this.inflight.has(key) || this.inflight.size >= this.maxConcurrent) return;
    const threshold = Math.ceil((percentage / 100) * (entry.ttlMs / 1000)) * 1000;
    if (entry.expiresAtMs - now > threshold) return;
    const upstreams = this.routes.for(nameOf(key));
    if (upstreams.length === 0) return;
    this.options.metrics?.prefetched();
    this.start(key, Buffer.from(question), upstreams, dnssecOk).catch(() => {});
  }

  private async exchange(
    key: string,
    question: Buffer,
    group: readonly Upstream[],
    dnssecOk: boolean,
  ): Promise<Template> {
    const { metrics, logger } = this.options;
    const attemptMs = this.options.attemptTimeoutMs ?? 2000;
    const deadline = this.now() + (this.options.totalTimeoutMs ?? 4000);
    const { order, broken } = attemptOrder(group, this.maxFails);
    if (broken) metrics?.healthcheckBroken();
    const previous = this.cache.get(key);
    for (let i = 0; i < order.length && !this.closed; i++) {
      const upstream = order[i]!;
      const to = upstream.address;
      const budget = Math.min(attemptMs, deadline - this.now());
      if (budget <= 0) break;
      const started = performance.now();
      metrics?.forwardSent(to);
      let reply = await this.udp(to, question, budget, dnssecOk);
      if (reply && reply.readUInt16BE(2) & FLAG_TC) {
        reply = await this.tcp(to, question, Math.max(1, Math.min(attemptMs, deadline - this.now())), dnssecOk);
      }
      const seconds = (performance.now() - started) / 1000;
      if (!reply) {
        metrics?.forwardDone(to, "timeout", seconds);
        logger.debug({ upstream: to, key }, "dns upstream did not answer");
        this.probe(upstream);
        continue;
      }
      upstream.fails = 0;
      const rcode = reply.readUInt16BE(2) & 0xf;
      metrics?.forwardDone(to, rcodeNameOf(rcode), seconds);
      if (rcode === RCODE_SERVFAIL || rcode === RCODE_REFUSED) continue;
      const entry = this.toEntry(reply, question.length);
      if (!entry) continue;
      // a refresh keeps the popularity it earned (CoreDNS carries the frequency over too)
      if (previous) {
        entry.hits = previous.hits;
        entry.lastHitMs = previous.lastHitMs;
      }
      this.store(key, entry);
      return entry;
    }
    return SERVFAIL;
  }

  /**
   * An upstream that did not answer is probed with `. IN NS` every healthCheckMs until it answers
   * (any reply will do, as with CoreDNS); each failed probe counts, and past maxFails it is down.
   */
  private probe(upstream: Upstream): void {
    if (upstream.probing || this.closed) return;
    upstream.probing = true;
    const interval = this.options.healthCheckMs ?? 500;
    const round = () => {
      const timer = setTimeout(async () => {
        this.timers.delete(timer);
        if (this.closed) return;
        const reply = await this.udp(
          upstream.address,
          ROOT_NS,
          Math.min(interval, this.options.attemptTimeoutMs ?? 2000),
        );
        if (this.closed) return;
        if (reply) {
          upstream.fails = 0;
          upstream.probing = false;
          return;
        }
        upstream.fails++;
        this.options.metrics?.healthcheckFailed(upstream.address);
        round();
      }, interval);
      timer.unref();
      this.timers.add(timer);
    };
    round();
  }

  private cacheCounts(): { success: number; denial: number } {
    let denial = 0;
    for (const entry of this.cache.values()) if (entry.negative) denial++;
    return { success: this.cache.size - denial, denial };
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
      // RFC 2308 §5: a negative answer lives min(SOA TTL, SOA MINIMUM)
      if (i >= an && i < an + ns && span.type === TYPE_SOA && span.end - 4 >= span.rdataStart) {
        negativeTtl = Math.min(ttl, reply.readUInt32BE(span.end - 4));
      }
    }
    const negative = rcode === RCODE_NXDOMAIN || (rcode === RCODE_NOERROR && an === 0);
    const ttl = negative
      ? Math.min(negativeTtl ?? 0, this.options.maxNegativeTtl ?? 1800)
      : Math.min(minTtl, this.options.maxTtl ?? 3600);
    const now = this.now();
    const ttlMs = (Number.isFinite(ttl) ? ttl : 0) * 1000;
    return {
      flags: FLAG_QR | FLAG_RA | rcode,
      an: Math.min(an, kept),
      ns: Math.max(0, Math.min(ns, kept - an)),
      ar: Math.max(0, kept - an - ns),
      body: Buffer.from(reply.subarray(bodyStart, bodyEnd)),
      ttlOffsets,
      storedAtMs: now,
      expiresAtMs: now + ttlMs,
      ttlMs,
      negative,
      hits: 0,
      lastHitMs: now,
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

  private query(question: Buffer, id: number, dnssecOk: boolean): Buffer {
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
    // our EDNS buffer size, and the client's DO bit (the rest of the OPT is zero: version 0, no options)
    if (dnssecOk) out[opt + 7] = 0x80;
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

  private udp(upstream: HostPort, question: Buffer, timeoutMs: number, dnssecOk = false): Promise<Buffer | undefined> {
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
      socket.send(this.query(question, id, dnssecOk), upstream.port, upstream.host, (err) => {
        if (err) finish(undefined);
      });
    });
  }

  private tcp(upstream: HostPort, question: Buffer, timeoutMs: number, dnssecOk: boolean): Promise<Buffer | undefined> {
    const id = randomInt(0, 65536);
    const query = this.query(question, id, dnssecOk);
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

/** The lowercase name at the end of a cache key ("type/class/name"). */
function nameOf(key: string): string {
  return key.slice(key.indexOf("/", key.indexOf("/") + 1) + 1);
}
