/**
 * Manifest files → documents (pure: text in, plain objects out). YAML files may hold many documents
 * (`---`); JSON files hold one. `List` kinds (`kind: List`, `ServiceList`, … with `items`) are
 * flattened, so every returned document is meant to be one object.
 */
import { Composer, type Document, isMap, isPair, isScalar, isSeq, Lexer, LineCounter, Parser } from "yaml";
import type { Problem } from "../../model/problems.ts";
import { MAX_DEPTH, MAX_DOCUMENTS, MAX_FILE_BYTES, nestingDepth } from "./limits.ts";

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
/**
 * The YAML parser's stack holds the document and a few tokens besides the open collections; past
 * this the file is cut off before the (recursive) composer sees it. The exact depth is checked on
 * the decoded value.
 */
const MAX_PARSER_STACK = MAX_DEPTH + 8;

/** A limit hit while reading a file: the whole file is skipped with this one problem. */
class FileLimit extends Error {
  readonly origin: string;
  constructor(origin: string, message: string) {
    super(message);
    this.origin = origin;
  }
}

const TOO_DEEP = `nested deeper than ${MAX_DEPTH} levels (the limit); file skipped`;

/**
 * Text → documents, or one file-level problem when a limit is hit (size, nesting depth, document
 * count, an alias cycle): then the file is skipped as a whole, since what follows a cut-off point
 * cannot be trusted either.
 */
export function parseManifestFile(input: ManifestFile): ParsedFile {
  try {
    return parseLimited(input);
  } catch (err) {
    if (!(err instanceof FileLimit)) throw err;
    return { documents: [], problems: [{ kind: "File", origin: err.origin, message: err.message }] };
  }
}

function parseLimited(input: ManifestFile): ParsedFile {
  // Editors on some systems write a byte-order mark; JSON.parse would choke on it.
  const file = { path: input.path, text: input.text.replace(/^\uFEFF/, "") };
  const out: ParsedFile = { documents: [], problems: [] };
  const broken = (origin: string, message: string) => out.problems.push({ kind: "Document", origin, message });
  // a string's length is at most its UTF-8 size; the reader checks bytes before reading
  if (file.text.length > MAX_FILE_BYTES)
    throw new FileLimit(file.path, `larger than ${MAX_FILE_BYTES} bytes (the limit); file skipped`);

  if (/\.json$/i.test(file.path)) {
    const origin = `${file.path}#1`;
    let value: unknown;
    try {
      // V8's JSON.parse is iterative: a million nested arrays parse without a stack overflow, so the
      // depth is checked on the result, before anything recursive walks it.
      value = JSON.parse(file.text);
    } catch (err) {
      broken(origin, `not valid JSON: ${(err as Error).message}`);
      return out;
    }
    checkDepth(value, origin);
    if (value !== null) flatten(value, origin, file.path, out, 0);
    return out;
  }

  // YAML 1.1 as kubectl reads it (sigs.k8s.io/yaml): `yes`/`on` are booleans, `<<` merges. Duplicate
  // keys are an error, checked by duplicateKey: the yaml package's own check (uniqueKeys) compares every
  // key with every other, and 40,000 keys in one mapping (a 600 kB file) took 53 s.
  const lines = new LineCounter();
  const composer = new Composer({ version: "1.1", merge: true, uniqueKeys: false });
  let index = 0;
  for (const doc of composer.compose(limitedTokens(file.text, file.path, lines))) {
    index++;
    if (index > MAX_DOCUMENTS) throw tooMany(file.path);
    const origin = `${file.path}#${index}`;
    const error = doc.errors[0];
    if (error) {
      broken(origin, `not valid YAML: ${oneLine(error.message)}${at(lines, error.pos[0])}`);
      continue;
    }
    if (doc.contents === null) continue; // `---` with nothing after it
    const duplicate = duplicateKey(doc);
    if (duplicate !== undefined) {
      broken(origin, `not valid YAML: Map keys must be unique${at(lines, duplicate)}`);
      continue;
    }
    const value = decode(doc, origin, broken);
    if (value === undefined) continue;
    checkDepth(value, origin);
    if (value !== null) flatten(value, origin, file.path, out, 0);
  }
  return out;
}

/**
 * The YAML parser's tokens, cut off once its stack (open collections) passes the depth limit: the
 * composer that turns tokens into documents recurses per level.
 */
function* limitedTokens(text: string, path: string, lines: LineCounter) {
  const parser = new Parser(lines.addNewLine);
  lines.addNewLine(0);
  let complete = 0; // documents the parser has finished; the one in progress is the next
  for (const lexeme of new Lexer().lex(text)) {
    for (const token of parser.next(lexeme)) {
      if (token.type === "document") complete++;
      yield token;
    }
    if (parser.stack.length > MAX_PARSER_STACK) throw new FileLimit(`${path}#${complete + 1}`, TOO_DEEP);
  }
  yield* parser.end();
}

/**
 * The offset of the first key that repeats an earlier key of its mapping (scalars compared by value, as
 * the yaml package's uniqueKeys does), in linear time. Iterative; the depth is bounded already.
 */
function duplicateKey(doc: Document.Parsed): number | undefined {
  const pending: unknown[] = [doc.contents];
  while (pending.length > 0) {
    const node = pending.pop();
    if (isMap(node)) {
      const seen = new Set<unknown>();
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? pair.key.value : pair.key;
        if (seen.has(key)) return (isScalar(pair.key) ? pair.key.range?.[0] : undefined) ?? 0;
        seen.add(key);
        pending.push(pair.key, pair.value);
      }
    } else if (isSeq(node)) pending.push(...node.items);
    else if (isPair(node)) pending.push(node.key, node.value);
  }
  return undefined;
}

function decode(doc: Document.Parsed, origin: string, broken: (origin: string, message: string) => void): unknown {
  try {
    // maxAliasCount bounds alias expansion ("billion laughs"): past it toJS throws
    return doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    broken(origin, `not valid YAML: ${oneLine((err as Error).message)}`);
    return undefined;
  }
}

function checkDepth(value: unknown, origin: string): void {
  const depth = nestingDepth(value, MAX_DEPTH);
  if (depth === "cycle") throw new FileLimit(origin, "refers to itself (an alias inside its own anchor); file skipped");
  if (depth > MAX_DEPTH) throw new FileLimit(origin, TOO_DEEP);
}

function tooMany(path: string): FileLimit {
  return new FileLimit(path, `more than ${MAX_DOCUMENTS} documents (the limit, list items included); file skipped`);
}

function at(lines: LineCounter, offset: number | undefined): string {
  if (offset === undefined) return "";
  const { line, col } = lines.linePos(offset);
  return ` at line ${line}, column ${col}`;
}

function flatten(value: unknown, origin: string, file: string, out: ParsedFile, depth: number): void {
  if (!isListDocument(value)) {
    if (out.documents.length >= MAX_DOCUMENTS) throw tooMany(file);
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
