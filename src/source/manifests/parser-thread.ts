/**
 * Runs loadManifestFile on a worker thread: reading, hashing and the YAML parse of a large folder
 * (~1 MB/s for YAML) happen off the event loop, and the main thread only receives plain documents.
 * The thread is started on demand, one file at a time, and ended when idle, so it costs nothing
 * between changes. If parsing a file kills the thread (out of memory, a stack overflow the limits
 * did not foresee) or takes too long, that file is reported and skipped and the next file gets a
 * fresh thread.
 */
import { Worker } from "node:worker_threads";
import { type LoadRequest, type LoadResult, loadManifestFile } from "./load.ts";
import type { WorkerReply, WorkerRequest } from "./parse-worker.ts";

// The sources run as TypeScript in a checkout (Node strips types) and as JavaScript from dist/.
const ENTRY = new URL(import.meta.url.endsWith(".ts") ? "./parse-worker.ts" : "./parse-worker.js", import.meta.url);

export interface ParserThreadOptions {
  /** a file still parsing after this long is skipped (and its thread ended) */
  timeoutMs?: number;
  /** the thread ends after this long without work */
  idleMs?: number;
  /**
   * The thread's heap: an 8 MiB YAML file (the size limit) needs a few hundred MB while parsing; past
   * this the thread dies with ERR_WORKER_OUT_OF_MEMORY and only that file is lost, not the process.
   */
  maxHeapMb?: number;
  /** told once when no thread can be started (files are then parsed on the main thread) */
  onUnavailable?: (reason: string) => void;
  /** the thread's entry file (tests) */
  entry?: URL;
}

interface Pending {
  id: number;
  path: string;
  resolve: (result: LoadResult) => void;
  timer: NodeJS.Timeout;
}

export class ParserThread {
  private readonly timeoutMs: number;
  private readonly idleMs: number;
  private readonly maxHeapMb: number;
  private readonly entry: URL;
  private worker: Worker | undefined;
  private pending: Pending | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private nextId = 1;
  /** a queue of one: the source loads files one after the other */
  private chain: Promise<unknown> = Promise.resolve();
  /** the request in progress, to run here instead if the thread cannot start */
  private retry: LoadRequest | undefined;
  /** why no thread could be started; files are then parsed on the calling thread */
  private unavailable: string | undefined;
  private readonly onUnavailable: (reason: string) => void;

  constructor(options: ParserThreadOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.idleMs = options.idleMs ?? 5_000;
    this.maxHeapMb = options.maxHeapMb ?? 1024;
    this.onUnavailable = options.onUnavailable ?? (() => {});
    this.entry = options.entry ?? ENTRY;
  }

  load(request: LoadRequest): Promise<LoadResult> {
    const next = this.chain.then(() => this.send(request));
    this.chain = next.catch(() => {});
    return next;
  }

  /** Ends the thread (the source stops). */
  async close(): Promise<void> {
    clearTimeout(this.idleTimer);
    await this.chain;
    await this.end();
  }

  private send(request: LoadRequest): Promise<LoadResult> {
    clearTimeout(this.idleTimer);
    if (this.unavailable !== undefined) return loadManifestFile(request);
    this.retry = request;
    const worker = this.start();
    const id = this.nextId++;
    return new Promise<LoadResult>((resolve) => {
      const timer = setTimeout(() => this.fail(`took longer than ${this.timeoutMs} ms to parse`), this.timeoutMs);
      this.pending = { id, path: request.path, resolve, timer };
      worker.ref();
      worker.postMessage({ id, request } satisfies WorkerRequest);
    });
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(this.entry, { resourceLimits: { maxOldGenerationSizeMb: this.maxHeapMb } });
    let online = false; // its entry (and the yaml package) loaded
    // Events of a thread already replaced (ended after a failure) are not about the file in progress.
    worker.on("message", (reply: WorkerReply) => {
      if ("ready" in reply) {
        online = true;
        return;
      }
      const pending = this.pending;
      if (this.worker !== worker || !pending || pending.id !== reply.id) return;
      this.settle(
        "error" in reply ? failed(pending.path, `cannot be parsed: ${reply.error}; file skipped`) : reply.result,
      );
    });
    const stopped = (reason: string) => {
      if (this.worker !== worker) return;
      if (online) return this.fail(`parsing it stopped the parser thread (${reason})`);
      // The thread never started (no worker support, a missing entry file): parse here from now on.
      this.worker = undefined;
      this.unavailable = reason;
      this.onUnavailable(reason);
      const pending = this.pending;
      if (pending) void loadManifestFile(this.retry!).then((result) => this.settle(result));
    };
    worker.on("error", (err) => stopped(err.message));
    worker.on("exit", (code) => stopped(`exit code ${code}`));
    this.worker = worker;
    return worker;
  }

  /** The file in progress killed or stalled the thread: report it; the next file gets a new thread. */
  private fail(reason: string): void {
    const pending = this.pending;
    if (!pending) return;
    this.settle(failed(pending.path, `${reason}; file skipped`));
    const worker = this.worker;
    this.worker = undefined;
    void worker?.terminate();
  }

  private settle(result: LoadResult): void {
    const pending = this.pending!;
    this.pending = undefined;
    clearTimeout(pending.timer);
    this.worker?.unref();
    pending.resolve(result);
    this.idleTimer = setTimeout(() => void this.end(), this.idleMs);
    this.idleTimer.unref();
  }

  private async end(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    if (worker) await worker.terminate();
  }
}

function failed(path: string, message: string): LoadResult {
  return { kind: "failed", problem: { kind: "File", origin: path, message } };
}
