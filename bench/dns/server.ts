/**
 * DNS benchmark peer: serves a synthetic cluster (the lab's Services plus N generated ones) with
 * nodeplane's DNS plane on loopback, and writes the same names as a BIND zone file and a dnsperf
 * query file, so both servers answer identical questions.
 *
 *   node bench/dns/server.ts --port 5399 --out /tmp/dns-bench [--services 1000]
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Registry } from "prom-client";
import { parseFlags } from "../../src/cli/flags.ts";
import { silentLogger } from "../../src/log.ts";
import type { EndpointSlice, Service } from "../../src/model/k8s.ts";
import { createDnsPlane } from "../../src/planes/dns/plane.ts";
import { MemoryStatusWriter } from "../../src/status/writer.ts";
import { Store } from "../../src/store/store.ts";
import { Translator } from "../../src/translate/index.ts";

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "5399" },
    out: { type: "string", default: "/tmp/dns-bench" },
    services: { type: "string", default: "1000" },
  },
});
const port = Number(values.port);
const count = Number(values.services);
const ttl = 5;

const store = new Store();
store.batch(() => {
  for (let i = 0; i < count; i++) {
    const ns = `ns${i % 20}`;
    const headless = i % 10 === 0;
    const svc: Service = {
      metadata: { namespace: ns, name: `svc${i}` },
      spec: {
        clusterIP: headless ? "None" : `10.96.${(i >> 8) & 255}.${i & 255}`,
        ports: [{ name: "http", port: 80, protocol: "TCP" }],
      },
    };
    store.upsert("Service", svc);
    const slice: EndpointSlice = {
      metadata: { namespace: ns, name: `svc${i}-1`, labels: { "kubernetes.io/service-name": `svc${i}` } },
      addressType: "IPv4",
      endpoints: [0, 1, 2].map((j) => ({
        addresses: [`10.244.${(i >> 6) & 255}.${((i & 63) << 2) + j}`],
        conditions: { ready: true },
      })),
      ports: [{ name: "http", port: 8080, protocol: "TCP" }],
    };
    store.upsert("EndpointSlice", slice);
  }
});

const config = {
  ...parseFlags(["--manifests", "unused"], {}),
  dnsAddress: { host: "127.0.0.1", port },
  dnsUpstream: [],
  dnsTtlSeconds: ttl,
};
const translator = new Translator({
  nodeName: "bench",
  localAddresses: [],
  nodePortCIDRs: [],
  clusterDomain: "cluster.local",
  ingressClass: "nodeplane",
  ingressController: "nodeplane.dev/ingress",
  gatewayController: "nodeplane.dev/gateway-controller",
  gatewayAddress: "127.0.0.1",
  publishAddresses: [],
  dnsPods: "disabled",
});
const snapshot = translator.build(store);
const plane = await createDnsPlane({
  config,
  logger: silentLogger,
  registry: new Registry(),
  store,
  status: new MemoryStatusWriter(),
});
if (!plane) throw new Error("dns plane is off");
await plane.apply(undefined, snapshot);

// The same zone for BIND: every record of the index under the cluster domain.
const zone: string[] = [
  `$TTL ${ttl}`,
  `cluster.local. IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 ${ttl}`,
  "cluster.local. IN NS ns.dns.cluster.local.",
  "ns.dns.cluster.local. IN A 127.0.0.1",
];
const queries: string[] = [];
// …and for dnsmasq: a hosts file for addresses, srv-host lines for SRV.
const hosts: string[] = [];
const dnsmasq: string[] = [];
for (const [name, r] of snapshot.dns.records) {
  if (!name.endsWith("cluster.local")) continue;
  for (const ip of [...(r.a ?? []), ...(r.aaaa ?? [])]) hosts.push(`${ip} ${name}`);
  for (const s of r.srv ?? []) dnsmasq.push(`srv-host=${name},${s.target},${s.port},${s.priority},${s.weight}`);
  for (const ip of r.a ?? []) zone.push(`${name}. IN A ${ip}`);
  for (const ip of r.aaaa ?? []) zone.push(`${name}. IN AAAA ${ip}`);
  for (const t of r.txt ?? []) zone.push(`${name}. IN TXT "${t}"`);
  for (const s of r.srv ?? []) zone.push(`${name}. IN SRV ${s.priority} ${s.weight} ${s.port} ${s.target}.`);
  if (r.cname) zone.push(`${name}. IN CNAME ${r.cname}.`);
  for (const [host, e] of r.endpoints ?? []) {
    for (const ip of e.a ?? []) zone.push(`${host}.${name}. IN A ${ip}`);
    for (const ip of e.aaaa ?? []) zone.push(`${host}.${name}. IN AAAA ${ip}`);
  }
  // The query mix: service names (A), a few SRV and NODATA (AAAA) questions.
  if (/^svc\d+\.ns\d+\.svc\.cluster\.local$/.test(name)) {
    queries.push(`${name} A`);
    if (queries.length % 10 === 0) queries.push(`${name} AAAA`);
  }
  if (name.startsWith("_http._tcp.") && queries.length % 5 === 0) queries.push(`${name} SRV`);
}
writeFileSync(join(values.out, "cluster.local.zone"), `${zone.join("\n")}\n`);
writeFileSync(join(values.out, "queries.txt"), `${queries.join("\n")}\n`);
writeFileSync(join(values.out, "dnsmasq.hosts"), `${hosts.join("\n")}\n`);
writeFileSync(join(values.out, "dnsmasq.conf"), `${dnsmasq.join("\n")}\n`);
process.stdout.write(`ready ${plane.server.port} names=${snapshot.dns.records.size} queries=${queries.length}\n`);

const stop = async () => {
  await plane.close();
  process.exit(0);
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
