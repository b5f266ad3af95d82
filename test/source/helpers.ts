import { type CompileResult, ManifestCompiler } from "../../src/source/manifests/compile.ts";
import type { ManifestFile } from "../../src/source/manifests/parse.ts";

export const RANGES = { serviceCIDRs: ["127.96.0.0/16"], nodePortRange: { min: 30000, max: 32767 } };

/** Compiles manifest texts given as `{ path: text }`, in path order as the source reads them. */
export function compileFiles(
  files: Record<string, string>,
  compiler = new ManifestCompiler({ ...RANGES, now: () => new Date("2025-01-01T00:00:00Z") }),
): CompileResult {
  const list: ManifestFile[] = Object.entries(files)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([path, text]) => ({ path, text }));
  return compiler.compile(list);
}

export function compileYaml(text: string): CompileResult {
  return compileFiles({ "m.yaml": text });
}

/** Problems as `field: message` lines, for compact expectations. */
export function problemLines(result: CompileResult): string[] {
  return result.problems.map((p) => `${p.kind} ${p.origin} ${p.field ?? "-"}: ${p.message}`);
}
