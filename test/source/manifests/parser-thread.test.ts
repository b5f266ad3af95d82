import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ParserThread } from "../../../src/source/manifests/parser-thread.ts";

const service = (name: string) =>
  `apiVersion: v1\nkind: Service\nmetadata: {name: ${name}}\nspec: {ports: [{port: 80}]}\n`;
/**
 * 6,000 documents of 80 keys each (~6 MB): under every limit (so only the heap can stop it), and hundreds of
 * thousands of parsed nodes, far more than 16 MB of heap holds
 */
const heavy = () => {
  const keys = Array.from({ length: 80 }, (_, k) => `  k${k}: v${k}`).join("\n");
  return Array.from({ length: 6_000 }, (_, i) => `${service(`s${i}`)}data:\n${keys}\n`).join("---\n");
};

describe("ParserThread", () => {
  let dir: string;
  const threads: ParserThread[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "nodeplane-parser-"));
  });

  afterEach(async () => {
    for (const thread of threads.splice(0)) await thread.close();
    await rm(dir, { recursive: true, force: true });
  });

  const newThread = (options: ConstructorParameters<typeof ParserThread>[0] = {}) => {
    const thread = new ParserThread(options);
    threads.push(thread);
    return thread;
  };

  it("reads and parses on the thread; the same content is not parsed again", async () => {
    const path = join(dir, "a.yaml");
    await writeFile(path, service("a"));
    const thread = newThread();
    const first = await thread.load({ path });
    expect(first).toMatchObject({ kind: "parsed", parsed: { documents: [{ origin: `${path}#1` }], problems: [] } });
    const hash = (first as { hash: string }).hash;
    expect(await thread.load({ path, knownHash: hash })).toEqual({ kind: "same", hash });
    expect(await thread.load({ path: join(dir, "gone.yaml") })).toEqual({ kind: "gone" });
  });

  it("a file that exhausts the thread's heap is skipped; the next file gets a fresh thread", {
    timeout: 60_000,
  }, async () => {
    await writeFile(join(dir, "big.yaml"), heavy());
    await writeFile(join(dir, "small.yaml"), service("small"));
    const thread = newThread({ maxHeapMb: 16 });
    const result = await thread.load({ path: join(dir, "big.yaml") });
    expect(result).toEqual({
      kind: "failed",
      problem: {
        kind: "File",
        origin: join(dir, "big.yaml"),
        message: expect.stringMatching(/^parsing it stopped the parser thread \(.*\); file skipped$/),
      },
    });
    expect(await thread.load({ path: join(dir, "small.yaml") })).toMatchObject({ kind: "parsed" });
  });

  it("a file still parsing after the timeout is skipped; the next file gets a fresh thread", {
    timeout: 60_000,
  }, async () => {
    // the stuck entry never finishes stuck.yaml, so the timeout decides, not the machine's speed
    await writeFile(join(dir, "stuck.yaml"), service("stuck"));
    await writeFile(join(dir, "small.yaml"), service("small"));
    const thread = newThread({ timeoutMs: 1500, entry: new URL("./fixtures/stuck-parse-worker.ts", import.meta.url) });
    expect(await thread.load({ path: join(dir, "stuck.yaml") })).toEqual({
      kind: "failed",
      problem: {
        kind: "File",
        origin: join(dir, "stuck.yaml"),
        message: "took longer than 1500 ms to parse; file skipped",
      },
    });
    expect(await thread.load({ path: join(dir, "small.yaml") })).toMatchObject({ kind: "parsed" });
  });

  it("without a thread (its entry cannot load) files are parsed here, and that is said once", async () => {
    const path = join(dir, "a.yaml");
    await writeFile(path, service("a"));
    const reasons: string[] = [];
    const thread = newThread({
      entry: new URL("file:///nonexistent/parse-worker.ts"),
      onUnavailable: (r) => reasons.push(r),
    });
    expect(await thread.load({ path })).toMatchObject({ kind: "parsed" });
    expect(await thread.load({ path })).toMatchObject({ kind: "parsed" });
    expect(reasons).toHaveLength(1);
  });
});
