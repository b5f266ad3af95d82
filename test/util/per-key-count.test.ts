import { describe, expect, it } from "vitest";
import { PerKeyCount } from "../../src/util/per-key-count.ts";

describe("PerKeyCount", () => {
  it.each([
    ["takes up to max per key", ["t a", "t a", "t a", "t b"], [true, true, false, true], { a: 2, b: 1 }, 2],
    ["a give frees one slot", ["t a", "t a", "g a", "t a"], [true, true, true, true], { a: 2 }, 1],
    ["a key held by none is forgotten", ["t a", "g a", "g a"], [true, true, false], { a: 0 }, 0],
  ] as const)("%s", (_name, steps, results, counts, keys) => {
    const c = new PerKeyCount(2);
    expect(steps.map((s) => (s[0] === "t" ? c.take(s.slice(2)) : c.give(s.slice(2))))).toEqual(results);
    for (const [key, n] of Object.entries(counts)) expect(c.count(key)).toBe(n);
    expect(c.keys()).toBe(keys);
  });
});
