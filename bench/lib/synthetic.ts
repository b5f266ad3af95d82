import type { EndpointSlice, Ingress, Service } from "../../src/model/k8s.ts";
import type { TranslateOptions } from "../../src/translate/options.ts";

/** The node and cluster the synthetic objects are translated for. */
export const SYNTHETIC_TRANSLATE_OPTIONS: TranslateOptions = {
  nodeName: "node-0",
  localAddresses: ["127.0.0.1"],
  nodePortCIDRs: [],
  clusterDomain: "cluster.local",
  ingressClass: "nodeplane",
  ingressController: "nodeplane.dev/ingress",
  gatewayController: "nodeplane.dev/gateway-controller",
  gatewayAddress: "127.0.0.1",
  publishAddresses: [],
  dnsPods: "insecure",
};

/** A large made-up cluster for snapshot-rebuild: only objects, no traffic ever goes to these addresses. */
export interface SyntheticCluster {
  services: Service[];
  slices: EndpointSlice[];
  ingresses: Ingress[];
}

export interface SyntheticOptions {
  /** one Ingress (one host, path `/`) per this many Services; 0 = none */
  servicesPerIngress?: number;
  /** first clusterIP (as a 32-bit number); the end-to-end run uses loopback addresses it can bind */
  serviceBase?: number;
  servicePort?: number;
}

const NAMESPACES = 100;

function ipv4(base: number, offset: number): string {
  const n = (base + offset) >>> 0;
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

const SERVICE_BASE = (10 << 24) | (96 << 16); // 10.96.0.0
const POD_BASE = (10 << 24) | (244 << 16); // 10.244.0.0

/**
 * `services` Services in 100 namespaces, each with one EndpointSlice of `endpointsPerService` ready
 * endpoints, and (by default) one Ingress per 10 Services routing a host to one of them.
 */
export function syntheticCluster(
  services: number,
  endpointsPerService: number,
  options: SyntheticOptions = {},
): SyntheticCluster {
  const { servicesPerIngress = 10, serviceBase = SERVICE_BASE, servicePort = 80 } = options;
  const out: SyntheticCluster = { services: [], slices: [], ingresses: [] };
  for (let i = 0; i < services; i++) {
    const namespace = `ns-${i % NAMESPACES}`;
    const name = `svc-${i}`;
    out.services.push({
      apiVersion: "v1",
      kind: "Service",
      metadata: { name, namespace, uid: `uid-svc-${i}`, resourceVersion: "1" },
      spec: {
        type: "ClusterIP",
        clusterIP: ipv4(serviceBase, i + 1),
        clusterIPs: [ipv4(serviceBase, i + 1)],
        ipFamilies: ["IPv4"],
        selector: { app: name },
        ports: [{ name: "http", protocol: "TCP", port: servicePort, targetPort: "http" }],
      },
    });
    out.slices.push(syntheticSlice(i, namespace, name, endpointsPerService, 0));
    if (servicesPerIngress > 0 && i % servicesPerIngress === 0) {
      out.ingresses.push({
        apiVersion: "networking.k8s.io/v1",
        kind: "Ingress",
        metadata: { name: `ing-${i}`, namespace, creationTimestamp: "2024-01-01T00:00:00Z" },
        spec: {
          ingressClassName: "nodeplane",
          rules: [
            {
              host: `${name}.${namespace}.example.com`,
              http: {
                paths: [{ path: "/", pathType: "Prefix", backend: { service: { name, port: { name: "http" } } } }],
              },
            },
          ],
        },
      });
    }
  }
  return out;
}

/** 127.98.0.0: loopback addresses outside the test suites' ranges, for the end-to-end run's listeners. */
export const LOOPBACK_SERVICE_BASE = (127 << 24) | (98 << 16);

/** The slice of Service `index`; `variant` changes one endpoint's readiness so each call is a real change. */
export function syntheticSlice(
  index: number,
  namespace: string,
  service: string,
  endpoints: number,
  variant: number,
): EndpointSlice {
  const flipped = variant === 0 ? -1 : variant % endpoints;
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: {
      name: `${service}-abcde`,
      namespace,
      labels: { "kubernetes.io/service-name": service },
      resourceVersion: String(1 + variant),
    },
    addressType: "IPv4",
    ports: [{ name: "http", protocol: "TCP", port: 8080 }],
    endpoints: Array.from({ length: endpoints }, (_, j) => ({
      addresses: [ipv4(POD_BASE, index * endpoints + j + 1)],
      conditions: { ready: j !== flipped, serving: true, terminating: false },
      nodeName: `node-${j % 10}`,
      targetRef: { kind: "Pod", namespace, name: `${service}-pod-${j}` },
    })),
  };
}
