import { describe, expect, it } from "vitest";
import { ReadBufferPool, readBuffers } from "../../../src/planes/service/read-buffers.ts";

function pool(keep = 2) {
  return new ReadBufferPool({ smallSize: 16, largeSize: 64, keepSmall: keep, keepLarge: keep });
}

describe("read buffer pool", () => {
  it("hands out buffers of the two sizes", () => {
    const p = pool();
    expect(p.take(false).length).toBe(16);
    expect(p.take(true).length).toBe(64);
  });

  it("reuses a buffer that was given back, by size", () => {
    const p = pool();
    const small = p.take(false);
    const large = p.take(true);
    p.give(small);
    p.give(large);
    expect(p.idle).toEqual({ small: 1, large: 1 });
    expect(p.take(true)).toBe(large);
    expect(p.take(false)).toBe(small);
    expect(p.idle).toEqual({ small: 0, large: 0 });
    expect(p.take(false)).not.toBe(small); // empty again: a new one
  });

  it("keeps at most the configured number of idle buffers per size", () => {
    const p = pool(2);
    const taken = Array.from({ length: 5 }, () => p.take(true));
    for (const b of taken) p.give(b);
    expect(p.idle.large).toBe(2);
  });

  it("ignores buffers of other sizes", () => {
    const p = pool();
    p.give(Buffer.alloc(17));
    p.give(Buffer.alloc(0));
    expect(p.idle).toEqual({ small: 0, large: 0 });
  });

  it.each([
    // [buffer size, bytes read, size of the next buffer (undefined: read into the same one)]
    [16, 16, 64], // a small buffer filled: bulk, go large
    [16, 15, undefined], // small traffic stays small
    [64, 64, undefined], // bulk stays large
    [64, 40, undefined], // more than a small buffer holds: stay large
    [64, 16, 16], // small again: give the large one back
  ] as const)("resized: a %i-byte buffer that read %i bytes → %s", (size, nread, next) => {
    const p = pool();
    const buffer = p.take(size === 64);
    const resized = p.resized(buffer, nread);
    expect(resized?.length).toBe(next);
    // a replaced buffer goes back to the pool, a kept one does not
    expect(p.idle.small + p.idle.large).toBe(next === undefined ? 0 : 1);
  });

  it.each([
    [16, 16, 64],
    [16, 3, 16],
    [64, 3, 64],
  ] as const)("successor: a held %i-byte buffer that read %i bytes → a new %i-byte one", (size, nread, next) => {
    const p = pool();
    const buffer = p.take(size === 64);
    const successor = p.successor(buffer, nread);
    expect(successor).not.toBe(buffer);
    expect(successor.length).toBe(next);
  });

  it("rejects sizes that are not small < large", () => {
    expect(() => new ReadBufferPool({ smallSize: 64, largeSize: 64, keepSmall: 1, keepLarge: 1 })).toThrow();
    expect(() => new ReadBufferPool({ smallSize: 0, largeSize: 64, keepSmall: 1, keepLarge: 1 })).toThrow();
  });

  it("the proxy's pool reads a page for small traffic and 256 KiB for bulk", () => {
    expect(readBuffers.smallSize).toBe(4096);
    expect(readBuffers.largeSize).toBe(256 * 1024);
  });
});
