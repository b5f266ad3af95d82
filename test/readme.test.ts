import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { FLAGS } from "../src/cli/flags.ts";

const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");

describe("README", () => {
  it.each(FLAGS.map((f) => [f.name]))("documents --%s", (name) => {
    expect(readme).toContain(`\`--${name}`);
  });

  it("shows the two commands", () => {
    expect(readme).toContain("npm start");
    expect(readme).toContain("npm test");
  });
});
