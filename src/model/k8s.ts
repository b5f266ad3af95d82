import type {
  Gateway,
  GatewayClass,
  GRPCRoute,
  HTTPRoute,
  Namespace,
  ReferenceGrant,
  TCPRoute,
  TLSRoute,
  UDPRoute,
} from "./gateway.ts";
import type { TypedObject } from "./meta.ts";

/**
 * The subset of Kubernetes object shapes nodeplane reads, as plain JSON (what the API server
 * and `kubectl get -o json` return). Both sources hand the store objects of these shapes.
 */

export type { ObjectMeta, TypedObject } from "./meta.ts";

export type IntOrString = number | string;

export interface ServicePort {
  name?: string;
  protocol?: string;
  appProtocol?: string;
  port: number;
  targetPort?: IntOrString;
  nodePort?: number;
}

export interface LoadBalancerIngress {
  ip?: string;
  hostname?: string;
  ipMode?: string;
  ports?: { port: number; protocol?: string; error?: string }[];
}

export interface Service extends TypedObject {
  spec?: {
    type?: string;
    clusterIP?: string;
    clusterIPs?: string[];
    ipFamilies?: string[];
    ipFamilyPolicy?: string;
    ports?: ServicePort[];
    selector?: Record<string, string>;
    externalIPs?: string[];
    externalName?: string;
    sessionAffinity?: string;
    sessionAffinityConfig?: { clientIP?: { timeoutSeconds?: number } };
    externalTrafficPolicy?: string;
    internalTrafficPolicy?: string;
    healthCheckNodePort?: number;
    loadBalancerIP?: string;
    loadBalancerSourceRanges?: string[];
    loadBalancerClass?: string;
    allocateLoadBalancerNodePorts?: boolean;
    publishNotReadyAddresses?: boolean;
    trafficDistribution?: string;
  };
  status?: { loadBalancer?: { ingress?: LoadBalancerIngress[] } };
}

export interface ObjectReference {
  kind?: string;
  namespace?: string;
  name?: string;
  uid?: string;
}

export interface EndpointConditions {
  ready?: boolean;
  serving?: boolean;
  terminating?: boolean;
}

export interface SliceEndpoint {
  addresses: string[];
  conditions?: EndpointConditions;
  hostname?: string;
  nodeName?: string;
  zone?: string;
  hints?: { forZones?: { name: string }[]; forNodes?: { name: string }[] };
  targetRef?: ObjectReference;
}

export interface EndpointPort {
  name?: string;
  port?: number;
  protocol?: string;
  appProtocol?: string;
}

export interface EndpointSlice extends TypedObject {
  addressType: string;
  endpoints?: SliceEndpoint[];
  ports?: EndpointPort[];
}

/** core/v1 Endpoints: accepted from manifests and converted to slices as the mirroring controller does. */
export interface Endpoints extends TypedObject {
  subsets?: {
    addresses?: { ip: string; hostname?: string; nodeName?: string; targetRef?: ObjectReference }[];
    notReadyAddresses?: { ip: string; hostname?: string; nodeName?: string; targetRef?: ObjectReference }[];
    ports?: EndpointPort[];
  }[];
}

export interface IngressServiceBackend {
  name: string;
  port?: { number?: number; name?: string };
}

export interface IngressBackend {
  service?: IngressServiceBackend;
  resource?: { apiGroup?: string; kind: string; name: string };
}

export interface IngressPath {
  path?: string;
  pathType?: string;
  backend: IngressBackend;
}

export interface IngressRule {
  host?: string;
  http?: { paths: IngressPath[] };
}

export interface Ingress extends TypedObject {
  spec?: {
    ingressClassName?: string;
    defaultBackend?: IngressBackend;
    tls?: { hosts?: string[]; secretName?: string }[];
    rules?: IngressRule[];
  };
  status?: { loadBalancer?: { ingress?: LoadBalancerIngress[] } };
}

export interface IngressClass extends TypedObject {
  spec?: { controller?: string; parameters?: Record<string, unknown> };
}

export interface Secret extends TypedObject {
  type?: string;
  /** base64 values, as the API returns them */
  data?: Record<string, string>;
  /** plain values, accepted in manifests as the API server does on write */
  stringData?: Record<string, string>;
}

export interface NodeAddress {
  type: string;
  address: string;
}

export interface Node extends TypedObject {
  spec?: {
    podCIDR?: string;
    podCIDRs?: string[];
    unschedulable?: boolean;
    taints?: { key: string; value?: string; effect: string }[];
  };
  status?: {
    addresses?: NodeAddress[];
    conditions?: { type: string; status: string }[];
  };
}

export interface Pod extends TypedObject {
  spec?: {
    hostname?: string;
    subdomain?: string;
    nodeName?: string;
    hostNetwork?: boolean;
    containers?: { name: string; ports?: { name?: string; containerPort: number; protocol?: string }[] }[];
  };
  status?: {
    phase?: string;
    podIP?: string;
    podIPs?: { ip: string }[];
    conditions?: { type: string; status: string }[];
  };
}

export interface Lease extends TypedObject {
  spec?: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

/** The kinds the store holds, with the type of each. */
export interface KindMap {
  Service: Service;
  EndpointSlice: EndpointSlice;
  Ingress: Ingress;
  IngressClass: IngressClass;
  Secret: Secret;
  Node: Node;
  Pod: Pod;
  Namespace: Namespace;
  GatewayClass: GatewayClass;
  Gateway: Gateway;
  HTTPRoute: HTTPRoute;
  GRPCRoute: GRPCRoute;
  TLSRoute: TLSRoute;
  TCPRoute: TCPRoute;
  UDPRoute: UDPRoute;
  ReferenceGrant: ReferenceGrant;
}

export type Kind = keyof KindMap;

/** The Gateway API kinds (src/model/gateway.ts). */
export const GATEWAY_KINDS = [
  "GatewayClass",
  "Gateway",
  "HTTPRoute",
  "GRPCRoute",
  "TLSRoute",
  "TCPRoute",
  "UDPRoute",
  "ReferenceGrant",
] as const satisfies readonly Kind[];
export type GatewayKind = (typeof GATEWAY_KINDS)[number];

export const KINDS: readonly Kind[] = [
  "Service",
  "EndpointSlice",
  "Ingress",
  "IngressClass",
  "Secret",
  "Node",
  "Pod",
  "Namespace",
  ...GATEWAY_KINDS,
];

/** Kinds that live in a namespace (Node, Namespace, IngressClass and GatewayClass are cluster-scoped). */
export function isNamespaced(kind: Kind): boolean {
  return kind !== "Node" && kind !== "IngressClass" && kind !== "GatewayClass" && kind !== "Namespace";
}

export const SERVICE_NAME_LABEL = "kubernetes.io/service-name";
export const SERVICE_PROXY_NAME_LABEL = "service.kubernetes.io/service-proxy-name";
export const ZONE_LABEL = "topology.kubernetes.io/zone";
/** The API server sets it on every Namespace: its name, for label selectors. */
export const NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name";
