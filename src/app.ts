import { isIP } from "node:net";
import { networkInterfaces } from "node:os";
import { Gauge } from "prom-client";
import { type AdminServer, startAdminServer } from "./admin/server.ts";
import { type Config, formatHostPort } from "./config.ts";
import type { Logger } from "./log.ts";
import { createRegistry, snapshotMetrics } from "./metrics.ts";
import { SnapshotPipeline } from "./pipeline.ts";
import type { PlaneContext } from "./planes/context.ts";
import { PLANE_FACTORIES } from "./planes/index.ts";
import { createSource } from "./source/index.ts";
import type { Source } from "./source/source.ts";
import type { LeaderElectionOverrides } from "./status/cluster.ts";
import { MemoryStatusWriter, type StatusWriter } from "./status/writer.ts";
import { Store } from "./store/store.ts";
import { Translator } from "./translate/index.ts";
import type { TranslateOptions } from "./translate/options.ts";

export interface RunningApp {
  store: Store;
  pipeline: SnapshotPipeline;
  source: Source;
  admin: AdminServer;
  status: StatusWriter;
  stop(): Promise<void>;
}

export interface AppOverrides {
  source?: Source;
  status?: StatusWriter;
  withProcessMetrics?: boolean;
  /** cluster mode: lease timings and identity (tests use short ones) */
  leaderElection?: LeaderElectionOverrides;
}

/** Wires design §1: source → store → translate → snapshot → planes, plus the admin server. */
export async function startApp(config: Config, logger: Logger, overrides: AppOverrides = {}): Promise<RunningApp> {
  const registry = createRegistry(overrides.withProcessMetrics ?? true);
  const store = new Store();
  const source = overrides.source ?? (await createSource(config, logger));
  // cluster mode: leader election, status writes to the API server, --lb-pool (docs/cluster.md)
  const cluster =
    source.name === "kubernetes" && !overrides.status
      ? (await import("./status/cluster.ts")).clusterControllers({
          config,
          logger,
          registry,
          store,
          source,
          publishAddresses: publishAddresses(config),
          ...(overrides.leaderElection ? { leaderElection: overrides.leaderElection } : {}),
        })
      : undefined;
  const status = overrides.status ?? cluster?.status ?? new MemoryStatusWriter();
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
  let ready = false;
  const admin = await startAdminServer({
    address: config.adminAddress,
    pipeline,
    registry,
    source,
    status,
    store,
    logger,
    // Ready once the first full sync is applied, and it stays so: while the origin is unreachable the last
    // snapshot keeps serving (nodeplane_source_healthy and /api/status say so), as kube-proxy keeps its rules.
    ready: () => ready,
  });
  const context: PlaneContext = { config, logger, registry, store, status };
  try {
    for (const factory of PLANE_FACTORIES) {
      const plane = await factory(context);
      if (plane) pipeline.register(plane);
    }
    await source.start(store);
    await pipeline.start();
    cluster?.start();
  } catch (err) {
    await cluster?.stop();
    await pipeline.stop();
    await source.stop();
    await admin.close();
    throw err;
  }
  ready = true;
  logger.info({ source: source.name, admin: formatHostPort(admin.address) }, "nodeplane ready");
  return {
    store,
    pipeline,
    source,
    admin,
    status,
    async stop() {
      ready = false;
      await cluster?.stop();
      await source.stop();
      await pipeline.stop();
      await admin.close();
    },
  };
}

export function translateOptions(config: Config): TranslateOptions {
  return {
    nodeName: config.nodeName,
    localAddresses: localAddresses(),
    nodePortCIDRs: config.nodePortAddresses,
    clusterDomain: config.clusterDomain,
    ingressClass: config.ingressClass,
    ingressController: config.ingressController,
    publishAddresses: publishAddresses(config),
    dnsPods: config.dnsPods,
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
