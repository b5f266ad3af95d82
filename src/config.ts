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

  // service proxy
  tcpIdleTimeoutMs: number;
  udpIdleTimeoutMs: number;
  /** connections to an endpoint that disappeared are closed after this */
  endpointGracePeriodMs: number;
  dialTimeoutMs: number;
  dialRetries: number;

  // ingress
  httpAddress?: HostPort;
  httpsAddress?: HostPort;
  ingressClass: string;
  ingressController: string;
  /** addresses written to Ingress status instead of the node addresses */
  publishAddresses: string[];
  upstreamConnectTimeoutMs: number;
  upstreamHeaderTimeoutMs: number;
  upstreamIdleTimeoutMs: number;
  /** keep %2F/%5C in request paths instead of refusing them (400) */
  allowEscapedSlashes: boolean;

  // dns
  dnsAddress?: HostPort;
  /** upstream servers as host:port; empty = from /etc/resolv.conf */
  dnsUpstream: HostPort[];
  dnsTtlSeconds: number;
  dnsPods: "insecure" | "verified" | "disabled";
  dnsCacheSize: number;

  // cluster mode
  leaderElect: boolean;
  leaseName: string;
  leaseNamespace: string;
  /** LoadBalancer IP pools; empty = no allocation */
  lbPool: string[];
}

export interface HostPort {
  host: string;
  port: number;
}

export function formatHostPort(hp: HostPort): string {
  return hp.host.includes(":") ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`;
}
