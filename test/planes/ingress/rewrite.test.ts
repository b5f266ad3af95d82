import { describe, expect, it } from "vitest";
import { rewrite } from "../../../src/planes/ingress/proxy.ts";

// The table in docs/ingress.md ("rewrite-target"), plus edge cases. prefixLength = the matched prefix
// without its trailing slash, as the matcher computes it.
describe("rewrite-target", () => {
  it.each([
    ["/", "/foo/bar", "/foo/bar?x=1", 4, "/bar?x=1"],
    ["/", "/foo", "/foo", 4, "/"],
    ["/", "/foo/", "/foo/", 4, "/"],
    ["/v2", "/api/users", "/api/users", 4, "/v2/users"],
    ["/v2/", "/api/users", "/api/users", 4, "/v2/users"],
    ["/v2/$2", "/api/users", "/api/users", 4, "/v2/users"],
    ["/$2", "/app/x", "/app/x", 4, "/x"],
    ["/$2", "/app", "/app", 4, "/"],
    ["/base$1$2", "/app/x/y", "/app/x/y?q", 4, "/base/x/y?q"],
    ["/new", "/", "/?a=b", 0, "/new/?a=b"],
  ])("target %s on %s → %s", (target, path, requestTarget, prefixLength, expected) => {
    expect(rewrite(target, path, requestTarget, prefixLength)).toBe(expected);
  });
});
