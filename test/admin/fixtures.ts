import type { SeedObject } from "./fake-source.ts";

/** A small cluster in the shape of the lab: ClusterIP, NodePort, two-pod and LoadBalancer Services, one Ingress. */
export const LAB_OBJECTS: SeedObject[] = [
  {
    kind: "Service",
    object: {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "my-svc-cp", namespace: "default", creationTimestamp: "2024-01-01T00:00:00Z" },
      spec: {
        type: "ClusterIP",
        clusterIP: "127.97.33.10",
        clusterIPs: ["127.97.33.10"],
        ports: [{ port: 80, protocol: "TCP", targetPort: 80 }],
      },
    },
  },
  {
    kind: "Service",
    object: {
      metadata: { name: "my-svc-np", namespace: "default" },
      spec: {
        type: "NodePort",
        clusterIP: "127.97.33.11",
        ports: [{ name: "1234-80", port: 1234, protocol: "TCP", targetPort: 80, nodePort: 31234 }],
      },
    },
  },
  {
    kind: "Service",
    object: {
      metadata: { name: "my-nginx", namespace: "default", labels: { run: "hello-nginx" } },
      spec: { clusterIP: "127.97.33.12", selector: { run: "hello-nginx" }, ports: [{ port: 8090, targetPort: 80 }] },
    },
  },
  {
    kind: "Service",
    object: {
      metadata: { name: "lb", namespace: "other" },
      spec: {
        type: "LoadBalancer",
        clusterIP: "127.97.33.13",
        ports: [{ port: 443, nodePort: 31443, protocol: "TCP" }],
      },
    },
  },
  {
    kind: "EndpointSlice",
    object: {
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: { name: "my-nginx-abc12", namespace: "default", labels: { "kubernetes.io/service-name": "my-nginx" } },
      addressType: "IPv4",
      ports: [{ name: "", port: 80, protocol: "TCP" }],
      endpoints: [
        { addresses: ["127.244.33.1"], conditions: { ready: true }, targetRef: { kind: "Pod", name: "hello-nginx-1" } },
        {
          addresses: ["127.244.33.2"],
          conditions: { ready: false, serving: false },
          targetRef: { kind: "Pod", name: "hello-nginx-2" },
        },
      ],
    },
  },
  {
    kind: "Ingress",
    object: {
      metadata: { name: "foo", namespace: "default" },
      spec: {
        ingressClassName: "nodeplane",
        tls: [{ hosts: ["foo.bar.com"], secretName: "foo-tls" }],
        rules: [
          {
            host: "foo.bar.com",
            http: {
              paths: [
                {
                  path: "/foo",
                  pathType: "Prefix",
                  backend: { service: { name: "my-nginx", port: { number: 8090 } } },
                },
              ],
            },
          },
        ],
      },
    },
  },
];

/**
 * The same objects with their cluster IPs moved to `net` (e.g. `127.97.34`), so test files that run the
 * service proxy in parallel never ask for the same address.
 */
export function labObjectsOn(net: string): SeedObject[] {
  return JSON.parse(JSON.stringify(LAB_OBJECTS).replaceAll("127.97.33.", `${net}.`)) as SeedObject[];
}
