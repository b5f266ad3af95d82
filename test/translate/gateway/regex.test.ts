import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { checkRegex, checkRegexPart } from "../../../src/translate/gateway/regex.ts";

/** Hostile rule of issue 13: patterns that backtrack catastrophically are refused, with the reason. */
describe("checkRegex: refused", () => {
  const cases: [pattern: string, reason: RegExp][] = [
    // classic ReDoS: exponential
    ["(a+)+$", /repetition inside another repetition.*exponential/],
    ["(a|aa)*", /alternatives inside a repetition can both start with 'a'/],
    ["(a|a)*b", /alternatives inside a repetition/],
    ["(.*a){20}", /repetition inside another repetition/],
    ["(a*)*", /can match the empty string/],
    ["(a?)+", /can match the empty string/],
    ["([a-z]+)*", /repetition inside another repetition/],
    ["(\\w+\\s?)+$", /repetition inside another repetition/],
    ["^(([a-z])+.)+[A-Z]([a-z])+$", /repetition inside another repetition/],
    ["(x+x+)+y", /repetition inside another repetition/],
    // polynomial
    [".*a.*", /the repetition \.\* can give characters back.*the repetition \.\* comes after it/],
    ["\\d+\\d+", /polynomial/],
    ["/(.*)/(.*)", /polynomial/],
    ["a*a*a*a*b", /polynomial/],
    ["(a|b)*(a|c)*", /polynomial/],
    // exponential by choices without a loop
    [`${"a?".repeat(12)}${"a".repeat(12)}`, /tried in 4096 ways/],
    // not RE2, or not linear-time
    ["(a)\\1", /backreference/],
    ["(?=a)a", /lookaround/],
    ["(?!a)b", /lookaround/],
    ["(?<=a)b", /lookaround/],
    ["(?i)abc", /inline flags/],
    ["\\p{L}", /Unicode class/],
    ["[[:alpha:]]", /POSIX class/],
    ["\\Qa.b\\E", /unknown escape \\Q/],
    // syntax
    ["(abc", /missing '\)'/],
    ["abc)", /unmatched '\)'/],
    ["[abc", /missing '\]'/],
    ["*a", /missing argument to repetition operator/],
    ["a**", /repetition of a repetition/],
    ["a{2}{3}", /repetition of a repetition/],
    ["^*", /repetition of the assertion/],
    ["a{1001}", /repetition count above 1000/],
    ["a{3,2}", /maximum below minimum/],
    ["[z-a]", /bad range/],
    ["abc\\", /trailing backslash/],
    ["中", /only characters up to \\xff/],
    ["[a-\u4e2d]", /only characters up to \\xff/],
    ["\\x{4e2d}", /only characters up to \\xff/],
    ["x".repeat(1025), /longer than 1024 characters/],
    [`${"(".repeat(40)}a${")".repeat(40)}`, /nested deeper than 32/],
    ["(?:a{200}){200}", /too large/],
  ];
  for (const [pattern, reason] of cases)
    it(pattern.length > 60 ? `${pattern.slice(0, 60)}…` : pattern, () => {
      const r = checkRegex(pattern);
      expect(r.ok).toBe(false);
      if (!r.ok) {
        expect(r.message).toMatch(reason);
        expect(r.message).toContain("refused");
      }
    });
});

describe("checkRegex: accepted, anchored to the whole value, with RE2's meaning", () => {
  const cases: { pattern: string; matches: string[]; misses: string[] }[] = [
    { pattern: "/foo/.*", matches: ["/foo/", "/foo/bar/baz"], misses: ["/foo", "/x/foo/bar"] },
    { pattern: "^/api/v[0-9]+/.*$", matches: ["/api/v1/x", "/api/v22/"], misses: ["/api/v/x", "/api/v1"] },
    { pattern: "/users/\\d+", matches: ["/users/42"], misses: ["/users/42/", "/users/", "x/users/1"] },
    { pattern: ".*\\.(png|jpg)", matches: ["/a/b.png", ".jpg"], misses: ["/a.gif", "/a.png/x"] },
    { pattern: "(/[a-z0-9]+)*", matches: ["", "/a/b1/c"], misses: ["/a//b", "/A"] },
    { pattern: "([a-f0-9]{2})+", matches: ["0a", "ffee"], misses: ["f", "0g"] },
    { pattern: "\\d{1,3}(\\.\\d{1,3}){3}", matches: ["10.0.0.1"], misses: ["10.0.0", "1000.0.0.1"] },
    { pattern: "[a-z]+@[a-z]+\\.[a-z]+", matches: ["me@example.com"], misses: ["me@example"] },
    { pattern: "^[a-z]+(-[a-z]+)*$", matches: ["a-b-c"], misses: ["a--b", "-a"] },
    { pattern: "([a-z]+\\.)+[a-z]+", matches: ["a.b.c"], misses: ["a.", ".a"] },
    { pattern: "foo|foobar", matches: ["foo", "foobar"], misses: ["foob"] },
    { pattern: "v[12]", matches: ["v1", "v2"], misses: ["v3", "v12"] },
    { pattern: "(?P<name>one|two)", matches: ["one", "two"], misses: ["three"] },
    { pattern: "(?<name>a)b", matches: ["ab"], misses: ["a"] },
    // RE2: `.` is anything but \n; \s is [\t\n\f\r ] only
    { pattern: "a.c", matches: ["abc", "a\rc", "a\u00e9c", "a\u4e2dc"], misses: ["a\nc"] },
    { pattern: "caf\u00e9", matches: ["caf\u00e9"], misses: ["cafe", "caf\u4e2d"] },
    { pattern: "[^a]", matches: ["b", "\u4e2d"], misses: ["a"] },
    { pattern: "a\\sc", matches: ["a c", "a\tc"], misses: ["a\u00a0c", "a\u000bc"] },
    { pattern: "\\Aab\\z", matches: ["ab"], misses: ["abc"] },
    { pattern: "[]a]", matches: ["]", "a"], misses: ["b"] },
    { pattern: "a{,3}", matches: ["a{,3}"], misses: ["aaa"] },
    { pattern: "\\x41\\x{42}", matches: ["AB"], misses: ["ab"] },
    { pattern: "[\\d.]+", matches: ["1.2"], misses: ["a"] },
    { pattern: "[^/]*/.*", matches: ["a/b/c"], misses: ["abc"] },
    { pattern: "x{0,100}x", matches: ["x", "xxx"], misses: ["", "y"] },
    { pattern: "(ab)*ab", matches: ["ab", "abab"], misses: ["a", "aba"] },
    { pattern: "((ab)*c)*", matches: ["", "c", "abcababc"], misses: ["abab"] },
    { pattern: ".*", matches: ["", "anything"], misses: ["two\nlines"] },
  ];
  for (const c of cases)
    it(c.pattern, () => {
      const r = checkRegex(c.pattern);
      if (!r.ok) throw new Error(r.message);
      expect(r.source.startsWith("^(?:")).toBe(true);
      expect(r.source.endsWith(")$")).toBe(true);
      const re = new RegExp(r.source);
      for (const s of c.matches) expect(re.test(s), `${JSON.stringify(s)} should match`).toBe(true);
      for (const s of c.misses) expect(re.test(s), `${JSON.stringify(s)} should not match`).toBe(false);
    });
});

describe("checkRegexPart", () => {
  it("takes the excluded characters out of every set and drops ^/$ (the caller anchors the part)", () => {
    const r = checkRegexPart("^.*Service$", "/");
    if (!r.ok) throw new Error(r.message);
    const re = new RegExp(`^(?:/(?:${r.body})/x)$`);
    expect(re.test("/my.Service/x")).toBe(true);
    expect(re.test("/a/b.Service/x")).toBe(false);
  });
  it("refuses what checkRegex refuses", () => {
    expect(checkRegexPart("(a+)+", "/").ok).toBe(false);
  });
});

describe("checkRegex: any input", () => {
  it("never throws: a source that compiles, or a message", () => {
    const alphabet = fc.constantFrom(..."ab.*+?|()[]{}^$\\-,0123:<>=!PpdDwWsSbBxAzQ/\u00e9\u4e2d".split(""));
    fc.assert(
      fc.property(
        fc.array(alphabet, { maxLength: 40 }).map((chars) => chars.join("")),
        (pattern) => {
          const r = checkRegex(pattern);
          if (r.ok) expect(() => new RegExp(r.source)).not.toThrow();
          else expect(r.message).toMatch(/^regular expression .* refused: /s);
        },
      ),
      { numRuns: 2000 },
    );
  });
});
