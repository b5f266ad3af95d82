import dnsPacket from "dns-packet";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../../src/log.ts";
import { Forwarder } from "../../../src/planes/dns/forward.ts";
import { assemble, encodeQuestion, parseQuery, type Template } from "../../../src/planes/dns/wire.ts";
import { queryPacket, startUpstreamStub, type UpstreamStub } from "./helpers.ts";

let upstream: UpstreamStub;

beforeAll(async () => {
  upstream = await startUpstreamStub((name, type) => {
    if (name === "aging.example" && type === "A")
      return { kind: "records", answers: [{ name: "aging.example", type: "A", ttl: 300, data: "192.0.2.20" }] };
    if (name === "slow.example")
      return {
        kind: "records",
        delayMs: 300,
        answers: [{ name: "slow.example", type: "A", ttl: 300, data: "192.0.2.21" }],
      };
    return undefined;
  });
});

afterAll(async () => {
  await upstream?.close();
});

/** What a client would receive for `name` given the forwarder's template, decoded. */
function render(name: string, template: Template, nowMs: number) {
  const msg = queryPacket(name, "A");
  const parsed = parseQuery(msg);
  if (!parsed.ok) throw new Error("parse");
  return dnsPacket.decode(assemble(msg, parsed.query, template, 4096, nowMs));
}

const ttlOf = (packet: dnsPacket.DecodedPacket) => {
  const answer = packet.answers?.[0];
  return answer && "ttl" in answer ? answer.ttl : undefined;
};

describe("Forwarder cache", () => {
  it("ages TTLs while cached, refetches after expiry, and bounds the cache", async () => {
    let now = 1_000_000;
    const forwarder = new Forwarder({
      upstreams: [{ host: "127.0.0.1", port: upstream.port }],
      cacheSize: 10,
      logger: silentLogger,
      now: () => now,
    });
    try {
      const question = encodeQuestion("aging.example", 1);
      const first = await forwarder.resolve("1/1/aging.example", question);
      expect(ttlOf(render("aging.example", first, now))).toBe(300);
      now += 100_000;
      const cached = forwarder.resolve("1/1/aging.example", question);
      expect(cached).not.toBeInstanceOf(Promise);
      expect(ttlOf(render("aging.example", cached as Template, now))).toBe(200);
      expect(upstream.seen.filter((s) => s === "aging.example/A")).toHaveLength(1);
      now += 201_000;
      const refetched = await forwarder.resolve("1/1/aging.example", question);
      expect(ttlOf(render("aging.example", refetched, now))).toBe(300);
      expect(upstream.seen.filter((s) => s === "aging.example/A")).toHaveLength(2);
    } finally {
      forwarder.close();
    }
  });

  it("answers REFUSED beyond the concurrency bound instead of queueing without limit", async () => {
    const forwarder = new Forwarder({
      upstreams: [{ host: "127.0.0.1", port: upstream.port }],
      cacheSize: 10,
      maxConcurrent: 1,
      logger: silentLogger,
    });
    try {
      const slow = forwarder.resolve("1/1/slow.example", encodeQuestion("slow.example", 1));
      const other = await forwarder.resolve("1/1/other.example", encodeQuestion("other.example", 1));
      expect(other.flags & 0xf).toBe(5);
      expect(((await slow).flags & 0xf) as number).toBe(0);
    } finally {
      forwarder.close();
    }
  });
});
