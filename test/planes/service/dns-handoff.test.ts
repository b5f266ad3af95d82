import { createSocket } from "node:dgram";
import { Registry } from "prom-client";
import { afterEach, describe, expect, it } from "vitest";
import { DnsHandoff } from "../../../src/planes/dns-handoff.ts";
import { ServicePlane } from "../../../src/planes/service/plane.ts";
import {
  Cleanup,
  captureLogger,
  endpoint,
  eventually,
  frontend,
  servicePort,
  snapshot,
  testConfig,
  udpEchoBackend,
  uniqueLoopback,
} from "./helpers.ts";

// The service plane's side of node-local DNS (docs/dns.md): a socket the DNS plane holds is left to it,
// and one it gives back is forwarded again. No DNS plane here: the test takes and gives back by hand.
const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/** Whether this process can bind `ip:port` over UDP itself (nobody else holds it). */
function free(ip: string, port: number): Promise<boolean> {
  const socket = createSocket({ type: "udp4" });
  return new Promise((resolve) => {
    socket.once("error", () => resolve(false));
    socket.bind({ address: ip, port, exclusive: true }, () => socket.close(() => resolve(true)));
  });
}

describe("service plane and the DNS hand-over", () => {
  it("leaves held sockets alone, closes one when taken, and forwards it again when given back", async () => {
    const handoff = new DnsHandoff();
    const plane = new ServicePlane({
      config: testConfig,
      logger: captureLogger().logger,
      registry: new Registry(),
      dnsHandoff: handoff,
    });
    await plane.start();
    let closed = false;
    cleanup.add(() => (closed ? undefined : plane.close()));
    const echo = await udpEchoBackend("127.0.0.1", "coredns");
    cleanup.add(() => echo.close());
    const held = uniqueLoopback();
    const taken = uniqueLoopback();
    const port = 20_053;
    const dns = (ip: string) => frontend(ip, port, { protocol: "UDP", nodeLocalDns: true });
    const heldKey = DnsHandoff.key("UDP", held, port);
    const takenKey = DnsHandoff.key("UDP", taken, port);
    handoff.take(heldKey);
    await plane.apply(
      undefined,
      snapshot([servicePort("kube-dns", [dns(held), dns(taken)], [endpoint(echo.host, echo.port)])]),
    );
    // held before the plan: never opened; the other is forwarded as planned
    expect(plane.status().listening).toEqual([takenKey]);
    expect(await free(held, port)).toBe(true);
    handoff.take(takenKey);
    expect(plane.status().listening).toEqual([]);
    expect(await free(taken, port)).toBe(true);
    handoff.giveBack(takenKey);
    await eventually(() => plane.status().listening.includes(takenKey), 3_000, "listener reopened");
    expect(await free(taken, port)).toBe(false);
    expect(plane.status().failed).toEqual({});
    // after the plane stops, a socket given back stays closed
    await plane.close();
    closed = true;
    handoff.giveBack(heldKey);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(plane.status().listening).toEqual([]);
    expect(await free(held, port)).toBe(true);
  });
});
