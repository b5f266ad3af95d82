// What handing a snapshot to --workers costs the primary and each worker: the delta encoding plus v8's
// structured clone (what `serialization: "advanced"` IPC does), for a full snapshot (a new or restarted
// worker) and for a single-endpoint change. Not part of `npm run bench`; run it by hand:
// usage: node bench/workers-ipc.ts [SERVICES] [ENDPOINTS_PER_SERVICE] [CHANGES]
import { deserialize, serialize } from "node:v8";
import type { Snapshot } from "../src/snapshot/snapshot.ts";
import { Store } from "../src/store/store.ts";
import { Translator } from "../src/translate/index.ts";
import { decodeSnapshot, encodeSnapshot } from "../src/workers/snapshot-wire.ts";
import { median } from "./lib/stats.ts";
import { SYNTHETIC_TRANSLATE_OPTIONS, syntheticCluster, syntheticSlice } from "./lib/synthetic.ts";

const [services = 10_000, perService = 10, changes = 20] = process.argv.slice(2).map(Number);
const cluster = syntheticCluster(services, perService);
const store = new Store();
store.batch(() => {
  for (const s of cluster.services) store.upsert("Service", s);
  for (const s of cluster.slices) store.upsert("EndpointSlice", s);
});
const translator = new Translator(SYNTHETIC_TRANSLATE_OPTIONS);
const ms = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e6;

/** primary: encode + serialize; worker: deserialize + decode */
function handOver(held: Snapshot | undefined, sent: Snapshot | undefined, next: Snapshot) {
  let t = process.hrtime.bigint();
  const bytes = serialize(encodeSnapshot(sent, next));
  const primaryMs = ms(t);
  t = process.hrtime.bigint();
  const got = decodeSnapshot(held, deserialize(bytes));
  return { primaryMs, workerMs: ms(t), bytes: bytes.length, got };
}

let snapshot = translator.build(store);
const full = handOver(undefined, undefined, snapshot);
let held = full.got;
const deltas: ReturnType<typeof handOver>[] = [];
for (let i = 1; i <= changes; i++) {
  const index = (i * 7919) % services;
  store.upsert("EndpointSlice", syntheticSlice(index, `ns-${index % 100}`, `svc-${index}`, perService, i));
  const next = translator.build(store);
  const d = handOver(held, snapshot, next);
  deltas.push(d);
  held = d.got;
  snapshot = next;
}
const round = (n: number | null) => Math.round((n ?? Number.NaN) * 10) / 10;
process.stdout.write(
  `${JSON.stringify({
    services,
    endpoints: services * perService,
    full: { primaryMs: round(full.primaryMs), workerMs: round(full.workerMs), kib: round(full.bytes / 1024) },
    change: {
      primaryMs: round(median(deltas.map((d) => d.primaryMs))),
      workerMs: round(median(deltas.map((d) => d.workerMs))),
      kib: round((median(deltas.map((d) => d.bytes)) ?? 0) / 1024),
    },
  })}\n`,
);
