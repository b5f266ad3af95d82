/**
 * Rebuild time of the DNS index at scale (docs/scale.md's shape: 10k Services, 100k endpoints; 10% headless).
 * Reports wall and CPU time for: the first build, rebuilds after one Service changed (memo hits),
 * and full rebuilds where every object is new (a re-list with nothing reusable).
 *
 *   node bench/dns/translate.ts [--services 10000] [--endpoints 10]
 */
import { parseArgs } from "node:util";
import { Store } from "../../src/store/store.ts";
import { translateDns } from "../../src/translate/dns/translator.ts";
import type { TranslateOptions } from "../../src/translate/options.ts";

const { values } = parseArgs({
  options: { services: { type: "string", default: "10000" }, endpoints: { type: "string", default: "10" } },
});
const services = Number(values.services);
const perService = Number(values.endpoints);

const options: TranslateOptions = {
  nodeName: "bench",
  localAddresses: [],
  nodePortCIDRs: [],
  clusterDomain: "cluster.local",
  ingressClass: "nodeplane",
  ingressController: "nodeplane.dev/ingress",
  gatewayController: "nodeplane.dev/gateway-controller",
  gatewayAddress: "127.0.0.1",
  publishAddresses: [],
  dnsPods: "insecure",
};

const ip = (n: number) => `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;

function fill(store: Store, variant: number): void {
  store.batch(() => {
    for (let i = 0; i < services; i++) {
      const ns = `ns${i % 50}`;
      store.upsert("Service", {
        metadata: { namespace: ns, name: `svc${i}` },
        spec: {
          clusterIP: i % 10 === 0 ? "None" : `172.${16 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`,
          ports: [{ name: "http", port: 80 + variant }],
        },
      });
      store.upsert("EndpointSlice", {
        metadata: { namespace: ns, name: `svc${i}-1`, labels: { "kubernetes.io/service-name": `svc${i}` } },
        addressType: "IPv4",
        endpoints: Array.from({ length: perService }, (_, j) => ({
          addresses: [ip(i * perService + j)],
          conditions: { ready: true },
        })),
        ports: [{ name: "http", port: 8080, protocol: "TCP" }],
      });
    }
  });
}

function measure(label: string, store: Store): void {
  const cpu = process.cpuUsage();
  const started = performance.now();
  const { snapshot } = translateDns(store, options);
  const wall = performance.now() - started;
  const used = process.cpuUsage(cpu);
  console.log(
    `${label.padEnd(34)} ${wall.toFixed(0).padStart(5)} ms wall ${((used.user + used.system) / 1000).toFixed(0).padStart(5)} ms cpu  ${snapshot.records.size} names`,
  );
}

const store = new Store();
fill(store, 0);
measure("first build (cold)", store);
for (let round = 0; round < 5; round++) {
  store.upsert("Service", {
    metadata: { namespace: "ns1", name: "svc1" },
    spec: { clusterIP: `172.31.0.${round}`, ports: [{ name: "http", port: 80 }] },
  });
  measure(`one Service changed (#${round + 1})`, store);
}
for (let round = 0; round < 5; round++) {
  const fresh = new Store();
  fill(fresh, round + 1);
  measure(`all objects new (#${round + 1})`, fresh);
}
