import { type FSWatcher, watch } from "node:fs";
import { stat } from "node:fs/promises";
import type { Config } from "../../config.ts";
import type { Logger } from "../../log.ts";
import { KINDS } from "../../model/k8s.ts";
import { formatProblem, type Problem } from "../../model/problems.ts";
import type { Store } from "../../store/store.ts";
import type { Source } from "../source.ts";
import { type CompileResult, type Ignored, ManifestCompiler } from "./compile.ts";
import { type FileEntry, listManifestFiles } from "./files.ts";
import { MAX_TOTAL_BYTES } from "./limits.ts";
import { type LoadRequest, type LoadResult, loadManifestFile } from "./load.ts";
import type { ParsedFile } from "./parse.ts";
import { ParserThread } from "./parser-thread.ts";

export interface ManifestsSourceOptions {
  /** a change is applied at most this long after the first file event about it */
  debounceMs?: number;
  /** the folder is also re-scanned this often, in case file events were missed */
  rescanMs?: number;
  /** false: rely on the periodic re-scan only (tests of the fallback) */
  watch?: boolean;
  /** false: read and parse files on the main thread (tests); the default is a worker thread */
  parserThread?: boolean;
  /** the folder's budget (tests); default MAX_TOTAL_BYTES */
  maxTotalBytes?: number;
  now?: () => Date;
}

interface CachedFile {
  mtimeMs: number;
  size: number;
  parsed: ParsedFile;
  /** content hash: a problem is logged again only when its file changed */
  hash: string;
  /**
   * Why the file was skipped. Kept until its size or mtime changes, even on passes that re-read every
   * file: a file that takes the parser thread 30 s to give up on must not cost that on every change.
   */
  failed?: Problem;
}

/**
 * Standalone mode: the store holds what a folder of manifests says, re-read on change
 * (fs.watch, debounced, plus a cheap periodic re-scan). Broken documents are logged once per
 * change and skipped; everything else keeps working. See docs/manifests.md.
 */
export class ManifestsSource implements Source {
  readonly name = "manifests";
  private readonly dir: string;
  private readonly logger: Logger;
  private readonly compiler: ManifestCompiler;
  private readonly debounceMs: number;
  private readonly rescanMs: number;
  private readonly useWatch: boolean;
  private readonly thread: ParserThread | undefined;
  private readonly maxTotalBytes: number;
  private store: Store | undefined;
  private watcher: FSWatcher | undefined;
  private debounceTimer: NodeJS.Timeout | undefined;
  private rescanTimer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private again = false;
  private forcePending = false;
  private stopped = false;
  private synced = false;
  private failure: string | undefined;
  private listingSignature = "";
  private contentSignature = "";
  private cache = new Map<string, CachedFile>();
  private current: readonly Problem[] = [];
  /** files skipped as a whole (unreadable, over a limit): the source is not healthy while any is */
  private skippedFiles: readonly Problem[] = [];
  private reported = new Set<string>();
  private reportedIgnored = new Set<string>();

  constructor(config: Config, logger: Logger, options: ManifestsSourceOptions = {}) {
    if (!config.manifests) throw new Error("the manifests source needs --manifests DIR");
    this.dir = config.manifests;
    this.logger = logger.child({ source: "manifests" });
    this.compiler = new ManifestCompiler({
      serviceCIDRs: config.serviceCIDRs,
      nodePortRange: config.nodePortRange,
      now: options.now,
    });
    this.debounceMs = options.debounceMs ?? 200;
    this.rescanMs = options.rescanMs ?? 3000;
    this.useWatch = options.watch ?? true;
    this.maxTotalBytes = options.maxTotalBytes ?? MAX_TOTAL_BYTES;
    this.thread =
      (options.parserThread ?? true)
        ? new ParserThread({
            onUnavailable: (reason) =>
              this.logger.warn({ reason }, "no parser thread; parsing manifests on the main thread"),
          })
        : undefined;
  }

  async start(store: Store): Promise<void> {
    let isDir: boolean;
    try {
      isDir = (await stat(this.dir)).isDirectory();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new Error(`--manifests ${this.dir}: ${code === "ENOENT" ? "no such folder" : (err as Error).message}`);
    }
    if (!isDir) throw new Error(`--manifests ${this.dir}: not a folder`);
    this.store = store;
    try {
      await this.load(true);
    } catch (err) {
      throw new Error(`--manifests ${this.dir}: ${(err as Error).message}`);
    }
    this.watchFolder();
    this.rescanTimer = setInterval(() => this.request(false), this.rescanMs);
    this.rescanTimer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.watcher?.close();
    this.watcher = undefined;
    clearTimeout(this.debounceTimer);
    clearInterval(this.rescanTimer);
    await this.inFlight;
    await this.thread?.close();
  }

  healthy(): boolean {
    return this.synced && this.failure === undefined && this.skippedFiles.length === 0;
  }

  /** Why the source is not healthy: the failed pass, or the files skipped as a whole. */
  unhealthyReason(): string | undefined {
    if (!this.synced) return "not synced yet";
    if (this.failure !== undefined) return `the last pass failed, serving the objects read before: ${this.failure}`;
    const skipped = this.skippedFiles;
    if (skipped.length === 0) return undefined;
    const first = `${skipped[0]!.origin}: ${skipped[0]!.message}`;
    return skipped.length === 1 ? `1 file skipped (${first})` : `${skipped.length} files skipped (${first}; …)`;
  }

  /** The problems of the last pass over the folder (broken documents, allocation conflicts). */
  problems(): readonly Problem[] {
    return this.current;
  }

  /** Re-reads the folder now (tests and the periodic re-scan); resolves when applied. */
  refresh(): Promise<void> {
    return this.request(true);
  }

  private watchFolder(): void {
    if (this.watcher || this.stopped || !this.useWatch) return;
    try {
      this.watcher = watch(this.dir, { recursive: true, persistent: false }, () => this.schedule());
      this.watcher.on("error", (err) => {
        this.logger.warn({ err }, "watching the manifests folder failed; relying on periodic re-scans");
        this.watcher?.close();
        this.watcher = undefined;
      });
    } catch (err) {
      this.logger.warn({ err }, "cannot watch the manifests folder; relying on periodic re-scans");
    }
  }

  /** A file event: apply within debounceMs of the first event, however many follow. */
  private schedule(): void {
    if (this.debounceTimer || this.stopped) return;
    this.debounceTimer = setTimeout(() => {
      this.debounceTimer = undefined;
      void this.request(true);
    }, this.debounceMs);
  }

  /** Serialises passes: a request during a pass runs one more pass after it. */
  private request(force: boolean): Promise<void> {
    this.forcePending ||= force;
    if (this.inFlight) {
      this.again = true;
      return this.inFlight;
    }
    this.inFlight = (async () => {
      do {
        this.again = false;
        const forced = this.forcePending;
        this.forcePending = false;
        try {
          await this.load(forced);
          if (this.failure !== undefined) this.logger.info("manifests folder readable again");
          this.failure = undefined;
          this.watchFolder();
        } catch (err) {
          const message = (err as Error).message;
          if (this.failure !== message)
            this.logger.error({ err }, "manifests pass failed; keeping the objects read last");
          this.failure = message;
        }
      } while (this.again && !this.stopped);
      this.inFlight = undefined;
    })();
    return this.inFlight;
  }

  /**
   * One pass. `force` re-reads every file; otherwise an unchanged listing (paths, sizes, mtimes)
   * ends the pass early, and unchanged files are not read again.
   */
  private async load(force: boolean): Promise<void> {
    const listing = await listManifestFiles(this.dir);
    const signature = JSON.stringify(listing.files);
    if (!force && this.synced && signature === this.listingSignature) return;
    const problems = [...listing.problems];
    const files: ParsedFile[] = [];
    const cache = new Map<string, CachedFile>();
    let total = 0;
    for (const entry of listing.files) {
      total += entry.size;
      if (total > this.maxTotalBytes) {
        problems.push({
          kind: "File",
          origin: entry.path,
          message: `the folder's manifests pass ${this.maxTotalBytes} bytes (the limit) with this file; file skipped`,
        });
        continue;
      }
      const cached = this.cache.get(entry.path);
      const reuse = cached && sameStat(cached, entry) && (!force || cached.failed !== undefined);
      const file = reuse ? cached : await this.read(entry, cached);
      if (!file) continue;
      cache.set(entry.path, file);
      if (file.failed) problems.push(file.failed);
      else files.push(file.parsed);
    }
    const contents = JSON.stringify([...cache].map(([path, f]) => [path, f.hash]));
    this.cache = cache;
    this.listingSignature = signature;
    if (this.synced && contents === this.contentSignature && problems.length === 0) return;
    this.contentSignature = contents;

    const result = await this.compiler.compileYielding(files);
    problems.push(...result.problems);
    this.apply(result);
    this.current = problems;
    this.skippedFiles = problems.filter((p) => p.kind === "File");
    this.report(problems, result.ignored);
    this.synced = true;
  }

  /** Reads and parses one file (on the parser thread); undefined when it is gone or skipped. */
  private async read(entry: FileEntry, cached: CachedFile | undefined): Promise<CachedFile | undefined> {
    const request: LoadRequest = { path: entry.path, ...(cached ? { knownHash: cached.hash } : {}) };
    const result: LoadResult = this.thread ? await this.thread.load(request) : await loadManifestFile(request);
    const stamp = { mtimeMs: entry.mtimeMs, size: entry.size };
    switch (result.kind) {
      case "gone":
        return undefined;
      case "failed":
        return { ...stamp, parsed: { documents: [], problems: [] }, hash: "", failed: result.problem };
      case "same":
        return { ...cached!, ...stamp, failed: undefined };
      case "parsed":
        return { ...stamp, parsed: result.parsed, hash: result.hash };
    }
  }

  private apply(result: CompileResult): void {
    const store = this.store!;
    const before = store.revision;
    store.batch(() => {
      for (const kind of KINDS) store.replace(kind, result.objects[kind]);
    });
    if (store.revision !== before || !this.synced) {
      const counts = Object.fromEntries(KINDS.map((k) => [k, result.objects[k].length]));
      this.logger.info({ dir: this.dir, objects: counts, problems: result.problems.length }, "manifests applied");
    }
  }

  /** Logs each problem once per change of the file it is in; ignored documents likewise at debug. */
  private report(problems: readonly Problem[], ignored: readonly Ignored[]): void {
    const reported = new Set<string>();
    for (const problem of problems) {
      const line = formatProblem(problem);
      const key = `${line}\u0000${this.hashOf(problem.origin)}`;
      reported.add(key);
      if (!this.reported.has(key)) this.logger.warn({ problem }, line);
    }
    this.reported = reported;
    const reportedIgnored = new Set<string>();
    for (const doc of ignored) {
      const key = `${JSON.stringify(doc)}\u0000${this.hashOf(doc.origin)}`;
      reportedIgnored.add(key);
      if (!this.reportedIgnored.has(key))
        this.logger.debug({ origin: doc.origin, kind: doc.kind, name: doc.name }, `ignored: ${doc.reason}`);
    }
    this.reportedIgnored = reportedIgnored;
  }

  private hashOf(origin: string | undefined): string {
    if (!origin) return "";
    for (const [path, file] of this.cache) if (origin === path || origin.startsWith(`${path}#`)) return file.hash;
    return "";
  }
}

function sameStat(cached: CachedFile, entry: FileEntry): boolean {
  return cached.mtimeMs === entry.mtimeMs && cached.size === entry.size;
}
