#!/usr/bin/env node
// Runs the TypeScript sources directly (Node 24 strips types) in a checkout, the compiled dist/ otherwise.
import { existsSync } from "node:fs";

const major = Number(process.versions.node.split(".")[0]);
if (major < 24) {
  process.stderr.write(
    `nodeplane: needs Node 24 or newer, this is Node ${process.versions.node}. ` +
      "In a checkout, run it through npm so the pinned Node 24 is used: `npx nodeplane …` or `npm start`.\n",
  );
  process.exit(1);
}
const source = new URL("../src/cli/entry.ts", import.meta.url);
const compiled = new URL("../dist/cli/entry.js", import.meta.url);
await import(existsSync(source) ? source.href : compiled.href);
