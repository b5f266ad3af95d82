import { describe, expect, it } from "vitest";
import type { Node } from "../../src/model/k8s.ts";
import { Store } from "../../src/store/store.ts";
import { translateNode } from "../../src/translate/node.ts";
import { options } from "./dns/fixtures.ts";

const node = (spec: Node["spec"]): Node => ({
  apiVersion: "v1",
  kind: "Node",
  metadata: { name: "node-a" },
  spec,
  status: { addresses: [{ type: "InternalIP", address: "192.0.2.4" }] },
});

describe("translateNode podCIDRs (the DNS plane lets this node's pods recurse)", () => {
  it.each<[spec: Node["spec"] | undefined, podCIDRs: string[] | undefined]>([
    [{ podCIDRs: ["10.244.3.0/24", "fd00:244:3::/64"] }, ["10.244.3.0/24", "fd00:244:3::/64"]],
    [{ podCIDR: "10.244.4.0/24" }, ["10.244.4.0/24"]],
    [{}, undefined],
    [undefined, undefined],
  ])("%j → %j", (spec, podCIDRs) => {
    const store = new Store();
    if (spec) store.upsert("Node", node(spec));
    expect(translateNode(store, options()).podCIDRs).toEqual(podCIDRs);
  });
});
