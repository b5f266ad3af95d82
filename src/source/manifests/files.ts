/**
 * The file-system side of manifests mode: find manifest files under a folder and read them.
 * Hidden files and folders (a leading `.`, which also skips a ConfigMap volume's `..data` plumbing)
 * are skipped; symbolic links are followed, each real folder visited once. Paths are sorted so the
 * reading order — and with it "the later one" of two conflicting objects — is deterministic.
 */
import { readdir, readFile, realpath, stat } from "node:fs/promises";
import { join } from "node:path";
import type { Problem } from "../../model/problems.ts";

export const MANIFEST_EXTENSIONS = /\.(ya?ml|json)$/i;
/** Bigger files are refused rather than parsed: no manifest folder needs them. */
export const MAX_FILE_BYTES = 16 * 1024 * 1024;
/** Folder depth limit, a guard against pathological trees. */
const MAX_DEPTH = 32;

export interface FileEntry {
  /** the folder as configured, joined with the path inside it */
  path: string;
  mtimeMs: number;
  size: number;
}

export interface Listing {
  files: FileEntry[];
  problems: Problem[];
}

/** Lists manifest files under `dir`. Throws when `dir` itself cannot be read. */
export async function listManifestFiles(dir: string): Promise<Listing> {
  const listing: Listing = { files: [], problems: [] };
  const visited = new Set<string>();
  await walk(dir, 0, true, visited, listing);
  listing.files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return listing;
}

async function walk(dir: string, depth: number, root: boolean, visited: Set<string>, out: Listing): Promise<void> {
  let entries: import("node:fs").Dirent[];
  try {
    const real = await realpath(dir);
    if (visited.has(real)) return;
    visited.add(real);
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if (root) throw err;
    out.problems.push(unreadable(dir, err, "folder"));
    return;
  }
  for (const entry of entries) {
    if (entry.name.startsWith(".")) continue;
    const path = join(dir, entry.name);
    let isDir = entry.isDirectory();
    let isFile = entry.isFile();
    if (entry.isSymbolicLink()) {
      try {
        const target = await stat(path);
        isDir = target.isDirectory();
        isFile = target.isFile();
      } catch {
        continue; // a dangling link: nothing to read
      }
    }
    if (isDir) {
      if (depth + 1 < MAX_DEPTH) await walk(path, depth + 1, false, visited, out);
      continue;
    }
    if (!isFile || !MANIFEST_EXTENSIONS.test(entry.name)) continue;
    try {
      const st = await stat(path);
      out.files.push({ path, mtimeMs: st.mtimeMs, size: st.size });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") out.problems.push(unreadable(path, err, "file"));
    }
  }
}

/** Reads one listed file; undefined when it vanished in between (the next pass sees it gone). */
export async function readManifestFile(entry: FileEntry): Promise<{ text?: string; problem?: Problem }> {
  if (entry.size > MAX_FILE_BYTES)
    return { problem: { kind: "File", origin: entry.path, message: `larger than ${MAX_FILE_BYTES} bytes; skipped` } };
  try {
    return { text: await readFile(entry.path, "utf8") };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return {};
    return { problem: unreadable(entry.path, err, "file") };
  }
}

function unreadable(path: string, err: unknown, what: string): Problem {
  const code = (err as NodeJS.ErrnoException).code;
  return { kind: "File", origin: path, message: `cannot read ${what}: ${code ?? (err as Error).message}` };
}
