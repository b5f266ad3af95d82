import { existsSync } from "node:fs";
import type { RequestOptions } from "node:https";
import { homedir } from "node:os";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { Agent, request } from "undici";

/** Where the kubelet mounts the service-account token, CA and namespace in every pod. */
export const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

export interface KubeConfigOptions {
  /** `--kubeconfig`; wins over everything else */
  kubeconfig?: string;
  /** overridable for tests: the folder holding `token`, `ca.crt` and `namespace` */
  serviceAccountDir?: string;
  env?: NodeJS.ProcessEnv;
}

/**
 * Picks the API server the way kubectl and client-go do: an explicit kubeconfig, else in-cluster
 * (service-account token + CA + KUBERNETES_SERVICE_HOST/PORT), else the default ($KUBECONFIG, ~/.kube/config).
 */
export function loadKubeConfig(options: KubeConfigOptions = {}): KubeConfig {
  const kc = new KubeConfig();
  const env = options.env ?? process.env;
  if (options.kubeconfig) {
    kc.loadFromFile(options.kubeconfig);
    return kc;
  }
  const dir = options.serviceAccountDir ?? SERVICE_ACCOUNT_DIR;
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (host && port && existsSync(join(dir, "token"))) {
    const server = `https://${host.includes(":") ? `[${host}]` : host}:${port}`;
    kc.loadFromClusterAndUser(
      { name: "in-cluster", server, caFile: join(dir, "ca.crt"), skipTLSVerify: false },
      // the tokenFile provider re-reads the file every minute: bound service-account tokens rotate
      { name: "service-account", authProvider: { name: "tokenFile", config: { tokenFile: join(dir, "token") } } },
    );
    return kc;
  }
  const kubeconfigPath = env.KUBECONFIG || join(env.HOME || homedir(), ".kube", "config");
  // client-node falls back to http://localhost:8080 when nothing is configured, which then fails forever with a
  // TLS message; someone who just ran `npx nodeplane` on a laptop should be told what to do instead.
  if (!env.KUBECONFIG && !existsSync(kubeconfigPath))
    throw new Error(
      `no Kubernetes API configured (not in a pod, no $KUBECONFIG, no ${kubeconfigPath}): ` +
        "pass --kubeconfig PATH, or run standalone with --manifests DIR (`npm start` runs the lab)",
    );
  if (env.KUBECONFIG) kc.loadFromDefault();
  else kc.loadFromFile(kubeconfigPath);
  return kc;
}

/** A non-2xx answer from the API server, with its `Status` reason when it sent one. */
export class ApiError extends Error {
  readonly status: number;
  readonly reason: string | undefined;
  constructor(status: number, reason: string | undefined, message: string) {
    super(message);
    this.status = status;
    this.reason = reason;
  }
}

export interface WatchEvent {
  type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
  object: Record<string, unknown>;
}

export interface RequestInit {
  method?: "GET" | "POST" | "PUT" | "DELETE";
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  /** abort e.g. on stop */
  signal?: AbortSignal;
}

/**
 * A small JSON client for the API server. It takes connection and credentials from client-node's KubeConfig
 * but keeps one connection pool and hands back the raw JSON (client-node's typed APIs build class instances
 * with Date fields; the store holds plain `kubectl get -o json` shapes).
 */
export class KubeClient {
  readonly server: string;
  private readonly kc: KubeConfig;
  private agent: Agent | undefined;

  constructor(kc: KubeConfig) {
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error("kubeconfig has no current cluster");
    this.kc = kc;
    this.server = cluster.server.replace(/\/+$/, "");
  }

  /** One JSON request; throws ApiError for a non-2xx answer. */
  async request<T>(path: string, init: RequestInit = {}): Promise<T> {
    const { dispatcher, headers } = await this.connection();
    const res = await request(this.url(path, init.query), {
      method: init.method ?? "GET",
      dispatcher,
      headers: { ...headers, accept: "application/json", ...(init.body ? { "content-type": "application/json" } : {}) },
      body: init.body === undefined ? null : JSON.stringify(init.body),
      signal: init.signal ?? null,
      headersTimeout: 30_000,
      bodyTimeout: 60_000,
    });
    const text = await res.body.text();
    if (res.statusCode < 200 || res.statusCode >= 300) throw apiError(res.statusCode, text);
    return JSON.parse(text) as T;
  }

  /**
   * A watch stream: calls `onEvent` per JSON line, resolves when the server ends the stream.
   * `onOpen` runs once the server accepted the watch (200), before any event.
   */
  async watch(
    path: string,
    query: Record<string, string | number | boolean | undefined>,
    handlers: { onOpen?: () => void; onEvent: (event: WatchEvent) => void },
    signal: AbortSignal,
    idleTimeoutMs: number,
  ): Promise<void> {
    const { dispatcher, headers } = await this.connection();
    const res = await request(this.url(path, { ...query, watch: true }), {
      method: "GET",
      dispatcher,
      headers: { ...headers, accept: "application/json" },
      signal,
      headersTimeout: 30_000,
      // a silent connection this long is dead (the server ends watches itself after timeoutSeconds)
      bodyTimeout: idleTimeoutMs,
    });
    if (res.statusCode !== 200) throw apiError(res.statusCode, await res.body.text());
    handlers.onOpen?.();
    let buffered = "";
    res.body.setEncoding("utf8");
    for await (const chunk of res.body as AsyncIterable<string>) {
      buffered += chunk;
      let newline = buffered.indexOf("\n");
      while (newline >= 0) {
        const line = buffered.slice(0, newline).trim();
        buffered = buffered.slice(newline + 1);
        if (line) handlers.onEvent(parseEvent(line));
        newline = buffered.indexOf("\n");
      }
    }
    if (buffered.trim()) handlers.onEvent(parseEvent(buffered.trim()));
  }

  async close(): Promise<void> {
    const agent = this.agent;
    this.agent = undefined;
    await agent?.destroy();
  }

  private url(path: string, query: RequestInit["query"]): string {
    const url = new URL(this.server + path);
    for (const [key, value] of Object.entries(query ?? {}))
      if (value !== undefined) url.searchParams.set(key, String(value));
    return url.toString();
  }

  /** Credentials are re-read per request (rotating tokens); the TLS pool is built once. */
  private async connection(): Promise<{ dispatcher: Agent; headers: Record<string, string> }> {
    const opts: RequestOptions = {};
    await this.kc.applyToHTTPSOptions(opts);
    if (!this.agent) {
      this.agent = new Agent({
        connect: {
          ...(opts.ca ? { ca: opts.ca } : {}),
          ...(opts.cert ? { cert: opts.cert } : {}),
          ...(opts.key ? { key: opts.key } : {}),
          ...(opts.rejectUnauthorized !== undefined ? { rejectUnauthorized: opts.rejectUnauthorized } : {}),
          ...(opts.servername ? { servername: opts.servername } : {}),
          keepAlive: true,
          keepAliveInitialDelay: 30_000,
        },
      });
    }
    const headers: Record<string, string> = {};
    for (const [key, value] of Object.entries(opts.headers ?? {}))
      if (value !== undefined) headers[key.toLowerCase()] = String(value);
    if (opts.auth) headers.authorization = `Basic ${Buffer.from(opts.auth).toString("base64")}`;
    return { dispatcher: this.agent, headers };
  }
}

function parseEvent(line: string): WatchEvent {
  const event = JSON.parse(line) as WatchEvent;
  if (typeof event?.type !== "string" || typeof event.object !== "object" || event.object === null)
    throw new Error(`malformed watch event: ${line.slice(0, 200)}`);
  return event;
}

function apiError(status: number, text: string): ApiError {
  try {
    const body = JSON.parse(text) as { kind?: string; reason?: string; message?: string };
    if (body.kind === "Status") return new ApiError(status, body.reason, body.message ?? `HTTP ${status}`);
  } catch {
    // not JSON: fall through with the text itself
  }
  return new ApiError(status, undefined, `HTTP ${status}: ${text.slice(0, 200)}`);
}

export function isNotFound(err: unknown): boolean {
  return err instanceof ApiError && err.status === 404;
}

export function isConflict(err: unknown): boolean {
  return err instanceof ApiError && err.status === 409;
}

export function isGone(err: unknown): boolean {
  return err instanceof ApiError && err.status === 410;
}
