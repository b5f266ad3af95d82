import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ManifestCompiler } from "../../../src/source/manifests/compile.ts";
import { MANIFEST_KINDS } from "../../../src/source/manifests/validate.ts";
import { compileFiles } from "../helpers.ts";

const kinds = Object.entries(MANIFEST_KINDS);

/** Documents shaped like manifests of the accepted kinds, with arbitrary JSON where fields go. */
const manifest = fc.oneof(
  fc.jsonValue(),
  fc
    .record({
      kindIndex: fc.nat(kinds.length - 1),
      name: fc.oneof(fc.constantFrom("web", "a-b", "x.y"), fc.string(), fc.jsonValue()),
      body: fc.dictionary(
        fc.constantFrom("spec", "status", "subsets", "endpoints", "ports", "addressType", "data", "type"),
        fc.jsonValue({ maxDepth: 4 }),
      ),
    })
    .map(({ kindIndex, name, body }) => {
      const [kind, apiVersion] = kinds[kindIndex]!;
      return { apiVersion, kind, metadata: { name }, ...body };
    }),
);

/** Service specs mixing plausible and wrong values for the fields the allocator reads. */
const value = fc.constantFrom<unknown>(
  undefined,
  null,
  "",
  "None",
  "127.96.0.10",
  "fd00:96::10",
  "10.0.0.1",
  80,
  30080,
  0,
  "IPv4",
  "IPv6",
  "SingleStack",
  "PreferDualStack",
  "RequireDualStack",
  "NodePort",
  "LoadBalancer",
  "ExternalName",
  "Local",
  true,
  ["IPv4", "IPv6"],
  ["IPv6"],
  ["127.96.0.10"],
  ["None"],
  { app: "x" },
);
const servicePort = fc.record({
  name: fc.constantFrom(undefined, "a", "b", "http"),
  port: fc.constantFrom(53, 80, 443, 0, "80"),
  protocol: fc.constantFrom(undefined, "TCP", "UDP", "SCTP"),
  nodePort: fc.constantFrom(undefined, 30080, 30081, 1),
});
const service = fc
  .record({
    name: fc.constantFrom("a", "b", "c", "kubernetes"),
    spec: fc.dictionary(
      fc.constantFrom(
        "type",
        "clusterIP",
        "clusterIPs",
        "ipFamilies",
        "ipFamilyPolicy",
        "selector",
        "externalTrafficPolicy",
        "healthCheckNodePort",
        "allocateLoadBalancerNodePorts",
        "externalName",
      ),
      value,
    ),
    ports: fc.array(servicePort, { maxLength: 3 }),
  })
  .map(({ name, spec, ports }) => ({
    apiVersion: "v1",
    kind: "Service",
    metadata: { name },
    spec: { ...spec, ports },
  }));

describe("manifests never crash the compiler", () => {
  it("Service specs through validation and allocation, single and dual stack", () => {
    fc.assert(
      fc.property(fc.array(service, { maxLength: 5 }), fc.boolean(), (docs, dual) => {
        const compiler = new ManifestCompiler({
          serviceCIDRs: dual ? ["127.96.0.0/16", "fd00:96::/112"] : ["127.96.0.0/16"],
          nodePortRange: { min: 30000, max: 32767 },
        });
        const files = docs.map((d, i) => ({ path: `d${i}.json`, text: JSON.stringify(d) }));
        const result = compiler.compile(files);
        const ips = new Set<string>();
        for (const svc of result.objects.Service) {
          for (const ip of svc.spec?.clusterIPs ?? []) {
            if (ip === "None") continue;
            expect(ips.has(ip), ip).toBe(false); // no address is given twice
            ips.add(ip);
          }
        }
        const portOwner = new Map<number, string>();
        for (const svc of result.objects.Service) {
          const ports = (svc.spec?.ports ?? []).map((p) => p.nodePort);
          const health = svc.spec?.healthCheckNodePort;
          if (health !== undefined) expect(ports).not.toContain(health);
          for (const port of [...ports, health]) {
            if (port === undefined) continue;
            const owner = portOwner.get(port);
            expect(owner === undefined || owner === svc.metadata?.name, `nodePort ${port}`).toBe(true);
            portOwner.set(port, svc.metadata!.name!);
          }
        }
        compiler.compile(files.slice(1)); // and again, with one gone
      }),
      { numRuns: 400 },
    );
  });

  it("arbitrary documents give objects or problems, never an exception", () => {
    fc.assert(
      fc.property(fc.array(manifest, { maxLength: 6 }), (docs) => {
        const result = compileFiles({
          "f.json": "[]",
          ...Object.fromEntries(docs.map((d, i) => [`d${i}.json`, JSON.stringify(d)])),
        });
        for (const p of result.problems) {
          expect(p.kind).toBeTruthy();
          expect(p.message).toBeTruthy();
          expect(p.origin).toMatch(/^d\d+\.json#1|^f\.json#1/);
        }
        for (const list of Object.values(result.objects))
          for (const obj of list) expect(typeof obj.metadata?.name).toBe("string");
      }),
      { numRuns: 300 },
    );
  });

  it("arbitrary text as a YAML file never throws", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (text) => {
        compileFiles({ "f.yaml": text });
      }),
      { numRuns: 300 },
    );
  });
});
