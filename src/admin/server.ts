import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Registry } from "prom-client";
import type { HostPort } from "../config.ts";
import type { Logger } from "../log.ts";
import type { SnapshotPipeline } from "../pipeline.ts";
import type { Source } from "../source/source.ts";
import type { StatusWriter } from "../status/writer.ts";
import { listen } from "../util/listen.ts";

export interface AdminDeps {
  address: HostPort;
  pipeline: SnapshotPipeline;
  registry: Registry;
  source: Source;
  status: StatusWriter;
  logger: Logger;
  /** true once the source has synced and the first snapshot is applied */
  ready: () => boolean;
}

export interface AdminServer {
  server: Server;
  close(): Promise<void>;
}

/** /healthz, /readyz, /metrics and the JSON API the `nodeplane get` commands read. */
export async function startAdminServer(deps: AdminDeps): Promise<AdminServer> {
  const server = createServer((req, res) => {
    handle(deps, req, res).catch((err: unknown) => {
      deps.logger.error({ err, url: req.url }, "admin request failed");
      if (!res.headersSent) send(res, 500, "text/plain", "internal error\n");
      else res.destroy();
    });
  });
  await listen(server, deps.address);
  return {
    server,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function handle(deps: AdminDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? "/", "http://admin");
  switch (url.pathname) {
    case "/healthz":
    case "/livez":
      return send(res, 200, "text/plain", "ok\n");
    case "/readyz":
      return deps.ready() ? send(res, 200, "text/plain", "ok\n") : send(res, 503, "text/plain", "not synced yet\n");
    case "/metrics":
      return send(res, 200, deps.registry.contentType, await deps.registry.metrics());
    case "/api/snapshot": {
      const snapshot = deps.pipeline.snapshot;
      if (!snapshot) return send(res, 503, "text/plain", "no snapshot yet\n");
      return send(res, 200, "application/json", JSON.stringify(snapshot, jsonReplacer));
    }
    default:
      return send(res, 404, "text/plain", "not found\n");
  }
}

/** Maps and Sets in the snapshot serialise as objects and arrays. */
export function jsonReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Map) return Object.fromEntries(value);
  if (value instanceof Set) return [...value];
  return value;
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(body) });
  res.end(body);
}
