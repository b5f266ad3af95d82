/**
 * `nodeplane convert` as a table: each folder of fixtures/ holds input.yaml (Ingresses and what they refer
 * to), options.json (flags, optional) and expected.yaml, the exact output. UPDATE_GOLDEN=1 rewrites them.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { convertIngresses, DEFAULT_CONVERT_OPTIONS } from "../../src/convert/ingress-to-gateway.ts";
import { parseManifestFile } from "../../src/source/manifests/parse.ts";

const FIXTURES = fileURLToPath(new URL("./fixtures/", import.meta.url));
const cases = readdirSync(FIXTURES).sort();

function run(dir: string, reverse = false): string {
  const input = join(dir, "input.yaml");
  const parsed = parseManifestFile({ path: input, text: readFileSync(input, "utf8") });
  // a fixture document that does not parse would silently leave its rows untested
  expect(parsed.problems).toEqual([]);
  const docs = parsed.documents.map((d) => d.object);
  const optionsFile = join(dir, "options.json");
  const options = existsSync(optionsFile) ? JSON.parse(readFileSync(optionsFile, "utf8")) : {};
  return convertIngresses(reverse ? docs.reverse() : docs, { ...DEFAULT_CONVERT_OPTIONS, ...options }).text;
}

describe("nodeplane convert: Ingress YAML in, Gateway API YAML out", () => {
  it.each(cases)("%s", (name) => {
    const dir = join(FIXTURES, name);
    const out = run(dir);
    const expectedFile = join(dir, "expected.yaml");
    if (process.env.UPDATE_GOLDEN === "1" || !existsSync(expectedFile)) writeFileSync(expectedFile, out);
    expect(out).toBe(readFileSync(expectedFile, "utf8"));
    // deterministic whatever the input order, and valid YAML (the comments are comments)
    expect(run(dir, true)).toBe(out);
    for (const doc of parseAllDocuments(out)) {
      expect("errors" in doc ? doc.errors : []).toEqual([]);
      // only what convert writes: input quoted in comments never becomes an object (fixtures/hostile)
      const kind = (doc.toJS() as { kind?: string } | null)?.kind;
      expect(["GatewayClass", "Gateway", "HTTPRoute", "ReferenceGrant"]).toContain(kind);
    }
  });

  it("names every nodeplane.dev/ and nginx annotation of the input: converted, or a comment line", () => {
    const out = run(join(FIXTURES, "annotations"));
    const input = readFileSync(join(FIXTURES, "annotations", "input.yaml"), "utf8");
    const keys = [...input.matchAll(/^\s+((?:nginx\.ingress\.kubernetes\.io|nodeplane\.dev)\/[a-z-]+):/gm)].map(
      (m) => m[1]!,
    );
    expect(keys.length).toBeGreaterThan(15);
    for (const key of keys) {
      if (/rewrite-target|ssl-redirect/.test(key)) continue; // converted: their effect is in the routes (golden)
      expect(out, key).toMatch(new RegExp(`^# .*not converted: ${key.replace(/[./]/g, "\\$&")}=`, "m"));
    }
  });
});
