import dnsPacket from "dns-packet";
import { Registry } from "prom-client";
import { afterEach, describe, expect, it } from "vitest";
import { silentLogger } from "../../../src/log.ts";
import { Forwarder, type ForwarderOptions } from "../../../src/planes/dns/forward.ts";
import { DnsMetrics } from "../../../src/planes/dns/metrics.ts";
import { assemble, encodeQuestion, parseQuery, type Template } from "../../../src/planes/dns/wire.ts";
import { queryPacket } from "./helpers.ts";
import { manyA, type Script, type ScriptedUpstream, startScriptedUpstream } from "./scripted-upstream.ts";

const open: { close(): unknown }[] = [];
afterEach(async () => {
  for (const o of open.splice(0)) await o.close();
});

async function upstream(script: Script): Promise<ScriptedUpstream> {
  const u = await startScriptedUpstream(script);
  open.push(u);
  return u;
}

/** A forwarder with a hand-moved clock (TTLs, staleness) and short timeouts; real sockets. */
function forwarder(options: Partial<ForwarderOptions> & Pick<ForwarderOptions, "upstreams">, clock = { now: 1e12 }) {
  const f = new Forwarder({
    cacheSize: 100,
    attemptTimeoutMs: 150,
    totalTimeoutMs: 400,
    healthCheckMs: 50,
    logger: silentLogger,
    now: () => clock.now,
    ...options,
  });
  open.push(f);
  return f;
}

const at = (port: number) => ({ host: "127.0.0.1", port });
const A = (name: string, ttl: number, data = "192.0.2.1"): dnsPacket.Answer => ({ name, type: "A", ttl, data });
const ask = (f: Forwarder, name: string, type = 1) => f.resolve(`${type}/1/${name}`, encodeQuestion(name, type));

/** What a client would get for `name` from `template` at `nowMs`, decoded. */
function render(name: string, template: Template, nowMs: number, type: dnsPacket.RecordType = "A") {
  const msg = queryPacket(name, type);
  const parsed = parseQuery(msg);
  if (!parsed.ok) throw new Error("parse");
  return dnsPacket.decode(assemble(msg, parsed.query, template, 65535, nowMs));
}
const rcodeOf = (t: Template) => t.flags & 0xf;
const first = (p: dnsPacket.DecodedPacket) => (p.answers?.[0] as { data?: unknown } | undefined)?.data;
const firstTtl = (p: dnsPacket.DecodedPacket) => (p.answers?.[0] as { ttl?: number } | undefined)?.ttl;

describe("negative caching (RFC 2308 §5: min(SOA TTL, SOA MINIMUM), capped)", () => {
  it.each([
    {
      row: "NXDOMAIN, SOA minimum below its TTL",
      negative: "nxdomain",
      soaTtl: 60,
      soaMinimum: 20,
      cap: 1800,
      expect: 20,
    },
    {
      row: "NXDOMAIN, SOA TTL below its minimum",
      negative: "nxdomain",
      soaTtl: 15,
      soaMinimum: 300,
      expect: 15,
      cap: 1800,
    },
    { row: "NODATA, SOA minimum", negative: "nodata", soaTtl: 3600, soaMinimum: 40, cap: 1800, expect: 40 },
    {
      row: "NXDOMAIN capped by --dns-max-negative-ttl",
      negative: "nxdomain",
      soaTtl: 3600,
      soaMinimum: 3600,
      cap: 7,
      expect: 7,
    },
  ] as const)("$row: cached $expect s", async ({ negative, soaTtl, soaMinimum, cap, expect: ttl }) => {
    const u = await upstream(() => ({ negative, soaTtl, soaMinimum }));
    const clock = { now: 1e12 };
    const f = forwarder({ upstreams: [at(u.port)], maxNegativeTtl: cap }, clock);
    const first = await ask(f, "gone.example", 28);
    expect(rcodeOf(first)).toBe(negative === "nxdomain" ? 3 : 0);
    clock.now += ttl * 1000 - 500;
    const cached = ask(f, "gone.example", 28);
    expect(cached).not.toBeInstanceOf(Promise);
    expect(u.count("gone.example")).toBe(1);
    clock.now += 1000;
    await ask(f, "gone.example", 28);
    expect(u.count("gone.example")).toBe(2);
  });
});

describe("serve-stale (RFC 8767)", () => {
  it.each([
    { row: "within the bound: the expired answer, TTL 30", pastExpiryMs: 10 * 60_000, stale: true },
    { row: "beyond the bound: SERVFAIL", pastExpiryMs: 2 * 3_600_000, stale: false },
  ])("every upstream dead, $row", async ({ pastExpiryMs, stale }) => {
    let alive = true;
    const u = await upstream(() => (alive ? { answers: [A("stale.example", 10, "192.0.2.7")] } : { silent: true }));
    const clock = { now: 1e12 };
    const f = forwarder({ upstreams: [at(u.port)], serveStaleMs: 3_600_000 }, clock);
    expect(firstTtl(render("stale.example", await ask(f, "stale.example"), clock.now))).toBe(10);
    alive = false;
    clock.now += 10_000 + pastExpiryMs;
    const answer = await ask(f, "stale.example");
    expect(u.count("stale.example")).toBeGreaterThanOrEqual(2); // it did try the upstream first
    if (stale) {
      expect(rcodeOf(answer)).toBe(0);
      const packet = render("stale.example", answer, clock.now);
      expect(packet.answers?.map((a) => (a as { data?: unknown }).data)).toEqual(["192.0.2.7"]);
      expect(firstTtl(packet)).toBe(30);
    } else expect(rcodeOf(answer)).toBe(2);
  });

  it("is off with --dns-serve-stale 0", async () => {
    let alive = true;
    const u = await upstream(() => (alive ? { answers: [A("stale.example", 10)] } : { rcode: "SERVFAIL" }));
    const clock = { now: 1e12 };
    const f = forwarder({ upstreams: [at(u.port)], serveStaleMs: 0 }, clock);
    await ask(f, "stale.example");
    alive = false;
    clock.now += 11_000;
    expect(rcodeOf(await ask(f, "stale.example"))).toBe(2);
  });

  it("an upstream answering SERVFAIL counts as failing: stale answer served, counted", async () => {
    let alive = true;
    const u = await upstream(() => (alive ? { answers: [A("sf.example", 10)] } : { rcode: "SERVFAIL" }));
    const clock = { now: 1e12 };
    const registry = new Registry();
    const f = forwarder(
      { upstreams: [at(u.port)], serveStaleMs: 60_000, metrics: new DnsMetrics(registry, "dns://t") },
      clock,
    );
    await ask(f, "sf.example");
    alive = false;
    clock.now += 20_000;
    expect(rcodeOf(await ask(f, "sf.example"))).toBe(0);
    expect(await registry.metrics()).toMatch(
      /coredns_cache_served_stale_total\{server="dns:\/\/t",zones="\.",view=""\} 1/,
    );
  });
});

describe("prefetch (CoreDNS `prefetch 2 1m 10%`)", () => {
  it("refreshes a popular name before it expires; the upstream sees the refresh, clients never miss", async () => {
    let serial = 0;
    const u = await upstream(() => ({ answers: [A("hot.example", 100, `192.0.2.${++serial}`)] }));
    const clock = { now: 1e12 };
    const f = forwarder({ upstreams: [at(u.port)], prefetch: { amount: 2, windowMs: 60_000, percentage: 10 } }, clock);
    await ask(f, "hot.example");
    clock.now += 50_000;
    ask(f, "hot.example"); // hit 1, 50 s left: not yet
    clock.now += 41_000;
    ask(f, "hot.example"); // hit 2, 9 s left (< 10 s): prefetch
    await vi_waitFor(() => u.count("hot.example") === 2);
    clock.now += 20_000; // past the first answer's expiry
    const after = ask(f, "hot.example");
    expect(after).not.toBeInstanceOf(Promise);
    expect(first(render("hot.example", after as Template, clock.now))).toBe("192.0.2.2");
    expect(u.count("hot.example")).toBe(2);
  });

  it("does not prefetch a name asked once, or with gaps over the window", async () => {
    const u = await upstream(() => ({ answers: [A("cold.example", 100)] }));
    const clock = { now: 1e12 };
    const f = forwarder({ upstreams: [at(u.port)], prefetch: { amount: 2, windowMs: 60_000, percentage: 10 } }, clock);
    await ask(f, "cold.example");
    clock.now += 20_000;
    ask(f, "cold.example");
    clock.now += 75_000; // 5 s left, but 75 s since the last hit: popularity reset
    ask(f, "cold.example");
    await new Promise((r) => setTimeout(r, 100));
    expect(u.count("cold.example")).toBe(1);
  });
});

describe("per-zone forwarding (--dns-forward-zone, longest zone wins)", () => {
  it.each([
    { name: "www.example.org", to: "default" },
    { name: "corp.example", to: "corp" },
    { name: "host.corp.example", to: "corp" },
    { name: "db.lab.corp.example", to: "lab" },
    { name: "notcorp.example", to: "default" },
  ])("$name → $to", async ({ name, to }) => {
    const ups = {
      default: await upstream((q) => ({ answers: [A(q.name, 60)] })),
      corp: await upstream((q) => ({ answers: [A(q.name, 60)] })),
      lab: await upstream((q) => ({ answers: [A(q.name, 60)] })),
    };
    const f = forwarder({
      upstreams: [at(ups.default.port)],
      zones: [
        { zone: "corp.example", upstreams: [at(ups.corp.port)] },
        { zone: "lab.corp.example", upstreams: [at(ups.lab.port)] },
      ],
    });
    expect(rcodeOf(await ask(f, name))).toBe(0);
    for (const [key, u] of Object.entries(ups)) expect(u.count(name)).toBe(key === to ? 1 : 0);
  });
});

describe("setUpstreams (default upstreams that follow endpoints)", () => {
  it("sends later questions to the new upstreams, keeps the forward zones and the cache", async () => {
    const before = await upstream((q) => ({ answers: [A(q.name, 60)] }));
    const after = await upstream((q) => ({ answers: [A(q.name, 60)] }));
    const zoneUp = await upstream((q) => ({ answers: [A(q.name, 60)] }));
    const f = forwarder({
      upstreams: [at(before.port)],
      zones: [{ zone: "corp.example", upstreams: [at(zoneUp.port)] }],
    });
    await ask(f, "kept.example");
    f.setUpstreams([at(after.port)]);
    expect(f.upstreams).toEqual([at(after.port), at(zoneUp.port)]);
    expect(ask(f, "kept.example")).not.toBeInstanceOf(Promise);
    await ask(f, "new.example");
    await ask(f, "x.corp.example");
    expect([before.count("new.example"), after.count("new.example"), zoneUp.count("x.corp.example")]).toEqual([
      0, 1, 1,
    ]);
  });
});

describe("several upstreams: failover and health checks", () => {
  it("fails over from a dead upstream, probes it with `. IN NS`, skips it once down, uses it again once it answers", async () => {
    let deadAlive = false;
    const dead = await upstream((q) =>
      !deadAlive ? { silent: true } : q.type === "NS" ? { answers: [] } : { answers: [A(q.name, 60, "192.0.2.99")] },
    );
    const good = await upstream((q) => ({ answers: [A(q.name, 60, "192.0.2.1")] }));
    const registry = new Registry();
    const f = forwarder({
      upstreams: [at(dead.port), at(good.port)],
      maxFails: 2,
      metrics: new DnsMetrics(registry, "dns://t"),
    });
    const one = await ask(f, "one.example");
    expect(first(render("one.example", one, Date.now()))).toBe("192.0.2.1");
    expect(dead.count("one.example")).toBe(1);
    // probes: `. IN NS` every 50 ms (150 ms timeout each); down after 3 failures
    await vi_waitFor(
      () => dead.seen.filter((q) => (q.name === "." || q.name === "") && q.type === "NS").length >= 3,
      3000,
    );
    await vi_waitFor(
      async () =>
        /coredns_forward_healthcheck_failures_total\{to="127\.0\.0\.1:\d+"\} [3-9]/.test(await registry.metrics()),
      3000,
    );
    const second = await ask(f, "two.example");
    expect(first(render("two.example", second, Date.now()))).toBe("192.0.2.1");
    expect(dead.count("two.example")).toBe(0); // down: not tried
    deadAlive = true;
    await vi_waitFor(async () => {
      const t = await ask(f, `probe-${Date.now()}.example`);
      return first(render("x.example", t, Date.now())) === "192.0.2.99";
    }, 3000);
    const text = await registry.metrics();
    expect(text).toMatch(
      new RegExp(`coredns_proxy_healthcheck_failures_total\\{proxy_name="forward",to="127.0.0.1:${dead.port}"\\} \\d`),
    );
    expect(text).toMatch(
      new RegExp(`coredns_forward_requests_total\\{to="127.0.0.1:${good.port}"\\} ([2-9]|\\d\\d+)\n`),
    );
  });

  it("every upstream down: tries them anyway (CoreDNS healthcheck_broken) and serves a stale answer at once", async () => {
    let alive = true;
    const u = await upstream((q) => (alive ? { answers: [A(q.name, 5)] } : { silent: true }));
    const registry = new Registry();
    const clock = { now: 1e12 };
    const f = forwarder(
      { upstreams: [at(u.port)], maxFails: 1, serveStaleMs: 60_000, metrics: new DnsMetrics(registry, "dns://t") },
      clock,
    );
    await ask(f, "s.example");
    alive = false;
    clock.now += 6000;
    expect(rcodeOf(await ask(f, "s.example"))).toBe(0); // stale after trying
    await vi_waitFor(
      async () => /coredns_forward_healthcheck_failures_total\{to="[^"]+"\} [2-9]/.test(await registry.metrics()),
      3000,
    );
    const immediate = ask(f, "s.example");
    expect(immediate).not.toBeInstanceOf(Promise); // down upstream + stale entry: no waiting
    expect(await registry.metrics()).toMatch(/coredns_forward_healthcheck_broken_total [1-9]/);
  });
});

describe("coalescing and the in-flight limit", () => {
  it("N concurrent identical questions make one upstream query", async () => {
    const u = await upstream((q) => ({ answers: [A(q.name, 60)], delayMs: 80 }));
    const f = forwarder({ upstreams: [at(u.port)] });
    const answers = await Promise.all(Array.from({ length: 25 }, () => ask(f, "same.example")));
    expect(answers.every((t) => rcodeOf(t) === 0 && t.an === 1)).toBe(true);
    expect(u.count("same.example")).toBe(1);
    // a different type is a different question
    await Promise.all([ask(f, "same.example", 28), ask(f, "same.example", 28)]);
    expect(u.count("same.example", "AAAA")).toBe(1);
    // so is the same question with the DO bit: one more, and the upstream sees DO
    const key = "1+do/1/same2.example";
    const q = encodeQuestion("same2.example", 1);
    await Promise.all([f.resolve(key, q, true), f.resolve(key, q, true), ask(f, "same2.example")]);
    expect(
      u.seen
        .filter((s) => s.name === "same2.example")
        .map((s) => s.dnssecOk)
        .sort(),
    ).toEqual([false, true]);
  });

  it("beyond --dns-max-inflight-forwards: REFUSED, counted in coredns_forward_max_concurrent_rejects_total", async () => {
    const u = await upstream((q) => ({ answers: [A(q.name, 60)], delayMs: 80 }));
    const registry = new Registry();
    const f = forwarder({ upstreams: [at(u.port)], maxConcurrent: 2, metrics: new DnsMetrics(registry, "dns://t") });
    const a = ask(f, "a.example");
    const b = ask(f, "b.example");
    const c = await ask(f, "c.example");
    expect(rcodeOf(c)).toBe(5);
    expect(u.count("c.example")).toBe(0);
    expect([rcodeOf(await a), rcodeOf(await b)]).toEqual([0, 0]);
    expect(rcodeOf(await ask(f, "c.example"))).toBe(0); // room again
    expect(await registry.metrics()).toMatch(/coredns_forward_max_concurrent_rejects_total 1/);
  });
});

describe("transport to the upstream", () => {
  it("retries over TCP when the UDP answer is truncated", async () => {
    const u = await upstream((q) => ({ truncate: manyA(q.name, 100) }));
    const f = forwarder({ upstreams: [at(u.port)] });
    const t = await ask(f, "big.example");
    expect(t.an).toBe(100);
    expect(u.count("big.example", "A", "udp")).toBe(1);
    expect(u.count("big.example", "A", "tcp")).toBe(1);
  });

  it("advertises our EDNS size (1232) to the upstream, with RD set", async () => {
    const u = await upstream((q) => ({ answers: [A(q.name, 60)] }));
    const f = forwarder({ upstreams: [at(u.port)] });
    await ask(f, "edns.example");
    expect(u.seen.find((s) => s.name === "edns.example")).toMatchObject({ ednsSize: 1232, rd: true, proto: "udp" });
  });
});

/** Polls `check` until it holds (bounded in time). */
async function vi_waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 20));
  }
}
