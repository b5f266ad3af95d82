import { randomFillSync } from "node:crypto";

/**
 * Fresh X-Request-Id values: random (version 4) UUIDs, the format `crypto.randomUUID` gives, from the same
 * CSPRNG, but filled 256 ids at a time into one buffer and formatted from a byte-to-hex table. Measured with
 * Node 24 here: ~90 ns per id against ~175 ns for randomUUID (which refills its cache every 128 ids and
 * formats through more layers), once per proxied request without a client-sent id.
 */

const IDS_PER_FILL = 256;
const pool = Buffer.alloc(16 * IDS_PER_FILL);
let offset = pool.length;

const HEX: string[] = [];
for (let i = 0; i < 256; i++) HEX.push(i.toString(16).padStart(2, "0"));

export function newRequestId(): string {
  if (offset === pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  const b = pool;
  const o = offset;
  offset += 16;
  // version 4 in the high nibble of byte 6, variant 10 in the high bits of byte 8 (RFC 9562)
  return `${HEX[b[o]!]}${HEX[b[o + 1]!]}${HEX[b[o + 2]!]}${HEX[b[o + 3]!]}-${HEX[b[o + 4]!]}${HEX[b[o + 5]!]}-${HEX[(b[o + 6]! & 0x0f) | 0x40]}${HEX[b[o + 7]!]}-${HEX[(b[o + 8]! & 0x3f) | 0x80]}${HEX[b[o + 9]!]}-${HEX[b[o + 10]!]}${HEX[b[o + 11]!]}${HEX[b[o + 12]!]}${HEX[b[o + 13]!]}${HEX[b[o + 14]!]}${HEX[b[o + 15]!]}`;
}
