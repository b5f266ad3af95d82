import { describe, expect, it } from "vitest";
import type { GRPCRoute, HTTPRoute, HTTPRouteRule } from "../../../src/model/gateway.ts";
import type { HttpRouteRule } from "../../../src/snapshot/gateway.ts";
import { type CompiledRoute, compileGrpcRoute, compileHttpRoute } from "../../../src/translate/gateway/http-rules.ts";
import { sortRules } from "../../../src/translate/gateway/precedence.ts";
import { ReferenceGrants } from "../../../src/translate/gateway/references.ts";
import {
  APP,
  backendNames,
  conformanceManifest,
  conformanceServices,
  firstMatch,
  grpcRoute,
  httpRoute,
  INFRA,
  type Obj,
  service,
  storeOf,
  type TestRequest,
  WEB,
} from "./rules-support.ts";

const GRPC_SERVICES = [
  ...service("grpc-infra-backend-v1", INFRA, { ips: ["10.4.0.1"] }),
  ...service("grpc-infra-backend-v2", INFRA, { ips: ["10.4.0.2"] }),
];

function compile(route: HTTPRoute, extra: Obj[] = []): CompiledRoute {
  const store = storeOf([...conformanceServices(), ...extra]);
  return compileHttpRoute(store, new ReferenceGrants(store), route);
}

function compileGrpc(route: GRPCRoute, extra: Obj[] = []): CompiledRoute {
  const store = storeOf([...GRPC_SERVICES, ...extra]);
  return compileGrpcRoute(store, new ReferenceGrants(store), route);
}

/** A conformance manifest's routes compiled together, sorted, and asked request by request. */
function conformanceTable(name: string, cases: [req: TestRequest, backend: string | undefined][], grpc = false): void {
  describe(`conformance: ${name}`, () => {
    const objects = conformanceManifest(name);
    const store = storeOf([...conformanceServices(), ...GRPC_SERVICES, ...objects]);
    const grants = new ReferenceGrants(store);
    const compiled = objects.flatMap((o) =>
      o.kind === "HTTPRoute"
        ? [compileHttpRoute(store, grants, o as HTTPRoute)]
        : o.kind === "GRPCRoute"
          ? [compileGrpcRoute(store, grants, o as GRPCRoute)]
          : [],
    );
    it("accepted, references resolved, no problems", () => {
      for (const c of compiled) {
        expect(c.notAccepted).toBeUndefined();
        expect(c.resolvedRefs).toEqual({ ok: true });
        expect(c.problems).toEqual([]);
      }
    });
    const sorted = sortRules(compiled.flatMap((c) => c.rules));
    for (const [req, backend] of cases) {
      const label = `${req.method ?? (grpc ? "POST" : "GET")} ${req.path}${req.query ? `?${new URLSearchParams(req.query)}` : ""} ${JSON.stringify(req.headers ?? {})} → ${backend ?? "404"}`;
      it(label, () => {
        const hit = firstMatch(sorted, req);
        if (backend === undefined) expect(hit).toBeUndefined();
        else expect(backendNames(hit)).toEqual([backend]);
      });
    }
  });
}

const V1 = "infra-backend-v1";
const V2 = "infra-backend-v2";
const V3 = "infra-backend-v3";

conformanceTable("httproute-matching", [
  [{ path: "/" }, V1],
  [{ path: "/example" }, V1],
  [{ path: "/", headers: { Version: "one" } }, V1],
  [{ path: "/v2" }, V2],
  [{ path: "/v2/example" }, V2],
  [{ path: "/", headers: { Version: "two" } }, V2],
  [{ path: "/v2/" }, V2],
  [{ path: "/v2example" }, V1],
  [{ path: "/foo/v2/example" }, V1],
]);

conformanceTable("httproute-header-matching", [
  [{ path: "/", headers: { Version: "one" } }, V1],
  [{ path: "/", headers: { Version: "two" } }, V2],
  [{ path: "/", headers: { Version: "two", Color: "orange" } }, V1],
  [{ path: "/", headers: { Version: "two", Color: "blue" } }, V2],
  [{ path: "/", headers: { Color: "orange" } }, undefined],
  [{ path: "/", headers: { "Some-Other-Header": "one" } }, undefined],
  [{ path: "/", headers: { Color: "blue" } }, V1],
  [{ path: "/", headers: { Color: "green" } }, V1],
  [{ path: "/", headers: { Color: "red" } }, V2],
  [{ path: "/", headers: { Color: "yellow" } }, V2],
  [{ path: "/", headers: { Color: "purple" } }, undefined],
]);

conformanceTable("httproute-query-param-matching", [
  [{ path: "/", query: { animal: "whale" } }, V1],
  [{ path: "/", query: { animal: "dolphin" } }, V2],
  [{ path: "/", query: { animal: "dolphin", color: "blue" } }, V3],
  [{ path: "/", query: { ANIMAL: "Whale" } }, V3],
  [{ path: "/", query: { animal: "whale", otherparam: "irrelevant" } }, V1],
  [{ path: "/", query: { animal: "dolphin", color: "yellow" } }, V2],
  [{ path: "/", query: { color: "blue" } }, undefined],
  [{ path: "/", query: { animal: "dog" } }, undefined],
  [{ path: "/", query: { animal: "whaledolphin" } }, undefined],
  [{ path: "/" }, undefined],
  [{ path: "/path1", query: { animal: "whale" } }, V1],
  [{ path: "/", headers: { version: "one" }, query: { animal: "whale" } }, V2],
  [{ path: "/path2", headers: { version: "two" }, query: { animal: "whale" } }, V3],
  [{ path: "/path3", query: { animal: "shark" } }, V1],
  [{ path: "/path4", headers: { version: "three" }, query: { animal: "kraken" } }, V1],
  [{ path: "/", query: { animal: "shark" } }, undefined],
  [{ path: "/path4", query: { animal: "kraken" } }, undefined],
  [{ path: "/path5", query: { animal: "hydra" } }, V1],
  [{ path: "/", headers: { version: "four" }, query: { animal: "hydra" } }, V3],
]);

conformanceTable("httproute-method-matching", [
  [{ method: "POST", path: "/" }, V1],
  [{ method: "GET", path: "/" }, V2],
  [{ method: "HEAD", path: "/" }, undefined],
  [{ method: "GET", path: "/path1" }, V1],
  [{ method: "PUT", path: "/", headers: { version: "one" } }, V2],
  [{ method: "POST", path: "/path2", headers: { version: "two" } }, V3],
  [{ method: "PATCH", path: "/path3" }, V1],
  [{ method: "DELETE", path: "/path4", headers: { version: "three" } }, V1],
  [{ method: "PUT", path: "/" }, undefined],
  [{ method: "DELETE", path: "/path4" }, undefined],
  [{ method: "PATCH", path: "/path5" }, V1],
  [{ method: "PATCH", path: "/", headers: { version: "four" } }, V2],
]);

const ECHO = "/gateway_api_conformance.echo_basic.grpcecho.GrpcEcho";
conformanceTable(
  "grpcroute-exact-method-matching",
  [
    [{ method: "POST", path: `${ECHO}/Echo` }, "grpc-infra-backend-v1"],
    [{ method: "POST", path: `${ECHO}/EchoTwo` }, "grpc-infra-backend-v2"],
    [{ method: "POST", path: `${ECHO}/EchoThree` }, undefined],
  ],
  true,
);

conformanceTable(
  "grpcroute-header-matching",
  [
    [{ method: "POST", path: `${ECHO}/Echo`, headers: { Version: "one" } }, "grpc-infra-backend-v1"],
    [{ method: "POST", path: `${ECHO}/Echo`, headers: { Version: "two" } }, "grpc-infra-backend-v2"],
    [{ method: "POST", path: `${ECHO}/Echo`, headers: { Version: "two", Color: "orange" } }, "grpc-infra-backend-v1"],
    [{ method: "POST", path: `${ECHO}/Echo`, headers: { Version: "two", Color: "blue" } }, "grpc-infra-backend-v2"],
    [{ method: "POST", path: `${ECHO}/Echo`, headers: { Color: "orange" } }, undefined],
    [{ method: "POST", path: `${ECHO}/Echo`, headers: { "Some-Other-Header": "one" } }, undefined],
    [{ method: "POST", path: `${ECHO}/Echo`, headers: { Color: "blue" } }, "grpc-infra-backend-v1"],
    [{ method: "POST", path: `${ECHO}/Echo`, headers: { Color: "green" } }, "grpc-infra-backend-v1"],
    [{ method: "POST", path: `${ECHO}/Echo`, headers: { Color: "red" } }, "grpc-infra-backend-v2"],
    [{ method: "POST", path: `${ECHO}/Echo`, headers: { Color: "yellow" } }, "grpc-infra-backend-v2"],
    [{ method: "POST", path: `${ECHO}/Echo`, headers: { Color: "purple" } }, undefined],
  ],
  true,
);

describe("conformance: invalid backendRefs (accepted, ResolvedRefs False, the share gets 500)", () => {
  const cases: { name: string; extra?: string; reason: string | undefined; valid: string[][] }[] = [
    { name: "httproute-invalid-backendref-unknown-kind", reason: "InvalidKind", valid: [[]] },
    { name: "httproute-invalid-nonexistent-backendref", reason: "BackendNotFound", valid: [[]] },
    { name: "httproute-invalid-cross-namespace-backend-ref", reason: "RefNotPermitted", valid: [[]] },
    { name: "httproute-reference-grant", reason: undefined, valid: [["web-backend"]] },
    {
      name: "httproute-partially-invalid-via-invalid-reference-grant",
      reason: "RefNotPermitted",
      valid: [[], ["app-backend-v1"]],
    },
  ];
  for (const c of cases)
    it(c.name, () => {
      const objects = conformanceManifest(c.name);
      const route = objects.find((o) => o.kind === "HTTPRoute") as HTTPRoute;
      const compiled = compile(
        route,
        objects.filter((o) => o.kind !== "HTTPRoute"),
      );
      expect(compiled.notAccepted).toBeUndefined();
      if (c.reason) {
        expect(compiled.resolvedRefs).toMatchObject({ ok: false, reason: c.reason });
        expect(compiled.problems[0]?.field).toBe("spec.rules[0].backendRefs[0]");
      } else expect(compiled.resolvedRefs).toEqual({ ok: true });
      expect(compiled.rules.map((r) => backendNames(r))).toEqual(c.valid);
      // an invalid reference keeps its weight without a target: the plane answers 500 for its share
      for (const rule of compiled.rules) expect(rule.backends.length).toBe(1);
    });

  it("httproute-reference-grant: deleting the grant makes the reference RefNotPermitted", () => {
    const objects = conformanceManifest("httproute-reference-grant");
    const route = objects.find((o) => o.kind === "HTTPRoute") as HTTPRoute;
    expect(compile(route).resolvedRefs).toMatchObject({ ok: false, reason: "RefNotPermitted" });
    expect(route.spec?.rules?.[0]?.backendRefs?.[0]?.namespace).toBe(WEB);
  });
});

const rule = (r: HTTPRouteRule): HTTPRoute => httpRoute("r", { rules: [r] });
const V1REF = [{ name: V1, port: 8080 }];

describe("a defect names its field", () => {
  it("CR/LF in a header modifier value: not accepted, UnsupportedValue, the exact field", () => {
    const compiled = compile(
      httpRoute("r", {
        rules: [
          { backendRefs: V1REF },
          {
            filters: [
              {
                type: "RequestHeaderModifier",
                requestHeaderModifier: { set: [{ name: "X-A", value: "a\r\nInjected: 1" }] },
              },
            ],
            backendRefs: V1REF,
          },
        ],
      }),
    );
    expect(compiled.notAccepted?.reason).toBe("UnsupportedValue");
    expect(compiled.notAccepted?.message).toContain("spec.rules[1].filters[0].requestHeaderModifier.set[0].value");
    expect(compiled.problems).toEqual([
      {
        kind: "HTTPRoute",
        namespace: INFRA,
        name: "r",
        field: "spec.rules[1].filters[0].requestHeaderModifier.set[0].value",
        message: "must not contain CR, LF or NUL (header injection)",
      },
    ]);
    expect(compiled.rules).toEqual([]);
  });

  it("every defect is listed, the first decides the condition", () => {
    const compiled = compile(
      rule({
        matches: [{ path: { type: "Exact", value: "relative" } }, { method: "BREW" }],
        filters: [
          { type: "ResponseHeaderModifier", responseHeaderModifier: { add: [{ name: "x", value: "\u0000" }] } },
        ],
      }),
    );
    expect(compiled.problems.map((p) => p.field)).toEqual([
      "spec.rules[0].filters[0].responseHeaderModifier.add[0].value",
      "spec.rules[0].matches[0].path.value",
      "spec.rules[0].matches[1].method",
    ]);
  });

  it("the CRD's bounds hold in manifests mode too: 16 rules, 64 matches a rule, 128 in all, 16 headers", () => {
    const bounds: [HTTPRoute, string][] = [
      [httpRoute("r", { rules: Array.from({ length: 17 }, () => ({})) }), "spec.rules"],
      [rule({ matches: Array.from({ length: 65 }, () => ({})) }), "spec.rules[0].matches"],
      [
        httpRoute("r", {
          rules: Array.from({ length: 3 }, () => ({ matches: Array.from({ length: 50 }, () => ({})) })),
        }),
        "spec.rules",
      ],
      [
        rule({ matches: [{ headers: Array.from({ length: 3000 }, (_, i) => ({ name: `h${i}`, value: "v" })) }] }),
        "spec.rules[0].matches[0].headers",
      ],
    ];
    for (const [route, field] of bounds) {
      const compiled = compile(route);
      expect(compiled.notAccepted?.reason).toBe("UnsupportedValue");
      expect(compiled.problems.map((p) => p.field)).toEqual([field]);
      expect(compiled.rules).toEqual([]);
    }
    expect(
      compile(httpRoute("r", { rules: Array.from({ length: 16 }, () => ({ matches: [{}, {}] })) })).rules,
    ).toHaveLength(32);
  });

  it("a hostile object is a problem, never a crash", () => {
    const hostile = [
      { spec: { rules: "x" } },
      { spec: { rules: [null, 3, { matches: "x" }, { matches: [null] }, { filters: [{}] }, { backendRefs: [null] }] } },
      {
        spec: {
          rules: [{ filters: [{ type: "RequestHeaderModifier", requestHeaderModifier: { set: "x", remove: [1] } }] }],
        },
      },
      { spec: { rules: [{ timeouts: "x" }, { timeouts: { request: 5 } }] } },
      { metadata: null, spec: null },
    ] as unknown as HTTPRoute[];
    for (const r of hostile) {
      const compiled = compile(r);
      expect(compiled.rules.length + compiled.problems.length).toBeGreaterThan(0);
    }
    expect(
      compileGrpc({ spec: { rules: [{ matches: [{ method: 5 }] }] } } as unknown as GRPCRoute).notAccepted?.reason,
    ).toBe("UnsupportedValue");
  });
});

describe("HTTPRoute matches", () => {
  const one = (r: HTTPRouteRule): HttpRouteRule => {
    const compiled = compile(rule(r));
    if (compiled.notAccepted) throw new Error(compiled.notAccepted.message);
    return compiled.rules[0]!;
  };
  const refused = (r: HTTPRouteRule, field: string, message?: RegExp) => {
    const compiled = compile(rule(r));
    expect(compiled.notAccepted?.reason).toBe("UnsupportedValue");
    expect(compiled.problems[0]?.field).toBe(field);
    if (message) expect(compiled.problems[0]?.message).toMatch(message);
  };

  it("no matches: one rule, PathPrefix /, match index -1", () => {
    expect(one({ backendRefs: V1REF })).toMatchObject({ rule: 0, match: -1, path: { type: "PathPrefix", value: "/" } });
  });
  it("a route without rules gets the CRD default (one rule, everything, no backend: 500); rules: [] serves nothing", () => {
    const dflt = compile(httpRoute("r", {}));
    expect(dflt.rules).toHaveLength(1);
    expect(dflt.rules[0]).toMatchObject({ path: { type: "PathPrefix", value: "/" }, backends: [] });
    expect(compile(httpRoute("r", { rules: [] })).rules).toEqual([]);
  });
  it("one HttpRouteRule per match, with the rule's filters and backends", () => {
    const compiled = compile(
      rule({ matches: [{ path: { value: "/a" } }, { path: { value: "/b" } }], backendRefs: V1REF }),
    );
    expect(compiled.rules.map((r) => [r.rule, r.match, r.path.value])).toEqual([
      [0, 0, "/a"],
      [0, 1, "/b"],
    ]);
    expect(compiled.rules[0]!.backends).toBe(compiled.rules[1]!.backends);
  });
  it("route identity and creationTimestamp are carried", () => {
    expect(one({})).toMatchObject({
      route: { kind: "HTTPRoute", namespace: INFRA, name: "r" },
      created: "2026-01-01T00:00:00Z",
    });
  });
  it("path: type defaults to PathPrefix; a prefix loses its trailing slash (/foo/ ≡ /foo), / stays", () => {
    expect(one({ matches: [{ path: { value: "/foo/" } }] }).path).toEqual({ type: "PathPrefix", value: "/foo" });
    expect(one({ matches: [{ path: { type: "PathPrefix", value: "/" } }] }).path).toEqual({
      type: "PathPrefix",
      value: "/",
    });
    expect(one({ matches: [{ path: { type: "Exact", value: "/foo/" } }] }).path).toEqual({
      type: "Exact",
      value: "/foo/",
    });
  });
  for (const [value, message] of [
    ["foo", /start/],
    ["/a//b", /'\/\/'/],
    ["/a/./b", /'\/\.\/'/],
    ["/a/../b", /'\/\.\.\/'/],
    ["/a%2fb", /%2f/],
    ["/a#b", /#/],
    ["/a/..", /end with/],
    ["/a b", /valid path characters/],
  ] as const)
    it(`path value ${JSON.stringify(value)} is refused`, () =>
      refused({ matches: [{ path: { type: "PathPrefix", value } }] }, "spec.rules[0].matches[0].path.value", message));
  it("path type unknown → UnsupportedValue", () =>
    refused({ matches: [{ path: { type: "Glob" as never, value: "/" } }] }, "spec.rules[0].matches[0].path.type"));
  it("RegularExpression path: checked, anchored source", () => {
    expect(one({ matches: [{ path: { type: "RegularExpression", value: "/v[0-9]+/.*" } }] }).path).toEqual({
      type: "RegularExpression",
      value: "^(?:/v[\\x30-\\x39]+/[\\x00-\\x09\\x0b-\\xff\\u0100-\\uffff]*)$",
    });
  });
  it("RegularExpression path that could backtrack catastrophically → not accepted, saying why", () =>
    refused(
      { matches: [{ path: { type: "RegularExpression", value: "/(a+)+$" } }] },
      "spec.rules[0].matches[0].path.value",
      /exponential/,
    ));
  it("headers: names lowercased, only the first of equivalent names counts", () => {
    expect(
      one({
        matches: [
          {
            headers: [
              { name: "X-Version", value: "1" },
              { name: "x-version", value: "2" },
              { name: "Color", value: "c.*", type: "RegularExpression" },
            ],
          },
        ],
      }).headers,
    ).toEqual([
      { name: "x-version", type: "Exact", value: "1" },
      { name: "color", type: "RegularExpression", value: "^(?:c[\\x00-\\x09\\x0b-\\xff\\u0100-\\uffff]*)$" },
    ]);
  });
  it("query params: names case-sensitive, only the first of equal names counts", () => {
    expect(
      one({
        matches: [
          {
            queryParams: [
              { name: "Animal", value: "a" },
              { name: "animal", value: "b" },
              { name: "animal", value: "c" },
            ],
          },
        ],
      }).queryParams.map((q) => `${q.name}=${q.value}`),
    ).toEqual(["Animal=a", "animal=b"]);
  });
  it("header match: bad name, unknown type, bad regex", () => {
    refused(
      { matches: [{ headers: [{ name: ":authority", value: "x" }] }] },
      "spec.rules[0].matches[0].headers[0].name",
    );
    refused(
      { matches: [{ headers: [{ name: "a", value: "x", type: "Prefix" as never }] }] },
      "spec.rules[0].matches[0].headers[0].type",
    );
    refused(
      { matches: [{ queryParams: [{ name: "q", value: "(a|aa)*", type: "RegularExpression" }] }] },
      "spec.rules[0].matches[0].queryParams[0].value",
    );
  });
  it("method: the nine HTTP methods; others UnsupportedValue", () => {
    expect(one({ matches: [{ method: "PATCH" }] }).method).toBe("PATCH");
    refused({ matches: [{ method: "get" }] }, "spec.rules[0].matches[0].method");
  });
});

describe("HTTPRoute filters", () => {
  const filtersOf = (r: HTTPRouteRule) => {
    const compiled = compile(rule(r));
    if (compiled.notAccepted) throw new Error(compiled.notAccepted.message);
    return compiled.rules[0]!.filters;
  };
  const notAccepted = (r: HTTPRouteRule) => compile(rule(r));

  it("header modifiers: names lowercased, set/add/remove kept in order", () => {
    expect(
      filtersOf({
        filters: [
          {
            type: "RequestHeaderModifier",
            requestHeaderModifier: {
              set: [{ name: "X-Set", value: "a" }],
              add: [{ name: "X-Add", value: "b,c" }],
              remove: ["X-Gone"],
            },
          },
          { type: "ResponseHeaderModifier", responseHeaderModifier: { add: [{ name: "X-Resp", value: "1" }] } },
        ],
        backendRefs: V1REF,
      }),
    ).toEqual([
      {
        type: "RequestHeaderModifier",
        modifier: { set: [["x-set", "a"]], add: [["x-add", "b,c"]], remove: ["x-gone"] },
      },
      { type: "ResponseHeaderModifier", modifier: { set: [], add: [["x-resp", "1"]], remove: [] } },
    ]);
  });
  for (const [value, message] of [
    ["a\rb", /CR, LF or NUL/],
    ["a\nb", /CR, LF or NUL/],
    ["a\u0000b", /CR, LF or NUL/],
    ["a\u0007b", /control characters/],
  ] as const)
    it(`header value ${JSON.stringify(value)} refused`, () => {
      const c = notAccepted({
        filters: [{ type: "ResponseHeaderModifier", responseHeaderModifier: { set: [{ name: "x", value }] } }],
      });
      expect(c.notAccepted?.reason).toBe("UnsupportedValue");
      expect(c.problems[0]).toMatchObject({ field: "spec.rules[0].filters[0].responseHeaderModifier.set[0].value" });
      expect(c.problems[0]?.message).toMatch(message);
    });
  it("one action per header name (set and remove of X-A, case-insensitive) → UnsupportedValue", () => {
    const c = notAccepted({
      filters: [
        {
          type: "RequestHeaderModifier",
          requestHeaderModifier: { set: [{ name: "X-A", value: "1" }], remove: ["x-a"] },
        },
      ],
    });
    expect(c.problems[0]?.field).toBe("spec.rules[0].filters[0].requestHeaderModifier.remove[0]");
  });
  it("RequestRedirect: statusCode defaults to 302; scheme, hostname, port, path", () => {
    expect(
      filtersOf({
        filters: [
          {
            type: "RequestRedirect",
            requestRedirect: {
              scheme: "https",
              hostname: "example.org",
              port: 8443,
              path: { type: "ReplaceFullPath", replaceFullPath: "/new" },
            },
          },
        ],
      }),
    ).toEqual([
      {
        type: "RequestRedirect",
        statusCode: 302,
        scheme: "https",
        hostname: "example.org",
        port: 8443,
        path: { type: "ReplaceFullPath", value: "/new" },
      },
    ]);
  });
  for (const code of [301, 302, 303, 307, 308])
    it(`RequestRedirect statusCode ${code} accepted`, () => {
      expect(filtersOf({ filters: [{ type: "RequestRedirect", requestRedirect: { statusCode: code } }] })).toEqual([
        { type: "RequestRedirect", statusCode: code },
      ]);
    });
  const refusals: { name: string; rule: HTTPRouteRule; reason: string; field: string }[] = [
    {
      name: "statusCode 304",
      rule: { filters: [{ type: "RequestRedirect", requestRedirect: { statusCode: 304 } }] },
      reason: "UnsupportedValue",
      field: "spec.rules[0].filters[0].requestRedirect.statusCode",
    },
    {
      name: "scheme ftp",
      rule: { filters: [{ type: "RequestRedirect", requestRedirect: { scheme: "ftp" } }] },
      reason: "UnsupportedValue",
      field: "spec.rules[0].filters[0].requestRedirect.scheme",
    },
    {
      name: "bad redirect hostname",
      rule: { filters: [{ type: "RequestRedirect", requestRedirect: { hostname: "*.example.com" } }] },
      reason: "UnsupportedValue",
      field: "spec.rules[0].filters[0].requestRedirect.hostname",
    },
    {
      name: "redirect port 0",
      rule: { filters: [{ type: "RequestRedirect", requestRedirect: { port: 0 } }] },
      reason: "UnsupportedValue",
      field: "spec.rules[0].filters[0].requestRedirect.port",
    },
    {
      name: "RequestRedirect with URLRewrite",
      rule: {
        filters: [
          { type: "RequestRedirect", requestRedirect: {} },
          { type: "URLRewrite", urlRewrite: { hostname: "a.b" } },
        ],
      },
      reason: "IncompatibleFilters",
      field: "spec.rules[0].filters",
    },
    {
      name: "RequestRedirect with backendRefs",
      rule: { filters: [{ type: "RequestRedirect", requestRedirect: {} }], backendRefs: V1REF },
      reason: "IncompatibleFilters",
      field: "spec.rules[0].filters[0]",
    },
    {
      name: "a repeated RequestHeaderModifier",
      rule: {
        filters: [
          { type: "RequestHeaderModifier", requestHeaderModifier: { remove: ["a"] } },
          { type: "RequestHeaderModifier", requestHeaderModifier: { remove: ["b"] } },
        ],
      },
      reason: "IncompatibleFilters",
      field: "spec.rules[0].filters[1]",
    },
    {
      name: "ReplacePrefixMatch with an Exact match",
      rule: {
        matches: [{ path: { type: "Exact", value: "/a" } }],
        filters: [
          { type: "URLRewrite", urlRewrite: { path: { type: "ReplacePrefixMatch", replacePrefixMatch: "/b" } } },
        ],
      },
      reason: "IncompatibleFilters",
      field: "spec.rules[0].filters[0].urlRewrite.path.replacePrefixMatch",
    },
    {
      name: "ReplacePrefixMatch with two matches",
      rule: {
        matches: [{ path: { value: "/a" } }, { path: { value: "/c" } }],
        filters: [
          {
            type: "RequestRedirect",
            requestRedirect: { path: { type: "ReplacePrefixMatch", replacePrefixMatch: "/b" } },
          },
        ],
      },
      reason: "IncompatibleFilters",
      field: "spec.rules[0].filters[0].requestRedirect.path.replacePrefixMatch",
    },
    {
      name: "ReplaceFullPath without replaceFullPath",
      rule: { filters: [{ type: "URLRewrite", urlRewrite: { path: { type: "ReplaceFullPath" } } }] },
      reason: "UnsupportedValue",
      field: "spec.rules[0].filters[0].urlRewrite.path.replaceFullPath",
    },
    {
      name: "a rewrite path with a space",
      rule: {
        filters: [{ type: "URLRewrite", urlRewrite: { path: { type: "ReplaceFullPath", replaceFullPath: "/a b" } } }],
      },
      reason: "UnsupportedValue",
      field: "spec.rules[0].filters[0].urlRewrite.path.replaceFullPath",
    },
    {
      name: "unknown filter type",
      rule: { filters: [{ type: "RateLimit" }] },
      reason: "UnsupportedValue",
      field: "spec.rules[0].filters[0].type",
    },
    {
      name: "CORS (not supported)",
      rule: { filters: [{ type: "CORS" }] },
      reason: "UnsupportedValue",
      field: "spec.rules[0].filters[0].type",
    },
    {
      name: "filter without its field",
      rule: { filters: [{ type: "URLRewrite" }] },
      reason: "UnsupportedValue",
      field: "spec.rules[0].filters[0].urlRewrite",
    },
    {
      name: "mirror with percent and fraction",
      rule: {
        filters: [
          {
            type: "RequestMirror",
            requestMirror: { backendRef: { name: V2, port: 8080 }, percent: 5, fraction: { numerator: 1 } },
          },
        ],
      },
      reason: "UnsupportedValue",
      field: "spec.rules[0].filters[0].requestMirror",
    },
    {
      name: "timeouts: backendRequest longer than request",
      rule: { timeouts: { request: "1s", backendRequest: "2s" } },
      reason: "UnsupportedValue",
      field: "spec.rules[0].timeouts.backendRequest",
    },
    {
      name: "timeouts: not a Gateway API duration",
      rule: { timeouts: { request: "1d" } },
      reason: "UnsupportedValue",
      field: "spec.rules[0].timeouts.request",
    },
    {
      name: "weight -1",
      rule: { backendRefs: [{ name: V1, port: 8080, weight: -1 }] },
      reason: "UnsupportedValue",
      field: "spec.rules[0].backendRefs[0].weight",
    },
  ];
  for (const c of refusals)
    it(`refused: ${c.name} → ${c.reason} at ${c.field}`, () => {
      const compiled = notAccepted(c.rule);
      expect(compiled.notAccepted?.reason).toBe(c.reason);
      expect(compiled.problems.map((p) => p.field)).toContain(c.field);
      expect(compiled.rules).toEqual([]);
    });
  it("ReplacePrefixMatch with one PathPrefix match, or with no match (the default PathPrefix /)", () => {
    const rewrite = {
      type: "URLRewrite" as const,
      urlRewrite: {
        hostname: "new.example.com",
        path: { type: "ReplacePrefixMatch" as const, replacePrefixMatch: "" },
      },
    };
    expect(filtersOf({ matches: [{ path: { value: "/a" } }], filters: [rewrite], backendRefs: V1REF })).toEqual([
      { type: "URLRewrite", hostname: "new.example.com", path: { type: "ReplacePrefixMatch", value: "" } },
    ]);
    expect(filtersOf({ filters: [rewrite], backendRefs: V1REF })).toHaveLength(1);
  });
  it("RequestMirror: resolved like a backend; percent 0..100, fraction → percent, default 100", () => {
    const mirror = (extra: object) =>
      filtersOf({
        filters: [{ type: "RequestMirror", requestMirror: { backendRef: { name: V2, port: 8080 }, ...extra } }],
        backendRefs: V1REF,
      })[0];
    expect(mirror({})).toMatchObject({
      type: "RequestMirror",
      percent: 100,
      appProtocol: "http",
      backend: { id: `${INFRA}/${V2}:8080` },
    });
    expect(mirror({ percent: 0 })).toMatchObject({ percent: 0 });
    expect(mirror({ fraction: { numerator: 1, denominator: 8 } })).toMatchObject({ percent: 12.5 });
    expect(mirror({ fraction: { numerator: 25 } })).toMatchObject({ percent: 25 });
  });
  it("RequestMirror to a missing Service: dropped, ResolvedRefs False with the mirror's field, route accepted", () => {
    const compiled = compile(
      rule({
        filters: [{ type: "RequestMirror", requestMirror: { backendRef: { name: "gone", port: 8080 } } }],
        backendRefs: V1REF,
      }),
    );
    expect(compiled.notAccepted).toBeUndefined();
    expect(compiled.resolvedRefs).toMatchObject({ ok: false, reason: "BackendNotFound" });
    expect(compiled.problems[0]?.field).toBe("spec.rules[0].filters[0].requestMirror.backendRef");
    expect(compiled.rules[0]!.filters).toEqual([]);
    expect(backendNames(compiled.rules[0])).toEqual([V1]);
  });
  it("ExtensionRef cannot be resolved: not skipped — the rule answers 500 (no filters, no backends), ResolvedRefs InvalidKind", () => {
    const compiled = compile(
      httpRoute("r", {
        rules: [
          {
            matches: [{ path: { value: "/ext" } }],
            filters: [
              { type: "RequestHeaderModifier", requestHeaderModifier: { set: [{ name: "a", value: "b" }] } },
              { type: "ExtensionRef", extensionRef: { group: "example.com", kind: "Auth", name: "check" } },
            ],
            backendRefs: V1REF,
          },
          { backendRefs: [{ name: V2, port: 8080 }] },
        ],
      }),
    );
    expect(compiled.notAccepted).toBeUndefined();
    expect(compiled.resolvedRefs).toMatchObject({ ok: false, reason: "InvalidKind" });
    expect(compiled.problems[0]?.field).toBe("spec.rules[0].filters[1].extensionRef");
    expect(compiled.rules[0]).toMatchObject({ path: { value: "/ext" }, filters: [], backends: [] });
    expect(backendNames(compiled.rules[1])).toEqual([V2]);
  });
  it("filters on a backendRef: compiled onto that backend; an ExtensionRef there makes that backend invalid (500 share)", () => {
    const compiled = compile(
      rule({
        matches: [{ path: { value: "/p" } }],
        backendRefs: [
          {
            name: V1,
            port: 8080,
            filters: [
              {
                type: "RequestRedirect",
                requestRedirect: { path: { type: "ReplacePrefixMatch", replacePrefixMatch: "/q" } },
              },
            ],
          },
          {
            name: V2,
            port: 8080,
            filters: [{ type: "ExtensionRef", extensionRef: { group: "x", kind: "Y", name: "z" } }],
          },
        ],
      }),
    );
    expect(compiled.notAccepted).toBeUndefined();
    const [b1, b2] = compiled.rules[0]!.backends;
    expect(b1!.filters).toEqual([
      { type: "RequestRedirect", statusCode: 302, path: { type: "ReplacePrefixMatch", value: "/q" } },
    ]);
    expect(b1!.target?.service).toBe(V1);
    expect(b2!.target).toBeUndefined();
  });
  it("timeouts: Gateway API durations in ms; request 0s disables (backendRequest may then be anything)", () => {
    const t = (timeouts: object) => compile(rule({ timeouts, backendRefs: V1REF } as HTTPRouteRule)).rules[0]?.timeouts;
    expect(t({ request: "10s" })).toEqual({ requestMs: 10_000 });
    expect(t({ request: "1m30s", backendRequest: "500ms" })).toEqual({ requestMs: 90_000, backendRequestMs: 500 });
    expect(t({ request: "1h" })).toEqual({ requestMs: 3_600_000 });
    expect(t({ request: "0s", backendRequest: "5s" })).toEqual({ requestMs: 0, backendRequestMs: 5000 });
    expect(t({})).toBeUndefined();
  });
  it("weights: 0 allowed, missing = 1", () => {
    const compiled = compile(
      rule({
        backendRefs: [
          { name: V1, port: 8080, weight: 0 },
          { name: V2, port: 8080 },
        ],
      }),
    );
    expect(compiled.rules[0]!.backends.map((b) => b.weight)).toEqual([0, 1]);
  });
  it("an invalid backend among valid ones: the valid ones stay, ResolvedRefs False", () => {
    const compiled = compile(
      rule({
        backendRefs: [
          { name: V1, port: 8080 },
          { name: "web-backend", namespace: WEB, port: 8080 },
        ],
      }),
    );
    expect(compiled.resolvedRefs).toMatchObject({ ok: false, reason: "RefNotPermitted" });
    expect(compiled.rules[0]!.backends.map((b) => b.target?.service)).toEqual([V1, undefined]);
    expect(compiled.rules[0]!.backends[1]!.weight).toBe(1);
    expect(APP).toBe("gateway-conformance-app-backend");
  });
});

describe("GRPCRoute", () => {
  const one = (r: NonNullable<NonNullable<GRPCRoute["spec"]>["rules"]>[number]) => {
    const compiled = compileGrpc(grpcRoute("g", { rules: [r] }));
    if (compiled.notAccepted) throw new Error(compiled.notAccepted.message);
    return compiled.rules[0]!;
  };
  it("Exact service and method → Exact /service/method", () => {
    expect(one({ matches: [{ method: { service: "pkg.Svc", method: "Get" } }] })).toMatchObject({
      path: { type: "Exact", value: "/pkg.Svc/Get" },
      grpcMethod: { type: "Exact", service: "pkg.Svc", method: "Get" },
    });
  });
  it("Exact service only → PathPrefix /service (element-wise: /service/*)", () => {
    expect(one({ matches: [{ method: { service: "pkg.Svc" } }] }).path).toEqual({
      type: "PathPrefix",
      value: "/pkg.Svc",
    });
  });
  it("Exact method only → a path regex on the method element", () => {
    const r = one({ matches: [{ method: { method: "Get" } }] });
    expect(r.path.type).toBe("RegularExpression");
    const re = new RegExp(r.path.value);
    expect(re.test("/a.B/Get")).toBe(true);
    expect(re.test("/a/b/Get")).toBe(false);
    expect(re.test("/a.B/GetX")).toBe(false);
  });
  it("RegularExpression service/method: each within its path element", () => {
    const r = one({ matches: [{ method: { type: "RegularExpression", service: "pkg\\..*", method: "Get.*" } }] });
    const re = new RegExp(r.path.value);
    expect(re.test("/pkg.Svc/GetThing")).toBe(true);
    expect(re.test("/pkg.a/b/GetThing")).toBe(false);
    expect(re.test("/other.Svc/GetThing")).toBe(false);
  });
  it("no method match: every request; headers lowercased", () => {
    expect(one({ matches: [{ headers: [{ name: "X-V", value: "1" }] }] })).toMatchObject({
      path: { type: "PathPrefix", value: "/" },
      headers: [{ name: "x-v", type: "Exact", value: "1" }],
    });
  });
  it("backends are h2c by default", () => {
    expect(one({ backendRefs: [{ name: "grpc-infra-backend-v1", port: 8080 }] }).backends[0]).toMatchObject({
      appProtocol: "h2c",
      target: { service: "grpc-infra-backend-v1" },
    });
  });
  const refusals: [string, NonNullable<NonNullable<GRPCRoute["spec"]>["rules"]>[number], string][] = [
    [
      "RequestRedirect is not a GRPCRoute filter",
      { filters: [{ type: "RequestRedirect", requestRedirect: {} }] },
      "spec.rules[0].filters[0].type",
    ],
    [
      "an invalid service name",
      { matches: [{ method: { service: "a/b" } }] },
      "spec.rules[0].matches[0].method.service",
    ],
    [
      "an invalid method name",
      { matches: [{ method: { service: "a", method: "x.y" } }] },
      "spec.rules[0].matches[0].method.method",
    ],
    ["neither service nor method", { matches: [{ method: {} }] }, "spec.rules[0].matches[0].method"],
    [
      "a ReDoS service regex",
      { matches: [{ method: { type: "RegularExpression", service: "(a+)+" } }] },
      "spec.rules[0].matches[0].method.service",
    ],
    [
      "unknown method match type",
      { matches: [{ method: { type: "Prefix" as never, service: "a" } }] },
      "spec.rules[0].matches[0].method.type",
    ],
  ];
  for (const [name, r, field] of refusals)
    it(`refused: ${name}`, () => {
      const compiled = compileGrpc(grpcRoute("g", { rules: [r] }));
      expect(compiled.notAccepted?.reason).toBe("UnsupportedValue");
      expect(compiled.problems[0]?.field).toBe(field);
      expect(compiled.problems[0]?.kind).toBe("GRPCRoute");
    });
});
