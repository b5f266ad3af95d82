import { describe, expect, it } from "vitest";
import { median, percentile, ratio, rotated } from "../../bench/lib/stats.ts";

describe("median", () => {
  it.each([
    [[], null],
    [[5], 5],
    [[3, 1, 2], 2],
    [[4, 1, 3, 2], 2.5],
    [[null, 7, undefined, Number.NaN, 9], 8],
    [[null, undefined], null],
  ])("median(%j) = %j", (values, expected) => {
    expect(median(values)).toBe(expected);
  });
});

describe("percentile", () => {
  it.each([
    [[1, 2, 3, 4, 5], 50, 3],
    [[1, 2, 3, 4, 5], 0, 1],
    [[1, 2, 3, 4, 5], 100, 5],
    [[10, 20], 50, 15],
    [[5, 1, 4, 2, 3], 75, 4],
  ])("percentile(%j, %d) = %d", (values, p, expected) => {
    expect(percentile(values, p)).toBe(expected);
  });
  it("is null without values and rejects p outside 0-100", () => {
    expect(percentile([], 50)).toBeNull();
    expect(() => percentile([1], 101)).toThrow(RangeError);
  });
});

describe("rotated", () => {
  it("rotates left by the round so every target leads once", () => {
    const t = ["a", "b", "c"];
    expect([0, 1, 2, 3].map((r) => rotated(t, r).join(""))).toEqual(["abc", "bca", "cab", "abc"]);
    expect(rotated([], 2)).toEqual([]);
  });
});

describe("ratio", () => {
  it.each([
    [6, 3, 2],
    [1, 0, null],
    [null, 3, null],
    [3, undefined, null],
  ])("ratio(%j, %j) = %j", (a, b, expected) => {
    expect(ratio(a, b)).toBe(expected);
  });
});
