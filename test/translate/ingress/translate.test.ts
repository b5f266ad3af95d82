import { describe, expect, it } from "vitest";
import { generateDefaultCertificate } from "../../../src/planes/ingress/certificates.ts";
import type { IngressSnapshot } from "../../../src/snapshot/ingress.ts";
import { DEFAULT_MAX_BODY_BYTES } from "../../../src/translate/ingress/annotations.ts";
import { ing, svc, translate } from "./fixtures.ts";

const ourClass = (name: string, isDefault = false, controller = "nodeplane.dev/ingress") => ({
  kind: "IngressClass" as const,
  metadata: { name, ...(isDefault ? { annotations: { "ingressclass.kubernetes.io/is-default-class": "true" } } : {}) },
  spec: { controller },
});

const routesOf = (snapshot: IngressSnapshot) =>
  snapshot.hosts.flatMap((h) => h.routes.map((r) => `${r.ingress.name} ${h.host || "*"}${r.path}`));

describe("ingress class selection", () => {
  const paths = [{ path: "/", pathType: "Prefix" }];
  it.each([
    ["ingressClassName = configured class, no IngressClass object", [], { className: "nodeplane" }, {}, true],
    [
      "ingressClassName names another controller's class",
      [ourClass("nginx", false, "k8s.io/ingress-nginx")],
      { className: "nginx" },
      {},
      false,
    ],
    ["ingressClassName names a class with our controller", [ourClass("edge")], { className: "edge" }, {}, true],
    [
      "configured name taken by another controller's class",
      [ourClass("nodeplane", false, "other")],
      { className: "nodeplane" },
      {},
      false,
    ],
    ["legacy annotation", [], { className: null }, { "kubernetes.io/ingress.class": "nodeplane" }, true],
    ["legacy annotation for another class", [], { className: null }, { "kubernetes.io/ingress.class": "nginx" }, false],
    ["classless, our class not default", [ourClass("nodeplane")], { className: null }, {}, false],
    ["classless, our class is default", [ourClass("nodeplane", true)], { className: null }, {}, true],
    [
      "classless, another controller's class is default",
      [ourClass("nginx", true, "other")],
      { className: null },
      {},
      false,
    ],
  ] as const)("%s → ours=%s", (_name, classes, spec, annotations, ours) => {
    const { snapshot } = translate([
      ...svc("web"),
      ...classes,
      ing("a", { className: spec.className, rules: [{ host: "a.com", paths }] }, { annotations }),
    ]);
    expect(snapshot.ingresses).toEqual([{ namespace: "default", name: "a", ours, current: [] }]);
    expect(routesOf(snapshot)).toEqual(ours ? ["a a.com/"] : []);
  });
});

describe("conflicts, validation and default backends", () => {
  it("merges paths across Ingresses for a host; the oldest wins a conflict, reported on the loser", () => {
    const { snapshot, problems } = translate([
      ...svc("web"),
      ...svc("other"),
      ing(
        "young",
        {
          rules: [
            {
              host: "a.com",
              paths: [
                { path: "/x", pathType: "Prefix", service: "other" },
                { path: "/y", pathType: "Prefix" },
              ],
            },
          ],
        },
        { created: "2024-02-01T00:00:00Z" },
      ),
      ing(
        "old",
        { rules: [{ host: "a.com", paths: [{ path: "/x/", pathType: "Prefix" }] }] },
        { created: "2024-01-01T00:00:00Z" },
      ),
    ]);
    expect(routesOf(snapshot)).toEqual(["old a.com/x/", "young a.com/y"]);
    expect(problems).toEqual([
      expect.objectContaining({
        name: "young",
        field: "spec.rules[0].http.paths[0].path",
        message: expect.stringContaining("default/old"),
      }),
    ]);
  });

  it.each([
    ["host with uppercase", { host: "Foo.com", paths: [{ path: "/", pathType: "Prefix" }] }, "spec.rules[0].host"],
    ["IP host", { host: "10.0.0.1", paths: [{ path: "/", pathType: "Prefix" }] }, "spec.rules[0].host"],
    ["host with port", { host: "foo.com:80", paths: [{ path: "/", pathType: "Prefix" }] }, "spec.rules[0].host"],
    ["lone wildcard", { host: "*", paths: [{ path: "/", pathType: "Prefix" }] }, "spec.rules[0].host"],
    ["inner wildcard", { host: "a.*.com", paths: [{ path: "/", pathType: "Prefix" }] }, "spec.rules[0].host"],
    [
      "relative path",
      { host: "a.com", paths: [{ path: "foo", pathType: "Prefix" }] },
      "spec.rules[0].http.paths[0].path",
    ],
    ["missing pathType", { host: "a.com", paths: [{ path: "/foo" }] }, "spec.rules[0].http.paths[0].pathType"],
    [
      "bad pathType",
      { host: "a.com", paths: [{ path: "/foo", pathType: "Regex" }] },
      "spec.rules[0].http.paths[0].path",
    ],
    [
      "Prefix with //",
      { host: "a.com", paths: [{ path: "/a//b", pathType: "Prefix" }] },
      "spec.rules[0].http.paths[0].path",
    ],
    [
      "Exact with /../",
      { host: "a.com", paths: [{ path: "/a/../b", pathType: "Exact" }] },
      "spec.rules[0].http.paths[0].path",
    ],
    [
      "Exact ending /.",
      { host: "a.com", paths: [{ path: "/a/.", pathType: "Exact" }] },
      "spec.rules[0].http.paths[0].path",
    ],
    [
      "Prefix with %2F",
      { host: "a.com", paths: [{ path: "/a%2Fb", pathType: "Prefix" }] },
      "spec.rules[0].http.paths[0].path",
    ],
    ["Exact without path", { host: "a.com", paths: [{ pathType: "Exact" }] }, "spec.rules[0].http.paths[0].path"],
    [
      "regex path",
      { host: "a.com", paths: [{ path: "/a/(.*)", pathType: "ImplementationSpecific" }] },
      "spec.rules[0].http.paths[0].path",
    ],
  ])("reports and skips: %s", (_name, badRule, field) => {
    const { snapshot, problems } = translate([
      ...svc("web"),
      ing("bad", { rules: [badRule, { host: "good.com", paths: [{ path: "/", pathType: "Prefix" }] }] }),
      ing("fine", { rules: [{ host: "fine.com", paths: [{ path: "/", pathType: "Prefix" }] }] }),
    ]);
    expect(problems).toEqual([expect.objectContaining({ kind: "Ingress", name: "bad", field })]);
    expect(routesOf(snapshot)).toEqual(["fine fine.com/", "bad good.com/"]);
  });

  it("uses an Ingress's defaultBackend for its hosts and a rule-less Ingress's as the cluster default", () => {
    const { snapshot, problems } = translate([
      ...svc("web"),
      ...svc("fallback"),
      ...svc("catchall"),
      ing("hosts", {
        rules: [{ host: "a.com", paths: [{ path: "/x", pathType: "Prefix" }] }],
        defaultBackend: "fallback",
      }),
      ing("test-ingress", { defaultBackend: "catchall" }, { created: "2024-01-01T00:00:00Z" }),
      ing("second", { defaultBackend: "web" }, { created: "2024-02-01T00:00:00Z" }),
    ]);
    expect(snapshot.hosts.find((h) => h.host === "a.com")?.defaultRoute?.backend.service).toBe("fallback");
    expect(snapshot.defaultRoute?.backend.service).toBe("catchall");
    expect(problems).toEqual([expect.objectContaining({ name: "second", field: "spec.defaultBackend" })]);
  });
});

describe("backends", () => {
  it("resolves a port by number or name to the slice port of the same name, ready endpoints only", () => {
    const { snapshot } = translate([
      ...svc("web", ["10.0.0.2", "10.0.0.1"]),
      ing("a", {
        rules: [
          {
            host: "a.com",
            paths: [
              { path: "/n", pathType: "Prefix", port: 80 },
              { path: "/s", pathType: "Prefix", port: "https" },
            ],
          },
        ],
      }),
    ]);
    const [n, s] = snapshot.hosts[0]!.routes;
    expect(n!.backend).toMatchObject({
      id: "default/web:80",
      endpoints: [
        { ip: "10.0.0.1", port: 8080 },
        { ip: "10.0.0.2", port: 8080 },
      ],
    });
    expect(s!.backend).toMatchObject({
      id: "default/web:https",
      endpoints: [
        { ip: "10.0.0.1", port: 8443 },
        { ip: "10.0.0.2", port: 8443 },
      ],
    });
  });

  it.each([
    [
      "ready ones when any is ready",
      [{ ready: true }, { ready: false, serving: true, terminating: true }],
      ["10.0.1.0"],
    ],
    [
      "serving+terminating when none is ready",
      [
        { ready: false, serving: true, terminating: true },
        { ready: false, serving: false, terminating: true },
      ],
      ["10.0.1.0"],
    ],
    ["none when nothing serves", [{ ready: false, serving: false }], []],
    ["unknown readiness counts as ready", [{}], ["10.0.1.0"]],
  ])("endpoints: %s", (_name, conditions, expected) => {
    const objects = svc("web", []);
    const slice = objects[1] as { endpoints: unknown[] };
    slice.endpoints = conditions.map((c, i) => ({ addresses: [`10.0.1.${i}`], conditions: c }));
    const { snapshot } = translate([...objects, ing("a", { rules: [{ paths: [{ path: "/", pathType: "Prefix" }] }] })]);
    expect(snapshot.hosts[0]!.routes[0]!.backend.endpoints.map((e) => e.ip)).toEqual(expected);
  });

  it.each([
    ["a repeated address once, in address order", [["10.0.1.5"], ["10.0.1.5"], ["10.0.1.2"]], ["10.0.1.2", "10.0.1.5"]],
    [
      "a repeated serving+terminating address once",
      [
        ["10.0.1.5", false],
        ["10.0.1.5", false],
      ],
      ["10.0.1.5"],
    ],
    // the first copy decides: terminating first, so its later ready copy is not among the ready ones
    ["the first copy of an address decides its list", [["10.0.1.5", false], ["10.0.1.5"], ["10.0.1.2"]], ["10.0.1.2"]],
  ] as [string, [string, boolean?][], string[]][])("endpoints: %s", (_name, endpoints, expected) => {
    const objects = svc("web", []);
    const slice = objects[1] as { endpoints: unknown[] };
    slice.endpoints = endpoints.map(([ip, ready = true]) => ({
      addresses: [ip],
      conditions: ready ? { ready: true } : { ready: false, serving: true, terminating: true },
    }));
    const { snapshot } = translate([...objects, ing("a", { rules: [{ paths: [{ path: "/", pathType: "Prefix" }] }] })]);
    expect(snapshot.hosts[0]!.routes[0]!.backend.endpoints.map((e) => e.ip)).toEqual(expected);
  });

  it.each([
    ["missing Service", "nope", 80, 'Service "default/nope" not found'],
    ["missing port number", "web", 81, "has no port 81"],
    ["missing port name", "web", "grpc", 'has no port "grpc"'],
  ])("keeps the route with no endpoints (503) and reports: %s", (_name, service, port, message) => {
    const { snapshot, problems } = translate([
      ...svc("web"),
      ing("a", { rules: [{ paths: [{ path: "/", pathType: "Prefix", service, port }] }] }),
    ]);
    expect(snapshot.hosts[0]!.routes[0]!.backend.endpoints).toEqual([]);
    expect(problems).toEqual([
      expect.objectContaining({
        field: "spec.rules[0].http.paths[0].backend.service",
        message: expect.stringContaining(message),
      }),
    ]);
  });
});

describe("annotations", () => {
  const settingsFor = (annotations: Record<string, string>) => {
    const { snapshot, problems } = translate([
      ...svc("web"),
      ing("a", { rules: [{ paths: [{ path: "/", pathType: "Prefix" }] }] }, { annotations }),
    ]);
    return { settings: snapshot.hosts[0]!.routes[0]!.settings, problems: problems.map((p) => p.field) };
  };
  const N = "nodeplane.dev/";
  const X = "nginx.ingress.kubernetes.io/";
  it.each([
    ["defaults", {}, { sslRedirect: true, backendProtocol: "HTTP", maxBodyBytes: DEFAULT_MAX_BODY_BYTES }, []],
    ["rewrite-target", { [`${N}rewrite-target`]: "/$2" }, { rewriteTarget: "/$2" }, []],
    [
      "rewrite-target bad",
      { [`${N}rewrite-target`]: "no-slash" },
      { rewriteTarget: undefined },
      [`metadata.annotations["${N}rewrite-target"]`],
    ],
    [
      "rewrite-target $3",
      { [`${N}rewrite-target`]: "/$3" },
      { rewriteTarget: undefined },
      [`metadata.annotations["${N}rewrite-target"]`],
    ],
    ["ssl-redirect false (nginx alias)", { [`${X}ssl-redirect`]: "false" }, { sslRedirect: false }, []],
    [
      "ssl-redirect bad",
      { [`${N}ssl-redirect`]: "nope" },
      { sslRedirect: true },
      [`metadata.annotations["${N}ssl-redirect"]`],
    ],
    [
      "nodeplane.dev wins over the alias",
      { [`${N}ssl-redirect`]: "true", [`${X}ssl-redirect`]: "false" },
      { sslRedirect: true },
      [],
    ],
    ["backend-protocol https", { [`${X}backend-protocol`]: "HTTPS" }, { backendProtocol: "HTTPS" }, []],
    [
      "backend-protocol grpc",
      { [`${X}backend-protocol`]: "GRPC" },
      { backendProtocol: "HTTP" },
      [`metadata.annotations["${X}backend-protocol"]`],
    ],
    ["proxy-body-size 8k", { [`${N}proxy-body-size`]: "8k" }, { maxBodyBytes: 8192 }, []],
    ["proxy-body-size 0", { [`${N}proxy-body-size`]: "0" }, { maxBodyBytes: 0 }, []],
    [
      "proxy-body-size bad",
      { [`${N}proxy-body-size`]: "10 MB" },
      { maxBodyBytes: DEFAULT_MAX_BODY_BYTES },
      [`metadata.annotations["${N}proxy-body-size"]`],
    ],
    [
      "timeouts",
      { [`${X}proxy-connect-timeout`]: "5", [`${N}proxy-read-timeout`]: "500ms", [`${N}proxy-send-timeout`]: "2m" },
      { connectTimeoutMs: 5000, readTimeoutMs: 500, sendTimeoutMs: 120000 },
      [],
    ],
    [
      "timeout bad",
      { [`${N}proxy-read-timeout`]: "-1" },
      { readTimeoutMs: undefined },
      [`metadata.annotations["${N}proxy-read-timeout"]`],
    ],
    [
      "affinity cookie",
      { [`${X}affinity`]: "cookie", [`${X}session-cookie-name`]: "route", [`${X}session-cookie-max-age`]: "60" },
      { affinity: { name: "route", maxAgeSeconds: 60, path: "/" } },
      [],
    ],
    ["affinity bad", { [`${N}affinity`]: "ip" }, { affinity: undefined }, [`metadata.annotations["${N}affinity"]`]],
    [
      "whitelist",
      { [`${X}whitelist-source-range`]: "10.0.0.0/8, 192.168.1.1" },
      { allowSourceRanges: ["10.0.0.0/8", "192.168.1.1"] },
      [],
    ],
    [
      "unknown nodeplane.dev key is reported",
      { [`${N}rewrite-targt`]: "/" },
      { rewriteTarget: undefined },
      [`metadata.annotations["${N}rewrite-targt"]`],
    ],
    [
      "an nginx snippet is reported, not applied",
      { [`${X}configuration-snippet`]: "more_set_headers x" },
      {},
      [`metadata.annotations["${X}configuration-snippet"]`],
    ],
    [
      "an unsupported nginx key is reported, not applied",
      { [`${X}auth-url`]: "http://auth.example/verify" },
      {},
      [`metadata.annotations["${X}auth-url"]`],
    ],
    [
      "whitelist bad fails closed",
      { [`${N}whitelist-source-range`]: "10.0.0.0/8,nonsense" },
      { allowSourceRanges: [] },
      [`metadata.annotations["${N}whitelist-source-range"]`],
    ],
  ])("%s", (_name, annotations, expected, problems) => {
    const result = settingsFor(annotations as Record<string, string>);
    for (const [key, value] of Object.entries(expected))
      expect(result.settings[key as keyof typeof result.settings]).toEqual(value);
    expect(result.problems).toEqual(problems);
  });
});

describe("TLS", () => {
  const pemA = generateDefaultCertificate("a.com");
  const pemB = generateDefaultCertificate("b.com");
  const secret = (name: string, cert: string | undefined, key: string | undefined, type = "kubernetes.io/tls") => ({
    kind: "Secret" as const,
    metadata: { namespace: "default", name },
    type,
    data: {
      ...(cert ? { "tls.crt": Buffer.from(cert).toString("base64") } : {}),
      ...(key ? { "tls.key": Buffer.from(key).toString("base64") } : {}),
    },
  });
  const rules = [
    { host: "a.com", paths: [{ path: "/", pathType: "Prefix" }] },
    { host: "*.b.com", paths: [{ path: "/", pathType: "Prefix" }] },
  ];

  it("serves each listed host with its Secret's certificate and redirects those hosts to https", () => {
    const { snapshot, problems } = translate([
      ...svc("web"),
      secret("a", pemA.cert, pemA.key),
      ing("a", { rules, tls: [{ hosts: ["a.com", "*.b.com"], secretName: "a" }] }),
    ]);
    expect(problems).toEqual([]);
    expect(snapshot.certificates).toEqual([
      expect.objectContaining({ secret: "default/a", hosts: ["*.b.com", "a.com"] }),
    ]);
    expect(snapshot.certificates[0]!.keyPem).toBe(pemA.key);
    expect(JSON.stringify(snapshot)).not.toContain("PRIVATE KEY");
    expect(snapshot.hosts.map((h) => h.routes[0]!.redirectToHttps)).toEqual([true, true]);
  });

  it("a tls entry without hosts covers the Ingress's rule hosts, or becomes the default certificate", () => {
    const covered = translate([
      ...svc("web"),
      secret("a", pemA.cert, pemA.key),
      ing("a", { rules, tls: [{ secretName: "a" }] }),
    ]);
    expect(covered.snapshot.certificates[0]!.hosts).toEqual(["*.b.com", "a.com"]);
    const fallback = translate([
      ...svc("web"),
      secret("a", pemA.cert, pemA.key),
      ing("test-ingress", { defaultBackend: "web", tls: [{ secretName: "a" }] }),
    ]);
    expect(fallback.snapshot.certificates).toEqual([]);
    expect(fallback.snapshot.defaultCertificate?.secret).toBe("default/a");
    expect(fallback.snapshot.defaultRoute?.redirectToHttps).toBe(false);
  });

  it("ssl-redirect false keeps plain HTTP", () => {
    const { snapshot } = translate([
      ...svc("web"),
      secret("a", pemA.cert, pemA.key),
      ing(
        "a",
        { rules, tls: [{ hosts: ["a.com"], secretName: "a" }] },
        { annotations: { "nodeplane.dev/ssl-redirect": "false" } },
      ),
    ]);
    expect(snapshot.hosts.map((h) => h.routes[0]!.redirectToHttps)).toEqual([false, false]);
  });

  it.each([
    ["missing key", secret("a", pemA.cert, undefined), "Secret", "data[tls.key]"],
    ["key of another certificate", secret("a", pemA.cert, pemB.key), "Secret", "data[tls.key]"],
    ["not a certificate", secret("a", "garbage", pemA.key), "Secret", "data[tls.crt]"],
    ["wrong type", secret("a", pemA.cert, pemA.key, "Opaque"), "Secret", "type"],
  ])("a bad Secret (%s) is reported and its hosts fall back to the default certificate", (_name, bad, kind, field) => {
    const { snapshot, problems } = translate([
      ...svc("web"),
      bad,
      ing("a", { rules, tls: [{ hosts: ["a.com"], secretName: "a" }] }),
    ]);
    expect(snapshot.certificates).toEqual([]);
    expect(problems).toEqual([expect.objectContaining({ kind, field })]);
    expect(snapshot.hosts.find((h) => h.host === "a.com")!.routes[0]!.redirectToHttps).toBe(true);
  });

  it("reports a missing Secret on the Ingress", () => {
    const { problems } = translate([
      ...svc("web"),
      ing("a", { rules, tls: [{ hosts: ["a.com"], secretName: "gone" }] }),
    ]);
    expect(problems).toEqual([expect.objectContaining({ kind: "Ingress", field: "spec.tls[0].secretName" })]);
  });
});

describe("status addresses", () => {
  it("are the node addresses, or --publish-address", () => {
    expect(translate([]).snapshot.statusAddresses).toEqual([{ ip: "192.0.2.10" }]);
    expect(translate([], { publishAddresses: ["203.0.113.5"] }).snapshot.statusAddresses).toEqual([
      { ip: "203.0.113.5" },
    ]);
  });
});
