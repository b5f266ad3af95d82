import { isIP } from "node:net";
import { dnsNodeLocal, formatHostPort, type HostPort } from "../../config.ts";
import type { Logger } from "../../log.ts";
import type { Problem } from "../../model/problems.ts";
import { normaliseName } from "../../snapshot/dns-lookup.ts";
import type { Snapshot } from "../../snapshot/snapshot.ts";
import { processFdBudget } from "../../util/fd-budget.ts";
import type { PlaneContext } from "../context.ts";
import type { Plane } from "../plane.ts";
import { RecursionPolicy } from "./acl.ts";
import { Forwarder } from "./forward.ts";
import { DnsMetrics } from "./metrics.ts";
import { NodeLocalDns } from "./node-local.ts";
import { readResolvConf } from "./resolv.ts";
import { DnsServer } from "./server.ts";

/** The cluster DNS plane (docs/dns.md): on when --dns-address is set, or in node-local mode. */
export class DnsPlane implements Plane {
  readonly name = "dns";
  readonly server: DnsServer;
  private forwarder: Forwarder;
  /** forwarders replaced by replaceForwarder, closed once their questions in flight are answered */
  private readonly retiring = new Set<Forwarder>();
  private readonly recursion: RecursionPolicy;
  /** set while a Node without pod CIDRs is still worth one warning (cluster mode, default list) */
  private warnNoPodCIDRs: Logger | undefined;
  /** node-local mode: the cluster DNS Service's port 53 sockets */
  readonly nodeLocal: NodeLocalDns | undefined;

  constructor(
    server: DnsServer,
    forwarder: Forwarder,
    recursion: RecursionPolicy,
    warnNoPodCIDRs?: Logger,
    nodeLocal?: NodeLocalDns,
  ) {
    this.server = server;
    this.forwarder = forwarder;
    this.recursion = recursion;
    this.warnNoPodCIDRs = warnNoPodCIDRs;
    this.nodeLocal = nodeLocal;
  }

  /**
   * Swaps the forwarder (node-local mode, when the DNS Service's endpoints change: the forwarder takes its
   * upstreams when it is made). The old one answers what it has in flight, then closes.
   */
  replaceForwarder(next: Forwarder, graceMs = 10_000): void {
    const old = this.forwarder;
    this.forwarder = next;
    this.server.setForwarder(next);
    this.retiring.add(old);
    setTimeout(() => {
      this.retiring.delete(old);
      old.close();
    }, graceMs).unref();
  }

  problems(): Problem[] {
    return this.nodeLocal?.problems() ?? [];
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
    // After the zone: a socket taken from the service plane answers from the current snapshot at once.
    await this.nodeLocal?.apply(next.servicePorts);
  }

  async close(): Promise<void> {
    // first: the service plane forwards the node-local sockets again before this plane's sockets close
    this.nodeLocal?.close();
    await this.server.close();
    this.forwarder.close();
    for (const forwarder of this.retiring) forwarder.close();
    this.retiring.clear();
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
  const nodeLocalOn = dnsNodeLocal(config) && context.dnsHandoff !== undefined;
  // With workers the DNS sockets live in the workers (shared with SO_REUSEPORT), not in the primary.
  if ((!config.dnsAddress && !nodeLocalOn) || context.role === "primary") return undefined;
  // Node-local mode forwards to the cluster DNS Service's endpoints unless --dns-upstream says otherwise
  // (filled from each snapshot), so the cluster's own CoreDNS configuration still applies to other names.
  const fromService = nodeLocalOn && config.dnsUpstream.length === 0;
  const configured = fromService ? [] : config.dnsUpstream.length ? config.dnsUpstream : await readResolvConf();
  const usable = (u: HostPort) => usableUpstream(u, config.dnsAddress, logger);
  const upstreams = configured.filter(usable);
  if (upstreams.length === 0 && !fromService)
    logger.warn("dns: no upstream servers; names outside the cluster domain get SERVFAIL");
  const metrics = new DnsMetrics(
    registry,
    config.dnsAddress ? `dns://${formatHostPort(config.dnsAddress)}` : "dns://:53",
  );
  const recursion = new RecursionPolicy(config.dnsAllowRecursion, config.serviceCIDRs);
  const zones = config.dnsForwardZones.map((z) => ({
    zone: z.zone,
    upstreams: z.upstreams.filter(usable),
  }));
  const forwarderOptions = {
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
  };
  const forwarder = new Forwarder(forwarderOptions);
  const server = new DnsServer({
    ...(config.dnsAddress ? { address: config.dnsAddress } : {}),
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
      ...(config.dnsAddress ? { address: formatHostPort({ host: config.dnsAddress.host, port: server.port }) } : {}),
      upstreams: fromService
        ? `the endpoints of ${config.dnsService.namespace}/${config.dnsService.name}`
        : upstreams.map(formatHostPort),
      forwardZones: zones.map((z) => `${z.zone || "."}=${z.upstreams.map(formatHostPort).join(",")}`),
      allowRecursion: recursion.initial.cidrs,
      nodeLocal: nodeLocalOn ? `${config.dnsService.namespace}/${config.dnsService.name}` : false,
    },
    "dns listening (udp+tcp)",
  );
  const wildcard = config.dnsAddress?.host === "0.0.0.0" || config.dnsAddress?.host === "::";
  if (nodeLocalOn && wildcard && config.dnsAddress?.port === 53)
    logger.warn(
      { address: formatHostPort(config.dnsAddress!) },
      "dns: --dns-address is a wildcard on port 53, which holds the DNS Service's clusterIP port too: node-local DNS cannot bind it (give --dns-address a specific address or another port; docs/dns.md)",
    );
  let plane: DnsPlane | undefined;
  const nodeLocal = nodeLocalOn
    ? new NodeLocalDns({
        server,
        handoff: context.dnsHandoff!,
        service: config.dnsService,
        // a new forwarder per upstream list: its constructor is where it takes them
        ...(fromService
          ? {
              setUpstreams: (list: HostPort[]) =>
                plane?.replaceForwarder(new Forwarder({ ...forwarderOptions, upstreams: list })),
            }
          : {}),
        usable,
        logger,
      })
    : undefined;
  const watchPodCIDRs = !config.manifests && !config.dnsAllowRecursion;
  plane = new DnsPlane(server, forwarder, recursion, watchPodCIDRs ? logger : undefined, nodeLocal);
  return plane;
}

/** Upstreams must be IP addresses (resolving a hostname would ask DNS) and must not be ourselves (a loop). */
function usableUpstream(upstream: HostPort, own: HostPort | undefined, logger: PlaneContext["logger"]): boolean {
  if (!isIP(upstream.host)) {
    logger.warn({ upstream: formatHostPort(upstream) }, "dns: upstream is not an IP address; ignored");
    return false;
  }
  if (!own) return true;
  if (upstream.port === own.port && (upstream.host === own.host || own.host === "0.0.0.0" || own.host === "::")) {
    logger.warn({ upstream: formatHostPort(upstream) }, "dns: upstream is this server (forwarding loop); ignored");
    return false;
  }
  return true;
}
