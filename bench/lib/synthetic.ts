import type { EndpointSlice, Service } from "../../src/model/k8s.ts";

/** A large made-up cluster for snapshot-rebuild: only objects, no traffic ever goes to these addresses. */
export interface SyntheticCluster {
  services: Service[];
  slices: EndpointSlice[];
}

const NAMESPACES = 100;

function ipv4(base: number, offset: number): string {
  const n = (base + offset) >>> 0;
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

const SERVICE_BASE = (10 << 24) | (96 << 16); // 10.96.0.0
const POD_BASE = (10 << 24) | (244 << 16); // 10.244.0.0

/** `services` Services in 100 namespaces, each with one EndpointSlice of `endpointsPerService` ready endpoints. */
export function syntheticCluster(services: number, endpointsPerService: number): SyntheticCluster {
  const out: SyntheticCluster = { services: [], slices: [] };
  for (let i = 0; i < services; i++) {
    const namespace = `ns-${i % NAMESPACES}`;
    const name = `svc-${i}`;
    out.services.push({
      apiVersion: "v1",
      kind: "Service",
      metadata: { name, namespace, uid: `uid-svc-${i}`, resourceVersion: "1" },
      spec: {
        type: "ClusterIP",
        clusterIP: ipv4(SERVICE_BASE, i + 1),
        clusterIPs: [ipv4(SERVICE_BASE, i + 1)],
        ipFamilies: ["IPv4"],
        selector: { app: name },
        ports: [{ name: "http", protocol: "TCP", port: 80, targetPort: "http" }],
      },
    });
    out.slices.push(syntheticSlice(i, namespace, name, endpointsPerService, 0));
  }
  return out;
}

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
