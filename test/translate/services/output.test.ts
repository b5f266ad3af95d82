import { describe, expect, it } from "vitest";
import type { Service } from "../../../src/model/k8s.ts";
import { endpointsFor, type HealthCheckSnapshot, type ServicePortSnapshot } from "../../../src/snapshot/snapshot.ts";
import { Translator } from "../../../src/translate/index.ts";
import { ep, NODE, OPTIONS, problemTexts, slice, storeOf, translate } from "./fixtures.ts";

describe("service translation: exact values", () => {
  it("gives the full ServicePortSnapshot with endpoint details (node, zone, hostname, pod)", () => {
    const result = translate(
      storeOf(
        `
apiVersion: v1
kind: Service
metadata: {name: db, namespace: shop}
spec:
  type: NodePort
  clusterIP: 10.96.5.5
  sessionAffinity: ClientIP
  sessionAffinityConfig: {clientIP: {timeoutSeconds: 300}}
  ports: [{name: pg, port: 5432, targetPort: postgres, nodePort: 30432}]
`,
        slice(
          "shop/db",
          "db-x1",
          [{ name: "pg", port: 15432, protocol: "TCP" }],
          [ep("10.244.7.1", { node: "node-a", zone: "zone-a", hostname: "db-0", pod: "db-0" })],
        ),
      ),
    );
    const expected: ServicePortSnapshot = {
      id: "shop/db:pg",
      namespace: "shop",
      name: "db",
      portName: "pg",
      protocol: "TCP",
      port: 5432,
      nodePort: 30432,
      frontends: [
        { kind: "clusterIP", ip: "10.96.5.5", port: 5432, protocol: "TCP", action: "forward", endpoints: "cluster" },
        {
          kind: "nodePort",
          ip: "192.168.1.10",
          port: 30432,
          protocol: "TCP",
          action: "forward",
          endpoints: "external",
        },
      ],
      clusterEndpoints: [
        {
          ip: "10.244.7.1",
          port: 15432,
          ready: true,
          serving: true,
          terminating: false,
          nodeName: "node-a",
          zone: "zone-a",
          hostname: "db-0",
          targetRef: "shop/db-0",
        },
      ],
      externalEndpoints: [
        {
          ip: "10.244.7.1",
          port: 15432,
          ready: true,
          serving: true,
          terminating: false,
          nodeName: "node-a",
          zone: "zone-a",
          hostname: "db-0",
          targetRef: "shop/db-0",
        },
      ],
      sessionAffinity: { type: "ClientIP", timeoutSeconds: 300 },
    };
    expect(result.servicePorts).toEqual([expected]);
    expect(result.problems).toEqual([]);
  });

  it("sorts services by namespace then name, ports by id order, frontends by kind/address, endpoints by address", () => {
    const svc = (ns: string, name: string, ip: string): Service => ({
      kind: "Service",
      metadata: { namespace: ns, name },
      spec: {
        clusterIP: ip,
        externalIPs: ["198.51.100.20", "198.51.100.3"],
        ports: [
          { name: "b", port: 81 },
          { name: "a", port: 80 },
        ],
      },
    });
    const store = storeOf(
      svc("a-b", "x", "10.96.0.3"),
      svc("a", "z", "10.96.0.2"),
      svc("a", "y", "10.96.0.1"),
      slice("a/y", "y-1", [{ name: "a", port: 8080 }], [ep("10.244.0.10"), ep("10.244.0.9"), ep("10.244.0.100")]),
    );
    const result = translate(store);
    expect(result.services.map((s) => `${s.metadata?.namespace}/${s.metadata?.name}`)).toEqual(["a/y", "a/z", "a-b/x"]);
    expect(result.servicePorts.map((p) => p.id)).toEqual(["a/y:a", "a/y:b", "a/z:a", "a/z:b", "a-b/x:a", "a-b/x:b"]);
    expect(result.servicePorts[0]!.frontends.map((f) => `${f.kind} ${f.ip}`)).toEqual([
      "clusterIP 10.96.0.1",
      "externalIP 198.51.100.3",
      "externalIP 198.51.100.20",
    ]);
    expect(result.servicePorts[0]!.clusterEndpoints.map((e) => e.ip)).toEqual([
      "10.244.0.9",
      "10.244.0.10",
      "10.244.0.100",
    ]);
  });

  it("lists every Service object, including those it does not proxy", () => {
    const result = translate(
      storeOf(
        { kind: "Service", metadata: { name: "headless" }, spec: { clusterIP: "None" } },
        { kind: "Service", metadata: { name: "ext" }, spec: { type: "ExternalName", externalName: "example.com" } },
      ),
    );
    expect(result.services.map((s) => s.metadata?.name)).toEqual(["ext", "headless"]);
    expect(result.servicePorts).toEqual([]);
  });
});

describe("service translation: health checks", () => {
  const lb = (name: string, spec: Partial<NonNullable<Service["spec"]>>): Service => ({
    kind: "Service",
    metadata: { namespace: "default", name },
    spec: {
      type: "LoadBalancer",
      clusterIP: "10.96.1.1",
      externalTrafficPolicy: "Local",
      ports: [
        { name: "http", port: 80, nodePort: 30001 },
        { name: "https", port: 443, nodePort: 30002 },
      ],
      ...spec,
    },
  });
  const slicePorts = [
    { name: "http", port: 8080 },
    { name: "https", port: 8443 },
  ];
  const rows: {
    name: string;
    service: Service;
    endpoints: ReturnType<typeof ep>[];
    expect: HealthCheckSnapshot[];
    problems?: string[];
  }[] = [
    {
      name: "counts this node's ready endpoints (distinct ip:port over all ports)",
      service: lb("web", { healthCheckNodePort: 32000 }),
      endpoints: [
        ep("10.244.1.1", { node: "node-a" }),
        ep("10.244.1.2", { node: "node-a", ready: false, serving: true, terminating: true }),
        ep("10.244.2.1", { node: "node-b" }),
      ],
      expect: [{ namespace: "default", name: "web", port: 32000, localEndpoints: 2 }],
    },
    {
      name: "zero when no endpoint is on this node",
      service: lb("web", { healthCheckNodePort: 32000 }),
      endpoints: [ep("10.244.2.1", { node: "node-b" })],
      expect: [{ namespace: "default", name: "web", port: 32000, localEndpoints: 0 }],
    },
    {
      name: "none for externalTrafficPolicy Cluster",
      service: lb("web", { externalTrafficPolicy: "Cluster", healthCheckNodePort: 32000 }),
      endpoints: [ep("10.244.1.1", { node: "node-a" })],
      expect: [],
    },
    {
      name: "none for a NodePort Service",
      service: lb("web", { type: "NodePort", healthCheckNodePort: 32000 }),
      endpoints: [ep("10.244.1.1", { node: "node-a" })],
      expect: [],
    },
    {
      name: "none, with a problem, without healthCheckNodePort",
      service: lb("web", {}),
      endpoints: [ep("10.244.1.1", { node: "node-a" })],
      expect: [],
      problems: ["Service default/web spec.healthCheckNodePort: externalTrafficPolicy Local LoadBalancer without"],
    },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const result = translate(storeOf(row.service, slice("web", "web-1", slicePorts, row.endpoints)));
      expect(result.healthChecks).toEqual(row.expect);
      const problems = problemTexts(result);
      expect(problems).toHaveLength(row.problems?.length ?? 0);
      for (const [i, p] of (row.problems ?? []).entries()) expect(problems[i]).toContain(p);
    });
  }

  it("uses the node name it is given", () => {
    const result = translate(
      storeOf(
        lb("web", { healthCheckNodePort: 32000 }),
        slice("web", "web-1", slicePorts, [ep("10.244.2.1", { node: "node-b" })]),
      ),
      { ...NODE, name: "node-b" },
    );
    expect(result.healthChecks).toEqual([{ namespace: "default", name: "web", port: 32000, localEndpoints: 2 }]);
  });
});

describe("endpointsFor", () => {
  it("gives a dual-stack frontend the endpoints of its own family, and a single-stack one the list itself", () => {
    const result = translate(
      storeOf(
        {
          kind: "Service",
          metadata: { name: "dual" },
          spec: { clusterIPs: ["10.96.9.1", "fd00:96::91"], ports: [{ name: "http", port: 80 }] },
        },
        slice("dual", "dual-4", [{ name: "http", port: 8080 }], [ep("10.244.9.1")]),
        slice("dual", "dual-6", [{ name: "http", port: 8080 }], [ep("fd00:244::91")], "IPv6"),
        {
          kind: "Service",
          metadata: { name: "single" },
          spec: { clusterIP: "10.96.9.2", ports: [{ name: "http", port: 80 }] },
        },
        slice("single", "single-4", [{ name: "http", port: 8080 }], [ep("10.244.9.2")]),
      ),
    );
    const [dual, single] = result.servicePorts;
    expect(dual!.frontends.map((f) => endpointsFor(dual!, f).map((e) => e.ip))).toEqual([
      ["10.244.9.1"],
      ["fd00:244::91"],
    ]);
    expect(endpointsFor(single!, single!.frontends[0]!)).toBe(single!.clusterEndpoints);
  });
});

describe("through the snapshot Translator", () => {
  it("takes this node's zone and node-port addresses from its Node object", () => {
    const store = storeOf(
      {
        kind: "Service",
        metadata: { name: "web" },
        spec: { type: "NodePort", clusterIP: "10.96.3.1", ports: [{ name: "http", port: 80, nodePort: 30301 }] },
      },
      slice(
        "web",
        "web-1",
        [{ name: "http", port: 8080 }],
        [ep("10.244.3.1", { forZones: ["east"] }), ep("10.244.3.2", { forZones: ["west"] })],
      ),
    );
    store.upsert("Node", {
      kind: "Node",
      metadata: { name: "n1", labels: { "topology.kubernetes.io/zone": "west" } },
      status: {
        addresses: [
          { type: "InternalIP", address: "192.168.7.1" },
          { type: "Hostname", address: "n1" },
        ],
      },
    });
    const snapshot = new Translator({ ...OPTIONS, nodeName: "n1" }).build(store);
    expect(snapshot.servicePorts.map((p) => p.frontends.map((f) => `${f.kind} ${f.ip}:${f.port} ${f.action}`))).toEqual(
      [["clusterIP 10.96.3.1:80 forward", "nodePort 192.168.7.1:30301 forward"]],
    );
    expect(snapshot.servicePorts[0]!.clusterEndpoints.map((e) => e.ip)).toEqual(["10.244.3.2"]);
    expect(snapshot.services.map((s) => s.metadata?.name)).toEqual(["web"]);
  });
});
