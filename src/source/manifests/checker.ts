import { parseCIDR } from "../../util/cidr.ts";
import { ipAddress } from "./names.ts";
import { isPlainObject } from "./parse.ts";

/** One failed check: the JSON path of the field at fault and what is wrong with it. */
export interface FieldProblem {
  field: string;
  message: string;
}

export type Json = Record<string, unknown>;

/** Collects problems while walking one object; every accessor tolerates any input type. */
export class Checker {
  readonly problems: FieldProblem[] = [];

  fail(field: string, message: string): void {
    this.problems.push({ field, message });
  }

  object(field: string, v: unknown, required = false): Json | undefined {
    if (v === undefined || v === null) {
      if (required) this.fail(field, "required");
      return undefined;
    }
    if (!isPlainObject(v)) {
      this.fail(field, "must be an object");
      return undefined;
    }
    return v;
  }

  list(field: string, v: unknown, required = false): unknown[] | undefined {
    if (v === undefined || v === null) {
      if (required) this.fail(field, "required");
      return undefined;
    }
    if (!Array.isArray(v)) {
      this.fail(field, "must be a list");
      return undefined;
    }
    if (required && v.length === 0) this.fail(field, "must have at least one entry");
    return v;
  }

  string(field: string, v: unknown, required = false): string | undefined {
    if (v === undefined || v === null || v === "") {
      if (required) this.fail(field, "required");
      return v === "" ? "" : undefined;
    }
    if (typeof v !== "string") {
      this.fail(field, `must be a string, not ${describe(v)}`);
      return undefined;
    }
    return v;
  }

  integer(field: string, v: unknown, range: { min: number; max: number }, required = false): number | undefined {
    if (v === undefined || v === null) {
      if (required) this.fail(field, "required");
      return undefined;
    }
    if (typeof v !== "number" || !Number.isInteger(v)) {
      this.fail(field, `must be an integer, not ${describe(v)}`);
      return undefined;
    }
    if (v < range.min || v > range.max) {
      this.fail(field, `${v} is out of range (${range.min}-${range.max})`);
      return undefined;
    }
    return v;
  }

  boolean(field: string, v: unknown): boolean | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "boolean") {
      this.fail(field, `must be true or false, not ${describe(v)}`);
      return undefined;
    }
    return v;
  }

  oneOf<T extends string>(field: string, v: unknown, values: readonly T[], required = false): T | undefined {
    const s = this.string(field, v, required);
    if (s === undefined || s === "") return undefined;
    if (!values.includes(s as T)) {
      this.fail(field, `"${s}" is not one of ${values.join(", ")}`);
      return undefined;
    }
    return s as T;
  }

  /** A string checked by one of the name rules of names.ts. */
  name(field: string, v: unknown, rule: (s: string) => string | undefined, required = false): string | undefined {
    const s = this.string(field, v, required);
    if (s === undefined || s === "") return s;
    const bad = rule(s);
    if (bad) {
      this.fail(field, `"${s}" ${bad}`);
      return undefined;
    }
    return s;
  }

  ip(field: string, v: unknown, required = false): string | undefined {
    return this.name(field, v, ipAddress, required);
  }

  cidr(field: string, v: unknown): void {
    const s = this.string(field, v);
    if (!s) return;
    try {
      parseCIDR(s);
    } catch {
      this.fail(field, `"${s}" is not a valid CIDR`);
    }
  }

  stringMap(
    field: string,
    v: unknown,
    keyRule?: (s: string) => string | undefined,
    valueRule?: (s: string) => string | undefined,
  ): void {
    const map = this.object(field, v);
    if (!map) return;
    for (const [key, value] of Object.entries(map)) {
      const where = `${field}[${JSON.stringify(key)}]`;
      const badKey = keyRule?.(key);
      if (badKey) this.fail(where, `key ${badKey}`);
      if (typeof value !== "string") this.fail(where, `must be a string, not ${describe(value)} (quote it)`);
      else if (valueRule) {
        const bad = valueRule(value);
        if (bad) this.fail(where, `"${value}" ${bad}`);
      }
    }
  }

  each(field: string, v: unknown, fn: (item: Json, at: string, i: number) => void, required = false): number {
    const list = this.list(field, v, required);
    if (!list) return 0;
    list.forEach((item, i) => {
      const at = `${field}[${i}]`;
      const obj = this.object(at, item, true);
      if (obj) fn(obj, at, i);
    });
    return list.length;
  }
}

/** A value as a problem message names it: "a list", "the string \"x\"", "number 3". */
export function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "an object";
  if (typeof v === "string") return `the string ${JSON.stringify(v)}`;
  return `${typeof v} ${String(v)}`;
}
