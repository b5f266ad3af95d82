// A/B of the full snapshot rebuild inside one process: this tree's Translator and another tree's
// (a `git worktree` of the commit to compare with, `npm ci` done there) alternate fresh builds on one
// store, with a GC before each, so both see the same machine load at the same moments. On a shared
// machine this is steadier than comparing two processes run one after the other.
// usage: node --expose-gc bench/snapshot-ab.ts OTHER_TREE [BUILDS] [SERVICES] [ENDPOINTS_PER_SERVICE]
// Prints, per side: main-thread CPU ms per build (mean), CPU of all threads (GC and compiler helpers
// included: what a process pinned to one core waits for), wall ms (median) and the parts' CPU.
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { Store } from "../src/store/store.ts";
import { Translator, type TranslatorPart } from "../src/translate/index.ts";
import type { TranslateOptions } from "../src/translate/options.ts";
import { median } from "./lib/stats.ts";
import { syntheticCluster } from "./lib/synthetic.ts";

type TranslatorClass = typeof Translator;

const [otherTree, buildsArg = "20", servicesArg = "10000", perServiceArg = "10"] = process.argv.slice(2);
if (!otherTree) {
  process.stderr.write("usage: node --expose-gc bench/snapshot-ab.ts OTHER_TREE [BUILDS] [SERVICES] [ENDPOINTS]\n");
  process.exit(2);
}
const builds = Number(buildsArg);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) {
  process.stderr.write("run with --expose-gc\n");
  process.exit(2);
}

const options: TranslateOptions = {
  nodeName: "node-0",
  localAddresses: ["127.0.0.1"],
  nodePortCIDRs: [],
  clusterDomain: "cluster.local",
  ingressClass: "nodeplane",
  ingressController: "nodeplane.dev/ingress",
  publishAddresses: [],
  dnsPods: "insecure",
};

const otherModule = pathToFileURL(resolve(otherTree, "src/translate/index.ts")).href;
const sides: { name: string; Translator: TranslatorClass }[] = [
  { name: "this tree", Translator },
  { name: otherTree, Translator: ((await import(otherModule)) as { Translator: TranslatorClass }).Translator },
];

// The store of this tree: the Store's interface is what both Translators use.
const cluster = syntheticCluster(Number(servicesArg), Number(perServiceArg));
const store = new Store();
store.batch(() => {
  for (const s of cluster.services) store.upsert("Service", s);
  for (const s of cluster.slices) store.upsert("EndpointSlice", s);
  for (const i of cluster.ingresses) store.upsert("Ingress", i);
});

const threadMs = () => {
  const c = process.threadCpuUsage();
  return (c.user + c.system) / 1000;
};
const processMs = () => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1000;
};

interface Samples {
  cpu: number[];
  all: number[];
  wall: number[];
  parts: Map<TranslatorPart, number>;
}
const samples = sides.map((): Samples => ({ cpu: [], all: [], wall: [], parts: new Map() }));
const warmup = 3;
let kept: unknown;
for (let round = 0; round < warmup + builds; round++) {
  // alternate which side goes first, so neither always follows the other's garbage
  const order = round % 2 === 0 ? [0, 1] : [1, 0];
  for (const i of order) {
    kept = undefined;
    gc();
    const parts = new Map<TranslatorPart, number>();
    let last = threadMs();
    const translator = new sides[i]!.Translator(options, (part) => {
      const now = threadMs();
      parts.set(part, now - last);
      last = now;
    });
    const cpu0 = threadMs();
    const all0 = processMs();
    const wall0 = performance.now();
    last = cpu0;
    kept = translator.build(store);
    const wall = performance.now() - wall0;
    const cpu = threadMs() - cpu0;
    const all = processMs() - all0;
    translator.close();
    if (round < warmup) continue;
    const s = samples[i]!;
    s.cpu.push(cpu);
    s.all.push(all);
    s.wall.push(wall);
    for (const [part, ms] of parts) s.parts.set(part, (s.parts.get(part) ?? 0) + ms / builds);
  }
}
if (kept === null) process.exit(1); // keeps the last snapshot alive until here

const mean = (values: readonly number[]) => values.reduce((a, b) => a + b, 0) / Math.max(values.length, 1);
for (const [i, side] of sides.entries()) {
  const s = samples[i]!;
  const parts = ["services", "ingress", "dns"].map((p) => `${p} ${(s.parts.get(p as TranslatorPart) ?? 0).toFixed(1)}`);
  process.stdout.write(
    `${side.name}: cpu ${mean(s.cpu).toFixed(1)} ms, all threads ${mean(s.all).toFixed(1)} ms, ` +
      `wall median ${(median(s.wall) ?? Number.NaN).toFixed(1)} ms; ${parts.join(", ")}\n`,
  );
}
