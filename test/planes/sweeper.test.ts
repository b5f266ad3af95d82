import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Sweeper } from "../../src/planes/sweeper.ts";

describe("Sweeper (one timer for many items)", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("passes the items every period, and runs its timer only while there are items", () => {
    const passes: string[][] = [];
    const sweeper = new Sweeper<string>(100, (items) => passes.push([...items]));
    expect(vi.getTimerCount()).toBe(0);
    sweeper.add("a");
    sweeper.add("b");
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(99);
    expect(passes).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(passes).toEqual([["a", "b"]]);
    sweeper.delete("a");
    vi.advanceTimersByTime(100);
    expect(passes).toEqual([["a", "b"], ["b"]]);
    sweeper.delete("b");
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(1_000);
    expect(passes).toHaveLength(2);
  });

  it("stop() keeps the items (the next add restarts the timer); clear() forgets them", () => {
    const passes: number[] = [];
    const sweeper = new Sweeper<string>(50, (items) => passes.push(items.size));
    sweeper.add("a");
    sweeper.stop();
    expect(vi.getTimerCount()).toBe(0);
    expect(sweeper.size).toBe(1);
    sweeper.add("b");
    vi.advanceTimersByTime(50);
    expect(passes).toEqual([2]);
    sweeper.clear();
    expect(sweeper.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("sweep(now) runs one pass at once with the given time", () => {
    const times: number[] = [];
    const sweeper = new Sweeper<string>(100, (_items, now) => times.push(now));
    sweeper.add("a");
    sweeper.sweep(1234);
    expect(times).toEqual([1234]);
  });
});
