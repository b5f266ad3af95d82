import { createServer, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseClientHello, SniTable } from "../../../src/planes/service/sni.ts";
import { extension, hello, serverName } from "./gateway-helpers.ts";

const MAX = 32 * 1024;

/** The first bytes a real TLS client (Node's OpenSSL) sends, with this servername. */
function realHello(servername: string | undefined): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const server = createServer((s: Socket) => {
      let got = Buffer.alloc(0);
      s.on("data", (d: Buffer) => {
        got = Buffer.concat([got, d]);
        if (parseClientHello(got, MAX).state !== "more") {
          s.destroy();
          server.close();
          resolve(got);
        }
      });
    });
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as { port: number }).port;
      const c = tlsConnect({
        host: "127.0.0.1",
        port,
        ...(servername ? { servername } : {}),
        rejectUnauthorized: false,
      });
      c.on("error", () => {});
      setTimeout(() => reject(new Error("no hello")), 3000).unref();
    });
  });
}

/**
 * The bytes behind a Proxy that throws on any index outside them (a plain typed array answers
 * `undefined`, which would hide a read past the end); subarrays are guarded the same way.
 */
function guarded(bytes: Uint8Array): Uint8Array {
  return new Proxy(bytes, {
    get(target, prop) {
      if (typeof prop === "string" && /^-?\d+$/.test(prop)) {
        const i = Number(prop);
        if (i < 0 || i >= target.length) throw new Error(`read at ${i} past a buffer of ${target.length}`);
        return target[i];
      }
      if (prop === "subarray") return (start?: number, end?: number) => guarded(target.subarray(start, end));
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

describe("parseClientHello", () => {
  it("reads the server name of a real client's hello, byte by byte as it arrives", async () => {
    const bytes = await realHello("a.example");
    expect(parseClientHello(bytes, MAX)).toEqual({ state: "done", sni: "a.example" });
    for (let n = 0; n < bytes.length; n++) expect(parseClientHello(bytes.subarray(0, n), MAX).state).toBe("more");
  });

  it("a real client without a server name: done, no SNI", async () => {
    expect(parseClientHello(await realHello(undefined), MAX)).toEqual({ state: "done", sni: undefined });
  });

  const rows: [string, Buffer, ReturnType<typeof parseClientHello>][] = [
    ["one record", hello([serverName("b.example")]), { state: "done", sni: "b.example" }],
    ["uppercase name is lowercased", hello([serverName("B.Example")]), { state: "done", sni: "b.example" }],
    [
      "split over 7-byte records",
      hello([extension(10, Buffer.alloc(40)), serverName("c.example")], { recordSize: 7 }),
      { state: "done", sni: "c.example" },
    ],
    [
      "handshake header split over records",
      hello([serverName("d.example")], { recordSize: 2 }),
      { state: "done", sni: "d.example" },
    ],
    ["no server_name extension", hello([extension(10, Buffer.alloc(4))]), { state: "done", sni: undefined }],
    [
      "two server_name extensions",
      hello([serverName("a.example"), serverName("b.example")]),
      { state: "invalid", reason: "duplicate server_name extension" },
    ],
    [
      "two host names",
      hello([serverName("a.example", "b.example")]),
      { state: "invalid", reason: "several host names" },
    ],
    ["trailing dot", hello([serverName("a.example.")]), { state: "invalid", reason: "malformed host name" }],
    ["NUL in the name", hello([serverName("a\0.example")]), { state: "invalid", reason: "malformed host name" }],
    ["empty label", hello([serverName("a..example")]), { state: "invalid", reason: "malformed host name" }],
    [
      "session id over 32",
      hello([serverName("a.example")], { sessionId: 33 }),
      { state: "invalid", reason: "bad session id" },
    ],
    [
      "SSLv2-style hello",
      Buffer.from("80 2e 01 03 01 00 15 00 00 00 10".replace(/ /g, ""), "hex"),
      { state: "invalid", reason: "SSLv2-style ClientHello" },
    ],
    ["plain HTTP", Buffer.from("GET / HTTP/1.1\r\n\r\n"), { state: "invalid", reason: "not a TLS handshake record" }],
    [
      "alert record",
      Buffer.from([0x15, 3, 3, 0, 2, 2, 40]),
      { state: "invalid", reason: "not a TLS handshake record" },
    ],
    [
      "not a ClientHello",
      Buffer.from([0x16, 3, 1, 0, 4, 2, 0, 0, 0]),
      { state: "invalid", reason: "first handshake message is not a ClientHello" },
    ],
    [
      "declared length over the cap",
      Buffer.from([0x16, 3, 1, 0, 4, 1, 0xff, 0xff, 0xff]),
      { state: "invalid", reason: `ClientHello longer than ${MAX} bytes` },
    ],
    ["record too long", Buffer.from([0x16, 3, 1, 0xff, 0xff, 1]), { state: "invalid", reason: "record too long" }],
    ["empty record", Buffer.from([0x16, 3, 1, 0, 0]), { state: "invalid", reason: "empty handshake record" }],
    ["truncated: 3 bytes", Buffer.from([0x16, 3, 1]), { state: "more" }],
  ];
  it.each(rows)("%s", (_name, bytes, expected) => {
    expect(parseClientHello(guarded(bytes), MAX)).toEqual(expected);
  });

  it("the guard used by the fuzz tests does catch a read past the end", () => {
    expect(() => guarded(new Uint8Array(2))[2]).toThrow("read at 2 past a buffer of 2");
  });

  it("a hello cut into more than 64 records is refused (each parse would walk them all)", () => {
    const many = hello([extension(10, Buffer.alloc(200)), serverName("a.example")], { recordSize: 3 });
    expect(parseClientHello(many, MAX)).toEqual({
      state: "invalid",
      reason: "ClientHello split over more than 64 records",
    });
  });

  it("an extension length past the end of the hello is refused", () => {
    const good = hello([serverName("a.example")]);
    // the server_name extension's length field sits right after its type, 2 bytes into the extensions
    const at = good.indexOf(serverName("a.example"));
    const bad = Buffer.from(good);
    bad.writeUInt16BE(0xfff0, at + 2);
    expect(parseClientHello(bad, MAX)).toEqual({ state: "invalid", reason: "extension longer than the hello" });
  });

  it("never throws and never reads past the buffer on arbitrary bytes (fuzzed)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.integer({ min: 0, max: 70_000 }), (bytes, max) => {
        const r = parseClientHello(guarded(bytes), max);
        expect(["more", "done", "invalid"]).toContain(r.state);
      }),
      { numRuns: 3000 },
    );
  });

  it("never throws on mutations of a valid hello (fuzzed)", () => {
    const base = hello([extension(10, Buffer.alloc(8)), serverName("a.example")], { recordSize: 40 });
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
        fc.nat(base.length),
        (edits, cut) => {
          const bytes = Buffer.from(base);
          for (const [at, v] of edits) bytes[at] = v;
          const r = parseClientHello(guarded(bytes.subarray(0, cut)), MAX);
          if (r.state === "done" && r.sni !== undefined) expect(r.sni).toMatch(/^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/);
        },
      ),
      { numRuns: 5000 },
    );
  });
});

describe("SniTable (Gateway API hostname matching)", () => {
  const table = new SniTable([
    { host: "a.example", value: "exact" },
    { host: "*.example", value: "wild" },
    { host: "*.b.example", value: "wild-b" },
    { host: "", value: "any" },
  ]);
  it.each([
    ["a.example", "exact"],
    ["c.example", "wild"],
    ["x.b.example", "wild-b"],
    ["y.x.b.example", "wild-b"],
    // `*.example` matches one or more labels, not the bare suffix
    ["example", "any"],
    ["b.example", "wild"],
    ["other.org", "any"],
  ])("%s → %s", (sni, expected) => expect(table.match(sni)).toBe(expected));

  it("a hello without SNI matches nothing, not even the catch-all", () => {
    expect(table.match(undefined)).toBeUndefined();
  });

  it("without a catch-all, an unknown name matches nothing", () => {
    expect(new SniTable([{ host: "*.example", value: 1 }]).match("example")).toBeUndefined();
  });
});
