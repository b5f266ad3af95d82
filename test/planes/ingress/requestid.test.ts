import { describe, expect, it } from "vitest";
import { newRequestId } from "../../../src/planes/ingress/requestid.ts";

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe("generated X-Request-Id", () => {
  it("is a random version 4 UUID, distinct across several refills of the pool", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const id = newRequestId();
      expect(id).toMatch(UUID_V4);
      seen.add(id);
    }
    expect(seen.size).toBe(2000);
  });

  it("uses every hex digit in the random positions (not a constant or a counter)", () => {
    const digits = new Set<string>();
    for (let i = 0; i < 300; i++) for (const c of newRequestId().slice(24)) digits.add(c);
    expect(digits.size).toBe(16);
  });
});
