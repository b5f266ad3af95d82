import { createSocket } from "node:dgram";
import { connect, createServer, type Socket } from "node:net";
import { Registry } from "prom-client";
import { afterEach, describe, expect, it } from "vitest";
import { ServicePlane } from "../../../src/planes/service/plane.ts";
import { gatewaySnapshot, l4Backend, l4Socket } from "./gateway-helpers.ts";
import {
  type Backend,
  Cleanup,
  captureLogger,
  endpoint,
  eventually,
  firstLine,
  frontend,
  nameEchoBackend,
  probe,
  run,
  servicePort,
  testConfig,
  udpEchoBackend,
  uniqueLoopback,
} from "./helpers.ts";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

async function plane(reports?: [string, string | undefined][], logger = captureLogger().logger) {
  const registry = new Registry();
  const p = new ServicePlane({
    config: { ...testConfig, tlsHandshakeTimeoutMs: 500 },
    logger,
    registry,
    status: { reportGatewayBind: (id, error) => reports?.push([id, error]) },
  });
  await p.start();
  cleanup.add(() => p.close());
  return { plane: p, registry };
}

async function pods(names: string[]): Promise<Backend[]> {
  const list: Backend[] = [];
  for (const name of names) {
    const b = await nameEchoBackend("127.0.0.1", name);
    cleanup.add(() => b.close());
    list.push(b);
  }
  return list;
}

/** `n` connections, `batch` at a time; the first line of each (or how it ended). */
async function connections(host: string, port: number, n: number, batch = 50): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i += batch) {
    const round = await Promise.all(Array.from({ length: Math.min(batch, n - i) }, () => probe(host, port)));
    out.push(...round);
  }
  return out;
}

function count(list: string[], value: string): number {
  return list.filter((v) => v === value).length;
}

/** |observed − n·p| within 4 standard deviations of the binomial */
function withinBinomial(observed: number, n: number, p: number): void {
  const sigma = Math.sqrt(n * p * (1 - p));
  expect(Math.abs(observed - n * p)).toBeLessThanOrEqual(4 * sigma);
}

describe("Gateway TCP sockets on the service plane", () => {
  it("splits 1,000 connections 1:3 over two backends (one with two endpoints), within ±4σ", async () => {
    const { plane: p } = await plane();
    const [a, b1, b2] = await pods(["a", "b1", "b2"]);
    const ip = uniqueLoopback();
    await p.apply(
      undefined,
      gatewaySnapshot([l4Socket("TCP", ip, 9100, [l4Backend(1, "a", [a!]), l4Backend(3, "b", [b1!, b2!])])]),
    );
    const seen = await connections(ip, 9100, 1000);
    expect(count(seen, "data:a") + count(seen, "data:b1") + count(seen, "data:b2")).toBe(1000);
    withinBinomial(count(seen, "data:a"), 1000, 0.25);
    withinBinomial(count(seen, "data:b1") + count(seen, "data:b2"), 1000, 0.75);
    // within a backend, its endpoints share evenly
    withinBinomial(count(seen, "data:b1"), 1000, 0.375);
  }, 60_000);

  it("weights 70/30/0 (conformance TCPRouteWeightedRouting): the weight-0 backend gets nothing", async () => {
    const { plane: p } = await plane();
    const [v1, v2, v3] = await pods(["v1", "v2", "v3"]);
    const ip = uniqueLoopback();
    await p.apply(
      undefined,
      gatewaySnapshot([
        l4Socket("TCP", ip, 9101, [l4Backend(70, "v1", [v1!]), l4Backend(30, "v2", [v2!]), l4Backend(0, "v3", [v3!])]),
      ]),
    );
    const seen = await connections(ip, 9101, 500);
    withinBinomial(count(seen, "data:v1"), 500, 0.7);
    withinBinomial(count(seen, "data:v2"), 500, 0.3);
    expect(v3!.connections).toBe(0);
  }, 60_000);

  it("refuses (resets) the connections picked for an invalid backend (conformance TCPRouteInvalidBackendRefNonexistent), serves the rest", async () => {
    const { plane: p } = await plane();
    const [a] = await pods(["a"]);
    const ip = uniqueLoopback();
    await p.apply(
      undefined,
      gatewaySnapshot([
        l4Socket("TCP", ip, 9102, [l4Backend(1, "missing")]),
        l4Socket("TCP", ip, 9103, [l4Backend(1, "a", [a!]), l4Backend(1, "missing")]),
        l4Socket("TCP", ip, 9104, [l4Backend(0, "a", [a!])]),
      ]),
    );
    for (const r of await connections(ip, 9102, 20)) expect(r).toBe("reset");
    const mixed = await connections(ip, 9103, 200);
    expect(count(mixed, "data:a") + count(mixed, "reset")).toBe(200);
    withinBinomial(count(mixed, "reset"), 200, 0.5);
    // every weight 0: nothing to forward to
    for (const r of await connections(ip, 9104, 10)) expect(r).toBe("reset");
  }, 60_000);

  it("keeps an established connection when the backends change and its endpoint stays; unchanged sockets keep serving", async () => {
    const { plane: p } = await plane();
    const [a, b] = await pods(["a", "b"]);
    const ip = uniqueLoopback();
    await p.apply(undefined, gatewaySnapshot([l4Socket("TCP", ip, 9105, [l4Backend(1, "a", [a!])])]));
    const client: Socket = connect({ host: ip, port: 9105 });
    let got = "";
    client.on("data", (d: Buffer) => {
      got += d;
    });
    await eventually(() => got === "a\n", 3000, "greeting");
    // another backend joins, weights change: a is still an endpoint
    await p.apply(
      undefined,
      gatewaySnapshot([l4Socket("TCP", ip, 9105, [l4Backend(1, "a", [a!]), l4Backend(5, "b", [b!])])]),
    );
    client.write("still here\n");
    await eventually(() => got === "a\nstill here\n", 3000, "echo after reconcile");
    const later = await connections(ip, 9105, 60);
    expect(count(later, "data:b")).toBe(50);
    // a socket dropped from the snapshot stops accepting, its connection is not cut
    await p.apply(undefined, gatewaySnapshot([]));
    expect(await probe(ip, 9105)).toBe("refused");
    client.write("after close\n");
    await eventually(() => got.endsWith("after close\n"), 3000, "echo after the socket closed");
    client.destroy();
  }, 30_000);

  it("reports a bind failure for its socket, logs it once, keeps serving the others and retries on the next snapshot", async () => {
    const reports: [string, string | undefined][] = [];
    const log = captureLogger();
    const { plane: p, registry } = await plane(reports, log.logger);
    const [a] = await pods(["a"]);
    const ip = uniqueLoopback();
    // something else holds ip:9106
    const squatter = createServer();
    await new Promise<void>((r) => squatter.listen(9106, ip, () => r()));
    const sockets = [
      l4Socket("TCP", ip, 9106, [l4Backend(1, "a", [a!])], [], "busy"),
      l4Socket("TCP", ip, 9107, [l4Backend(1, "a", [a!])]),
    ];
    await p.apply(undefined, gatewaySnapshot(sockets));
    await p.apply(undefined, gatewaySnapshot([...sockets]));
    expect(reports).toContainEqual([`${ip}:9106/TCP`, "address already in use by another process"]);
    expect(reports).toContainEqual([`${ip}:9107/TCP`, undefined]);
    expect(log.lines().filter((l) => l.msg.includes(`cannot listen on TCP ${ip}:9106`))).toHaveLength(1);
    expect(log.lines().find((l) => l.msg.includes(`cannot listen on TCP ${ip}:9106`))?.msg).toContain(
      "default/gw/busy",
    );
    expect(p.problems()).toEqual([
      {
        kind: "Gateway",
        namespace: "default",
        name: "gw",
        message: `listener(s) busy: cannot listen on TCP ${ip}:9106: address already in use by another process`,
      },
    ]);
    expect(await firstLine(ip, 9107)).toBe("a");
    // freed: the next snapshot binds it
    await new Promise<void>((r) => squatter.close(() => r()));
    await p.apply(undefined, gatewaySnapshot([...sockets]));
    expect(reports.at(-1)).toEqual([`${ip}:9106/TCP`, undefined]);
    expect(await firstLine(ip, 9106)).toBe("a");
    expect(p.problems()).toEqual([]);
    const metrics = await registry.getSingleMetricAsString("nodeplane_gateway_l4_connections_total");
    expect(metrics).toContain(`socket="${ip}:9107/TCP",protocol="TCP"} 1`);
  }, 30_000);

  it("an address that is not on this node (virtual IPs off) is reported with the reason; a UDP socket's too", async () => {
    const reports: [string, string | undefined][] = [];
    const { plane: p } = await plane(reports);
    const [a] = await pods(["a"]);
    // TEST-NET-1: never local; --vip-interface none adds nothing
    await p.apply(
      undefined,
      gatewaySnapshot([
        l4Socket("TCP", "192.0.2.1", 9110, [l4Backend(1, "a", [a!])]),
        l4Socket("UDP", "192.0.2.1", 9111, [l4Backend(1, "a", [a!])]),
      ]),
    );
    const reason =
      "192.0.2.1 is not an address of this node (virtual IP binding is off or failed; see --vip-interface)";
    // (binds run concurrently: either may report first)
    expect([...reports].sort()).toEqual([
      ["192.0.2.1:9110/TCP", reason],
      ["192.0.2.1:9111/UDP", reason],
    ]);
    expect(p.status().failed).toEqual({ "TCP 192.0.2.1:9110": reason, "UDP 192.0.2.1:9111": reason });
    // the snapshot drops them: forgotten, reported as such
    await p.apply(undefined, gatewaySnapshot([]));
    expect(reports.slice(2).sort()).toEqual([
      ["192.0.2.1:9110/TCP", undefined],
      ["192.0.2.1:9111/UDP", undefined],
    ]);
    expect(p.status().failed).toEqual({});
    expect(p.problems()).toEqual([]);
  });

  it("a Gateway socket on a Service port's address yields to the Service and says so", async () => {
    const reports: [string, string | undefined][] = [];
    const { plane: p } = await plane(reports);
    const [a, s] = await pods(["a", "svc"]);
    const ip = uniqueLoopback();
    await p.apply(
      undefined,
      gatewaySnapshot(
        [l4Socket("TCP", ip, 9108, [l4Backend(1, "a", [a!])])],
        [servicePort("web", [frontend(ip, 9108)], [endpoint(s!.host, s!.port)])],
      ),
    );
    expect(await firstLine(ip, 9108)).toBe("svc");
    expect(reports).toEqual([[`${ip}:9108/TCP`, "already served for Service default/web"]]);
  });
});

describe("Gateway UDP sockets on the service plane", () => {
  it("answers dig through a UDP gateway socket from a scripted DNS backend (conformance UDPRouteSimple)", async () => {
    const { plane: p } = await plane();
    const dns = createSocket("udp4");
    dns.on("message", (msg, rinfo) => {
      // the question back with one A record 10.1.2.3: header flags QR|RD|RA, ANCOUNT 1
      const answer = Buffer.concat([
        msg.subarray(0, 2),
        Buffer.from([0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]),
        msg.subarray(12, msg.length - (msg.readUInt16BE(10) > 0 ? 11 : 0)),
        Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 1, 2, 3]),
      ]);
      dns.send(answer, rinfo.port, rinfo.address);
    });
    await new Promise<void>((r) => dns.bind(0, "127.0.0.1", () => r()));
    cleanup.add(() => new Promise<void>((r) => dns.close(() => r())));
    const ip = uniqueLoopback();
    await p.apply(
      undefined,
      gatewaySnapshot([
        l4Socket("UDP", ip, 9153, [l4Backend(1, "dns", [{ host: "127.0.0.1", port: dns.address().port }])]),
      ]),
    );
    const r = await run("dig", ["+short", "+tries=1", "+timeout=2", "+noedns", "-p", "9153", `@${ip}`, "web.example"]);
    expect(r.stdout.trim()).toBe("10.1.2.3");
  });

  it("spreads flows 70/30/0 (conformance UDPRouteWeightedRouting), one flow per client port", async () => {
    const { plane: p } = await plane();
    const v1 = await udpEchoBackend("127.0.0.1", "v1");
    const v2 = await udpEchoBackend("127.0.0.1", "v2");
    const v3 = await udpEchoBackend("127.0.0.1", "v3");
    for (const b of [v1, v2, v3]) cleanup.add(() => b.close());
    const ip = uniqueLoopback();
    await p.apply(
      undefined,
      gatewaySnapshot([
        l4Socket("UDP", ip, 9154, [l4Backend(70, "v1", [v1]), l4Backend(30, "v2", [v2]), l4Backend(0, "v3", [v3])]),
      ]),
    );
    const answers: string[] = [];
    for (let i = 0; i < 200; i += 20) {
      const round = await Promise.all(
        Array.from(
          { length: 20 },
          () =>
            new Promise<string>((resolve) => {
              const c = createSocket("udp4");
              const timer = setTimeout(() => {
                c.close();
                resolve("none");
              }, 2000);
              c.on("message", (m) => {
                clearTimeout(timer);
                c.close();
                resolve(String(m).split(":")[0]!);
              });
              c.send("hi", 9154, ip);
            }),
        ),
      );
      answers.push(...round);
    }
    withinBinomial(count(answers, "v1"), 200, 0.7);
    withinBinomial(count(answers, "v2"), 200, 0.3);
    expect(v3.peers.size).toBe(0);
  });
});
