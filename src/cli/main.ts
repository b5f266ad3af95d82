import type { RunningApp } from "../app.ts";
import { type Config, formatHostPort } from "../config.ts";
import { createLogger, type Logger } from "../log.ts";
import { FlagError, flagsHelp, parseFlags } from "./flags.ts";

const USAGE = `nodeplane: a node-level Kubernetes data plane (service proxy, ingress, cluster DNS)

usage:
  nodeplane [flags]                     run (cluster mode, or standalone with --manifests DIR)
  nodeplane demo [flags]                the networking lab standalone: examples/lab, no root needed
  nodeplane get KIND [-n NS|-A] [-o wide|json|yaml] [--admin-address ADDR]
                                        list what a running nodeplane serves (services, endpointslices, ingresses,
                                        gatewayclasses, gateways, httproutes, grpcroutes, tlsroutes, tcproutes,
                                        udproutes, referencegrants)
  nodeplane describe KIND NAME [-n NS]  details of one object as nodeplane sees it
  nodeplane convert [FILE|DIR|-]        print Gateway API equivalents (Gateway, HTTPRoutes) of Ingresses
  nodeplane --help | --version

flags:
${flagsHelp()}
`;

/**
 * Subcommands beyond `run`; each module exports `main(argv, run): Promise<number>` returning the exit code.
 * `run` is handed over (the demo runs nodeplane with hooks) so no subcommand imports this module back.
 */
const SUBCOMMANDS: Record<string, () => Promise<{ main: (argv: string[], runApp: typeof run) => Promise<number> }>> = {
  demo: () => import("./demo.ts"),
  get: () => import("./get.ts"),
  describe: () => import("./get.ts").then((m) => ({ main: (argv: string[]) => m.describeMain(argv) })),
  convert: () => import("./convert.ts"),
  // internal: a data-plane worker forked by `nodeplane --workers N` (not listed in the usage)
  worker: () => import("../workers/worker.ts").then((m) => ({ main: () => m.runWorker() })),
};

export async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === "--help" || first === "-h" || first === "help") {
    process.stdout.write(USAGE);
    return 0;
  }
  if (first === "--version" || first === "version") {
    const pkg = await import("../../package.json", { with: { type: "json" } });
    process.stdout.write(`nodeplane ${pkg.default.version}\n`);
    return 0;
  }
  const sub = first ? SUBCOMMANDS[first] : undefined;
  if (sub) return (await sub()).main(rest, run);
  return run(first === "run" ? rest : argv);
}

export interface RunHooks {
  /**
   * Called once nodeplane is ready (first snapshot applied). A function it returns runs at shutdown,
   * before the app stops (the demo stops its echo backends there).
   */
  onReady?: (ready: {
    app: RunningApp;
    config: Config;
    logger: Logger;
  }) => Promise<Cleanup | undefined> | Cleanup | undefined;
}

type Cleanup = () => Promise<void> | void;

/** Runs nodeplane until SIGINT/SIGTERM. */
export async function run(argv: string[], hooks: RunHooks = {}): Promise<number> {
  const config = parseFlags(argv);
  const logger = createLogger(config);
  // Before anything opens a socket (workers, forked later, inherit the limit): docs/service-proxy.md.
  const { raiseFdLimit, processFdBudget } = await import("../util/fd-budget.ts");
  raiseFdLimit(logger);
  const budget = processFdBudget(config);
  logger.info({ budget }, `descriptor budget: ${describeBudget(budget)}`);
  const { startApp } = await import("../app.ts");
  const app = await startApp(config, logger);
  let cleanup: Cleanup | undefined;
  try {
    cleanup = await hooks.onReady?.({ app, config, logger });
  } catch (err) {
    await app.stop();
    throw err;
  }
  logger.info({ admin: formatHostPort(app.admin.address) }, "serving; Ctrl-C to stop");
  const signal = await new Promise<string>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  const deadline = config.stopTimeoutMs;
  logger.info({ signal, deadlineMs: deadline }, "stopping");
  // A second signal while stopping cuts the stop short; so does the deadline (the app's own steps keep
  // to it too: this one also covers the demo's cleanup and anything that ignores it).
  const forced = new Promise<string>((resolve) => {
    const timer = setTimeout(() => resolve(`the stop took longer than ${deadline} ms`), deadline + 1_000);
    timer.unref();
    const again = (s: string) => resolve(`${s} again while stopping`);
    process.once("SIGINT", again);
    process.once("SIGTERM", again);
  });
  const stopped = (async () => {
    try {
      await cleanup?.();
    } catch (err) {
      logger.error({ err }, "cleanup before the stop failed");
    }
    return app.stop();
  })();
  const outcome = await Promise.race([stopped, forced]);
  if (outcome === true) {
    logger.info("stopped");
    return exitSoon(logger, 0);
  }
  const why = typeof outcome === "string" ? outcome : "some part did not stop cleanly in time";
  logger.error({ reason: why }, `stop forced: ${why}; open connections are cut, exit 1`);
  return exitSoon(logger, 1);
}

/**
 * After a stop, whatever is still open (a half-open connection a plane did not track, a timer) must not
 * keep the process alive: exit with `code` once the logs are out, whether or not the event loop drains.
 */
function exitSoon(logger: Logger, code: number): number {
  logger.flush();
  setTimeout(() => process.exit(code), 200).unref();
  return code;
}

function describeBudget(b: import("../util/fd-budget.ts").FdBudget): string {
  return (
    `limit ${b.limit}, reserve ${b.reserve}; service proxy: ${b.listeners} listeners, ${b.udpFlows} UDP flows ` +
    `(${b.udpFlowsPerSource} per client IP, ${b.udpFlowsPerListener} per listener), ${b.tcpConnections} TCP connections ` +
    `(${b.tcpConnectionsPerListener} per listener); ingress: ${b.ingressConnections} connections; DNS: ${b.dnsTcpConnections} TCP connections`
  );
}

/** Entry point: exit 2 with one line for bad flags, 1 for a failed start. */
export async function cli(argv: string[]): Promise<void> {
  try {
    process.exitCode = await main(argv);
  } catch (err) {
    if (err instanceof FlagError) {
      process.stderr.write(`nodeplane: ${err.message}\n`);
      process.exitCode = 2;
      return;
    }
    process.stderr.write(`nodeplane: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
}
