/**
 * RegularExpression values of HTTPRoute and GRPCRoute matches (path, header, query parameter, gRPC
 * service/method). The spec leaves the dialect to the implementation; nodeplane reads RE2 syntax (what
 * Envoy-based implementations accept) and refuses what it cannot serve safely.
 *
 * The planes match with JavaScript's RegExp, a backtracking engine: a pattern like `(a+)+$` takes time
 * exponential in the input length, `.*a.*a.*` polynomial, so a hostile route could stall a worker per
 * request. A pattern is therefore accepted only when this static check proves the backtracking bounded
 * (linear in the input, times a constant of at most MAX_CHOICES):
 *  - no backreferences, lookaround, inline flags, Unicode classes or `\Q...\E` (not RE2, or not linear);
 *  - a repeated expression (`X*`, `X+`, `X{n,m}` with m > 1) must not match the empty string, and inside
 *    it nothing may be ambiguous: no optional or repeated part, and no alternation, whose first
 *    characters could also start what follows it (the next part, the next iteration or what follows the
 *    repetition) — `(a+)+`, `(a|aa)*`, `(.*a){20}` are refused, `(/[a-z0-9]+)*` and `([a-f0-9]{2})+` are fine;
 *  - a long repetition (unbounded, or more than 64 optional iterations) that could give characters back
 *    to what follows it must not be followed, anywhere later, by another long repetition (`.*a.*`,
 *    `\d+\d+`, `/(.*)/(.*)` are refused: write `[^/]*` where a separator ends a part);
 *  - the other ambiguous choices (an optional part or an alternation whose branches start alike) multiply
 *    to at most MAX_CHOICES ways;
 *  - at most MAX_LENGTH characters, MAX_REPEAT per counted repetition (RE2's limit), MAX_DEPTH nested groups.
 * The check is conservative (it refuses some patterns that are in fact linear) and never refuses a
 * pattern without saying which part and why.
 *
 * The accepted pattern is re-emitted from its syntax tree as a JavaScript source with RE2's meaning
 * (`.` = any character but `\n`, `\s` = `[\t\n\f\r ]`, named groups as plain groups) and anchored to the
 * whole value, `^(?:...)$`: a RegularExpression path match matches the whole path (as Envoy's safe_regex
 * does), as do header, query parameter and gRPC method matches; write `.*` to match a part.
 */

const MAX_LENGTH = 1024;
const MAX_REPEAT = 1000;
const MAX_DEPTH = 32;
const MAX_CHOICES = 256;
/** a repetition with more optional iterations than this counts as long (like an unbounded one) */
const LONG_SPAN = 64;
/** the compiled program's size (characters after counted repetitions are expanded), as RE2 bounds its own */
const MAX_PROGRAM = 20_000;

export type RegexCheck = { ok: true; source: string } | { ok: false; message: string };

/** RegularExpression values: accepted only if linear-time safe (or bounded); the reason text if refused */
export function checkRegex(pattern: string): RegexCheck {
  const checked = checkRegexPart(pattern, "");
  if (!checked.ok) return checked;
  return { ok: true, source: `^(?:${checked.body})$` };
}

/**
 * A pattern for one part of a larger expression: checked as checkRegex does, with the characters of
 * `without` taken out of every character set (a gRPC service or method cannot hold a `/`) and `^`/`$`
 * meaning the part's own ends (dropped: the caller anchors the part); `body` is unanchored.
 */
export function checkRegexPart(
  pattern: string,
  without: string,
): { ok: true; body: string } | { ok: false; message: string } {
  const refuse = (why: string) => ({
    ok: false as const,
    message: `regular expression ${JSON.stringify(pattern)} refused: ${why}`,
  });
  if (typeof pattern !== "string") return refuse("not a string");
  if (pattern.length > MAX_LENGTH) return refuse(`longer than ${MAX_LENGTH} characters`);
  let ast: Node;
  try {
    ast = new Parser(pattern).parse();
  } catch (error) {
    if (error instanceof RegexError) return refuse(error.message);
    throw error;
  }
  if (without !== "") ast = restrict(ast, CharSet.of(...[...without].map((c) => c.charCodeAt(0))).complement());
  if (programSize(ast) > MAX_PROGRAM)
    return refuse(`too large once its repetitions are expanded (over ${MAX_PROGRAM})`);
  const unsafe = new Safety().check(ast);
  if (unsafe) return refuse(unsafe);
  const body = emit(ast);
  try {
    new RegExp(`^(?:${body})$`);
  } catch (error) {
    return refuse(`not a valid expression (${(error as Error).message})`);
  }
  return { ok: true, body };
}

/** every character set intersected with `allowed`; `^` and `$` dropped (see checkRegexPart) */
function restrict(n: Node, allowed: CharSet): Node {
  switch (n.t) {
    case "empty":
      return n;
    case "assert":
      return n.src === "^" || n.src === "$" ? { t: "empty" } : n;
    case "char":
      return { t: "char", set: intersection(n.set, allowed) };
    case "seq":
      return { t: "seq", items: n.items.map((i) => restrict(i, allowed)) };
    case "alt":
      return { t: "alt", branches: n.branches.map((b) => restrict(b, allowed)) };
    case "group":
      return { t: "group", body: restrict(n.body, allowed) };
    case "repeat":
      return { ...n, body: restrict(n.body, allowed) };
  }
}

class RegexError extends Error {}

// ---------------------------------------------------------------------------------------------------
// character sets: bytes 0..255 as a bitmap, and whether any character above 255 is in the set

class CharSet {
  readonly bits = new Uint32Array(8);
  high = false;

  static of(...codes: number[]): CharSet {
    const set = new CharSet();
    for (const c of codes) set.addRange(c, c);
    return set;
  }

  static range(lo: number, hi: number): CharSet {
    const set = new CharSet();
    set.addRange(lo, hi);
    return set;
  }

  addRange(lo: number, hi: number): void {
    for (let c = lo; c <= Math.min(hi, 255); c++) this.bits[c >> 5]! |= 1 << (c & 31);
    if (hi > 255) this.high = true;
  }

  addSet(other: CharSet): void {
    for (let i = 0; i < 8; i++) this.bits[i]! |= other.bits[i]!;
    this.high ||= other.high;
  }

  complement(): CharSet {
    const set = new CharSet();
    for (let i = 0; i < 8; i++) set.bits[i] = ~this.bits[i]!;
    set.high = !this.high;
    return set;
  }

  has(c: number): boolean {
    return c > 255 ? this.high : (this.bits[c >> 5]! & (1 << (c & 31))) !== 0;
  }

  intersects(other: CharSet): boolean {
    if (this.high && other.high) return true;
    for (let i = 0; i < 8; i++) if ((this.bits[i]! & other.bits[i]!) !== 0) return true;
    return false;
  }

  /** one character to show in a message */
  example(other: CharSet): string {
    for (let c = 0; c < 256; c++)
      if (this.has(c) && other.has(c)) return c > 32 && c < 127 ? `'${String.fromCharCode(c)}'` : `\\x${hex2(c)}`;
    return "a character above \\xff";
  }
}

const EMPTY_SET = new CharSet();
const DIGIT = CharSet.range(0x30, 0x39);
const WORD = (() => {
  const s = CharSet.range(0x30, 0x39);
  s.addRange(0x41, 0x5a);
  s.addRange(0x61, 0x7a);
  s.addRange(0x5f, 0x5f);
  return s;
})();
/** RE2's \s: [\t\n\f\r ] */
const SPACE = CharSet.of(9, 10, 12, 13, 32);
/** RE2's `.` without the s flag: anything but \n */
const DOT = CharSet.of(10).complement();

function intersection(a: CharSet, b: CharSet): CharSet {
  const set = new CharSet();
  for (let i = 0; i < 8; i++) set.bits[i] = a.bits[i]! & b.bits[i]!;
  set.high = a.high && b.high;
  return set;
}

function union(a: CharSet, b: CharSet): CharSet {
  const set = new CharSet();
  set.addSet(a);
  set.addSet(b);
  return set;
}

// ---------------------------------------------------------------------------------------------------
// syntax tree

type Node =
  | { t: "empty" }
  | { t: "char"; set: CharSet }
  | { t: "assert"; src: "^" | "$" | "\\b" | "\\B" }
  | { t: "seq"; items: Node[] }
  | { t: "alt"; branches: Node[] }
  | { t: "group"; body: Node }
  /** text: the repetition as written, for messages */
  | { t: "repeat"; body: Node; min: number; max: number; lazy: boolean; text: string };

class Parser {
  private readonly src: string;
  private pos = 0;
  private depth = 0;

  constructor(src: string) {
    this.src = src;
  }

  parse(): Node {
    const node = this.alternation();
    if (this.pos < this.src.length) throw new RegexError(`unmatched ')' at offset ${this.pos}`);
    return node;
  }

  private peek(offset = 0): string {
    return this.src[this.pos + offset] ?? "";
  }

  private alternation(): Node {
    const branches = [this.sequence()];
    while (this.peek() === "|") {
      this.pos++;
      branches.push(this.sequence());
    }
    return branches.length === 1 ? branches[0]! : { t: "alt", branches };
  }

  private sequence(): Node {
    const items: Node[] = [];
    while (this.pos < this.src.length && this.peek() !== "|" && this.peek() !== ")") {
      const atomStart = this.pos;
      let atom = this.atom();
      for (;;) {
        const quantifier = this.quantifier();
        if (!quantifier) break;
        if (atom.t === "repeat")
          throw new RegexError(`repetition of a repetition at offset ${this.pos} (write a group)`);
        if (atom.t === "assert") throw new RegexError(`repetition of the assertion ${atom.src}`);
        atom = { t: "repeat", body: atom, ...quantifier, text: this.src.slice(atomStart, this.pos) };
      }
      items.push(atom);
    }
    return items.length === 0 ? { t: "empty" } : items.length === 1 ? items[0]! : { t: "seq", items };
  }

  private quantifier(): { min: number; max: number; lazy: boolean } | undefined {
    const c = this.peek();
    let min: number;
    let max: number;
    if (c === "*" || c === "+" || c === "?") {
      this.pos++;
      [min, max] = c === "*" ? [0, Infinity] : c === "+" ? [1, Infinity] : [0, 1];
    } else if (c === "{") {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(this.src.slice(this.pos));
      if (!m) return undefined; // RE2: a `{` that starts no repetition is a literal
      this.pos += m[0].length;
      min = Number(m[1]);
      max = m[2] === undefined ? min : m[3] === "" ? Infinity : Number(m[3]);
      if (min > MAX_REPEAT || (max !== Infinity && max > MAX_REPEAT))
        throw new RegexError(`repetition count above ${MAX_REPEAT} in ${m[0]}`);
      if (max < min) throw new RegexError(`bad repetition ${m[0]}: maximum below minimum`);
    } else return undefined;
    const lazy = this.peek() === "?";
    if (lazy) this.pos++;
    return { min, max, lazy };
  }

  private atom(): Node {
    const c = this.peek();
    const at = this.pos;
    switch (c) {
      case "(":
        return this.group();
      case "[":
        return { t: "char", set: this.charClass() };
      case ".":
        this.pos++;
        return { t: "char", set: DOT };
      case "^":
      case "$":
        this.pos++;
        return { t: "assert", src: c };
      case "\\":
        return this.escape(false);
      case "*":
      case "+":
      case "?":
        throw new RegexError(`missing argument to repetition operator '${c}' at offset ${at}`);
      default: {
        const code = this.src.codePointAt(this.pos)!;
        this.pos += code > 0xffff ? 2 : 1;
        return { t: "char", set: CharSet.of(latin1(code, at)) };
      }
    }
  }

  private group(): Node {
    const at = this.pos;
    this.pos++;
    if (++this.depth > MAX_DEPTH) throw new RegexError(`groups nested deeper than ${MAX_DEPTH}`);
    if (this.peek() === "?") {
      const rest = this.src.slice(this.pos);
      const named = /^\?P?<([A-Za-z0-9_]+)>/.exec(rest);
      if (rest.startsWith("?:")) this.pos += 2;
      else if (named) this.pos += named[0].length;
      else if (/^\?(=|!|<=|<!)/.test(rest))
        throw new RegexError(`lookaround at offset ${at} is not supported (it is not RE2 and not linear-time)`);
      else throw new RegexError(`inline flags or unknown group syntax at offset ${at} are not supported`);
    }
    const body = this.alternation();
    if (this.peek() !== ")") throw new RegexError(`missing ')' for the group at offset ${at}`);
    this.pos++;
    this.depth--;
    return { t: "group", body };
  }

  /** `\x` outside (inClass false: may be an assertion) or inside a class */
  private escape(inClass: true): CharSet;
  private escape(inClass: false): Node;
  private escape(inClass: boolean): Node | CharSet {
    const at = this.pos;
    this.pos++;
    const c = this.peek();
    if (c === "") throw new RegexError("trailing backslash");
    this.pos++;
    const set = (s: CharSet): Node | CharSet => (inClass ? s : { t: "char", set: s });
    switch (c) {
      case "d":
        return set(DIGIT);
      case "D":
        return set(DIGIT.complement());
      case "w":
        return set(WORD);
      case "W":
        return set(WORD.complement());
      case "s":
        return set(SPACE);
      case "S":
        return set(SPACE.complement());
      case "t":
        return set(CharSet.of(9));
      case "n":
        return set(CharSet.of(10));
      case "v":
        return set(CharSet.of(11));
      case "f":
        return set(CharSet.of(12));
      case "r":
        return set(CharSet.of(13));
      case "a":
        return set(CharSet.of(7));
      case "x":
        return set(CharSet.of(this.hexEscape(at)));
      case "b":
      case "B":
      case "A":
      case "z":
        if (inClass) throw new RegexError(`\\${c} inside a character class at offset ${at}`);
        return { t: "assert", src: c === "A" ? "^" : c === "z" ? "$" : c === "b" ? "\\b" : "\\B" };
    }
    if (/[0-9]/.test(c)) throw new RegexError(`backreference or octal escape \\${c} at offset ${at} is not supported`);
    if (c === "p" || c === "P") throw new RegexError(`Unicode class \\${c} at offset ${at} is not supported`);
    if (/[A-Za-z]/.test(c)) throw new RegexError(`unknown escape \\${c} at offset ${at}`);
    const code = c.charCodeAt(0);
    if (code > 127) throw new RegexError(`escape of a non-ASCII character at offset ${at}`);
    return set(CharSet.of(code));
  }

  private hexEscape(at: number): number {
    const rest = this.src.slice(this.pos);
    const braced = /^\{([0-9A-Fa-f]{1,6})\}/.exec(rest);
    const plain = /^[0-9A-Fa-f]{2}/.exec(rest);
    const m = braced ?? plain;
    if (!m) throw new RegexError(`bad \\x escape at offset ${at}`);
    this.pos += m[0].length;
    return latin1(Number.parseInt(braced ? braced[1]! : m[0], 16), at);
  }

  private charClass(): CharSet {
    const at = this.pos;
    this.pos++;
    const negate = this.peek() === "^";
    if (negate) this.pos++;
    const set = new CharSet();
    let first = true;
    for (;;) {
      const c = this.peek();
      if (c === "") throw new RegexError(`missing ']' for the class at offset ${at}`);
      if (c === "]" && !first) break;
      if (c === "[" && this.peek(1) === ":")
        throw new RegexError(`POSIX class at offset ${this.pos} is not supported (write the range, e.g. [a-z])`);
      first = false;
      const lo = this.classAtom();
      if (this.peek() === "-" && this.peek(1) !== "]" && this.peek(1) !== "") {
        this.pos++;
        const hi = this.classAtom();
        if (typeof lo !== "number" || typeof hi !== "number")
          throw new RegexError(`bad range in the class at offset ${at}`);
        if (hi < lo) throw new RegexError(`bad range in the class at offset ${at}: ${hi} below ${lo}`);
        set.addRange(lo, hi);
      } else if (typeof lo === "number") set.addRange(lo, lo);
      else set.addSet(lo);
    }
    this.pos++;
    return negate ? set.complement() : set;
  }

  /** a single character (a number) or an escaped class like \d (a set) */
  private classAtom(): number | CharSet {
    if (this.peek() === "\\") {
      const before = this.pos;
      const set = this.escape(true);
      const text = this.src.slice(before, this.pos);
      // single-character escapes (\n, \-, \], \x41) are range endpoints; \d, \w, \s... are sets
      if (/^\\[dDwWsS]$/.test(text)) return set;
      for (let c = 0; c < 256; c++) if (set.has(c)) return c;
      return set;
    }
    const code = latin1(this.src.codePointAt(this.pos)!, this.pos);
    this.pos++;
    return code;
  }
}

/**
 * Characters in patterns are Latin-1 at most: Gateway API regexes match ASCII input (GEP-4359), and the
 * character sets here tell only "some character above \xff" apart from the rest.
 */
function latin1(code: number, at: number): number {
  if (code > 0xff)
    throw new RegexError(
      `character U+${code.toString(16).padStart(4, "0")} at offset ${at}: only characters up to \\xff are supported`,
    );
  return code;
}

// ---------------------------------------------------------------------------------------------------
// properties

function nullable(n: Node): boolean {
  switch (n.t) {
    case "empty":
    case "assert":
      return true;
    case "char":
      return false;
    case "seq":
      return n.items.every(nullable);
    case "alt":
      return n.branches.some(nullable);
    case "group":
      return nullable(n.body);
    case "repeat":
      return n.min === 0 || nullable(n.body);
  }
}

/** the characters a non-empty match can start with */
function first(n: Node): CharSet {
  switch (n.t) {
    case "empty":
    case "assert":
      return EMPTY_SET;
    case "char":
      return n.set;
    case "seq": {
      const set = new CharSet();
      for (const item of n.items) {
        set.addSet(first(item));
        if (!nullable(item)) break;
      }
      return set;
    }
    case "alt": {
      const set = new CharSet();
      for (const b of n.branches) set.addSet(first(b));
      return set;
    }
    case "group":
      return first(n.body);
    case "repeat":
      return n.max === 0 ? EMPTY_SET : first(n.body);
  }
}

/** character sets each non-empty match of `n` takes at least one character of (conservative: may be fewer) */
function required(n: Node): CharSet[] {
  switch (n.t) {
    case "char":
      return [n.set];
    case "seq":
      return n.items.flatMap((item) => (nullable(item) ? [] : required(item)));
    case "group":
      return required(n.body);
    case "repeat":
      return n.min >= 1 ? required(n.body) : [];
    default:
      return [];
  }
}

function programSize(n: Node): number {
  switch (n.t) {
    case "empty":
    case "assert":
    case "char":
      return 1;
    case "seq":
      return n.items.reduce((sum, item) => sum + programSize(item), 0);
    case "alt":
      return n.branches.reduce((sum, b) => sum + programSize(b), 0);
    case "group":
      return programSize(n.body);
    case "repeat":
      return programSize(n.body) * Math.max(1, n.max === Infinity ? n.min + 1 : n.max);
  }
}

// ---------------------------------------------------------------------------------------------------
// the backtracking check (see the top of the file)

interface LongRepeat {
  start: number;
  end: number;
  ambiguous: boolean;
  where: string;
  /** the sets every iteration needs a character of (to give an iteration back, what follows must take them) */
  required: CharSet[];
}

class Safety {
  private order = 0;
  private choices = 1;
  private readonly longs: LongRepeat[] = [];
  /** every character node, by walk order */
  private readonly leaves: { order: number; set: CharSet }[] = [];

  /** undefined when safe, else why not */
  check(root: Node): string | undefined {
    try {
      this.walk(root, EMPTY_SET, false);
    } catch (error) {
      if (error instanceof RegexError) return error.message;
      throw error;
    }
    for (const a of this.longs) {
      if (!a.ambiguous) continue;
      // a later long repetition multiplies the ways only if what follows `a` up to it can take back an
      // iteration of `a`: `([a-z]+\.)+[a-z]+` is linear, the `.` it would have to give back stops [a-z]+
      const b = this.longs.find(
        (l) => l.start >= a.end && a.required.every((set) => this.stretch(a.end, l.end).intersects(set)),
      );
      if (b)
        return `${a.where} can give characters back to what follows it, and ${b.where} comes after it: matching could take time polynomial in the input (bound the first one with a separator, e.g. [^/]* before a /)`;
    }
    if (this.choices > MAX_CHOICES)
      return `its optional parts and alternatives can be tried in ${this.choices} ways (at most ${MAX_CHOICES})`;
    return undefined;
  }

  /** the characters of every character node from walk order `from` to `to` */
  private stretch(from: number, to: number): CharSet {
    const set = new CharSet();
    for (const leaf of this.leaves) if (leaf.order >= from && leaf.order <= to) set.addSet(leaf.set);
    return set;
  }

  /** `cont`: the characters that can follow `n` (what comes next, the next iteration of a loop around it) */
  private walk(n: Node, cont: CharSet, inLoop: boolean): void {
    switch (n.t) {
      case "char":
        this.leaves.push({ order: this.order, set: n.set });
        this.order++;
        return;
      case "empty":
      case "assert":
        this.order++;
        return;
      case "group":
        this.walk(n.body, cont, inLoop);
        return;
      case "seq": {
        const conts: CharSet[] = new Array(n.items.length);
        let after = cont;
        for (let i = n.items.length - 1; i >= 0; i--) {
          conts[i] = after;
          const item = n.items[i]!;
          after = nullable(item) ? union(first(item), after) : first(item);
        }
        for (const [i, item] of n.items.entries()) this.walk(item, conts[i]!, inLoop);
        return;
      }
      case "alt": {
        const starts = n.branches.map((b) => (nullable(b) ? union(first(b), cont) : first(b)));
        let clash: string | undefined;
        for (let i = 0; i < starts.length && !clash; i++)
          for (let j = i + 1; j < starts.length && !clash; j++)
            if (starts[i]!.intersects(starts[j]!)) clash = starts[i]!.example(starts[j]!);
        if (clash) {
          if (inLoop)
            throw new RegexError(
              `alternatives inside a repetition can both start with ${clash}: matching could take time exponential in the input`,
            );
          this.choices *= n.branches.length;
        }
        for (const b of n.branches) this.walk(b, cont, inLoop);
        return;
      }
      case "repeat": {
        const start = this.order++;
        if (n.max === 0) return;
        if (n.max > 1 && nullable(n.body))
          throw new RegexError("a repeated expression can match the empty string (e.g. (a*)*)");
        const body = first(n.body);
        const ambiguous = n.max > n.min && body.intersects(cont);
        const long = n.max - n.min > LONG_SPAN;
        if (ambiguous && inLoop)
          throw new RegexError(
            `a repetition inside another repetition can end or go on at the same ${body.example(cont)} (like (a+)+ or (.*a){20}): matching could take time exponential in the input`,
          );
        if (ambiguous && !long) this.choices *= n.max - n.min + 1;
        this.walk(n.body, n.max > 1 ? union(body, cont) : cont, inLoop || n.max > 1);
        if (long)
          this.longs.push({
            start,
            end: this.order,
            ambiguous,
            where: `the repetition ${n.text}`,
            required: required(n.body),
          });
        return;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// emitting a JavaScript source with the RE2 meaning

function emit(n: Node): string {
  switch (n.t) {
    case "empty":
      return "";
    case "assert":
      return n.src;
    case "char":
      return emitSet(n.set);
    case "seq":
      return n.items.map(emit).join("");
    case "alt":
      return n.branches.map(emit).join("|");
    case "group":
      return `(?:${emit(n.body)})`;
    case "repeat": {
      const body = n.body.t === "char" || n.body.t === "group" ? emit(n.body) : `(?:${emit(n.body)})`;
      const q =
        n.min === 0 && n.max === Infinity
          ? "*"
          : n.min === 1 && n.max === Infinity
            ? "+"
            : n.min === 0 && n.max === 1
              ? "?"
              : n.max === Infinity
                ? `{${n.min},}`
                : n.min === n.max
                  ? `{${n.min}}`
                  : `{${n.min},${n.max}}`;
      return `${body}${q}${n.lazy ? "?" : ""}`;
    }
  }
}

function emitSet(set: CharSet): string {
  const ranges: [number, number][] = [];
  for (let c = 0; c < 256; c++) {
    if (!set.has(c)) continue;
    const last = ranges[ranges.length - 1];
    if (last && last[1] === c - 1) last[1] = c;
    else ranges.push([c, c]);
  }
  if (!set.high && ranges.length === 1 && ranges[0]![0] === ranges[0]![1]) return emitChar(ranges[0]![0]);
  let out = "";
  for (const [lo, hi] of ranges) out += lo === hi ? `\\x${hex2(lo)}` : `\\x${hex2(lo)}-\\x${hex2(hi)}`;
  if (set.high) out += "\\u0100-\\uffff";
  return out === "" ? "[^\\s\\S]" : `[${out}]`;
}

function emitChar(c: number): string {
  const ch = String.fromCharCode(c);
  return /[A-Za-z0-9 _\-/:;,'"%&=@!~<>#`]/.test(ch) ? ch : `\\x${hex2(c)}`;
}

function hex2(c: number): string {
  return c.toString(16).padStart(2, "0");
}
