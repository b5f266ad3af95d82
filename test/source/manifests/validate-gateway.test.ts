import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { GATEWAY_KINDS } from "../../../src/model/k8s.ts";
import * as compilerModule from "../../../src/source/manifests/compile.ts";
import { compileFiles, compileYaml, problemLines } from "../helpers.ts";

const GW = "gateway.networking.k8s.io";

const doc = (kind: string, spec: string, version = "v1", meta = "name: x") =>
  `apiVersion: ${GW}/${version}\nkind: ${kind}\nmetadata:\n  ${meta}\nspec:\n${spec.replace(/^/gm, "  ")}\n`;

const gateway = (listeners: string, extra = "") =>
  doc("Gateway", `gatewayClassName: nodeplane\nlisteners:\n${listeners}${extra ? `\n${extra}` : ""}`);
const http = (port = 80, name = "http") => `- name: ${name}\n  port: ${port}\n  protocol: HTTP`;
const route = (rules: string, kind = "HTTPRoute") => doc(kind, `parentRefs:\n- name: gw\nrules:\n${rules}`);

/**
 * [title, manifest, fields expected to be reported (exact set, in order); [] = accepted]. The refusals are
 * the CRDs' (config/crd/standard/*.yaml of gateway-api v1.6.1): schema and simple CEL rules only.
 */
const CASES: [string, string, string[]][] = [
  // --- Namespace
  [
    "Namespace with labels",
    "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-a\n  labels:\n    env: prod\n",
    [],
  ],
  ["Namespace name not a DNS label", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team.a\n", ["metadata.name"]],
  // --- GatewayClass
  ["GatewayClass", doc("GatewayClass", "controllerName: nodeplane.dev/gateway-controller"), []],
  ["GatewayClass without controllerName", doc("GatewayClass", "description: x"), ["spec.controllerName"]],
  ["GatewayClass controllerName not a path", doc("GatewayClass", "controllerName: nodeplane"), ["spec.controllerName"]],
  ["GatewayClass without spec", `apiVersion: ${GW}/v1\nkind: GatewayClass\nmetadata:\n  name: x\n`, ["spec"]],
  // --- Gateway
  ["Gateway with an HTTP listener", gateway(http()), []],
  [
    "Gateway HTTPS with a certificate, wildcard hostname, selector",
    gateway(
      "- name: https\n  port: 443\n  protocol: HTTPS\n  hostname: '*.example.com'\n  tls:\n    certificateRefs:\n    - name: cert\n  allowedRoutes:\n    namespaces:\n      from: Selector\n      selector:\n        matchLabels:\n          env: prod\n        matchExpressions:\n        - key: team\n          operator: In\n          values: [a]\n    kinds:\n    - kind: HTTPRoute",
    ),
    [],
  ],
  ["Gateway without listeners", doc("Gateway", "gatewayClassName: nodeplane"), ["spec.listeners"]],
  ["Gateway without class", doc("Gateway", `listeners:\n${http()}`), ["spec.gatewayClassName"]],
  ["listener names repeated", gateway(`${http(80)}\n${http(81)}`), ["spec.listeners[1].name"]],
  ["listener port out of range", gateway(http(70000)), ["spec.listeners[0].port"]],
  ["listener port as a string", gateway("- name: a\n  port: '80'\n  protocol: HTTP"), ["spec.listeners[0].port"]],
  ["listener name with capitals", gateway(http(80, "Web")), ["spec.listeners[0].name"]],
  [
    "listener hostname an IP-like wildcard in the middle",
    gateway("- name: a\n  port: 80\n  protocol: HTTP\n  hostname: 'foo.*.com'"),
    ["spec.listeners[0].hostname"],
  ],
  [
    "listener hostname on TCP",
    gateway("- name: a\n  port: 9000\n  protocol: TCP\n  hostname: a.com"),
    ["spec.listeners[0].hostname"],
  ],
  [
    "HTTPS listener in Passthrough mode",
    gateway("- name: a\n  port: 443\n  protocol: HTTPS\n  tls:\n    mode: Passthrough"),
    ["spec.listeners[0].tls.mode"],
  ],
  ["TLS listener without mode", gateway("- name: a\n  port: 443\n  protocol: TLS"), ["spec.listeners[0].tls.mode"]],
  [
    "Terminate without certificates",
    gateway("- name: a\n  port: 443\n  protocol: HTTPS\n  tls:\n    mode: Terminate"),
    ["spec.listeners[0].tls.certificateRefs"],
  ],
  [
    "allowedRoutes from a bad value",
    gateway(`${http()}\n  allowedRoutes:\n    namespaces:\n      from: Everywhere`),
    ["spec.listeners[0].allowedRoutes.namespaces.from"],
  ],
  [
    "selector In without values",
    gateway(
      `${http()}\n  allowedRoutes:\n    namespaces:\n      from: Selector\n      selector:\n        matchExpressions:\n        - key: team\n          operator: In`,
    ),
    ["spec.listeners[0].allowedRoutes.namespaces.selector.matchExpressions[0].values"],
  ],
  ["port, protocol and hostname repeated", gateway(`${http(80, "a")}\n${http(80, "b")}`), ["spec.listeners[1]"]],
  [
    "unknown protocol name is accepted (the translator says UnsupportedProtocol)",
    gateway("- name: a\n  port: 80\n  protocol: SCTP"),
    [],
  ],
  ["addresses", gateway(http(), "addresses:\n- type: IPAddress\n  value: 127.0.0.2\n- value: 127.0.0.3"), []],
  // --- HTTPRoute
  [
    "HTTPRoute with matches, filters, weights",
    route(
      "- matches:\n  - path:\n      type: PathPrefix\n      value: /foo\n    headers:\n    - name: version\n      value: two\n    queryParams:\n    - name: q\n      value: x\n    method: GET\n  filters:\n  - type: RequestHeaderModifier\n    requestHeaderModifier:\n      set:\n      - name: X-A\n        value: b\n      remove: [x-b]\n  backendRefs:\n  - name: web\n    port: 80\n    weight: 0\n  timeouts:\n    request: 10s\n    backendRequest: 1m30s",
    ),
    [],
  ],
  ["HTTPRoute with no rules at all", doc("HTTPRoute", "parentRefs:\n- name: gw"), []],
  [
    "HTTPRoute path not absolute",
    route(
      "- matches:\n  - path:\n      type: PathPrefix\n      value: foo\n  backendRefs:\n  - name: web\n    port: 80",
    ),
    ["spec.rules[0].matches[0].path.value"],
  ],
  [
    "HTTPRoute path with '//'",
    route("- matches:\n  - path:\n      value: /a//b"),
    ["spec.rules[0].matches[0].path.value"],
  ],
  [
    "HTTPRoute regex path is not checked as a path",
    route("- matches:\n  - path:\n      type: RegularExpression\n      value: '^/(a|b)+$'"),
    [],
  ],
  [
    "HTTPRoute unknown path type",
    route("- matches:\n  - path:\n      type: Glob\n      value: /a"),
    ["spec.rules[0].matches[0].path.type"],
  ],
  ["HTTPRoute method lowercase", route("- matches:\n  - method: get"), ["spec.rules[0].matches[0].method"]],
  [
    "HTTPRoute header name with a space",
    route("- matches:\n  - headers:\n    - name: 'x y'\n      value: a"),
    ["spec.rules[0].matches[0].headers[0].name"],
  ],
  [
    "HTTPRoute backend Service without port",
    route("- backendRefs:\n  - name: web"),
    ["spec.rules[0].backendRefs[0].port"],
  ],
  [
    "HTTPRoute backend of another kind without port is fine",
    route("- backendRefs:\n  - name: web\n    group: example.com\n    kind: Bucket"),
    [],
  ],
  [
    "HTTPRoute weight negative",
    route("- backendRefs:\n  - name: web\n    port: 80\n    weight: -1"),
    ["spec.rules[0].backendRefs[0].weight"],
  ],
  ["HTTPRoute unknown filter type", route("- filters:\n  - type: Teleport"), ["spec.rules[0].filters[0].type"]],
  [
    "HTTPRoute CORS and ExtensionRef are schema-valid (the translator says UnsupportedValue)",
    route(
      "- filters:\n  - type: ExtensionRef\n    extensionRef:\n      group: example.com\n      kind: Thing\n      name: t",
    ),
    [],
  ],
  [
    "HTTPRoute filter without its field",
    route("- filters:\n  - type: RequestRedirect"),
    ["spec.rules[0].filters[0].requestRedirect"],
  ],
  [
    "HTTPRoute redirect with a bad status code",
    route("- filters:\n  - type: RequestRedirect\n    requestRedirect:\n      statusCode: 305"),
    ["spec.rules[0].filters[0].requestRedirect.statusCode"],
  ],
  [
    "HTTPRoute redirect and rewrite together",
    route(
      "- filters:\n  - type: RequestRedirect\n    requestRedirect:\n      scheme: https\n  - type: URLRewrite\n    urlRewrite:\n      hostname: a.com",
    ),
    ["spec.rules[0].filters"],
  ],
  [
    "HTTPRoute ReplacePrefixMatch without value",
    route("- filters:\n  - type: URLRewrite\n    urlRewrite:\n      path:\n        type: ReplacePrefixMatch"),
    ["spec.rules[0].filters[0].urlRewrite.path.replacePrefixMatch"],
  ],
  ["HTTPRoute bad timeout", route("- timeouts:\n    request: 10 seconds"), ["spec.rules[0].timeouts.request"]],
  [
    "HTTPRoute hostnames: wildcard fine, uppercase not",
    doc("HTTPRoute", "hostnames: ['*.example.com', Example.com]"),
    ["spec.hostnames[1]"],
  ],
  [
    "HTTPRoute parentRef sectionName and port",
    doc("HTTPRoute", "parentRefs:\n- name: gw\n  sectionName: http\n  port: 0"),
    ["spec.parentRefs[0].port"],
  ],
  [
    "HTTPRoute parentRef without name",
    doc("HTTPRoute", "parentRefs:\n- sectionName: http"),
    ["spec.parentRefs[0].name"],
  ],
  // --- GRPCRoute
  [
    "GRPCRoute service/method match",
    route(
      "- matches:\n  - method:\n      service: grpc.health.v1.Health\n      method: Check\n  backendRefs:\n  - name: grpc\n    port: 50051",
      "GRPCRoute",
    ),
    [],
  ],
  [
    "GRPCRoute method match with neither",
    route("- matches:\n  - method:\n      type: Exact", "GRPCRoute"),
    ["spec.rules[0].matches[0].method"],
  ],
  [
    "GRPCRoute URLRewrite is not a GRPCRoute filter",
    route("- filters:\n  - type: URLRewrite\n    urlRewrite:\n      hostname: a.com", "GRPCRoute"),
    ["spec.rules[0].filters[0].type"],
  ],
  // --- L4 routes
  ["TCPRoute", route("- backendRefs:\n  - name: db\n    port: 5432", "TCPRoute"), []],
  ["TCPRoute at v1alpha2", doc("TCPRoute", "rules:\n- backendRefs:\n  - name: db\n    port: 5432", "v1alpha2"), []],
  ["TCPRoute without backends", route("- {}", "TCPRoute"), ["spec.rules[0].backendRefs"]],
  ["UDPRoute without rules", doc("UDPRoute", "parentRefs:\n- name: gw"), ["spec.rules"]],
  [
    "TLSRoute with hostnames at v1alpha3",
    doc("TLSRoute", "hostnames: [a.example.com]\nrules:\n- backendRefs:\n  - name: tls\n    port: 443", "v1alpha3"),
    [],
  ],
  // --- ReferenceGrant
  [
    "ReferenceGrant",
    doc(
      "ReferenceGrant",
      "from:\n- group: gateway.networking.k8s.io\n  kind: HTTPRoute\n  namespace: a\nto:\n- group: ''\n  kind: Service",
    ),
    [],
  ],
  [
    "ReferenceGrant v1beta1, from without namespace, to without group",
    doc(
      "ReferenceGrant",
      "from:\n- group: gateway.networking.k8s.io\n  kind: HTTPRoute\nto:\n- kind: Service",
      "v1beta1",
    ),
    ["spec.from[0].namespace", "spec.to[0].group"],
  ],
  ["ReferenceGrant empty", doc("ReferenceGrant", "from: []\nto: []"), ["spec.from", "spec.to"]],
  // --- names
  [
    "Gateway name not a DNS subdomain",
    doc("Gateway", `gatewayClassName: a\nlisteners:\n${http()}`, "v1", "name: Gw"),
    ["metadata.name"],
  ],
];

describe("Gateway API manifests: validation as the CRDs refuse", () => {
  it.each(CASES)("%s", (_title, text, fields) => {
    const result = compileYaml(text);
    expect(result.problems.map((p) => p.field)).toEqual(fields);
    const kind = /kind: (\w+)/.exec(text)![1]! as keyof typeof result.objects;
    expect(result.objects[kind]).toHaveLength(fields.length === 0 ? 1 : 0);
  });

  it("an unknown apiVersion of a known kind names the versions accepted", () => {
    const result = compileYaml(doc("TCPRoute", "rules:\n- backendRefs:\n  - name: db\n    port: 5432", "v1beta9"));
    expect(problemLines(result)).toEqual([
      `TCPRoute m.yaml#1 apiVersion: ${GW}/v1beta9 TCPRoute is not supported; write it as one of ${GW}/v1, ${GW}/v1alpha2`,
    ]);
    const gw = compileYaml(doc("Gateway", `gatewayClassName: a\nlisteners:\n${http()}`, "v1beta1"));
    expect(problemLines(gw)).toEqual([
      `Gateway m.yaml#1 apiVersion: ${GW}/v1beta1 Gateway is not supported; write it as ${GW}/v1`,
    ]);
  });

  it("a bad document names file, object and field, and the rest are read", () => {
    const result = compileFiles({
      "a.yaml": `${gateway(http(0))}---\n${doc("GatewayClass", "controllerName: nodeplane.dev/gateway-controller", "v1", "name: nodeplane")}`,
      "b.yaml": route("- backendRefs:\n  - name: web\n    port: 80"),
    });
    expect(problemLines(result)).toEqual(["Gateway a.yaml#1 spec.listeners[0].port: 0 is out of range (1-65535)"]);
    expect(result.problems[0]).toMatchObject({ namespace: "default", name: "x" });
    expect(result.objects.GatewayClass.map((o) => o.metadata?.name)).toEqual(["nodeplane"]);
    expect(result.objects.HTTPRoute.map((o) => o.metadata?.name)).toEqual(["x"]);
  });

  it("scope, namespace default, metadata and generation", () => {
    const files = {
      "a.yaml": `${doc("GatewayClass", "controllerName: nodeplane.dev/gateway-controller", "v1", "name: c\n  namespace: ignored")}---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-a\n  labels: {env: prod}\n---\n${gateway(http())}`,
    };
    const { ManifestCompiler } = compilerModule;
    const compiler = new ManifestCompiler({
      serviceCIDRs: ["127.96.0.0/16"],
      nodePortRange: { min: 30000, max: 32767 },
      now: () => new Date("2025-01-01T00:00:00Z"),
    });
    const first = compileFiles(files, compiler);
    expect(first.problems).toEqual([]);
    expect(first.objects.GatewayClass[0]!.metadata).toMatchObject({ name: "c", generation: 1 });
    expect(first.objects.GatewayClass[0]!.metadata?.namespace).toBeUndefined();
    expect(first.objects.Namespace[0]!.metadata).toMatchObject({ name: "team-a", labels: { env: "prod" } });
    expect(first.objects.Namespace[0]!.metadata?.namespace).toBeUndefined();
    expect(first.objects.Gateway[0]!.metadata).toMatchObject({ namespace: "default", generation: 1 });
    // a label change keeps the generation; a spec change bumps it (as the API server counts)
    const relabelled = compileFiles(
      { "a.yaml": files["a.yaml"].replace("name: x", "name: x\n  labels: {a: b}") },
      compiler,
    );
    expect(relabelled.objects.Gateway[0]!.metadata?.generation).toBe(1);
    const changed = compileFiles({ "a.yaml": files["a.yaml"].replace("port: 80", "port: 81") }, compiler);
    expect(changed.objects.Gateway[0]!.metadata?.generation).toBe(2);
    expect(changed.objects.GatewayClass[0]!.metadata?.generation).toBe(1);
  });
});

const CONFORMANCE = join(import.meta.dirname, "fixtures/gateway-conformance");

describe("the Gateway API conformance suite's manifests (v1.6.1) are accepted, as the CRDs accept them", () => {
  const files = readdirSync(CONFORMANCE).filter((f) => f.endsWith(".yaml"));
  it("covers every Gateway API kind", () => {
    const all = compileFiles(Object.fromEntries(files.map((f) => [f, readFileSync(join(CONFORMANCE, f), "utf8")])));
    for (const kind of [...GATEWAY_KINDS.filter((k) => k !== "GatewayClass"), "Namespace"] as const)
      expect(all.objects[kind].length, kind).toBeGreaterThan(0);
  });
  it.each(files)("%s", (file) => {
    const text = readFileSync(join(CONFORMANCE, file), "utf8").replaceAll("{GATEWAY_CLASS_NAME}", "nodeplane");
    const result = compileFiles({ [file]: text });
    expect(problemLines(result)).toEqual([]);
  });
});

describe("Namespaces in manifests mode", () => {
  it("carry kubernetes.io/metadata.name; the ones objects use are made up when the folder has Gateway API objects", () => {
    const team = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-a\n  labels: {env: prod}\n";
    const svc = (ns: string) =>
      `apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: ${ns}}\nspec:\n  ports: [{port: 80}]\n`;
    const withGateway = compileFiles({
      "a.yaml": `${team}---\n${svc("shop")}---\n${svc("team-a")}---\n${route("- backendRefs:\n  - name: web\n    port: 80")}`,
    });
    expect(withGateway.problems).toEqual([]);
    expect(withGateway.objects.Namespace.map((n) => [n.metadata?.name, n.metadata?.labels])).toEqual([
      ["team-a", { env: "prod", "kubernetes.io/metadata.name": "team-a" }],
      ["default", { "kubernetes.io/metadata.name": "default" }],
      ["shop", { "kubernetes.io/metadata.name": "shop" }],
    ]);
    // the label cannot be set to another name
    const spoofed = compileFiles({
      "a.yaml": `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n  labels: {kubernetes.io/metadata.name: b}\n`,
    });
    expect(spoofed.objects.Namespace[0]!.metadata?.labels).toEqual({ "kubernetes.io/metadata.name": "a" });
    // without Gateway API objects nothing reads Namespaces: none is made up
    expect(compileFiles({ "a.yaml": svc("shop") }).objects.Namespace).toEqual([]);
  });
});
