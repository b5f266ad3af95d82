/**
 * The snapshot: what translate/ builds from the store and every plane, worker, the admin API and the CLI
 * consume. snapshot/ holds its types and the pure helpers the planes run on it (path match keys, DNS name
 * lookup, the sharded answer map); it imports nothing from translate/ and no I/O module (scripts/check-deps.ts).
 */
import type { Service } from "../model/k8s.ts";
import type { Problem } from "../model/problems.ts";
import type { DnsSnapshot } from "./dns.ts";
import type { GatewaySnapshot } from "./gateway.ts";
import type { IngressSnapshot } from "./ingress.ts";

export type L4Protocol = "TCP" | "UDP";

/** One backend address for one Service port, with its EndpointSlice conditions. */
export interface Endpoint {
  ip: string;
  port: number;
  ready: boolean;
  serving: boolean;
  terminating: boolean;
  nodeName?: string;
  zone?: string;
  hostname?: string;
  /** `namespace/name` of the Pod behind it, when the slice says */
  targetRef?: string;
}

export type FrontendKind = "clusterIP" | "nodePort" | "externalIP" | "loadBalancer";

/**
 * One (ip, port, protocol) the service proxy answers on.
 * - `forward`: listen and balance over the port's endpoints for this frontend.
 * - `reject`: no usable endpoint: do not listen, so clients get "connection refused" (kube-proxy's REJECT).
 * - `drop`: a Local traffic policy with no local endpoint: listen and reset (kube-proxy drops).
 */
export interface Frontend {
  kind: FrontendKind;
  ip: string;
  port: number;
  protocol: L4Protocol;
  action: "forward" | "reject" | "drop";
  /** which endpoint list serves this frontend: `cluster` (clusterIP) or `external` (nodePort, externalIP, LB) */
  endpoints: "cluster" | "external";
  /**
   * loadBalancerSourceRanges, on loadBalancer frontends only (always set there); empty = any source.
   * Ranges of both families are listed; one of the other family simply never matches a client.
   */
  sourceRanges?: readonly string[];
  /**
   * Node-local DNS (`--dns-node-local`, docs/dns.md): this frontend (port 53 of the `--dns-service` Service at its
   * clusterIPs, or at `--dns-link-local`) is answered by the DNS plane of this process. `action` is then what the
   * service plane does while the DNS plane does not hold the socket (not bound, stopped): the fallback.
   */
  nodeLocalDns?: true;
}

export type SessionAffinity = { type: "None" } | { type: "ClientIP"; timeoutSeconds: number };

/** Everything the service proxy needs for one port of one Service. */
export interface ServicePortSnapshot {
  /** stable identity across snapshots: `namespace/name:portName` (portName may be empty) */
  id: string;
  namespace: string;
  name: string;
  portName: string;
  protocol: L4Protocol;
  port: number;
  nodePort?: number;
  frontends: readonly Frontend[];
  /**
   * for clusterIP frontends: usable endpoints after ready/serving fallback, internalTrafficPolicy and topology.
   * Holds every IP family of a dual-stack Service; a frontend uses those of its own family (`endpointsFor`).
   */
  clusterEndpoints: readonly Endpoint[];
  /** for nodePort/externalIP/LB frontends: usable endpoints after externalTrafficPolicy (and topology) */
  externalEndpoints: readonly Endpoint[];
  sessionAffinity: SessionAffinity;
}

/** kube-proxy's per-Service health check for `externalTrafficPolicy: Local` LoadBalancers. */
export interface HealthCheckSnapshot {
  namespace: string;
  name: string;
  port: number;
  localEndpoints: number;
}

export interface NodeSnapshot {
  name: string;
  /** addresses NodePorts listen on (after --node-port-addresses) */
  nodePortAddresses: readonly string[];
  /** all addresses of this node (InternalIP/ExternalIP), for status writes */
  addresses: readonly string[];
  zone?: string;
  /** the Node's spec.podCIDRs (or podCIDR), when it has them: the pods on this node (DNS recursion is theirs) */
  podCIDRs?: readonly string[];
}

export interface Snapshot {
  /** increases by one per build */
  generation: number;
  node: NodeSnapshot;
  /** the Services as nodeplane sees them (allocated clusterIPs and nodePorts filled in), sorted by ns/name */
  services: readonly Service[];
  servicePorts: readonly ServicePortSnapshot[];
  healthChecks: readonly HealthCheckSnapshot[];
  ingress: IngressSnapshot;
  /** Gateway API: sockets, route tables and status (snapshot/gateway.ts) */
  gateway: GatewaySnapshot;
  dns: DnsSnapshot;
  problems: readonly Problem[];
}

/**
 * The endpoints one frontend balances over: its list (`cluster` or `external`), restricted to the
 * frontend's IP family, as kube-proxy runs one proxier per family. For a single-stack Service
 * (every endpoint in the frontend's family) this is the list itself, same object.
 */
export function endpointsFor(port: ServicePortSnapshot, frontend: Frontend): readonly Endpoint[] {
  const list = frontend.endpoints === "cluster" ? port.clusterEndpoints : port.externalEndpoints;
  const v6 = frontend.ip.includes(":");
  if (list.every((e) => e.ip.includes(":") === v6)) return list;
  return list.filter((e) => e.ip.includes(":") === v6);
}
