#!/usr/bin/env node
// Runs the TypeScript sources directly (Node 24 strips types) in a checkout, the compiled dist/ otherwise.
import { existsSync } from "node:fs";

const source = new URL("../src/cli/entry.ts", import.meta.url);
const compiled = new URL("../dist/cli/entry.js", import.meta.url);
await import(existsSync(source) ? source.href : compiled.href);
