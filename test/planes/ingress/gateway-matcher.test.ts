import { describe, expect, it } from "vitest";
import { GatewayMatcher, headerValue, queryValue } from "../../../src/planes/ingress/gateway-matcher.ts";
import type { HttpRouteRule } from "../../../src/snapshot/gateway.ts";
import { httpSocket, rule, vhost } from "./gateway-harness.ts";

/** A matcher whose runtime is the rule's route name, so a match names what it found. */
function matcher(hosts: ReturnType<typeof vhost>[]) {
  return new GatewayMatcher<string>(httpSocket(80, hosts), (r: HttpRouteRule) => r.route.name);
}

function find(m: GatewayMatcher<string>, host: string, target: string, headers: string[] = [], method = "GET") {
  const table = m.host(host);
  if (table === undefined) return "no-host";
  const path = target.split("?")[0]!;
  return table.match(method, path, target, headers)?.runtime ?? "404";
}

describe("GatewayMatcher: hosts", () => {
  const m = matcher([
    vhost("foo.example.com", [rule({ name: "exact" })]),
    vhost("*.example.com", [rule({ name: "wild" })]),
    vhost("*.a.example.com", [rule({ name: "wild-longer" })]),
    vhost("", [rule({ name: "any" })]),
  ]);
  it.each([
    ["foo.example.com", "exact"],
    ["bar.example.com", "wild"],
    // Gateway API wildcards match one or more labels (HTTPRoute hostnames), the longest suffix first
    ["x.y.example.com", "wild"],
    ["b.a.example.com", "wild-longer"],
    ["c.b.a.example.com", "wild-longer"],
    ["a.example.com", "wild"],
    // never the bare suffix
    ["example.com", "any"],
    ["other.test", "any"],
  ])("%s → %s", (host, expected) => {
    expect(find(m, host, "/")).toBe(expected);
  });

  it("no catch-all: an unclaimed host is left to the Ingress table (undefined)", () => {
    const only = matcher([vhost("*.example.com", [rule({ name: "wild" })])]);
    expect(only.host("example.com")).toBeUndefined();
    expect(only.host("com")).toBeUndefined();
    expect(only.host("")).toBeUndefined();
  });
});

describe("GatewayMatcher: rules (conformance HTTPRouteMatching, HTTPRoutePathMatchOrder, HTTPRouteHeaderMatching, HTTPRouteQueryParamMatching, HTTPRouteMethodMatching)", () => {
  const m = matcher([
    vhost("h", [
      rule({ name: "exact-one", path: { type: "Exact", value: "/one" } }),
      rule({ name: "regex", path: { type: "RegularExpression", value: "/re/[0-9]+" } }),
      rule({ name: "method", path: { type: "PathPrefix", value: "/m" }, method: "POST" }),
      rule({
        name: "headers",
        path: { type: "PathPrefix", value: "/h" },
        headers: [
          { name: "version", type: "Exact", value: "two" },
          // a later entry of the same name is ignored (HTTPHeaderMatch)
          { name: "Version", type: "Exact", value: "never" },
          { name: "color", type: "RegularExpression", value: "re+d" },
        ],
      }),
      rule({
        name: "query",
        path: { type: "PathPrefix", value: "/q" },
        queryParams: [
          { name: "animal", type: "Exact", value: "whale" },
          { name: "color", type: "RegularExpression", value: "bl.e" },
        ],
      }),
      rule({ name: "prefix-foo", path: { type: "PathPrefix", value: "/foo/" } }),
      rule({ name: "root", path: { type: "PathPrefix", value: "/" } }),
    ]),
  ]);
  it.each<[string, string, string[], string, string]>([
    ["exact", "/one", [], "GET", "exact-one"],
    ["exact is not a prefix", "/one/two", [], "GET", "root"],
    ["regex anchored at both ends", "/re/42", [], "GET", "regex"],
    ["regex anchored: no trailing text", "/re/42x", [], "GET", "root"],
    ["regex anchored: no leading text", "/x/re/42", [], "GET", "root"],
    ["method", "/m", [], "POST", "method"],
    ["method mismatch", "/m", [], "GET", "root"],
    ["headers all match, any name case", "/h", ["VERSION", "two", "Color", "reeed"], "GET", "headers"],
    ["header value is case-sensitive", "/h", ["version", "Two", "color", "red"], "GET", "root"],
    ["one header missing", "/h", ["version", "two"], "GET", "root"],
    [
      "a repeated header is matched as its combined value",
      "/h",
      ["version", "two", "version", "two", "color", "red"],
      "GET",
      "root",
    ],
    ["query all match", "/q?color=blue&animal=whale", [], "GET", "query"],
    ["query name is case-sensitive", "/q?Animal=whale&color=blue", [], "GET", "root"],
    ["query percent-decoded", "/q?animal=%77hale&color=blue", [], "GET", "query"],
    ["query: the first of a repeated parameter", "/q?animal=whale&animal=x&color=blue", [], "GET", "query"],
    ["prefix element-wise: itself", "/foo", [], "GET", "prefix-foo"],
    ["prefix element-wise: trailing slash", "/foo/", [], "GET", "prefix-foo"],
    ["prefix element-wise: below", "/foo/bar", [], "GET", "prefix-foo"],
    ["prefix element-wise: not a longer segment", "/foobar", [], "GET", "root"],
  ])("%s", (_name, target, headers, method, expected) => {
    expect(find(m, "h", target, headers, method)).toBe(expected);
  });

  it("no rule matches → undefined (the plane answers 404)", () => {
    const only = matcher([vhost("h", [rule({ name: "x", path: { type: "Exact", value: "/x" } })])]);
    expect(find(only, "h", "/y")).toBe("404");
  });

  it("a regex this engine refuses makes that rule match nothing, and the others still serve", () => {
    const broken = matcher([
      vhost("h", [
        rule({ name: "bad", path: { type: "RegularExpression", value: "(" } }),
        rule({ name: "good", path: { type: "PathPrefix", value: "/" } }),
      ]),
    ]);
    expect(find(broken, "h", "/(")).toBe("good");
  });
});

describe("header and query accessors", () => {
  it("headerValue reads the flat list without building objects", () => {
    expect(headerValue(["A", "1", "b", "2", "a", "3"], "a")).toBe("1, 3");
    expect(headerValue(["A", "1"], "b")).toBeUndefined();
  });
  it("queryValue", () => {
    const t = "/p?x&y=&z=1&z=2&w=a+b";
    const q = t.indexOf("?") + 1;
    expect(queryValue(t, q, "x")).toBe("");
    expect(queryValue(t, q, "y")).toBe("");
    expect(queryValue(t, q, "z")).toBe("1");
    expect(queryValue(t, q, "w")).toBe("a b");
    expect(queryValue(t, q, "v")).toBeUndefined();
  });
});
