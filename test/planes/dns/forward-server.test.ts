import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { labStore } from "../../translate/dns/fixtures.ts";
import { dig, type Harness, queryPacket, rawUdp, startDns } from "./helpers.ts";
import { manyA, type ScriptedUpstream, startScriptedUpstream } from "./scripted-upstream.ts";

// The forwarder behind the real server, asked by real clients (dig, raw UDP): EDNS sizes towards the
// client, coalescing of identical questions from many clients, and the CoreDNS metrics after traffic.

let upstream: ScriptedUpstream;
let dns: Harness;

beforeAll(async () => {
  upstream = await startScriptedUpstream((q) => {
    // uncompressed (dns-packet): 35 A records ≈ 1,100 bytes, over 512 and under 1232; 100 ≈ 3,000 bytes
    if (q.name === "medium.example") return { answers: manyA(q.name, 35) };
    if (q.name === "large.example") return { truncate: manyA(q.name, 100) };
    if (q.name === "slow.example") return { answers: manyA(q.name, 1), delayMs: 150 };
    if (q.name === "nx.example") return { negative: "nxdomain", soaTtl: 60, soaMinimum: 30 };
    return { answers: manyA(q.name, 1) };
  });
  dns = await startDns(labStore(), upstream.port, {}, { attemptTimeoutMs: 1000, totalTimeoutMs: 2000 });
  await dns.sync();
});

afterAll(async () => {
  await dns?.close();
  await upstream?.close();
});

const sizeOf = (raw: string) => Number(/MSG SIZE\s+rcvd: (\d+)/.exec(raw)?.[1]);

describe("EDNS0 buffer size towards the client", () => {
  it.each([
    {
      row: "advertises 512: TC, no records",
      name: "medium.example",
      args: ["+bufsize=512", "+ignore"],
      tc: true,
      answers: 0,
      max: 512,
    },
    {
      row: "no EDNS: TC (512 bytes)",
      name: "medium.example",
      args: ["+noedns", "+ignore"],
      tc: true,
      answers: 0,
      max: 512,
    },
    {
      row: "advertises 1232: all records",
      name: "medium.example",
      args: ["+bufsize=1232", "+ignore"],
      tc: false,
      answers: 35,
      max: 1232,
    },
    {
      row: "advertises 4096: still at most 1232 over UDP",
      name: "large.example",
      args: ["+bufsize=4096", "+ignore"],
      tc: true,
      answers: 0,
      max: 1232,
    },
    {
      row: "dig retries over TCP and gets everything",
      name: "large.example",
      args: ["+bufsize=4096"],
      tc: false,
      answers: 100,
      max: 65535,
    },
  ])("$row", async ({ name, args, tc, answers, max }) => {
    const r = await dig(dns.port, [...args, name]);
    expect(r.status).toBe("NOERROR");
    expect(r.flags.includes("tc")).toBe(tc);
    expect(r.answers).toHaveLength(answers);
    expect(sizeOf(r.raw)).toBeLessThanOrEqual(max);
  });

  it("the upstream was asked with our size (1232), and over TCP only after its TC answer", () => {
    const asked = upstream.seen.filter((s) => s.name === "large.example");
    expect(asked.every((s) => s.ednsSize === 1232)).toBe(true);
    // one UDP + one TCP exchange; every later client was answered from the cache
    expect(asked.map((s) => s.proto)).toEqual(["udp", "tcp"]);
  });
});

describe("coalescing through the server", () => {
  it("20 clients asking the same question at once cause one upstream query", async () => {
    const replies = await Promise.all(
      Array.from({ length: 20 }, (_, i) => rawUdp(dns.port, queryPacket("slow.example", "A", 1000 + i), 2000)),
    );
    expect(replies.every((r) => r !== undefined && (r.readUInt16BE(2) & 0xf) === 0)).toBe(true);
    expect(replies.map((r) => r?.readUInt16BE(0))).toEqual(Array.from({ length: 20 }, (_, i) => 1000 + i));
    expect(upstream.count("slow.example")).toBe(1);
  });
});

describe("serve-stale seen by dig", () => {
  it("after the only upstream dies, an expired answer comes back with TTL 30; NXDOMAIN answers were cached", async () => {
    let alive = true;
    const dying = await startScriptedUpstream((q) =>
      !alive
        ? { silent: true }
        : q.name === "gone.example"
          ? { negative: "nxdomain", soaTtl: 300, soaMinimum: 60 }
          : { answers: [{ name: q.name, type: "A", ttl: 1, data: "192.0.2.77" }] },
    );
    const own = await startDns(
      labStore(),
      dying.port,
      { dnsServeStaleMs: 60_000 },
      { attemptTimeoutMs: 300, totalTimeoutMs: 600 },
    );
    try {
      await own.sync();
      const fresh = await dig(own.port, ["brief.example"]);
      expect(fresh.answers.map((a) => [a[1], a[4]])).toEqual([["1", "192.0.2.77"]]);
      expect((await dig(own.port, ["gone.example"])).status).toBe("NXDOMAIN");
      alive = false;
      await new Promise((r) => setTimeout(r, 1200)); // past the 1 s TTL
      const stale = await dig(own.port, ["brief.example"]);
      expect(stale.status).toBe("NOERROR");
      expect(stale.answers.map((a) => [a[1], a[4]])).toEqual([["30", "192.0.2.77"]]);
      expect(dying.count("brief.example")).toBe(2); // it did ask
      expect((await dig(own.port, ["gone.example"])).status).toBe("NXDOMAIN"); // from the negative cache
      expect(dying.count("gone.example")).toBe(1);
      expect((await dig(own.port, ["never-seen.example"])).status).toBe("SERVFAIL");
    } finally {
      await own.close();
      await dying.close();
    }
  });
});

describe("the DO bit (RFC 3225)", () => {
  it("is part of the question: forwarded to the upstream, cached apart from the plain answer, and copied back", async () => {
    const plain = await dig(dns.port, ["do.example"]);
    const signed = await dig(dns.port, ["+dnssec", "do.example"]);
    await dig(dns.port, ["+dnssec", "do.example"]); // cached
    expect([plain.status, signed.status]).toEqual(["NOERROR", "NOERROR"]);
    const asked = upstream.seen.filter((s) => s.name === "do.example");
    expect(asked.map((s) => s.dnssecOk)).toEqual([false, true]);
    expect(signed.raw).toMatch(/; EDNS: version: 0, flags: do;/);
    expect(plain.raw).toMatch(/; EDNS: version: 0, flags:;/);
  });
});

describe("CoreDNS metric names and labels after traffic", () => {
  it("exposes the series CoreDNS dashboards query", async () => {
    await dig(dns.port, ["metrics.example"]);
    await dig(dns.port, ["metrics.example"]); // a cache hit
    await dig(dns.port, ["nx.example"]);
    await dig(dns.port, ["+tcp", "my-nginx.default.svc.cluster.local"]);
    const text = await dns.registry.metrics();
    const server = `dns://127.0.0.1:0`;
    const to = `127.0.0.1:${upstream.port}`;
    for (const series of [
      `coredns_dns_requests_total{server="${server}",zone=".",view="",proto="udp",family="1",type="A"}`,
      `coredns_dns_requests_total{server="${server}",zone="cluster.local.",view="",proto="tcp",family="1",type="A"}`,
      `coredns_dns_responses_total{server="${server}",zone=".",view="",rcode="NOERROR",plugin="forward"}`,
      `coredns_dns_responses_total{server="${server}",zone=".",view="",rcode="NXDOMAIN",plugin="forward"}`,
      `coredns_dns_responses_total{server="${server}",zone=".",view="",rcode="NOERROR",plugin="cache"}`,
      `coredns_dns_responses_total{server="${server}",zone="cluster.local.",view="",rcode="NOERROR",plugin="kubernetes"}`,
      `coredns_dns_request_duration_seconds_bucket{server="${server}",zone=".",view="",le="0.00025"}`,
      `coredns_dns_request_duration_seconds_bucket{server="${server}",zone=".",view="",le="+Inf"}`,
      `coredns_dns_request_duration_seconds_count{server="${server}",zone="cluster.local.",view=""}`,
      `coredns_cache_hits_total{server="${server}",type="success",zones=".",view=""}`,
      `coredns_cache_misses_total{server="${server}",zones=".",view=""}`,
      `coredns_cache_requests_total{server="${server}",zones=".",view=""}`,
      `coredns_cache_entries{server="${server}",type="success",zones=".",view=""}`,
      `coredns_cache_entries{server="${server}",type="denial",zones=".",view=""}`,
      `coredns_forward_requests_total{to="${to}"}`,
      `coredns_forward_responses_total{to="${to}",rcode="NOERROR"}`,
      `coredns_forward_responses_total{to="${to}",rcode="NXDOMAIN"}`,
      `coredns_forward_request_duration_seconds_count{to="${to}",rcode="NOERROR"}`,
      `coredns_proxy_request_duration_seconds_count{proxy_name="forward",to="${to}",rcode="NOERROR"}`,
      "coredns_forward_max_concurrent_rejects_total",
      "coredns_forward_healthcheck_broken_total",
    ]) {
      const line = text.split("\n").find((l) => l.startsWith(`${series} `));
      expect(line, series).toBeDefined();
    }
    // values: positive where traffic went
    const value = (series: string) =>
      Number(
        text
          .split("\n")
          .find((l) => l.startsWith(`${series} `))
          ?.split(" ")[1],
      );
    expect(
      value(`coredns_cache_hits_total{server="${server}",type="success",zones=".",view=""}`),
    ).toBeGreaterThanOrEqual(1);
    expect(value(`coredns_cache_entries{server="${server}",type="denial",zones=".",view=""}`)).toBeGreaterThanOrEqual(
      1,
    );
    // cluster answers go out in the callback that read the query: all in the lowest bucket, one per response
    const clusterCount = value(
      `coredns_dns_request_duration_seconds_count{server="${server}",zone="cluster.local.",view=""}`,
    );
    expect(clusterCount).toBeGreaterThanOrEqual(1);
    expect(
      value(
        `coredns_dns_request_duration_seconds_bucket{server="${server}",zone="cluster.local.",view="",le="0.00025"}`,
      ),
    ).toBe(clusterCount);
    expect(text).toMatch(/# TYPE coredns_dns_request_duration_seconds histogram/);
    expect(text).toMatch(/# TYPE coredns_proxy_request_duration_seconds histogram/);
  });
});
