import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Matcher, normalizePath } from "../../../src/planes/ingress/matcher.ts";
import type { IngressRoute } from "../../../src/snapshot/ingress.ts";
import { ing, svc, translate } from "../../translate/ingress/fixtures.ts";

/** The Ingress API's definition, written naively: element-wise prefix, longest match, Exact before Prefix. */
function reference(rules: { path: string; pathType: "Exact" | "Prefix" }[], request: string): string | null {
  const elements = (p: string) => p.split("/").filter((e) => e !== "");
  const req = elements(request);
  const matches = rules.filter((r) => {
    if (r.pathType === "Exact") return r.path === request;
    const rule = elements(r.path);
    return rule.length <= req.length && rule.every((e, i) => e === req[i]);
  });
  if (matches.length === 0) return null;
  const length = (r: { path: string; pathType: string }) =>
    r.pathType === "Exact" ? r.path.length : r.path.replace(/\/+$/, "").length;
  matches.sort(
    (a, b) => length(b) - length(a) || (a.pathType === "Exact" ? -1 : 1) - (b.pathType === "Exact" ? -1 : 1),
  );
  return `${matches[0]!.pathType} ${matches[0]!.path}`;
}

const segment = fc.constantFrom("a", "b", "aa", "ab");
const path = fc
  .tuple(fc.array(segment, { maxLength: 4 }), fc.boolean())
  .map(([segs, slash]) => `/${segs.join("/")}${slash && segs.length > 0 ? "/" : ""}`);

describe("path matching agrees with the API's definition (property)", () => {
  it("for random rule sets and request paths", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.record({ path, pathType: fc.constantFrom("Exact" as const, "Prefix" as const) }), {
          maxLength: 6,
          selector: (r) => `${r.pathType} ${r.pathType === "Prefix" ? r.path.replace(/\/+$/, "") : r.path}`,
        }),
        fc.array(path, { minLength: 1, maxLength: 5 }),
        (rules, requests) => {
          const { snapshot } = translate([...svc("web"), ing("p", { rules: [{ paths: rules }] })]);
          const matcher = new Matcher<IngressRoute>(snapshot, (r) => r);
          for (const request of requests) {
            const route = matcher.match("h", normalizePath(request)!);
            expect(route ? `${route.pathType} ${route.path}` : null).toBe(reference(rules, request));
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
