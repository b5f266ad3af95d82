import { describe, expect, it } from "vitest";
import type { EndpointSlice, Service } from "../../../src/model/k8s.ts";
import type { NodeSnapshot } from "../../../src/snapshot/snapshot.ts";
import type { TranslateOptions } from "../../../src/translate/options.ts";
import { ep, NODE, type PortSummary, problemTexts, slice, storeOf, summarise, translate } from "./fixtures.ts";

function service(name: string, spec: Service["spec"], extra: Omit<Service, "spec"> = {}): Service {
  const [namespace, n] = name.includes("/") ? name.split("/") : ["default", name];
  return { apiVersion: "v1", kind: "Service", ...extra, metadata: { namespace, name: n, ...extra.metadata }, spec };
}

interface Row {
  name: string;
  manifests: (string | Service | EndpointSlice)[];
  node?: NodeSnapshot;
  options?: Partial<TranslateOptions>;
  ports: Record<string, PortSummary>;
  /** substrings, one per expected problem, in order; none expected when absent */
  problems?: string[];
}

const http = [{ name: "http", port: 80, targetPort: 8080 }];
const httpSlicePort = [{ name: "http", port: 8080, protocol: "TCP" }];
const fwd = (ip: string, port = 80) => `clusterIP ${ip}:${port}/TCP forward`;

const rows: Row[] = [
  // ---------------------------------------------------------------- port resolution
  {
    name: "named targetPort is resolved through the slice port of the same name",
    manifests: [
      `
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  clusterIP: 10.96.0.10
  ports: [{name: http, port: 80, targetPort: web}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-abc, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{name: http, port: 8080, protocol: TCP}]
endpoints:
- addresses: [10.244.1.10]
  conditions: {ready: true}
  nodeName: node-a
- addresses: [10.244.1.5]
  nodeName: node-b
`,
    ],
    ports: {
      "default/web:http": {
        frontends: [fwd("10.96.0.10")],
        cluster: ["10.244.1.5:8080", "10.244.1.10:8080"],
        external: ["10.244.1.5:8080", "10.244.1.10:8080"],
      },
    },
  },
  {
    name: "multi-port: each Service port takes the slice port of its name across slices; other slice ports unused",
    manifests: [
      service("web", {
        clusterIP: "10.96.0.11",
        ports: [
          { name: "metrics", port: 9090, targetPort: "prom" },
          { name: "http", port: 80, targetPort: "web" },
        ],
      }),
      slice(
        "web",
        "web-1",
        [
          { name: "http", port: 8080 },
          { name: "metrics", port: 9100 },
          { name: "admin", port: 9999 },
        ],
        [ep("10.244.1.1")],
      ),
      slice(
        "web",
        "web-2",
        [
          { name: "http", port: 8081 },
          { name: "metrics", port: 9100 },
        ],
        [ep("10.244.2.1")],
      ),
    ],
    ports: {
      "default/web:http": {
        frontends: [fwd("10.96.0.11")],
        cluster: ["10.244.1.1:8080", "10.244.2.1:8081"],
        external: ["10.244.1.1:8080", "10.244.2.1:8081"],
      },
      "default/web:metrics": {
        frontends: [fwd("10.96.0.11", 9090)],
        cluster: ["10.244.1.1:9100", "10.244.2.1:9100"],
        external: ["10.244.1.1:9100", "10.244.2.1:9100"],
      },
    },
  },
  {
    name: "slice port with no name matches the unnamed Service port; a named Service port needs the name",
    manifests: [
      service("plain", { clusterIP: "10.96.0.12", ports: [{ port: 80, targetPort: 8080 }] }),
      slice("plain", "plain-1", [{ port: 8080 }], [ep("10.244.1.1")]),
      service("named", { clusterIP: "10.96.0.13", ports: [{ name: "http", port: 80 }] }),
      slice("named", "named-1", [{ port: 8080 }], [ep("10.244.1.2")]),
    ],
    ports: {
      "default/named:http": { frontends: ["clusterIP 10.96.0.13:80/TCP reject"], cluster: [], external: [] },
      "default/plain:": { frontends: [fwd("10.96.0.12")], cluster: ["10.244.1.1:8080"], external: ["10.244.1.1:8080"] },
    },
  },
  {
    name: "slice ports match by protocol too (DNS: TCP and UDP ports of one name)",
    manifests: [
      service("dns", {
        clusterIP: "10.96.0.53",
        ports: [
          { name: "dns", port: 53, protocol: "UDP" },
          { name: "dns-tcp", port: 53, protocol: "TCP" },
        ],
      }),
      slice(
        "dns",
        "dns-1",
        [
          { name: "dns", port: 5353, protocol: "UDP" },
          { name: "dns", port: 5354, protocol: "TCP" },
          { name: "dns-tcp", port: 5353, protocol: "TCP" },
        ],
        [ep("10.244.1.53")],
      ),
    ],
    ports: {
      "default/dns:dns": {
        frontends: ["clusterIP 10.96.0.53:53/UDP forward"],
        cluster: ["10.244.1.53:5353"],
        external: ["10.244.1.53:5353"],
      },
      "default/dns:dns-tcp": {
        frontends: ["clusterIP 10.96.0.53:53/TCP forward"],
        cluster: ["10.244.1.53:5353"],
        external: ["10.244.1.53:5353"],
      },
    },
  },
  {
    name: "duplicate endpoints across slices appear once; a ready copy wins over a not-ready one",
    manifests: [
      service("web", { clusterIP: "10.96.0.14", ports: http }),
      slice("web", "web-a", httpSlicePort, [ep("10.244.1.1", { ready: false }), ep("10.244.1.2")]),
      slice("web", "web-b", httpSlicePort, [ep("10.244.1.1"), ep("10.244.1.2", { ready: false })]),
    ],
    ports: {
      "default/web:http": {
        frontends: [fwd("10.96.0.14")],
        cluster: ["10.244.1.1:8080", "10.244.1.2:8080"],
        external: ["10.244.1.1:8080", "10.244.1.2:8080"],
      },
    },
  },
  {
    // one slice, already in address order but for a repeated address: the copy-free path must not take it
    name: "a duplicate endpoint within one slice appears once; a ready copy wins over a not-ready one",
    manifests: [
      service("web", { clusterIP: "10.96.0.14", ports: http }),
      slice("web", "web-a", httpSlicePort, [
        ep("10.244.1.1"),
        ep("10.244.1.2", { ready: false }),
        ep("10.244.1.2"),
        ep("10.244.1.3"),
        ep("10.244.1.3"),
      ]),
    ],
    ports: {
      "default/web:http": {
        frontends: [fwd("10.96.0.14")],
        cluster: ["10.244.1.1:8080", "10.244.1.2:8080", "10.244.1.3:8080"],
        external: ["10.244.1.1:8080", "10.244.1.2:8080", "10.244.1.3:8080"],
      },
    },
  },
  {
    name: "FQDN slices are ignored",
    manifests: [
      service("web", { clusterIP: "10.96.0.15", ports: http }),
      slice("web", "web-fqdn", httpSlicePort, [{ addresses: ["backend.example.com"] }], "FQDN"),
    ],
    ports: { "default/web:http": { frontends: ["clusterIP 10.96.0.15:80/TCP reject"], cluster: [], external: [] } },
  },
  {
    name: "no EndpointSlice at all: every frontend rejects",
    manifests: [
      service("web", { type: "NodePort", clusterIP: "10.96.0.16", ports: [{ ...http[0]!, nodePort: 30016 }] }),
    ],
    ports: {
      "default/web:http": {
        frontends: ["clusterIP 10.96.0.16:80/TCP reject", "nodePort 192.168.1.10:30016/TCP reject"],
        cluster: [],
        external: [],
        nodePort: 30016,
      },
    },
  },

  // ---------------------------------------------------------------- frontends and families
  {
    name: "dual-stack NodePort: clusterIP and nodePort per family, each family's endpoints",
    manifests: [
      service("web", {
        type: "NodePort",
        clusterIP: "10.96.0.20",
        clusterIPs: ["10.96.0.20", "fd00:96::20"],
        ipFamilies: ["IPv4", "IPv6"],
        ports: [{ name: "http", port: 80, nodePort: 30080 }],
      }),
      slice("web", "web-v4", httpSlicePort, [ep("10.244.1.5")]),
      slice("web", "web-v6", httpSlicePort, [ep("fd00:244::5")], "IPv6"),
    ],
    ports: {
      "default/web:http": {
        frontends: [
          fwd("10.96.0.20"),
          "clusterIP [fd00:96::20]:80/TCP forward",
          "nodePort 192.168.1.10:30080/TCP forward",
          "nodePort [fd00::10]:30080/TCP forward",
        ],
        cluster: ["10.244.1.5:8080", "[fd00:244::5]:8080"],
        external: ["10.244.1.5:8080", "[fd00:244::5]:8080"],
        nodePort: 30080,
      },
    },
  },
  {
    name: "dual-stack with endpoints in one family only: the other family's frontends reject",
    manifests: [
      service("web", { clusterIPs: ["fd00:96::21", "10.96.0.21"], ports: http }),
      slice("web", "web-v4", httpSlicePort, [ep("10.244.1.5")]),
    ],
    ports: {
      "default/web:http": {
        frontends: [fwd("10.96.0.21"), "clusterIP [fd00:96::21]:80/TCP reject"],
        cluster: ["10.244.1.5:8080"],
        external: ["10.244.1.5:8080"],
      },
    },
  },
  {
    name: "single-stack IPv4: IPv6 slices, node addresses and externalIPs are not used",
    manifests: [
      service("web", {
        type: "NodePort",
        clusterIP: "10.96.0.22",
        externalIPs: ["203.0.113.5", "2001:db8::5"],
        ports: [{ name: "http", port: 80, nodePort: 30022 }],
      }),
      slice("web", "web-v4", httpSlicePort, [ep("10.244.1.5")]),
      slice("web", "web-v6", httpSlicePort, [ep("fd00:244::5")], "IPv6"),
    ],
    ports: {
      "default/web:http": {
        frontends: [
          fwd("10.96.0.22"),
          "nodePort 192.168.1.10:30022/TCP forward",
          "externalIP 203.0.113.5:80/TCP forward",
        ],
        cluster: ["10.244.1.5:8080"],
        external: ["10.244.1.5:8080"],
        nodePort: 30022,
      },
    },
    problems: ['spec.externalIPs[1]: "2001:db8::5" is IPv6 but the Service has no IPv6 clusterIP'],
  },
  {
    name: "nodePort listens on the node-port addresses only",
    node: { ...NODE, nodePortAddresses: ["127.0.0.1", "192.168.1.10"] },
    manifests: [
      service("web", {
        type: "NodePort",
        clusterIP: "10.96.0.23",
        ports: [{ name: "http", port: 80, nodePort: 30023 }],
      }),
      slice("web", "web-1", httpSlicePort, [ep("10.244.1.5")]),
    ],
    ports: {
      "default/web:http": {
        frontends: [
          fwd("10.96.0.23"),
          "nodePort 127.0.0.1:30023/TCP forward",
          "nodePort 192.168.1.10:30023/TCP forward",
        ],
        cluster: ["10.244.1.5:8080"],
        external: ["10.244.1.5:8080"],
        nodePort: 30023,
      },
    },
  },
  {
    name: "externalIPs are frontends using the external endpoint list; one equal to the clusterIP is served once",
    manifests: [
      service("web", { clusterIP: "10.96.0.24", externalIPs: ["198.51.100.7", "10.96.0.24"], ports: http }),
      slice("web", "web-1", httpSlicePort, [ep("10.244.1.5")]),
    ],
    ports: {
      "default/web:http": {
        frontends: [fwd("10.96.0.24"), "externalIP 198.51.100.7:80/TCP forward"],
        cluster: ["10.244.1.5:8080"],
        external: ["10.244.1.5:8080"],
      },
    },
  },
  {
    name: "LoadBalancer: ingress IPs with ipMode VIP or unset; Proxy and hostname-only skipped; sourceRanges on LB only",
    manifests: [
      `
apiVersion: v1
kind: Service
metadata: {name: lb}
spec:
  type: LoadBalancer
  clusterIP: 10.96.0.30
  externalIPs: [198.51.100.30]
  loadBalancerSourceRanges: [" 203.0.113.0/24", 192.0.2.0/25]
  ports: [{name: http, port: 80, nodePort: 30030}]
status:
  loadBalancer:
    ingress:
    - ip: 198.51.100.31
    - ip: 198.51.100.32
      ipMode: VIP
    - ip: 198.51.100.33
      ipMode: Proxy
    - hostname: lb.example.com
`,
      slice("lb", "lb-1", httpSlicePort, [ep("10.244.1.5")]),
    ],
    ports: {
      "default/lb:http": {
        frontends: [
          fwd("10.96.0.30"),
          "nodePort 192.168.1.10:30030/TCP forward",
          "externalIP 198.51.100.30:80/TCP forward",
          "loadBalancer 198.51.100.31:80/TCP forward from 203.0.113.0/24,192.0.2.0/25",
          "loadBalancer 198.51.100.32:80/TCP forward from 203.0.113.0/24,192.0.2.0/25",
        ],
        cluster: ["10.244.1.5:8080"],
        external: ["10.244.1.5:8080"],
        nodePort: 30030,
      },
    },
  },
  {
    name: "LoadBalancer without source ranges: LB frontends admit any source",
    manifests: [
      service(
        "lb",
        { type: "LoadBalancer", clusterIP: "10.96.0.31", allocateLoadBalancerNodePorts: false, ports: http },
        { status: { loadBalancer: { ingress: [{ ip: "198.51.100.41" }] } } },
      ),
      slice("lb", "lb-1", httpSlicePort, [ep("10.244.1.5")]),
    ],
    ports: {
      "default/lb:http": {
        frontends: [fwd("10.96.0.31"), "loadBalancer 198.51.100.41:80/TCP forward from any"],
        cluster: ["10.244.1.5:8080"],
        external: ["10.244.1.5:8080"],
      },
    },
  },
  {
    name: "an unparsable source range closes the LB frontends (never widens access); the rest is served",
    manifests: [
      service(
        "lb",
        {
          type: "LoadBalancer",
          clusterIP: "10.96.0.32",
          loadBalancerSourceRanges: ["10.0.0.0/8", "not-a-cidr"],
          ports: [{ name: "http", port: 80, nodePort: 30032 }],
        },
        { status: { loadBalancer: { ingress: [{ ip: "198.51.100.42" }] } } },
      ),
      slice("lb", "lb-1", httpSlicePort, [ep("10.244.1.5")]),
    ],
    ports: {
      "default/lb:http": {
        frontends: [fwd("10.96.0.32"), "nodePort 192.168.1.10:30032/TCP forward"],
        cluster: ["10.244.1.5:8080"],
        external: ["10.244.1.5:8080"],
        nodePort: 30032,
      },
    },
    problems: ['spec.loadBalancerSourceRanges[1]: "not-a-cidr" is not a CIDR'],
  },

  // ---------------------------------------------------------------- ready / serving / terminating
  {
    name: "ready endpoints only, while any is ready (terminating and not-ready ones are left out)",
    manifests: [
      service("web", { clusterIP: "10.96.0.40", ports: http }),
      slice("web", "web-1", httpSlicePort, [
        ep("10.244.1.1"),
        ep("10.244.1.2", { ready: false, serving: true, terminating: true }),
        ep("10.244.1.3", { ready: false }),
      ]),
    ],
    ports: {
      "default/web:http": {
        frontends: [fwd("10.96.0.40")],
        cluster: ["10.244.1.1:8080"],
        external: ["10.244.1.1:8080"],
      },
    },
  },
  {
    name: "none ready: fall back to serving+terminating ones (not the non-serving terminating ones)",
    manifests: [
      service("web", { clusterIP: "10.96.0.41", ports: http }),
      slice("web", "web-1", httpSlicePort, [
        ep("10.244.1.2", { ready: false, serving: true, terminating: true }),
        ep("10.244.1.3", { ready: false, serving: false, terminating: true }),
        ep("10.244.1.4", { ready: false }),
      ]),
    ],
    ports: {
      "default/web:http": {
        frontends: [fwd("10.96.0.41")],
        cluster: ["10.244.1.2:8080 serving-terminating"],
        external: ["10.244.1.2:8080 serving-terminating"],
      },
    },
  },
  {
    name: "none ready and none serving: reject",
    manifests: [
      service("web", { clusterIP: "10.96.0.42", ports: http }),
      slice("web", "web-1", httpSlicePort, [
        ep("10.244.1.3", { ready: false, serving: false, terminating: true }),
        ep("10.244.1.4", { ready: false, serving: true }),
      ]),
    ],
    ports: { "default/web:http": { frontends: ["clusterIP 10.96.0.42:80/TCP reject"], cluster: [], external: [] } },
  },

  // ---------------------------------------------------------------- traffic policies
  {
    name: "internalTrafficPolicy Local: clusterIP uses this node's endpoints only",
    manifests: [
      service("web", { clusterIP: "10.96.0.50", internalTrafficPolicy: "Local", ports: http }),
      slice("web", "web-1", httpSlicePort, [
        ep("10.244.1.1", { node: "node-a" }),
        ep("10.244.2.1", { node: "node-b" }),
      ]),
    ],
    ports: {
      "default/web:http": { frontends: [fwd("10.96.0.50")], cluster: ["10.244.1.1:8080"], external: [] },
    },
  },
  {
    name: "internalTrafficPolicy Local without a local endpoint: clusterIP drops, nodePort still forwards (Cluster)",
    manifests: [
      service("web", {
        type: "NodePort",
        clusterIP: "10.96.0.51",
        internalTrafficPolicy: "Local",
        ports: [{ name: "http", port: 80, nodePort: 30051 }],
      }),
      slice("web", "web-1", httpSlicePort, [ep("10.244.2.1", { node: "node-b" })]),
    ],
    ports: {
      "default/web:http": {
        frontends: ["clusterIP 10.96.0.51:80/TCP drop", "nodePort 192.168.1.10:30051/TCP forward"],
        cluster: [],
        external: ["10.244.2.1:8080"],
        nodePort: 30051,
      },
    },
  },
  {
    name: "externalTrafficPolicy Local with a local endpoint: external frontends use it, clusterIP uses all",
    manifests: [
      service("web", {
        type: "NodePort",
        clusterIP: "10.96.0.52",
        externalTrafficPolicy: "Local",
        externalIPs: ["198.51.100.52"],
        ports: [{ name: "http", port: 80, nodePort: 30052 }],
      }),
      slice("web", "web-1", httpSlicePort, [
        ep("10.244.1.1", { node: "node-a" }),
        ep("10.244.2.1", { node: "node-b" }),
      ]),
    ],
    ports: {
      "default/web:http": {
        frontends: [
          fwd("10.96.0.52"),
          "nodePort 192.168.1.10:30052/TCP forward",
          "externalIP 198.51.100.52:80/TCP forward",
        ],
        cluster: ["10.244.1.1:8080", "10.244.2.1:8080"],
        external: ["10.244.1.1:8080"],
        nodePort: 30052,
      },
    },
  },
  {
    name: "externalTrafficPolicy Local with endpoints only elsewhere: external frontends drop, clusterIP forwards",
    manifests: [
      service(
        "lb",
        {
          type: "LoadBalancer",
          clusterIP: "10.96.0.53",
          externalTrafficPolicy: "Local",
          healthCheckNodePort: 32053,
          ports: [{ name: "http", port: 80, nodePort: 30053 }],
        },
        { status: { loadBalancer: { ingress: [{ ip: "198.51.100.53" }] } } },
      ),
      slice("lb", "lb-1", httpSlicePort, [ep("10.244.2.1", { node: "node-b" })]),
    ],
    ports: {
      "default/lb:http": {
        frontends: [
          fwd("10.96.0.53"),
          "nodePort 192.168.1.10:30053/TCP drop",
          "loadBalancer 198.51.100.53:80/TCP drop from any",
        ],
        cluster: ["10.244.2.1:8080"],
        external: [],
        nodePort: 30053,
      },
    },
  },
  {
    name: "externalTrafficPolicy Local: a local serving+terminating endpoint is used when no local one is ready",
    manifests: [
      service("web", {
        type: "NodePort",
        clusterIP: "10.96.0.54",
        externalTrafficPolicy: "Local",
        ports: [{ name: "http", port: 80, nodePort: 30054 }],
      }),
      slice("web", "web-1", httpSlicePort, [
        ep("10.244.1.1", { node: "node-a", ready: false, serving: true, terminating: true }),
        ep("10.244.2.1", { node: "node-b" }),
      ]),
    ],
    ports: {
      "default/web:http": {
        frontends: [fwd("10.96.0.54"), "nodePort 192.168.1.10:30054/TCP forward"],
        cluster: ["10.244.2.1:8080"],
        external: ["10.244.1.1:8080 serving-terminating"],
        nodePort: 30054,
      },
    },
  },
  {
    name: "externalTrafficPolicy Local on a ClusterIP Service has no effect (externalIPs use all endpoints)",
    manifests: [
      service("web", {
        clusterIP: "10.96.0.55",
        externalTrafficPolicy: "Local",
        externalIPs: ["198.51.100.55"],
        ports: http,
      }),
      slice("web", "web-1", httpSlicePort, [ep("10.244.2.1", { node: "node-b" })]),
    ],
    ports: {
      "default/web:http": {
        frontends: [fwd("10.96.0.55"), "externalIP 198.51.100.55:80/TCP forward"],
        cluster: ["10.244.2.1:8080"],
        external: ["10.244.2.1:8080"],
      },
    },
  },

  // ---------------------------------------------------------------- topology
  {
    name: "zone hints: every ready endpoint hinted and one for this zone → this zone's endpoints",
    manifests: [
      service("web", { clusterIP: "10.96.0.60", trafficDistribution: "PreferClose", ports: http }),
      slice("web", "web-1", httpSlicePort, [
        ep("10.244.1.1", { zone: "zone-a", forZones: ["zone-a"] }),
        ep("10.244.2.1", { zone: "zone-b", forZones: ["zone-b"] }),
        ep("10.244.3.1", { zone: "zone-c", forZones: ["zone-c", "zone-a"] }),
        ep("10.244.4.1", { ready: false }),
      ]),
    ],
    ports: {
      "default/web:http": {
        frontends: [fwd("10.96.0.60")],
        cluster: ["10.244.1.1:8080", "10.244.3.1:8080"],
        external: ["10.244.1.1:8080", "10.244.3.1:8080"],
      },
    },
  },
  {
    name: "zone hints are used as present, with or without trafficDistribution (as kube-proxy does)",
    manifests: [
      service("web", { clusterIP: "10.96.0.61", ports: http }),
      slice("web", "web-1", httpSlicePort, [
        ep("10.244.1.1", { forZones: ["zone-a"] }),
        ep("10.244.2.1", { forZones: ["zone-b"] }),
      ]),
    ],
    ports: {
      "default/web:http": {
        frontends: [fwd("10.96.0.61")],
        cluster: ["10.244.1.1:8080"],
        external: ["10.244.1.1:8080"],
      },
    },
  },
  {
    name: "PreferClose, one ready endpoint without hints → all endpoints",
    manifests: [
      service("web", { clusterIP: "10.96.0.62", trafficDistribution: "PreferClose", ports: http }),
      slice("web", "web-1", httpSlicePort, [ep("10.244.1.1", { forZones: ["zone-a"] }), ep("10.244.2.1")]),
    ],
    ports: {
      "default/web:http": {
        frontends: [fwd("10.96.0.62")],
        cluster: ["10.244.1.1:8080", "10.244.2.1:8080"],
        external: ["10.244.1.1:8080", "10.244.2.1:8080"],
      },
    },
  },
  {
    name: "PreferClose without any hints → all endpoints",
    manifests: [
      service("web", { clusterIP: "10.96.0.63", trafficDistribution: "PreferClose", ports: http }),
      slice("web", "web-1", httpSlicePort, [
        ep("10.244.1.1", { zone: "zone-a" }),
        ep("10.244.2.1", { zone: "zone-b" }),
      ]),
    ],
    ports: {
      "default/web:http": {
        frontends: [fwd("10.96.0.63")],
        cluster: ["10.244.1.1:8080", "10.244.2.1:8080"],
        external: ["10.244.1.1:8080", "10.244.2.1:8080"],
      },
    },
  },
  {
    name: "hints for other zones only → all endpoints",
    manifests: [
      service("web", { clusterIP: "10.96.0.64", ports: http }),
      slice("web", "web-1", httpSlicePort, [
        ep("10.244.2.1", { forZones: ["zone-b"] }),
        ep("10.244.3.1", { forZones: ["zone-c"] }),
        // a not-ready endpoint hinted for this zone does not count
        ep("10.244.1.1", { forZones: ["zone-a"], ready: false }),
      ]),
    ],
    ports: {
      "default/web:http": {
        frontends: [fwd("10.96.0.64")],
        cluster: ["10.244.2.1:8080", "10.244.3.1:8080"],
        external: ["10.244.2.1:8080", "10.244.3.1:8080"],
      },
    },
  },
  {
    name: "node without a zone label → hints ignored",
    node: { name: "node-a", nodePortAddresses: ["192.168.1.10"], addresses: ["192.168.1.10"] },
    manifests: [
      service("web", { clusterIP: "10.96.0.65", ports: http }),
      slice("web", "web-1", httpSlicePort, [
        ep("10.244.1.1", { forZones: ["zone-a"] }),
        ep("10.244.2.1", { forZones: ["zone-b"] }),
      ]),
    ],
    ports: {
      "default/web:http": {
        frontends: [fwd("10.96.0.65")],
        cluster: ["10.244.1.1:8080", "10.244.2.1:8080"],
        external: ["10.244.1.1:8080", "10.244.2.1:8080"],
      },
    },
  },
  {
    name: "no ready endpoint: serving+terminating fallback ignores hints",
    manifests: [
      service("web", { clusterIP: "10.96.0.66", ports: http }),
      slice("web", "web-1", httpSlicePort, [
        ep("10.244.1.1", { forZones: ["zone-a"], ready: false, serving: true, terminating: true }),
        ep("10.244.2.1", { forZones: ["zone-b"], ready: false, serving: true, terminating: true }),
      ]),
    ],
    ports: {
      "default/web:http": {
        frontends: [fwd("10.96.0.66")],
        cluster: ["10.244.1.1:8080 serving-terminating", "10.244.2.1:8080 serving-terminating"],
        external: ["10.244.1.1:8080 serving-terminating", "10.244.2.1:8080 serving-terminating"],
      },
    },
  },
  {
    name: "node hints (PreferSameNode): every ready endpoint hinted and one for this node → this node's",
    manifests: [
      service("web", { clusterIP: "10.96.0.67", trafficDistribution: "PreferSameNode", ports: http }),
      slice("web", "web-1", httpSlicePort, [
        ep("10.244.1.1", { node: "node-a", forNodes: ["node-a"], forZones: ["zone-a"] }),
        ep("10.244.1.2", { node: "node-c", forNodes: ["node-c"], forZones: ["zone-a"] }),
        ep("10.244.2.1", { node: "node-b", forNodes: ["node-b"], forZones: ["zone-b"] }),
      ]),
    ],
    ports: {
      "default/web:http": {
        frontends: [fwd("10.96.0.67")],
        cluster: ["10.244.1.1:8080"],
        external: ["10.244.1.1:8080"],
      },
    },
  },
  {
    name: "internalTrafficPolicy Local takes precedence over hints",
    manifests: [
      service("web", { clusterIP: "10.96.0.68", internalTrafficPolicy: "Local", ports: http }),
      slice("web", "web-1", httpSlicePort, [
        ep("10.244.1.1", { node: "node-a", forZones: ["zone-b"] }),
        ep("10.244.2.1", { node: "node-b", forZones: ["zone-a"] }),
      ]),
    ],
    ports: { "default/web:http": { frontends: [fwd("10.96.0.68")], cluster: ["10.244.1.1:8080"], external: [] } },
  },
  {
    name: "externalTrafficPolicy Local takes precedence over hints for external frontends; clusterIP uses hints",
    manifests: [
      service("web", {
        type: "NodePort",
        clusterIP: "10.96.0.69",
        externalTrafficPolicy: "Local",
        ports: [{ name: "http", port: 80, nodePort: 30069 }],
      }),
      slice("web", "web-1", httpSlicePort, [
        ep("10.244.1.1", { node: "node-a", forZones: ["zone-b"] }),
        ep("10.244.2.1", { node: "node-b", forZones: ["zone-a"] }),
      ]),
    ],
    ports: {
      "default/web:http": {
        frontends: [fwd("10.96.0.69"), "nodePort 192.168.1.10:30069/TCP forward"],
        cluster: ["10.244.2.1:8080"],
        external: ["10.244.1.1:8080"],
        nodePort: 30069,
      },
    },
  },

  // ---------------------------------------------------------------- affinity
  {
    name: "sessionAffinity ClientIP: default timeout 10800 s, custom timeout kept",
    manifests: [
      service("a-default", { clusterIP: "10.96.0.70", sessionAffinity: "ClientIP", ports: http }),
      service("b-custom", {
        clusterIP: "10.96.0.71",
        sessionAffinity: "ClientIP",
        sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } },
        ports: http,
      }),
      service("c-none", { clusterIP: "10.96.0.72", sessionAffinity: "None", ports: http }),
    ],
    ports: {
      "default/a-default:http": {
        frontends: ["clusterIP 10.96.0.70:80/TCP reject"],
        cluster: [],
        external: [],
        affinity: "ClientIP 10800s",
      },
      "default/b-custom:http": {
        frontends: ["clusterIP 10.96.0.71:80/TCP reject"],
        cluster: [],
        external: [],
        affinity: "ClientIP 60s",
      },
      "default/c-none:http": { frontends: ["clusterIP 10.96.0.72:80/TCP reject"], cluster: [], external: [] },
    },
  },
  {
    name: "an out-of-range affinity timeout is reported and the default used",
    manifests: [
      service("web", {
        clusterIP: "10.96.0.73",
        sessionAffinity: "ClientIP",
        sessionAffinityConfig: { clientIP: { timeoutSeconds: 0 } },
        ports: http,
      }),
    ],
    ports: {
      "default/web:http": {
        frontends: ["clusterIP 10.96.0.73:80/TCP reject"],
        cluster: [],
        external: [],
        affinity: "ClientIP 10800s",
      },
    },
    problems: ["spec.sessionAffinityConfig.clientIP.timeoutSeconds: must be 1..86400"],
  },

  // ---------------------------------------------------------------- left alone
  {
    name: "headless, ExternalName, unallocated, other proxy's and headless-labelled Services get no ports",
    manifests: [
      service("headless", { clusterIP: "None", ports: http }),
      service("headless-list", { clusterIPs: ["None"], ports: http }),
      service("external", { type: "ExternalName", externalName: "example.com", ports: http }),
      service("unallocated", { ports: http }),
      service(
        "other-proxy",
        { clusterIP: "10.96.0.80", ports: http },
        { metadata: { labels: { "service.kubernetes.io/service-proxy-name": "cilium" } } },
      ),
      service(
        "labelled-headless",
        { clusterIP: "10.96.0.81", ports: http },
        { metadata: { labels: { "service.kubernetes.io/headless": "" } } },
      ),
      service("served", { clusterIP: "10.96.0.82", ports: http }),
      slice("headless", "headless-1", httpSlicePort, [ep("10.244.1.1")]),
      slice("other-proxy", "other-1", httpSlicePort, [ep("10.244.1.2")]),
    ],
    ports: { "default/served:http": { frontends: ["clusterIP 10.96.0.82:80/TCP reject"], cluster: [], external: [] } },
  },
  {
    name: "--service-proxy-name: Services labelled with it are served, unlabelled ones too, others not",
    options: { serviceProxyName: "nodeplane" },
    manifests: [
      service(
        "mine",
        { clusterIP: "10.96.0.83", ports: http },
        { metadata: { labels: { "service.kubernetes.io/service-proxy-name": "nodeplane" } } },
      ),
      service(
        "theirs",
        { clusterIP: "10.96.0.84", ports: http },
        { metadata: { labels: { "service.kubernetes.io/service-proxy-name": "cilium" } } },
      ),
      service("unlabelled", { clusterIP: "10.96.0.85", ports: http }),
    ],
    ports: {
      "default/mine:http": { frontends: ["clusterIP 10.96.0.83:80/TCP reject"], cluster: [], external: [] },
      "default/unlabelled:http": { frontends: ["clusterIP 10.96.0.85:80/TCP reject"], cluster: [], external: [] },
    },
  },

  // ---------------------------------------------------------------- bad input
  {
    name: "SCTP port: not served, with the reason; the other ports are served",
    manifests: [
      service("sig", {
        clusterIP: "10.96.0.90",
        ports: [
          { name: "sctp", port: 3868, protocol: "SCTP" },
          { name: "http", port: 80 },
        ],
      }),
      slice("sig", "sig-1", [...httpSlicePort, { name: "sctp", port: 3868, protocol: "SCTP" }], [ep("10.244.1.1")]),
    ],
    ports: {
      "default/sig:http": {
        frontends: [fwd("10.96.0.90")],
        cluster: ["10.244.1.1:8080"],
        external: ["10.244.1.1:8080"],
      },
    },
    problems: ["Service default/sig spec.ports[0].protocol: SCTP is not served: Node.js has no SCTP sockets"],
  },
  {
    name: "invalid ports are reported by field and skipped; the rest is served",
    manifests: [
      service("web", {
        type: "NodePort",
        clusterIP: "10.96.0.91",
        ports: [
          { name: "zero", port: 0 },
          { name: "big", port: 70000 },
          { name: "http", port: 80, nodePort: 30091 },
          { name: "bad-np", port: 81, nodePort: 99999 },
          { name: "http", port: 82 },
          { name: "again", port: 80 },
          { name: "quic", port: 443, protocol: "QUIC" },
        ],
      }),
      slice("web", "web-1", httpSlicePort, [ep("10.244.1.1")]),
    ],
    ports: {
      "default/web:http": {
        frontends: [fwd("10.96.0.91"), "nodePort 192.168.1.10:30091/TCP forward"],
        cluster: ["10.244.1.1:8080"],
        external: ["10.244.1.1:8080"],
        nodePort: 30091,
      },
    },
    problems: [
      "spec.ports[0].port: invalid port 0",
      "spec.ports[1].port: invalid port 70000",
      "spec.ports[3].nodePort: invalid nodePort 99999",
      'spec.ports[4].name: duplicate port name "http"',
      "spec.ports[5].port: duplicate port 80/TCP",
      'spec.ports[6].protocol: unknown protocol "QUIC"',
    ],
  },
  {
    name: "invalid addresses are reported by field and skipped; the rest is served",
    manifests: [
      service(
        "web",
        {
          clusterIPs: ["10.96.0.92", "10.96.0.999"],
          externalIPs: ["198.51.100.92", "nope"],
          ports: http,
        },
        { status: { loadBalancer: { ingress: [{ ip: "300.1.1.1" }] } } },
      ),
      slice("web", "web-1", httpSlicePort, [ep("10.244.1.1"), ep("fd00::1"), { addresses: [] }]),
    ],
    ports: {
      "default/web:http": {
        frontends: [fwd("10.96.0.92"), "externalIP 198.51.100.92:80/TCP forward"],
        cluster: ["10.244.1.1:8080"],
        external: ["10.244.1.1:8080"],
      },
    },
    problems: [
      'Service default/web spec.clusterIPs[1]: "10.96.0.999" is not an IP address',
      'Service default/web spec.externalIPs[1]: "nope" is not an IP address',
      'Service default/web status.loadBalancer.ingress[0].ip: "300.1.1.1" is not an IP address',
      'EndpointSlice default/web-1 endpoints[1].addresses[0]: "fd00::1" is not an IPv4 address',
      "EndpointSlice default/web-1 endpoints[2].addresses[0]: endpoint has no address",
    ],
  },
  {
    name: "unknown type, policies and affinity are reported and defaulted; bad slice ports and address types skipped",
    manifests: [
      service("web", {
        type: "Weird",
        clusterIPs: ["10.96.0.94", "10.96.0.95"],
        internalTrafficPolicy: "Nearby",
        externalTrafficPolicy: "Far",
        sessionAffinity: "Cookie",
        ports: http,
      }),
      slice("web", "web-1", [{ name: "http", port: 0 }, ...httpSlicePort], [ep("10.244.1.1")]),
      slice("web", "web-2", httpSlicePort, [ep("10.244.1.2")], "IPX"),
    ],
    ports: {
      "default/web:http": {
        frontends: [fwd("10.96.0.94")],
        cluster: ["10.244.1.1:8080"],
        external: ["10.244.1.1:8080"],
      },
    },
    problems: [
      'Service default/web spec.type: unknown type "Weird"; treated as ClusterIP',
      'spec.clusterIPs[1]: a second IPv4 clusterIP ("10.96.0.95") is ignored',
      'spec.sessionAffinity: unknown value "Cookie"; treated as None',
      'spec.internalTrafficPolicy: unknown value "Nearby"',
      'spec.externalTrafficPolicy: unknown value "Far"',
      "EndpointSlice default/web-1 ports[0].port: invalid port 0",
      'EndpointSlice default/web-2 addressType: unknown address type "IPX"',
    ],
  },
  {
    name: "a nodePort on a ClusterIP Service is reported and ignored",
    manifests: [service("web", { clusterIP: "10.96.0.93", ports: [{ name: "http", port: 80, nodePort: 30093 }] })],
    ports: { "default/web:http": { frontends: ["clusterIP 10.96.0.93:80/TCP reject"], cluster: [], external: [] } },
    problems: ["spec.ports[0].nodePort: nodePort is ignored on a ClusterIP Service"],
  },

  // ---------------------------------------------------------------- two Services, one address
  {
    name: "an address claimed by two Services is served for the older one; the other is told and keeps the rest",
    manifests: [
      service(
        "a-new",
        { clusterIP: "10.96.0.100", externalIPs: ["198.51.100.100"], ports: http },
        { metadata: { creationTimestamp: "2024-05-02T00:00:00Z" } },
      ),
      service(
        "b-old",
        { clusterIP: "10.96.0.101", externalIPs: ["198.51.100.100"], ports: http },
        { metadata: { creationTimestamp: "2024-05-01T00:00:00Z" } },
      ),
      slice("a-new", "a-1", httpSlicePort, [ep("10.244.1.1")]),
      slice("b-old", "b-1", httpSlicePort, [ep("10.244.1.2")]),
    ],
    ports: {
      "default/a-new:http": {
        frontends: [fwd("10.96.0.100")],
        cluster: ["10.244.1.1:8080"],
        external: ["10.244.1.1:8080"],
      },
      "default/b-old:http": {
        frontends: [fwd("10.96.0.101"), "externalIP 198.51.100.100:80/TCP forward"],
        cluster: ["10.244.1.2:8080"],
        external: ["10.244.1.2:8080"],
      },
    },
    problems: [
      "Service default/a-new spec.externalIPs[0]: 198.51.100.100:80/TCP is also claimed by Service default/b-old, which keeps it",
    ],
  },
  {
    name: "without creation times the first by namespace/name keeps a contested address (LB IP vs externalIP)",
    manifests: [
      service("x/web", { clusterIP: "10.96.0.102", externalIPs: ["198.51.100.102"], ports: http }),
      service(
        "a/lb",
        { type: "LoadBalancer", clusterIP: "10.96.0.103", allocateLoadBalancerNodePorts: false, ports: http },
        { status: { loadBalancer: { ingress: [{ ip: "198.51.100.102" }] } } },
      ),
      // same address, other protocol: no clash
      service("b/udp", {
        clusterIP: "10.96.0.104",
        externalIPs: ["198.51.100.102"],
        ports: [{ name: "dns", port: 80, protocol: "UDP" }],
      }),
    ],
    ports: {
      "a/lb:http": {
        frontends: ["clusterIP 10.96.0.103:80/TCP reject", "loadBalancer 198.51.100.102:80/TCP reject from any"],
        cluster: [],
        external: [],
      },
      "b/udp:dns": {
        frontends: ["clusterIP 10.96.0.104:80/UDP reject", "externalIP 198.51.100.102:80/UDP reject"],
        cluster: [],
        external: [],
      },
      "x/web:http": { frontends: ["clusterIP 10.96.0.102:80/TCP reject"], cluster: [], external: [] },
    },
    problems: ["Service x/web spec.externalIPs[0]: 198.51.100.102:80/TCP is also claimed by Service a/lb"],
  },
  // ---------------------------------------------------------------- node-local DNS (--dns-node-local, docs/dns.md)
  {
    name: "node-local DNS: the DNS Service's port 53 clusterIP frontends are the DNS plane's; other ports and kinds are not",
    manifests: [
      service("kube-system/kube-dns", {
        type: "NodePort",
        clusterIP: "10.96.0.10",
        externalIPs: ["198.51.100.53"],
        ports: [
          { name: "dns", port: 53, protocol: "UDP", nodePort: 30053 },
          { name: "dns-tcp", port: 53, protocol: "TCP" },
          { name: "metrics", port: 9153, protocol: "TCP" },
        ],
      }),
      slice(
        "kube-system/kube-dns",
        "kube-dns-1",
        [
          { name: "dns", port: 53, protocol: "UDP" },
          { name: "dns-tcp", port: 53, protocol: "TCP" },
          { name: "metrics", port: 9153, protocol: "TCP" },
        ],
        [ep("10.244.1.2")],
      ),
      // the same port 53 on another Service is forwarded as usual
      service("default/other-dns", { clusterIP: "10.96.0.11", ports: [{ name: "dns", port: 53, protocol: "UDP" }] }),
      slice("default/other-dns", "other-dns-1", [{ name: "dns", port: 53, protocol: "UDP" }], [ep("10.244.1.3")]),
    ],
    options: { nodeLocalDns: { service: "kube-system/kube-dns" } },
    ports: {
      "default/other-dns:dns": {
        frontends: ["clusterIP 10.96.0.11:53/UDP forward"],
        cluster: ["10.244.1.3:53"],
        external: ["10.244.1.3:53"],
      },
      "kube-system/kube-dns:dns": {
        frontends: [
          "clusterIP 10.96.0.10:53/UDP forward dns",
          "nodePort 192.168.1.10:30053/UDP forward",
          "externalIP 198.51.100.53:53/UDP forward",
        ],
        cluster: ["10.244.1.2:53"],
        external: ["10.244.1.2:53"],
        nodePort: 30053,
      },
      "kube-system/kube-dns:dns-tcp": {
        frontends: ["clusterIP 10.96.0.10:53/TCP forward dns", "externalIP 198.51.100.53:53/TCP forward"],
        cluster: ["10.244.1.2:53"],
        external: ["10.244.1.2:53"],
      },
      "kube-system/kube-dns:metrics": {
        frontends: ["clusterIP 10.96.0.10:9153/TCP forward", "externalIP 198.51.100.53:9153/TCP forward"],
        cluster: ["10.244.1.2:9153"],
        external: ["10.244.1.2:9153"],
      },
    },
  },
  {
    name: "node-local DNS: with CoreDNS scaled to zero the frontends stay the DNS plane's (the fallback is reject)",
    manifests: [
      service("kube-system/kube-dns", { clusterIP: "10.96.0.10", ports: [{ name: "dns", port: 53, protocol: "UDP" }] }),
    ],
    options: { nodeLocalDns: { service: "kube-system/kube-dns" } },
    ports: {
      "kube-system/kube-dns:dns": { frontends: ["clusterIP 10.96.0.10:53/UDP reject dns"], cluster: [], external: [] },
    },
  },
  {
    name: "node-local DNS: --dns-link-local adds a frontend of its family with the clusterIP's endpoints (dual-stack)",
    manifests: [
      service("kube-system/kube-dns", {
        clusterIP: "10.96.0.10",
        clusterIPs: ["10.96.0.10", "fd00:96::a"],
        ipFamilies: ["IPv4", "IPv6"],
        ipFamilyPolicy: "RequireDualStack",
        ports: [{ name: "dns", port: 53, protocol: "UDP" }],
      }),
      slice("kube-system/kube-dns", "kube-dns-4", [{ name: "dns", port: 53, protocol: "UDP" }], [ep("10.244.1.2")]),
      slice(
        "kube-system/kube-dns",
        "kube-dns-6",
        [{ name: "dns", port: 53, protocol: "UDP" }],
        [ep("fd00:244::2")],
        "IPv6",
      ),
    ],
    options: { nodeLocalDns: { service: "kube-system/kube-dns", linkLocal: "169.254.20.10" } },
    ports: {
      "kube-system/kube-dns:dns": {
        frontends: [
          "clusterIP 10.96.0.10:53/UDP forward dns",
          "clusterIP 169.254.20.10:53/UDP forward dns",
          "clusterIP [fd00:96::a]:53/UDP forward dns",
        ],
        cluster: ["10.244.1.2:53", "[fd00:244::2]:53"],
        external: ["10.244.1.2:53", "[fd00:244::2]:53"],
      },
    },
  },
  {
    name: "node-local DNS off (no option): the DNS Service is forwarded like any other",
    manifests: [
      service("kube-system/kube-dns", { clusterIP: "10.96.0.10", ports: [{ name: "dns", port: 53, protocol: "UDP" }] }),
      slice("kube-system/kube-dns", "kube-dns-1", [{ name: "dns", port: 53, protocol: "UDP" }], [ep("10.244.1.2")]),
    ],
    ports: {
      "kube-system/kube-dns:dns": {
        frontends: ["clusterIP 10.96.0.10:53/UDP forward"],
        cluster: ["10.244.1.2:53"],
        external: ["10.244.1.2:53"],
      },
    },
  },
];

describe("service translation (fixture table)", () => {
  for (const row of rows) {
    it(row.name, () => {
      const result = translate(storeOf(...row.manifests), row.node, row.options);
      expect(summarise(result.servicePorts)).toEqual(row.ports);
      expect(result.servicePorts.map((p) => p.id)).toEqual(Object.keys(row.ports).sort());
      const problems = problemTexts(result);
      const expected = row.problems ?? [];
      expect(problems).toHaveLength(expected.length);
      for (const [i, text] of expected.entries()) expect(problems[i]).toContain(text);
    });
  }
});
