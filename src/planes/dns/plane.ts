import { isIP } from "node:net";
import { formatHostPort, type HostPort } from "../../config.ts";
import type { Logger } from "../../log.ts";
import { normaliseName } from "../../snapshot/dns-lookup.ts";
import type { Snapshot } from "../../snapshot/snapshot.ts";
import { processFdBudget } from "../../util/fd-budget.ts";
import type { PlaneContext } from "../context.ts";
import type { Plane } from "../plane.ts";
import { RecursionPolicy } from "./acl.ts";
import { Forwarder } from "./forward.ts";
import { DnsMetrics } from "./metrics.ts";
import { readResolvConf } from "./resolv.ts";
import { DnsServer } from "./server.ts";

/** The cluster DNS plane (docs/dns.md): on when --dns-address is set. */
export class DnsPlane implements Plane {
  readonly name = "dns";
  readonly server: DnsServer;
  private readonly forwarder: Forwarder;
  private readonly recursion: RecursionPolicy;
  /** set while a Node without pod CIDRs is still worth one warning (cluster mode, default list) */
  private warnNoPodCIDRs: Logger | undefined;

  constructor(server: DnsServer, forwarder: Forwarder, recursion: RecursionPolicy, warnNoPodCIDRs?: Logger) {
    this.server = server;
    this.forwarder = forwarder;
    this.recursion = recursion;
    this.warnNoPodCIDRs = warnNoPodCIDRs;
  }

  async apply(previous: Snapshot | undefined, next: Snapshot): Promise<void> {
    // The translator hands back the same index object when nothing DNS-relevant changed: keep the warm zone.
    if (!previous || previous.dns !== next.dns) this.server.setSnapshot(next.dns);
    // The default recursion list follows the Node object (its addresses and pod CIDRs).
    if (!previous || previous.node !== next.node) {
      const acl = this.recursion.forNode(next.node);
      if (acl) this.server.setRecursionAcl(acl);
      // Many CNIs (Calico, Cilium cluster-pool) leave spec.podCIDRs empty: then pods may not recurse.
      if (this.warnNoPodCIDRs && !next.node.podCIDRs) {
        this.warnNoPodCIDRs.warn(
          { node: next.node.name },
          "dns: the Node has no spec.podCIDRs (or is not known yet): pods get REFUSED for names outside the cluster domain unless --dns-allow-recursion names the pod network",
        );
        this.warnNoPodCIDRs = undefined;
      }
    }
  }

  async close(): Promise<void> {
    await this.server.close();
    this.forwarder.close();
  }
}

/**
 * The DNS plane's factory (a PlaneFactory, registered in src/planes/index.ts): on when --dns-address is set.
 * `overrides` shorten the forwarder's timeouts for tests and benchmarks.
 */
export async function createDnsPlane(
  context: PlaneContext,
  overrides: { attemptTimeoutMs?: number; totalTimeoutMs?: number; healthCheckMs?: number } = {},
): Promise<DnsPlane | undefined> {
  const { config, logger, registry } = context;
  // With workers the DNS sockets live in the workers (shared with SO_REUSEPORT), not in the primary.
  if (!config.dnsAddress || context.role === "primary") return undefined;
  const configured = config.dnsUpstream.length ? config.dnsUpstream : await readResolvConf();
  const upstreams = configured.filter((u) => usableUpstream(u, config.dnsAddress!, logger));
  if (upstreams.length === 0) logger.warn("dns: no upstream servers; names outside the cluster domain get SERVFAIL");
  const metrics = new DnsMetrics(registry, `dns://${formatHostPort(config.dnsAddress)}`);
  const recursion = new RecursionPolicy(config.dnsAllowRecursion, config.serviceCIDRs);
  const zones = config.dnsForwardZones.map((z) => ({
    zone: z.zone,
    upstreams: z.upstreams.filter((u) => usableUpstream(u, config.dnsAddress!, logger)),
  }));
  const forwarder = new Forwarder({
    upstreams,
    zones,
    cacheSize: config.dnsCacheSize,
    maxNegativeTtl: config.dnsMaxNegativeTtl,
    maxConcurrent: config.dnsMaxInflightForwards,
    serveStaleMs: config.dnsServeStaleMs,
    prefetch: { amount: config.dnsPrefetch, windowMs: 60_000, percentage: 10 },
    metrics,
    logger,
    ...overrides,
  });
  const server = new DnsServer({
    address: config.dnsAddress,
    domain: normaliseName(config.clusterDomain),
    ttl: config.dnsTtlSeconds,
    forwarder,
    metrics,
    logger,
    recursion: recursion.initial,
    tcp: {
      // the flag is the ceiling; under a tight descriptor limit the budget's DNS share is smaller
      maxConnections: Math.max(1, Math.min(config.dnsTcpMaxConnections, processFdBudget(config).dnsTcpConnections)),
      idleTimeoutMs: config.dnsTcpIdleTimeoutMs,
    },
    onTcpClose: (reason) => metrics.tcpClosed(reason),
    reusePort: context.reusePort === true,
  });
  try {
    await server.start();
  } catch (err) {
    forwarder.close();
    throw err;
  }
  logger.info(
    {
      address: formatHostPort({ host: config.dnsAddress.host, port: server.port }),
      upstreams: upstreams.map(formatHostPort),
      forwardZones: zones.map((z) => `${z.zone || "."}=${z.upstreams.map(formatHostPort).join(",")}`),
      allowRecursion: recursion.initial.cidrs,
    },
    "dns listening (udp+tcp)",
  );
  const watchPodCIDRs = !config.manifests && !config.dnsAllowRecursion;
  return new DnsPlane(server, forwarder, recursion, watchPodCIDRs ? logger : undefined);
}

/** Upstreams must be IP addresses (resolving a hostname would ask DNS) and must not be ourselves (a loop). */
function usableUpstream(upstream: HostPort, own: HostPort, logger: PlaneContext["logger"]): boolean {
  if (!isIP(upstream.host)) {
    logger.warn({ upstream: formatHostPort(upstream) }, "dns: upstream is not an IP address; ignored");
    return false;
  }
  if (upstream.port === own.port && (upstream.host === own.host || own.host === "0.0.0.0" || own.host === "::")) {
    logger.warn({ upstream: formatHostPort(upstream) }, "dns: upstream is this server (forwarding loop); ignored");
    return false;
  }
  return true;
}
