import { describe, expect, it } from "vitest";
import {
  describeBackend,
  describeEndpointSlice,
  describeIngress,
  describeService,
  readyEndpointsFor,
} from "../../src/cli/describe.ts";
import type { EndpointSlice, Service } from "../../src/model/k8s.ts";
import type { ServicePortSnapshot } from "../../src/snapshot/snapshot.ts";

const nginx: Service = {
  metadata: { name: "my-nginx", namespace: "default", labels: { run: "hello-nginx", tier: "web" } },
  spec: {
    type: "NodePort",
    clusterIP: "127.96.0.12",
    clusterIPs: ["127.96.0.12"],
    selector: { run: "hello-nginx" },
    ports: [
      { name: "http", port: 8090, targetPort: 8080, nodePort: 30090, protocol: "TCP" },
      { name: "dns", port: 53, targetPort: "dns", protocol: "UDP" },
    ],
    sessionAffinity: "ClientIP",
    externalTrafficPolicy: "Local",
  },
};

const slices: EndpointSlice[] = [
  {
    metadata: { name: "my-nginx-a", namespace: "default", labels: { "kubernetes.io/service-name": "my-nginx" } },
    addressType: "IPv4",
    ports: [
      { name: "http", port: 8080, protocol: "TCP" },
      { name: "dns", port: 5353, protocol: "UDP" },
    ],
    endpoints: [
      {
        addresses: ["127.244.0.11"],
        conditions: { ready: true },
        targetRef: { kind: "Pod", name: "a" },
        nodeName: "n1",
      },
      { addresses: ["127.244.0.12"] },
      { addresses: ["127.244.0.13"], conditions: { ready: false, serving: true, terminating: true } },
    ],
  },
];

const ports: ServicePortSnapshot[] = [
  {
    id: "default/my-nginx:http",
    namespace: "default",
    name: "my-nginx",
    portName: "http",
    protocol: "TCP",
    port: 8090,
    nodePort: 30090,
    frontends: [
      { kind: "clusterIP", ip: "127.96.0.12", port: 8090, protocol: "TCP", action: "forward", endpoints: "cluster" },
      { kind: "nodePort", ip: "127.0.0.1", port: 30090, protocol: "TCP", action: "drop", endpoints: "external" },
    ],
    clusterEndpoints: [
      { ip: "127.244.0.11", port: 8080, ready: true, serving: true, terminating: false },
      { ip: "127.244.0.12", port: 8080, ready: true, serving: true, terminating: false },
    ],
    externalEndpoints: [],
    sessionAffinity: { type: "ClientIP", timeoutSeconds: 10800 },
  },
];

describe("describe service", () => {
  it("reads like kubectl describe, with nodeplane's frontends and the object's problems", () => {
    const text = describeService({
      service: nginx,
      slices,
      servicePorts: ports,
      problems: [
        {
          kind: "Service",
          namespace: "default",
          name: "my-nginx",
          field: "spec.ports[1]",
          message: "no endpoint port named dns",
        },
        { kind: "Service", namespace: "default", name: "other", message: "not ours" },
      ],
    });
    expect(text).toBe(
      [
        "Name:                      my-nginx",
        "Namespace:                 default",
        "Labels:                    run=hello-nginx",
        "                           tier=web",
        "Annotations:               <none>",
        "Selector:                  run=hello-nginx",
        "Type:                      NodePort",
        "IP Families:               IPv4",
        "IP:                        127.96.0.12",
        "IPs:                       127.96.0.12",
        "Port:                      http  8090/TCP",
        "TargetPort:                8080/TCP",
        "NodePort:                  http  30090/TCP",
        "Endpoints:                 127.244.0.11:8080,127.244.0.12:8080",
        "Port:                      dns  53/UDP",
        "TargetPort:                dns/UDP",
        "Endpoints:                 127.244.0.11:5353,127.244.0.12:5353",
        "Session Affinity:          ClientIP",
        "Session Affinity Timeout:  10800s",
        "External Traffic Policy:   Local",
        "Internal Traffic Policy:   Cluster",
        "Frontends:",
        "  KIND        ADDRESS                ACTION    ENDPOINTS",
        "  clusterIP   127.96.0.12:8090/TCP   forward   2",
        "  nodePort    127.0.0.1:30090/TCP    drop      0",
        "Problems:                  Service default/my-nginx: spec.ports[1]: no endpoint port named dns",
        "",
      ].join("\n"),
    );
  });

  it("says <none> for a Service without endpoints or frontends", () => {
    const text = describeService({
      service: { metadata: { name: "my-svc-cp" }, spec: { clusterIP: "127.96.0.10", ports: [{ port: 80 }] } },
      slices: [],
      servicePorts: [],
      problems: [],
    });
    expect(text).toMatch(/^Endpoints:\s+<none>$/m);
    expect(text).toMatch(/^Frontends:\s+<none>$/m);
    expect(text).toMatch(/^Type:\s+ClusterIP$/m);
    expect(text).toMatch(/^Namespace:\s+default$/m);
  });

  it("lists ready endpoints only, by port name and protocol", () => {
    expect(readyEndpointsFor(slices, { port: 8090, name: "http" })).toEqual(["127.244.0.11:8080", "127.244.0.12:8080"]);
    expect(readyEndpointsFor(slices, { port: 8090, name: "http", protocol: "UDP" })).toEqual([]);
    expect(readyEndpointsFor(slices, { port: 1, name: "other" })).toEqual([]);
  });
});

describe("describe ingress", () => {
  it.each([
    [{ service: { name: "my-nginx", port: { number: 8090 } } }, "my-nginx:8090 (127.244.0.11:8080,127.244.0.12:8080)"],
    [{ service: { name: "my-nginx", port: { name: "http" } } }, "my-nginx:http (127.244.0.11:8080,127.244.0.12:8080)"],
    [{ service: { name: "gone", port: { number: 80 } } }, 'gone:80 (<error: services "gone" not found>)'],
    [
      { service: { name: "my-nginx", port: { number: 1 } } },
      'my-nginx:1 (<error: port not found on service "my-nginx">)',
    ],
    [undefined, "<default>"],
  ])("backend %j → %s", (backend, text) => {
    expect(describeBackend(backend, [nginx], slices)).toBe(text);
  });

  it("prints the rules table, TLS and ADDRESS", () => {
    const text = describeIngress({
      ingress: {
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
                  { path: "/bar", pathType: "Prefix", backend: { service: { name: "gone", port: { number: 80 } } } },
                ],
              },
            },
          ],
        },
        status: { loadBalancer: { ingress: [{ ip: "127.0.0.1" }] } },
      },
      services: [nginx],
      slices,
      problems: [],
    });
    expect(text).toBe(
      [
        "Name:             foo",
        "Labels:           <none>",
        "Namespace:        default",
        "Address:          127.0.0.1",
        "Ingress Class:    nodeplane",
        "Default backend:  <default>",
        "TLS:",
        "  foo-tls terminates foo.bar.com",
        "Rules:",
        "  Host          Path   Backends",
        "  ----          ----   --------",
        "  foo.bar.com",
        "                /foo   my-nginx:8090 (127.244.0.11:8080,127.244.0.12:8080)",
        '                /bar   gone:80 (<error: services "gone" not found>)',
        "Annotations:      <none>",
        "Problems:         <none>",
        "",
      ].join("\n"),
    );
  });
});

describe("describe endpointslice", () => {
  it("lists ports and endpoints with their conditions", () => {
    const text = describeEndpointSlice(slices[0]!);
    expect(text).toMatch(/^AddressType:\s+IPv4$/m);
    expect(text).toMatch(/^ {2}127\.244\.0\.11\s+true\s+true\s+false\s+Pod\/a\s+n1\s+<unset>$/m);
    expect(text).toMatch(/^ {2}127\.244\.0\.13\s+false\s+true\s+true\s+<none>/m);
  });
});
