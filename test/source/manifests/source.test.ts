import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { parseFlags } from "../../../src/cli/flags.ts";
import { ManifestsSource } from "../../../src/source/manifests/source.ts";
import { Store } from "../../../src/store/store.ts";
import { cidrContains, parseCIDR } from "../../../src/util/cidr.ts";

const GOOD = `apiVersion: v1
kind: Service
metadata:
  name: good
spec:
  selector:
    app: good
  ports:
  - port: 80
    targetPort: 8080
`;

const BROKEN = `apiVersion: v1
kind: Service
metadata:
  name: broken
spec:
  ports:
  - port: 99999
`;

/** A pino logger whose lines the test can read. */
function capturingLogger() {
  const lines: { level: number; msg: string }[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split("\n").filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: pino({ level: "debug" }, stream), lines };
}

describe("ManifestsSource", () => {
  let dir: string;
  const sources: ManifestsSource[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "nodeplane-manifests-"));
  });

  afterEach(async () => {
    for (const source of sources.splice(0)) await source.stop();
    await rm(dir, { recursive: true, force: true });
  });

  function newSource(logger = pino({ level: "silent" })) {
    const source = new ManifestsSource(parseFlags(["--manifests", dir], {}), logger, { debounceMs: 50 });
    sources.push(source);
    return source;
  }

  it("loads the good Service with an allocated clusterIP and reports the broken one", async () => {
    await writeFile(join(dir, "good.yaml"), GOOD);
    await writeFile(join(dir, "broken.yaml"), BROKEN);
    const { logger, lines } = capturingLogger();
    const source = newSource(logger);
    const store = new Store();
    expect(source.healthy()).toBe(false);
    await source.start(store);
    expect(source.healthy()).toBe(true);

    const good = store.get("Service", "default/good");
    expect(good?.spec?.clusterIP).toBeDefined();
    expect(cidrContains(parseCIDR("127.96.0.0/16"), good!.spec!.clusterIP!)).toBe(true);
    expect(good?.metadata?.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(good?.metadata?.creationTimestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(store.get("Service", "default/broken")).toBeUndefined();

    const problems = source.problems();
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({
      kind: "Service",
      name: "broken",
      field: "spec.ports[0].port",
      origin: `${join(dir, "broken.yaml")}#1`,
    });
    const warnings = () => lines.filter((l) => l.level === 40 && l.msg.includes("broken.yaml"));
    expect(warnings()).toHaveLength(1);
    expect(warnings()[0]!.msg).toContain("spec.ports[0].port");

    // Re-reading an unchanged folder does not log it again; changing the broken file does.
    await source.refresh();
    expect(warnings()).toHaveLength(1);
    await writeFile(join(dir, "broken.yaml"), `${BROKEN}# still broken\n`);
    await source.refresh();
    expect(warnings()).toHaveLength(2);
  });

  it("sees an edited file within 2 s and keeps the clusterIP", async () => {
    await writeFile(join(dir, "good.yaml"), GOOD);
    const source = newSource();
    const store = new Store();
    await source.start(store);
    const before = store.get("Service", "default/good")!;
    await writeFile(join(dir, "good.yaml"), GOOD.replace("port: 80", "port: 81"));
    await vi.waitFor(() => expect(store.get("Service", "default/good")?.spec?.ports?.[0]?.port).toBe(81), {
      timeout: 2000,
      interval: 25,
    });
    const after = store.get("Service", "default/good")!;
    expect(after.spec?.clusterIP).toBe(before.spec?.clusterIP);
    expect(Number(after.metadata?.resourceVersion)).toBeGreaterThan(Number(before.metadata?.resourceVersion));
    expect(after.metadata?.creationTimestamp).toBe(before.metadata?.creationTimestamp);
  });

  it("sees a deleted file and a new nested file", async () => {
    await writeFile(join(dir, "good.yaml"), GOOD);
    const source = newSource();
    const store = new Store();
    await source.start(store);
    await mkdir(join(dir, "nested", "deeper"), { recursive: true });
    await writeFile(join(dir, "nested", "deeper", "other.yml"), GOOD.replace("name: good", "name: other"));
    await rm(join(dir, "good.yaml"));
    await vi.waitFor(() => expect([...store.list("Service")].map((s) => s.metadata?.name)).toEqual(["other"]), {
      timeout: 2000,
      interval: 25,
    });
  });

  it("falls back to periodic re-scans, and survives the folder going away", async () => {
    await writeFile(join(dir, "good.yaml"), GOOD);
    const source = new ManifestsSource(parseFlags(["--manifests", dir], {}), pino({ level: "silent" }), {
      watch: false,
      rescanMs: 50,
    });
    sources.push(source);
    const store = new Store();
    await source.start(store);
    await writeFile(join(dir, "good.yaml"), GOOD.replace("port: 80", "port: 8181"));
    await vi.waitFor(() => expect(store.get("Service", "default/good")?.spec?.ports?.[0]?.port).toBe(8181), {
      timeout: 2000,
      interval: 25,
    });
    await rm(dir, { recursive: true });
    await vi.waitFor(() => expect(source.healthy()).toBe(false), { timeout: 2000, interval: 25 });
    expect(source.unhealthyReason()).toMatch(/^the last pass failed, serving the objects read before: .*ENOENT/);
    expect(store.get("Service", "default/good")).toBeDefined(); // the last good objects stay
    await mkdir(dir);
    await writeFile(join(dir, "other.yaml"), GOOD.replace("name: good", "name: other"));
    await vi.waitFor(() => expect(source.healthy()).toBe(true), { timeout: 2000, interval: 25 });
    expect(source.unhealthyReason()).toBeUndefined();
    await vi.waitFor(() => expect([...store.list("Service")].map((s) => s.metadata?.name)).toEqual(["other"]), {
      timeout: 2000,
      interval: 25,
    });
  });

  it("gives the same clusterIP after a restart", async () => {
    await writeFile(join(dir, "good.yaml"), GOOD);
    const first = new Store();
    const a = newSource();
    await a.start(first);
    await a.stop();
    const second = new Store();
    await newSource().start(second);
    expect(second.get("Service", "default/good")?.spec?.clusterIP).toBe(
      first.get("Service", "default/good")?.spec?.clusterIP,
    );
    expect(second.get("Service", "default/good")?.metadata?.uid).toBe(
      first.get("Service", "default/good")?.metadata?.uid,
    );
  });

  it("skips hidden files and folders and other extensions", async () => {
    await writeFile(join(dir, "good.yaml"), GOOD);
    await writeFile(join(dir, ".hidden.yaml"), GOOD.replace("name: good", "name: hidden"));
    await mkdir(join(dir, ".git"));
    await writeFile(join(dir, ".git", "x.yaml"), GOOD.replace("name: good", "name: in-git"));
    await writeFile(join(dir, "notes.txt"), GOOD.replace("name: good", "name: text"));
    await writeFile(
      join(dir, "j.json"),
      JSON.stringify({ apiVersion: "v1", kind: "Service", metadata: { name: "json" }, spec: { ports: [{ port: 1 }] } }),
    );
    const store = new Store();
    await newSource().start(store);
    expect([...store.list("Service")].map((s) => s.metadata?.name).sort()).toEqual(["good", "json"]);
  });

  it("refuses a missing folder with a clear error", async () => {
    const missing = join(dir, "nope");
    const source = new ManifestsSource(parseFlags(["--manifests", missing], {}), pino({ level: "silent" }));
    await expect(source.start(new Store())).rejects.toThrow(`--manifests ${missing}: no such folder`);
    await writeFile(join(dir, "file.yaml"), GOOD);
    const notDir = new ManifestsSource(
      parseFlags(["--manifests", join(dir, "file.yaml")], {}),
      pino({ level: "silent" }),
    );
    await expect(notDir.start(new Store())).rejects.toThrow("not a folder");
  });
});
