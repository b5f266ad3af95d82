import { isIP } from "node:net";
import { networkInterfaces } from "node:os";
import { Gauge, type Registry } from "prom-client";
import { type AdminServer, startAdminServer } from "./admin/server.ts";
import type { LeaderElectionOverrides } from "./cluster.ts";
import { type Config, dnsNodeLocal, formatHostPort } from "./config.ts";
import type { Logger } from "./log.ts";
import { createRegistry, snapshotMetrics } from "./metrics.ts";
import { SnapshotPipeline } from "./pipeline.ts";
import type { PlaneContext } from "./planes/context.ts";
import { DnsHandoff } from "./planes/dns-handoff.ts";
import { planeFactories } from "./planes/index.ts";
import { generateDefaultCertificate } from "./planes/ingress/certificates.ts";
import type { Plane } from "./planes/plane.ts";
import { createSource } from "./source/index.ts";
import type { Source } from "./source/source.ts";
import { GatewayStatusReconciler, withBindReports } from "./status/gateway.ts";
import { MemoryStatusWriter, type StatusWriter } from "./status/writer.ts";
import { Store } from "./store/store.ts";
import { Translator } from "./translate/index.ts";
import type { TranslateOptions } from "./translate/options.ts";
import { openFdCount, processFdBudget } from "./util/fd-budget.ts";
import { within } from "./util/within.ts";
import { type Layout, planLayout } from "./workers/layout.ts";
import { AggregatedMetrics, describeWorkers, type MetricsSource } from "./workers/metrics.ts";
import { resolveEphemeralPorts } from "./workers/ports.ts";
import { StatusRelay } from "./workers/status-relay.ts";
import { Supervisor } from "./workers/supervisor.ts";

export interface RunningApp {
  store: Store;
  pipeline: SnapshotPipeline;
  source: Source;
  admin: AdminServer;
  status: StatusWriter;
  /** with `--workers N` (N > 1) or the ingress isolated: the worker processes */
  supervisor?: Supervisor;
  /**
   * Stops everything. Bounded: each step gets what is left of `config.stopTimeoutMs`; a step still going
   * at the deadline is left behind (the caller exits, and the process takes its connections with it).
   * Resolves true after a clean stop, false when something had to be cut.
   */
  stop(): Promise<boolean>;
}

export interface AppOverrides {
  source?: Source;
  status?: StatusWriter;
  withProcessMetrics?: boolean;
  /** cluster mode: lease timings and identity (tests use short ones) */
  leaderElection?: LeaderElectionOverrides;
}

/**
 * Wires source → store → translate → snapshot → planes (docs/architecture.md), plus the admin server.
 * With workers (`planLayout`: `--workers N` with N > 1, or the ingress in processes of its own) this
 * process is the primary: it keeps the source, store, translator, admin server, status writer, leader
 * election and the node-wide part of the planes (virtual IPs), and forks the workers that run the
 * listener planes on the snapshots it hands them (docs/workers.md).
 */
export async function startApp(config: Config, logger: Logger, overrides: AppOverrides = {}): Promise<RunningApp> {
  const registry = createRegistry(overrides.withProcessMetrics ?? true);
  const store = new Store();
  const source = overrides.source ?? (await createSource(config, logger));
  // cluster mode: leader election, status writes to the API server, --lb-pool (docs/cluster.md)
  const cluster =
    source.name === "kubernetes" && !overrides.status
      ? (await import("./cluster.ts")).clusterControllers({
          config,
          logger,
          registry,
          store,
          source,
          publishAddresses: publishAddresses(config),
          ...(overrides.leaderElection ? { leaderElection: overrides.leaderElection } : {}),
        })
      : undefined;
  const status =
    overrides.status ??
    cluster?.status ??
    new MemoryStatusWriter({
      gatewayController: config.gatewayController,
      manifestStatus: (kind, namespace, name) => store.get(kind, namespace ? `${namespace}/${name}` : name)?.status,
    });
  // Gateway API status: the snapshot's, with the planes' bind failures (reported through `planeStatus`)
  const gatewayStatus = new GatewayStatusReconciler(status, logger, config.gatewayController);
  const planeStatus = withBindReports(status, gatewayStatus);
  new Gauge({
    name: "nodeplane_source_healthy",
    help: "1 while the source (API server watch or manifests folder) is in sync, 0 while serving the last snapshot",
    registers: [registry],
    collect() {
      this.set(source.healthy() ? 1 : 0);
    },
  });
  const translator = new Translator(translateOptions(config));
  const pipeline = new SnapshotPipeline(store, translator, {
    maxDelayMs: config.syncDelayMs,
    logger,
    metrics: snapshotMetrics(registry),
  });
  const layout = planLayout(config);
  const supervisor =
    layout.groups.length > 0 ? await createSupervisor(config, layout, logger, registry, planeStatus) : undefined;
  const metrics: MetricsSource = supervisor ? new AggregatedMetrics(registry, supervisor) : registry;
  let ready = false;
  const planes: Plane[] = [];
  const admin = await startAdminServer({
    address: config.adminAddress,
    pipeline,
    registry: metrics,
    source,
    status,
    store,
    logger,
    gatewayController: config.gatewayController,
    // Ready once the first full sync is applied, and it stays so: while the origin is unreachable the last
    // snapshot keeps serving (nodeplane_source_healthy and /api/status say so), as kube-proxy keeps its rules.
    // With workers: and every worker runs and has applied a snapshot.
    ready: () => ready && (supervisor?.ready() ?? true),
    // this process's (with workers: each worker plans the same budget from the same inherited limit)
    descriptors: () => ({ budget: processFdBudget(config), open: openFdCount() }),
    ...(supervisor ? { workers: () => describeWorkers(supervisor), problems: () => supervisor.problems() } : {}),
    // (with workers, the primary's planes hold no listeners: the workers' show in their logs and metrics)
    planeProblems: () => planes.flatMap((plane) => plane.problems?.() ?? []),
  });
  const context: PlaneContext = {
    config,
    logger,
    registry,
    store,
    status: planeStatus,
    role: layout.role,
    dnsHandoff: new DnsHandoff(),
  };
  const ingressPlaneRuns = config.httpAddress !== undefined || config.httpsAddress !== undefined;
  try {
    for (const factory of await planeFactories(layout.planes)) {
      const plane = await factory(context);
      if (!plane) continue;
      pipeline.register(plane);
      planes.push(plane);
    }
    pipeline.onSnapshot((snapshot) => {
      void gatewayStatus.apply(snapshot.gateway);
      // Gateway HTTP/HTTPS sockets are the ingress plane's: with both of its listeners off it does not run, so
      // they are not served, and their listeners must say so rather than show Programmed
      if (!ingressPlaneRuns)
        for (const socket of snapshot.gateway.http) gatewayStatus.reportBind(socket.id, INGRESS_OFF);
    });
    if (supervisor) {
      // Workers get each snapshot once the primary's planes applied it: virtual IPs are bound before
      // any worker listens on them.
      pipeline.onSnapshot((snapshot) => supervisor.broadcast(snapshot));
      await supervisor.start();
    }
    await source.start(store);
    await pipeline.start();
    if (supervisor && !(await supervisor.waitReady(30_000)))
      logger.warn({ workers: supervisor.workers() }, "not every worker applied the first snapshot within 30 s");
    cluster?.start();
  } catch (err) {
    await supervisor?.stop();
    await cluster?.stop();
    await pipeline.stop();
    await source.stop();
    await admin.close();
    throw err;
  }
  ready = true;
  logger.info(
    {
      source: source.name,
      admin: formatHostPort(admin.address),
      workers: Object.fromEntries(layout.groups.map((g) => [g.name, g.count])),
    },
    "nodeplane ready",
  );
  return {
    store,
    pipeline,
    source,
    admin,
    status,
    ...(supervisor ? { supervisor } : {}),
    async stop() {
      ready = false;
      const deadline = Date.now() + config.stopTimeoutMs;
      let clean = true;
      // each step gets what is left of the deadline, and at least a moment: one that overran does not
      // keep the quick ones after it (the admin server) from closing
      const step = async (what: string, work: () => Promise<unknown>) => {
        let result: unknown;
        const finished = await within(
          work().then((r) => {
            result = r;
          }),
          Math.max(deadline - Date.now(), 100),
        );
        if (!finished)
          logger.warn({ step: what, timeoutMs: config.stopTimeoutMs }, `stop: ${what} did not finish in time; cut`);
        // a step that reports its own forced end (a worker that had to cut its connections, or was killed)
        else if (result === false) logger.warn({ step: what }, `stop: ${what} did not stop cleanly`);
        if (!finished || result === false) clean = false;
      };
      // First, so a worker that exits now (a signal to the whole process group) is not restarted; and
      // workers stop listening before the primary's planes remove the addresses they listened on.
      if (supervisor) await step("workers", () => supervisor.stop());
      gatewayStatus.close();
      if (cluster) await step("cluster controllers", () => cluster.stop());
      await step("source", () => source.stop());
      await step("planes", () => pipeline.stop());
      await step("admin server", () => admin.close());
      return clean;
    },
  };
}

async function createSupervisor(
  config: Config,
  layout: Layout,
  logger: Logger,
  registry: Registry,
  status: StatusWriter,
): Promise<Supervisor> {
  // Workers stop within half the stop deadline themselves, are killed at three quarters, so the primary
  // still has time for its own planes (virtual IPs) before the deadline.
  const workerConfig = {
    ...(await resolveEphemeralPorts(config)),
    stopTimeoutMs: Math.floor(config.stopTimeoutMs / 2),
  };
  const runsIngress = layout.groups.some((g) => g.planes.includes("ingress"));
  return new Supervisor({
    groups: layout.groups,
    config: workerConfig,
    logger,
    registry,
    status: new StatusRelay(status),
    stopTimeoutMs: Math.floor((config.stopTimeoutMs * 3) / 4),
    // one self-signed default certificate for every worker (the ingress plane makes one whenever it runs),
    // not one each: the same certificate from every worker, and one RSA key generation per start
    ...(runsIngress ? { defaultCertificate: generateDefaultCertificate() } : {}),
  });
}

/** Why a Gateway HTTP/HTTPS listener is not served when the ingress plane is off (its status message). */
export const INGRESS_OFF =
  "not served: HTTP and HTTPS Gateway listeners run on the ingress plane, which is off (--http-address and --https-address are both empty)";

export function translateOptions(config: Config): TranslateOptions {
  return {
    nodeName: config.nodeName,
    localAddresses: localAddresses(),
    nodePortCIDRs: config.nodePortAddresses,
    clusterDomain: config.clusterDomain,
    ingressClass: config.ingressClass,
    ingressController: config.ingressController,
    gatewayController: config.gatewayController,
    gatewayAddress: config.gatewayAddress,
    publishAddresses: publishAddresses(config),
    dnsPods: config.dnsPods,
    ...(dnsNodeLocal(config)
      ? {
          nodeLocalDns: {
            service: `${config.dnsService.namespace}/${config.dnsService.name}`,
            ...(config.dnsLinkLocal ? { linkLocal: config.dnsLinkLocal } : {}),
          },
        }
      : {}),
  };
}

/**
 * What the Ingress ADDRESS column shows: --publish-address when given; else, when the ingress listeners are
 * bound to specific IPs (manifests mode: 127.0.0.1), those IPs, since nothing else reaches them; else empty,
 * meaning the node's addresses.
 */
export function publishAddresses(config: Pick<Config, "publishAddresses" | "httpAddress" | "httpsAddress">): string[] {
  if (config.publishAddresses.length > 0) return config.publishAddresses;
  const hosts = [config.httpAddress?.host, config.httpsAddress?.host].filter(
    (host): host is string => host !== undefined && isIP(host) !== 0 && host !== "0.0.0.0" && host !== "::",
  );
  return [...new Set(hosts)];
}

function localAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flatMap((list) => list ?? [])
    .filter((a) => !(a.family === "IPv6" && a.scopeid))
    .map((a) => a.address);
}
