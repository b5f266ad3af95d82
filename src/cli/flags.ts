// One unit although over 500 lines: FLAGS is the single table of every flag (name, help, default, how its
// value is parsed and applied), read by --help, by parseFlags and by test/readme.test.ts; the value parsers
// below are its vocabulary. Split, a flag's help would live apart from its parsing.
import { isIP } from "node:net";
import { hostname } from "node:os";
import type { Config, HostPort } from "../config.ts";
import { parseCIDR } from "../util/cidr.ts";
import { defaultWorkers } from "../workers/cpus.ts";

/** A bad flag or value: the CLI prints the message on one line and exits 2. */
export class FlagError extends Error {}

type Mode = "manifests" | "cluster";

interface FlagSpec {
  name: string;
  value?: string;
  help: string;
  /** default shown in --help; a function when it depends on the mode */
  default?: string | ((mode: Mode) => string | undefined);
  boolean?: boolean;
  /** applies the (string) value to the config; throws FlagError on a bad value */
  apply: (config: Config, value: string) => void;
}

const flag = (spec: FlagSpec): FlagSpec => spec;

export const FLAGS: readonly FlagSpec[] = [
  flag({
    name: "manifests",
    value: "DIR",
    help: "run standalone from a folder of YAML/JSON manifests (re-read on change) instead of the Kubernetes API",
    apply: (c, v) => {
      c.manifests = v;
    },
  }),
  flag({
    name: "kubeconfig",
    value: "PATH",
    help: "kubeconfig for the Kubernetes API (default: in-cluster service account, then $KUBECONFIG)",
    apply: (c, v) => {
      c.kubeconfig = v;
    },
  }),
  flag({
    name: "watch-namespaces",
    value: "NS[,NS]",
    help: "cluster mode: watch Ingresses and TLS Secrets only in these namespaces (hardened install: RBAC per namespace)",
    apply: (c, v) => {
      c.watchNamespaces = [...new Set(list(v).map((ns) => namespaceName("watch-namespaces", ns)))];
    },
  }),
  flag({
    name: "node-name",
    value: "NAME",
    help: "this node's name (for Local traffic policies, zone and status)",
    default: "$NODE_NAME or the hostname",
    apply: (c, v) => {
      c.nodeName = nonEmpty("node-name", v);
    },
  }),
  flag({
    name: "service-cidr",
    value: "CIDR[,CIDR]",
    help: "service IP ranges (one per family); clusterIPs are allocated from it in manifests mode",
    default: (m) => (m === "manifests" ? "127.96.0.0/16" : "10.96.0.0/12"),
    apply: (c, v) => {
      c.serviceCIDRs = list(v).map((s) => cidr("service-cidr", s));
    },
  }),
  flag({
    name: "node-port-range",
    value: "MIN-MAX",
    help: "NodePort range",
    default: "30000-32767",
    apply: (c, v) => {
      const m = /^(\d+)-(\d+)$/.exec(v);
      const min = Number(m?.[1]);
      const max = Number(m?.[2]);
      if (!m || min < 1 || max > 65535 || min > max)
        throw new FlagError(`--node-port-range: "${v}" is not MIN-MAX within 1-65535`);
      c.nodePortRange = { min, max };
    },
  }),
  flag({
    name: "node-port-addresses",
    value: "CIDR[,CIDR]",
    help: "local addresses NodePorts listen on, as CIDRs (kube-proxy's flag); empty = all node addresses",
    default: (m) => (m === "manifests" ? "127.0.0.1/32" : ""),
    apply: (c, v) => {
      c.nodePortAddresses = list(v).map((s) => cidr("node-port-addresses", s));
    },
  }),
  flag({
    name: "vip-interface",
    value: "LINK",
    help: "link to add non-local virtual IPs to (dummy link created if possible, else lo); 'none' = never touch interfaces",
    default: "nodeplane0",
    apply: (c, v) => {
      c.vipInterface = nonEmpty("vip-interface", v);
    },
  }),
  flag({
    name: "admin-address",
    value: "HOST:PORT",
    help: "admin HTTP server: /healthz /readyz /metrics /api and the dashboard",
    default: "127.0.0.1:10249",
    apply: (c, v) => {
      c.adminAddress = hostPort("admin-address", v);
    },
  }),
  flag({
    name: "healthz-address",
    value: "HOST:PORT",
    help: "kube-proxy compatible /healthz and /livez ('' = off)",
    default: (m) => (m === "manifests" ? "" : "0.0.0.0:10256"),
    apply: (c, v) => {
      c.healthzAddress = optionalHostPort("healthz-address", v);
    },
  }),
  flag({
    name: "log-level",
    value: "LEVEL",
    help: "fatal|error|warn|info|debug|trace",
    default: "info",
    apply: (c, v) => {
      c.logLevel = oneOf("log-level", v, ["fatal", "error", "warn", "info", "debug", "trace"] as const);
    },
  }),
  flag({
    name: "log-format",
    value: "FORMAT",
    help: "json (pino, for machines) or pretty (for people)",
    default: "json",
    apply: (c, v) => {
      c.logFormat = oneOf("log-format", v, ["json", "pretty"] as const);
    },
  }),
  flag({
    name: "cluster-domain",
    value: "DOMAIN",
    help: "cluster DNS domain",
    default: "cluster.local",
    apply: (c, v) => {
      if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/i.test(v))
        throw new FlagError(`--cluster-domain: "${v}" is not a DNS name`);
      c.clusterDomain = v.toLowerCase();
    },
  }),
  flag({
    name: "sync-delay",
    value: "DURATION",
    help: "longest wait before a burst of changes is applied as one snapshot rebuild",
    default: "100ms",
    apply: (c, v) => {
      c.syncDelayMs = duration("sync-delay", v);
    },
  }),
  flag({
    name: "workers",
    value: "N",
    help: "data-plane worker processes per plane group (SO_REUSEPORT); 1 = service proxy and DNS in the main process",
    default: "the CPU count (capped by a cgroup CPU limit)",
    apply: (c, v) => {
      c.workers = integer("workers", v, 1, 64);
    },
  }),
  flag({
    name: "ingress-isolation",
    value: "MODE",
    help: "process: the ingress in processes of its own, so its crash keeps ClusterIP and DNS; none: one process (tests, low memory)",
    default: "process",
    apply: (c, v) => {
      c.ingressIsolation = oneOf("ingress-isolation", v, ["process", "none"] as const);
    },
  }),
  flag({
    name: "stop-timeout",
    value: "DURATION",
    help: "on SIGTERM/SIGINT, longest wait for a clean stop; then the rest is cut and the process exits 1",
    default: "10s",
    apply: (c, v) => {
      c.stopTimeoutMs = duration("stop-timeout", v);
      if (c.stopTimeoutMs <= 0) throw new FlagError(`--stop-timeout: "${v}" must be more than 0`);
    },
  }),
  flag({
    name: "tcp-idle-timeout",
    value: "DURATION",
    help: "close proxied TCP connections idle this long",
    default: "1h",
    apply: (c, v) => {
      c.tcpIdleTimeoutMs = duration("tcp-idle-timeout", v);
    },
  }),
  flag({
    name: "udp-idle-timeout",
    value: "DURATION",
    help: "forget a UDP flow idle this long",
    default: "60s",
    apply: (c, v) => {
      c.udpIdleTimeoutMs = duration("udp-idle-timeout", v);
    },
  }),
  flag({
    name: "max-udp-flows",
    value: "N",
    help: "most UDP flows the service proxy holds, all UDP Services together (one socket each); 0 = from the open-files limit",
    default: "0",
    apply: (c, v) => {
      c.maxUdpFlows = integer("max-udp-flows", v, 0, 10_000_000);
    },
  }),
  flag({
    name: "max-udp-flows-per-source",
    value: "N",
    help: "most UDP flows one client IP holds, all UDP Services together; 0 = a quarter of --max-udp-flows",
    default: "0",
    apply: (c, v) => {
      c.maxUdpFlowsPerSource = integer("max-udp-flows-per-source", v, 0, 10_000_000);
    },
  }),
  flag({
    name: "max-tcp-connections",
    value: "N",
    help: "most proxied TCP connections of the service proxy (two sockets each); 0 = from the open-files limit",
    default: "0",
    apply: (c, v) => {
      c.maxTcpConnections = integer("max-tcp-connections", v, 0, 10_000_000);
    },
  }),
  flag({
    name: "max-ingress-connections",
    value: "N",
    help: "most client connections of the ingress listeners (net.Server maxConnections); 0 = from the open-files limit",
    default: "0",
    apply: (c, v) => {
      c.maxIngressConnections = integer("max-ingress-connections", v, 0, 10_000_000);
    },
  }),
  flag({
    name: "max-ingress-connections-per-source",
    value: "N",
    help: "most ingress client connections one client IP holds, both listeners together; 0 = half of one listener's share",
    default: "0",
    apply: (c, v) => {
      c.maxIngressConnectionsPerSource = integer("max-ingress-connections-per-source", v, 0, 10_000_000);
    },
  }),
  flag({
    name: "endpoint-grace-period",
    value: "DURATION",
    help: "connections to an endpoint that disappeared are closed after this",
    default: "10s",
    apply: (c, v) => {
      c.endpointGracePeriodMs = duration("endpoint-grace-period", v);
    },
  }),
  flag({
    name: "dial-timeout",
    value: "DURATION",
    help: "timeout of one connect to an endpoint",
    default: "2s",
    apply: (c, v) => {
      c.dialTimeoutMs = duration("dial-timeout", v);
    },
  }),
  flag({
    name: "dial-retries",
    value: "N",
    help: "further endpoints tried after a failed connect",
    default: "2",
    apply: (c, v) => {
      c.dialRetries = integer("dial-retries", v, 0, 16);
    },
  }),
  flag({
    name: "http-address",
    value: "HOST:PORT",
    help: "ingress HTTP listener ('' = off)",
    default: (m) => (m === "manifests" ? "127.0.0.1:8080" : "0.0.0.0:80"),
    apply: (c, v) => {
      c.httpAddress = optionalHostPort("http-address", v);
    },
  }),
  flag({
    name: "https-address",
    value: "HOST:PORT",
    help: "ingress HTTPS listener ('' = off)",
    default: (m) => (m === "manifests" ? "127.0.0.1:8443" : "0.0.0.0:443"),
    apply: (c, v) => {
      c.httpsAddress = optionalHostPort("https-address", v);
    },
  }),
  flag({
    name: "tls-handshake-timeout",
    value: "DURATION",
    help: "ingress: close HTTPS connections whose TLS handshake has not finished after this (Gateway TLS passthrough: whose ClientHello has not arrived)",
    default: "10s",
    apply: (c, v) => {
      c.tlsHandshakeTimeoutMs = positiveDuration("tls-handshake-timeout", v);
    },
  }),
  flag({
    name: "ingress-class",
    value: "NAME",
    help: "IngressClass name served",
    default: "nodeplane",
    apply: (c, v) => {
      c.ingressClass = nonEmpty("ingress-class", v);
    },
  }),
  flag({
    name: "ingress-controller",
    value: "NAME",
    help: "IngressClass spec.controller value served",
    default: "nodeplane.dev/ingress",
    apply: (c, v) => {
      c.ingressController = nonEmpty("ingress-controller", v);
    },
  }),
  flag({
    name: "gateway-controller",
    value: "NAME",
    help: "GatewayClass spec.controllerName served (Gateway API)",
    default: "nodeplane.dev/gateway-controller",
    apply: (c, v) => {
      c.gatewayController = nonEmpty("gateway-controller", v);
    },
  }),
  flag({
    name: "gateway-address",
    value: "IP",
    help: "address Gateway listeners bind when the Gateway has no spec.addresses",
    default: (m) => (m === "manifests" ? "127.0.0.1" : "0.0.0.0"),
    apply: (c, v) => {
      c.gatewayAddress = ip("gateway-address", v);
    },
  }),
  flag({
    name: "publish-address",
    value: "IP[,IP]",
    help: "addresses written to Ingress status (default: the ingress listener IPs when bound to specific ones, else the node addresses)",
    apply: (c, v) => {
      c.publishAddresses = list(v).map((a) => ip("publish-address", a));
    },
  }),
  flag({
    name: "upstream-connect-timeout",
    value: "DURATION",
    help: "ingress: connect timeout to an endpoint",
    default: "5s",
    apply: (c, v) => {
      c.upstreamConnectTimeoutMs = duration("upstream-connect-timeout", v);
    },
  }),
  flag({
    name: "upstream-header-timeout",
    value: "DURATION",
    help: "ingress: wait this long for an upstream's response headers (then 504)",
    default: "60s",
    apply: (c, v) => {
      c.upstreamHeaderTimeoutMs = duration("upstream-header-timeout", v);
    },
  }),
  flag({
    name: "upstream-idle-timeout",
    value: "DURATION",
    help: "ingress: close idle upstream keep-alive connections after this",
    default: "60s",
    apply: (c, v) => {
      c.upstreamIdleTimeoutMs = duration("upstream-idle-timeout", v);
    },
  }),
  flag({
    name: "allow-escaped-slashes",
    help: "ingress: route paths with %2F, %5C or \\ unchanged (one segment) instead of refusing them with 400",
    default: "false",
    boolean: true,
    apply: (c, v) => {
      c.allowEscapedSlashes = bool("allow-escaped-slashes", v);
    },
  }),
  flag({
    name: "dns-address",
    value: "HOST:PORT",
    help: "cluster DNS on UDP and TCP ('' = off)",
    default: (m) => (m === "manifests" ? "127.0.0.1:5353" : ""),
    apply: (c, v) => {
      c.dnsAddress = optionalHostPort("dns-address", v);
    },
  }),
  flag({
    name: "dns-upstream",
    value: "HOST[:PORT][,…]",
    help: "where names outside the cluster domain are forwarded (default: nameservers in /etc/resolv.conf)",
    apply: (c, v) => {
      c.dnsUpstream = list(v).map((s) => hostPort("dns-upstream", s, 53));
    },
  }),
  flag({
    name: "dns-ttl",
    value: "SECONDS",
    help: "TTL of cluster records",
    default: "5",
    apply: (c, v) => {
      c.dnsTtlSeconds = integer("dns-ttl", v, 0, 3600);
    },
  }),
  flag({
    name: "dns-pods",
    value: "MODE",
    help: "pod records like CoreDNS: insecure|verified|disabled",
    default: "insecure",
    apply: (c, v) => {
      c.dnsPods = oneOf("dns-pods", v, ["insecure", "verified", "disabled"] as const);
    },
  }),
  flag({
    name: "dns-cache-size",
    value: "N",
    help: "entries in the forwarding cache",
    default: "10000",
    apply: (c, v) => {
      c.dnsCacheSize = integer("dns-cache-size", v, 0, 10_000_000);
    },
  }),
  flag({
    name: "dns-allow-recursion",
    value: "CIDR[,CIDR]",
    help: "clients whose names outside the cluster domain are forwarded; others get REFUSED ('' = none)",
    default: "loopback, node addresses, pod and service CIDRs",
    apply: (c, v) => {
      c.dnsAllowRecursion = list(v).map((s) => cidr("dns-allow-recursion", s));
    },
  }),
  flag({
    name: "dns-tcp-max-connections",
    value: "N",
    help: "open DNS-over-TCP connections per process; at the cap the longest-idle one makes room",
    default: "256",
    apply: (c, v) => {
      c.dnsTcpMaxConnections = integer("dns-tcp-max-connections", v, 1, 65_535);
    },
  }),
  flag({
    name: "dns-tcp-idle-timeout",
    value: "DURATION",
    help: "close a DNS-over-TCP connection without a complete query for this long (1s when over half full)",
    default: "10s",
    apply: (c, v) => {
      c.dnsTcpIdleTimeoutMs = duration("dns-tcp-idle-timeout", v);
      if (c.dnsTcpIdleTimeoutMs < 100) throw new FlagError(`--dns-tcp-idle-timeout: "${v}" is under 100ms`);
    },
  }),
  flag({
    name: "dns-node-local",
    help: "answer at the --dns-service clusterIP:53 (UDP and TCP) from the DNS plane instead of forwarding to its pods; other names go to its endpoints",
    // not applied: worked out from the mode and --dns-address by dnsNodeLocal() in config.ts
    default: "on in cluster mode when --dns-address is set, else off",
    boolean: true,
    apply: (c, v) => {
      c.dnsNodeLocal = bool("dns-node-local", v);
    },
  }),
  flag({
    name: "dns-service",
    value: "NAMESPACE/NAME",
    help: "the cluster DNS Service node-local DNS mode serves",
    default: "kube-system/kube-dns",
    apply: (c, v) => {
      const [namespace, name, ...rest] = v.split("/");
      if (!namespace || !name || rest.length > 0 || !/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(name))
        throw new FlagError(`--dns-service: "${v}" is not NAMESPACE/NAME`);
      c.dnsService = { namespace: namespaceName("dns-service", namespace), name };
    },
  }),
  flag({
    name: "dns-link-local",
    value: "IP",
    help: "node-local DNS mode: also answer on this address (added to the VIP interface), e.g. 169.254.20.10",
    apply: (c, v) => {
      c.dnsLinkLocal = v.trim() === "" ? undefined : ip("dns-link-local", v.trim());
    },
  }),
  flag({
    name: "dns-forward-zone",
    value: "ZONE=IP[:PORT][,…]",
    help: "names under ZONE are forwarded to these servers instead of --dns-upstream (repeatable; the longest zone wins)",
    apply: (c, v) => {
      c.dnsForwardZones = [...c.dnsForwardZones, forwardZone("dns-forward-zone", v)];
    },
  }),
  flag({
    name: "dns-serve-stale",
    value: "DURATION",
    help: "serve an expired forwarded answer (TTL 30) up to this long past expiry when every upstream fails (RFC 8767; 0 = off)",
    default: "1h",
    apply: (c, v) => {
      c.dnsServeStaleMs = duration("dns-serve-stale", v);
    },
  }),
  flag({
    name: "dns-prefetch",
    value: "N",
    help: "refresh a forwarded name asked N times (no gap over 1m) when under 10% of its TTL is left (0 = off)",
    default: "2",
    apply: (c, v) => {
      c.dnsPrefetch = integer("dns-prefetch", v, 0, 1_000_000);
    },
  }),
  flag({
    name: "dns-max-negative-ttl",
    value: "SECONDS",
    help: "cap on how long NXDOMAIN/NODATA answers from upstream are cached (otherwise the SOA's, RFC 2308)",
    default: "1800",
    apply: (c, v) => {
      c.dnsMaxNegativeTtl = integer("dns-max-negative-ttl", v, 0, 86_400);
    },
  }),
  flag({
    name: "dns-max-inflight-forwards",
    value: "N",
    help: "distinct questions forwarded upstream at once; beyond it REFUSED (coredns_forward_max_concurrent_rejects_total)",
    default: "1000",
    apply: (c, v) => {
      c.dnsMaxInflightForwards = integer("dns-max-inflight-forwards", v, 1, 1_000_000);
    },
  }),
  flag({
    name: "leader-elect",
    help: "elect one instance (Lease) to write Ingress and Service status",
    default: (m) => (m === "manifests" ? "false" : "true"),
    boolean: true,
    apply: (c, v) => {
      c.leaderElect = bool("leader-elect", v);
    },
  }),
  flag({
    name: "lease-name",
    value: "NAME",
    help: "leader election Lease name",
    default: "nodeplane",
    apply: (c, v) => {
      c.leaseName = nonEmpty("lease-name", v);
    },
  }),
  flag({
    name: "lease-namespace",
    value: "NS",
    help: "leader election Lease namespace",
    default: "$POD_NAMESPACE or nodeplane-system",
    apply: (c, v) => {
      c.leaseNamespace = nonEmpty("lease-namespace", v);
    },
  }),
  flag({
    name: "lb-pool",
    value: "CIDR[,CIDR]",
    help: "assign LoadBalancer IPs from these ranges (leader only; like k3s ServiceLB / MetalLB)",
    apply: (c, v) => {
      c.lbPool = list(v).map((s) => cidr("lb-pool", s));
    },
  }),
];

export function defaultConfig(mode: Mode, env: NodeJS.ProcessEnv = process.env): Config {
  const config: Config = {
    nodeName: env.NODE_NAME || hostname(),
    serviceCIDRs: [],
    nodePortRange: { min: 30000, max: 32767 },
    nodePortAddresses: [],
    vipInterface: "nodeplane0",
    adminAddress: { host: "127.0.0.1", port: 10249 },
    logLevel: "info",
    logFormat: "json",
    clusterDomain: "cluster.local",
    syncDelayMs: 100,
    workers: defaultWorkers(),
    ingressIsolation: "process",
    stopTimeoutMs: 10_000,
    tcpIdleTimeoutMs: 3_600_000,
    udpIdleTimeoutMs: 60_000,
    endpointGracePeriodMs: 10_000,
    dialTimeoutMs: 2_000,
    dialRetries: 2,
    maxUdpFlows: 0,
    maxUdpFlowsPerSource: 0,
    maxTcpConnections: 0,
    maxIngressConnections: 0,
    maxIngressConnectionsPerSource: 0,
    ingressClass: "nodeplane",
    ingressController: "nodeplane.dev/ingress",
    gatewayController: "nodeplane.dev/gateway-controller",
    gatewayAddress: mode === "manifests" ? "127.0.0.1" : "0.0.0.0",
    publishAddresses: [],
    upstreamConnectTimeoutMs: 5_000,
    upstreamHeaderTimeoutMs: 60_000,
    upstreamIdleTimeoutMs: 60_000,
    tlsHandshakeTimeoutMs: 10_000,
    allowEscapedSlashes: false,
    dnsUpstream: [],
    dnsTtlSeconds: 5,
    dnsPods: "insecure",
    dnsCacheSize: 10_000,
    dnsTcpMaxConnections: 256,
    dnsTcpIdleTimeoutMs: 10_000,
    dnsService: { namespace: "kube-system", name: "kube-dns" },
    dnsForwardZones: [],
    dnsServeStaleMs: 3_600_000,
    dnsPrefetch: 2,
    dnsMaxNegativeTtl: 1800,
    dnsMaxInflightForwards: 1000,
    leaderElect: mode === "cluster",
    watchNamespaces: [],
    leaseName: "nodeplane",
    leaseNamespace: env.POD_NAMESPACE || "nodeplane-system",
    lbPool: [],
  };
  for (const spec of FLAGS) {
    const value = typeof spec.default === "function" ? spec.default(mode) : undefined;
    if (value !== undefined) spec.apply(config, value);
  }
  return config;
}

/** Parses `--flag value` / `--flag=value` arguments; unknown flags and bad values throw FlagError. */
export function parseFlags(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Config {
  const given: [FlagSpec, string][] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const m = /^--([a-z0-9-]+)(?:=(.*))?$/s.exec(arg);
    if (!m) throw new FlagError(`unexpected argument "${arg}" (see --help)`);
    const name = m[1]!;
    const spec = FLAGS.find((f) => f.name === name);
    if (!spec) throw new FlagError(`unknown flag --${name} (see --help)`);
    let value = m[2];
    if (value === undefined) {
      if (spec.boolean) value = "true";
      else {
        const next = argv[i + 1];
        if (next === undefined || next.startsWith("--"))
          throw new FlagError(`--${name} needs a value (${spec.value ?? "VALUE"})`);
        value = next;
        i++;
      }
    }
    given.push([spec, value]);
  }
  const mode: Mode = given.some(([s]) => s.name === "manifests") ? "manifests" : "cluster";
  const config = defaultConfig(mode, env);
  for (const [spec, value] of given) spec.apply(config, value);
  return config;
}

export function flagsHelp(): string {
  const rows = FLAGS.map((f) => {
    const left = `  --${f.name}${f.value ? ` ${f.value}` : ""}`;
    const def =
      typeof f.default === "function"
        ? ` (default: manifests mode ${show(f.default("manifests"))}, cluster mode ${show(f.default("cluster"))})`
        : f.default !== undefined
          ? ` (default ${show(f.default)})`
          : "";
    return `${left.padEnd(38)} ${f.help}${def}`;
  });
  return rows.join("\n");
}

function show(v: string | undefined): string {
  return v === undefined || v === "" ? "off" : v;
}

function list(v: string): string[] {
  return v
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
}

function nonEmpty(name: string, v: string): string {
  if (v.trim() === "") throw new FlagError(`--${name}: value must not be empty`);
  return v.trim();
}

function oneOf<T extends string>(name: string, v: string, values: readonly T[]): T {
  if (!(values as readonly string[]).includes(v))
    throw new FlagError(`--${name}: "${v}" is not one of ${values.join("|")}`);
  return v as T;
}

function integer(name: string, v: string, min: number, max: number): number {
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max)
    throw new FlagError(`--${name}: "${v}" is not a whole number from ${min} to ${max}`);
  return Number(v);
}

function bool(name: string, v: string): boolean {
  if (v === "true") return true;
  if (v === "false") return false;
  throw new FlagError(`--${name}: "${v}" is not true or false`);
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** `100ms`, `10s`, `2m`, `1h`, or a bare number of seconds. */
export function duration(name: string, v: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(v.trim());
  if (!m) throw new FlagError(`--${name}: "${v}" is not a duration like 500ms, 10s, 2m or 1h`);
  return Math.round(Number(m[1]) * UNITS[m[2] ?? "s"]!);
}

/** A namespace name is a DNS-1123 label. */
function namespaceName(name: string, v: string): string {
  if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(v))
    throw new FlagError(`--${name}: "${v}" is not a namespace name (lowercase letters, digits and '-', at most 63)`);
  return v;
}

function positiveDuration(name: string, v: string): number {
  const ms = duration(name, v);
  if (ms <= 0) throw new FlagError(`--${name}: must be more than 0`);
  return ms;
}

function ip(name: string, v: string): string {
  if (!isIP(v)) throw new FlagError(`--${name}: "${v}" is not an IP address`);
  return v;
}

function cidr(name: string, v: string): string {
  try {
    parseCIDR(v);
  } catch {
    throw new FlagError(`--${name}: "${v}" is not a CIDR like 10.96.0.0/12`);
  }
  return v;
}

function hostPort(name: string, v: string, defaultPort?: number): HostPort {
  if (defaultPort !== undefined && isIP(v.trim())) return { host: v.trim(), port: defaultPort };
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*))(?::(\d+))?$/.exec(v.trim());
  const host = m?.[1] ?? m?.[2];
  const portText = m?.[3];
  const port = portText === undefined ? defaultPort : Number(portText);
  if (
    !m ||
    host === undefined ||
    port === undefined ||
    port > 65535 ||
    (host !== "" && !isIP(host) && !/^[a-z0-9.-]+$/i.test(host))
  )
    throw new FlagError(`--${name}: "${v}" is not HOST:PORT`);
  return { host: host === "" ? "0.0.0.0" : host, port };
}

/** `ZONE=IP[:PORT][,…]`: upstreams must be IP addresses (resolving a name would ask DNS). */
function forwardZone(name: string, v: string): { zone: string; upstreams: HostPort[] } {
  const eq = v.indexOf("=");
  const zone = v.slice(0, Math.max(0, eq)).trim().toLowerCase().replace(/\.$/, "");
  if (eq < 0 || (zone !== "" && !/^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*$/.test(zone)))
    throw new FlagError(`--${name}: "${v}" is not ZONE=IP[:PORT][,…]`);
  const upstreams = list(v.slice(eq + 1)).map((s) => hostPort(name, s, 53));
  if (upstreams.length === 0 || upstreams.some((u) => !isIP(u.host)))
    throw new FlagError(`--${name}: "${v}" needs one or more IP[:PORT] upstreams`);
  return { zone, upstreams };
}

function optionalHostPort(name: string, v: string): HostPort | undefined {
  return v.trim() === "" ? undefined : hostPort(name, v);
}
