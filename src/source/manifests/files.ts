/**
 * The file-system side of manifests mode: find manifest files under a folder and read them.
 * Hidden files and folders (a leading `.`, which also skips a ConfigMap volume's `..data` plumbing)
 * are skipped; symbolic links are followed, each real folder visited once. Paths are sorted so the
 * reading order — and with it "the later one" of two conflicting objects — is deterministic.
 */
import { constants, type FileHandle, open, readdir, realpath, stat } from "node:fs/promises";
import { join } from "node:path";
import type { Problem } from "../../model/problems.ts";
import { MAX_FILE_BYTES } from "./limits.ts";

export const MANIFEST_EXTENSIONS = /\.(ya?ml|json)$/i;
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
      } catch (err) {
        // a dangling link has nothing to read; a link loop named like a manifest is worth saying
        if ((err as NodeJS.ErrnoException).code !== "ENOENT" && MANIFEST_EXTENSIONS.test(entry.name))
          out.problems.push(unreadable(path, err, "file"));
        continue;
      }
    }
    if (isDir) {
      if (depth + 1 < MAX_DEPTH) await walk(path, depth + 1, false, visited, out);
      continue;
    }
    if (!MANIFEST_EXTENSIONS.test(entry.name)) continue;
    if (!isFile) {
      // a FIFO would block the reader forever, a device or socket holds no manifest
      out.problems.push({ kind: "File", origin: path, message: "not a regular file; skipped" });
      continue;
    }
    try {
      const st = await stat(path);
      out.files.push({ path, mtimeMs: st.mtimeMs, size: st.size });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") out.problems.push(unreadable(path, err, "file"));
    }
  }
}

export type ReadResult = { text: string; bytes: Buffer } | { problem: Problem } | { gone: true };

/**
 * Reads one listed file, at most MAX_FILE_BYTES of it; `gone` when it vanished in between (the next
 * pass sees it gone). Opened non-blocking and checked to be a regular file after opening, so a file
 * swapped for a FIFO since the listing cannot hang the reader, and a file that grew past the limit
 * since the listing is refused too.
 */
export async function readManifestFile(path: string): Promise<ReadResult> {
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return { gone: true };
    return { problem: unreadable(path, err, "file") };
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) return { problem: { kind: "File", origin: path, message: "not a regular file; skipped" } };
    if (st.size > MAX_FILE_BYTES) return { problem: tooLarge(path) };
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(Math.min(Math.max(st.size - total + 1, 1 << 16), 1 << 20));
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, null);
      if (bytesRead === 0) break;
      total += bytesRead;
      if (total > MAX_FILE_BYTES) return { problem: tooLarge(path) };
      chunks.push(chunk.subarray(0, bytesRead));
    }
    const bytes = Buffer.concat(chunks, total);
    return { text: bytes.toString("utf8"), bytes };
  } catch (err) {
    return { problem: unreadable(path, err, "file") };
  } finally {
    await handle.close().catch(() => {});
  }
}

function tooLarge(path: string): Problem {
  return { kind: "File", origin: path, message: `larger than ${MAX_FILE_BYTES} bytes (the limit); file skipped` };
}

function unreadable(path: string, err: unknown, what: string): Problem {
  const code = (err as NodeJS.ErrnoException).code;
  return { kind: "File", origin: path, message: `cannot read ${what}: ${code ?? (err as Error).message}` };
}
