// snapshot-rebuild scenario, run in its own process (pinned, with --expose-gc so heap figures are
// after a collection): a Store of N Services with M endpoints each through the Translator.
// Prints one SNAPSHOT_JSON line.
// usage: node --expose-gc bench/snapshot-rebuild.ts SERVICES ENDPOINTS_PER_SERVICE FULL_BUILDS CHANGES
import { Store } from "../src/store/store.ts";
import { Translator } from "../src/translate/index.ts";
import type { TranslateOptions } from "../src/translate/options.ts";
import { median, percentile } from "./lib/stats.ts";
import { syntheticCluster, syntheticSlice } from "./lib/synthetic.ts";

const [services = 10_000, perService = 10, fullBuilds = 3, changes = 50] = process.argv.slice(2).map(Number);
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});

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

gc();
const heapBefore = process.memoryUsage().heapUsed;
const cluster = syntheticCluster(services, perService);
const store = new Store();
store.batch(() => {
  for (const s of cluster.services) store.upsert("Service", s);
  for (const s of cluster.slices) store.upsert("EndpointSlice", s);
});

const ms = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e6;

// full rebuilds: a fresh Translator each time, so nothing is reused from a memo
const full: number[] = [];
let translator = new Translator(options);
let snapshot = translator.build(store);
for (let i = 0; i < fullBuilds; i++) {
  translator = new Translator(options);
  const t = process.hrtime.bigint();
  snapshot = translator.build(store);
  full.push(ms(t));
}
gc();
const heapUsed = process.memoryUsage().heapUsed;

// single-endpoint changes: one slice replaced (one endpoint flips readiness), then a rebuild
const change: number[] = [];
for (let i = 1; i <= changes; i++) {
  const index = (i * 7919) % services;
  const slice = syntheticSlice(index, `ns-${index % 100}`, `svc-${index}`, perService, i);
  const t = process.hrtime.bigint();
  store.upsert("EndpointSlice", slice);
  snapshot = translator.build(store);
  change.push(ms(t));
}

process.stdout.write(
  `SNAPSHOT_JSON ${JSON.stringify({
    services,
    endpoints: services * perService,
    full_rebuild_ms: median(full),
    endpoint_change_ms: median(change),
    endpoint_change_p99_ms: percentile(change, 99),
    heap_mib: heapUsed / 1048576,
    heap_cluster_mib: (heapUsed - heapBefore) / 1048576,
    service_ports: snapshot.servicePorts.length,
  })}\n`,
);
