/**
 * The dependency rules of src/ (docs/architecture.md), checked by `npm test` before vitest:
 * - the consumers of the snapshot (planes/, workers/, admin/, cli/) never import translate/: they get
 *   everything they need from snapshot/, so a plane cannot grow a dependency on how a snapshot is built;
 * - no import circle between files, and none between top-level folders of src/ (a folder loop is a circle
 *   too, only spread over more files);
 * - translate/ and snapshot/ import no I/O module: translation stays a pure function of the store; nor does
 *   convert/ (`nodeplane convert`'s objects-in, YAML-out part; the CLI reads the files).
 *
 * Every import counts, `import type` included: the rules are about the shape of the code, not what runs.
 * Exits 1 with one line per violation; `checkGraph` is the pure part, tested in test/scripts/check-deps.test.ts.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, posix, relative, resolve } from "node:path";

/** file (relative to src/, with `/`) → what it imports: other files as paths relative to src/, packages as written */
export type ImportGraph = ReadonlyMap<string, readonly string[]>;

/**
 * Known circles, each the exact set of files of one circle. A circle listed here is reported only when it
 * grows or changes; remove the entry once the circle is gone (the check then fails if it comes back).
 */
export const ALLOWED_CIRCLES: readonly (readonly string[])[] = [];

const CONSUMERS = ["planes", "workers", "admin", "cli"];
const PURE = ["translate", "snapshot", "convert"];
const IO_MODULES = ["net", "dgram", "fs", "http", "http2", "https", "tls", "child_process"];

function topFolder(file: string): string {
  const slash = file.indexOf("/");
  return slash === -1 ? file : file.slice(0, slash);
}

/** `node:fs/promises`, `fs` and `node:fs` are all the file system; `node:path` is not I/O. */
function ioModule(specifier: string): string | undefined {
  const bare = specifier.startsWith("node:") ? specifier.slice(5) : specifier;
  const name = bare.split("/")[0]!;
  return IO_MODULES.includes(name) ? `node:${name}` : undefined;
}

/** Strongly connected components with more than one member or a self-import (Tarjan). */
function circles(nodes: Iterable<string>, edges: (node: string) => Iterable<string>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  let next = 0;
  const visit = (node: string): void => {
    index.set(node, next);
    low.set(node, next);
    next++;
    stack.push(node);
    onStack.add(node);
    let selfLoop = false;
    for (const to of edges(node)) {
      if (to === node) selfLoop = true;
      if (!index.has(to)) {
        visit(to);
        low.set(node, Math.min(low.get(node)!, low.get(to)!));
      } else if (onStack.has(to)) low.set(node, Math.min(low.get(node)!, index.get(to)!));
    }
    if (low.get(node) !== index.get(node)) return;
    const members: string[] = [];
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      members.push(member);
    } while (member !== node);
    if (members.length > 1 || selfLoop) found.push(members.sort());
  };
  for (const node of nodes) if (!index.has(node)) visit(node);
  return found;
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}

/** One line per broken rule, sorted; empty when the graph is clean. */
export function checkGraph(graph: ImportGraph, allowed: readonly (readonly string[])[] = ALLOWED_CIRCLES): string[] {
  const out: string[] = [];
  const local = (to: string): boolean => graph.has(to);
  for (const [file, imports] of graph) {
    const folder = topFolder(file);
    for (const to of imports) {
      if (local(to)) {
        if (CONSUMERS.includes(folder) && topFolder(to) === "translate")
          out.push(`${file} imports ${to}: ${folder}/ takes the snapshot from snapshot/, never translate/`);
        continue;
      }
      const io = ioModule(to);
      if (io && PURE.includes(folder)) out.push(`${file} imports ${to}: ${folder}/ must stay free of I/O (${io})`);
    }
  }
  const localEdges = (file: string): string[] => (graph.get(file) ?? []).filter(local);
  for (const circle of circles(graph.keys(), localEdges)) {
    if (allowed.some((entry) => sameSet(entry, circle))) continue;
    out.push(`import circle: ${circle.join(" ↔ ")}`);
  }
  const folders = new Map<string, Set<string>>();
  for (const [file] of graph) {
    const from = topFolder(file);
    const targets = folders.get(from) ?? new Set<string>();
    folders.set(from, targets);
    for (const to of localEdges(file)) if (topFolder(to) !== from) targets.add(topFolder(to));
  }
  for (const loop of circles(folders.keys(), (folder) => folders.get(folder) ?? [])) {
    const through = [...graph]
      .flatMap(([file]) => localEdges(file).map((to) => [file, to] as const))
      .filter(([f, t]) => topFolder(f) !== topFolder(t) && loop.includes(topFolder(f)) && loop.includes(topFolder(t)))
      .map(([f, t]) => `${f} → ${t}`);
    const names = loop.map((f) => (f.endsWith(".ts") ? f : `${f}/`));
    out.push(`folder loop: ${names.join(" ↔ ")} (${[...new Set(through)].sort().join(", ")})`);
  }
  return out.sort();
}

const SPECIFIER =
  /(?:^|[\s;}])(?:import|export)\s[^"'`]*?from\s*["']([^"']+)["']|import\s*\(\s*["']([^"']+)["']\s*\)|^\s*import\s*["']([^"']+)["']/gm;

/** The import specifiers of one TypeScript source, comments removed first so examples in them do not count. */
export function importsOf(source: string): string[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
  return Array.from(code.matchAll(SPECIFIER), (m) => (m[1] ?? m[2] ?? m[3])!);
}

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith(".ts"))
    .map((e) => join(e.parentPath, e.name));
}

/** The import graph of every .ts file under `root`. */
export function readGraph(root: string): ImportGraph {
  const graph = new Map<string, string[]>();
  const key = (file: string): string => relative(root, file).split("\\").join(posix.sep);
  for (const file of tsFiles(root)) {
    const imports = importsOf(readFileSync(file, "utf8")).map((spec) => {
      if (!spec.startsWith(".")) return spec;
      const target = resolve(dirname(file), spec);
      return existsSync(target) ? key(target) : spec;
    });
    graph.set(key(file), imports);
  }
  return graph;
}

if (import.meta.main) {
  const root = resolve(import.meta.dirname, "..", "src");
  const found = checkGraph(readGraph(root));
  for (const line of found) console.error(`check-deps: ${line}`);
  if (found.length > 0) process.exit(1);
  console.log(`check-deps: src/ clean (${readGraph(root).size} files)`);
}
