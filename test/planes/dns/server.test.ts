import { execFile } from "node:child_process";
import dnsPacket from "dns-packet";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Store } from "../../../src/store/store.ts";
import { labStore, service, slice } from "../../translate/dns/fixtures.ts";
import {
  dig,
  firstData,
  floodUdp,
  type Harness,
  queryPacket,
  rawUdp,
  startDns,
  startUpstreamStub,
  type UpstreamStub,
} from "./helpers.ts";

/** The lab plus a headless Service whose answer cannot fit in 512 bytes. */
function store(): Store {
  const s = labStore();
  s.upsert("Service", service("default", "many", { clusterIP: "None", ports: [{ name: "http", port: 80 }] }));
  s.upsert(
    "EndpointSlice",
    slice(
      "default",
      "many",
      "many-1",
      Array.from({ length: 60 }, (_, i) => ({ addresses: [`10.244.9.${i + 1}`], conditions: { ready: true } })),
      [{ name: "http", port: 8080, protocol: "TCP" }],
    ),
  );
  return s;
}

let upstream: UpstreamStub;
let dns: Harness;

beforeAll(async () => {
  upstream = await startUpstreamStub((name, type) => {
    if (name === "example.com" && type === "A")
      return { kind: "records", answers: [{ name: "example.com", type: "A", ttl: 300, data: "192.0.2.10" }] };
    if (name === "www.example.com" && type === "A")
      return { kind: "records", answers: [{ name: "www.example.com", type: "A", ttl: 300, data: "192.0.2.11" }] };
    if (name === "slow-coalesce.example" && type === "A")
      return {
        kind: "records",
        delayMs: 150,
        answers: [{ name: "slow-coalesce.example", type: "A", ttl: 300, data: "192.0.2.12" }],
      };
    if (name === "slow-coalesce-close.example")
      return { kind: "records", delayMs: 150, answers: [{ name, type: "A", ttl: 300, data: "192.0.2.13" }] };
    if (name === "big.example" && type === "TXT")
      return {
        kind: "tcp-only",
        answers: Array.from({ length: 40 }, (_, i) => ({
          name: "big.example",
          type: "TXT" as const,
          ttl: 60,
          data: `record ${i} ${"x".repeat(40)}`,
        })),
      };
    if (name === "nope.example") return { kind: "nxdomain", soaMinimum: 60, soaTtl: 120 };
    if (name === "silent.example") return { kind: "silent" };
    return undefined;
  });
  dns = await startDns(store(), upstream.port);
});

afterAll(async () => {
  await dns?.close();
  await upstream?.close();
});

describe("snapshots", () => {
  it("answers SERVFAIL for cluster names before the first, then follows each new one", async () => {
    const objects = store();
    const early = await startDns(objects, upstream.port);
    try {
      const r = await dig(early.port, ["my-nginx.default.svc.cluster.local"]);
      expect(r.status).toBe("SERVFAIL");
      await early.sync();
      const after = await dig(early.port, ["my-nginx.default.svc.cluster.local"]);
      expect(after.status).toBe("NOERROR");
      // the next snapshot replaces the zone: a changed clusterIP and a deleted Service show at once
      objects.upsert("Service", service("default", "my-nginx", { clusterIP: "10.96.0.77", ports: [{ port: 80 }] }));
      objects.delete("Service", "default/kubernetes");
      await early.sync();
      expect((await dig(early.port, ["my-nginx.default.svc.cluster.local"])).answers.map((a) => a[4])).toEqual([
        "10.96.0.77",
      ]);
      expect((await dig(early.port, ["kubernetes.default.svc.cluster.local"])).status).toBe("NXDOMAIN");
    } finally {
      await early.close();
    }
  });
});

describe("cluster names with dig", () => {
  beforeAll(async () => {
    await dns.sync();
  });

  it("A of a ClusterIP Service over UDP, authoritative, with the configured TTL", async () => {
    const r = await dig(dns.port, ["my-nginx.default.svc.cluster.local"]);
    expect(r.status).toBe("NOERROR");
    expect(r.flags).toContain("aa");
    expect(r.answers).toEqual([["my-nginx.default.svc.cluster.local.", "7", "IN", "A", "10.96.0.10"]]);
  });

  it("the same over TCP, and names are case-insensitive", async () => {
    const r = await dig(dns.port, ["+tcp", "MY-Nginx.Default.SVC.cluster.local"]);
    expect(r.status).toBe("NOERROR");
    expect(r.answers.map((a) => a[4])).toEqual(["10.96.0.10"]);
  });

  it("NXDOMAIN with the SOA for a name that does not exist", async () => {
    const r = await dig(dns.port, ["missing.default.svc.cluster.local"]);
    expect(r.status).toBe("NXDOMAIN");
    expect(r.answers).toEqual([]);
    expect(r.authority[0]?.slice(0, 5)).toEqual(["cluster.local.", "7", "IN", "SOA", "ns.dns.cluster.local."]);
  });

  it("NODATA (NOERROR, no answer, SOA) for an existing name without the asked type", async () => {
    const r = await dig(dns.port, ["AAAA", "my-nginx.default.svc.cluster.local"]);
    expect(r.status).toBe("NOERROR");
    expect(r.answers).toEqual([]);
    expect(r.authority[0]?.[3]).toBe("SOA");
    const ns = await dig(dns.port, ["default.svc.cluster.local"]);
    expect(ns.status).toBe("NOERROR");
  });

  it("AAAA of a dual-stack Service", async () => {
    const r = await dig(dns.port, ["AAAA", "dual.default.svc.cluster.local"]);
    expect(r.answers.map((a) => a[4])).toEqual(["fd00:96::20"]);
  });

  it("a headless Service answers with its ready endpoints; none ready is NXDOMAIN", async () => {
    const r = await dig(dns.port, ["headless.web.svc.cluster.local"]);
    expect(r.answers.map((a) => a[4]).sort()).toEqual(["10.244.1.1", "10.244.1.2", "10.244.1.4"]);
    const pet = await dig(dns.port, ["web-0.headless.web.svc.cluster.local"]);
    expect(pet.answers.map((a) => a[4])).toEqual(["10.244.1.1"]);
    const empty = await dig(dns.port, ["empty-headless.web.svc.cluster.local"]);
    expect(empty.status).toBe("NXDOMAIN");
  });

  it("rotates the order of a multi-address answer (round robin)", async () => {
    const firsts = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const r = await dig(dns.port, ["headless.web.svc.cluster.local"]);
      expect(r.answers).toHaveLength(3);
      firsts.add(r.answers[0]![4]!);
    }
    expect(firsts.size).toBe(3);
  });

  it("SRV of a headless Service: one per endpoint, targets' addresses in the additional section", async () => {
    const r = await dig(dns.port, ["SRV", "_http._tcp.headless.web.svc.cluster.local"]);
    // CoreDNS weighs by addresses × ports before dropping repeats: web-0 has two addresses, so 4 → 25
    expect(r.answers.map((a) => a.slice(4).join(" ")).sort()).toEqual([
      "0 25 8080 10-244-1-4.headless.web.svc.cluster.local.",
      "0 25 8080 web-0.headless.web.svc.cluster.local.",
      "0 25 8080 web-1.headless.web.svc.cluster.local.",
    ]);
    expect(r.additional.filter((a) => a[3] === "A").map((a) => `${a[0]} ${a[4]}`)).toContain(
      "web-0.headless.web.svc.cluster.local. 10.244.1.1",
    );
    expect(r.additional.filter((a) => a[3] === "AAAA").map((a) => a[4])).toEqual(["fd00::1:1"]);
  });

  it("SRV of a ClusterIP Service targets the Service name", async () => {
    const r = await dig(dns.port, ["SRV", "_https._tcp.kubernetes.default.svc.cluster.local"]);
    expect(r.answers.map((a) => a.slice(4).join(" "))).toEqual(["0 100 443 kubernetes.default.svc.cluster.local."]);
    expect(r.additional.map((a) => a[4])).toContain("10.96.0.1");
  });

  it("PTR via dig -x for a clusterIP and a headless endpoint", async () => {
    const svc = await dig(dns.port, ["-x", "10.96.0.10"]);
    expect(svc.answers.map((a) => a[4])).toEqual(["my-nginx.default.svc.cluster.local."]);
    const pet = await dig(dns.port, ["-x", "10.244.1.2"]);
    expect(pet.answers.map((a) => a[4])).toEqual(["web-1.headless.web.svc.cluster.local."]);
    const v6 = await dig(dns.port, ["-x", "fd00:96::20"]);
    expect(v6.answers.map((a) => a[4])).toEqual(["dual.default.svc.cluster.local."]);
  });

  it("the schema version TXT record", async () => {
    const r = await dig(dns.port, ["TXT", "dns-version.cluster.local"]);
    expect(r.answers.map((a) => a[4])).toEqual(['"1.1.0"']);
  });

  it("pod records (insecure)", async () => {
    const r = await dig(dns.port, ["10-244-0-9.default.pod.cluster.local"]);
    expect(r.answers.map((a) => a[4])).toEqual(["10.244.0.9"]);
  });

  it("ExternalName: the CNAME, then the target resolved upstream", async () => {
    const r = await dig(dns.port, ["ext.web.svc.cluster.local"]);
    expect(r.status).toBe("NOERROR");
    expect(r.answers.map((a) => `${a[3]} ${a[4]}`)).toEqual(["CNAME www.example.com.", "A 192.0.2.11"]);
  });

  it("search-path probes under the cluster domain are answered locally (NXDOMAIN), not forwarded", async () => {
    const before = upstream.seen.length;
    const r = await dig(dns.port, ["example.com.default.svc.cluster.local"]);
    expect(r.status).toBe("NXDOMAIN");
    expect(upstream.seen.length).toBe(before);
  });

  it("BADVERS for an EDNS version it does not speak", async () => {
    const r = await dig(dns.port, ["+edns=1", "+noednsneg", "my-nginx.default.svc.cluster.local"]);
    expect(r.status).toBe("BADVERS");
  });
});

describe("truncation and EDNS", () => {
  beforeAll(async () => {
    await dns.sync();
  });

  it("sets TC over UDP when the answer does not fit in 512 bytes", async () => {
    const r = await dig(dns.port, ["+noedns", "+ignore", "many.default.svc.cluster.local"]);
    expect(r.flags).toContain("tc");
    expect(r.answers).toEqual([]);
  });

  it("dig retries over TCP and gets every endpoint", async () => {
    const r = await dig(dns.port, ["+noedns", "many.default.svc.cluster.local"]);
    expect(r.raw).toContain("Truncated, retrying in TCP mode");
    expect(r.answers).toHaveLength(60);
  });

  it("honours the advertised EDNS UDP size up to 1232 bytes", async () => {
    // ~2.8 KB: more than 1232 bytes, so truncated even for a client that advertises 4096
    const big = await dig(dns.port, ["+bufsize=4096", "+ignore", "many.default.svc.cluster.local"]);
    expect(big.flags).toContain("tc");
    expect(big.answers).toEqual([]);
    expect(big.raw).toMatch(/EDNS: version: 0, flags:; udp: 1232/);
    const small = await dig(dns.port, ["+bufsize=512", "+ignore", "many.default.svc.cluster.local"]);
    expect(small.flags).toContain("tc");
    const fits = await dig(dns.port, ["+bufsize=4096", "headless.web.svc.cluster.local"]);
    expect(fits.flags).not.toContain("tc");
    expect(fits.answers).toHaveLength(3);
  });
});

describe("forwarding", () => {
  beforeAll(async () => {
    await dns.sync();
  });

  it("forwards names outside the cluster domain and caches the answer", async () => {
    const first = await dig(dns.port, ["example.com"]);
    expect(first.status).toBe("NOERROR");
    expect(first.answers.map((a) => a[4])).toEqual(["192.0.2.10"]);
    expect(first.flags).not.toContain("aa");
    const asked = upstream.seen.filter((s) => s === "example.com/A").length;
    const second = await dig(dns.port, ["EXAMPLE.com"]);
    expect(second.answers.map((a) => a[4])).toEqual(["192.0.2.10"]);
    expect(Number(second.answers[0]?.[1])).toBeLessThanOrEqual(300);
    expect(upstream.seen.filter((s) => s === "example.com/A").length).toBe(asked);
    const metrics = await dns.registry.metrics();
    expect(metrics).toMatch(/coredns_cache_hits_total\{[^}]*type="success"[^}]*\} [1-9]/);
  });

  it("caches NXDOMAIN (negative caching from the SOA)", async () => {
    const r = await dig(dns.port, ["nope.example"]);
    expect(r.status).toBe("NXDOMAIN");
    expect(r.authority[0]?.[3]).toBe("SOA");
    await dig(dns.port, ["nope.example"]);
    expect(upstream.seen.filter((s) => s === "nope.example/A")).toHaveLength(1);
    expect(await dns.registry.metrics()).toMatch(/coredns_cache_hits_total\{[^}]*type="denial"[^}]*\} [1-9]/);
  });

  it("retries over TCP when the upstream truncates", async () => {
    const r = await dig(dns.port, ["+tcp", "TXT", "big.example"]);
    expect(r.status).toBe("NOERROR");
    expect(r.answers).toHaveLength(40);
    expect(upstream.seen.filter((s) => s === "big.example/TXT")).toHaveLength(2); // UDP, then TCP
  });

  it("SERVFAIL when the upstream does not answer in time", async () => {
    const r = await dig(dns.port, ["silent.example"]);
    expect(r.status).toBe("SERVFAIL");
  });

  it("coalesces concurrent questions for the same name into one upstream exchange", async () => {
    const replies = await Promise.all(
      Array.from({ length: 5 }, (_, i) => rawUdp(dns.port, queryPacket("slow-coalesce.example", "A", 100 + i), 2000)),
    );
    for (const [i, reply] of replies.entries()) {
      expect(reply).toBeDefined();
      const decoded = dnsPacket.decode(reply!);
      expect(decoded.id).toBe(100 + i);
      expect(firstData(reply!)).toBe("192.0.2.12");
    }
    expect(upstream.seen.filter((s) => s === "slow-coalesce.example/A")).toHaveLength(1);
  });

  it("records forward latency", async () => {
    expect(await dns.registry.metrics()).toMatch(
      /coredns_forward_request_duration_seconds_count\{[^}]*rcode="NOERROR"/,
    );
  });
});

describe("nslookup (the lab's checks)", () => {
  beforeAll(async () => {
    await dns.sync();
  });

  const nslookup = (args: string[]) =>
    new Promise<string>((resolve) => {
      execFile("nslookup", ["-timeout=3", "-retry=1", `-port=${dns.port}`, ...args, "127.0.0.1"], (_err, stdout) =>
        resolve(stdout),
      );
    });

  // A pod resolves with ndots:5 and its search list; nslookup takes one search domain, so each check names it.
  it("kubernetes.default through the svc search domain", async () => {
    const out = await nslookup(["-ndots=5", "-domain=svc.cluster.local", "kubernetes.default"]);
    expect(out).toContain("Name:\tkubernetes.default.svc.cluster.local");
    expect(out).toContain("Address: 10.96.0.1");
  });

  it("my-nginx through the namespace search domain", async () => {
    const out = await nslookup(["-ndots=5", "-domain=default.svc.cluster.local", "my-nginx"]);
    expect(out).toContain("Name:\tmy-nginx.default.svc.cluster.local");
    expect(out).toContain("Address: 10.96.0.10");
  });
});

describe("hostile input", () => {
  beforeAll(async () => {
    await dns.sync();
  });

  const stillAnswers = async () => {
    const reply = await rawUdp(dns.port, queryPacket("my-nginx.default.svc.cluster.local", "A"), 2000);
    expect(reply).toBeDefined();
    expect(firstData(reply!)).toBe("10.96.0.10");
  };

  it("drops packets too short for a header and responses", async () => {
    expect(await rawUdp(dns.port, Buffer.from([1, 2, 3]))).toBeUndefined();
    const response = queryPacket("my-nginx.default.svc.cluster.local", "A");
    response[2] = response[2]! | 0x80;
    expect(await rawUdp(dns.port, response)).toBeUndefined();
    await stillAnswers();
  });

  it("answers FORMERR to a parsable header with a broken question", async () => {
    const bad = Buffer.from([0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0x3f, 0x61]);
    const reply = await rawUdp(dns.port, bad);
    expect(reply).toBeDefined();
    expect(reply!.readUInt16BE(0)).toBe(0x1234);
    expect(reply!.readUInt16BE(2) & 0xf).toBe(1);
    const two = queryPacket("a.cluster.local", "A");
    two.writeUInt16BE(2, 4);
    expect((await rawUdp(dns.port, two))!.readUInt16BE(2) & 0xf).toBe(1);
  });

  it("answers NOTIMP to other opcodes", async () => {
    const notify = queryPacket("cluster.local", "SOA");
    notify[2] = (notify[2]! & 0x87) | (4 << 3);
    expect((await rawUdp(dns.port, notify))!.readUInt16BE(2) & 0xf).toBe(4);
  });

  it("never crashes on random packets (fast-check)", async () => {
    const random = fc.sample(fc.uint8Array({ minLength: 0, maxLength: 600 }), 400).map((bytes) => {
      const payload = Buffer.from(bytes);
      if (payload.length >= 3) payload[2] = payload[2]! & 0x7f; // mostly queries, so the parser is exercised
      return payload;
    });
    const mangled = fc
      .sample(
        fc.record({
          name: fc.array(fc.stringMatching(/^[a-zA-Z0-9_-]{1,20}$/), { minLength: 0, maxLength: 6 }),
          type: fc.integer({ min: 0, max: 65535 }),
          qclass: fc.integer({ min: 0, max: 65535 }),
          cut: fc.integer({ min: 0, max: 40 }),
          flip: fc.integer({ min: 0, max: 200 }),
        }),
        400,
      )
      .map(({ name, type, qclass, cut, flip }) => {
        const packet = queryPacket([...name, "svc", "cluster", "local"].join("."), "A");
        packet.writeUInt16BE(type, packet.length - 4);
        packet.writeUInt16BE(qclass, packet.length - 2);
        if (flip < packet.length && flip > 2) packet[flip] = packet[flip]! ^ 0xff;
        return packet.subarray(0, Math.max(0, packet.length - cut));
      });
    await floodUdp(dns.port, [...random, ...mangled]);
    await stillAnswers();
  });

  it("survives garbage over TCP", async () => {
    const { Socket } = await import("node:net");
    await new Promise<void>((resolve) => {
      const socket = new Socket();
      socket.on("error", () => resolve());
      socket.on("close", () => resolve());
      socket.connect(dns.port, "127.0.0.1", () => {
        socket.write(Buffer.from([0x00, 0x05, 1, 2, 3, 4, 5, 0xff, 0xff, 9, 9, 9]));
        setTimeout(() => socket.destroy(), 50);
      });
    });
    await stillAnswers();
  });
});

describe("TCP pipelining", () => {
  it("answers thousands of pipelined questions from a client that reads late (backpressure, no stall)", async () => {
    await dns.sync();
    const { Socket } = await import("node:net");
    const count = 5000;
    const query = queryPacket("many.default.svc.cluster.local", "A");
    const framed = Buffer.alloc(2 + query.length);
    framed.writeUInt16BE(query.length, 0);
    query.copy(framed, 2);
    const answered = await new Promise<number>((resolve) => {
      const socket = new Socket();
      let received = 0;
      let buffered = Buffer.alloc(0);
      const timer = setTimeout(() => finish(), 15_000);
      const finish = () => {
        clearTimeout(timer);
        socket.destroy();
        resolve(received);
      };
      socket.on("error", finish);
      socket.connect(dns.port, "127.0.0.1", () => {
        socket.pause(); // do not read yet: let the server's writes back up
        socket.write(Buffer.concat(Array.from({ length: count }, () => framed)));
        setTimeout(() => {
          socket.on("data", (chunk: Buffer) => {
            buffered = Buffer.concat([buffered, chunk]);
            while (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
              buffered = buffered.subarray(2 + buffered.readUInt16BE(0));
              received++;
            }
            if (received >= count) finish();
          });
          socket.resume();
        }, 300);
      });
    });
    expect(answered).toBe(count);
  });
});

describe("IPv6 listener", () => {
  it("serves UDP and TCP on ::1", async () => {
    const v6 = await startDns(store(), upstream.port, { dnsAddress: { host: "::1", port: 0 } });
    try {
      await v6.sync();
      for (const extra of [[], ["+tcp"]]) {
        const r = await dig(v6.port, [...extra, "AAAA", "dual.default.svc.cluster.local"], "::1");
        expect(r.answers.map((a) => a[4])).toEqual(["fd00:96::20"]);
      }
      const text = await v6.registry.metrics();
      expect(text).toMatch(/coredns_dns_requests_total\{[^}]*proto="tcp",family="2"/);
    } finally {
      await v6.close();
    }
  });
});

describe("metrics", () => {
  it("counts requests by type and responses by rcode with CoreDNS names", async () => {
    await dns.sync();
    await dig(dns.port, ["my-nginx.default.svc.cluster.local"]);
    const text = await dns.registry.metrics();
    expect(text).toMatch(/coredns_dns_requests_total\{[^}]*zone="cluster.local\."[^}]*type="A"[^}]*\} [1-9]/);
    expect(text).toMatch(/coredns_dns_responses_total\{[^}]*rcode="NXDOMAIN"[^}]*\} [1-9]/);
  });
});

describe("closing", () => {
  it("a forward still in flight when the server closes is dropped quietly", async () => {
    const closing = await startDns(store(), upstream.port);
    await closing.sync();
    const pending = rawUdp(closing.port, queryPacket("slow-coalesce-close.example", "A"), 400);
    await new Promise((r) => setTimeout(r, 20));
    await closing.close();
    expect(await pending).toBeUndefined();
    // the process is still here and other servers still answer
    expect((await dig(dns.port, ["my-nginx.default.svc.cluster.local"])).status).toBe("NOERROR");
  });
});
