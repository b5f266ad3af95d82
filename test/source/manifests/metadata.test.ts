import { describe, expect, it } from "vitest";
import type { Service } from "../../../src/model/k8s.ts";
import { MetadataTracker, uidFor } from "../../../src/source/manifests/metadata.ts";

const svc = (name: string, port: number): { kind: string; obj: Service } => ({
  kind: "Service",
  obj: { apiVersion: "v1", kind: "Service", metadata: { name, namespace: "default" }, spec: { ports: [{ port }] } },
});

describe("MetadataTracker", () => {
  it("bumps resourceVersion on change only and keeps creationTimestamp while the object exists", () => {
    let now = new Date("2025-01-01T00:00:00.123Z");
    const tracker = new MetadataTracker(() => now);
    const [a1] = tracker.stampAll([svc("a", 80)]);
    expect(a1!.obj.metadata).toMatchObject({ resourceVersion: "1", creationTimestamp: "2025-01-01T00:00:00Z" });
    now = new Date("2025-01-01T00:01:00Z");
    const [a2, b2] = tracker.stampAll([svc("a", 80), svc("b", 80)]);
    expect(a2!.obj.metadata).toMatchObject({ resourceVersion: "1", creationTimestamp: "2025-01-01T00:00:00Z" });
    expect(b2!.obj.metadata).toMatchObject({ resourceVersion: "2", creationTimestamp: "2025-01-01T00:01:00Z" });
    const [a3] = tracker.stampAll([svc("a", 81)]);
    expect(a3!.obj.metadata).toMatchObject({ resourceVersion: "3", creationTimestamp: "2025-01-01T00:00:00Z" });
    // b left and comes back: a new object to the API server, so a new creationTimestamp.
    now = new Date("2025-01-01T00:02:00Z");
    const [, b4] = tracker.stampAll([svc("a", 81), svc("b", 80)]);
    expect(b4!.obj.metadata?.creationTimestamp).toBe("2025-01-01T00:02:00Z");
  });

  it("keeps a uid or creationTimestamp written in the manifest", () => {
    const entry = svc("a", 80);
    entry.obj.metadata = { ...entry.obj.metadata, uid: "given", creationTimestamp: "2020-05-05T00:00:00Z" };
    const [out] = new MetadataTracker().stampAll([entry]);
    expect(out!.obj.metadata).toMatchObject({ uid: "given", creationTimestamp: "2020-05-05T00:00:00Z" });
  });

  it("derives stable, distinct UUID-shaped uids", () => {
    expect(uidFor("Service", "default", "a")).toBe(uidFor("Service", "default", "a"));
    expect(uidFor("Service", "default", "a")).not.toBe(uidFor("Pod", "default", "a"));
    expect(uidFor("Service", "default", "a")).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
  });
});
