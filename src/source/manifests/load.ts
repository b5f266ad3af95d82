/**
 * One manifest file from disk to documents: read (bounded), hash, parse (bounded). This is the work
 * the parser thread does (parse-worker.ts); the result is plain data, so it crosses threads as is.
 */
import { createHash } from "node:crypto";
import type { Problem } from "../../model/problems.ts";
import { readManifestFile } from "./files.ts";
import { type ParsedFile, parseManifestFile } from "./parse.ts";

export interface LoadRequest {
  path: string;
  /** the content hash parsed last time: when the file still hashes to it, it is not parsed again */
  knownHash?: string;
}

export type LoadResult =
  /** vanished since the listing */
  | { kind: "gone" }
  /** same content as `knownHash` */
  | { kind: "same"; hash: string }
  | { kind: "parsed"; hash: string; parsed: ParsedFile }
  /** unreadable, not a regular file, or over the size limit: skipped */
  | { kind: "failed"; problem: Problem };

export async function loadManifestFile(request: LoadRequest): Promise<LoadResult> {
  const read = await readManifestFile(request.path);
  if ("gone" in read) return { kind: "gone" };
  if ("problem" in read) return { kind: "failed", problem: read.problem };
  const hash = createHash("sha256").update(read.bytes).digest("hex");
  if (hash === request.knownHash) return { kind: "same", hash };
  return { kind: "parsed", hash, parsed: parseManifestFile({ path: request.path, text: read.text }) };
}
