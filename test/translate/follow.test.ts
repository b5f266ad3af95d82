import { describe, expect, it } from "vitest";
import type { EndpointSlice, Service } from "../../src/model/k8s.ts";
import { Store, type StoreChange } from "../../src/store/store.ts";
import { addSliceOwners, StoreFollower } from "../../src/translate/follow.ts";

const service = (name: string): Service => ({ kind: "Service", metadata: { namespace: "ns", name } });
const slice = (name: string, owner: string): EndpointSlice => ({
  kind: "EndpointSlice",
  metadata: { namespace: "ns", name, labels: { "kubernetes.io/service-name": owner } },
  addressType: "IPv4",
  endpoints: [],
});

function follower(): { follower: StoreFollower; batches: StoreChange[][] } {
  const batches: StoreChange[][] = [];
  return { follower: new StoreFollower((_store, changes) => batches.push([...changes])), batches };
}

describe("StoreFollower", () => {
  it("is behind a store until a build synced, and stays in step while batches are delivered", () => {
    const store = new Store();
    store.upsert("Service", service("a"));
    const { follower: f, batches } = follower();
    expect(f.follow(store)).toBe(true);
    expect(f.behind(store)).toBe(true);
    // a batch delivered before the first build does not count as synced
    store.upsert("Service", service("b"));
    expect(batches).toHaveLength(1);
    expect(f.behind(store)).toBe(true);
    f.synced(store);
    expect(f.behind(store)).toBe(false);
    store.upsert("Service", service("c"));
    expect(batches.at(-1)?.map((c) => c.key)).toEqual(["ns/c"]);
    expect(f.behind(store)).toBe(false);
  });

  it("is behind inside store.batch (changes not delivered yet), and in step once it is delivered", () => {
    const store = new Store();
    const { follower: f, batches } = follower();
    f.follow(store);
    f.synced(store);
    store.batch(() => {
      store.upsert("Service", service("a"));
      store.upsert("Service", service("b"));
      expect(f.behind(store)).toBe(true);
      expect(batches).toHaveLength(0);
    });
    expect(batches.map((b) => b.map((c) => c.key))).toEqual([["ns/a", "ns/b"]]);
    expect(f.behind(store)).toBe(false);
  });

  it("follows one store at a time, and close stops following", () => {
    const first = new Store();
    const second = new Store();
    const { follower: f, batches } = follower();
    expect(f.follow(first)).toBe(true);
    expect(f.follow(first)).toBe(false);
    expect(f.follow(second)).toBe(true);
    first.upsert("Service", service("a"));
    expect(batches).toHaveLength(0);
    second.upsert("Service", service("b"));
    expect(batches).toHaveLength(1);
    f.close();
    second.upsert("Service", service("c"));
    expect(batches).toHaveLength(1);
    // following again after close is a fresh start
    expect(f.follow(second)).toBe(true);
    expect(f.behind(second)).toBe(true);
  });
});

describe("addSliceOwners", () => {
  it.each([
    ["a new slice: its Service", [["s-1", "a"]], ["ns/a"]],
    [
      "a relabelled slice: the Service it left and the one it joined",
      [
        ["s-1", "a"],
        ["s-1", "b"],
      ],
      ["ns/a", "ns/b"],
    ],
    [
      "a deleted slice: the Service it belonged to",
      [
        ["s-1", "a"],
        ["s-1", null],
      ],
      ["ns/a"],
    ],
  ] as [string, [string, string | null][], string[]][])("%s", (_name, steps, expected) => {
    const store = new Store();
    let last: readonly StoreChange[] = [];
    store.subscribe((changes) => {
      last = changes;
    });
    for (const [name, owner] of steps) {
      if (owner === null) store.delete("EndpointSlice", `ns/${name}`);
      else store.upsert("EndpointSlice", slice(name, owner));
    }
    const owners = new Set<string>();
    for (const change of last) addSliceOwners(store, change, owners);
    expect([...owners].sort()).toEqual(expected);
  });
});
