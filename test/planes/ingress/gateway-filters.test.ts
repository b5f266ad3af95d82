import { describe, expect, it } from "vitest";
import {
  compileModifier,
  mergeModifiers,
  modifyHeaders,
  modifyPath,
  type RedirectRequest,
  redirectLocation,
  rewriteTarget,
} from "../../../src/planes/ingress/gateway-filters.ts";
import type { HttpFilter, PathModifier } from "../../../src/snapshot/gateway.ts";

type Redirect = Extract<HttpFilter, { type: "RequestRedirect" }>;

/** prefixLength as the matcher computes it: the PathPrefix value without its trailing slash */
const prefix = (value: string) => value.replace(/\/+$/, "").length;

describe("ReplacePrefixMatch: the specification's table (HTTPPathModifier, apis/v1/httproute_types.go)", () => {
  it.each([
    // request path, prefix match, replace prefix, modified path
    ["/foo/bar", "/foo", "/xyz", "/xyz/bar"],
    ["/foo/bar", "/foo", "/xyz/", "/xyz/bar"],
    ["/foo/bar", "/foo/", "/xyz", "/xyz/bar"],
    ["/foo/bar", "/foo/", "/xyz/", "/xyz/bar"],
    ["/foo", "/foo", "/xyz", "/xyz"],
    ["/foo/", "/foo", "/xyz", "/xyz/"],
    ["/foo/bar", "/foo", "", "/bar"],
    ["/foo/", "/foo", "", "/"],
    ["/foo", "/foo", "", "/"],
    ["/foo/", "/foo", "/", "/"],
    ["/foo", "/foo", "/", "/"],
  ])("%s with prefix %s replaced by %j → %s", (path, match, replacement, expected) => {
    expect(modifyPath({ type: "ReplacePrefixMatch", value: replacement }, path, prefix(match))).toBe(expected);
  });
});

describe("URLRewrite paths (conformance HTTPRouteRewritePath)", () => {
  it.each<[string, string, PathModifier, string]>([
    ["/prefix/one/two", "/prefix/one", { type: "ReplacePrefixMatch", value: "/one" }, "/one/two"],
    ["/strip-prefix/three", "/strip-prefix", { type: "ReplacePrefixMatch", value: "/" }, "/three"],
    ["/strip-prefix", "/strip-prefix", { type: "ReplacePrefixMatch", value: "/" }, "/"],
    ["/full/one/two", "/full/one", { type: "ReplaceFullPath", value: "/one" }, "/one"],
    [
      "/full/rewrite-path-and-modify-headers/test",
      "/full/rewrite-path-and-modify-headers",
      { type: "ReplaceFullPath", value: "/test" },
      "/test",
    ],
    [
      "/prefix/rewrite-path-and-modify-headers/one",
      "/prefix/rewrite-path-and-modify-headers",
      { type: "ReplacePrefixMatch", value: "/prefix" },
      "/prefix/one",
    ],
    // the query is kept
    ["/prefix/one/two?a=b", "/prefix/one", { type: "ReplacePrefixMatch", value: "/one" }, "/one/two?a=b"],
  ])("%s (match %s) → %s", (target, match, modifier, expected) => {
    const path = target.split("?")[0]!;
    expect(rewriteTarget(modifier, path, target, prefix(match))).toBe(expected);
  });

  it("encodes what normalisation decoded, so no space or control reaches a request line", () => {
    expect(rewriteTarget({ type: "ReplacePrefixMatch", value: "/x" }, "/a/b c\r\n", "/a/b%20c%0D%0A", 2)).toBe(
      "/x/b%20c%0D%0A",
    );
  });
});

function redirect(
  filter: Omit<Redirect, "type" | "statusCode"> & { statusCode?: Redirect["statusCode"] },
  request: Partial<RedirectRequest> & { target: string; match?: string },
): string {
  const path = request.target.split("?")[0]!;
  return redirectLocation(
    { type: "RequestRedirect", statusCode: 302, ...filter },
    {
      scheme: request.scheme ?? "http",
      host: request.host ?? "example.org",
      listenerPort: request.listenerPort ?? 80,
      path,
      target: request.target,
      prefixLength: prefix(request.match ?? "/"),
    },
  );
}

describe("RequestRedirect Location", () => {
  it.each<
    [
      string,
      Omit<Redirect, "type" | "statusCode">,
      Partial<RedirectRequest> & { target: string; match?: string },
      string,
    ]
  >([
    // conformance HTTPRouteRedirectPortAndScheme: a listener on port 80
    [
      "scheme nil, port nil, listener 80",
      {},
      { target: "/scheme-nil-and-port-nil" },
      "http://example.org/scheme-nil-and-port-nil",
    ],
    [
      "scheme nil, port 80",
      { port: 80 },
      { target: "/scheme-nil-and-port-80" },
      "http://example.org/scheme-nil-and-port-80",
    ],
    [
      "scheme nil, port 8080",
      { port: 8080 },
      { target: "/scheme-nil-and-port-8080" },
      "http://example.org:8080/scheme-nil-and-port-8080",
    ],
    [
      "scheme https, port nil",
      { scheme: "https" },
      { target: "/scheme-https-and-port-nil" },
      "https://example.org/scheme-https-and-port-nil",
    ],
    [
      "scheme https, port 443",
      { scheme: "https", port: 443 },
      { target: "/scheme-https-and-port-443" },
      "https://example.org/scheme-https-and-port-443",
    ],
    [
      "scheme https, port 8443",
      { scheme: "https", port: 8443 },
      { target: "/scheme-https-and-port-8443" },
      "https://example.org:8443/scheme-https-and-port-8443",
    ],
    // a listener on port 8080
    [
      "listener 8080: scheme nil, port nil",
      {},
      { target: "/scheme-nil-and-port-nil", listenerPort: 8080 },
      "http://example.org:8080/scheme-nil-and-port-nil",
    ],
    [
      "listener 8080: scheme nil, port 80",
      { port: 80 },
      { target: "/scheme-nil-and-port-80", listenerPort: 8080 },
      "http://example.org/scheme-nil-and-port-80",
    ],
    [
      "listener 8080: scheme https, port nil",
      { scheme: "https" },
      { target: "/scheme-https-and-port-nil", listenerPort: 8080 },
      "https://example.org/scheme-https-and-port-nil",
    ],
    // an HTTPS listener on 443
    [
      "listener https 443: scheme nil, port nil",
      {},
      { target: "/scheme-nil-and-port-nil", scheme: "https", listenerPort: 443 },
      "https://example.org/scheme-nil-and-port-nil",
    ],
    [
      "listener https 443: scheme nil, port 443",
      { port: 443 },
      { target: "/scheme-nil-and-port-443", scheme: "https", listenerPort: 443 },
      "https://example.org/scheme-nil-and-port-443",
    ],
    [
      "listener https 443: scheme nil, port 8443",
      { port: 8443 },
      { target: "/scheme-nil-and-port-8443", scheme: "https", listenerPort: 443 },
      "https://example.org:8443/scheme-nil-and-port-8443",
    ],
    [
      "listener https 443: scheme http, port nil",
      { scheme: "http" },
      { target: "/scheme-http-and-port-nil", scheme: "https", listenerPort: 443 },
      "http://example.org/scheme-http-and-port-nil",
    ],
    [
      "listener https 443: scheme http, port 80",
      { scheme: "http", port: 80 },
      { target: "/scheme-http-and-port-80", scheme: "https", listenerPort: 443 },
      "http://example.org/scheme-http-and-port-80",
    ],
    [
      "listener https 443: scheme http, port 8080",
      { scheme: "http", port: 8080 },
      { target: "/scheme-http-and-port-8080", scheme: "https", listenerPort: 443 },
      "http://example.org:8080/scheme-http-and-port-8080",
    ],
    // conformance HTTPRouteRedirectPort
    ["port", { port: 8083 }, { target: "/port" }, "http://example.org:8083/port"],
    [
      "port and host",
      { port: 8083, hostname: "example.org" },
      { target: "/port-and-host", host: "other.test" },
      "http://example.org:8083/port-and-host",
    ],
    // conformance HTTPRouteRedirectScheme
    ["scheme", { scheme: "https" }, { target: "/scheme" }, "https://example.org/scheme"],
    [
      "scheme and host",
      { scheme: "https", hostname: "example.org" },
      { target: "/scheme-and-host", host: "x.test" },
      "https://example.org/scheme-and-host",
    ],
    // conformance HTTPRouteRedirectHostAndStatus
    [
      "hostname",
      { hostname: "example.org" },
      { target: "/hostname-redirect", host: "x.test" },
      "http://example.org/hostname-redirect",
    ],
    // conformance HTTPRouteRedirectPath
    [
      "prefix",
      { path: { type: "ReplacePrefixMatch", value: "/replacement-prefix" } },
      { target: "/original-prefix/lemon", match: "/original-prefix" },
      "http://example.org/replacement-prefix/lemon",
    ],
    [
      "full path",
      { path: { type: "ReplaceFullPath", value: "/full-path-replacement" } },
      { target: "/full/path/original", match: "/full" },
      "http://example.org/full-path-replacement",
    ],
    [
      "path and host",
      { hostname: "example.org", path: { type: "ReplacePrefixMatch", value: "/replacement-prefix" } },
      { target: "/path-and-host", match: "/path-and-host", host: "x.test" },
      "http://example.org/replacement-prefix",
    ],
    [
      "full path and host",
      { hostname: "example.org", path: { type: "ReplaceFullPath", value: "/replacement-full" } },
      { target: "/full-path-and-host", match: "/full-path-and-host" },
      "http://example.org/replacement-full",
    ],
    // the query is kept
    ["query kept", { scheme: "https" }, { target: "/q?a=1&b=2" }, "https://example.org/q?a=1&b=2"],
    [
      "query kept with a path",
      { path: { type: "ReplaceFullPath", value: "/new" } },
      { target: "/old?a=1", match: "/old" },
      "http://example.org/new?a=1",
    ],
  ])("%s", (_name, filter, request, expected) => {
    expect(redirect(filter, request)).toBe(expected);
  });
});

describe("header modifiers", () => {
  const reserved = new Set(["connection", "x-forwarded-for"]);

  it("drops set and removed names (any case), then appends set and add, in that order", () => {
    const modifier = compileModifier(
      { set: [["x-set", "new"]], add: [["x-add", "2"]], remove: ["x-remove"] },
      reserved,
    );
    const headers = ["Host", "h", "X-Set", "old", "X-Add", "1", "x-REMOVE", "gone", "Other", "o"];
    modifyHeaders(headers, modifier);
    expect(headers).toEqual(["Host", "h", "X-Add", "1", "Other", "o", "x-set", "new", "x-add", "2"]);
  });

  it("refuses CR, LF, NUL, names that are not tokens, and reserved names", () => {
    const modifier = compileModifier(
      {
        set: [
          ["x-a", "a\r\nx-b: 1"],
          ["x-ok", "fine"],
          ["x-forwarded-for", "1.2.3.4"],
        ],
        add: [
          ["bad name", "v"],
          ["x-nul", "a\u0000b"],
        ],
        remove: ["connection", "x-gone"],
      },
      reserved,
    );
    expect(modifier.set).toEqual([["x-ok", "fine"]]);
    expect(modifier.add).toEqual([]);
    expect([...modifier.drop].sort()).toEqual(["x-gone", "x-ok"]);
    expect(modifier.refused).toBe(5);
  });

  it("a backendRef's modifier applies after the rule's", () => {
    const rule = compileModifier({ set: [["x-a", "rule"]], add: [["x-b", "rule"]], remove: [] }, reserved);
    const ref = compileModifier({ set: [["x-b", "ref"]], add: [], remove: ["x-a"] }, reserved);
    const merged = mergeModifiers([rule, ref])!;
    const headers = ["x-a", "client", "x-b", "client"];
    modifyHeaders(headers, merged);
    expect(headers).toEqual(["x-b", "ref"]);
  });
});
