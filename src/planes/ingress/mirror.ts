/**
 * RequestMirror (Gateway API HTTPRoute filter): a copy of a request goes to a mirror backend, whose answer is
 * read and dropped. The copy must never delay or change the real exchange, so everything here is bounded and
 * fire-and-forget: at most `maxInFlight` copies in flight (the rest skipped and counted in
 * `nodeplane_gateway_mirror_skipped_total`), each copy bounded in time, and the request body reaches the mirror
 * through a tee (`teeBody`) that never holds the real body back: when the mirror reads slower than the real
 * upstream, the mirror's copy is dropped (its request aborted) instead of buffering more than a bounded amount.
 *
 * HTTP/1 mirror backends are reached with undici, h2c ones (appProtocol kubernetes.io/h2c) over node:http2
 * sessions of the mirror's own (H2cClients).
 */
import type { ClientHttp2Stream } from "node:http2";
import { Readable } from "node:stream";
import { Counter, type Registry } from "prom-client";
import { Agent } from "undici";
import type { Logger } from "../../log.ts";
import type { BackendAppProtocol } from "../../snapshot/gateway.ts";
import { H2cClients, isGrpc } from "./h2c.ts";
import { MIRROR_REQUEST_SKIP } from "./headers.ts";

/** A mirror copy that takes longer than this (head, or between body chunks; and in all) is abandoned. */
const DEFAULT_MIRROR_TIMEOUT_MS = 10_000;
/** Bytes of request body a tee keeps for a mirror that has not read them yet, before it drops the copy. */
export const DEFAULT_TEE_BUFFER_BYTES = 1024 * 1024;

export interface MirrorOptions {
  connectTimeoutMs: number;
  /** most mirrored requests in flight; beyond, copies are skipped (counted) */
  maxInFlight: number;
  /** each copy's bound in time (default 10 s) */
  timeoutMs?: number;
  /** where nodeplane_gateway_mirror_skipped_total is registered; without one the count is kept in `skipped` only */
  registry?: Registry;
}

export interface MirrorTarget {
  ip: string;
  port: number;
  appProtocol: BackendAppProtocol;
}

export class Mirror {
  private readonly logger: Logger;
  private readonly maxInFlight: number;
  private readonly timeoutMs: number;
  private readonly agent: Agent;
  private readonly h2c: H2cClients;
  private readonly skippedCounter: Counter | undefined;
  /** mirror copies in flight now */
  inFlight = 0;
  /** copies skipped because maxInFlight were in flight (also counted in the metric) */
  skipped = 0;
  /** copies that failed or were abandoned (mirror down, slow, or its body copy dropped) */
  failed = 0;
  private closed = false;

  constructor(logger: Logger, options: MirrorOptions) {
    this.logger = logger;
    this.maxInFlight = options.maxInFlight;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_MIRROR_TIMEOUT_MS;
    this.agent = new Agent({
      connect: { timeout: options.connectTimeoutMs },
      headersTimeout: this.timeoutMs,
      bodyTimeout: this.timeoutMs,
      keepAliveTimeout: 4_000,
      // a mirror backend gets at most maxInFlight connections' worth of copies anyway
      connections: Math.max(1, options.maxInFlight),
    });
    this.h2c = new H2cClients(logger, { connectTimeoutMs: options.connectTimeoutMs, idleTimeoutMs: 60_000 });
    if (options.registry !== undefined) {
      const existing = options.registry.getSingleMetric(SKIPPED) as Counter | undefined;
      this.skippedCounter =
        existing ??
        new Counter({
          name: SKIPPED,
          help: "RequestMirror copies not sent because the most allowed were in flight",
          registers: [options.registry],
        });
    }
  }

  /**
   * Sends a copy of the request to the mirror backend and forgets it: returns at once, never throws; the answer
   * is discarded. `headers` is the flat name/value list as sent upstream; `body` the request body's chunks as
   * they stream (teeBody), undefined when there is none. Returns whether the copy was started (false: skipped).
   */
  send(
    target: MirrorTarget,
    method: string,
    path: string,
    headers: readonly string[],
    body: AsyncIterable<Buffer> | undefined,
  ): boolean {
    if (this.closed || this.inFlight >= this.maxInFlight) {
      this.skipped++;
      this.skippedCounter?.inc();
      abandon(body);
      return false;
    }
    this.inFlight++;
    // a copy whose body the tee dropped is abandoned at once, not when its request next asks for body bytes
    const abort = new AbortController();
    if (body instanceof MirrorBody) body.onDrop = () => abort.abort(new Error("mirror body copy dropped"));
    else if (body instanceof Readable)
      // a stream the caller tees into: closed before its end means the copy was cut
      body.once("close", () => {
        if (!body.readableEnded) abort.abort(new Error("mirror body copy cut"));
      });
    const run = target.appProtocol === "h2c" ? this.sendH2c : this.sendH1;
    run
      .call(this, target, method, path, headers, body, abort.signal)
      .catch((err: unknown) => {
        this.failed++;
        abandon(body);
        this.logger.debug({ err, mirror: `${target.ip}:${target.port}` }, "mirror copy failed");
      })
      .finally(() => {
        this.inFlight--;
      });
    return true;
  }

  private async sendH1(
    target: MirrorTarget,
    method: string,
    path: string,
    headers: readonly string[],
    body: AsyncIterable<Buffer> | undefined,
    signal: AbortSignal,
  ): Promise<void> {
    const out: string[] = [];
    for (let i = 0; i < headers.length; i += 2) {
      const lower = headers[i]!.toLowerCase();
      if (MIRROR_REQUEST_SKIP.has(lower) || lower.charCodeAt(0) === 58) continue;
      if (lower === "content-length" && body === undefined) continue;
      out.push(headers[i]!, headers[i + 1]!);
    }
    const host = target.ip.includes(":") ? `[${target.ip}]` : target.ip;
    const response = await this.agent.request({
      origin: `http://${host}:${target.port}`,
      path,
      method: method as "GET",
      headers: out,
      body: body === undefined ? null : Readable.from(body, { objectMode: false }),
      signal: AbortSignal.any([signal, AbortSignal.timeout(this.timeoutMs)]),
    });
    await response.body.dump({ limit: 0 });
  }

  private async sendH2c(
    target: MirrorTarget,
    method: string,
    path: string,
    headers: readonly string[],
    body: AsyncIterable<Buffer> | undefined,
    signal: AbortSignal,
  ): Promise<void> {
    const record: Record<string, string | string[]> = {};
    let authority = "";
    for (let i = 0; i < headers.length; i += 2) {
      const lower = headers[i]!.toLowerCase();
      const value = headers[i + 1]!;
      if (lower === "host") {
        authority = value;
        continue;
      }
      if (lower.charCodeAt(0) === 58 || (MIRROR_REQUEST_SKIP.has(lower) && lower !== "te")) continue;
      const existing = record[lower];
      record[lower] =
        existing === undefined ? value : Array.isArray(existing) ? [...existing, value] : [existing, value];
    }
    if (authority === "")
      authority = target.ip.includes(":") ? `[${target.ip}]:${target.port}` : `${target.ip}:${target.port}`;
    const stream = this.h2c.request(
      target,
      { method, path, authority, headers: record },
      body === undefined,
      isGrpc(record["content-type"]),
    );
    if (stream === undefined) throw new Error("mirror endpoint has too many streams in flight");
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        stream.close();
        reject(new Error("mirror copy timed out"));
      }, this.timeoutMs);
      stream.on("error", reject);
      signal.addEventListener("abort", () => {
        if (!stream.destroyed) stream.close();
        reject(signal.reason);
      });
      stream.on("close", () => {
        clearTimeout(timer);
        if (stream.rstCode !== 0 && stream.rstCode !== undefined)
          reject(new Error(`mirror stream reset (${stream.rstCode})`));
        else resolve();
      });
      // the answer is discarded
      stream.resume();
      if (body !== undefined)
        writeBody(stream, body).catch((err: unknown) => {
          stream.close();
          reject(err);
        });
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([this.agent.destroy().catch(() => undefined), this.h2c.close()]);
  }
}

const SKIPPED = "nodeplane_gateway_mirror_skipped_total";

async function writeBody(stream: ClientHttp2Stream, body: AsyncIterable<Buffer>): Promise<void> {
  for await (const chunk of body) {
    if (stream.destroyed) return;
    if (!stream.write(chunk))
      await new Promise<void>((resolve) => {
        const done = () => {
          stream.off("drain", done);
          stream.off("close", done);
          resolve();
        };
        stream.once("drain", done);
        stream.once("close", done);
      });
  }
  if (!stream.destroyed) stream.end();
}

/** A body the mirror will never read: tell its tee to stop keeping chunks for it. */
function abandon(body: AsyncIterable<Buffer> | undefined): void {
  if (body instanceof MirrorBody) body.drop();
  // a stream the caller tees into (a PassThrough): destroyed, so the tee stops writing to it
  else if (body !== undefined && typeof (body as { destroy?: unknown }).destroy === "function")
    (body as unknown as { destroy(): void }).destroy();
}

/**
 * The mirror's side of a tee: chunks copied in as the real body passes (push), read out by the mirror's request.
 * Bounded: once more than `limit` bytes wait unread, the copy is dropped (the mirror's request then fails);
 * the real body never waits for it.
 */
export class MirrorBody implements AsyncIterable<Buffer> {
  private readonly limit: number;
  private readonly chunks: Buffer[] = [];
  private bytes = 0;
  private ended = false;
  private error: Error | undefined;
  private wake: (() => void) | undefined;
  dropped = false;
  /** called once when the copy is dropped (the Mirror aborts its request) */
  onDrop: (() => void) | undefined;

  constructor(limit: number) {
    this.limit = limit;
  }

  push(chunk: Buffer): void {
    if (this.dropped || this.ended) return;
    if (this.bytes + chunk.length > this.limit) {
      this.fail(new Error("mirror slower than the upstream: its copy of the body was dropped"));
      return;
    }
    // a copy: the real body's buffer may be reused by whoever reads it
    this.chunks.push(Buffer.from(chunk));
    this.bytes += chunk.length;
    this.notify();
  }

  end(): void {
    this.ended = true;
    this.notify();
  }

  fail(err: Error): void {
    if (this.error !== undefined) return;
    this.error = err;
    this.dropped = true;
    this.chunks.length = 0;
    this.bytes = 0;
    this.notify();
    const onDrop = this.onDrop;
    this.onDrop = undefined;
    onDrop?.();
  }

  /** Nobody will read this copy: keep nothing more. */
  drop(): void {
    this.fail(new Error("mirror copy abandoned"));
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Buffer> {
    while (true) {
      if (this.error !== undefined) throw this.error;
      const chunk = this.chunks.shift();
      if (chunk !== undefined) {
        this.bytes -= chunk.length;
        yield chunk;
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
  }
}

/**
 * Tees a request body for a mirror: `main` yields the source's chunks unchanged to the real upstream and, as
 * each passes, a copy goes to `mirror` (bounded: see MirrorBody). The real upstream sets the pace; the mirror
 * never slows it down. A source that fails fails the mirror's copy too.
 */
export function teeBody(
  source: AsyncIterable<Buffer>,
  limit: number = DEFAULT_TEE_BUFFER_BYTES,
): { main: AsyncIterable<Buffer>; mirror: MirrorBody } {
  const mirror = new MirrorBody(limit);
  async function* main(): AsyncGenerator<Buffer> {
    let complete = false;
    try {
      for await (const chunk of source) {
        mirror.push(chunk);
        yield chunk;
      }
      complete = true;
      mirror.end();
    } finally {
      // the source failed, or the real request stopped reading early: the mirror's copy is incomplete and
      // must not reach the mirror backend as if it were whole
      if (!complete) mirror.fail(new Error("request body incomplete"));
    }
  }
  return { main: main(), mirror };
}
