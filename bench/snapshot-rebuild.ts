// snapshot-rebuild scenario, run in its own process (pinned, with --expose-gc so heap figures are
// after a collection): a Store of N Services with M endpoints each (and one Ingress per 10 Services)
// through the whole Translator, then end to end through the pipeline into the service, ingress and DNS planes.
// Prints one SNAPSHOT_JSON line; every figure is a number (ms, or MiB for heap).
// usage: node --expose-gc bench/snapshot-rebuild.ts [SERVICES] [ENDPOINTS_PER_SERVICE] [FULL_BUILDS] [CHANGES] [E2E_CHANGES]
//   E2E_CHANGES = 0 skips the end-to-end part (it binds one TCP listener per Service on 127.98.x.x).
import { readFileSync } from "node:fs";
import { Writable } from "node:stream";
import { pino } from "pino";
import { Registry } from "prom-client";
import { defaultConfig } from "../src/cli/flags.ts";
import { SnapshotPipeline } from "../src/pipeline.ts";
import { createDnsPlane } from "../src/planes/dns/plane.ts";
import { createIngressPlane } from "../src/planes/ingress/index.ts";
import { ServicePlane } from "../src/planes/service/plane.ts";
import type { Snapshot } from "../src/snapshot/snapshot.ts";
import { MemoryStatusWriter } from "../src/status/writer.ts";
import { Store } from "../src/store/store.ts";
import { Translator, type TranslatorPart } from "../src/translate/index.ts";
import type { TranslateOptions } from "../src/translate/options.ts";
import { median, percentile } from "./lib/stats.ts";
import {
  LOOPBACK_SERVICE_BASE,
  SYNTHETIC_TRANSLATE_OPTIONS,
  syntheticCluster,
  syntheticSlice,
} from "./lib/synthetic.ts";

const [services = 10_000, perService = 10, fullBuilds = 3, changes = 50, e2eChanges = 30] = process.argv
  .slice(2)
  .map(Number);
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});

const options: TranslateOptions = SYNTHETIC_TRANSLATE_OPTIONS;

/** Wall and main-thread CPU time, in ms. */
interface Clock {
  wall: number;
  cpu: number;
}
const clock = (): Clock => {
  const cpu = process.threadCpuUsage();
  return { wall: performance.now(), cpu: (cpu.user + cpu.system) / 1000 };
};
const since = (start: Clock): Clock => {
  const now = clock();
  return { wall: now.wall - start.wall, cpu: now.cpu - start.cpu };
};

/** A Translator whose probe records the CPU time of each part of the last build. */
function probedTranslator(): { translator: Translator; parts: Map<TranslatorPart, number>; start(): void } {
  const parts = new Map<TranslatorPart, number>();
  let last = 0;
  const cpuNow = () => {
    const cpu = process.threadCpuUsage();
    return (cpu.user + cpu.system) / 1000;
  };
  const translator = new Translator(options, (part) => {
    const now = cpuNow();
    parts.set(part, now - last);
    last = now;
  });
  return {
    translator,
    parts,
    start: () => {
      last = cpuNow();
    },
  };
}

// Wall times are per sample (median, p99). The CPU clock here advances in scheduler ticks (several ms),
// so CPU figures are means over all samples (total CPU ÷ samples), which averages the ticks out.
const result: Record<string, number> = {};
const record = (name: string, values: readonly number[], p99 = false) => {
  result[name] = median(values) ?? Number.NaN;
  if (p99) result[`${name.replace(/_ms$/, "")}_p99_ms`] = percentile(values, 99) ?? Number.NaN;
};
const mean = (values: readonly number[]) => values.reduce((a, b) => a + b, 0) / Math.max(values.length, 1);
const partsOf = (samples: readonly Map<TranslatorPart, number>[], prefix: string) => {
  for (const part of ["services", "ingress", "dns"] as const)
    result[`${prefix}_${part}_cpu_ms`] = mean(samples.map((s) => s.get(part) ?? 0));
};

gc();
const heapBefore = process.memoryUsage().heapUsed;
const cluster = syntheticCluster(services, perService);
const store = new Store();
store.batch(() => {
  for (const s of cluster.services) store.upsert("Service", s);
  for (const s of cluster.slices) store.upsert("EndpointSlice", s);
  for (const i of cluster.ingresses) store.upsert("Ingress", i);
});

// The first build in the process: mostly JIT compilation and the first allocation of everything.
let probed = probedTranslator();
let t = clock();
probed.start();
let snapshot = probed.translator.build(store);
const cold = since(t);
result.cold_build_ms = cold.wall;
result.cold_build_cpu_ms = cold.cpu;
partsOf([new Map(probed.parts)], "cold");

// Full rebuilds: a fresh Translator each time, so nothing is reused from a memo.
const full: Clock[] = [];
const fullParts: Map<TranslatorPart, number>[] = [];
for (let i = 0; i < fullBuilds; i++) {
  probed.translator.close();
  probed = probedTranslator();
  gc();
  t = clock();
  probed.start();
  snapshot = probed.translator.build(store);
  full.push(since(t));
  fullParts.push(new Map(probed.parts));
}
record(
  "full_rebuild_ms",
  full.map((c) => c.wall),
);
result.full_rebuild_cpu_ms = mean(full.map((c) => c.cpu));
partsOf(fullParts, "full");

gc();
const heapUsed = process.memoryUsage().heapUsed;

// Single-endpoint changes: one slice replaced (one endpoint flips readiness), then a rebuild.
const change: Clock[] = [];
const changeParts: Map<TranslatorPart, number>[] = [];
for (let i = 1; i <= changes; i++) {
  const index = (i * 7919) % services;
  const slice = syntheticSlice(index, `ns-${index % 100}`, `svc-${index}`, perService, i);
  t = clock();
  store.upsert("EndpointSlice", slice);
  probed.start();
  snapshot = probed.translator.build(store);
  change.push(since(t));
  changeParts.push(new Map(probed.parts));
}
record(
  "endpoint_change_ms",
  change.map((c) => c.wall),
  true,
);
result.endpoint_change_cpu_ms = mean(change.map((c) => c.cpu));
partsOf(changeParts, "change");

Object.assign(result, {
  services,
  endpoints: services * perService,
  service_ports: snapshot.servicePorts.length,
  ingress_hosts: snapshot.ingress.hosts.length,
  dns_names: snapshot.dns.records.size,
  heap_mib: heapUsed / 1048576,
  heap_cluster_mib: (heapUsed - heapBefore) / 1048576,
});

if (e2eChanges > 0) {
  const limit = openFileLimit();
  // one socket per Service, plus room for the rest: with fewer, binds would fail and every apply retry them
  if (limit !== undefined && limit < services + 1024)
    process.stderr.write(`end to end skipped: open file limit ${limit} < ${services + 1024} (ulimit -n)\n`);
  else await endToEnd();
}

process.stdout.write(`SNAPSHOT_JSON ${JSON.stringify(result)}\n`);

/** The soft limit on open files (`Max open files` in /proc/self/limits), when it can be read. */
function openFileLimit(): number | undefined {
  try {
    const line = readFileSync("/proc/self/limits", "utf8")
      .split("\n")
      .find((l) => l.startsWith("Max open files"));
    const soft = line?.split(/\s{2,}/)[1];
    return soft === undefined || soft === "unlimited" ? undefined : Number(soft);
  } catch {
    return undefined;
  }
}

/**
 * Store change → pipeline → service plane (one real TCP listener per Service on 127.98.x.x, no VIP
 * link), ingress plane (HTTP on a free loopback port) and DNS plane applied, timed from the store upsert to the pipeline's "applied" callback. The
 * pipeline's coalescing delay is 0 here (a 0 ms timer still waits for the next turn of the event loop).
 */
async function endToEnd(): Promise<void> {
  const e2e = syntheticCluster(services, perService, { serviceBase: LOOPBACK_SERVICE_BASE, servicePort: 28080 });
  const e2eStore = new Store();
  e2eStore.batch(() => {
    for (const s of e2e.services) e2eStore.upsert("Service", s);
    for (const s of e2e.slices) e2eStore.upsert("EndpointSlice", s);
    for (const i of e2e.ingresses) e2eStore.upsert("Ingress", i);
  });
  const logger = pino({ level: "warn" }, new Writable({ write: (_c, _e, cb) => cb() }));
  const registry = new Registry();
  const config = {
    ...defaultConfig("manifests"),
    vipInterface: "none",
    healthzAddress: undefined,
    dnsAddress: { host: "127.0.0.1", port: 0 },
    httpAddress: { host: "127.0.0.1", port: 0 },
    httpsAddress: undefined,
    dnsUpstream: [{ host: "127.0.0.1", port: 9 }],
  };
  const servicePlane = new ServicePlane({ config, logger, registry });
  await servicePlane.start();
  const context = { config, logger, registry, store: e2eStore, status: new MemoryStatusWriter() };
  const ingressPlane = await createIngressPlane(context);
  const dnsPlane = await createDnsPlane(context);
  const pipeline = new SnapshotPipeline(e2eStore, new Translator(options), { maxDelayMs: 0, logger });
  pipeline.register(servicePlane);
  if (ingressPlane) pipeline.register(ingressPlane);
  if (dnsPlane) pipeline.register(dnsPlane);
  try {
    t = clock();
    await pipeline.start();
    const first = since(t);
    result.e2e_first_apply_ms = first.wall;
    result.e2e_listeners = servicePlane.status().listening.length;
    const failed = Object.keys(servicePlane.status().failed).length;
    if (failed > 0) process.stderr.write(`end to end: ${failed} listeners could not bind\n`);

    const samples: Clock[] = [];
    for (let i = 1; i <= e2eChanges; i++) {
      const index = (i * 7919) % services;
      const slice = syntheticSlice(index, `ns-${index % 100}`, `svc-${index}`, perService, i);
      const applied = new Promise<Snapshot>((resolve) => {
        const off = pipeline.onSnapshot((s) => {
          off();
          resolve(s);
        });
      });
      t = clock();
      e2eStore.upsert("EndpointSlice", slice);
      await applied;
      samples.push(since(t));
      // let the event loop settle so one sample's leftovers do not land in the next
      await new Promise((r) => setImmediate(r));
    }
    record(
      "e2e_change_ms",
      samples.map((c) => c.wall),
      true,
    );
    result.e2e_change_cpu_ms = mean(samples.map((c) => c.cpu));
  } finally {
    await pipeline.stop();
  }
}
