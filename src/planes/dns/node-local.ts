import { formatHostPort, type HostPort } from "../../config.ts";
import type { Logger } from "../../log.ts";
import type { Problem } from "../../model/problems.ts";
import type { L4Protocol, ServicePortSnapshot } from "../../snapshot/snapshot.ts";
import { DnsHandoff } from "../dns-handoff.ts";
import type { DnsServer } from "./server.ts";

export interface NodeLocalDnsOptions {
  server: DnsServer;
  handoff: DnsHandoff;
  /** the cluster DNS Service (`--dns-service`) */
  service: { namespace: string; name: string };
  /**
   * Told the Service's endpoints whenever they change (the default upstreams in node-local mode); absent
   * when `--dns-upstream` names the upstreams.
   */
  setUpstreams?: (upstreams: HostPort[]) => void;
  /** false for an upstream that must not be used (nodeplane itself) */
  usable: (upstream: HostPort) => boolean;
  logger: Logger;
  /** how long after a failed bind the socket is tried again (each try takes it from the service plane for a moment) */
  retryMs?: number;
  now?: () => number;
}

interface Wanted {
  protocol: L4Protocol;
  ip: string;
  port: number;
}

const DNS_PORT = 53;

/**
 * Node-local DNS mode (docs/dns.md): the DNS plane answers on the cluster DNS Service's port 53 frontends
 * (those the translator marks `nodeLocalDns`) instead of the service plane forwarding them to the DNS pods.
 * For each such socket it takes the key from the service plane (DnsHandoff), binds it, and gives it back
 * when it cannot bind, when the frontend goes, or when the plane stops: the service plane then forwards
 * it again, so the port never goes silent.
 */
export class NodeLocalDns {
  private readonly options: NodeLocalDnsOptions;
  private wanted = new Map<string, Wanted>();
  /** key → why it could not be bound, and when */
  private readonly failures = new Map<string, { reason: string; atMs: number }>();
  private lastPorts: readonly ServicePortSnapshot[] | undefined;
  /** the upstreams last given to setUpstreams (undefined: none yet) */
  private upstreams: HostPort[] | undefined;
  private closed = false;

  constructor(options: NodeLocalDnsOptions) {
    this.options = options;
  }

  async apply(servicePorts: readonly ServicePortSnapshot[]): Promise<void> {
    if (this.closed) return;
    if (servicePorts !== this.lastPorts) {
      this.lastPorts = servicePorts;
      const { wanted, endpoints } = this.plan(servicePorts);
      this.wanted = wanted;
      this.setUpstreams(endpoints);
    }
    const { server, handoff, logger } = this.options;
    for (const key of server.extraKeys) {
      if (this.wanted.has(key)) continue;
      server.unbindExtra(key);
      handoff.giveBack(key);
    }
    for (const key of this.failures.keys()) if (!this.wanted.has(key)) this.failures.delete(key);
    const now = (this.options.now ?? Date.now)();
    const binds: Promise<void>[] = [];
    for (const [key, w] of this.wanted) {
      if (server.extraKeys.includes(key)) continue;
      const failed = this.failures.get(key);
      if (failed && now - failed.atMs < (this.options.retryMs ?? 10_000)) continue;
      binds.push(this.bind(key, w, now));
    }
    await Promise.all(binds);
    if (binds.length > 0)
      logger.info({ sockets: server.extraKeys }, `node-local dns: answering on ${server.extraKeys.length} socket(s)`);
  }

  private async bind(key: string, w: Wanted, now: number): Promise<void> {
    const { server, handoff, logger } = this.options;
    handoff.take(key);
    try {
      await server.bindExtra(key, w.protocol, w.ip, w.port);
      if (this.failures.delete(key)) logger.info({ listener: key }, `node-local dns: now answering on ${key}`);
    } catch (err) {
      // Never silence: the service plane forwards the port to the DNS pods again.
      handoff.giveBack(key);
      const reason = (err as Error).message;
      if (this.failures.get(key)?.reason !== reason)
        logger.error(
          { listener: key, reason },
          `node-local dns: cannot listen on ${key} (${reason}); the service proxy forwards it to the DNS Service's endpoints`,
        );
      this.failures.set(key, { reason, atMs: now });
    }
  }

  /** The sockets wanted (the Service's `nodeLocalDns` frontends) and its port 53 endpoints. */
  private plan(servicePorts: readonly ServicePortSnapshot[]): { wanted: Map<string, Wanted>; endpoints: HostPort[] } {
    const { namespace, name } = this.options.service;
    const wanted = new Map<string, Wanted>();
    const endpoints: HostPort[] = [];
    const seen = new Set<string>();
    for (const sp of servicePorts) {
      if (sp.name !== name || sp.namespace !== namespace) continue;
      for (const fe of sp.frontends) if (fe.nodeLocalDns) wanted.set(DnsHandoff.key(fe.protocol, fe.ip, fe.port), fe);
      // UDP is what the forwarder speaks first; CoreDNS serves both on the same endpoints
      if (sp.port !== DNS_PORT || sp.protocol !== "UDP") continue;
      for (const e of sp.clusterEndpoints) {
        const upstream = { host: e.ip, port: e.port };
        const id = formatHostPort(upstream);
        if (seen.has(id) || !this.options.usable(upstream)) continue;
        seen.add(id);
        endpoints.push(upstream);
      }
    }
    return { wanted, endpoints };
  }

  private setUpstreams(endpoints: HostPort[]): void {
    const { setUpstreams } = this.options;
    if (!setUpstreams) return;
    const list = this.upstreams;
    const same =
      list !== undefined &&
      list.length === endpoints.length &&
      list.every((u, i) => formatHostPort(u) === formatHostPort(endpoints[i]!));
    if (same) return;
    this.upstreams = endpoints;
    setUpstreams(endpoints);
    this.options.logger.info(
      { upstreams: endpoints.map(formatHostPort) },
      endpoints.length === 0
        ? "node-local dns: the DNS Service has no endpoints; names outside the cluster domain get SERVFAIL"
        : "node-local dns: names outside the cluster domain go to the DNS Service's endpoints",
    );
  }

  /** Sockets that could not be bound (served by the service proxy's forwarding instead). */
  problems(): Problem[] {
    if (this.failures.size === 0) return [];
    const { namespace, name } = this.options.service;
    const lines = [...this.failures].map(([key, f]) => `${key}: ${f.reason}`);
    return [
      {
        kind: "Service",
        namespace,
        name,
        message: `node-local DNS not answering on ${lines.join("; ")}; forwarded to the Service's endpoints instead`,
      },
    ];
  }

  /** Gives every socket back to the service plane (it forwards them again). */
  close(): void {
    this.closed = true;
    const { server, handoff } = this.options;
    for (const key of server.extraKeys) {
      server.unbindExtra(key);
      handoff.giveBack(key);
    }
    for (const key of this.wanted.keys()) handoff.giveBack(key);
  }
}
