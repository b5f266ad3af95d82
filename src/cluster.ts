import { hostname } from "node:os";
import { Gauge, type Registry } from "prom-client";
import type { Config } from "./config.ts";
import { LoadBalancerAllocator } from "./lbipam/controller.ts";
import { type LeaderElectionOptions, LeaderElector } from "./leader/elector.ts";
import type { Logger } from "./log.ts";
import { KubeSource } from "./source/kube/source.ts";
import type { Source } from "./source/source.ts";
import { IngressAddressTracker } from "./status/addresses.ts";
import { KubeStatusWriter } from "./status/kube.ts";
import type { Store } from "./store/store.ts";

/** The DaemonSet's pod label (manifests/base/daemonset.yaml). */
export const NODEPLANE_POD_SELECTOR = "app.kubernetes.io/name=nodeplane";

/** Test hooks: short lease timings and a fixed identity. */
export type LeaderElectionOverrides = Partial<
  Pick<LeaderElectionOptions, "identity" | "leaseDurationMs" | "renewDeadlineMs" | "retryPeriodMs">
>;

export interface ClusterControllers {
  status: KubeStatusWriter;
  elector: LeaderElector | undefined;
  allocator: LoadBalancerAllocator | undefined;
  isLeader(): boolean;
  /** after the first sync: campaign for the lease, then write status while leader */
  start(): void;
  stop(): Promise<void>;
}

/**
 * Cluster mode's writers: leader election on a Lease (`--leader-elect`), the status writer for Ingress
 * and Service `status.loadBalancer`, and `--lb-pool` allocation. Only for the Kubernetes source; it shares
 * that source's API connection. Undefined for any other source.
 *
 * The app's wiring, beside app.ts rather than in status/: it joins status/, leader/ and lbipam/, which
 * otherwise do not import one another (lbipam/ only writes through status/'s StatusWriter interface).
 */
export function clusterControllers(deps: {
  config: Config;
  logger: Logger;
  registry: Registry;
  store: Store;
  source: Source;
  /** what the Ingress ADDRESS shows when set (--publish-address, or specific listener IPs) */
  publishAddresses: readonly string[];
  leaderElection?: LeaderElectionOverrides;
}): ClusterControllers | undefined {
  const { config, logger, registry, store, source } = deps;
  if (!(source instanceof KubeSource)) return undefined;
  const client = source.client;
  const elector = config.leaderElect
    ? new LeaderElector({
        client,
        namespace: config.leaseNamespace,
        name: config.leaseName,
        identity: process.env.POD_NAME || hostname(),
        logger,
        ...deps.leaderElection,
      })
    : undefined;
  const isLeader = () => elector?.isLeader() ?? true;
  // without --publish-address (or listeners on specific IPs), Ingresses show the nodes where a nodeplane
  // pod is ready (leader only)
  const tracker =
    deps.publishAddresses.length === 0
      ? new IngressAddressTracker({
          client,
          namespace: process.env.POD_NAMESPACE || config.leaseNamespace,
          labelSelector: NODEPLANE_POD_SELECTOR,
          logger,
        })
      : undefined;
  const status = new KubeStatusWriter({
    client,
    store,
    logger,
    isLeader,
    registry,
    gatewayController: config.gatewayController,
    ...(tracker ? { ingressAddresses: tracker } : {}),
  });
  const allocator =
    config.lbPool.length > 0
      ? new LoadBalancerAllocator({ store, status, pools: config.lbPool, logger, isLeader })
      : undefined;
  new Gauge({
    name: "nodeplane_leader",
    help: "1 while this instance holds the leader Lease and writes status",
    registers: [registry],
    collect() {
      this.set(isLeader() ? 1 : 0);
    },
  });
  elector?.onChange((leader) => {
    if (leader) tracker?.start();
    else void tracker?.stop();
    status.leadershipChanged(leader);
    allocator?.leadershipChanged(leader);
  });
  return {
    status,
    elector,
    allocator,
    isLeader,
    start() {
      allocator?.start();
      if (elector) elector.start();
      else {
        tracker?.start();
        status.leadershipChanged(true);
      }
    },
    async stop() {
      allocator?.stop();
      await elector?.stop();
      await tracker?.stop();
      await status.close();
    },
  };
}
