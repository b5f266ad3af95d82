import dnsPacket from "dns-packet";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Store } from "../../../src/store/store.ts";
import { labStore, service, slice } from "../../translate/dns/fixtures.ts";
import {
  dig,
  firstData,
  framed,
  type Harness,
  queryPacket,
  rawUdp,
  startDns,
  startUpstreamStub,
  type TcpClient,
  tcpClient,
  type UpstreamStub,
} from "./helpers.ts";

// Cases I (DNS over TCP) and J of docs/reliability.md (open recursion, amplification): hostile inputs as table rows.

const INSIDE = "127.0.0.1";
/** a second loopback address, left out of --dns-allow-recursion: plays a client from outside */
const OUTSIDE = "127.0.0.2";

/**
 * The lab plus headless Services whose A answers take ~1 KB (20 endpoints: fits in 1232 bytes, not
 * in 512) and ~2.8 KB (60: fits in the 4096 a client may advertise, not in 1232).
 */
function store(): Store {
  const s = labStore();
  for (const [name, count] of [
    ["twenty", 20],
    ["many", 60],
  ] as const) {
    s.upsert("Service", service("default", name, { clusterIP: "None", ports: [{ name: "http", port: 80 }] }));
    s.upsert(
      "EndpointSlice",
      slice(
        "default",
        name,
        `${name}-1`,
        Array.from({ length: count }, (_, i) => ({
          addresses: [`10.244.${count}.${i + 1}`],
          conditions: { ready: true },
        })),
        [{ name: "http", port: 8080, protocol: "TCP" }],
      ),
    );
  }
  return s;
}

/** 45 TXT records: a 3.5 KB answer as in the report (under 4096), which the upstream only gives over TCP. */
const AMPLIFY = Array.from({ length: 45 }, (_, i) => ({
  name: "amplify.example",
  type: "TXT" as const,
  ttl: 300,
  data: `record ${String(i).padStart(2, "0")} ${"x".repeat(40)}`,
}));

let upstream: UpstreamStub;
/** recursion for 127.0.0.1 only */
let dns: Harness;

beforeAll(async () => {
  upstream = await startUpstreamStub((name, type) => {
    if (name === "example.com" && type === "A")
      return { kind: "records", answers: [{ name, type: "A", ttl: 300, data: "192.0.2.10" }] };
    if (name === "www.example.com" && type === "A")
      return { kind: "records", answers: [{ name, type: "A", ttl: 300, data: "192.0.2.11" }] };
    if (name === "amplify.example" && type === "TXT") return { kind: "tcp-only", answers: AMPLIFY };
    if (/^slow\d+\.example$/.test(name))
      return { kind: "records", delayMs: 150, answers: [{ name, type: "A", ttl: 300, data: "192.0.2.30" }] };
    // long enough that a connection asking it is surely still owed the answer when the next one arrives
    if (/^stuck\d+\.example$/.test(name))
      return { kind: "records", delayMs: 1500, answers: [{ name, type: "A", ttl: 300, data: "192.0.2.31" }] };
    return undefined;
  });
  dns = await startDns(store(), upstream.port, { dnsAllowRecursion: ["127.0.0.1/32"] });
  await dns.sync();
});

afterAll(async () => {
  await dns?.close();
  await upstream?.close();
});

/** Polls `done` every 10 ms, for at most 5 s. */
async function until(done: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !done(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  expect(done()).toBe(true);
}

const rcodeOf = (reply: Buffer) => reply.readUInt16BE(2) & 0xf;
const flagsOf = (reply: Buffer) => reply.readUInt16BE(2);
const TC = 0x0200;
const RA = 0x0080;

describe("J: recursion only for allowed clients, UDP answers capped (dns-packet)", () => {
  type Row = [
    from: string,
    name: string,
    type: dnsPacket.RecordType,
    edns: number | undefined,
    rcode: number,
    tc: boolean,
    answers: number,
    max: number | "query",
  ];
  const N = "my-nginx.default.svc.cluster.local";
  const EXT = "ext.web.svc.cluster.local";
  const MANY = "many.default.svc.cluster.local";
  const TWENTY = "twenty.default.svc.cluster.local";
  const AMP = "amplify.example";
  // max: the most bytes sent back ("query": no more than the query itself, an amplification of at most 1)
  it.each<Row>([
    [OUTSIDE, "example.com", "A", 4096, 5, false, 0, "query"],
    [OUTSIDE, AMP, "TXT", 4096, 5, false, 0, "query"],
    [OUTSIDE, "9.9.9.10.in-addr.arpa", "PTR", 4096, 5, false, 0, "query"],
    // cluster names are answered to everyone, authoritatively
    [OUTSIDE, N, "A", 4096, 0, false, 1, 1232],
    // an ExternalName: the CNAME, but its target is not resolved upstream for an outside client
    [OUTSIDE, EXT, "A", 4096, 0, false, 1, 1232],
    [INSIDE, EXT, "A", 4096, 0, false, 2, 1232],
    [INSIDE, "example.com", "A", 4096, 0, false, 1, 1232],
    // the 3.5 KB forwarded answer: over UDP at most 1232 bytes (TC set), whatever the client advertises
    [INSIDE, AMP, "TXT", 4096, 0, true, 0, 1232],
    [INSIDE, AMP, "TXT", 65535, 0, true, 0, 1232],
    [INSIDE, AMP, "TXT", undefined, 0, true, 0, 512],
    // a cluster answer of ~2.8 KB: capped the same way; one of ~1 KB fits in 1232 but not in 512
    [OUTSIDE, MANY, "A", 4096, 0, true, 0, 1232],
    [INSIDE, MANY, "A", 4096, 0, true, 0, 1232],
    [INSIDE, TWENTY, "A", 4096, 0, false, 20, 1232],
    [INSIDE, TWENTY, "A", undefined, 0, true, 0, 512],
  ])(
    "from %s: %s %s, EDNS %s → rcode %i, TC %s, %i answers, ≤ %s bytes",
    async (from, name, type, edns, rcode, tc, answers, max) => {
      // warm the forwarder's cache (its TCP retry upstream) from the inside first
      if (name === AMP) await rawUdp(dns.port, queryPacket(name, "TXT", 1, 1232), 2000, INSIDE);
      const query = queryPacket(name, type, 77, edns);
      const reply = await rawUdp(dns.port, query, 2000, from);
      expect(reply).toBeDefined();
      const decoded = dnsPacket.decode(reply!);
      expect(decoded.id).toBe(77);
      expect(rcodeOf(reply!)).toBe(rcode);
      expect((flagsOf(reply!) & TC) !== 0).toBe(tc);
      expect(decoded.answers ?? []).toHaveLength(answers);
      expect(reply!.length).toBeLessThanOrEqual(max === "query" ? query.length : max);
      if (rcode === 5) expect(flagsOf(reply!) & RA).toBe(0);
    },
  );

  it("the amplification factor over UDP is bounded: ≤ 1 for outside clients, ≤ 1232 / query for the rest", async () => {
    await rawUdp(dns.port, queryPacket("amplify.example", "TXT", 1, 1232), 2000, INSIDE);
    const query = queryPacket("amplify.example", "TXT", 5, 4096);
    const outside = await rawUdp(dns.port, query, 2000, OUTSIDE);
    const inside = await rawUdp(dns.port, query, 2000, INSIDE);
    expect(outside!.length / query.length).toBeLessThanOrEqual(1);
    expect(inside!.length / query.length).toBeLessThanOrEqual(1232 / query.length);
    // over TCP the allowed client still gets every record
    const client = await tcpClient(dns.port);
    try {
      client.socket.write(framed(query));
      const [full] = await client.waitReplies(1, 2000);
      expect(dnsPacket.decode(full!).answers).toHaveLength(AMPLIFY.length);
      expect(full!.length).toBeGreaterThan(3000);
    } finally {
      client.destroy();
    }
  });
});

describe("J: the same with dig", () => {
  const MANY = "many.default.svc.cluster.local";
  // dig's -b binds its socket to that address: 127.0.0.2 is outside the recursion list
  it.each<[args: string[], status: string, tc: boolean, answers: number]>([
    [["-b", OUTSIDE, "+bufsize=4096", "example.com"], "REFUSED", false, 0],
    [["-b", OUTSIDE, "+bufsize=4096", "TXT", "amplify.example"], "REFUSED", false, 0],
    [["-b", OUTSIDE, "+tcp", "example.com"], "REFUSED", false, 0],
    [["-b", OUTSIDE, "+bufsize=4096", "my-nginx.default.svc.cluster.local"], "NOERROR", false, 1],
    [["-b", INSIDE, "+bufsize=4096", "example.com"], "NOERROR", false, 1],
    [["-b", INSIDE, "+bufsize=4096", "+ignore", "TXT", "amplify.example"], "NOERROR", true, 0],
    [["-b", INSIDE, "+noedns", "+ignore", "TXT", "amplify.example"], "NOERROR", true, 0],
    [["-b", INSIDE, "+bufsize=4096", "+ignore", MANY], "NOERROR", true, 0],
    [["-b", INSIDE, "+bufsize=4096", "twenty.default.svc.cluster.local"], "NOERROR", false, 20],
    // without +ignore dig retries over TCP and gets everything
    [["-b", INSIDE, "+bufsize=4096", "TXT", "amplify.example"], "NOERROR", false, 45],
    [["-b", INSIDE, "+tcp", MANY], "NOERROR", false, 60],
  ])("dig %j → %s, TC %s, %i answers", async (args, status, tc, answers) => {
    const r = await dig(dns.port, args);
    expect(r.status).toBe(status);
    expect(r.flags.includes("tc")).toBe(tc);
    expect(r.answers).toHaveLength(answers);
  });
});

describe("J: the default recursion list", () => {
  it("lets loopback clients recurse when --dns-allow-recursion is not given", async () => {
    const open = await startDns(store(), upstream.port);
    try {
      await open.sync();
      for (const from of [INSIDE, OUTSIDE]) {
        const reply = await rawUdp(open.port, queryPacket("example.com", "A", 9, 1232), 2000, from);
        expect(firstData(reply!)).toBe("192.0.2.10");
      }
    } finally {
      await open.close();
    }
  });

  it("with an empty list nobody recurses, and cluster names are still answered", async () => {
    const closed = await startDns(store(), upstream.port, { dnsAllowRecursion: [] });
    try {
      await closed.sync();
      expect(rcodeOf((await rawUdp(closed.port, queryPacket("example.com", "A"), 2000))!)).toBe(5);
      const cluster = await rawUdp(closed.port, queryPacket("my-nginx.default.svc.cluster.local", "A"), 2000);
      expect(firstData(cluster!)).toBe("10.96.0.10");
    } finally {
      await closed.close();
    }
  });
});

describe("J: a Node without pod CIDRs", () => {
  it("is warned about once in cluster mode, where pods would then get REFUSED for outside names", async () => {
    const lines: string[] = [];
    const logger = pino({ level: "warn" }, { write: (line: string) => lines.push(line) });
    // cluster mode (no --manifests), default recursion list; the lab store has no Node object
    const cluster = await startDns(store(), upstream.port, { manifests: undefined }, { logger });
    try {
      await cluster.sync();
      await cluster.sync();
      expect(lines.filter((l) => l.includes("spec.podCIDRs"))).toHaveLength(1);
    } finally {
      await cluster.close();
    }
  });
});

/** Two-byte length, then bytes: the wire form of DNS over TCP. */
const q = (name: string, type: dnsPacket.RecordType = "A", id = 4242) => queryPacket(name, type, id);

/** A query whose header says `qdcount` questions, followed by `present` copies of the question. */
function questions(qdcount: number, present: number): Buffer {
  const one = q("my-nginx.default.svc.cluster.local");
  const header = Buffer.from(one.subarray(0, 12));
  header.writeUInt16BE(qdcount, 4);
  return Buffer.concat([header, ...Array.from({ length: present }, () => one.subarray(12))]);
}

/** The qname is a compression pointer to itself. */
const selfPointer = Buffer.concat([q("x").subarray(0, 12), Buffer.from([0xc0, 12, 0, 1, 0, 1])]);
/** A fine question, and an additional record whose owner name points at itself (never followed). */
const additionalLoop = (() => {
  const base = q("my-nginx.default.svc.cluster.local");
  const out = Buffer.concat([base, Buffer.from([0xc0, base.length, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4, 1, 2, 3, 4])]);
  out.writeUInt16BE(1, 10);
  return out;
})();
/** Two labels pointing at each other, in the question. */
const pointerPair = Buffer.concat([q("x").subarray(0, 12), Buffer.from([0xc0, 14, 0xc0, 12, 0, 1, 0, 1])]);

describe("hostile messages (UDP and TCP): a clean answer or a close, and the server keeps serving", () => {
  it.each([
    // over TCP, 40 KB is beyond the 4 KiB query limit: the connection is closed instead
    { label: "QDCOUNT 1000 with 1000 questions", msg: questions(1000, 1000), rcode: 1, tcp: "close" },
    { label: "QDCOUNT 100 with 100 questions", msg: questions(100, 100), rcode: 1, tcp: "answer" },
    { label: "QDCOUNT 1 with two questions", msg: questions(1, 2), rcode: 1, tcp: "answer" },
    { label: "QDCOUNT 2 with one question", msg: questions(2, 1), rcode: 1, tcp: "answer" },
    { label: "QDCOUNT 0 with a question", msg: questions(0, 1), rcode: 1, tcp: "answer" },
    { label: "a qname that points at itself", msg: selfPointer, rcode: 1, tcp: "answer" },
    { label: "two qname pointers pointing at each other", msg: pointerPair, rcode: 1, tcp: "answer" },
    {
      label: "an additional record named by a pointer loop (skipped, never followed)",
      msg: additionalLoop,
      rcode: 0,
      tcp: "answer",
    },
  ])("$label → rcode $rcode, over TCP: $tcp", async ({ msg, rcode, tcp }) => {
    const udp = await rawUdp(dns.port, msg, 2000);
    expect(udp).toBeDefined();
    expect(rcodeOf(udp!)).toBe(rcode);
    const client = await tcpClient(dns.port);
    try {
      client.socket.write(Buffer.concat([framed(msg), framed(q("my-nginx.default.svc.cluster.local", "A", 99))]));
      if (tcp === "close") {
        expect(await client.closedWithin(2000)).toBe(true);
        expect(client.replies).toHaveLength(0);
        return;
      }
      const [first, next] = await client.waitReplies(2, 2000);
      expect(rcodeOf(first!)).toBe(rcode);
      // the same connection answers the next query
      expect(dnsPacket.decode(next!).id).toBe(99);
      expect(firstData(next!)).toBe("10.96.0.10");
    } finally {
      client.destroy();
    }
    expect(firstData((await rawUdp(dns.port, q("my-nginx.default.svc.cluster.local"), 2000))!)).toBe("10.96.0.10");
  });
});

describe("I: DNS over TCP under hostile clients", () => {
  /** Answers over TCP on a fresh connection: the plane still serves. */
  const tcpAnswers = async (harness: Harness) => {
    const r = await dig(harness.port, ["+tcp", "my-nginx.default.svc.cluster.local"]);
    expect(r.status).toBe("NOERROR");
    expect(r.answers.map((a) => a[4])).toEqual(["10.96.0.10"]);
  };

  it("a length prefix above the query limit closes the connection at once", async () => {
    // A long idle timeout, so only the length limit can close it within the wait.
    const slow = await startDns(store(), upstream.port, { dnsTcpIdleTimeoutMs: 60_000 });
    try {
      await slow.sync();
      for (const length of [0xffff, 4097]) {
        const client = await tcpClient(slow.port);
        const prefix = Buffer.alloc(2);
        prefix.writeUInt16BE(length, 0);
        client.socket.write(Buffer.concat([prefix, q("my-nginx.default.svc.cluster.local")]));
        expect(await client.closedWithin(3000)).toBe(true);
        client.destroy();
      }
      await tcpAnswers(slow);
      expect(await slow.registry.metrics()).toMatch(/nodeplane_dns_tcp_closed_total\{[^}]*reason="oversize"\} 2/);
    } finally {
      await slow.close();
    }
  });

  it("a client sending one byte per second (slowloris) is closed after the idle timeout", async () => {
    const quick = await startDns(store(), upstream.port, { dnsTcpIdleTimeoutMs: 1000 });
    try {
      await quick.sync();
      const client = await tcpClient(quick.port);
      const bytes = framed(q("my-nginx.default.svc.cluster.local"));
      let closed = false;
      // at most 6 bytes (6 s) of a 54-byte message: the query never completes
      for (let i = 0; i < 6 && !closed; i++) {
        client.socket.write(bytes.subarray(i, i + 1));
        closed = await client.closedWithin(1000);
      }
      client.destroy();
      expect(closed).toBe(true);
      await tcpAnswers(quick);
    } finally {
      await quick.close();
    }
  }, 15_000);

  it("1,100 idle connections do not lock out a new client: the longest idle ones are closed for it", async () => {
    const crowded = await startDns(store(), upstream.port);
    const clients: TcpClient[] = [];
    try {
      await crowded.sync();
      // bounded: 1,100 connections on loopback, opened 100 at a time
      for (let batch = 0; batch < 11; batch++) {
        clients.push(...(await Promise.all(Array.from({ length: 100 }, () => tcpClient(crowded.port)))));
      }
      // the idle connections are still there (the client holds every one of them) when dig asks
      await tcpAnswers(crowded);
      expect(crowded.plane.server.tcpConnections).toBeLessThanOrEqual(256);
      const evicted = /nodeplane_dns_tcp_closed_total\{[^}]*reason="evicted"\} (\d+)/.exec(
        await crowded.registry.metrics(),
      );
      expect(Number(evicted?.[1])).toBeGreaterThanOrEqual(1100 - 256);
    } finally {
      for (const client of clients) client.destroy();
      await crowded.close();
    }
  }, 30_000);

  it("at the cap the longest idle connection is closed for a new one, not the one that just asked", async () => {
    const small = await startDns(store(), upstream.port, { dnsTcpMaxConnections: 2, dnsTcpIdleTimeoutMs: 60_000 });
    const clients: TcpClient[] = [];
    try {
      await small.sync();
      const a = await tcpClient(small.port);
      const b = await tcpClient(small.port);
      clients.push(a, b);
      await until(() => small.plane.server.tcpConnections === 2);
      a.socket.write(framed(q("my-nginx.default.svc.cluster.local", "A", 1)));
      expect(await a.waitReplies(1, 2000)).toHaveLength(1);
      const c = await tcpClient(small.port);
      clients.push(c);
      // b has been idle longest: it makes room; a (just answered) and c are served
      expect(await b.closedWithin(2000)).toBe(true);
      const ids = (replies: Buffer[]) => replies.map((r) => dnsPacket.decode(r).id);
      a.socket.write(framed(q("my-nginx.default.svc.cluster.local", "A", 2)));
      expect(ids(await a.waitReplies(2, 2000))).toEqual([1, 2]);
      c.socket.write(framed(q("my-nginx.default.svc.cluster.local", "A", 3)));
      expect(ids(await c.waitReplies(1, 2000))).toEqual([3]);
    } finally {
      for (const client of clients) client.destroy();
      await small.close();
    }
  });

  it("at the cap with every connection owed an answer, a new one is refused; once answered, room is made", async () => {
    // the forwarder waits out the upstream's 1.5 s, so both connections stay owed an answer that long
    const small = await startDns(
      store(),
      upstream.port,
      { dnsTcpMaxConnections: 2, dnsTcpIdleTimeoutMs: 60_000 },
      { attemptTimeoutMs: 3000, totalTimeoutMs: 3000 },
    );
    const clients: TcpClient[] = [];
    try {
      await small.sync();
      for (const name of ["stuck1.example", "stuck2.example"]) {
        const client = await tcpClient(small.port);
        clients.push(client);
        client.socket.write(framed(q(name)));
      }
      // both are waiting for the upstream (1.5 s): nothing idle to close
      await until(() => upstream.seen.includes("stuck1.example/A") && upstream.seen.includes("stuck2.example/A"));
      const refused = await tcpClient(small.port);
      clients.push(refused);
      expect(await refused.closedWithin(2000)).toBe(true);
      for (const client of clients.slice(0, 2)) {
        const [reply] = await client.waitReplies(1, 4000);
        expect(firstData(reply!)).toBe("192.0.2.31");
      }
      await tcpAnswers(small);
      expect(await small.registry.metrics()).toMatch(/nodeplane_dns_tcp_closed_total\{[^}]*reason="refused"\} 1/);
    } finally {
      for (const client of clients) client.destroy();
      await small.close();
    }
  });

  it("over half full, idle connections are closed after 1 s whatever the idle timeout", async () => {
    const busy = await startDns(store(), upstream.port, { dnsTcpMaxConnections: 4, dnsTcpIdleTimeoutMs: 60_000 });
    const clients: TcpClient[] = [];
    try {
      await busy.sync();
      for (let i = 0; i < 3; i++) clients.push(await tcpClient(busy.port));
      expect(await clients[0]!.closedWithin(4000)).toBe(true);
      expect(await busy.registry.metrics()).toMatch(/nodeplane_dns_tcp_closed_total\{[^}]*reason="idle"\} [1-9]/);
    } finally {
      for (const client of clients) client.destroy();
      await busy.close();
    }
  });

  it("a connection pipelining 100 forwarded questions has at most 32 in flight, and gets every answer", async () => {
    const client = await tcpClient(dns.port);
    try {
      const queries = Array.from({ length: 100 }, (_, i) => framed(q(`slow${i}.example`, "A", 1000 + i)));
      client.socket.write(Buffer.concat(queries));
      const replies = await client.waitReplies(100, 10_000);
      expect(replies).toHaveLength(100);
      expect(new Set(replies.map((r) => dnsPacket.decode(r).id)).size).toBe(100);
      expect(replies.every((r) => firstData(r) === "192.0.2.30")).toBe(true);
      expect(upstream.maxDelayed((name) => /^slow\d+\.example$/.test(name))).toBeLessThanOrEqual(32);
    } finally {
      client.destroy();
    }
  }, 20_000);
});
