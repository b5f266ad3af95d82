import type { Registry } from "prom-client";
import type { Config } from "../../config.ts";
import type { Logger } from "../../log.ts";
import type { Node } from "../../model/k8s.ts";
import type { Snapshot } from "../../translate/snapshot.ts";
import type { PlaneRole } from "../context.ts";
import type { Plane } from "../plane.ts";
import { HealthCheckServers, HealthzServer } from "./health.ts";
import { ServiceMetrics } from "./metrics.ts";
import {
  diffKeys,
  type ListenerPlan,
  planService,
  portLabel,
  type ServicePlan,
  virtualIPs,
  withoutClientIPAffinity,
} from "./plan.ts";
import { Pool } from "./pool.ts";
import { TcpListener } from "./tcp-listener.ts";
import { UdpListener } from "./udp-listener.ts";
import { type IpRunner, VipManager } from "./vip.ts";

export type ServicePlaneConfig = Pick<
  Config,
  | "vipInterface"
  | "healthzAddress"
  | "tcpIdleTimeoutMs"
  | "udpIdleTimeoutMs"
  | "endpointGracePeriodMs"
  | "dialTimeoutMs"
  | "dialRetries"
>;

export interface ServicePlaneOptions {
  config: ServicePlaneConfig;
  logger: Logger;
  registry: Registry;
  /** this node's Node object, for /healthz nodeEligible */
  node?: () => Node | undefined;
  /** iproute2 runner (tests run it in a namespace) and the VIP state file */
  ip?: IpRunner;
  vipStateFile?: string;
  /**
   * `single` (default) does everything. With workers the plane is split: the `primary` manages the
   * virtual IPs and the health servers (once per node, before any worker listens), each `worker` serves
   * the proxy sockets.
   */
  role?: PlaneRole;
  /** bind proxy sockets with SO_REUSEPORT (workers) */
  reusePort?: boolean;
  /** this process serves ClientIP-affinity ports (default true; with workers, only one of them does) */
  servesAffinity?: boolean;
}

type Listener = TcpListener | UdpListener;

export interface ListenerStatus {
  listening: string[];
  /** key → why it cannot bind */
  failed: Record<string, string>;
}

/**
 * Design §2: the userspace kube-proxy. Each apply plans the sockets the snapshot asks for and diffs
 * them against the running ones: new keys are bound, kept keys get their plan and pool swapped in
 * place (established connections continue), gone keys stop accepting. A key that failed to bind is
 * retried on the next apply and reported once per reason.
 */
export class ServicePlane implements Plane {
  readonly name = "service";
  private readonly options: ServicePlaneOptions;
  private readonly logger: Logger;
  private readonly metrics: ServiceMetrics;
  private readonly vips: VipManager;
  private readonly healthChecks: HealthCheckServers;
  private healthz: HealthzServer | undefined;
  private readonly listeners = new Map<string, Listener>();
  private readonly pools = new Map<string, Pool>();
  private readonly retiring = new Set<Pool>();
  private readonly failures = new Map<string, string>();
  private reportedConflicts = new Set<string>();
  private readonly role: PlaneRole;

  constructor(options: ServicePlaneOptions) {
    this.options = options;
    this.role = options.role ?? "single";
    this.logger = options.logger.child({ plane: "service" });
    this.metrics = new ServiceMetrics(options.registry);
    this.vips = new VipManager({
      link: options.config.vipInterface,
      logger: this.logger,
      ...(options.ip ? { run: options.ip } : {}),
      ...(options.vipStateFile ? { stateFile: options.vipStateFile } : {}),
    });
    this.healthChecks = new HealthCheckServers(this.logger);
  }

  /** Sets up the VIP link (cleaning a crashed run's leftovers) and the /healthz server. */
  async start(): Promise<void> {
    if (this.role === "worker") return;
    await this.vips.start();
    const address = this.options.config.healthzAddress;
    if (address) {
      const healthz = new HealthzServer(this.options.node ?? (() => undefined));
      try {
        await healthz.listen(address);
        this.healthz = healthz;
      } catch (err) {
        this.logger.error(
          { address, reason: (err as Error).message },
          `cannot serve /healthz on ${address.host}:${address.port}: ${(err as Error).message}`,
        );
      }
    }
  }

  get healthzAddress(): ReturnType<HealthzServer["address"]> | undefined {
    return this.healthz?.address();
  }

  get vipLink(): string | undefined {
    return this.vips.activeLink;
  }

  get boundVips(): ReadonlySet<string> {
    return this.vips.addresses;
  }

  status(): ListenerStatus {
    return { listening: [...this.listeners.keys()].sort(), failed: Object.fromEntries(this.failures) };
  }

  /** Open connections/flows per pool id (tests and the dashboard). */
  openConnections(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const pool of [...this.pools.values(), ...this.retiring]) out[pool.id] = (out[pool.id] ?? 0) + pool.openCount;
    return out;
  }

  async apply(_previous: Snapshot | undefined, next: Snapshot): Promise<void> {
    const started = performance.now();
    const plan = planService(next);
    // Conflicts are a property of the snapshot: one process reports them, not every worker.
    if (this.role !== "worker") this.reportConflicts(plan.conflicts);
    const serving =
      this.role === "primary"
        ? undefined
        : this.options.servesAffinity === false
          ? withoutClientIPAffinity(plan)
          : plan;
    const open = serving ? this.reconcileListeners(serving) : [];
    // Addresses go on the link before anything listens on them; with workers the primary does this
    // before it hands the snapshot on.
    if (this.role !== "worker") await this.vips.sync(virtualIPs(next));
    if (serving) await Promise.all(open.map((key) => this.openListener(serving.listeners.get(key)!)));
    if (this.role !== "worker") await this.healthChecks.sync(next.healthChecks, next.node.nodePortAddresses);

    if (this.role !== "primary") {
      this.metrics.listeners.set({ state: "listening" }, this.listeners.size);
      this.metrics.listeners.set({ state: "failed" }, this.failures.size);
    }
    this.metrics.syncDuration.observe((performance.now() - started) / 1000);
    this.metrics.syncLast.set(Date.now() / 1000);
    this.healthz?.markUpdated();
  }

  /** Pools and the listeners that stay or go; returns the keys still to open (after the VIPs are bound). */
  private reconcileListeners(plan: ServicePlan): string[] {
    // Pools first, so listeners can be pointed at them.
    const grace = this.options.config.endpointGracePeriodMs;
    for (const [id, poolPlan] of plan.pools) {
      const pool = this.pools.get(id);
      if (pool) pool.update(poolPlan.endpoints, poolPlan.sessionAffinity);
      else this.pools.set(id, new Pool(poolPlan, this.metrics.acquire(poolPlan.ref), grace));
    }

    const { open, keep, close } = diffKeys(this.listeners.keys(), plan.listeners);
    for (const key of close) {
      this.listeners.get(key)!.close();
      this.listeners.delete(key);
    }
    for (const key of keep) {
      const lp = plan.listeners.get(key)!;
      this.listeners.get(key)!.update(lp, this.pools.get(lp.poolId)!);
    }
    for (const key of this.failures.keys()) if (!plan.listeners.has(key)) this.failures.delete(key);

    // Pools no longer planned keep their connections through the grace period, then go.
    for (const [id, pool] of this.pools) {
      if (plan.pools.has(id)) continue;
      this.pools.delete(id);
      this.retiring.add(pool);
      pool.retire(() => {
        this.retiring.delete(pool);
        pool.metrics.release();
      });
    }
    return open;
  }

  async close(): Promise<void> {
    for (const listener of this.listeners.values()) listener.close();
    this.listeners.clear();
    for (const pool of [...this.pools.values(), ...this.retiring]) pool.closeAll();
    this.pools.clear();
    this.retiring.clear();
    this.healthChecks.close();
    await this.healthz?.close();
    await this.vips.close();
  }

  private async openListener(lp: ListenerPlan): Promise<void> {
    const pool = this.pools.get(lp.poolId)!;
    const { config } = this.options;
    const listener: Listener =
      lp.protocol === "UDP"
        ? new UdpListener(lp, pool, { udpIdleTimeoutMs: config.udpIdleTimeoutMs, reusePort: this.options.reusePort })
        : new TcpListener(lp, pool, {
            dialTimeoutMs: config.dialTimeoutMs,
            dialRetries: config.dialRetries,
            tcpIdleTimeoutMs: config.tcpIdleTimeoutMs,
            reusePort: this.options.reusePort,
          });
    try {
      await listener.listen();
      this.listeners.set(lp.key, listener);
      if (this.failures.delete(lp.key)) this.logger.info({ listener: lp.key }, `now serving ${lp.key}`);
    } catch (err) {
      listener.close();
      const reason = bindFailure(err as NodeJS.ErrnoException, lp);
      if (this.failures.get(lp.key) !== reason) {
        this.logger.error(
          { listener: lp.key, service: portLabel(pool.ref), code: (err as NodeJS.ErrnoException).code },
          `cannot listen on ${lp.key} for ${portLabel(pool.ref)}: ${reason}`,
        );
      }
      this.failures.set(lp.key, reason);
    }
  }

  private reportConflicts(conflicts: string[]): void {
    const now = new Set(conflicts);
    for (const line of now) if (!this.reportedConflicts.has(line)) this.logger.warn(line);
    this.reportedConflicts = now;
  }
}

export function bindFailure(err: NodeJS.ErrnoException, lp: ListenerPlan): string {
  switch (err.code) {
    case "EACCES":
      return lp.port < 1024
        ? `port ${lp.port} is below 1024 and needs root or CAP_NET_BIND_SERVICE`
        : `permission denied (${err.message})`;
    case "EADDRINUSE":
      return "address already in use by another process";
    case "EADDRNOTAVAIL":
      return `${lp.ip} is not an address of this node (virtual IP binding is off or failed; see --vip-interface)`;
    default:
      return err.message;
  }
}
