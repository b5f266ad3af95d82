import { describe, expect, it } from "vitest";
import { silentLogger } from "../../../src/log.ts";
import type { LoadBalancerIngress } from "../../../src/model/k8s.ts";
import { IngressStatusReconciler } from "../../../src/planes/ingress/status.ts";
import type { IngressSnapshot } from "../../../src/snapshot/ingress.ts";
import type { StatusWriter } from "../../../src/status/writer.ts";

function writer(failures: number) {
  const calls: string[] = [];
  let left = failures;
  const w: StatusWriter = {
    async setIngressStatus(namespace: string, name: string, ingress: readonly LoadBalancerIngress[]) {
      calls.push(`${namespace}/${name}=${ingress.map((i) => i.ip).join(",")}`);
      if (left-- > 0) throw new Error("not the leader");
    },
    async setServiceStatus() {},
    ingressStatus: () => undefined,
    serviceStatus: () => undefined,
  };
  return { w, calls };
}

const table = (ingresses: IngressSnapshot["ingresses"], ip = "192.0.2.1"): IngressSnapshot => ({
  hosts: [],
  certificates: [],
  ingresses,
  statusAddresses: [{ ip }],
});

describe("IngressStatusReconciler", () => {
  it("does nothing for the same entries and addresses, but retries a failed write even then", async () => {
    const { w, calls } = writer(1);
    const reconciler = new IngressStatusReconciler(w, silentLogger);
    const entries = [{ namespace: "default", name: "web", ours: true, current: [] }];
    const snapshot = table(entries);
    await reconciler.apply(snapshot);
    expect(calls).toEqual(["default/web=192.0.2.1"]);
    await reconciler.apply(snapshot); // the failed write again
    expect(calls).toHaveLength(2);
    await reconciler.apply(snapshot); // written: nothing left to do
    await reconciler.apply({ ...snapshot });
    expect(calls).toHaveLength(2);
    await reconciler.apply(table(entries, "192.0.2.2"));
    expect(calls.at(-1)).toBe("default/web=192.0.2.2");
  });
});
