import { describe, expect, it } from "vitest";
import type { EndpointSlice } from "../../src/model/k8s.ts";
import { Store, type StoreChange } from "../../src/store/store.ts";

const slice = (ns: string, name: string, service: string, ip = "10.0.0.1"): EndpointSlice => ({
  kind: "EndpointSlice",
  metadata: { namespace: ns, name, labels: { "kubernetes.io/service-name": service } },
  addressType: "IPv4",
  endpoints: [{ addresses: [ip] }],
});

describe("Store indexes for change-driven translators", () => {
  it("slicesFor gives the same array until one of the Service's slices changes", () => {
    const store = new Store();
    store.upsert("EndpointSlice", slice("a", "web-1", "web"));
    store.upsert("EndpointSlice", slice("a", "db-1", "db"));
    const web = store.slicesFor("a/web");
    const db = store.slicesFor("a/db");
    expect(web.map((s) => s.metadata?.name)).toEqual(["web-1"]);
    expect(store.slicesFor("a/web")).toBe(web);
    store.upsert("EndpointSlice", slice("a", "web-2", "web"));
    expect(store.slicesFor("a/web").map((s) => s.metadata?.name)).toEqual(["web-1", "web-2"]);
    expect(store.slicesFor("a/db")).toBe(db);
    // relabelled to another Service: it leaves the first list and joins the other
    store.upsert("EndpointSlice", slice("a", "web-2", "db"));
    expect(store.slicesFor("a/web").map((s) => s.metadata?.name)).toEqual(["web-1"]);
    expect(store.slicesFor("a/db").map((s) => s.metadata?.name)).toEqual(["db-1", "web-2"]);
    store.delete("EndpointSlice", "a/web-1");
    expect(store.slicesFor("a/web")).toEqual([]);
  });

  it("changes carry the object they replaced or deleted", () => {
    const store = new Store();
    const seen: StoreChange[] = [];
    store.subscribe((changes) => seen.push(...changes));
    const first = slice("a", "web-1", "web");
    const second = slice("a", "web-1", "other");
    store.upsert("EndpointSlice", first);
    store.upsert("EndpointSlice", second);
    store.delete("EndpointSlice", "a/web-1");
    expect(seen.map((c) => [c.type, c.previous])).toEqual([
      ["added", undefined],
      ["modified", first],
      ["deleted", second],
    ]);
  });

  it("counts namespaces per kind, and moves namespaceRevision only when one appears or goes", () => {
    const store = new Store();
    const r0 = store.namespaceRevision;
    store.upsert("EndpointSlice", slice("a", "s1", "web"));
    const r1 = store.namespaceRevision;
    expect(r1).toBeGreaterThan(r0);
    store.upsert("EndpointSlice", slice("a", "s2", "web"));
    store.upsert("EndpointSlice", slice("a", "s2", "web", "10.0.0.2"));
    expect(store.namespaceRevision).toBe(r1);
    expect(store.namespaces("EndpointSlice")).toEqual(new Map([["a", 2]]));
    expect(store.namespaces("Service").size).toBe(0);
    store.delete("EndpointSlice", "a/s1");
    expect(store.namespaceRevision).toBe(r1);
    store.delete("EndpointSlice", "a/s2");
    expect(store.namespaceRevision).toBeGreaterThan(r1);
    expect(store.namespaces("EndpointSlice").size).toBe(0);
    store.upsert("Node", { metadata: { name: "n1" } });
    expect(store.namespaces("Node").size).toBe(0);
  });
});
