import { describe, expect, it } from "vitest";
import type { Service } from "../../../src/model/k8s.ts";
import { type AllocatorConfig, ServiceAllocator, type ServiceInput } from "../../../src/source/manifests/allocator.ts";
import { cidrContains, parseCIDR } from "../../../src/util/cidr.ts";

const V4: AllocatorConfig = { serviceCIDRs: ["127.96.0.0/16"], nodePortRange: { min: 30000, max: 32767 } };
const DUAL: AllocatorConfig = { serviceCIDRs: ["127.96.0.0/16", "fd00:96::/112"], nodePortRange: V4.nodePortRange };

function input(name: string, spec: Service["spec"] = {}, namespace = "default"): ServiceInput {
  return {
    key: `${namespace}/${name}`,
    origin: `${name}.yaml#1`,
    service: {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name, namespace },
      spec: { type: "ClusterIP", ports: [{ port: 80, protocol: "TCP" }], ...spec },
    },
  };
}

const summary = (services: Service[]) =>
  Object.fromEntries(
    services.map((s) => [
      s.metadata!.name!,
      {
        clusterIPs: s.spec!.clusterIPs,
        nodePorts: s.spec!.ports?.map((p) => p.nodePort),
        health: s.spec!.healthCheckNodePort,
      },
    ]),
  );

/** Two names whose preferred address is the same in `cidr`, found by trying (bounded). */
function collidingPair(config: AllocatorConfig): [string, string] {
  const seen = new Map<string, string>();
  for (let i = 0; i < 5000; i++) {
    const name = `svc-${i}`;
    const ip = new ServiceAllocator(config).allocate([input(name)]).services[0]!.spec!.clusterIP!;
    const other = seen.get(ip);
    if (other) return [other, name];
    seen.set(ip, name);
  }
  throw new Error("no colliding pair found");
}

describe("ServiceAllocator", () => {
  it("gives the same addresses and ports to the same manifests in two fresh allocators", () => {
    const inputs = [
      input("a"),
      input("b", {
        type: "NodePort",
        ports: [
          { name: "http", port: 80 },
          { name: "https", port: 443 },
        ],
      }),
      input("c", { type: "LoadBalancer", externalTrafficPolicy: "Local", allocateLoadBalancerNodePorts: true }),
      input("d", {}, "other"),
    ];
    const first = new ServiceAllocator(V4).allocate(inputs);
    const second = new ServiceAllocator(V4).allocate([...inputs].reverse());
    expect(first.problems).toEqual([]);
    expect(summary(second.services)).toEqual(summary(first.services));
    const cidr = parseCIDR("127.96.0.0/16");
    for (const s of first.services) {
      expect(cidrContains(cidr, s.spec!.clusterIP!)).toBe(true);
      expect(s.spec!.clusterIP).not.toBe("127.96.0.0");
      expect(s.spec!.clusterIP).not.toBe("127.96.0.1");
      expect(s.spec!.ipFamilies).toEqual(["IPv4"]);
      expect(s.spec!.ipFamilyPolicy).toBe("SingleStack");
    }
    const b = first.services[1]!.spec!;
    expect(b.ports!.map((p) => p.nodePort).every((p) => p! >= 30000 && p! <= 32767)).toBe(true);
    expect(new Set(b.ports!.map((p) => p.nodePort)).size).toBe(2);
    const c = first.services[2]!.spec!;
    expect(c.healthCheckNodePort).toBeGreaterThanOrEqual(30000);
    expect(c.healthCheckNodePort).not.toBe(c.ports![0]!.nodePort);
  });

  it("keeps values sticky when a Service that would collide is added", () => {
    const small: AllocatorConfig = { serviceCIDRs: ["127.96.0.0/24"], nodePortRange: V4.nodePortRange };
    const [a, b] = collidingPair(small);
    // Fresh, both present: the first in name order gets the shared preferred address.
    const fresh = summary(new ServiceAllocator(small).allocate([input(b), input(a)]).services);
    // Running with only `b`, then `a` is added: `b` keeps its address, `a` probes on.
    const running = new ServiceAllocator(small);
    const alone = summary(running.allocate([input(b)]).services);
    const added = summary(running.allocate([input(a), input(b)]).services);
    expect(added[b]).toEqual(alone[b]);
    expect(added[a]!.clusterIPs).not.toEqual(added[b]!.clusterIPs);
    // On a fresh start the first in namespace/name order wins the shared preferred address.
    const [winner, loser] = [a, b].sort();
    expect(fresh[winner!]).toEqual(alone[b]);
    expect(fresh[loser!]!.clusterIPs).not.toEqual(alone[b]!.clusterIPs);
  });

  it("frees the values of a removed Service and keeps the others", () => {
    const alloc = new ServiceAllocator(V4);
    const before = summary(alloc.allocate([input("a"), input("b"), input("c")]).services);
    const after = summary(alloc.allocate([input("a"), input("c")]).services);
    expect(after).toEqual({ a: before.a, c: before.c });
  });

  it("honours explicit values first and reports the later of two claims", () => {
    const result = new ServiceAllocator(V4).allocate([
      input("first", { clusterIP: "127.96.0.50", type: "NodePort", ports: [{ port: 80, nodePort: 30080 }] }),
      input("second", { clusterIP: "127.96.0.50", type: "NodePort", ports: [{ port: 80, nodePort: 30080 }] }),
      input("outside", { clusterIP: "10.0.171.239" }),
    ]);
    const s = summary(result.services);
    expect(s.first).toEqual({ clusterIPs: ["127.96.0.50"], nodePorts: [30080], health: undefined });
    expect(s.second!.clusterIPs![0]).not.toBe("127.96.0.50");
    expect(s.second!.nodePorts![0]).not.toBe(30080);
    expect(s.outside!.clusterIPs).toEqual(["10.0.171.239"]);
    expect(result.problems.map((p) => `${p.name} ${p.origin} ${p.field}: ${p.message}`)).toEqual([
      "second second.yaml#1 spec.clusterIP: clusterIP 127.96.0.50 is already allocated to Service default/first; a free one is allocated instead",
      "second second.yaml#1 spec.ports[0].nodePort: nodePort 30080 is already allocated to Service default/first; a free one is allocated instead",
    ]);
  });

  it("does not let a new explicit claim take a running Service's address", () => {
    const alloc = new ServiceAllocator(V4);
    const held = alloc.allocate([input("old")]).services[0]!.spec!.clusterIP!;
    const result = alloc.allocate([input("new", { clusterIP: held }), input("old")]);
    expect(summary(result.services).old!.clusterIPs).toEqual([held]);
    expect(result.problems.map((p) => `${p.name} ${p.field}`)).toEqual(["new spec.clusterIP"]);
  });

  it("gives the first address to default/kubernetes only", () => {
    const result = new ServiceAllocator(V4).allocate([input("kubernetes", { ports: [{ port: 443 }] }), input("x")]);
    expect(result.services[0]!.spec!.clusterIP).toBe("127.96.0.1");
    expect(result.services[1]!.spec!.clusterIP).not.toBe("127.96.0.1");
  });

  it("shares one nodePort between TCP and UDP on the same port number", () => {
    const result = new ServiceAllocator(V4).allocate([
      input("dns", {
        type: "NodePort",
        ports: [
          { name: "dns", port: 53, protocol: "UDP" },
          { name: "dns-tcp", port: 53, protocol: "TCP" },
        ],
      }),
    ]);
    const ports = result.services[0]!.spec!.ports!;
    expect(ports[0]!.nodePort).toBe(ports[1]!.nodePort);
  });

  it.each([
    ["single-stack default", {}, ["IPv4"], "SingleStack", 1],
    ["PreferDualStack", { ipFamilyPolicy: "PreferDualStack" }, ["IPv4", "IPv6"], "PreferDualStack", 2],
    [
      "RequireDualStack, IPv6 first",
      { ipFamilyPolicy: "RequireDualStack", ipFamilies: ["IPv6"] },
      ["IPv6", "IPv4"],
      "RequireDualStack",
      2,
    ],
    ["two families imply RequireDualStack", { ipFamilies: ["IPv4", "IPv6"] }, ["IPv4", "IPv6"], "RequireDualStack", 2],
    ["IPv6 only", { ipFamilies: ["IPv6"] }, ["IPv6"], "SingleStack", 1],
    ["explicit IPv6 clusterIP", { clusterIP: "fd00:96::a" }, ["IPv6"], "SingleStack", 1],
    ["headless without selector", { clusterIP: "None" }, ["IPv4", "IPv6"], "RequireDualStack", 0],
    ["headless with selector", { clusterIP: "None", selector: { app: "x" } }, ["IPv4"], "SingleStack", 0],
  ] as [string, Service["spec"], string[], string, number][])(
    "dual-stack: %s",
    (_title, spec, families, policy, ips) => {
      const result = new ServiceAllocator(DUAL).allocate([input("s", spec)]);
      expect(result.problems).toEqual([]);
      const out = result.services[0]!.spec!;
      expect(out.ipFamilies).toEqual(families);
      expect(out.ipFamilyPolicy).toBe(policy);
      if (ips === 0) expect(out.clusterIPs).toEqual(["None"]);
      else {
        expect(out.clusterIPs).toHaveLength(ips);
        for (const [i, ip] of out.clusterIPs!.entries())
          expect(cidrContains(parseCIDR(families[i] === "IPv4" ? "127.96.0.0/16" : "fd00:96::/112"), ip)).toBe(true);
        expect(out.clusterIP).toBe(out.clusterIPs![0]);
      }
    },
  );

  it("refuses RequireDualStack on a single-stack cluster and reports it", () => {
    const result = new ServiceAllocator(V4).allocate([input("s", { ipFamilyPolicy: "RequireDualStack" })]);
    expect(result.services).toEqual([]);
    expect(result.problems.map((p) => p.field)).toEqual(["spec.ipFamilyPolicy"]);
  });

  it("reports a full range and drops only the Service that did not fit", () => {
    const tiny: AllocatorConfig = { serviceCIDRs: ["127.96.0.0/29"], nodePortRange: V4.nodePortRange };
    // /29: offsets 1..6 usable, 1 reserved for kubernetes → 5 dynamic addresses.
    const names = ["a", "b", "c", "d", "e", "f"];
    const result = new ServiceAllocator(tiny).allocate(names.map((n) => input(n)));
    expect(result.services.map((s) => s.metadata!.name)).toEqual(["a", "b", "c", "d", "e"]);
    expect(new Set(result.services.map((s) => s.spec!.clusterIP)).size).toBe(5);
    expect(result.problems.map((p) => `${p.name} ${p.field}`)).toEqual(["f spec.clusterIP"]);
  });

  it("reports a service CIDR without allocatable addresses", () => {
    const none: AllocatorConfig = { serviceCIDRs: ["127.96.0.7/32"], nodePortRange: V4.nodePortRange };
    const result = new ServiceAllocator(none).allocate([input("kubernetes"), input("x", { clusterIP: "127.96.0.7" })]);
    expect(result.services.map((s) => `${s.metadata!.name} ${s.spec!.clusterIP}`)).toEqual(["x 127.96.0.7"]);
    expect(result.problems.map((p) => `${p.name} ${p.field}`)).toEqual(["kubernetes spec.clusterIP"]);
  });

  it("leaves ExternalName Services alone", () => {
    const result = new ServiceAllocator(V4).allocate([input("ext", { type: "ExternalName", externalName: "x.y" })]);
    expect(result.services[0]!.spec!.clusterIP).toBeUndefined();
    expect(result.services[0]!.spec!.ipFamilies).toBeUndefined();
  });
});
