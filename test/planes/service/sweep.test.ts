import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Sweep } from "../../../src/planes/service/sweep.ts";

interface Item {
  name: string;
  activity: number;
  seen: number;
}

function quiet(item: Item): boolean {
  const q = item.activity === item.seen;
  item.seen = item.activity;
  return q;
}

describe("sweep (coarse shared timeouts)", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("expires an item quiet for the timeout, not before, and at most 1.25 × after", () => {
    const expired: string[] = [];
    const sweep = new Sweep<Item>(400, quiet, (i) => expired.push(i.name));
    const item = { name: "a", activity: 1, seen: 0 }; // active just now
    sweep.add(item);
    vi.advanceTimersByTime(399);
    expect(expired).toEqual([]);
    vi.advanceTimersByTime(101); // 500 = 1.25 × 400
    expect(expired).toEqual(["a"]);
    expect(sweep.size).toBe(0);
  });

  it("keeps an item that shows activity more often than the timeout", () => {
    const expired: string[] = [];
    const sweep = new Sweep<Item>(400, quiet, (i) => expired.push(i.name));
    const busy = { name: "busy", activity: 1, seen: 0 };
    const idle = { name: "idle", activity: 1, seen: 0 };
    sweep.add(busy);
    sweep.add(idle);
    for (let t = 0; t < 3000; t += 300) {
      busy.activity++;
      vi.advanceTimersByTime(300);
    }
    expect(expired).toEqual(["idle"]);
    expect(sweep.size).toBe(1);
    sweep.delete(busy);
  });

  it("runs its timer only while it has items", () => {
    const sweep = new Sweep<Item>(400, quiet, () => {});
    expect(vi.getTimerCount()).toBe(0);
    const item = { name: "a", activity: 0, seen: 0 };
    sweep.add(item);
    expect(vi.getTimerCount()).toBe(1);
    sweep.delete(item);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("forgets a deleted item's quiet streak", () => {
    const expired: string[] = [];
    const sweep = new Sweep<Item>(400, quiet, (i) => expired.push(i.name));
    const item = { name: "a", activity: 0, seen: 0 };
    sweep.add(item);
    vi.advanceTimersByTime(300); // three quiet checks
    sweep.delete(item);
    sweep.add(item);
    vi.advanceTimersByTime(300);
    expect(expired).toEqual([]);
    vi.advanceTimersByTime(100);
    expect(expired).toEqual(["a"]);
  });
});
