/** The running configuration, as parsed from flags (src/cli/flags.ts). Durations are in milliseconds. */
export interface Config {
  /** manifests directory (standalone mode); when absent nodeplane talks to the Kubernetes API */
  manifests?: string;
  kubeconfig?: string;
  nodeName: string;
  /** service CIDRs, one per IP family; used to allocate clusterIPs in manifests mode */
  serviceCIDRs: string[];
  nodePortRange: { min: number; max: number };
  /** CIDRs selecting which local addresses NodePorts listen on; empty = every node address */
  nodePortAddresses: string[];
  /** link that non-local virtual IPs are added to; `none` = never touch interfaces */
  vipInterface: string;
  adminAddress: HostPort;
  /** kube-proxy style /healthz and /livez; undefined = off */
  healthzAddress?: HostPort;
  logLevel: "fatal" | "error" | "warn" | "info" | "debug" | "trace";
  logFormat: "json" | "pretty";
  clusterDomain: string;
  /** how long a burst of changes may wait before one snapshot rebuild */
  syncDelayMs: number;
  workers: number;
  /** `process`: the ingress runs in worker processes of its own (docs/workers.md); `none`: beside the other planes */
  ingressIsolation: "process" | "none";
  /** SIGTERM/SIGINT: how long a clean stop may take before the rest is cut and the process exits 1 */
  stopTimeoutMs: number;

  // service proxy
  tcpIdleTimeoutMs: number;
  udpIdleTimeoutMs: number;
  /** connections to an endpoint that disappeared are closed after this */
  endpointGracePeriodMs: number;
  dialTimeoutMs: number;
  dialRetries: number;
  /** descriptor budget caps (src/util/fd-budget.ts); 0 = derived from the open-files limit */
  maxUdpFlows: number;
  maxUdpFlowsPerSource: number;
  maxTcpConnections: number;
  maxIngressConnections: number;
  /** ingress client connections one client IP may hold (src/planes/ingress/source-cap.ts); 0 = derived */
  maxIngressConnectionsPerSource: number;

  // ingress
  httpAddress?: HostPort;
  httpsAddress?: HostPort;
  ingressClass: string;
  ingressController: string;
  /** GatewayClass spec.controllerName served */
  gatewayController: string;
  /** where Gateway listeners bind when the Gateway has no spec.addresses */
  gatewayAddress: string;
  /** addresses written to Ingress status instead of the node addresses */
  publishAddresses: string[];
  upstreamConnectTimeoutMs: number;
  upstreamHeaderTimeoutMs: number;
  upstreamIdleTimeoutMs: number;
  /** HTTPS connections still in the TLS handshake after this are destroyed */
  tlsHandshakeTimeoutMs: number;
  /** keep %2F/%5C in request paths instead of refusing them (400) */
  allowEscapedSlashes: boolean;

  // dns
  dnsAddress?: HostPort;
  /** upstream servers as host:port; empty = from /etc/resolv.conf */
  dnsUpstream: HostPort[];
  dnsTtlSeconds: number;
  dnsPods: "insecure" | "verified" | "disabled";
  dnsCacheSize: number;
  /** clients that may have names outside the cluster domain forwarded; undefined = the default (loopback, node, pod and service ranges) */
  dnsAllowRecursion?: string[];
  /** open DNS-over-TCP connections per process; at the cap the longest-idle one is closed for a new one */
  dnsTcpMaxConnections: number;
  dnsTcpIdleTimeoutMs: number;
  /** node-local DNS mode (docs/dns.md); undefined = the default: on in cluster mode when --dns-address is set */
  dnsNodeLocal?: boolean;
  /** the cluster DNS Service whose port 53 node-local mode serves */
  dnsService: { namespace: string; name: string };
  /** also serve node-local DNS on this address, added to the VIP link (NodeLocal DNSCache's 169.254.20.10) */
  dnsLinkLocal?: string;
  /** `--dns-forward-zone`: names under a zone go to its upstreams (the longest zone wins) */
  dnsForwardZones: { zone: string; upstreams: HostPort[] }[];
  /** how long past expiry a cached forward answer may be served when every upstream fails (RFC 8767); 0 = off */
  dnsServeStaleMs: number;
  /** hits (with no gap over a minute) that make a cached name popular enough to refresh before expiry; 0 = off */
  dnsPrefetch: number;
  /** cap on the negative-caching TTL (seconds) */
  dnsMaxNegativeTtl: number;
  /** distinct questions forwarded at once; beyond it REFUSED */
  dnsMaxInflightForwards: number;

  // cluster mode
  leaderElect: boolean;
  /** Ingresses and TLS Secrets are watched only in these namespaces; empty = all */
  watchNamespaces: string[];
  leaseName: string;
  leaseNamespace: string;
  /** LoadBalancer IP pools; empty = no allocation */
  lbPool: string[];
}

/** Whether node-local DNS mode is on: asked for, or by default in cluster mode with the DNS plane on. */
export function dnsNodeLocal(config: Pick<Config, "dnsNodeLocal" | "manifests" | "dnsAddress">): boolean {
  return config.dnsNodeLocal ?? (config.manifests === undefined && config.dnsAddress !== undefined);
}

export interface HostPort {
  host: string;
  port: number;
}

export function formatHostPort(hp: HostPort): string {
  return hp.host.includes(":") ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`;
}
