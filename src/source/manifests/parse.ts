/**
 * Manifest files → documents (pure: text in, plain objects out). YAML files may hold many documents
 * (`---`); JSON files hold one. `List` kinds (`kind: List`, `ServiceList`, … with `items`) are
 * flattened, so every returned document is meant to be one object.
 */
import { parseAllDocuments } from "yaml";
import type { Problem } from "../../model/problems.ts";

export interface ManifestFile {
  /** path as shown to users (the manifests folder joined with the path inside it) */
  path: string;
  text: string;
}

export interface RawDocument {
  /** `file.yaml#2` (documents count from 1), `file.yaml#2 items[0]` for list items */
  origin: string;
  /** the file it came from */
  file: string;
  /** the decoded document: anything JSON can hold; checked later */
  object: unknown;
}

export interface ParsedFile {
  documents: RawDocument[];
  problems: Problem[];
}

/** Lists deeper than this are refused, so a hostile file cannot recurse without bound. */
const MAX_LIST_DEPTH = 4;

export function parseManifestFile(input: ManifestFile): ParsedFile {
  // Editors on some systems write a byte-order mark; JSON.parse would choke on it.
  const file = { path: input.path, text: input.text.replace(/^\uFEFF/, "") };
  const out: ParsedFile = { documents: [], problems: [] };
  const broken = (origin: string, message: string) => out.problems.push({ kind: "Document", origin, message });

  if (/\.json$/i.test(file.path)) {
    const origin = `${file.path}#1`;
    let value: unknown;
    try {
      value = JSON.parse(file.text);
    } catch (err) {
      broken(origin, `not valid JSON: ${(err as Error).message}`);
      return out;
    }
    if (value !== null) flatten(value, origin, file.path, out, 0);
    return out;
  }

  // YAML 1.1 as kubectl reads it (sigs.k8s.io/yaml): `yes`/`on` are booleans, `<<` merges.
  const docs = parseAllDocuments(file.text, { version: "1.1", merge: true, prettyErrors: true, uniqueKeys: true });
  if (!Array.isArray(docs)) return out; // an empty stream: only comments or nothing
  docs.forEach((doc, i) => {
    const origin = `${file.path}#${i + 1}`;
    const error = doc.errors[0];
    if (error) {
      broken(origin, `not valid YAML: ${oneLine(error.message)}`);
      return;
    }
    if (doc.contents === null) return; // `---` with nothing after it
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (err) {
      broken(origin, `not valid YAML: ${oneLine((err as Error).message)}`);
      return;
    }
    if (value !== null && value !== undefined) flatten(value, origin, file.path, out, 0);
  });
  return out;
}

function flatten(value: unknown, origin: string, file: string, out: ParsedFile, depth: number): void {
  if (!isListDocument(value)) {
    out.documents.push({ origin, file, object: value });
    return;
  }
  if (depth >= MAX_LIST_DEPTH) {
    out.problems.push({ kind: String(value.kind), origin, field: "items", message: "lists nested too deeply" });
    return;
  }
  const items = value.items ?? [];
  if (!Array.isArray(items)) {
    out.problems.push({ kind: String(value.kind), origin, field: "items", message: "must be a list" });
    return;
  }
  // A typed list (`ServiceList` as the API returns it) may leave kind/apiVersion off its items.
  const itemKind = value.kind === "List" ? undefined : String(value.kind).slice(0, -"List".length);
  items.forEach((item: unknown, i) => {
    const itemOrigin = `${origin} items[${i}]`;
    if (itemKind && isPlainObject(item)) {
      item = { ...item, kind: item.kind ?? itemKind, apiVersion: item.apiVersion ?? value.apiVersion };
    }
    if (item !== null) flatten(item, itemOrigin, file, out, depth + 1);
  });
}

function isListDocument(value: unknown): value is { kind: string; apiVersion?: unknown; items?: unknown } {
  return (
    isPlainObject(value) &&
    typeof value.kind === "string" &&
    value.kind.endsWith("List") &&
    value.kind.length >= 4 &&
    ("items" in value || value.kind === "List")
  );
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function oneLine(message: string): string {
  // The yaml package's pretty errors append a source excerpt; the first line says what and where.
  return message.split("\n")[0]!.trim();
}
