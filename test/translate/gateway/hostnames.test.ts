import { describe, expect, it } from "vitest";
import {
  bySpecificity,
  covers,
  effectiveHosts,
  hostnameProblem,
  intersect,
} from "../../../src/translate/gateway/hostnames.ts";

// The examples of apis/v1/httproute_types.go (HTTPRouteSpec.Hostnames) and gateway_types.go (Listener.Hostname),
// plus the four combinations of conformance/tests/httproute-hostname-intersection.yaml.
describe("hostname intersection (the specification's examples)", () => {
  it.each([
    // listener test.example.com: matches routes naming test.example.com or *.example.com
    ["test.example.com", "test.example.com", "test.example.com"],
    ["test.example.com", "*.example.com", "test.example.com"],
    ["test.example.com", "other.example.com", undefined],
    ["test.example.com", "*.test.example.com", undefined],
    // listener *.example.com: *.example.com, test.example.com and foo.test.example.com match; example.com and test.example.net do not
    ["*.example.com", "*.example.com", "*.example.com"],
    ["*.example.com", "test.example.com", "test.example.com"],
    ["*.example.com", "foo.test.example.com", "foo.test.example.com"],
    ["*.example.com", "example.com", undefined],
    ["*.example.com", "test.example.net", undefined],
    // wildcard against wildcard: the more specific one
    ["*.example.com", "*.foo.example.com", "*.foo.example.com"],
    ["*.foo.example.com", "*.example.com", "*.foo.example.com"],
    ["*.wildcard.io", "*.anotherwildcard.io", undefined],
    // a listener without hostname takes the route's
    ["", "very.specific.com", "very.specific.com"],
    ["", "*.wildcard.io", "*.wildcard.io"],
  ])("listener %j ∩ route %j = %j", (listener, route, expected) => {
    expect(intersect(listener, route)).toBe(expected);
  });

  it("ignores route hostnames that do not match the listener (test.example.net on *.example.com)", () => {
    expect(effectiveHosts("*.example.com", ["test.example.com", "test.example.net"])).toEqual(["test.example.com"]);
  });

  it("a route without hostnames takes the listener's, and a listener without one every host", () => {
    expect(effectiveHosts("*.example.com", [])).toEqual(["*.example.com"]);
    expect(effectiveHosts("", [])).toEqual([""]);
  });

  it("no hostname in common: nothing (the route is NoMatchingListenerHostname there)", () => {
    expect(effectiveHosts("very.specific.com", ["specific.but.wrong.com", "wildcard.io"])).toEqual([]);
  });

  it("a wildcard is a suffix match over one or more labels, never the bare domain", () => {
    expect(covers("*.example.com", "bar.example.com")).toBe(true);
    expect(covers("*.example.com", "foo.bar.example.com")).toBe(true);
    expect(covers("*.example.com", "example.com")).toBe(false);
    expect(covers("*.example.com", "badexample.com")).toBe(false);
  });
});

describe("listener hostname precedence (gateway_types.go: exact, then more dots right of the wildcard, then none)", () => {
  it('orders foo.example.com, *.foo.example.com, *.example.com, "" whatever the input order', () => {
    const hosts = ["", "*.example.com", "foo.example.com", "*.foo.example.com"];
    const expected = ["foo.example.com", "*.foo.example.com", "*.example.com", ""];
    expect([...hosts].sort(bySpecificity)).toEqual(expected);
    expect([...hosts].reverse().sort(bySpecificity)).toEqual(expected);
  });
});

describe("hostname validation (RFC 1123, `*.` only as the whole first label, no IPs)", () => {
  it.each(["example.com", "*.example.com", "a-b.c0.io", "localhost"])("%s is valid", (h) => {
    expect(hostnameProblem(h)).toBeUndefined();
  });
  it.each([
    "",
    "*",
    "foo.*.com",
    "*example.com",
    "a..b",
    "-a.com",
    "Example.com",
    "10.0.0.1",
    "::1",
    "a_b.com",
    `${"a".repeat(64)}.com`,
  ])("%j is refused", (h) => {
    expect(hostnameProblem(h)).toBeTypeOf("string");
  });
});
