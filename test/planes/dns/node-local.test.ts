import { Registry } from "prom-client";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parseFlags } from "../../../src/cli/flags.ts";
import type { Config } from "../../../src/config.ts";
import type { EndpointSlice, Service } from "../../../src/model/k8s.ts";
import { createDnsPlane, type DnsPlane } from "../../../src/planes/dns/plane.ts";
import { DnsHandoff } from "../../../src/planes/dns-handoff.ts";
import { ServicePlane } from "../../../src/planes/service/plane.ts";
import type { Snapshot } from "../../../src/snapshot/snapshot.ts";
import { MemoryStatusWriter } from "../../../src/status/writer.ts";
import { Store } from "../../../src/store/store.ts";
import { Translator } from "../../../src/translate/index.ts";
import { options } from "../../translate/dns/fixtures.ts";
import { captureLogger, testConfig } from "../service/helpers.ts";
import { dig, startUpstreamStub, type UpstreamStub } from "./helpers.ts";

// Node-local DNS mode on loopback (docs/dns.md): a kube-dns-like Service at a 127.x clusterIP, port 53
// (the port the mode serves: root), whose one endpoint is a scripted "CoreDNS" that counts what it is asked.
const isRoot = process.getuid?.() === 0;
const VIP = `127.53.${process.pid % 200}.10`;
const NGINX_IP = "10.96.5.5";

function kubeDns(stubPort: number): Service {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { namespace: "kube-system", name: "kube-dns" },
    spec: {
      clusterIP: VIP,
      ports: [
        { name: "dns", port: 53, protocol: "UDP", targetPort: stubPort },
        { name: "dns-tcp", port: 53, protocol: "TCP", targetPort: stubPort },
      ],
    },
  };
}

function kubeDnsSlice(stubPort: number): EndpointSlice {
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: {
      namespace: "kube-system",
      name: "kube-dns-1",
      labels: { "kubernetes.io/service-name": "kube-dns" },
    },
    addressType: "IPv4",
    ports: [
      { name: "dns", port: stubPort, protocol: "UDP" },
      { name: "dns-tcp", port: stubPort, protocol: "TCP" },
    ],
    endpoints: [{ addresses: ["127.0.0.1"], conditions: { ready: true } }],
  };
}

// No endpoints: the service plane opens nothing for it, the zone still has its clusterIP.
const nginx: Service = {
  apiVersion: "v1",
  kind: "Service",
  metadata: { namespace: "default", name: "my-nginx" },
  spec: { clusterIP: NGINX_IP, ports: [{ name: "http", port: 80 }] },
};

interface Node {
  store: Store;
  handoff: DnsHandoff;
  service: ServicePlane;
  dns: DnsPlane;
  registry: Registry;
  sync(): Promise<void>;
}

describe.skipIf(!isRoot)("node-local DNS at the DNS Service's clusterIP (loopback)", () => {
  let stub: UpstreamStub;
  let node: Node;
  const closers: (() => Promise<void>)[] = [];

  async function startNode(prepare?: (dns: DnsPlane) => void): Promise<Node> {
    const store = new Store();
    store.upsert("Service", kubeDns(stub.port));
    store.upsert("EndpointSlice", kubeDnsSlice(stub.port));
    store.upsert("Service", nginx);
    const config: Config = {
      ...parseFlags(["--manifests", "unused", "--dns-node-local", "--dns-address", ""], {}),
    };
    const { logger } = captureLogger();
    const registry = new Registry();
    const handoff = new DnsHandoff();
    const service = new ServicePlane({ config: testConfig, logger, registry, dnsHandoff: handoff });
    await service.start();
    const dns = await createDnsPlane(
      { config, logger, registry, store, status: new MemoryStatusWriter(), dnsHandoff: handoff },
      { attemptTimeoutMs: 400, totalTimeoutMs: 800 },
    );
    if (!dns) throw new Error("dns plane is off");
    prepare?.(dns);
    const translator = new Translator({ ...options("insecure"), nodeLocalDns: { service: "kube-system/kube-dns" } });
    let previous: Snapshot | undefined;
    // (closing the DNS plane twice is harmless: a test may have stopped it)
    closers.push(async () => {
      await dns.close();
      await service.close();
    });
    const started: Node = {
      store,
      handoff,
      service,
      dns,
      registry,
      async sync() {
        const next = translator.build(store);
        // the pipeline's order: the service plane, then the DNS plane
        await service.apply(previous, next);
        await dns.apply(previous, next);
        previous = next;
      },
    };
    await started.sync();
    return started;
  }

  beforeEach(async () => {
    stub = await startUpstreamStub((name, type) => {
      if (type !== "A") return undefined;
      if (name === "example.com")
        return { kind: "records", answers: [{ name, type: "A", ttl: 60, data: "192.0.2.1" }] };
      // what "CoreDNS" would say for the cluster name: a different address, so the answerer shows
      if (name === "my-nginx.default.svc.cluster.local")
        return { kind: "records", answers: [{ name, type: "A", ttl: 5, data: "192.0.2.99" }] };
      return undefined;
    });
  });

  afterEach(async () => {
    while (closers.length) await closers.pop()!();
    await stub.close();
  });

  const clusterName = "my-nginx.default.svc.cluster.local";
  const asked = (name: string) => stub.seen.filter((q) => q.startsWith(`${name}/`)).length;

  it("answers cluster names itself over UDP and TCP: the DNS pods see no query for them", async () => {
    node = await startNode();
    for (const transport of ["+notcp", "+tcp"]) {
      const r = await dig(53, [clusterName, "A", transport], VIP);
      expect(r.status).toBe("NOERROR");
      expect(r.flags).toContain("aa");
      expect(r.answers.map((a) => a[4])).toEqual([NGINX_IP]);
    }
    // the 0x20 case comes back as asked, from nodeplane's zone
    const mixed = await dig(53, ["My-Nginx.Default.svc.Cluster.Local", "A"], VIP);
    expect(mixed.answers.map((a) => a[4])).toEqual([NGINX_IP]);
    expect(asked(clusterName)).toBe(0);
    expect(node.service.status().listening.filter((k) => k.includes(`${VIP}:53`))).toEqual([]);
    expect(node.handoff.keys).toEqual(new Set([`UDP ${VIP}:53`, `TCP ${VIP}:53`]));
    // nodeplane's metrics count them (coredns_dns_requests_total, as CoreDNS names it)
    const metrics = await node.registry.getSingleMetricAsString("coredns_dns_requests_total");
    const counted = [...metrics.matchAll(/zone="cluster\.local\."[^}]*} (\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);
    expect(counted).toBeGreaterThanOrEqual(3);
  });

  it("forwards other names to the DNS Service's endpoints (the default upstream in node-local mode)", async () => {
    node = await startNode();
    for (const transport of ["+notcp", "+tcp"]) {
      const r = await dig(53, ["example.com", "A", transport, "+norecurse"], VIP);
      expect(r.status).toBe("NOERROR");
      expect(r.answers.map((a) => a[4])).toEqual(["192.0.2.1"]);
    }
    // once: the second is answered from the forward cache
    expect(asked("example.com")).toBe(1);
  });

  it("the upstreams follow the DNS Service's endpoints from snapshot to snapshot", async () => {
    node = await startNode();
    const next = await startUpstreamStub((name, type) =>
      name === "example.org" && type === "A"
        ? { kind: "records", answers: [{ name, type: "A", ttl: 60, data: "192.0.2.2" }] }
        : undefined,
    );
    closers.push(() => next.close());
    node.store.upsert("EndpointSlice", kubeDnsSlice(next.port));
    await node.sync();
    const r = await dig(53, ["example.org", "A"], VIP);
    expect(r.answers.map((a) => a[4])).toEqual(["192.0.2.2"]);
    expect(next.seen).toEqual(["example.org/A"]);
    expect(asked("example.org")).toBe(0);
  });

  it("with the DNS pods scaled to zero, cluster names still resolve; other names get SERVFAIL", async () => {
    node = await startNode();
    node.store.delete("EndpointSlice", "kube-system/kube-dns-1");
    await node.sync();
    const r = await dig(53, [clusterName, "A"], VIP);
    expect(r.answers.map((a) => a[4])).toEqual([NGINX_IP]);
    expect((await dig(53, ["example.com", "A"], VIP)).status).toBe("SERVFAIL");
    expect(stub.seen).toEqual([]);
  });

  it("when the DNS plane stops, the port forwards to the DNS pods again (never silence)", async () => {
    node = await startNode();
    expect((await dig(53, [clusterName, "A"], VIP)).answers.map((a) => a[4])).toEqual([NGINX_IP]);
    await node.dns.close();
    expect(node.handoff.keys.size).toBe(0);
    for (const transport of ["+notcp", "+tcp"]) {
      let answer: string[] = [];
      // the service plane re-binds asynchronously: bounded wait
      for (let i = 0; i < 20 && answer[0] !== "192.0.2.99"; i++) {
        const r = await dig(53, [clusterName, "A", transport], VIP).catch(() => undefined);
        answer = r?.answers.map((a) => a[4]!) ?? [];
        if (answer[0] !== "192.0.2.99") await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(answer).toEqual(["192.0.2.99"]);
    }
    expect(asked(clusterName)).toBeGreaterThanOrEqual(2);
    expect(node.service.status().listening).toEqual(expect.arrayContaining([`UDP ${VIP}:53`, `TCP ${VIP}:53`]));
  });

  it("a socket the DNS plane cannot bind stays forwarded by the service plane, and is a problem", async () => {
    node = await startNode((dns) => {
      dns.server.bindExtra = () => Promise.reject(new Error("listen EADDRNOTAVAIL (scripted)"));
    });
    const r = await dig(53, [clusterName, "A"], VIP);
    expect(r.answers.map((a) => a[4])).toEqual(["192.0.2.99"]);
    expect(asked(clusterName)).toBe(1);
    expect(node.handoff.keys.size).toBe(0);
    expect(node.dns.problems().map((p) => p.message)).toEqual([
      expect.stringContaining(`UDP ${VIP}:53: listen EADDRNOTAVAIL (scripted)`),
    ]);
  });
});
