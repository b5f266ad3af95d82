import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { HTTPRoute } from "../../../src/model/gateway.ts";
import type { HttpRouteRule } from "../../../src/snapshot/gateway.ts";
import { compileGrpcRoute, compileHttpRoute } from "../../../src/translate/gateway/http-rules.ts";
import { sortRules } from "../../../src/translate/gateway/precedence.ts";
import { ReferenceGrants } from "../../../src/translate/gateway/references.ts";
import {
  backendNames,
  conformanceManifest,
  conformanceServices,
  firstMatch,
  grpcRoute,
  httpRoute,
  storeOf,
  type TestRequest,
} from "./rules-support.ts";

function compileAll(routes: HTTPRoute[]): HttpRouteRule[] {
  const store = storeOf(conformanceServices());
  const grants = new ReferenceGrants(store);
  return routes.flatMap((r) => compileHttpRoute(store, grants, r).rules);
}

describe("sortRules: conformance HTTPRoutePathMatchOrder (httproute-path-match-order)", () => {
  const [route] = conformanceManifest("httproute-path-match-order") as HTTPRoute[];
  const cases: [path: string, backend: string][] = [
    ["/match/exact/one", "infra-backend-v3"],
    ["/match/exact", "infra-backend-v2"],
    ["/match", "infra-backend-v1"],
    ["/match/prefix/one/any", "infra-backend-v2"],
    ["/match/prefix/any", "infra-backend-v1"],
    ["/match/any", "infra-backend-v3"],
  ];
  const sorted = sortRules(compileAll([route!]));
  for (const [path, backend] of cases)
    it(`${path} → ${backend}`, () => expect(backendNames(firstMatch(sorted, { path }))).toEqual([backend]));
  it("the order: exact paths, then prefixes longest first", () => {
    expect(sorted.map((r) => `${r.path.type} ${r.path.value}`)).toEqual([
      "Exact /match/exact/one",
      "Exact /match/exact",
      "Exact /match",
      "PathPrefix /match/prefix/one",
      "PathPrefix /match/prefix",
      "PathPrefix /match",
    ]);
  });
});

const R = (name: string, rules: NonNullable<HTTPRoute["spec"]>["rules"], created?: string, namespace?: string) =>
  httpRoute(name, { rules }, { ...(created ? { created } : {}), ...(namespace ? { namespace } : {}) });
const to = (service: string) => [{ name: service, port: 8080 }];

describe("sortRules: the specification's order, continuing on ties", () => {
  /** backend: the Service the request reaches; or route: the `namespace/name` of the rule that matches first */
  const cases: { name: string; routes: HTTPRoute[]; req: TestRequest; backend?: string; route?: string }[] = [
    {
      name: "Exact beats a longer PathPrefix",
      routes: [
        R("a", [
          { matches: [{ path: { type: "PathPrefix", value: "/foo/bar" } }], backendRefs: to("infra-backend-v1") },
        ]),
        R("b", [{ matches: [{ path: { type: "Exact", value: "/foo/bar" } }], backendRefs: to("infra-backend-v2") }]),
      ],
      req: { path: "/foo/bar" },
      backend: "infra-backend-v2",
    },
    {
      name: "longest PathPrefix beats method, headers and query",
      routes: [
        R("a", [
          {
            matches: [
              { path: { type: "PathPrefix", value: "/foo" }, method: "GET", headers: [{ name: "h", value: "1" }] },
            ],
            backendRefs: to("infra-backend-v1"),
          },
        ]),
        R("b", [
          { matches: [{ path: { type: "PathPrefix", value: "/foo/bar" } }], backendRefs: to("infra-backend-v2") },
        ]),
      ],
      req: { path: "/foo/bar", headers: { h: "1" } },
      backend: "infra-backend-v2",
    },
    {
      name: "a PathPrefix beats a RegularExpression (implementation-specific: regexes after prefixes)",
      routes: [
        R("a", [
          { matches: [{ path: { type: "RegularExpression", value: "/foo/.*" } }], backendRefs: to("infra-backend-v1") },
        ]),
        R("b", [{ matches: [{ path: { type: "PathPrefix", value: "/" } }], backendRefs: to("infra-backend-v2") }]),
      ],
      req: { path: "/foo/x" },
      backend: "infra-backend-v2",
    },
    {
      name: "method beats more headers",
      routes: [
        R("a", [
          {
            matches: [
              {
                headers: [
                  { name: "a", value: "1" },
                  { name: "b", value: "2" },
                ],
              },
            ],
            backendRefs: to("infra-backend-v1"),
          },
        ]),
        R("b", [{ matches: [{ method: "GET" }], backendRefs: to("infra-backend-v2") }]),
      ],
      req: { path: "/", headers: { a: "1", b: "2" } },
      backend: "infra-backend-v2",
    },
    {
      name: "more headers beat more query params",
      routes: [
        R("a", [
          {
            matches: [
              {
                queryParams: [
                  { name: "q", value: "1" },
                  { name: "r", value: "2" },
                ],
              },
            ],
            backendRefs: to("infra-backend-v1"),
          },
        ]),
        R("b", [{ matches: [{ headers: [{ name: "h", value: "1" }] }], backendRefs: to("infra-backend-v2") }]),
      ],
      req: { path: "/", headers: { h: "1" }, query: { q: "1", r: "2" } },
      backend: "infra-backend-v2",
    },
    {
      name: "more query params win on an otherwise equal match",
      routes: [
        R("a", [{ matches: [{ queryParams: [{ name: "q", value: "1" }] }], backendRefs: to("infra-backend-v1") }]),
        R("b", [
          {
            matches: [
              {
                queryParams: [
                  { name: "q", value: "1" },
                  { name: "r", value: "2" },
                ],
              },
            ],
            backendRefs: to("infra-backend-v2"),
          },
        ]),
      ],
      req: { path: "/", query: { q: "1", r: "2" } },
      backend: "infra-backend-v2",
    },
    {
      name: "then the oldest route",
      routes: [
        R("a", [{ backendRefs: to("infra-backend-v1") }], "2026-02-01T00:00:00Z"),
        R("b", [{ backendRefs: to("infra-backend-v2") }], "2026-01-01T00:00:00Z"),
      ],
      req: { path: "/" },
      backend: "infra-backend-v2",
    },
    {
      name: "then {namespace}/{name} alphabetically",
      routes: [
        R("a", [{ backendRefs: to("infra-backend-v1") }], undefined, "zz"),
        R("z", [{ backendRefs: to("infra-backend-v2") }], undefined, "aa"),
      ],
      req: { path: "/" },
      route: "aa/z",
    },
    {
      name: "{namespace}/{name} as one string: 'a-x/b' before 'a/b'",
      routes: [
        R("b", [{ backendRefs: to("infra-backend-v1") }], undefined, "a"),
        R("b", [{ backendRefs: to("infra-backend-v2") }], undefined, "a-x"),
      ],
      req: { path: "/" },
      route: "a-x/b",
    },
    {
      name: "then the first rule within a route",
      routes: [R("a", [{ backendRefs: to("infra-backend-v1") }, { backendRefs: to("infra-backend-v2") }])],
      req: { path: "/" },
      backend: "infra-backend-v1",
    },
  ];
  for (const c of cases)
    it(c.name, () => {
      const rules = compileAll(c.routes);
      for (const order of [rules, [...rules].reverse()]) {
        const hit = firstMatch(sortRules(order), c.req);
        if (c.backend) expect(backendNames(hit)).toEqual([c.backend]);
        if (c.route) expect(`${hit?.route.namespace}/${hit?.route.name}`).toBe(c.route);
      }
    });
});

describe("sortRules: GRPCRoute order (service characters, method characters, headers)", () => {
  it("service+method before service only before method only before any", () => {
    const store = storeOf([]);
    const grants = new ReferenceGrants(store);
    const route = grpcRoute("g", {
      rules: [
        { backendRefs: [] },
        { matches: [{ method: { method: "Echo" } }] },
        { matches: [{ method: { service: "pkg.Svc" } }] },
        { matches: [{ method: { service: "pkg.Svc", method: "Echo" } }] },
        { matches: [{ method: { type: "RegularExpression", service: "pkg\\..*" } }] },
        { matches: [{ method: { service: "pkg.Svc" }, headers: [{ name: "h", value: "1" }] }] },
      ],
    });
    const sorted = sortRules(compileGrpcRoute(store, grants, route).rules);
    expect(sorted.map((r) => r.rule)).toEqual([3, 5, 2, 4, 1, 0]);
  });
});

describe("sortRules: deterministic whatever the input order", () => {
  const routes = [
    R(
      "a",
      [
        {
          matches: [{ path: { type: "Exact", value: "/x" } }, { path: { value: "/x" } }],
          backendRefs: to("infra-backend-v1"),
        },
        { matches: [{ method: "GET" }, { headers: [{ name: "h", value: "1" }] }] },
      ],
      "2026-01-02T00:00:00Z",
    ),
    R(
      "b",
      [{ matches: [{ path: { value: "/x" }, queryParams: [{ name: "q", value: "1" }] }] }, {}],
      "2026-01-01T00:00:00Z",
    ),
    R(
      "c",
      [{ matches: [{ path: { type: "RegularExpression", value: "/x/[0-9]+" } }, { path: { value: "/" } }] }],
      "2026-01-01T00:00:00Z",
      "other",
    ),
    R("c", [{}], "not a time"),
  ];
  const rules = compileAll(routes);
  const expected = sortRules(rules);
  it("any shuffle gives the same order", () => {
    fc.assert(
      fc.property(fc.shuffledSubarray(rules, { minLength: rules.length, maxLength: rules.length }), (shuffled) => {
        expect(sortRules(shuffled)).toEqual(expected);
      }),
      { numRuns: 200 },
    );
  });
  it("does not change its input", () => {
    const copy = [...rules];
    sortRules(rules);
    expect(rules).toEqual(copy);
  });
  it("a route with an unreadable creationTimestamp is not the oldest", () => {
    const matchAll = expected.filter(
      (r) =>
        r.path.type === "PathPrefix" && r.path.value === "/" && !r.method && !r.headers.length && !r.queryParams.length,
    );
    expect(matchAll.length).toBeGreaterThan(1);
    expect(matchAll[matchAll.length - 1]!.created).toBe("not a time");
  });
  it("RegularExpression paths come after every prefix", () => {
    expect(expected[expected.length - 1]!.path.type).toBe("RegularExpression");
  });
});
