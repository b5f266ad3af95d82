import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { dnsperfArgs } from "../../bench/lib/dnsperf.ts";
import { FORWARD_TTL, forwardRecords, forwardZoneFile } from "../../bench/lib/forward.ts";
import { parseBenchArgs } from "../../bench/lib/options.ts";
import { PEERS } from "../../bench/lib/results.ts";
import { DNS_FORWARD_TARGETS, SCENARIO_TABLE } from "../../bench/lib/scenarios.ts";
import { fillTemplate } from "../../bench/lib/template.ts";
import { TOOLS } from "../../bench/lib/tools.ts";

const peerFile = (name: string) => readFileSync(new URL(`../../bench/peers/${name}`, import.meta.url), "utf8");

describe("dns-forward-cached", () => {
  it("is a scenario of its own, asking forward names, against dnsmasq and unbound", () => {
    expect(parseBenchArgs(["--scenarios", "dns-cached,dns-forward-cached"], 2).scenarios).toEqual([
      "dns-cached",
      "dns-forward-cached",
    ]);
    expect(SCENARIO_TABLE["dns-forward-cached"]).toEqual({ name: "dns-forward-cached", kind: "dns", names: "forward" });
    expect(SCENARIO_TABLE["dns-cached"]).toMatchObject({ kind: "dns", names: "cluster" });
    expect(DNS_FORWARD_TARGETS).toEqual(["nodeplane", "dnsmasq", "unbound"]);
    expect(PEERS.has("unbound")).toBe(true);
    expect(TOOLS.unbound).toMatchObject({ pkg: "unbound" });
  });

  it("makes 1,000 distinct names under bench.example, with distinct addresses", () => {
    const r = forwardRecords();
    expect(r).toHaveLength(1000);
    expect(new Set(r.map((x) => x.name)).size).toBe(1000);
    expect(new Set(r.map((x) => x.ip)).size).toBe(1000);
    expect(r[0]).toEqual({ name: "h0.bench.example", ip: "10.77.0.0" });
    expect(r[999]).toEqual({ name: "h999.bench.example", ip: "10.77.3.231" });
  });

  it("writes the upstream zone: SOA, NS and one A per name, TTL long enough for the whole run", () => {
    const zone = forwardZoneFile(forwardRecords(2));
    expect(zone.split("\n")).toEqual([
      `$TTL ${FORWARD_TTL}`,
      `@ IN SOA ns.bench.example. hostmaster.bench.example. 1 7200 1800 86400 ${FORWARD_TTL}`,
      "@ IN NS ns.bench.example.",
      "ns IN A 127.0.0.1",
      "h0 IN A 10.77.0.0",
      "h1 IN A 10.77.0.1",
      "",
    ]);
  });

  it("renders the peers' configs: dnsmasq and unbound forward to the upstream port", () => {
    const dnsmasq = fillTemplate(peerFile("dnsmasq-forward.conf"), {
      RUN_DIR: "/r",
      DNSMASQ_PORT: 5301,
      UPSTREAM_PORT: 5399,
    });
    expect(dnsmasq).toContain("port=5301\n");
    expect(dnsmasq).toContain("server=127.0.0.1#5399\n");
    expect(dnsmasq).toContain("no-resolv\n");
    expect(dnsmasq).toMatch(/^cache-size=10000$/m);
    const unbound = fillTemplate(peerFile("unbound.conf"), {
      RUN_DIR: "/r",
      UNBOUND_PORT: 5302,
      UPSTREAM_PORT: 5399,
      FORWARD_ZONE: "bench.example",
    });
    for (const line of [
      "interface: 127.0.0.1@5302",
      "num-threads: 1",
      "do-not-query-localhost: no",
      'module-config: "iterator"',
      'name: "bench.example."',
      "forward-addr: 127.0.0.1@5399",
    ])
      expect(unbound).toContain(line);
    const upstream = fillTemplate(peerFile("upstream.named.conf"), {
      RUN_DIR: "/r",
      UPSTREAM_PORT: 5399,
      FORWARD_ZONE: "bench.example",
    });
    expect(upstream).toContain("listen-on port 5399 { 127.0.0.1; };");
    expect(upstream).toContain('zone "bench.example" {');
  });

  it("warms the cache with one pass through the query file", () => {
    const plan = { server: "127.0.0.1", port: 5301, queryFile: "q", durationS: 30, clients: 1, outstanding: 20 };
    expect(dnsperfArgs({ ...plan, passes: 1 }).slice(-2)).toEqual(["-n", "1"]);
    expect(dnsperfArgs(plan)).not.toContain("-n");
  });
});
