/**
 * Runs one service plane from a snapshot file, for the network-namespace node simulation
 * (`ip netns exec NODE node netns-runner.ts SNAPSHOT.json CONFIG.json`). Prints "ready" once the
 * snapshot is applied; SIGHUP re-reads and applies the snapshot; SIGTERM closes the plane (removing
 * its virtual IPs) and exits.
 */
import { readFileSync } from "node:fs";
import { pino } from "pino";
import { Registry } from "prom-client";
import { ServicePlane, type ServicePlaneConfig } from "../../../src/planes/service/plane.ts";
import type { Snapshot } from "../../../src/snapshot/snapshot.ts";

const [snapshotFile, configFile] = process.argv.slice(2);
if (!snapshotFile || !configFile) {
  console.error("usage: netns-runner.ts SNAPSHOT.json CONFIG.json");
  process.exit(2);
}
const { vipStateFile, ...config } = JSON.parse(readFileSync(configFile, "utf8")) as ServicePlaneConfig & {
  vipStateFile?: string;
};
const logger = pino({ level: "info" }, pino.destination(2));
const plane = new ServicePlane({ config, logger, registry: new Registry(), ...(vipStateFile ? { vipStateFile } : {}) });
const read = () => JSON.parse(readFileSync(snapshotFile, "utf8")) as Snapshot;

await plane.start();
let current = read();
await plane.apply(undefined, current);
process.stdout.write(`ready ${JSON.stringify(plane.status())}\n`);

process.on("SIGHUP", () => {
  const next = read();
  void plane.apply(current, next).then(() => {
    current = next;
    process.stdout.write(`applied ${JSON.stringify(plane.status())}\n`);
  });
});
process.on("SIGTERM", () => {
  void plane.close().then(() => process.exit(0));
});
