// The reliability suite's cluster, as a manifests folder: one namespace, two HTTP backends behind Ingresses
// (one path behind a source-range allowlist that loopback is not in), a TCP and a UDP ClusterIP Service.
import { writeFileSync } from "node:fs";
import { join } from "node:path";

export interface ClusterPorts {
  web: number;
  other: number;
  tcpEcho: number;
  udpEcho: number;
}

export const ECHO_VIP = { host: "127.96.210.20", port: 7000 };
export const UDP_VIP = { host: "127.96.210.30", port: 7001 };
export const WEB_PORT = 18090;
export const NAMESPACE = "rel";

function service(name: string, clusterIP: string, port: number, protocol: "TCP" | "UDP" = "TCP") {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name, namespace: NAMESPACE },
    spec: { clusterIP, ports: [{ name: "p", port, protocol, targetPort: "p" }] },
  };
}

function slice(name: string, port: number, protocol: "TCP" | "UDP" = "TCP") {
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: { name: `${name}-1`, namespace: NAMESPACE, labels: { "kubernetes.io/service-name": name } },
    addressType: "IPv4",
    ports: [{ name: "p", port, protocol }],
    endpoints: [{ addresses: ["127.0.0.1"], conditions: { ready: true } }],
  };
}

function ingress(name: string, host: string, paths: { path: string; service: string }[], annotations = {}) {
  return {
    apiVersion: "networking.k8s.io/v1",
    kind: "Ingress",
    metadata: { name, namespace: NAMESPACE, annotations },
    spec: {
      ingressClassName: "nodeplane",
      rules: [
        {
          host,
          http: {
            paths: paths.map((p) => ({
              path: p.path,
              pathType: "Prefix",
              backend: { service: { name: p.service, port: { number: WEB_PORT } } },
            })),
          },
        },
      ],
    },
  };
}

/** Writes the folder; returns nothing: the addresses are the constants above. */
export function writeCluster(dir: string, ports: ClusterPorts): void {
  const objects = [
    { apiVersion: "v1", kind: "Namespace", metadata: { name: NAMESPACE } },
    {
      apiVersion: "networking.k8s.io/v1",
      kind: "IngressClass",
      metadata: { name: "nodeplane" },
      spec: { controller: "nodeplane.dev/ingress" },
    },
    service("web", "127.96.210.10", WEB_PORT),
    slice("web", ports.web),
    service("other", "127.96.210.11", WEB_PORT),
    slice("other", ports.other),
    service("echo", ECHO_VIP.host, ECHO_VIP.port),
    slice("echo", ports.tcpEcho),
    service("udp-echo", UDP_VIP.host, UDP_VIP.port, "UDP"),
    slice("udp-echo", ports.udpEcho, "UDP"),
    ingress("web", "foo.test", [
      { path: "/", service: "web" },
      { path: "/public", service: "web" },
    ]),
    // loopback clients are outside the allowlist: /admin answers 403 from the proxy itself
    ingress("admin", "foo.test", [{ path: "/admin", service: "web" }], {
      "nginx.ingress.kubernetes.io/whitelist-source-range": "10.0.0.0/8",
    }),
    ingress("other", "other.test", [{ path: "/", service: "other" }]),
  ];
  writeFileSync(join(dir, "cluster.json"), JSON.stringify({ apiVersion: "v1", kind: "List", items: objects }, null, 1));
}
