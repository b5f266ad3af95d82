import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { DnsRecords, PodRecordMode } from "../../../src/snapshot/dns.ts";
import { lookupName } from "../../../src/snapshot/dns-lookup.ts";
import { canonicalIp, ipFromDashed, ipv4Value, isIPv4, reverseName } from "../../../src/snapshot/ip.ts";
import { Store } from "../../../src/store/store.ts";
import { translateDns } from "../../../src/translate/dns/translator.ts";
import { labStore, options, service, slice } from "./fixtures.ts";

type Expect = "NXDOMAIN" | "OUTSIDE" | DnsRecords;

const CASES: [string, Expect][] = [
  // 2.2 schema version
  ["dns-version.cluster.local", { txt: ["1.1.0"] }],
  // 2.3 ClusterIP services: A, AAAA, SRV (named ports only), PTR
  // the bare name's SRV lists every port (CoreDNS), weighed per clusterIP × port
  [
    "kubernetes.default.svc.cluster.local",
    {
      a: ["10.96.0.1"],
      srv: [{ priority: 0, weight: 100, port: 443, target: "kubernetes.default.svc.cluster.local" }],
    },
  ],
  [
    "_https._tcp.kubernetes.default.svc.cluster.local",
    { srv: [{ priority: 0, weight: 100, port: 443, target: "kubernetes.default.svc.cluster.local" }] },
  ],
  ["_tcp.kubernetes.default.svc.cluster.local", {}],
  [
    "my-nginx.default.svc.cluster.local",
    {
      a: ["10.96.0.10"],
      srv: [
        { priority: 0, weight: 50, port: 80, target: "my-nginx.default.svc.cluster.local" },
        { priority: 0, weight: 50, port: 8080, target: "my-nginx.default.svc.cluster.local" },
      ],
    },
  ],
  [
    "_http._tcp.my-nginx.default.svc.cluster.local",
    { srv: [{ priority: 0, weight: 100, port: 80, target: "my-nginx.default.svc.cluster.local" }] },
  ],
  ["_http._udp.my-nginx.default.svc.cluster.local", "NXDOMAIN"],
  ["10.0.96.10.in-addr.arpa", { ptr: ["my-nginx.default.svc.cluster.local"] }],
  // endpoint names of a ClusterIP service (CoreDNS answers them too): ready ones only
  ["10-244-0-5.my-nginx.default.svc.cluster.local", { a: ["10.244.0.5"] }],
  ["10-244-0-6.my-nginx.default.svc.cluster.local", "NXDOMAIN"],
  // …but no PTR for those without a hostname: their reverse names are forwarded (docs/dns.md, CoreDNS parity)
  ["5.0.244.10.in-addr.arpa", "OUTSIDE"],
  // dual-stack: one record per clusterIP, repeats dropped, so a single port weighs 50 (CoreDNS)
  [
    "dual.default.svc.cluster.local",
    {
      a: ["10.96.0.20"],
      aaaa: ["fd00:96::20"],
      srv: [{ priority: 0, weight: 50, port: 53, target: "dual.default.svc.cluster.local" }],
    },
  ],
  [
    "_dns._udp.dual.default.svc.cluster.local",
    { srv: [{ priority: 0, weight: 50, port: 53, target: "dual.default.svc.cluster.local" }] },
  ],
  [reverseName("fd00:96::20")!, { ptr: ["dual.default.svc.cluster.local"] }],
  // 2.4 headless: ready endpoint addresses, hostnames (case-folded), SRV per endpoint, PTR
  // SRV weights count addresses × ports before repeats are dropped: web-0 has two addresses, so 4 → 25
  [
    "headless.web.svc.cluster.local",
    {
      a: ["10.244.1.1", "10.244.1.2", "10.244.1.4"],
      aaaa: ["fd00::1:1"],
      srv: [
        { priority: 0, weight: 25, port: 8080, target: "web-0.headless.web.svc.cluster.local" },
        { priority: 0, weight: 25, port: 8080, target: "web-1.headless.web.svc.cluster.local" },
        { priority: 0, weight: 25, port: 8080, target: "10-244-1-4.headless.web.svc.cluster.local" },
      ],
    },
  ],
  ["web-0.headless.web.svc.cluster.local", { a: ["10.244.1.1"], aaaa: ["fd00::1:1"] }],
  ["web-1.headless.web.svc.cluster.local", { a: ["10.244.1.2"] }],
  ["web-2.headless.web.svc.cluster.local", "NXDOMAIN"],
  ["10-244-1-4.headless.web.svc.cluster.local", { a: ["10.244.1.4"] }],
  // an endpoint with its own hostname is named by it only (CoreDNS's endpointHostname)
  ["10-244-1-1.headless.web.svc.cluster.local", "NXDOMAIN"],
  ["10-244-1-04.headless.web.svc.cluster.local", "NXDOMAIN"],
  ["4.1.244.10.in-addr.arpa", { ptr: ["10-244-1-4.headless.web.svc.cluster.local"] }],
  [
    "_http._tcp.headless.web.svc.cluster.local",
    {
      srv: [
        { priority: 0, weight: 25, port: 8080, target: "web-0.headless.web.svc.cluster.local" },
        { priority: 0, weight: 25, port: 8080, target: "web-1.headless.web.svc.cluster.local" },
        { priority: 0, weight: 25, port: 8080, target: "10-244-1-4.headless.web.svc.cluster.local" },
      ],
    },
  ],
  ["1.1.244.10.in-addr.arpa", { ptr: ["web-0.headless.web.svc.cluster.local"] }],
  ["3.1.244.10.in-addr.arpa", "OUTSIDE"],
  ["empty-headless.web.svc.cluster.local", "NXDOMAIN"],
  ["_http._tcp.empty-headless.web.svc.cluster.local", "NXDOMAIN"],
  ["unready-ok.web.svc.cluster.local", { a: ["10.244.3.1"] }],
  // 2.5 ExternalName
  ["ext.web.svc.cluster.local", { cname: "www.example.com" }],
  ["bad-ext.web.svc.cluster.local", "NXDOMAIN"],
  // empty non-terminals and namespaces: NODATA; unknown names: NXDOMAIN
  ["cluster.local", {}],
  ["svc.cluster.local", {}],
  ["web.svc.cluster.local", {}],
  ["nowhere.svc.cluster.local", "NXDOMAIN"],
  ["missing.default.svc.cluster.local", "NXDOMAIN"],
  ["example.com.default.svc.cluster.local", "NXDOMAIN"],
  // 2.6 pod records (insecure): any address in an existing namespace
  ["10-244-0-9.default.pod.cluster.local", { a: ["10.244.0.9"] }],
  ["1-2-3-4.web.pod.cluster.local", { a: ["1.2.3.4"] }],
  ["fd00--5.web.pod.cluster.local", { aaaa: ["fd00::5"] }],
  ["1-2-3-4.nope.pod.cluster.local", "NXDOMAIN"],
  ["1-2-3-999.web.pod.cluster.local", "NXDOMAIN"],
  ["default.pod.cluster.local", {}],
  // outside the domain
  ["example.com", "OUTSIDE"],
  ["local", "OUTSIDE"],
  ["xcluster.local", "OUTSIDE"],
];

describe("DNS zone translator", () => {
  const { snapshot, problems } = translateDns(labStore(), options());
  it.each(CASES)("%s", (name, expected) => {
    const result = lookupName(snapshot, name);
    if (expected === "NXDOMAIN") expect(result.kind).toBe("nxdomain");
    else if (expected === "OUTSIDE") expect(result.kind).toBe("outside");
    else expect(withoutEndpoints(result)).toEqual({ kind: "records", records: expected });
  });

  it("reports a bad ExternalName on the Service and field, and keeps the rest", () => {
    expect(problems).toContainEqual(
      expect.objectContaining({ kind: "Service", namespace: "web", name: "bad-ext", field: "spec.externalName" }),
    );
    expect(problems).toHaveLength(1);
  });

  it("a malformed object costs only its own records", () => {
    const store = labStore();
    store.upsert("Service", service("default", "broken", { clusterIP: "10.96.0.99", ports: [null] as unknown as [] }));
    store.upsert("Service", service("default", "broken-slice", { clusterIP: "None" }));
    store.upsert(
      "EndpointSlice",
      slice("default", "broken-slice", "bs-1", [{ conditions: { ready: true } }] as never, []),
    );
    const result = translateDns(store, options());
    expect(result.problems.map((p) => p.name)).toEqual(expect.arrayContaining(["broken"]));
    expect(lookupName(result.snapshot, "my-nginx.default.svc.cluster.local").kind).toBe("records");
    expect(lookupName(result.snapshot, "broken-slice.default.svc.cluster.local").kind).toBe("nxdomain");
  });

  it("serves SOA facts for the domain", () => {
    expect(snapshot.soa).toMatchObject({ mname: "ns.dns.cluster.local", rname: "hostmaster.cluster.local" });
  });

  it("names an IPv6 endpoint ending in :: with a final 0, as CoreDNS's endpointHostname", () => {
    const store = labStore();
    store.upsert(
      "Service",
      service("default", "v6-headless", { clusterIP: "None", ports: [{ name: "http", port: 80 }] }),
    );
    store.upsert(
      "EndpointSlice",
      slice("default", "v6-headless", "v6-1", [{ addresses: ["fd00:1::"] }], [{ name: "http", port: 80 }], "IPv6"),
    );
    const zone = translateDns(store, options()).snapshot;
    expect(lookupName(zone, "fd00-1--0.v6-headless.default.svc.cluster.local")).toEqual({
      kind: "records",
      records: { aaaa: ["fd00:1::"] },
    });
    expect(lookupName(zone, reverseName("fd00:1::")!)).toEqual({
      kind: "records",
      records: { ptr: ["fd00-1--0.v6-headless.default.svc.cluster.local"] },
    });
  });

  it("uses the configured domain (case-folded, trailing dot ignored)", () => {
    const other = translateDns(labStore(), options("insecure", "Corp.Example.")).snapshot;
    expect(withoutEndpoints(lookupName(other, "my-nginx.default.svc.corp.example"))).toEqual({
      kind: "records",
      records: {
        a: ["10.96.0.10"],
        srv: [
          { priority: 0, weight: 50, port: 80, target: "my-nginx.default.svc.corp.example" },
          { priority: 0, weight: 50, port: 8080, target: "my-nginx.default.svc.corp.example" },
        ],
      },
    });
    expect(lookupName(other, "my-nginx.default.svc.cluster.local").kind).toBe("outside");
  });
});

describe("pod record modes", () => {
  const cases: [PodRecordMode, string, Expect][] = [
    ["verified", "10-244-0-9.default.pod.cluster.local", { a: ["10.244.0.9"] }],
    ["verified", "10-244-0-9.web.pod.cluster.local", "NXDOMAIN"],
    ["verified", "1-2-3-4.default.pod.cluster.local", "NXDOMAIN"],
    ["verified", "10-244-0-99.default.pod.cluster.local", "NXDOMAIN"],
    ["verified", "default.pod.cluster.local", {}],
    ["disabled", "10-244-0-9.default.pod.cluster.local", "NXDOMAIN"],
    ["insecure", "10-244-0-99.default.pod.cluster.local", { a: ["10.244.0.99"] }],
  ];
  it.each(cases)("%s: %s", (mode, name, expected) => {
    const { snapshot } = translateDns(labStore(), options(mode));
    const result = lookupName(snapshot, name);
    if (expected === "NXDOMAIN") expect(result.kind).toBe("nxdomain");
    else expect(withoutEndpoints(result)).toEqual({ kind: "records", records: expected });
  });
});

describe("rebuilds", () => {
  it("reuses the index when nothing DNS-relevant changed, and rebuilds when a slice changes", () => {
    const store = labStore();
    const first = translateDns(store, options()).snapshot;
    store.upsert("Ingress", { metadata: { namespace: "default", name: "x" } });
    expect(translateDns(store, options()).snapshot).toBe(first);
    store.upsert(
      "EndpointSlice",
      slice(
        "web",
        "empty-headless",
        "empty-1",
        [{ addresses: ["10.244.2.1"], conditions: { ready: true } }],
        [{ name: "http", port: 80 }],
      ),
    );
    const second = translateDns(store, options()).snapshot;
    expect(second).not.toBe(first);
    expect(withoutEndpoints(lookupName(second, "empty-headless.web.svc.cluster.local"))).toEqual({
      kind: "records",
      records: {
        a: ["10.244.2.1"],
        srv: [{ priority: 0, weight: 100, port: 80, target: "10-244-2-1.empty-headless.web.svc.cluster.local" }],
      },
    });
    expect(second.soa.serial).toBeGreaterThan(first.soa.serial);
  });

  it("drops a deleted Service's names", () => {
    const store = labStore();
    translateDns(store, options());
    store.delete("Service", "default/my-nginx");
    const { snapshot } = translateDns(store, options());
    expect(lookupName(snapshot, "my-nginx.default.svc.cluster.local").kind).toBe("nxdomain");
    expect(lookupName(snapshot, "10.0.96.10.in-addr.arpa").kind).toBe("outside");
  });
});

describe("endpoint names of a ClusterIP Service", () => {
  // a few addresses are kept in an array, more in a Set: both must answer every name, once per address
  it.each([3, 16, 17, 40])("%i endpoints in rising order all answer by their dashed address", (count) => {
    const store = new Store();
    store.upsert("Service", service("ns", "web", { clusterIP: "10.96.0.7", ports: [{ name: "http", port: 80 }] }));
    const addresses = Array.from({ length: count }, (_, i) => `10.244.7.${i + 1}`);
    const endpoints = addresses.map((ip) => ({ addresses: [ip] }));
    store.upsert("EndpointSlice", slice("ns", "web", "web-1", endpoints, [{ name: "http", port: 8080 }]));
    const { snapshot } = translateDns(store, options());
    expect([...(snapshot.records.get("web.ns.svc.cluster.local")?.endpointIps ?? [])]).toEqual(addresses);
    for (const ip of addresses)
      expect(lookupName(snapshot, `${ip.replaceAll(".", "-")}.web.ns.svc.cluster.local`).kind).toBe("records");
  });

  it.each([3, 16, 17, 40])("%i endpoints (each listed twice) all answer by their dashed address", (count) => {
    const store = new Store();
    store.upsert("Service", service("ns", "web", { clusterIP: "10.96.0.7", ports: [{ name: "http", port: 80 }] }));
    const addresses = Array.from({ length: count }, (_, i) => `10.244.7.${i + 1}`);
    const endpoints = [...addresses, ...addresses].map((ip) => ({ addresses: [ip] }));
    // first-seen order is kept, repeats dropped
    store.upsert("EndpointSlice", slice("ns", "web", "web-1", endpoints, [{ name: "http", port: 8080 }]));
    const { snapshot } = translateDns(store, options());
    expect([...(snapshot.records.get("web.ns.svc.cluster.local")?.endpointIps ?? [])]).toEqual(addresses);
    for (const ip of addresses) {
      expect(lookupName(snapshot, `${ip.replaceAll(".", "-")}.web.ns.svc.cluster.local`)).toEqual({
        kind: "records",
        records: { a: [ip] },
      });
    }
    expect(lookupName(snapshot, "10-244-7-200.web.ns.svc.cluster.local").kind).toBe("nxdomain");
  });
});

describe("IP helpers", () => {
  it("ipv4Value accepts exactly what isIPv4 accepts, with the address's number", () => {
    const octet = fc.oneof(fc.integer({ min: 0, max: 300 }).map(String), fc.constantFrom("", "00", "01", "a", "-1"));
    const text = fc.oneof(
      fc.array(octet, { minLength: 1, maxLength: 6 }).map((parts) => parts.join(".")),
      fc.string({ maxLength: 16 }),
    );
    fc.assert(
      fc.property(text, (t) => {
        const value = ipv4Value(t);
        expect(value >= 0).toBe(isIPv4(t));
        if (value >= 0) expect(value).toBe(t.split(".").reduce((n, o) => n * 256 + Number(o), 0));
      }),
      { numRuns: 2000 },
    );
    expect(ipv4Value("255.255.255.255")).toBe(2 ** 32 - 1);
    expect(ipv4Value("0.0.0.0")).toBe(0);
  });

  it.each([
    ["10.0.0.1", "10.0.0.1"],
    ["FD00:0:0:0:0:0:0:1", "fd00::1"],
    ["::ffff:1.2.3.4", "::ffff:102:304"],
    ["2001:db8::", "2001:db8::"],
    ["1.2.3", undefined],
    ["01.2.3.4", undefined],
    ["1::2::3", undefined],
    ["fe80::1%eth0", undefined],
  ])("canonicalIp(%s)", (text, expected) => {
    expect(canonicalIp(text)?.ip).toBe(expected);
  });
  it("reverse names", () => {
    expect(reverseName("10.96.0.1")).toBe("1.0.96.10.in-addr.arpa");
    expect(reverseName("2001:db8::1")).toBe("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa");
  });
  it("dashed pod labels", () => {
    expect(ipFromDashed("1-2-3-4")?.ip).toBe("1.2.3.4");
    expect(ipFromDashed("2001-db8--1")?.ip).toBe("2001:db8::1");
    expect(ipFromDashed("a-b-c-d")).toBeUndefined();
  });
});

describe("incremental rebuilds equal fresh builds (fast-check)", () => {
  const op = fc.oneof(
    fc.record({
      kind: fc.constant("service" as const),
      name: fc.constantFrom("a", "b", "c", "d"),
      headless: fc.boolean(),
      ip: fc.integer({ min: 1, max: 3 }),
    }),
    fc.record({
      kind: fc.constant("slice" as const),
      name: fc.constantFrom("a", "b", "c", "d"),
      ips: fc.array(fc.integer({ min: 1, max: 6 }), { maxLength: 4 }),
      ready: fc.boolean(),
      hostname: fc.option(fc.constantFrom("p0", "p1"), { nil: undefined }),
    }),
    fc.record({ kind: fc.constant("delete" as const), name: fc.constantFrom("a", "b", "c", "d"), slice: fc.boolean() }),
  );

  it("after every change", () => {
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 25 }), (ops) => {
        const store = labStore();
        translateDns(store, options());
        for (const o of ops) {
          if (o.kind === "service")
            store.upsert(
              "Service",
              service("ns", o.name, {
                clusterIP: o.headless ? "None" : `10.96.7.${o.ip}`,
                ports: [{ name: "http", port: 80 }],
              }),
            );
          else if (o.kind === "slice")
            store.upsert(
              "EndpointSlice",
              slice(
                "ns",
                o.name,
                `${o.name}-1`,
                o.ips.map((i) => ({
                  addresses: [`10.244.7.${i}`],
                  hostname: o.hostname,
                  conditions: { ready: o.ready },
                })),
                [{ name: "http", port: 8080 }],
              ),
            );
          else if (o.slice) store.delete("EndpointSlice", `ns/${o.name}-1`);
          else store.delete("Service", `ns/${o.name}`);
          const incremental = translateDns(store, options()).snapshot;
          const fresh = new Store();
          for (const kind of ["Service", "EndpointSlice", "Pod"] as const)
            for (const obj of store.list(kind)) fresh.upsert(kind, structuredClone(obj));
          const expected = translateDns(fresh, options()).snapshot;
          expect(sorted(incremental.records)).toEqual(sorted(expected.records));
        }
      }),
      { numRuns: 60 },
    );
  });
});

/** Lookup results without the Service names' endpoint maps (checked through the endpoint names themselves). */
function withoutEndpoints(result: ReturnType<typeof lookupName>): unknown {
  if (result.kind !== "records") return result;
  const { endpoints: _endpoints, endpointIps: _endpointIps, ...records } = result.records;
  return { kind: "records", records };
}

function sorted(records: ReadonlyMap<string, DnsRecords>): [string, unknown][] {
  const norm = (r: DnsRecords) =>
    Object.fromEntries(
      Object.entries(r).map(([k, v]) => [
        k,
        v instanceof Map
          ? JSON.stringify([...v.entries()].sort())
          : v instanceof Set
            ? JSON.stringify([...v].sort())
            : Array.isArray(v)
              ? [...v].map((x) => JSON.stringify(x)).sort()
              : v,
      ]),
    );
  return [...records.entries()]
    .map(([k, v]) => [k, norm(v)] as [string, unknown])
    .sort((a, b) => (a[0] < b[0] ? -1 : 1));
}
