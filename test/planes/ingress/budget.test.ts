import { connect, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { processFdBudget } from "../../../src/util/fd-budget.ts";
import { rawExchange, startIngress } from "./harness.ts";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

/** An idle client connection, once the server has accepted it (it answered nothing yet). */
function idle(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: "127.0.0.1", port });
    s.on("error", () => undefined);
    s.once("connect", () => resolve(s));
    s.once("close", () => reject(new Error("closed")));
  });
}

describe("ingress client connections and the descriptor budget", () => {
  it("splits --max-ingress-connections over the listeners; connections beyond are closed at accept", async () => {
    // the per-source cap (1 by default at this size: half of a listener's 2) would refuse the second first
    const h = await startIngress([], {
      flags: ["--max-ingress-connections", "4", "--max-ingress-connections-per-source", "10"],
    });
    cleanups.push(() => h.close());
    expect(h.plane.httpListener!.maxConnections).toBe(2);
    expect(h.plane.https!.maxConnections).toBe(2);
    const held = [await idle(h.httpPort), await idle(h.httpPort)];
    cleanups.push(() => {
      for (const s of held) s.destroy();
    });
    // wait until the server counts both
    for (let i = 0; i < 100 && (await connectionCount(h.plane.httpListener!)) < 2; i++)
      await new Promise((r) => setTimeout(r, 10));
    const third = await rawExchange(h.httpPort, ["GET / HTTP/1.1\r\nHost: a.test\r\n\r\n"], { ms: 2_000 });
    expect(third.data).toBe("");
    held.pop()!.destroy();
    for (let i = 0; i < 100 && (await connectionCount(h.plane.httpListener!)) > 1; i++)
      await new Promise((r) => setTimeout(r, 10));
    const fourth = await rawExchange(h.httpPort, ["GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n"]);
    expect(fourth.data).toMatch(/^HTTP\/1\.1 404/);
  });

  it("derives the number from the open-files limit when the flag is 0", async () => {
    const h = await startIngress([], { flags: ["--max-ingress-connections", "0"] });
    cleanups.push(() => h.close());
    expect(h.plane.httpListener!.maxConnections).toBe(Math.floor(processFdBudget({}).ingressConnections / 2));
  });
});

function connectionCount(server: import("node:net").Server): Promise<number> {
  return new Promise((resolve) => server.getConnections((_err, n) => resolve(n)));
}
