/** Readers for loosely typed manifest JSON (`nodeplane convert` reads whatever the files say), and text helpers. */

export type Obj = Record<string, unknown>;

/**
 * Comment text quotes the input (annotation values, hosts, paths): a line break in it would end the comment
 * and put the rest into the YAML as objects, so control and line-separator characters are escaped.
 */
export function commentSafe(text: string): string {
  let out = "";
  for (const c of text) {
    const code = c.charCodeAt(0);
    const unsafe = code < 0x20 || code === 0x7f || code === 0x85 || code === 0x2028 || code === 0x2029;
    out += unsafe ? `\\u${code.toString(16).padStart(4, "0")}` : c;
  }
  return out;
}

export function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function str(v: unknown): string {
  return typeof v === "string" ? v : "";
}

export function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string" && x !== "") : [];
}

export function arr(v: unknown): Obj[] {
  return Array.isArray(v) ? v.filter(isObj) : [];
}

export function strMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (isObj(v)) for (const [k, x] of Object.entries(v)) if (typeof x === "string") out[k] = x;
  return out;
}

export function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function minName(a: string | undefined, b: string): string {
  return a === undefined || compare(b, a) < 0 ? b : a;
}
