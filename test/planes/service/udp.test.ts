import { createSocket } from "node:dgram";
import dnsPacket from "dns-packet";
import { afterEach, describe, expect, it } from "vitest";
import {
  Cleanup,
  endpoint,
  eventually,
  frontend,
  run,
  servicePort,
  snapshot,
  startPlane,
  udpEchoBackend,
  uniqueLoopback,
} from "./helpers.ts";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

async function plane(config: Parameters<typeof startPlane>[0] = {}) {
  const started = await startPlane(config);
  cleanup.add(() => started.plane.close());
  return started;
}

/** A client socket that sends one datagram and waits for one answer. */
async function client() {
  const socket = createSocket("udp4");
  await new Promise<void>((r) => socket.bind(0, "127.0.0.1", () => r()));
  cleanup.add(() => new Promise<void>((r) => socket.close(() => r())));
  return {
    ask(host: string, port: number, text: string, timeoutMs = 2_000): Promise<string | undefined> {
      return new Promise((resolve) => {
        const timer = setTimeout(() => {
          socket.off("message", onMessage);
          resolve(undefined);
        }, timeoutMs);
        const onMessage = (msg: Buffer) => {
          clearTimeout(timer);
          resolve(String(msg));
        };
        socket.once("message", onMessage);
        socket.send(text, port, host);
      });
    },
  };
}

const udp = { protocol: "UDP" as const };

describe("service plane over UDP on loopback", () => {
  it("echoes through a ClusterIP, one flow per client, clients spread round-robin", async () => {
    const { plane: p } = await plane();
    const a = await udpEchoBackend("127.0.0.1", "a");
    const b = await udpEchoBackend("127.0.0.1", "b");
    cleanup.add(() => a.close());
    cleanup.add(() => b.close());
    const vip = uniqueLoopback();
    await p.apply(
      undefined,
      snapshot([servicePort("dns", [frontend(vip, 53, udp)], [endpoint(a.host, a.port), endpoint(b.host, b.port)])]),
    );
    const c1 = await client();
    const c2 = await client();
    expect(await c1.ask(vip, 53, "hello")).toBe("a:hello");
    expect(await c2.ask(vip, 53, "hello")).toBe("b:hello");
    // The same client stays on its flow.
    expect(await c1.ask(vip, 53, "again")).toBe("a:again");
    expect(a.peers.size).toBe(1);
    expect(p.openConnections()["default/dns:|cluster|4"]).toBe(2);
  });

  it("forgets idle flows after the UDP idle timeout", async () => {
    const { plane: p } = await plane({ udpIdleTimeoutMs: 150 });
    const a = await udpEchoBackend("127.0.0.1", "a");
    cleanup.add(() => a.close());
    const vip = uniqueLoopback();
    await p.apply(undefined, snapshot([servicePort("dns", [frontend(vip, 53, udp)], [endpoint(a.host, a.port)])]));
    const c = await client();
    expect(await c.ask(vip, 53, "x")).toBe("a:x");
    expect(p.openConnections()["default/dns:|cluster|4"]).toBe(1);
    await eventually(() => p.openConnections()["default/dns:|cluster|4"] === 0, 3_000, "flow expiry");
    expect(await c.ask(vip, 53, "y")).toBe("a:y");
    expect(a.peers.size).toBe(2); // a new upstream socket: a new flow
  });

  it("drops flows to a removed endpoint at once; the next datagram goes to a live one", async () => {
    const { plane: p } = await plane({ endpointGracePeriodMs: 60_000 });
    const a = await udpEchoBackend("127.0.0.1", "a");
    const b = await udpEchoBackend("127.0.0.1", "b");
    cleanup.add(() => a.close());
    cleanup.add(() => b.close());
    const vip = uniqueLoopback();
    const s1 = snapshot([servicePort("dns", [frontend(vip, 53, udp)], [endpoint(a.host, a.port)])]);
    await p.apply(undefined, s1);
    const c = await client();
    expect(await c.ask(vip, 53, "1")).toBe("a:1");
    await p.apply(s1, snapshot([servicePort("dns", [frontend(vip, 53, udp)], [endpoint(b.host, b.port)])]));
    expect(p.openConnections()["default/dns:|cluster|4"]).toBe(0);
    expect(await c.ask(vip, 53, "2")).toBe("b:2");
  });

  it("ignores datagrams on a drop frontend and has no socket for reject", async () => {
    const { plane: p } = await plane();
    const vip = uniqueLoopback();
    await p.apply(
      undefined,
      snapshot([
        servicePort("dropped", [frontend(vip, 53, { ...udp, action: "drop" })], []),
        servicePort("rejected", [frontend(vip, 54, { ...udp, action: "reject" })], []),
      ]),
    );
    expect(p.status().listening).toEqual([`UDP ${vip}:53`]);
    const c = await client();
    expect(await c.ask(vip, 53, "x", 300)).toBeUndefined();
  });

  it("answers a real dig query through a UDP ClusterIP", async () => {
    // A tiny DNS responder: every A question gets 10.1.2.3.
    const responder = createSocket("udp4");
    responder.on("message", (msg, rinfo) => {
      const query = dnsPacket.decode(msg);
      const answer = dnsPacket.encode({
        type: "response",
        id: query.id,
        flags: dnsPacket.AUTHORITATIVE_ANSWER,
        questions: query.questions,
        answers: (query.questions ?? []).map((q) => ({ type: "A", name: q.name, ttl: 30, data: "10.1.2.3" })),
      });
      responder.send(answer, rinfo.port, rinfo.address);
    });
    await new Promise<void>((r) => responder.bind(0, "127.0.0.1", () => r()));
    cleanup.add(() => new Promise<void>((r) => responder.close(() => r())));

    const { plane: p } = await plane();
    const vip = uniqueLoopback();
    await p.apply(
      undefined,
      snapshot([servicePort("kube-dns", [frontend(vip, 53, udp)], [endpoint("127.0.0.1", responder.address().port)])]),
    );
    const r = await run("dig", [
      `@${vip}`,
      "-p",
      "53",
      "+short",
      "+tries=1",
      "+time=3",
      "my-svc.default.svc.cluster.local",
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe("10.1.2.3");
  });
});
