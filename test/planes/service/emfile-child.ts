/**
 * Runs a service plane in a process of its own for emfile.test.ts, driven by lines on stdin:
 * `fill` opens /dev/null until EMFILE (the process has no descriptor left), `free1` closes one of them,
 * `free` all of them,
 * `metrics` prints the exhaustion and refusal counters. Caps far above the limit, so that EMFILE, not
 * the budget, is what the listeners meet.
 */
import { closeSync, openSync } from "node:fs";
import { createInterface } from "node:readline";
import { Registry } from "prom-client";
import { silentLogger } from "../../../src/log.ts";
import { ServicePlane } from "../../../src/planes/service/plane.ts";
import { planFdBudget } from "../../../src/util/fd-budget.ts";
import { endpoint, frontend, servicePort, snapshot, testConfig } from "./helpers.ts";

const [vip, tcpBackend, udpBackend] = process.argv.slice(2);
const registry = new Registry();
const plane = new ServicePlane({
  config: testConfig,
  logger: silentLogger,
  registry,
  budget: planFdBudget(1_000_000),
});
await plane.start();
await plane.apply(
  undefined,
  snapshot([
    servicePort("t", [frontend(vip!, 80)], [endpoint("127.0.0.1", Number(tcpBackend))]),
    servicePort("u", [frontend(vip!, 53, { protocol: "UDP" })], [endpoint("127.0.0.1", Number(udpBackend))]),
  ]),
);
const held: number[] = [];
const say = (line: string) => process.stdout.write(`${line}\n`);
say("ready");
for await (const line of createInterface({ input: process.stdin })) {
  if (line === "fill") {
    // twice: sockets of connections that were closing the first time are closed by the second
    let code: string | undefined;
    for (let round = 0; round < 2; round++) {
      if (round > 0) await new Promise((r) => setTimeout(r, 300));
      try {
        for (;;) held.push(openSync("/dev/null", "r"));
      } catch (err) {
        code = (err as NodeJS.ErrnoException).code;
      }
    }
    say(`full ${code} ${held.length}`);
  } else if (line === "free1") {
    closeSync(held.pop()!);
    say("freed1");
  } else if (line === "free") {
    for (const fd of held.splice(0)) closeSync(fd);
    say("freed");
  } else if (line === "metrics") {
    const exhaustion = await registry.getSingleMetric("nodeplane_descriptor_exhaustion_total")!.get();
    const refused = await registry.getSingleMetric("nodeplane_service_budget_refused_total")!.get();
    say(`metrics ${JSON.stringify({ exhaustion: exhaustion.values, refused: refused.values })}`);
  } else if (line === "stop") {
    await plane.close();
    process.exit(0);
  }
}
