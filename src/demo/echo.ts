import { createSocket, type Socket } from "node:dgram";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { isIPv6 } from "node:net";
import { formatHostPort } from "../config.ts";
import type { Logger } from "../log.ts";
import type { EndpointSlice } from "../model/k8s.ts";
import { cidrContains, parseCIDR } from "../util/cidr.ts";
import { listen } from "../util/listen.ts";

/** The demo's "pods" live here: loopback addresses any user may bind on Linux, no root needed. */
export const DEMO_POD_CIDR = "127.244.0.0/16";

/** One backend the demo plays: a pod's ip:port found in an EndpointSlice. */
export interface EchoTarget {
  ip: string;
  port: number;
  protocol: "TCP" | "UDP";
  /** the Pod's name (targetRef) or, without one, its IP */
  pod: string;
}

export function echoKey(t: Pick<EchoTarget, "ip" | "port" | "protocol">): string {
  return `${t.protocol}/${formatHostPort({ host: t.ip, port: t.port })}`;
}

/**
 * Every (address, port) of the slices inside `cidr`, once each (the first slice naming it gives the pod name).
 * Endpoints are included whatever their conditions: a not-ready pod still runs, it is only not sent traffic.
 */
export function echoTargets(slices: Iterable<EndpointSlice>, cidr: string = DEMO_POD_CIDR): EchoTarget[] {
  const range = parseCIDR(cidr);
  const targets = new Map<string, EchoTarget>();
  for (const slice of slices) {
    for (const port of slice.ports ?? []) {
      const protocol = (port.protocol || "TCP").toUpperCase();
      if ((protocol !== "TCP" && protocol !== "UDP") || port.port === undefined) continue;
      for (const ep of slice.endpoints ?? []) {
        for (const ip of ep.addresses ?? []) {
          if (!cidrContains(range, ip)) continue;
          const target: EchoTarget = { ip, port: port.port, protocol, pod: ep.targetRef?.name || ip };
          if (!targets.has(echoKey(target))) targets.set(echoKey(target), target);
        }
      }
    }
  }
  return [...targets.values()].sort((a, b) => echoKey(a).localeCompare(echoKey(b)));
}

/** The body the HTTP echo answers with: which pod answered and the request as it arrived. */
export function echoText(pod: string, self: string, req: IncomingMessage, bodyBytes: number): string {
  const lines = [
    `nodeplane-echo: pod ${pod} (${self})`,
    "",
    `${req.method} ${req.url} HTTP/${req.httpVersion}`,
    `host: ${req.headers.host ?? ""}`,
  ];
  for (const [name, value] of Object.entries(req.headers)) {
    if (name.startsWith("x-forwarded-") || name === "x-real-ip" || name === "x-request-id")
      lines.push(`${name}: ${Array.isArray(value) ? value.join(", ") : value}`);
  }
  lines.push(`client: ${formatHostPort({ host: req.socket.remoteAddress ?? "?", port: req.socket.remotePort ?? 0 })}`);
  if (bodyBytes > 0) lines.push(`body: ${bodyBytes} bytes`);
  return `${lines.join("\n")}\n`;
}

interface Running {
  target: EchoTarget;
  close(): Promise<void>;
}

/**
 * Plays the lab's pods: an HTTP/1.1 echo on each TCP endpoint and a UDP echo on each UDP endpoint.
 * `sync` starts what is new and stops what is gone; a port that cannot be bound is logged and tried
 * again on the next sync.
 */
export class EchoBackends {
  private readonly running = new Map<string, Running>();
  private readonly failed = new Set<string>();
  private queue: Promise<void> = Promise.resolve();
  private readonly logger: Logger;

  constructor(logger: Logger) {
    this.logger = logger;
  }

  /** The targets served now. */
  targets(): EchoTarget[] {
    return [...this.running.values()].map((r) => r.target);
  }

  /** Makes the running backends exactly `targets`. Calls are serialised. */
  sync(targets: readonly EchoTarget[]): Promise<void> {
    this.queue = this.queue.then(() => this.apply(targets));
    return this.queue;
  }

  close(): Promise<void> {
    return this.sync([]);
  }

  private async apply(targets: readonly EchoTarget[]): Promise<void> {
    const wanted = new Map(targets.map((t) => [echoKey(t), t]));
    for (const [key, running] of [...this.running]) {
      if (wanted.has(key)) continue;
      this.running.delete(key);
      await running.close();
      this.logger.info({ backend: key, pod: running.target.pod }, "demo backend stopped");
    }
    for (const [key, target] of wanted) {
      const running = this.running.get(key);
      if (running) {
        running.target.pod = target.pod;
        continue;
      }
      try {
        this.running.set(key, target.protocol === "TCP" ? await startHttpEcho(target) : await startUdpEcho(target));
        this.failed.delete(key);
        this.logger.info({ backend: key, pod: target.pod }, "demo backend started");
      } catch (err) {
        if (!this.failed.has(key)) this.logger.warn({ err, backend: key }, "demo backend could not start");
        this.failed.add(key);
      }
    }
  }
}

async function startHttpEcho(initial: EchoTarget): Promise<Running> {
  const target = { ...initial };
  const self = formatHostPort({ host: target.ip, port: target.port });
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let bytes = 0;
    req.on("data", (chunk: Buffer) => {
      bytes += chunk.length;
    });
    req.on("end", () => {
      const body = echoText(target.pod, self, req, bytes);
      res.writeHead(200, {
        server: "nodeplane-echo",
        "content-type": "text/plain; charset=utf-8",
        "content-length": Buffer.byteLength(body),
        "x-pod-name": target.pod,
      });
      res.end(req.method === "HEAD" ? undefined : body);
    });
  });
  await listen(server, { host: target.ip, port: target.port });
  return {
    target,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function startUdpEcho(initial: EchoTarget): Promise<Running> {
  const target = { ...initial };
  const socket: Socket = createSocket(isIPv6(target.ip) ? "udp6" : "udp4");
  socket.on("message", (msg, rinfo) => socket.send(msg, rinfo.port, rinfo.address));
  await new Promise<void>((resolve, reject) => {
    socket.once("error", reject);
    socket.bind(target.port, target.ip, () => {
      socket.off("error", reject);
      resolve();
    });
  });
  // a send to a vanished client must not crash the demo
  socket.on("error", () => {});
  return { target, close: () => new Promise<void>((resolve) => socket.close(() => resolve())) };
}
