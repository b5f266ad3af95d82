/**
 * `nodeplane demo` (`npm start`): the networking lab of shared/seed, standalone and without root.
 * nodeplane runs on the package's examples/lab manifests with the manifests-mode defaults (service CIDR
 * 127.96.0.0/16, ingress 127.0.0.1:8080/8443, DNS 127.0.0.1:5353, admin 127.0.0.1:10249), plays the pods
 * with built-in echo backends on their 127.244.x.x addresses, and prints the commands to try.
 */
import { existsSync } from "node:fs";
import { isAbsolute, relative } from "node:path";
import { fileURLToPath } from "node:url";
import type { RunningApp } from "../app.ts";
import { type Config, formatHostPort } from "../config.ts";
import { type DemoView, demoCommands } from "../demo/commands.ts";
import { DEMO_POD_CIDR, EchoBackends, echoTargets } from "../demo/echo.ts";
import type { Logger } from "../log.ts";
import { DEFAULT_ADMIN_ADDRESS } from "./get.ts";

/** examples/lab of this package (not of the working directory), for source and compiled runs alike. */
export const LAB_DIR = fileURLToPath(new URL("../../examples/lab/", import.meta.url));

/**
 * The flags the demo starts with; the user's own come after and win. `--vip-interface none`: 127.0.0.0/8
 * is local on Linux, so cluster IPs in 127.96.0.0/16 bind without adding addresses (and without root).
 * `--workers 1`: the lab is for reading what happens, one process keeps its log in one voice.
 */
export function demoArgs(argv: readonly string[], labDir = LAB_DIR): string[] {
  // warn: the printed walk-through stays readable; --log-level info shows every listener and backend
  return [
    "--manifests",
    labDir,
    "--log-format",
    "pretty",
    "--log-level",
    "warn",
    "--vip-interface",
    "none",
    "--workers",
    "1",
    ...argv,
  ];
}

type DemoReady = { app: RunningApp; config: Config; logger: Logger };

/**
 * `run` of cli/main.ts, handed in by its subcommand table rather than imported, so main.ts (which loads this
 * module for `nodeplane demo`) and this module do not import each other.
 */
export type Run = (
  argv: string[],
  hooks: { onReady: (ready: DemoReady) => Promise<() => Promise<void>> },
) => Promise<number>;

export async function main(argv: string[], run: Run): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(
      "usage: nodeplane demo [flags]\n\nRuns the lab of shared/seed standalone (examples/lab, echo backends on 127.244.x.x pods).\n" +
        "Takes every flag of `nodeplane --help`; the demo defaults to --manifests examples/lab --log-format pretty --log-level warn --vip-interface none --workers 1.\n",
    );
    return 0;
  }
  const userManifests = argv.some((a) => a === "--manifests" || a.startsWith("--manifests="));
  if (!userManifests && !existsSync(LAB_DIR)) throw new Error(`the lab manifests are missing: ${LAB_DIR}`);
  return run(demoArgs(argv), { onReady: (ready) => startDemo(ready, (text) => process.stdout.write(text)) });
}

/** A path relative to the working directory when it lies below it (`examples/lab/`), else as given. */
function shortPath(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith("..") && !isAbsolute(rel) ? rel : path;
}

/** What the printed commands are built from: the live snapshot and store, and the listeners' addresses. */
export function demoView(app: RunningApp, config: Config): DemoView {
  const snapshot = app.pipeline.snapshot;
  return {
    services: snapshot?.services ?? [...app.store.list("Service")],
    slices: [...app.store.list("EndpointSlice")],
    ingresses: [...app.store.list("Ingress")],
    gatewayClasses: [...app.store.list("GatewayClass")],
    gateways: [...app.store.list("Gateway")],
    httpRoutes: [...app.store.list("HTTPRoute")],
    gatewayController: config.gatewayController,
    gatewayAddress: config.gatewayAddress,
    nodePortAddress: snapshot?.node.nodePortAddresses[0] ?? "127.0.0.1",
    httpAddress: config.httpAddress,
    httpsAddress: config.httpsAddress,
    dnsAddress: config.dnsAddress,
    clusterDomain: config.clusterDomain,
    adminAddress: app.admin.address,
    adminIsDefault: formatHostPort(app.admin.address) === DEFAULT_ADMIN_ADDRESS,
  };
}

/**
 * Starts the echo backends for the 127.244.x.x endpoints (following every snapshot) and prints the commands
 * to try. Returns the cleanup that stops the backends.
 */
export async function startDemo(
  { app, config, logger }: DemoReady,
  print: (text: string) => void,
): Promise<() => Promise<void>> {
  const backends = new EchoBackends(logger);
  const follow = () => backends.sync(echoTargets(app.store.list("EndpointSlice"), DEMO_POD_CIDR));
  await follow();
  // start and stop pods as the manifests change
  const unsubscribe = app.pipeline.onSnapshot(() => void follow());
  const commands = demoCommands(demoView(app, config));
  const pods = backends.targets().length;
  print(
    `\nnodeplane demo: the lab of shared/seed from ${shortPath(config.manifests ?? "")}; ${pods} echo backend${pods === 1 ? "" : "s"} play the pods.\nTry:\n${commands}\nCtrl-C to stop.\n\n`,
  );
  return async () => {
    unsubscribe();
    await backends.close();
  };
}
