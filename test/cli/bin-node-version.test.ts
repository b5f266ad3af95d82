import { execFileSync, spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";

// The machine's own Node is older than the pinned one; running the bin with it used to die with
// ERR_UNKNOWN_FILE_EXTENSION on the .ts entry. It must say what to do instead.
function olderNode(): string | undefined {
  const candidates = spawnSync("which", ["-a", "node"], { encoding: "utf8" }).stdout.split("\n").filter(Boolean);
  return candidates.find((bin) => {
    const version = execFileSync(bin, ["--version"], { encoding: "utf8" }).trim();
    return Number(version.replace(/^v/, "").split(".")[0]) < 24;
  });
}

const node = olderNode();

describe.runIf(node)("bin/nodeplane.js on an older Node", () => {
  it("exits 1 with one line naming the Node it needs", () => {
    const result = spawnSync(node!, ["bin/nodeplane.js", "--help"], { encoding: "utf8" });
    expect(result.status).toBe(1);
    expect(result.stderr.trim().split("\n")).toHaveLength(1);
    expect(result.stderr).toMatch(/needs Node 24 or newer.*npx nodeplane/);
  });
});
