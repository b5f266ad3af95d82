import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { dnsmasqHostRecords, readBenchCluster, zoneRecords } from "../../bench/lib/manifests.ts";
import { OptionsError, parseBenchArgs, SCENARIOS } from "../../bench/lib/options.ts";
import { syntheticCluster, syntheticSlice } from "../../bench/lib/synthetic.ts";
import { fillTemplate } from "../../bench/lib/template.ts";

describe("parseBenchArgs", () => {
  it("defaults to the full method: 3 rounds, 10 s runs, 30 s for latency, warm-up, every scenario", () => {
    expect(parseBenchArgs([], 2)).toMatchObject({
      quick: false,
      rounds: 3,
      durationS: 10,
      latencyDurationS: 30,
      warmupS: 3,
      scenarios: [...SCENARIOS],
      targets: null,
      install: true,
      workers: 2,
    });
    expect(parseBenchArgs([], 1).workers).toBe(0);
  });

  it("--quick shortens everything; explicit options still win", () => {
    expect(parseBenchArgs(["--quick"], 2)).toMatchObject({ quick: true, rounds: 1, durationS: 2, warmupS: 0 });
    expect(parseBenchArgs(["--rounds", "5", "--quick", "--duration=4"], 2)).toMatchObject({ rounds: 5, durationS: 4 });
  });

  it("takes subsets of scenarios and targets", () => {
    const o = parseBenchArgs(["--scenarios", "l4-bulk,dns-cached", "--targets=nginx,nodeplane", "--no-install"], 2);
    expect(o).toMatchObject({ scenarios: ["l4-bulk", "dns-cached"], targets: ["nginx", "nodeplane"], install: false });
  });

  it.each([
    [["--scenarios", "l9-magic"], /unknown scenario "l9-magic"/],
    [["--rounds", "0"], /positive whole number/],
    [["--rounds", "1.5"], /positive whole number/],
    [["--duration"], /needs a value/],
    [["--warmup", "-1"], /≥ 0/],
    [["--fast"], /unknown option --fast/],
  ])("rejects %j", (argv, message) => {
    expect(() => parseBenchArgs(argv, 2)).toThrow(OptionsError);
    expect(() => parseBenchArgs(argv, 2)).toThrow(message);
  });
});

describe("fillTemplate", () => {
  it("replaces every placeholder and names the missing ones", () => {
    expect(fillTemplate("listen {{HOST}}:{{PORT}}; # {{PORT}}", { HOST: "127.0.0.1", PORT: 8080 })).toBe(
      "listen 127.0.0.1:8080; # 8080",
    );
    expect(() => fillTemplate("{{A}} {{B}} {{C}}", { B: 1 })).toThrow("template needs A, C");
  });
});

describe("the bench manifests", () => {
  const text = readFileSync(new URL("../../examples/bench/bench.yaml", import.meta.url), "utf8");

  it("name the backend port, the ClusterIP target, the DNS names and the Gateway's port", () => {
    const cluster = readBenchCluster(text, "cluster.local");
    expect(cluster).toEqual({
      backendPort: 18081,
      clusterIP: "127.96.200.10",
      servicePort: 18080,
      records: [{ name: "backend.bench.svc.cluster.local", ip: "127.96.200.10" }],
      gatewayPort: 18082,
    });
    expect(zoneRecords(cluster.records, "cluster.local")).toBe("backend.bench.svc IN A 127.96.200.10");
    expect(dnsmasqHostRecords(cluster.records)).toBe("host-record=backend.bench.svc.cluster.local,127.96.200.10");
  });

  it("say what is missing", () => {
    expect(() => readBenchCluster("kind: Service\nmetadata: {name: other}\n", "cluster.local")).toThrow(
      /no Service named backend/,
    );
    const noSlice = text.replace("kubernetes.io/service-name: backend", "kubernetes.io/service-name: other");
    expect(() => readBenchCluster(noSlice, "cluster.local")).toThrow(/no EndpointSlice/);
  });
});

describe("syntheticCluster", () => {
  it("makes N Services with M ready endpoints each, unique addresses", () => {
    const c = syntheticCluster(300, 10);
    expect(c.services).toHaveLength(300);
    expect(c.slices).toHaveLength(300);
    const ips = c.slices.flatMap((s) => s.endpoints!.flatMap((e) => e.addresses));
    expect(ips).toHaveLength(3000);
    expect(new Set(ips).size).toBe(3000);
    expect(new Set(c.services.map((s) => s.spec!.clusterIP)).size).toBe(300);
    expect(c.slices.every((s) => s.endpoints!.every((e) => e.conditions?.ready))).toBe(true);
    expect(c.services[256]!.spec!.clusterIP).toBe("10.96.1.1");
  });

  it("a variant flips exactly one endpoint of the same slice", () => {
    const base = syntheticSlice(5, "ns-5", "svc-5", 10, 0);
    const changed = syntheticSlice(5, "ns-5", "svc-5", 10, 3);
    expect(changed.metadata!.name).toBe(base.metadata!.name);
    const diff = base.endpoints!.filter((e, i) => e.conditions?.ready !== changed.endpoints![i]!.conditions?.ready);
    expect(diff).toHaveLength(1);
  });
});
