import { Backoff, type BackoffOptions, sleep } from "../../kube/backoff.ts";
import { ApiError, isGone, type KubeClient, type WatchEvent } from "../../kube/client.ts";
import type { Logger } from "../../log.ts";
import type { Kind, KindMap, TypedObject } from "../../model/k8s.ts";
import { objectKey, type Store } from "../../store/store.ts";

/** One resource to mirror into the store. */
export interface ResourceSpec {
  kind: Kind;
  apiVersion: string;
  /** collection path, e.g. `/api/v1/services` (all namespaces) or `/api/v1/namespaces/a/secrets` */
  path: string;
  /** set when `path` lists one namespace: a re-list then replaces only that namespace's objects */
  namespace?: string;
  fieldSelector?: string;
  labelSelector?: string;
}

export interface ReflectorOptions {
  client: KubeClient;
  resource: ResourceSpec;
  store: Store;
  logger: Logger;
  backoff?: Partial<BackoffOptions>;
  /** list page size (`limit`); the rest comes with `continue` tokens */
  pageSize?: number;
  /** server-side watch timeout; client-go picks 5–10 minutes at random so watches don't end together */
  watchTimeoutSeconds?: () => number;
  /** called whenever the reflector starts or stops being in contact with the API server */
  onHealth?: (healthy: boolean) => void;
}

interface ListResponse {
  metadata?: { resourceVersion?: string; continue?: string };
  items?: Record<string, unknown>[];
}

/** The list's resourceVersion expired while paging, or a watch asked for history the server no longer has. */
class GoneError extends Error {}

/**
 * list + watch for one kind, like client-go's Reflector: list (paged) into `store.replace`, then watch from
 * the list's resourceVersion with bookmarks; a 410 Gone re-lists (replace, so nothing is lost or duplicated);
 * other failures retry with capped exponential backoff and jitter while the store keeps its last state.
 */
export class Reflector {
  readonly resource: ResourceSpec;
  private readonly options: ReflectorOptions;
  private readonly backoff: Backoff;
  private readonly abort = new AbortController();
  private resourceVersion: string | undefined;
  private loop: Promise<void> | undefined;
  private healthy = false;
  private synced = false;
  private syncWaiters: (() => void)[] = [];

  constructor(options: ReflectorOptions) {
    this.options = options;
    this.resource = options.resource;
    this.backoff = new Backoff(options.backoff);
  }

  /** Starts the loop; resolves after the first successful list. */
  start(): Promise<void> {
    this.loop ??= this.run();
    return this.synced ? Promise.resolve() : new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  async stop(): Promise<void> {
    this.abort.abort();
    for (const resolve of this.syncWaiters.splice(0)) resolve();
    await this.loop;
  }

  isHealthy(): boolean {
    return this.healthy;
  }

  hasSynced(): boolean {
    return this.synced;
  }

  private get log(): Logger {
    return this.options.logger;
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    while (!signal.aborted) {
      try {
        if (this.resourceVersion === undefined) await this.list();
        const started = Date.now();
        await this.watch();
        // a server that ends watches at once must not make us spin
        if (Date.now() - started < 1000) await sleep(this.backoff.next(), signal);
      } catch (err) {
        if (signal.aborted) break;
        if (err instanceof GoneError || isGone(err)) {
          this.log.info({ kind: this.resource.kind }, "resourceVersion too old (410 Gone); re-listing");
          this.resourceVersion = undefined;
          continue;
        }
        this.setHealthy(false);
        const delay = this.backoff.next();
        const forbidden = err instanceof ApiError && (err.status === 401 || err.status === 403);
        this.log[forbidden ? "error" : "warn"](
          { kind: this.resource.kind, err: describe(err), retryInMs: delay },
          forbidden ? "API server refused list/watch (check RBAC)" : "list/watch failed; retrying",
        );
        await sleep(delay, signal);
      }
    }
  }

  private async list(): Promise<void> {
    const { client, store, pageSize = 500 } = this.options;
    const { kind, path, fieldSelector, labelSelector } = this.resource;
    const items: KindMap[Kind][] = [];
    let continueToken: string | undefined;
    let resourceVersion: string | undefined;
    do {
      let page: ListResponse;
      try {
        page = await client.request<ListResponse>(path, {
          query: { fieldSelector, labelSelector, limit: pageSize, continue: continueToken },
          signal: this.abort.signal,
        });
      } catch (err) {
        // an expired continue token: start the list again from the beginning
        if (continueToken && isGone(err)) throw new GoneError("list continue token expired");
        throw err;
      }
      for (const item of page.items ?? []) items.push(this.normalise(item));
      continueToken = page.metadata?.continue || undefined;
      resourceVersion = page.metadata?.resourceVersion;
    } while (continueToken);
    store.replace(kind, items, this.resource.namespace);
    this.resourceVersion = resourceVersion ?? "0";
    this.backoff.reset();
    this.setHealthy(true);
    this.log.debug({ kind, count: items.length, resourceVersion }, "listed");
    if (!this.synced) {
      this.synced = true;
      for (const resolve of this.syncWaiters.splice(0)) resolve();
    }
  }

  private async watch(): Promise<void> {
    const { client, store, watchTimeoutSeconds = () => 300 + Math.floor(Math.random() * 300) } = this.options;
    const { path, fieldSelector, labelSelector } = this.resource;
    const timeoutSeconds = watchTimeoutSeconds();
    await client.watch(
      path,
      {
        resourceVersion: this.resourceVersion,
        allowWatchBookmarks: true,
        timeoutSeconds,
        fieldSelector,
        labelSelector,
      },
      {
        onOpen: () => {
          this.backoff.reset();
          this.setHealthy(true);
        },
        onEvent: (event) => store.batch(() => this.apply(event)),
      },
      this.abort.signal,
      (timeoutSeconds + 30) * 1000,
    );
  }

  private apply(event: WatchEvent): void {
    const { store } = this.options;
    const { kind } = this.resource;
    if (event.type === "ERROR") {
      const status = event.object as { code?: number; reason?: string; message?: string };
      if (status.code === 410 || status.reason === "Expired" || status.reason === "Gone")
        throw new GoneError(status.message ?? "watch expired");
      throw new ApiError(status.code ?? 500, status.reason, status.message ?? "watch error event");
    }
    const meta = (event.object as TypedObject).metadata;
    if (meta?.resourceVersion) this.resourceVersion = meta.resourceVersion;
    switch (event.type) {
      case "ADDED":
      case "MODIFIED":
        store.upsert(kind, this.normalise(event.object));
        break;
      case "DELETED":
        store.delete(kind, objectKey(kind, meta?.namespace, meta?.name));
        break;
      case "BOOKMARK":
        break;
    }
  }

  /** The store holds `kubectl get -o json` shapes: kind and apiVersion set, managedFields dropped (memory). */
  private normalise(item: Record<string, unknown>): KindMap[Kind] {
    const { kind, apiVersion } = this.resource;
    const metadata = { ...(item.metadata as Record<string, unknown> | undefined) };
    delete metadata.managedFields;
    return { ...item, apiVersion, kind, metadata } as KindMap[Kind];
  }

  private setHealthy(healthy: boolean): void {
    if (this.healthy === healthy) return;
    this.healthy = healthy;
    this.options.onHealth?.(healthy);
  }
}

function describe(err: unknown): string {
  if (err instanceof ApiError) return `${err.status} ${err.reason ?? ""} ${err.message}`.trim();
  if (err instanceof Error) {
    const cause = (err as { cause?: unknown }).cause;
    return cause instanceof Error ? `${err.message}: ${cause.message}` : err.message;
  }
  return String(err);
}
