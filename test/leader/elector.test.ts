import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { KubeClient } from "../../src/kube/client.ts";
import { LeaderElector, microTime } from "../../src/leader/elector.ts";
import { silentLogger } from "../../src/log.ts";
import type { Lease } from "../../src/model/k8s.ts";
import { TestApiServer } from "../fixtures/apiserver.ts";
import { waitFor } from "../fixtures/cluster.ts";

/** Short timings with the standard proportions (15 s / 10 s / 2 s). */
const TIMING = { leaseDurationMs: 1000, renewDeadlineMs: 600, retryPeriodMs: 100 };

describe("leader election on a Lease", () => {
  let api: TestApiServer;
  const cleanups: (() => Promise<void>)[] = [];

  beforeEach(async () => {
    api = new TestApiServer();
    await api.start();
  });

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    await api.stop();
  });

  function candidate(identity: string) {
    const client = new KubeClient(api.kubeConfig(api.addUser(identity)));
    const elector = new LeaderElector({
      client,
      namespace: "nodeplane-system",
      name: "nodeplane",
      identity,
      logger: silentLogger,
      ...TIMING,
    });
    const changes: { leader: boolean; at: number }[] = [];
    elector.onChange((leader) => changes.push({ leader, at: Date.now() }));
    cleanups.push(async () => {
      await elector.stop();
      await client.close();
    });
    return { elector, changes };
  }

  const lease = () => api.get("leases", "nodeplane-system", "nodeplane") as Lease | undefined;

  it("creates the Lease and renews it", async () => {
    const { elector } = candidate("pod-a");
    elector.start();
    await waitFor("leader", () => elector.isLeader());
    const first = lease()!;
    expect(first.spec).toMatchObject({ holderIdentity: "pod-a", leaseDurationSeconds: 1, leaseTransitions: 0 });
    expect(first.spec?.renewTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    await waitFor("renewal", () => lease()!.spec?.renewTime !== first.spec?.renewTime);
    expect(lease()!.spec?.acquireTime).toBe(first.spec?.acquireTime);
    const verbs = new Set(api.requests.filter((r) => r.resource === "leases").map((r) => r.verb));
    expect([...verbs].sort()).toEqual(["create", "get", "update"]);
  });

  it("elects exactly one of two, and the other takes over once the lease runs out after a crash", async () => {
    const a = candidate("pod-a");
    const b = candidate("pod-b");
    let both = false;
    const sampler = setInterval(() => {
      both ||= a.elector.isLeader() && b.elector.isLeader();
    }, 5);
    try {
      a.elector.start();
      await waitFor("pod-a leads", () => a.elector.isLeader());
      b.elector.start();
      // pod-b keeps trying for several lease periods and must not win while pod-a renews
      await waitFor("pod-b tried a few times", () => api.requests.filter((r) => r.user === "pod-b").length >= 15);
      expect(b.elector.isLeader()).toBe(false);

      await a.elector.stop({ release: false }); // a crash: the lease is not handed back
      const lastRenewal = Date.parse(lease()!.spec!.renewTime!);
      await waitFor("pod-b takes over", () => b.elector.isLeader(), 10 * TIMING.leaseDurationMs);
      // not before the lease ran out: a whole lease duration after pod-a's last renewal
      expect(b.changes[0]!.at - lastRenewal).toBeGreaterThanOrEqual(TIMING.leaseDurationMs);
      expect(lease()!.spec).toMatchObject({ holderIdentity: "pod-b", leaseTransitions: 1 });
    } finally {
      clearInterval(sampler);
    }
    expect(both).toBe(false);
  });

  it("hands the lease over at once on a clean stop", async () => {
    const a = candidate("pod-a");
    const b = candidate("pod-b");
    a.elector.start();
    await waitFor("pod-a leads", () => a.elector.isLeader());
    b.elector.start();
    await waitFor("pod-b observed the lease", () => api.requests.some((r) => r.user === "pod-b" && r.verb === "get"));
    await a.elector.stop();
    expect(a.changes.map((c) => c.leader)).toEqual([true, false]);
    expect(lease()!.spec?.holderIdentity).toBe("");
    await waitFor("pod-b takes over", () => b.elector.isLeader());
  });

  it("steps down when it cannot renew within the renew deadline, and comes back", async () => {
    const a = candidate("pod-a");
    a.elector.start();
    await waitFor("leader", () => a.elector.isLeader());
    await api.stop();
    await waitFor("stepped down", () => !a.elector.isLeader());
    await api.start();
    await waitFor("leader again", () => a.elector.isLeader());
    expect(a.changes.map((c) => c.leader)).toEqual([true, false, true]);
  });

  it("steps down within the renew deadline even when its requests hang", async () => {
    const a = candidate("pod-a");
    a.elector.start();
    await waitFor("leader", () => a.elector.isLeader());
    api.stall = (request) => request.resource === "leases";
    // a hung request would otherwise keep it leader for the client's 30 s header timeout
    await waitFor("stepped down", () => !a.elector.isLeader(), 5 * TIMING.renewDeadlineMs);
    api.stall = undefined;
    await waitFor("leader again", () => a.elector.isLeader());
  });

  it("takes a lease whose holder went quiet, bumping leaseTransitions", async () => {
    api.apply("leases", {
      metadata: { name: "nodeplane", namespace: "nodeplane-system" },
      spec: {
        holderIdentity: "gone-pod",
        leaseDurationSeconds: 1,
        renewTime: microTime(Date.now()),
        leaseTransitions: 4,
      },
    });
    const a = candidate("pod-a");
    a.elector.start();
    await waitFor("leader", () => a.elector.isLeader());
    expect(lease()!.spec).toMatchObject({ holderIdentity: "pod-a", leaseTransitions: 5 });
  });
});
