import { describe, expect, it } from "vitest";
import { Matcher, normalizeHost, normalizePath } from "../../../src/planes/ingress/matcher.ts";
import type { IngressRoute } from "../../../src/snapshot/ingress.ts";
import { ing, type PathSpec, svc, translate } from "../../translate/ingress/fixtures.ts";

/** Translates one Ingress and returns a function answering which rule serves host+path ("" = default backend). */
function router(rules: { host?: string; paths: PathSpec[] }[], extra: Parameters<typeof translate>[0] = []) {
  const { snapshot, problems } = translate([...svc("web"), ...extra, ing("test", { rules })]);
  expect(problems).toEqual([]);
  const matcher = new Matcher<IngressRoute>(snapshot, (r) => r);
  return (host: string, path: string) => {
    const route = matcher.match(normalizeHost(host), normalizePath(path)!);
    return route ? `${route.host || "*"} ${route.declaredPathType} ${route.path}` : null;
  };
}

// kubernetes.io/docs/concepts/services-networking/ingress/ — "Examples" table of path types.
// Each row: path type(s) and rule paths, request path, the rule that serves it (null = no match → default backend).
const DOCS_PATH_EXAMPLES: [string, PathSpec[], string, string | null][] = [
  ["Prefix /, all paths", [{ path: "/", pathType: "Prefix" }], "/anything/at/all", "* Prefix /"],
  ["Exact /foo, /foo", [{ path: "/foo", pathType: "Exact" }], "/foo", "* Exact /foo"],
  ["Exact /foo, /bar", [{ path: "/foo", pathType: "Exact" }], "/bar", null],
  ["Exact /foo, /foo/", [{ path: "/foo", pathType: "Exact" }], "/foo/", null],
  ["Exact /foo/, /foo", [{ path: "/foo/", pathType: "Exact" }], "/foo", null],
  ["Prefix /foo, /foo", [{ path: "/foo", pathType: "Prefix" }], "/foo", "* Prefix /foo"],
  ["Prefix /foo, /foo/", [{ path: "/foo", pathType: "Prefix" }], "/foo/", "* Prefix /foo"],
  ["Prefix /foo/, /foo", [{ path: "/foo/", pathType: "Prefix" }], "/foo", "* Prefix /foo/"],
  ["Prefix /foo/, /foo/", [{ path: "/foo/", pathType: "Prefix" }], "/foo/", "* Prefix /foo/"],
  ["Prefix /aaa/bb, /aaa/bbb", [{ path: "/aaa/bb", pathType: "Prefix" }], "/aaa/bbb", null],
  ["Prefix /aaa/bbb, /aaa/bbb", [{ path: "/aaa/bbb", pathType: "Prefix" }], "/aaa/bbb", "* Prefix /aaa/bbb"],
  [
    "Prefix /aaa/bbb/ ignores trailing slash",
    [{ path: "/aaa/bbb/", pathType: "Prefix" }],
    "/aaa/bbb",
    "* Prefix /aaa/bbb/",
  ],
  [
    "Prefix /aaa/bbb matches trailing slash",
    [{ path: "/aaa/bbb", pathType: "Prefix" }],
    "/aaa/bbb/",
    "* Prefix /aaa/bbb",
  ],
  ["Prefix /aaa/bbb matches subpath", [{ path: "/aaa/bbb", pathType: "Prefix" }], "/aaa/bbb/ccc", "* Prefix /aaa/bbb"],
  ["Prefix /aaa/bbb not string prefix", [{ path: "/aaa/bbb", pathType: "Prefix" }], "/aaa/bbbxyz", null],
  [
    "Prefix /, /aaa → /aaa/ccc",
    [
      { path: "/", pathType: "Prefix" },
      { path: "/aaa", pathType: "Prefix" },
    ],
    "/aaa/ccc",
    "* Prefix /aaa",
  ],
  [
    "Prefix /, /aaa, /aaa/bbb → /aaa/bbb",
    [
      { path: "/", pathType: "Prefix" },
      { path: "/aaa", pathType: "Prefix" },
      { path: "/aaa/bbb", pathType: "Prefix" },
    ],
    "/aaa/bbb",
    "* Prefix /aaa/bbb",
  ],
  [
    "Prefix /, /aaa, /aaa/bbb → /ccc",
    [
      { path: "/", pathType: "Prefix" },
      { path: "/aaa", pathType: "Prefix" },
      { path: "/aaa/bbb", pathType: "Prefix" },
    ],
    "/ccc",
    "* Prefix /",
  ],
  ["Prefix /aaa, /ccc uses default backend", [{ path: "/aaa", pathType: "Prefix" }], "/ccc", null],
  [
    "Mixed /foo Prefix + /foo Exact prefers Exact",
    [
      { path: "/foo", pathType: "Prefix" },
      { path: "/foo", pathType: "Exact" },
    ],
    "/foo",
    "* Exact /foo",
  ],
];

describe("path matching: the Kubernetes docs' examples", () => {
  it.each(DOCS_PATH_EXAMPLES)("%s", (_name, paths, request, expected) => {
    expect(router([{ paths }])("any.host", request)).toBe(expected);
  });
});

describe("path matching: precedence and path types", () => {
  const route = router([
    {
      paths: [
        { path: "/", pathType: "Prefix" },
        { path: "/api", pathType: "Prefix" },
        { path: "/api/v1", pathType: "ImplementationSpecific" },
        { path: "/api/v1/users", pathType: "Exact" },
        { path: "/app(/|$)(.*)", pathType: "ImplementationSpecific" },
      ],
    },
  ]);
  it.each([
    ["/api/v1/users", "* Exact /api/v1/users"],
    ["/api/v1/users/1", "* ImplementationSpecific /api/v1"],
    ["/api/v1", "* ImplementationSpecific /api/v1"],
    ["/api/v2", "* Prefix /api"],
    ["/apix", "* Prefix /"],
    ["/app", "* ImplementationSpecific /app"],
    ["/app/x", "* ImplementationSpecific /app"],
    ["/%61pi/v2", "* Prefix /api"],
    ["/x/../api", "* Prefix /api"],
    ["//api", "* Prefix /api"],
  ])("%s → %s", (path, expected) => {
    expect(route("h", path)).toBe(expected);
  });
});

// kubernetes.io/docs/concepts/services-networking/ingress/ — "Hostname wildcards" table, plus precedence.
describe("host matching", () => {
  const route = router([
    { host: "*.foo.com", paths: [{ path: "/", pathType: "Prefix" }] },
    { host: "exact.foo.com", paths: [{ path: "/", pathType: "Prefix" }] },
    { host: "foo.bar.com", paths: [{ path: "/foo", pathType: "Prefix" }] },
  ]);
  it.each([
    ["bar.foo.com", "*.foo.com Prefix /", "matches based on shared suffix"],
    ["baz.bar.foo.com", null, "wildcard only covers a single DNS label"],
    ["foo.com", null, "wildcard only covers a single DNS label"],
    ["exact.foo.com", "exact.foo.com Prefix /", "exact beats wildcard"],
    ["EXACT.Foo.com", "exact.foo.com Prefix /", "case-insensitive"],
    ["exact.foo.com:8080", "exact.foo.com Prefix /", "port stripped"],
    ["exact.foo.com.", "exact.foo.com Prefix /", "trailing dot stripped"],
    ["foo.bar.com", null, "a known host without a matching path does not fall through to others"],
    ["[::1]:8080", null, "IP literal"],
  ] as [string, string | null, string][])("%s → %s (%s)", (host, expected) => {
    const path = host === "foo.bar.com" ? "/bar" : "/x";
    expect(route(host, path)).toBe(expected);
  });
});

describe("normalizePath", () => {
  it.each([
    ["/a/b?x=1", "/a/b"],
    ["/a//b", "/a/b"],
    ["/a/./b/", "/a/b/"],
    ["/a/b/..", "/a/"],
    ["/%7Euser", "/~user"],
    ["/a%2Fb", undefined],
    ["/a%2fb", undefined],
    ["/a%5Cb", undefined],
    ["/a%5cb", undefined],
    ["/a\\b", undefined],
    ["/public/..%2fadmin", undefined],
    ["/admin;x/y", "/admin/y"],
    ["/admin;x", "/admin"],
    ["/public/..;/admin", "/admin"],
    ["/a/;x/b", "/a/b"],
    ["/%2e%2E/x", undefined],
    ["/a/%2e%2e/b", "/b"],
    ["/..", undefined],
    ["/%zz", undefined],
    ["/%ff", undefined],
    ["*", undefined],
  ])("%s → %s", (input, expected) => {
    expect(normalizePath(input)).toBe(expected);
  });

  // --allow-escaped-slashes: kept unchanged, so they never split (or join) segments
  it.each([
    ["/a%2Fb", "/a%2Fb"],
    ["/public/..%2fadmin", "/public/..%2fadmin"],
    ["/a%5cb/../c", "/c"],
    ["/a\\b", "/a\\b"],
    ["/%61%2F", "/a%2F"],
  ])("allowing escaped slashes: %s → %s", (input, expected) => {
    expect(normalizePath(input, true)).toBe(expected);
  });
});
