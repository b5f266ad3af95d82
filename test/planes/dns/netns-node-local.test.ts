import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isRoot, NetnsLab, NODE1, type Started, stop } from "../service/netns-lab.ts";
import { parseDig } from "./helpers.ts";

/**
 * Node-local DNS in the node simulation (docs/dns.md): the real `bin/nodeplane.js` (default --workers, so
 * the DNS sockets are shared by the workers with SO_REUSEPORT) in node1's namespace, a kube-dns Service at
 * 10.96.0.10 whose one endpoint is a scripted "CoreDNS" in pod-b, and pod-a's resolv.conf pointing at the
 * clusterIP, as the kubelet writes it. `ip netns exec` mounts /etc/netns/<ns>/resolv.conf over
 * /etc/resolv.conf, so `dig` in pod-a asks 10.96.0.10 with no @server.
 */

const BIN = join(import.meta.dirname, "../../../bin/nodeplane.js");
const lab = new NetnsLab("dn");
const ns = lab.ns;
const RESOLV_DIR = `/etc/netns/${ns.podA}`;

const MANIFESTS = `
apiVersion: v1
kind: Service
metadata: { name: kube-dns, namespace: kube-system }
spec:
  clusterIP: 10.96.0.10
  ports:
    - { name: dns, port: 53, protocol: UDP, targetPort: 53 }
    - { name: dns-tcp, port: 53, protocol: TCP, targetPort: 53 }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: kube-dns-1
  namespace: kube-system
  labels: { kubernetes.io/service-name: kube-dns }
addressType: IPv4
ports: [{ name: dns, port: 53, protocol: UDP }, { name: dns-tcp, port: 53, protocol: TCP }]
endpoints:
  - addresses: [10.244.1.3]
    conditions: { ready: true }
    nodeName: node1
---
apiVersion: v1
kind: Service
metadata: { name: web, namespace: default }
spec:
  clusterIP: 10.96.0.20
  ports: [{ name: http, port: 80, targetPort: 8080 }]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-1
  namespace: default
  labels: { kubernetes.io/service-name: web }
addressType: IPv4
ports: [{ name: http, port: 8080, protocol: TCP }]
endpoints:
  - addresses: [10.244.1.2]
    conditions: { ready: true }
    nodeName: node1
`;

// The scripted CoreDNS: answers every A question with 192.0.2.99, and prints one line per datagram or TCP
// connection it receives (its packet count), with the name asked.
const COREDNS = `
const dgram = require("node:dgram"), net = require("node:net");
const qname = (m) => { const l = []; let i = 12; while (i < m.length && m[i] !== 0) { l.push(m.subarray(i + 1, i + 1 + m[i]).toString()); i += 1 + m[i]; } return { name: l.join(".").toLowerCase(), end: i + 5 }; };
const answer = (m) => { const q = qname(m); const h = Buffer.from(m.subarray(0, 12)); h.writeUInt16BE(0x8180, 2); h.writeUInt16BE(1, 4); h.writeUInt16BE(m.readUInt16BE(q.end - 4) === 1 ? 1 : 0, 6); h.writeUInt32BE(0, 8);
  const rr = Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 192, 0, 2, 99]);
  return Buffer.concat([h, m.subarray(12, q.end), h.readUInt16BE(6) ? rr : Buffer.alloc(0)]); };
const u = dgram.createSocket("udp4");
u.on("message", (m, r) => { console.log("udp " + qname(m).name); u.send(answer(m), r.port, r.address); });
u.bind(53, "0.0.0.0", () => net.createServer((s) => { let b = Buffer.alloc(0); s.on("error", () => {});
  s.on("data", (d) => { b = Buffer.concat([b, d]); while (b.length >= 2 && b.length >= 2 + b.readUInt16BE(0)) { const m = b.subarray(2, 2 + b.readUInt16BE(0)); b = b.subarray(2 + m.length);
    console.log("tcp " + qname(m).name); const a = answer(m); const f = Buffer.alloc(2); f.writeUInt16BE(a.length); s.write(Buffer.concat([f, a])); } }); })
  .listen(53, "0.0.0.0", () => console.log("ready")));
`;

describe.skipIf(!isRoot)("node-local DNS in network namespaces (pod → kube-dns clusterIP)", () => {
  let nodeplane: Started;
  let coredns: Started;

  beforeAll(async () => {
    await lab.setup();
    coredns = await lab.start(ns.podB, ["-e", COREDNS]);
    mkdirSync(RESOLV_DIR, { recursive: true });
    writeFileSync(
      join(RESOLV_DIR, "resolv.conf"),
      "nameserver 10.96.0.10\nsearch default.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n",
    );
    const dir = join(lab.workdir, "manifests");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "cluster.yaml"), MANIFESTS);
    nodeplane = await lab.start(
      ns.node1,
      [
        BIN,
        "--manifests",
        dir,
        "--node-name",
        "node1",
        "--service-cidr",
        "10.96.0.0/12",
        "--node-port-addresses",
        `${NODE1}/32`,
        "--http-address=",
        "--https-address=",
        "--dns-address=",
        "--dns-node-local",
        "--dns-link-local",
        "169.254.20.10",
        "--dns-allow-recursion",
        "10.244.0.0/16",
      ],
      (line) => line.includes('"nodeplane ready"'),
    );
  }, 60_000);

  afterAll(async () => {
    if (nodeplane) await stop(nodeplane.child).catch(() => {});
    rmSync(RESOLV_DIR, { recursive: true, force: true });
    lab.teardown();
  });

  /** what the scripted CoreDNS received, one entry per datagram or TCP message */
  const received = () =>
    coredns
      .logs()
      .split("\n")
      .filter((l) => l.startsWith("udp ") || l.startsWith("tcp "));
  const dig = async (args: string[]) =>
    parseDig((await lab.inNs(ns.podA, "dig", ["+time=2", "+tries=2", ...args])).stdout);

  it("a pod's cluster names are answered by nodeplane at the clusterIP; CoreDNS gets no packet for them", async () => {
    const before = received().length;
    for (const args of [
      ["web.default.svc.cluster.local"],
      ["web.default.svc.cluster.local", "+tcp"],
      ["+search", "web"],
    ]) {
      const r = await dig(args);
      expect(r.status, `${args.join(" ")}\n${r.raw}\n${nodeplane.logs()}`).toBe("NOERROR");
      expect(r.flags).toContain("aa");
      expect(r.answers.map((a) => a[4])).toEqual(["10.96.0.20"]);
      expect(r.raw).toContain("SERVER: 10.96.0.10#53");
    }
    // many more, over both workers' shared socket
    for (let i = 0; i < 20; i++) {
      const r = await dig([`web.default.svc.cluster.local`, "+short"]);
      expect(r.raw.trim()).toBe("10.96.0.20");
    }
    expect(received().slice(before)).toEqual([]);
  });

  it("other names are forwarded to the kube-dns endpoint (the scripted CoreDNS)", async () => {
    const before = received().length;
    const r = await dig(["example.com"]);
    expect(r.status).toBe("NOERROR");
    expect(r.answers.map((a) => a[4])).toEqual(["192.0.2.99"]);
    expect(received().slice(before)).toEqual(["udp example.com"]);
  });

  it("--dns-link-local: the address is added to the node's VIP link and answered the same way", async () => {
    const before = received().length;
    for (const transport of ["+notcp", "+tcp"]) {
      const r = await dig(["@169.254.20.10", "web.default.svc.cluster.local", transport]);
      expect(r.status, r.raw).toBe("NOERROR");
      expect(r.answers.map((a) => a[4])).toEqual(["10.96.0.20"]);
    }
    expect(received().slice(before)).toEqual([]);
    const addresses = (await lab.inNs(ns.node1, "ip", ["-4", "-o", "addr", "show"])).stdout;
    // on the VIP link (the dummy nodeplane0, or lo labelled lo:np where the dummy module is missing)
    expect(addresses).toMatch(/inet 169\.254\.20\.10\/32 .*(nodeplane0|lo:np)/);
  });

  it("with node-local DNS off the same pod is answered by CoreDNS through the service proxy", async () => {
    await stop(nodeplane.child);
    const dir = join(lab.workdir, "manifests");
    nodeplane = await lab.start(
      ns.node1,
      [
        BIN,
        "--manifests",
        dir,
        "--node-name",
        "node1",
        "--service-cidr",
        "10.96.0.0/12",
        "--http-address=",
        "--https-address=",
        "--dns-address=",
      ],
      (line) => line.includes('"nodeplane ready"'),
    );
    const before = received().length;
    const r = await dig(["web.default.svc.cluster.local"]);
    expect(r.answers.map((a) => a[4])).toEqual(["192.0.2.99"]);
    expect(received().slice(before)).toEqual(["udp web.default.svc.cluster.local"]);
  });
});
