import { describe, expect, it } from "vitest";
import type { BackendRef, RouteKind } from "../../../src/model/gateway.ts";
import { resolveBackendRef, toL4Backend } from "../../../src/translate/gateway/backends.ts";
import { ReferenceGrants } from "../../../src/translate/gateway/references.ts";
import { grant, type Obj, service, storeOf } from "./rules-support.ts";

const FIELD = "spec.rules[0].backendRefs[0]";

function resolve(objects: Obj[], ref: BackendRef, kind: RouteKind = "HTTPRoute", namespace = "apps") {
  const store = storeOf(objects);
  return resolveBackendRef(store, new ReferenceGrants(store), { kind, namespace }, ref, FIELD);
}

describe("resolveBackendRef: validity (HTTPBackendRef rules)", () => {
  const web = service("web", "apps", {
    ports: [{ port: 80, name: "http", targetPort: 8080 }],
    ips: ["10.0.0.2", "10.0.0.1"],
  });
  const cases: { name: string; objects?: Obj[]; ref: BackendRef; reason?: string; message?: RegExp }[] = [
    { name: 'core Service by default (group "", kind Service)', ref: { name: "web", port: 80 } },
    { name: "explicit core group and kind", ref: { group: "", kind: "Service", name: "web", port: 80 } },
    {
      // conformance: httproute-invalid-backendref-unknown-kind
      name: "unknown group/kind → InvalidKind",
      ref: { group: "unknownkind.example.com", kind: "NonExistent", name: "web", port: 80 },
      reason: "InvalidKind",
      message: /NonExistent.*unknownkind\.example\.com/,
    },
    {
      name: "kind Service in another group → InvalidKind",
      ref: { group: "example.com", kind: "Service", name: "web", port: 80 },
      reason: "InvalidKind",
    },
    {
      // conformance: httproute-invalid-nonexistent-backendref
      name: "missing Service → BackendNotFound",
      ref: { name: "nonexistent", port: 80 },
      reason: "BackendNotFound",
      message: /apps\/nonexistent not found/,
    },
    {
      name: "missing port → BackendNotFound (port is required for a Service)",
      ref: { name: "web" },
      reason: "BackendNotFound",
      message: /needs a port/,
    },
    {
      name: "port the Service does not have → BackendNotFound",
      ref: { name: "web", port: 81 },
      reason: "BackendNotFound",
      message: /no TCP port 81/,
    },
    {
      name: "port given as a targetPort is not a Service port",
      ref: { name: "web", port: 8080 },
      reason: "BackendNotFound",
    },
    { name: "port out of range", ref: { name: "web", port: 70000 }, reason: "BackendNotFound" },
    {
      // conformance: httproute-invalid-cross-namespace-backend-ref
      name: "other namespace without ReferenceGrant → RefNotPermitted",
      objects: service("web", "other"),
      ref: { name: "web", namespace: "other", port: 8080 },
      reason: "RefNotPermitted",
      message: /no ReferenceGrant in namespace "other"/,
    },
    {
      name: "RefNotPermitted is reported before a missing Service (no existence leak)",
      ref: { name: "ghost", namespace: "other", port: 8080 },
      reason: "RefNotPermitted",
    },
    {
      // conformance: httproute-reference-grant
      name: "other namespace with a ReferenceGrant",
      objects: [
        ...service("web", "other"),
        grant("g", "other", {
          from: [{ group: "gateway.networking.k8s.io", kind: "HTTPRoute", namespace: "apps" }],
          to: [{ group: "", kind: "Service", name: "web" }],
        }),
      ],
      ref: { name: "web", namespace: "other", port: 8080 },
    },
    {
      name: "ExternalName Service is refused, saying why",
      objects: [
        {
          kind: "Service",
          metadata: { namespace: "apps", name: "ext" },
          spec: { type: "ExternalName", externalName: "example.com", ports: [{ port: 80 }] },
        },
      ],
      ref: { name: "ext", port: 80 },
      reason: "InvalidKind",
      message: /ExternalName.*CVE-2021-25740/,
    },
  ];
  for (const c of cases)
    it(c.name, () => {
      const r = resolve(c.objects ?? web, c.ref);
      if (!c.reason) {
        expect(r.problem).toBeUndefined();
        expect(r.target?.endpoints.length).toBeGreaterThan(0);
        return;
      }
      expect(r.target).toBeUndefined();
      expect(r.problem?.reason).toBe(c.reason);
      expect(r.problem?.field).toBe(FIELD);
      if (c.message) expect(r.problem?.message).toMatch(c.message);
    });

  it("a valid reference: target id, port and the slice's endpoints on the targetPort, sorted", () => {
    const r = resolve(web, { name: "web", port: 80, weight: 3 });
    expect(r).toEqual({
      weight: 3,
      appProtocol: "http",
      target: {
        id: "apps/web:80",
        namespace: "apps",
        service: "web",
        port: 80,
        endpoints: [
          { ip: "10.0.0.1", port: 8080 },
          { ip: "10.0.0.2", port: 8080 },
        ],
      },
    });
  });

  it("weight: missing = 1, 0 allowed (no traffic), invalid = 0", () => {
    expect(resolve(web, { name: "web", port: 80 }).weight).toBe(1);
    expect(resolve(web, { name: "web", port: 80, weight: 0 }).weight).toBe(0);
    expect(resolve(web, { name: "web", port: 80, weight: -1 }).weight).toBe(0);
    expect(resolve(web, { name: "missing", port: 80, weight: 5 }).weight).toBe(5);
  });
});

describe("resolveBackendRef: endpoints (shared with the Ingress translator)", () => {
  it("ready endpoints only; serving+terminating ones when none is ready", () => {
    const some = service("web", "apps", {
      ports: [{ port: 80, name: "http", targetPort: 8080 }],
      ips: ["10.0.0.1", "10.0.0.2", "10.0.0.3"],
      conditions: [{ ready: true }, { ready: false, serving: true, terminating: true }, { ready: false }],
    });
    expect(resolve(some, { name: "web", port: 80 }).target?.endpoints).toEqual([{ ip: "10.0.0.1", port: 8080 }]);
    const none = service("web", "apps", {
      ports: [{ port: 80, name: "http", targetPort: 8080 }],
      ips: ["10.0.0.2", "10.0.0.3"],
      conditions: [{ ready: false, serving: true, terminating: true }, { ready: false }],
    });
    expect(resolve(none, { name: "web", port: 80 }).target?.endpoints).toEqual([{ ip: "10.0.0.2", port: 8080 }]);
  });

  it("no ready endpoint is still a valid reference (empty endpoints: 503, not 500)", () => {
    const r = resolve(service("web", "apps", { ips: [] }), { name: "web", port: 8080 });
    expect(r.problem).toBeUndefined();
    expect(r.target?.endpoints).toEqual([]);
  });

  it("the Service port's targetPort is resolved per slice, by the port's name", () => {
    const objects: Obj[] = [
      {
        kind: "Service",
        metadata: { namespace: "apps", name: "web" },
        spec: {
          ports: [
            { name: "http", port: 80, targetPort: "web" },
            { name: "admin", port: 9000, targetPort: 9001 },
          ],
        },
      },
      {
        kind: "EndpointSlice",
        metadata: { namespace: "apps", name: "web-a", labels: { "kubernetes.io/service-name": "web" } },
        addressType: "IPv4",
        ports: [
          { name: "http", port: 8080 },
          { name: "admin", port: 9001 },
        ],
        endpoints: [{ addresses: ["10.0.0.1"] }],
      },
      {
        kind: "EndpointSlice",
        metadata: { namespace: "apps", name: "web-b", labels: { "kubernetes.io/service-name": "web" } },
        addressType: "IPv4",
        ports: [{ name: "http", port: 8081 }],
        endpoints: [{ addresses: ["10.0.0.2"] }],
      },
    ];
    expect(resolve(objects, { name: "web", port: 80 }).target?.endpoints).toEqual([
      { ip: "10.0.0.1", port: 8080 },
      { ip: "10.0.0.2", port: 8081 },
    ]);
    expect(resolve(objects, { name: "web", port: 9000 }).target?.endpoints).toEqual([{ ip: "10.0.0.1", port: 9001 }]);
  });

  it("a UDPRoute resolves the Service's UDP port and the slices' UDP ports", () => {
    const dns = service("dns", "apps", { ports: [{ port: 53, name: "dns", targetPort: 5353, protocol: "UDP" }] });
    expect(resolve(dns, { name: "dns", port: 53 }, "UDPRoute").target?.endpoints).toEqual([
      { ip: "10.0.0.1", port: 5353 },
    ]);
    expect(resolve(dns, { name: "dns", port: 53 }, "TCPRoute").problem?.reason).toBe("BackendNotFound");
  });
});

describe("resolveBackendRef: appProtocol", () => {
  const cases: { appProtocol?: string; route: RouteKind; expected: string }[] = [
    { route: "HTTPRoute", expected: "http" },
    { appProtocol: "http", route: "HTTPRoute", expected: "http" },
    // conformance: httproute-backend-protocol-h2c, httproute-backend-protocol-websocket
    { appProtocol: "kubernetes.io/h2c", route: "HTTPRoute", expected: "h2c" },
    { appProtocol: "kubernetes.io/ws", route: "HTTPRoute", expected: "ws" },
    { appProtocol: "kubernetes.io/wss", route: "HTTPRoute", expected: "UnsupportedProtocol" },
    { appProtocol: "https", route: "HTTPRoute", expected: "UnsupportedProtocol" },
    { route: "GRPCRoute", expected: "h2c" },
    { appProtocol: "kubernetes.io/h2c", route: "GRPCRoute", expected: "h2c" },
    { appProtocol: "grpc", route: "GRPCRoute", expected: "h2c" },
    { appProtocol: "kubernetes.io/ws", route: "GRPCRoute", expected: "UnsupportedProtocol" },
    { appProtocol: "http", route: "GRPCRoute", expected: "UnsupportedProtocol" },
    { appProtocol: "kubernetes.io/wss", route: "TCPRoute", expected: "http" },
  ];
  for (const c of cases)
    it(`${c.route} to a port with appProtocol ${c.appProtocol ?? "(unset)"} → ${c.expected}`, () => {
      const objects = service("web", "apps", {
        ports: [{ port: 80, name: "p", ...(c.appProtocol ? { appProtocol: c.appProtocol } : {}) }],
      });
      const r = resolve(objects, { name: "web", port: 80 }, c.route);
      if (c.expected === "UnsupportedProtocol") {
        expect(r.problem?.reason).toBe("UnsupportedProtocol");
        expect(r.problem?.message).toContain(c.appProtocol);
        expect(r.target).toBeUndefined();
      } else {
        expect(r.problem).toBeUndefined();
        expect(r.appProtocol).toBe(c.expected);
      }
    });
});

describe("toL4Backend", () => {
  it("keeps weight and target; an invalid reference keeps its weight without a target", () => {
    const objects = service("db", "apps", { ports: [{ port: 5432, name: "pg", targetPort: 5433 }] });
    expect(toL4Backend(resolve(objects, { name: "db", port: 5432, weight: 2 }, "TCPRoute"))).toEqual({
      weight: 2,
      target: {
        id: "apps/db:5432",
        namespace: "apps",
        service: "db",
        port: 5432,
        endpoints: [{ ip: "10.0.0.1", port: 5433 }],
      },
    });
    expect(toL4Backend(resolve(objects, { name: "nope", port: 5432 }, "TCPRoute"))).toEqual({ weight: 1 });
  });
});
