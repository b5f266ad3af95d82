import { describe, expect, it } from "vitest";
import { ConnectionGate, type RefusedBy, SharedCount, UdpFlowLimits } from "../../../src/planes/service/fd-guard.ts";

describe("UdpFlowLimits", () => {
  // each step: acquire (+ip) or release (-ip), and what acquire answers
  it.each([
    {
      total: 3,
      perSource: 2,
      steps: ["+a", "+a", "+a", "+b", "+b"],
      want: [undefined, undefined, "source", undefined, "total"],
    },
    {
      total: 2,
      perSource: 2,
      steps: ["+a", "+b", "+c", "-a", "+c"],
      want: [undefined, undefined, "total", undefined, undefined],
    },
    {
      total: 5,
      perSource: 1,
      steps: ["+a", "+a", "-a", "+a", "-b"],
      want: [undefined, "source", undefined, undefined, undefined],
    },
  ])("total $total, per source $perSource: $steps", ({ total, perSource, steps, want }) => {
    const limits = new UdpFlowLimits(total, perSource);
    const got: (RefusedBy | undefined)[] = [];
    for (const step of steps) {
      if (step[0] === "+") got.push(limits.acquire(step.slice(1)));
      else {
        limits.release(step.slice(1));
        got.push(undefined);
      }
    }
    expect(got).toEqual(want);
  });

  it("forgets a source once its last flow goes, and ignores a release it never gave", () => {
    const limits = new UdpFlowLimits(10, 10);
    limits.acquire("a");
    limits.acquire("a");
    limits.release("zz");
    expect([limits.total, limits.sources()]).toEqual([2, 1]);
    limits.release("a");
    limits.release("a");
    expect([limits.total, limits.sources()]).toEqual([0, 0]);
  });
});

describe("ConnectionGate", () => {
  function gates(perListener: number, total: number) {
    const counts = { listener: 0, total: 0, source: 0, exhausted: 0 };
    const refused = {
      listener: { inc: () => counts.listener++ },
      total: { inc: () => counts.total++ },
      source: { inc: () => counts.source++ },
      exhausted: { inc: () => counts.exhausted++ },
    };
    const pauses: number[] = [];
    const shared = new SharedCount(total);
    const make = () => new ConnectionGate(perListener, shared, refused, (p) => pauses.push(p));
    return { a: make(), b: make(), shared, counts, pauses };
  }

  it("refuses over the listener's cap, then over the shared one, and counts which", () => {
    const { a, b, shared, counts } = gates(2, 3);
    expect([a.acquire(), a.acquire(), a.acquire()]).toEqual([true, true, false]);
    expect([b.acquire(), b.acquire()]).toEqual([true, false]);
    expect(counts).toEqual({ listener: 1, total: 1, source: 0, exhausted: 0 });
    expect(shared.open).toBe(3);
    a.release();
    expect(b.acquire()).toBe(true);
    expect([a.open, b.open, shared.open]).toEqual([1, 2, 3]);
  });

  it("refuses during the back-off after an exhaustion, and tells the pause once", () => {
    const { a, counts, pauses } = gates(10, 10);
    a.exhausted();
    a.exhausted();
    expect(pauses).toEqual([100, 0]);
    expect(a.acquire()).toBe(false);
    expect(counts.exhausted).toBe(1);
  });
});
