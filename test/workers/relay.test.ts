import { describe, expect, it } from "vitest";
import type { LoadBalancerIngress } from "../../src/model/k8s.ts";
import { MemoryStatusWriter } from "../../src/status/writer.ts";
import { IpcStatusWriter, StatusRelay, type StatusRequest } from "../../src/workers/status-relay.ts";

class CountingWriter extends MemoryStatusWriter {
  writes: string[] = [];
  fail = false;
  override async setIngressStatus(namespace: string, name: string, ingress: readonly LoadBalancerIngress[]) {
    this.writes.push(`ingress ${namespace}/${name} ${JSON.stringify(ingress)}`);
    if (this.fail) throw new Error("not the leader");
    await super.setIngressStatus(namespace, name, ingress);
  }
  override async setServiceStatus(namespace: string, name: string, ingress: readonly LoadBalancerIngress[]) {
    this.writes.push(`service ${namespace}/${name} ${JSON.stringify(ingress)}`);
    await super.setServiceStatus(namespace, name, ingress);
  }
}

const A = [{ ip: "10.0.0.1" }];
const B = [{ ip: "10.0.0.2" }];

describe("StatusRelay", () => {
  it("the same write from every worker for one generation reaches the writer once", async () => {
    const writer = new CountingWriter();
    const relay = new StatusRelay(writer);
    await Promise.all([1, 2, 3].map(() => relay.write(5, "ingress", "default", "web", A)));
    expect(writer.writes).toEqual([`ingress default/web ${JSON.stringify(A)}`]);
    expect(writer.ingressStatus("default", "web")).toEqual(A);
  });

  it.each([
    ["another generation", 6, "ingress", "web", A],
    ["other content", 5, "ingress", "web", B],
    ["another object", 5, "ingress", "api", A],
    ["another kind", 5, "service", "web", A],
  ] as const)("%s is written again", async (_case, generation, kind, name, ingress) => {
    const writer = new CountingWriter();
    const relay = new StatusRelay(writer);
    await relay.write(5, "ingress", "default", "web", A);
    await relay.write(generation, kind, "default", name, ingress);
    expect(writer.writes).toHaveLength(2);
  });

  it("a refused write is refused to every worker that shared it, and tried again next generation", async () => {
    const writer = new CountingWriter();
    writer.fail = true;
    const relay = new StatusRelay(writer);
    const results = await Promise.allSettled([1, 2].map(() => relay.write(1, "ingress", "default", "web", A)));
    expect(results.map((r) => r.status)).toEqual(["rejected", "rejected"]);
    writer.fail = false;
    await relay.write(2, "ingress", "default", "web", A);
    expect(writer.writes).toHaveLength(2);
  });

  it("prune forgets older generations", async () => {
    const relay = new StatusRelay(new CountingWriter());
    await relay.write(1, "ingress", "default", "a", A);
    await relay.write(2, "ingress", "default", "b", A);
    relay.prune(2);
    expect(relay.size).toBe(1);
  });
});

describe("IpcStatusWriter", () => {
  it("sends each write with the generation being applied", async () => {
    const sent: StatusRequest[] = [];
    const writer = new IpcStatusWriter(async (r) => {
      sent.push(r);
    });
    writer.generation = 7;
    await writer.setIngressStatus("ns", "i", A);
    await writer.setServiceStatus("ns", "s", B);
    expect(sent).toEqual([
      { generation: 7, kind: "ingress", namespace: "ns", name: "i", ingress: A },
      { generation: 7, kind: "service", namespace: "ns", name: "s", ingress: B },
    ]);
  });
});
