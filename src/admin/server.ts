import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { HostPort } from "../config.ts";
import type { Logger } from "../log.ts";
import type { TypedObject } from "../model/k8s.ts";
import { formatProblem, type Problem } from "../model/problems.ts";
import type { SnapshotPipeline } from "../pipeline.ts";
import type { Source } from "../source/source.ts";
import type { StatusWriter } from "../status/writer.ts";
import type { Store } from "../store/store.ts";
import { listen } from "../util/listen.ts";
import type { MetricsSource } from "../workers/metrics.ts";
import {
  type ApiInputs,
  list,
  listEndpointSlices,
  listIngresses,
  listProblems,
  listServicePorts,
  listServices,
  type MetricJSON,
  ObjectAges,
  summariseTraffic,
} from "./api.ts";
import { dashboardPage } from "./dashboard.ts";
import { gatewayServing, isRouteKind, listGatewayObjects } from "./gateway.ts";
import { RESOURCES, type ResourceInfo } from "./resources.ts";

export interface AdminDeps {
  address: HostPort;
  pipeline: SnapshotPipeline;
  /** the process's registry, or with workers all processes' metrics merged */
  registry: MetricsSource;
  source: Source;
  status: StatusWriter;
  /** the objects behind the snapshot, for the EndpointSlice and Ingress lists */
  store: Store;
  logger: Logger;
  /** true once the source has synced and the first snapshot is applied */
  ready: () => boolean;
  /** with `--workers N`: the worker processes, for /api/workers */
  workers?: () => Promise<unknown[]>;
  /** the descriptor budget and use, for /api/status (src/util/fd-budget.ts) */
  descriptors?: () => unknown;
  /** the process's own problems (workers down or crash-looping), for /api/problems and /readyz */
  problems?: () => readonly Problem[];
  /** what the planes of this process cannot do (ports not bound), for /api/problems */
  planeProblems?: () => Problem[];
  /** --gateway-controller: the controllerName of the Route parent statuses nodeplane computes */
  gatewayController?: string;
}

export interface AdminServer {
  server: Server;
  /** the address actually bound (the port is the real one when `--admin-address …:0` asked for any) */
  address: HostPort;
  close(): Promise<void>;
}

/**
 * /healthz, /livez, /readyz, /metrics, the JSON API that `nodeplane get|describe` and the dashboard read,
 * and the dashboard at `/`. Read-only: every route answers GET (and HEAD).
 */
export async function startAdminServer(deps: AdminDeps): Promise<AdminServer> {
  const ages = new ObjectAges(deps.store);
  const page = dashboardPage();
  const server = createServer((req, res) => {
    handle(deps, ages, page, req, res).catch((err: unknown) => {
      deps.logger.error({ err, url: req.url }, "admin request failed");
      if (!res.headersSent) send(res, 500, "text/plain", "internal error\n");
      else res.destroy();
    });
  });
  try {
    await listen(server, deps.address);
  } catch (err) {
    ages.unsubscribe();
    throw err;
  }
  const bound = server.address() as AddressInfo;
  return {
    server,
    address: { host: bound.address, port: bound.port },
    close: () =>
      new Promise<void>((resolve) => {
        ages.unsubscribe();
        server.close(() => resolve());
        // the dashboard keeps connections alive between polls; do not wait for them
        server.closeIdleConnections();
      }),
  };
}

async function handle(
  deps: AdminDeps,
  ages: ObjectAges,
  page: { html: string; csp: string },
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.setHeader("allow", "GET, HEAD");
    return send(res, 405, "text/plain", "method not allowed\n");
  }
  const url = new URL(req.url ?? "/", "http://admin");
  const path = url.pathname;
  const namespace = url.searchParams.get("namespace") ?? undefined;
  const inputs = (): ApiInputs => ({
    snapshot: deps.pipeline.snapshot,
    store: deps.store,
    status: deps.status,
    ages,
    ...(deps.gatewayController ? { gatewayController: deps.gatewayController } : {}),
  });

  switch (path) {
    case "/":
      return send(res, 200, "text/html; charset=utf-8", page.html, { "content-security-policy": page.csp });
    case "/healthz":
    case "/livez":
      return send(res, 200, "text/plain", "ok\n");
    case "/readyz": {
      if (!deps.ready()) return send(res, 503, "text/plain", notReadyText(deps));
      // still 200: the last snapshot keeps serving; the detail names a failing source and workers that crashed
      const details = [
        ...(deps.source.healthy() ? [] : [sourceDetail(deps.source)]),
        ...(deps.problems?.() ?? []).map(formatProblem),
      ];
      return send(res, 200, "text/plain", details.length > 0 ? `ok; ${details.join("; ")}\n` : "ok\n");
    }
    case "/metrics":
      return send(res, 200, deps.registry.contentType, await deps.registry.metrics());
    case "/api/snapshot": {
      const snapshot = deps.pipeline.snapshot;
      if (!snapshot) return notReady(res);
      return json(res, 200, snapshot);
    }
    case "/api/status": {
      const snapshot = deps.pipeline.snapshot;
      return json(res, 200, {
        ready: deps.ready(),
        source: deps.source.name,
        healthy: deps.source.healthy(),
        ...(deps.source.healthy() ? {} : { reason: sourceDetail(deps.source) }),
        generation: snapshot?.generation ?? 0,
        node: snapshot?.node,
        ...(deps.descriptors ? { descriptors: deps.descriptors() } : {}),
      });
    }
    case "/api/problems":
      return json(res, 200, {
        problems: [
          ...(deps.problems?.() ?? []),
          ...listProblems(deps.pipeline.snapshot, [
            ...(deps.source.problems?.() ?? []),
            ...(deps.planeProblems?.() ?? []),
          ]),
        ],
      });
    case "/api/traffic": {
      const metrics = (await deps.registry.getMetricsAsJSON()) as unknown as MetricJSON[];
      return json(res, 200, { traffic: summariseTraffic(metrics) });
    }
    case "/api/workers":
      return json(res, 200, { workers: deps.workers ? await deps.workers() : [] });
    case "/api/gateway": {
      // what serves one Gateway or Route: ?kind=Gateway|HTTPRoute|…&namespace=NS&name=NAME
      if (!deps.pipeline.snapshot) return notReady(res);
      const kind = url.searchParams.get("kind") ?? "";
      if (kind !== "Gateway" && !isRouteKind(kind))
        return send(res, 400, "text/plain", "kind: Gateway or a Route kind\n");
      return json(res, 200, gatewayServing(inputs(), kind, namespace ?? "default", url.searchParams.get("name") ?? ""));
    }
    case "/api/serviceports":
      if (!deps.pipeline.snapshot) return notReady(res);
      return json(res, 200, {
        servicePorts: listServicePorts(deps.pipeline.snapshot, namespace, url.searchParams.get("name") ?? undefined),
      });
  }

  // /api/v1/<resource> and kube-style /api/v1/namespaces/<ns>/<resource>[/<name>]
  const m = /^\/api\/v1\/(?:namespaces\/([^/]+)\/)?([a-z]+)(?:\/([^/]+))?$/.exec(path);
  const resource = m ? RESOURCES.find((r) => r.resource === m[2]) : undefined;
  if (!m || !resource || (m[3] !== undefined && m[1] === undefined)) return send(res, 404, "text/plain", "not found\n");
  if (!deps.pipeline.snapshot) return notReady(res);
  const ns = m[1] !== undefined ? decodeURIComponent(m[1]) : namespace;
  const items = listResource(resource, inputs(), ns);
  if (m[3] === undefined) return json(res, 200, list(items));
  const name = decodeURIComponent(m[3]);
  const found = items.find((o) => o.metadata?.name === name);
  if (found) return json(res, 200, found);
  return json(res, 404, {
    apiVersion: "v1",
    kind: "Status",
    status: "Failure",
    reason: "NotFound",
    code: 404,
    message: `${resource.resource} "${name}" not found`,
  });
}

function listResource(resource: ResourceInfo, inputs: ApiInputs, namespace: string | undefined): TypedObject[] {
  switch (resource.kind) {
    case "Service":
      return listServices(inputs, namespace);
    case "EndpointSlice":
      return listEndpointSlices(inputs, namespace);
    case "Ingress":
      return listIngresses(inputs, namespace);
    default:
      return listGatewayObjects(inputs, resource.kind, namespace);
  }
}

/** /readyz 503: why, with the process's own problems (a worker down) one a line. */
function notReadyText(deps: AdminDeps): string {
  const problems = deps.problems?.() ?? [];
  if (problems.length === 0) return "not synced yet\n";
  return `not ready:\n${problems.map((p) => `${formatProblem(p)}\n`).join("")}`;
}

function sourceDetail(source: AdminDeps["source"]): string {
  return `source ${source.name} not healthy: ${source.unhealthyReason?.() ?? "out of sync with its origin"}`;
}

function notReady(res: ServerResponse): void {
  send(res, 503, "text/plain", "no snapshot yet\n");
}

function json(res: ServerResponse, status: number, value: unknown): void {
  send(res, status, "application/json", JSON.stringify(value, jsonReplacer));
}

/**
 * Maps and Sets in the snapshot serialise as objects and arrays. Private keys never leave the process:
 * the ingress snapshot holds TLS keys (kept non-enumerable there), and this drops any that slip through.
 */
export function jsonReplacer(key: string, value: unknown): unknown {
  if (value instanceof Map) return Object.fromEntries(value);
  if (value instanceof Set) return [...value];
  if (/^(keyPem|privateKey|tls\.key)$/i.test(key)) return "[redacted]";
  if (typeof value === "string" && /-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(value)) return "[redacted]";
  return value;
}

function send(
  res: ServerResponse,
  status: number,
  type: string,
  body: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, {
    "content-type": type,
    "content-length": Buffer.byteLength(body),
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    ...headers,
  });
  res.end(res.req.method === "HEAD" ? undefined : body);
}
