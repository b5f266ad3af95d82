import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isRoot, NetnsLab, NODE1, NODE2, type Started, stop } from "./netns-lab.ts";

/**
 * The real thing: `bin/nodeplane.js --manifests DIR` in two node namespaces (manifests source →
 * service translator → service plane), same topology as netns.test.ts. Each node reads the same
 * manifests with its own --node-name, so externalTrafficPolicy: Local differs per node.
 */

const BIN = join(import.meta.dirname, "../../../bin/nodeplane.js");
const lab = new NetnsLab("np");
const ns = lab.ns;

const slice = (service: string, portName: string) => `
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: ${service}-1
  namespace: default
  labels: { kubernetes.io/service-name: ${service} }
addressType: IPv4
ports: [{ name: ${portName}, port: 8080, protocol: TCP }]
endpoints:
  - addresses: [10.244.1.2]
    conditions: { ready: true }
    nodeName: node1
  - addresses: [10.244.1.3]
    conditions: { ready: true }
    nodeName: node1
`;

const MANIFESTS = `
apiVersion: v1
kind: Service
metadata: { name: web, namespace: default }
spec:
  type: NodePort
  clusterIP: 10.96.0.10
  selector: { app: web }
  ports: [{ name: http, port: 80, targetPort: 8080, nodePort: 30080 }]
---
apiVersion: v1
kind: Service
metadata: { name: my-svc-cp, namespace: default }
spec:
  clusterIP: 10.96.0.11
  selector: { app: nothing }
  ports: [{ name: http, port: 80, targetPort: 8080 }]
---
apiVersion: v1
kind: Service
metadata: { name: lb-local, namespace: default }
spec:
  type: LoadBalancer
  clusterIP: 10.96.0.20
  externalTrafficPolicy: Local
  healthCheckNodePort: 30900
  selector: { app: web }
  ports: [{ name: http, port: 80, targetPort: 8080, nodePort: 30081 }]
---${slice("web", "http")}---${slice("lb-local", "http")}`;

function startNodeplane(name: string, nodeName: string, nodeIp: string): Promise<Started> {
  const dir = join(lab.workdir, `${nodeName}-manifests`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "cluster.yaml"), MANIFESTS);
  return lab.start(
    name,
    [
      BIN,
      "--manifests",
      dir,
      "--node-name",
      nodeName,
      "--service-cidr",
      "10.96.0.0/12",
      "--node-port-addresses",
      `${nodeIp}/32`,
      "--healthz-address",
      `${nodeIp}:10256`,
      "--http-address=",
      "--https-address=",
      "--dns-address=",
    ],
    (line) => line.includes('"nodeplane ready"'),
  );
}

describe.skipIf(!isRoot)("nodeplane --manifests in network namespaces", () => {
  let node1: Started;
  let node2: Started;

  beforeAll(async () => {
    await lab.setup();
    node1 = await startNodeplane(ns.node1, "node1", NODE1);
    node2 = await startNodeplane(ns.node2, "node2", NODE2);
  }, 60_000);

  afterAll(() => lab.teardown());

  it("curl from a pod to the ClusterIP reaches both pods; the NodePort answers on the node and from the other node", async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const r = await lab.curl(ns.podA, "http://10.96.0.10/");
      expect(r.stderr, node1.logs()).toBe("");
      seen.add(r.stdout.trim());
    }
    expect([...seen].sort()).toEqual(["pod-a", "pod-b"]);
    expect((await lab.curl(ns.node1, `http://${NODE1}:30080/`)).code).toBe(0);
    expect((await lab.curl(ns.node2, `http://${NODE1}:30080/`)).code).toBe(0);
    // node2 has no pods, but the Cluster policy NodePort forwards to node1's.
    expect((await lab.curl(ns.node1, `http://${NODE2}:30080/`)).code).toBe(0);
  });

  it("a Service without endpoints is refused (the lab's curl: (7))", async () => {
    expect((await lab.curl(ns.podB, "http://10.96.0.11/")).code).toBe(7);
    expect(await lab.probe(ns.podB, "10.96.0.11", 80)).toBe("refused");
  });

  it("externalTrafficPolicy: Local — served where the pods are, reset elsewhere, health checks say which", async () => {
    expect(await lab.probe(ns.node2, NODE1, 30081)).toBe("data");
    expect(await lab.probe(ns.node1, NODE2, 30081)).toBe("reset");
    const code = (node: string, url: string) =>
      lab.inNs(node, "curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", url]).then((r) => r.stdout);
    expect(await code(ns.node2, `http://${NODE1}:30900/`)).toBe("200");
    expect(await code(ns.node1, `http://${NODE2}:30900/`)).toBe("503");
    expect(await code(ns.node1, `http://${NODE1}:10256/healthz`)).toBe("200");
  });

  it("removes its virtual IPs when it stops", async () => {
    expect(
      lab
        .vips(ns.node1)
        .map((v) => v.local)
        .sort(),
    ).toEqual(["10.96.0.10", "10.96.0.11", "10.96.0.20"]);
    await stop(node1.child);
    await stop(node2.child);
    expect(lab.vips(ns.node1)).toEqual([]);
    expect(lab.vips(ns.node2)).toEqual([]);
  });
});
