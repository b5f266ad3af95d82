import dnsPacket from "dns-packet";
import { describe, expect, it } from "vitest";
import { assemble, encodeQuestion, parseQuery, rcodeTemplate } from "../../../src/planes/dns/wire.ts";

function query(name: string, type: dnsPacket.RecordType, opt?: number): Buffer {
  return dnsPacket.encode({
    type: "query",
    id: 7,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ name, type, class: "IN" }],
    additionals:
      opt === undefined
        ? []
        : [
            {
              name: ".",
              type: "OPT",
              udpPayloadSize: opt,
              extendedRcode: 0,
              ednsVersion: 0,
              flags: 0,
              flag_do: false,
              options: [],
            },
          ],
  });
}

describe("parseQuery", () => {
  it.each([
    ["My-Nginx.Default.SVC.cluster.local", "my-nginx.default.svc.cluster.local"],
    ["example.com.", "example.com"],
    [".", ""],
  ])("%s → %s", (name, expected) => {
    const parsed = parseQuery(query(name, "A"));
    expect(parsed.ok && parsed.query.name).toBe(expected);
  });

  it("escapes dots and odd bytes inside labels so they cannot alias other names", () => {
    const msg = Buffer.concat([
      query("x", "A").subarray(0, 12),
      Buffer.from([3, 0x61, 0x2e, 0x01, 1, 0x62, 0]),
      Buffer.from([0, 1, 0, 1]),
    ]);
    const parsed = parseQuery(msg);
    expect(parsed.ok && parsed.query.name).toBe("a\\046\\001.b");
  });

  it.each([
    [undefined, false, 512],
    [1000, true, 1000],
    [1232, true, 1232],
    // never more than 1232 over UDP, whatever the client advertises (case J, docs/reliability.md: 78× at 4096)
    [4096, true, 1232],
    [100, true, 512],
    [65000, true, 1232],
  ])("EDNS size %s", (size, edns, limit) => {
    const parsed = parseQuery(query("a.b", "A", size));
    expect(parsed.ok && [parsed.query.edns, parsed.query.udpSize]).toEqual([edns, limit]);
  });

  it.each([
    ["short", Buffer.alloc(5), "drop"],
    [
      "a response",
      (() => {
        const b = query("a", "A");
        b[2] = b[2]! | 0x80;
        return b;
      })(),
      "drop",
    ],
    ["a label running off the end", Buffer.from([0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 9, 0x61]), 1],
    ["a pointer in the question", Buffer.from([0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1]), 1],
    ["no question", Buffer.from([0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]), 1],
    [
      "a second question under QDCOUNT 1 (bytes beyond the counted records)",
      Buffer.concat([query("a", "A"), query("b", "A").subarray(12)]),
      1,
    ],
    ["one stray byte after the question", Buffer.concat([query("a", "A"), Buffer.from([0])]), 1],
    ["an UPDATE", Buffer.from([0, 1, 0x28, 0, 0, 1, 0, 0, 0, 0, 0, 0]), 4],
  ])("%s", (_label, msg, expected) => {
    const parsed = parseQuery(msg);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.drop ? "drop" : parsed.rcode).toBe(expected);
  });
});

describe("assemble", () => {
  it("echoes the client's question bytes and id, copies RD, adds OPT when asked", () => {
    const msg = query("MiXeD.example", "A", 1232);
    const parsed = parseQuery(msg);
    if (!parsed.ok) throw new Error("parse");
    const out = dnsPacket.decode(assemble(msg, parsed.query, rcodeTemplate(2), 512));
    expect(out.id).toBe(7);
    expect((out.flags ?? 0) & 0xf).toBe(2);
    expect(out.flag_rd).toBe(true);
    expect(out.questions?.[0]?.name).toBe("MiXeD.example");
    expect(out.additionals?.[0]?.type).toBe("OPT");
  });

  it("encodeQuestion matches dns-packet's encoding", () => {
    expect(encodeQuestion("www.example.com", 28)).toEqual(query("www.example.com", "AAAA").subarray(12));
  });
});

describe("the DO bit (RFC 3225)", () => {
  it.each([
    { row: "no EDNS", opt: undefined, flagDo: false, expectDo: false },
    { row: "EDNS, DO clear", opt: 1232, flagDo: false, expectDo: false },
    { row: "EDNS, DO set", opt: 1232, flagDo: true, expectDo: true },
  ])("$row: parsed, and copied into the response's OPT", ({ opt, flagDo, expectDo }) => {
    const msg = dnsPacket.encode({
      type: "query",
      id: 9,
      flags: dnsPacket.RECURSION_DESIRED,
      questions: [{ name: "example.com", type: "A", class: "IN" }],
      additionals:
        opt === undefined
          ? []
          : [
              {
                name: ".",
                type: "OPT",
                udpPayloadSize: opt,
                extendedRcode: 0,
                ednsVersion: 0,
                flags: flagDo ? dnsPacket.DNSSEC_OK : 0,
                flag_do: flagDo,
                options: [],
              },
            ],
    });
    const parsed = parseQuery(msg);
    if (!parsed.ok) throw new Error("parse");
    expect(parsed.query.dnssecOk).toBe(expectDo);
    const reply = dnsPacket.decode(assemble(msg, parsed.query, rcodeTemplate(0), 512));
    const replyOpt = reply.additionals?.find((a) => a.type === "OPT") as { flag_do?: boolean } | undefined;
    expect(replyOpt?.flag_do ?? false).toBe(expectDo);
  });
});
