import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { HostPort } from "../../config.ts";
import type { Logger } from "../../log.ts";
import type { Node } from "../../model/k8s.ts";
import type { HealthCheckSnapshot } from "../../snapshot/snapshot.ts";
import { listen } from "../../util/listen.ts";

/** The taint the cluster autoscaler puts on a node it is about to delete (kube-proxy reports the node unhealthy). */
export const TO_BE_DELETED_TAINT = "ToBeDeletedByClusterAutoscaler";

/** Go's time.Time.String() in UTC, the format kube-proxy's health JSON uses: `2006-01-02 15:04:05.999999999 +0000 UTC`. */
export function goTime(ms: number): string {
  const d = new Date(ms);
  const pad = (n: number, w = 2) => String(n).padStart(w, "0");
  const date = `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
  const time = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
  const frac = d.getUTCMilliseconds() ? `.${pad(d.getUTCMilliseconds(), 3).replace(/0+$/, "")}` : "";
  return `${date} ${time}${frac} +0000 UTC`;
}

/** kube-proxy's /healthz body, byte for byte in layout. */
export function healthzBody(lastUpdated: number, now: number, nodeEligible: boolean): string {
  return `{"lastUpdated": ${JSON.stringify(goTime(lastUpdated))},"currentTime": ${JSON.stringify(goTime(now))}, "nodeEligible": ${nodeEligible}}`;
}

/** kube-proxy's /livez body. */
export function livezBody(lastUpdated: number, now: number): string {
  return `{"lastUpdated": ${JSON.stringify(goTime(lastUpdated))},"currentTime": ${JSON.stringify(goTime(now))}}`;
}

/** kube-proxy's healthCheckNodePort body. */
export function serviceHealthBody(check: Pick<HealthCheckSnapshot, "namespace" | "name" | "localEndpoints">): string {
  return [
    "{",
    '\t"service": {',
    `\t\t"namespace": ${JSON.stringify(check.namespace)},`,
    `\t\t"name": ${JSON.stringify(check.name)}`,
    "\t},",
    `\t"localEndpoints": ${check.localEndpoints},`,
    '\t"serviceProxyHealthy": true',
    "}",
  ].join("\n");
}

/** A node marked for deletion (deletionTimestamp, or the autoscaler's taint) is not eligible for LB traffic. */
export function nodeEligible(node: Node | undefined): boolean {
  if (!node) return true;
  if (node.metadata?.deletionTimestamp) return false;
  return !(node.spec?.taints ?? []).some((t) => t.key === TO_BE_DELETED_TAINT);
}

function sendJson(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, {
    "Content-Type": "application/json",
    "X-Content-Type-Options": "nosniff",
    "Content-Length": Buffer.byteLength(body),
  });
  res.end(body);
}

/**
 * `--healthz-address`: kube-proxy's /healthz (200 while the plane applies snapshots and the node is
 * eligible, with nodeEligible in the body) and /livez (ignores the node).
 */
export class HealthzServer {
  private readonly server: Server;
  private lastUpdated = Date.now();
  private readonly node: () => Node | undefined;

  constructor(node: () => Node | undefined) {
    this.node = node;
    this.server = createServer((req, res) => this.handle(req, res));
  }

  markUpdated(at = Date.now()): void {
    this.lastUpdated = at;
  }

  async listen(address: HostPort): Promise<void> {
    await listen(this.server, address);
  }

  address(): ReturnType<Server["address"]> {
    return this.server.address();
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? "/").split("?")[0];
    const now = Date.now();
    if (path === "/healthz") {
      const eligible = nodeEligible(this.node());
      // Like kube-proxy: a healthy answer reports lastUpdated as now.
      sendJson(res, eligible ? 200 : 503, healthzBody(eligible ? now : this.lastUpdated, now, eligible));
    } else if (path === "/livez") {
      sendJson(res, 200, livezBody(now, now));
    } else {
      res.writeHead(404, { "Content-Type": "text/plain" });
      res.end("404 page not found\n");
    }
  }
}

interface CheckServer {
  check: HealthCheckSnapshot;
  servers: Server[];
}

/**
 * healthCheckNodePort servers of `externalTrafficPolicy: Local` LoadBalancers: any path answers 200
 * when this node has local endpoints for the Service, else 503, with kube-proxy's JSON. One server per
 * node address; counts are updated in place.
 */
export class HealthCheckServers {
  private readonly running = new Map<number, CheckServer>();
  private readonly failed = new Map<number, string>();
  private readonly logger: Logger;

  constructor(logger: Logger) {
    this.logger = logger;
  }

  get ports(): number[] {
    return [...this.running.keys()];
  }

  async sync(checks: readonly HealthCheckSnapshot[], addresses: readonly string[]): Promise<void> {
    const wanted = new Map(checks.map((c) => [c.port, c]));
    for (const [port, entry] of this.running) {
      const next = wanted.get(port);
      if (next && next.namespace === entry.check.namespace && next.name === entry.check.name) {
        entry.check = next;
      } else {
        this.running.delete(port);
        for (const s of entry.servers) s.close();
      }
    }
    for (const port of this.failed.keys()) if (!wanted.has(port)) this.failed.delete(port);
    const hosts = addresses.length > 0 ? addresses : ["0.0.0.0"];
    for (const [port, check] of wanted) {
      if (this.running.has(port)) continue;
      const entry: CheckServer = { check, servers: [] };
      try {
        for (const host of hosts) {
          const server = createServer((_req, res) => {
            const c = entry.check;
            sendJson(res, c.localEndpoints > 0 ? 200 : 503, serviceHealthBody(c));
          });
          entry.servers.push(server);
          await listen(server, { host, port });
        }
        this.running.set(port, entry);
        this.failed.delete(port);
      } catch (err) {
        for (const s of entry.servers) s.close();
        const reason = (err as Error).message;
        if (this.failed.get(port) !== reason)
          this.logger.error(
            { service: `${check.namespace}/${check.name}`, port, reason },
            `cannot serve healthCheckNodePort ${port} of ${check.namespace}/${check.name}: ${reason}`,
          );
        this.failed.set(port, reason);
      }
    }
  }

  close(): void {
    for (const entry of this.running.values()) for (const s of entry.servers) s.close();
    this.running.clear();
  }
}
