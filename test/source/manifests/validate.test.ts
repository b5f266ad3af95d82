import { describe, expect, it } from "vitest";
import { compileFiles, compileYaml, problemLines } from "../helpers.ts";

const svc = (spec: string, meta = "name: web") =>
  `apiVersion: v1\nkind: Service\nmetadata:\n  ${meta}\nspec:\n${spec.replace(/^/gm, "  ")}\n`;

/** [title, manifest, fields expected to be reported (exact set, in order); [] = accepted] */
const CASES: [string, string, string[]][] = [
  // --- Service: good
  ["minimal ClusterIP", svc("ports:\n- port: 80"), []],
  ["named targetPort", svc("ports:\n- port: 80\n  targetPort: http"), []],
  ["two named ports", svc("ports:\n- name: a\n  port: 80\n- name: b\n  port: 81"), []],
  [
    "same port, TCP and UDP",
    svc("ports:\n- name: dns\n  port: 53\n- name: dns-tcp\n  port: 53\n  protocol: TCP"),
    ["spec.ports[1].port"],
  ],
  ["TCP and UDP on one number", svc("ports:\n- name: a\n  port: 53\n  protocol: UDP\n- name: b\n  port: 53"), []],
  ["headless without ports", svc("clusterIP: None\nselector:\n  app: x"), []],
  ["ExternalName", svc("type: ExternalName\nexternalName: example.com"), []],
  ["explicit clusterIP", svc("clusterIP: 127.96.0.10\nports:\n- port: 80"), []],
  ["NodePort with explicit nodePort", svc("type: NodePort\nports:\n- port: 80\n  nodePort: 30080"), []],
  [
    "LoadBalancer Local with health port",
    svc("type: LoadBalancer\nexternalTrafficPolicy: Local\nhealthCheckNodePort: 31000\nports:\n- port: 80"),
    [],
  ],
  ["externalIPs on loopback", svc("externalIPs: [127.0.0.5]\nports:\n- port: 80"), []],
  [
    "ClientIP affinity",
    svc("sessionAffinity: ClientIP\nsessionAffinityConfig:\n  clientIP:\n    timeoutSeconds: 60\nports:\n- port: 80"),
    [],
  ],
  ["PreferDualStack on a single-stack cluster", svc("ipFamilyPolicy: PreferDualStack\nports:\n- port: 80"), []],
  [
    "IPv6 asked of a single-stack cluster",
    svc("ipFamilyPolicy: PreferDualStack\nipFamilies: [IPv4, IPv6]\nports:\n- port: 80"),
    ["spec.ipFamilies[1]"],
  ],
  // --- Service: broken
  [
    "no metadata.name",
    "apiVersion: v1\nkind: Service\nmetadata: {}\nspec:\n  ports:\n  - port: 80\n",
    ["metadata.name"],
  ],
  ["generateName only", svc("ports:\n- port: 80", "generateName: web-"), ["metadata.name"]],
  ["name not DNS-1035", svc("ports:\n- port: 80", "name: 1web"), ["metadata.name"]],
  ["bad namespace", svc("ports:\n- port: 80", "name: web\n  namespace: Prod"), ["metadata.namespace"]],
  [
    "label value not a string",
    svc("ports:\n- port: 80", "name: web\n  labels:\n    tier: 1"),
    ['metadata.labels["tier"]'],
  ],
  ["no spec", "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n", ["spec"]],
  ["no ports", svc("selector:\n  app: x"), ["spec.ports"]],
  ["port out of range", svc("ports:\n- port: 0"), ["spec.ports[0].port"]],
  ["port as string", svc("ports:\n- port: '80'"), ["spec.ports[0].port"]],
  ["bad protocol", svc("ports:\n- port: 80\n  protocol: HTTP"), ["spec.ports[0].protocol"]],
  ["targetPort numeric string", svc("ports:\n- port: 80\n  targetPort: '8080'"), ["spec.ports[0].targetPort"]],
  ["targetPort too big", svc("ports:\n- port: 80\n  targetPort: 70000"), ["spec.ports[0].targetPort"]],
  [
    "targetPort name too long",
    svc("ports:\n- port: 80\n  targetPort: a-very-long-port-name"),
    ["spec.ports[0].targetPort"],
  ],
  ["unnamed second port", svc("ports:\n- name: a\n  port: 80\n- port: 81"), ["spec.ports[1].name"]],
  ["duplicate port names", svc("ports:\n- name: a\n  port: 80\n- name: a\n  port: 81"), ["spec.ports[1].name"]],
  ["nodePort on ClusterIP", svc("ports:\n- port: 80\n  nodePort: 30080"), ["spec.ports[0].nodePort"]],
  ["nodePort out of range", svc("type: NodePort\nports:\n- port: 80\n  nodePort: 8080"), ["spec.ports[0].nodePort"]],
  ["bad type", svc("type: Internal\nports:\n- port: 80"), ["spec.type"]],
  ["bad clusterIP", svc("clusterIP: 10.0.0.300\nports:\n- port: 80"), ["spec.clusterIP"]],
  [
    "clusterIPs disagree",
    svc("clusterIP: 127.96.0.10\nclusterIPs: [127.96.0.11]\nports:\n- port: 80"),
    ["spec.clusterIPs[0]"],
  ],
  ["two IPv4 clusterIPs", svc("clusterIPs: [127.96.0.10, 127.96.0.11]\nports:\n- port: 80"), ["spec.clusterIPs[1]"]],
  [
    "SingleStack with two families",
    svc("ipFamilyPolicy: SingleStack\nipFamilies: [IPv4, IPv6]\nports:\n- port: 80"),
    ["spec.ipFamilyPolicy"],
  ],
  ["bad externalIP", svc("externalIPs: [not-an-ip]\nports:\n- port: 80"), ["spec.externalIPs[0]"]],
  ["unspecified externalIP", svc("externalIPs: [0.0.0.0]\nports:\n- port: 80"), ["spec.externalIPs[0]"]],
  ["ExternalName without name", svc("type: ExternalName"), ["spec.externalName"]],
  ["ETP on plain ClusterIP", svc("externalTrafficPolicy: Local\nports:\n- port: 80"), ["spec.externalTrafficPolicy"]],
  [
    "health port without Local",
    svc("type: LoadBalancer\nhealthCheckNodePort: 31000\nports:\n- port: 80"),
    ["spec.healthCheckNodePort"],
  ],
  [
    "affinity timeout too long",
    svc(
      "sessionAffinity: ClientIP\nsessionAffinityConfig:\n  clientIP:\n    timeoutSeconds: 100000\nports:\n- port: 80",
    ),
    ["spec.sessionAffinityConfig.clientIP.timeoutSeconds"],
  ],
  [
    "source ranges on ClusterIP",
    svc("loadBalancerSourceRanges: [10.0.0.0/8]\nports:\n- port: 80"),
    ["spec.loadBalancerSourceRanges"],
  ],
  [
    "bad source range",
    svc("type: LoadBalancer\nloadBalancerSourceRanges: [10.0.0.0/40]\nports:\n- port: 80"),
    ["spec.loadBalancerSourceRanges[0]"],
  ],
  // --- EndpointSlice
  [
    "EndpointSlice good",
    "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: web-abc\n  labels:\n    kubernetes.io/service-name: web\naddressType: IPv4\nendpoints:\n- addresses: [127.244.0.1]\n  conditions: {ready: true}\nports:\n- port: 8080\n",
    [],
  ],
  [
    "EndpointSlice bad addressType",
    "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: web-abc\naddressType: IPv5\nendpoints: []\n",
    ["addressType"],
  ],
  [
    "EndpointSlice address of the other family",
    "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: web-abc\naddressType: IPv4\nendpoints:\n- addresses: ['::1']\n",
    ["endpoints[0].addresses[0]"],
  ],
  [
    "EndpointSlice FQDN address",
    "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: web-abc\naddressType: FQDN\nendpoints:\n- addresses: [Bad_Host]\n",
    ["endpoints[0].addresses[0]"],
  ],
  [
    "EndpointSlice without addresses, bad port",
    "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: web-abc\naddressType: IPv4\nendpoints:\n- conditions: {ready: yes}\nports:\n- port: 0\n",
    ["endpoints[0].addresses", "ports[0].port"],
  ],
  [
    "EndpointSlice ready as a string",
    "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: web-abc\naddressType: IPv4\nendpoints:\n- addresses: [127.0.0.1]\n  conditions: {ready: 'true'}\n",
    ["endpoints[0].conditions.ready"],
  ],
  // --- Endpoints
  [
    "Endpoints bad ip and unnamed ports",
    "apiVersion: v1\nkind: Endpoints\nmetadata:\n  name: web\nsubsets:\n- addresses:\n  - ip: 127.244.0.300\n  ports:\n  - port: 80\n  - port: 81\n",
    ["subsets[0].addresses[0].ip", "subsets[0].ports[0].name", "subsets[0].ports[1].name"],
  ],
  // --- Ingress
  [
    "Ingress good",
    "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: test\nspec:\n  rules:\n  - host: '*.bar.com'\n    http:\n      paths:\n      - path: /foo\n        pathType: Prefix\n        backend:\n          service:\n            name: s1\n            port:\n              number: 80\n",
    [],
  ],
  [
    "Ingress from extensions/v1beta1",
    "apiVersion: extensions/v1beta1\nkind: Ingress\nmetadata:\n  name: test-ingress\nspec:\n  backend:\n    serviceName: testsvc\n    servicePort: 80\n",
    ["apiVersion"],
  ],
  [
    "Ingress without pathType and with both port forms",
    "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: test\nspec:\n  rules:\n  - host: foo.bar.com\n    http:\n      paths:\n      - path: /foo\n        backend:\n          service:\n            name: s1\n            port: {number: 80, name: http}\n",
    ["spec.rules[0].http.paths[0].pathType", "spec.rules[0].http.paths[0].backend.service.port"],
  ],
  [
    "Ingress with neither rules nor default backend",
    "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: test\nspec:\n  tls:\n  - hosts: [foo.bar.com]\n",
    ["spec"],
  ],
  [
    "Ingress host is an IP, relative path",
    "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: test\nspec:\n  rules:\n  - host: 10.0.0.1\n    http:\n      paths:\n      - path: foo\n        pathType: Exact\n        backend:\n          service: {name: s1, port: {number: 80}}\n",
    ["spec.rules[0].host", "spec.rules[0].http.paths[0].path"],
  ],
  // --- IngressClass
  [
    "IngressClass without controller",
    "apiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata:\n  name: nodeplane\nspec: {}\n",
    ["spec.controller"],
  ],
  // --- Secret
  [
    "TLS Secret from stringData",
    "apiVersion: v1\nkind: Secret\nmetadata:\n  name: tls\ntype: kubernetes.io/tls\nstringData:\n  tls.crt: CERT\n  tls.key: KEY\n",
    [],
  ],
  [
    "TLS Secret with bad base64 and no key",
    "apiVersion: v1\nkind: Secret\nmetadata:\n  name: tls\ntype: kubernetes.io/tls\ndata:\n  tls.crt: '***'\n",
    ['data["tls.crt"]', 'data["tls.key"]'],
  ],
  // --- Node
  [
    "Node with a bad InternalIP",
    "apiVersion: v1\nkind: Node\nmetadata:\n  name: node-1\nstatus:\n  addresses:\n  - type: InternalIP\n    address: node-1\n  - type: Hostname\n    address: node-1\n",
    ["status.addresses[0].address"],
  ],
  [
    "Node with an unknown address type",
    "apiVersion: v1\nkind: Node\nmetadata:\n  name: node-1\nstatus:\n  addresses:\n  - type: PublicIP\n    address: 1.2.3.4\n",
    ["status.addresses[0].type"],
  ],
  // --- Pod
  [
    "Pod with status",
    "apiVersion: v1\nkind: Pod\nmetadata:\n  name: busybox\nspec:\n  containers:\n  - name: busybox\n    image: busybox:1.28\nstatus:\n  podIP: 127.244.9.9\n",
    [],
  ],
  [
    "Pod with mismatched podIPs",
    "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nstatus:\n  podIP: 127.244.9.9\n  podIPs:\n  - ip: 127.244.9.8\n",
    ["status.podIPs[0]"],
  ],
  [
    "Pod with a bad IP",
    "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nstatus:\n  podIP: 127.244.9\n",
    ["status.podIP"],
  ],
];

describe("manifest validation", () => {
  it.each(CASES)("%s", (_title, manifest, fields) => {
    const result = compileYaml(manifest);
    expect(result.problems.map((p) => p.field)).toEqual(fields);
    for (const p of result.problems) {
      expect(p.origin).toBe("m.yaml#1");
      expect(p.message).not.toBe("");
    }
    const stored = Object.values(result.objects).flat().length;
    if (fields.length > 0) expect(stored).toBe(0);
  });

  it("accepted objects land in the store kinds", () => {
    for (const [title, manifest, fields] of CASES) {
      if (fields.length > 0) continue;
      const stored = Object.values(compileYaml(manifest).objects).flat().length;
      expect(stored, title).toBe(1);
    }
  });
});

describe("manifest parsing", () => {
  it("reads multi-document YAML, Lists and typed lists, defaulting the namespace", () => {
    const result = compileFiles({
      "a.yaml": `${svc("ports:\n- port: 80", "name: one")}---\n# only a comment\n---\n${svc("ports:\n- port: 80", "name: two\n  namespace: prod")}`,
      "b.yaml": `apiVersion: v1\nkind: List\nitems:\n- ${svc("ports:\n- port: 81", "name: three").replace(/\n/g, "\n  ")}`,
      "c.json": JSON.stringify({
        apiVersion: "v1",
        kind: "ServiceList",
        items: [{ metadata: { name: "four" }, spec: { ports: [{ port: 82 }] } }],
      }),
    });
    expect(problemLines(result)).toEqual([]);
    expect(result.objects.Service.map((s) => `${s.metadata?.namespace}/${s.metadata?.name}`)).toEqual([
      "default/one",
      "prod/two",
      "default/three",
      "default/four",
    ]);
  });

  it("accepts a byte-order mark and CRLF line ends", () => {
    const text = `\uFEFF${svc("ports:\n- port: 80", "name: one")}`.replace(/\n/g, "\r\n");
    const result = compileFiles({
      "a.yaml": text,
      "b.json": `\uFEFF{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"}}`,
    });
    expect(problemLines(result)).toEqual([]);
    expect(result.objects.Service).toHaveLength(1);
    expect(result.objects.Pod).toHaveLength(1);
  });

  it("reports syntax errors per document and keeps the other documents", () => {
    const result = compileFiles({
      "a.yaml": `${svc("ports:\n- port: 80", "name: one")}---\nkind: Service\n  bad: indent: here\n---\n${svc("ports:\n- port: 80", "name: two")}`,
      "b.json": "{ not json",
    });
    expect(result.objects.Service.map((s) => s.metadata?.name)).toEqual(["one", "two"]);
    expect(result.problems.map((p) => `${p.kind} ${p.origin}`)).toEqual(["Document a.yaml#2", "Document b.json#1"]);
    expect(result.problems[0]!.message).toMatch(/not valid YAML/);
    expect(result.problems[1]!.message).toMatch(/not valid JSON/);
  });

  it("names list items in the origin", () => {
    const result = compileYaml(
      `apiVersion: v1\nkind: List\nitems:\n- ${svc("ports:\n- port: 80", "name: ok").replace(/\n/g, "\n  ")}\n- ${svc("ports:\n- port: 0", "name: bad").replace(/\n/g, "\n  ")}`,
    );
    expect(problemLines(result)).toEqual(["Service m.yaml#1 items[1] spec.ports[0].port: 0 is out of range (1-65535)"]);
    expect(result.objects.Service).toHaveLength(1);
  });

  it("ignores unknown kinds, non-TLS Secrets and reports documents without kind", () => {
    const result = compileYaml(
      "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: hello-nginx\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  a: b\n---\nmetadata:\n  name: x\n---\n42\n",
    );
    expect(result.ignored.map((i) => `${i.kind} ${i.name}`)).toEqual(["Deployment hello-nginx", "Secret s"]);
    expect(problemLines(result)).toEqual([
      "Document m.yaml#3 kind: required",
      "Document m.yaml#4 -: must be a Kubernetes object (a mapping), not a value",
    ]);
  });

  it("reports the later of two objects with the same name", () => {
    const result = compileFiles({
      "a.yaml": svc("ports:\n- port: 80"),
      "b.yaml": svc("ports:\n- port: 81"),
    });
    expect(problemLines(result)).toEqual([
      "Service b.yaml#1 metadata.name: duplicate: Service default/web is already defined in a.yaml#1; this one is skipped",
    ]);
    expect(result.objects.Service[0]!.spec?.ports?.[0]?.port).toBe(80);
  });

  it("applies API defaults", () => {
    const result = compileYaml(
      `${svc("type: LoadBalancer\nsessionAffinity: ClientIP\nports:\n- port: 80")}---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: tls\ntype: kubernetes.io/tls\ndata:\n  tls.crt: Q0VSVA==\nstringData:\n  tls.key: KEY\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nstatus:\n  podIP: 127.244.0.1\n`,
    );
    const spec = result.objects.Service[0]!.spec!;
    expect(spec).toMatchObject({
      type: "LoadBalancer",
      sessionAffinity: "ClientIP",
      sessionAffinityConfig: { clientIP: { timeoutSeconds: 10800 } },
      internalTrafficPolicy: "Cluster",
      externalTrafficPolicy: "Cluster",
      allocateLoadBalancerNodePorts: true,
      ports: [{ port: 80, protocol: "TCP", targetPort: 80 }],
    });
    expect(spec.ports![0]!.nodePort).toBeGreaterThanOrEqual(30000);
    expect(result.objects.Secret[0]!.data).toEqual({ "tls.crt": "Q0VSVA==", "tls.key": "S0VZ" });
    expect(result.objects.Secret[0]!.stringData).toBeUndefined();
    expect(result.objects.Pod[0]!.status?.podIPs).toEqual([{ ip: "127.244.0.1" }]);
  });
});
