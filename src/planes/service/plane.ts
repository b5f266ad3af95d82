import type { Registry } from "prom-client";
import type { Config } from "../../config.ts";
import type { Logger } from "../../log.ts";
import type { Node } from "../../model/k8s.ts";
import type { Problem } from "../../model/problems.ts";
import type { GatewayHttpSocket, GatewayL4Socket } from "../../snapshot/gateway.ts";
import type { Snapshot } from "../../snapshot/snapshot.ts";
import type { StatusWriter } from "../../status/writer.ts";
import { type FdBudget, processFdBudget } from "../../util/fd-budget.ts";
import type { PlaneFactory, PlaneRole } from "../context.ts";
import type { DnsHandoff } from "../dns-handoff.ts";
import type { Plane } from "../plane.ts";
import { type RefusalCounters, refusalCounters, SharedCount, UdpFlowLimits } from "./fd-guard.ts";
import { type GatewayPlan, gatewayVips, planGateway, samePool } from "./gateway-plan.ts";
import { HealthCheckServers, HealthzServer } from "./health.ts";
import { ServiceMetrics } from "./metrics.ts";
import { type ListenerPlan, type PoolPlan, portLabel } from "./plan.ts";
import { type PlanDelta, ServicePlanner } from "./planner.ts";
import { Pool } from "./pool.ts";
import { TcpListener } from "./tcp-listener.ts";
import { UdpListener } from "./udp-listener.ts";
import { type IpRunner, isLoopback, VipManager } from "./vip.ts";

export type ServicePlaneConfig = Pick<
  Config,
  | "vipInterface"
  | "healthzAddress"
  | "tcpIdleTimeoutMs"
  | "udpIdleTimeoutMs"
  | "endpointGracePeriodMs"
  | "dialTimeoutMs"
  | "dialRetries"
> &
  Partial<Pick<Config, "maxUdpFlows" | "maxUdpFlowsPerSource" | "maxTcpConnections" | "tlsHandshakeTimeoutMs">>;

/** TLS passthrough: most bytes buffered while waiting for a complete ClientHello (post-quantum key shares make 2 KiB hellos common) */
export const MAX_CLIENT_HELLO = 32 * 1024;
/** The Gateway socket retry timer's first wait after a bind failure, doubled per failing attempt up to the max. */
const GATEWAY_RETRY_MIN_MS = 1_000;
const GATEWAY_RETRY_MAX_MS = 30_000;

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
  /** the descriptor budget (default: this process's, from its open-files limit and the config's caps) */
  budget?: FdBudget;
  /** told whether each Gateway socket could be bound (docs/gateway.md) */
  status?: Pick<StatusWriter, "reportGatewayBind">;
  /** node-local DNS: the sockets this process's DNS plane holds are left to it (docs/dns.md) */
  dnsHandoff?: DnsHandoff;
}

type Listener = TcpListener | UdpListener;

export interface ListenerStatus {
  listening: string[];
  /** key → why it cannot bind */
  failed: Record<string, string>;
}

/**
 * The userspace kube-proxy (docs/service-proxy.md). Each apply plans the sockets the snapshot asks for and diffs
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
  private readonly planner: ServicePlanner;
  /** some wanted VIP is not on the link yet: sync again on the next apply */
  private vipsPending = false;
  /** the running state is not known to match the planner's (first apply, or the last one threw) */
  private resync = true;
  private readonly role: PlaneRole;
  /** the descriptor budget's caps, enforced by the listeners (fd-guard.ts) */
  readonly budget: FdBudget;
  private readonly udpLimits: UdpFlowLimits;
  private readonly tcpShared: SharedCount;
  private readonly udpRefused: RefusalCounters;
  private readonly tcpRefused: RefusalCounters;
  /** listeners being bound now (they count against the listener budget before they are listening) */
  private opening = 0;
  /** keys not bound because the listener budget is used up (reported as one line, not one per port) */
  private readonly overBudget = new Set<string>();
  private reportedOverBudget = 0;
  /** close() began: no listener is opened again (the hand-over, the Gateway retry timer) */
  private closed = false;
  /** keys whose listener is being bound now */
  private readonly binding = new Set<string>();

  // Gateway TCP/UDP/TLS sockets (snapshot.gateway.l4), planned by gateway-plan.ts and served by the
  // same listeners and pools, kept apart from the Service ports' so either's reconcile leaves the
  // other alone. A Gateway socket on a key a Service port holds yields (reported as a bind failure).
  private gwPlan: GatewayPlan = planGateway([]);
  private lastL4: readonly GatewayL4Socket[] | undefined;
  private lastHttp: readonly GatewayHttpSocket[] | undefined;
  private readonly gwListeners = new Map<string, Listener>();
  private readonly gwPools = new Map<string, Pool>();
  private gwPoolPlans = new Map<string, PoolPlan>();
  private readonly gwFailures = new Map<string, string>();
  /** keys being bound now, by an apply or the retry timer: never two binds at once for one key */
  private readonly gwOpening = new Set<string>();
  /** while a Gateway socket cannot be bound: the next attempt without waiting for a snapshot (a freed port) */
  private gwRetryTimer: NodeJS.Timeout | undefined;
  private gwRetryMs = GATEWAY_RETRY_MIN_MS;
  /** what was last told to reportGatewayBind, per socket id */
  private readonly gwReported = new Map<string, string | undefined>();
  constructor(options: ServicePlaneOptions) {
    this.options = options;
    this.role = options.role ?? "single";
    // With workers, one of them serves the ClientIP-affinity ports alone (docs/workers.md).
    this.planner = new ServicePlanner({ clientIPAffinity: options.servesAffinity !== false });
    this.logger = options.logger.child({ plane: "service" });
    this.metrics = new ServiceMetrics(options.registry);
    const { config } = options;
    this.budget =
      options.budget ??
      processFdBudget({
        maxUdpFlows: config.maxUdpFlows,
        maxUdpFlowsPerSource: config.maxUdpFlowsPerSource,
        maxTcpConnections: config.maxTcpConnections,
      });
    this.udpLimits = new UdpFlowLimits(this.budget.udpFlows, this.budget.udpFlowsPerSource);
    this.tcpShared = new SharedCount(this.budget.tcpConnections);
    this.udpRefused = refusalCounters(this.metrics.budgetRefused, "UDP");
    this.tcpRefused = refusalCounters(this.metrics.budgetRefused, "TCP");
    this.vips = new VipManager({
      link: options.config.vipInterface,
      logger: this.logger,
      ...(options.ip ? { run: options.ip } : {}),
      ...(options.vipStateFile ? { stateFile: options.vipStateFile } : {}),
    });
    this.healthChecks = new HealthCheckServers(this.logger);
    if (this.role !== "primary")
      options.dnsHandoff?.attach({ yield: (key) => this.yieldToDns(key), resume: (key) => this.resumeAfterDns(key) });
  }

  /** Node-local DNS: the DNS plane binds `key` now; its forwarding listener (if open) goes. */
  private yieldToDns(key: string): void {
    const listener = this.listeners.get(key);
    if (listener) {
      listener.close();
      this.listeners.delete(key);
      this.logger.info({ listener: key }, `${key} is answered by the DNS plane (node-local DNS)`);
    }
    this.failures.delete(key);
    this.overBudget.delete(key);
  }

  /** Node-local DNS: the DNS plane gave `key` back (could not bind it, or stopped): forward it as planned. */
  private resumeAfterDns(key: string): void {
    const lp = this.closed ? undefined : this.planner.listeners.get(key);
    if (!lp || this.listeners.has(key) || this.binding.has(key)) return;
    this.logger.warn(
      { listener: key },
      `${key} is forwarded to the DNS Service's endpoints again (node-local DNS off)`,
    );
    this.openListener(lp).catch((err: unknown) => this.logger.error({ err, listener: key }, "cannot reopen"));
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
    return {
      listening: [...this.listeners.keys(), ...this.gwListeners.keys()].sort(),
      failed: Object.fromEntries([...this.failures, ...this.gwFailures]),
    };
  }

  /** What the budget holds now: UDP flows (total, client IPs) and TCP connections of this process. */
  budgetUse(): { udpFlows: number; udpSources: number; tcpConnections: number; listeners: number } {
    return {
      udpFlows: this.udpLimits.total,
      udpSources: this.udpLimits.sources(),
      tcpConnections: this.tcpShared.open,
      listeners: this.listeners.size + this.gwListeners.size,
    };
  }

  /** Service ports this process does not serve, one problem per Service (for /api/problems). */
  problems(): Problem[] {
    const byService = new Map<string, { problem: Problem; keys: string[]; reasons: Set<string> }>();
    for (const [key, reason] of this.failures) {
      const lp = this.planner.listeners.get(key);
      const ref = lp ? this.pools.get(lp.poolId)?.ref : undefined;
      const id = ref ? `${ref.namespace}/${ref.name}` : key;
      let entry = byService.get(id);
      if (!entry) {
        const problem: Problem = ref
          ? { kind: "Service", namespace: ref.namespace, name: ref.name, message: "" }
          : { kind: "Service", name: key, message: "" };
        entry = { problem, keys: [], reasons: new Set() };
        byService.set(id, entry);
      }
      entry.keys.push(key);
      entry.reasons.add(reason);
    }
    const services = [...byService.values()].map(({ problem, keys, reasons }) => {
      const some = `${keys.slice(0, 3).join(", ")}${keys.length > 3 ? ", …" : ""}`;
      return { ...problem, message: `${keys.length} port(s) not bound (${some}): ${[...reasons].join("; ")}` };
    });
    return [...services, ...this.gatewayProblems()];
  }

  /** Gateway sockets not bound here: one problem per Gateway, naming its listeners. */
  private gatewayProblems(): Problem[] {
    const byGateway = new Map<string, { namespace: string; name: string; lines: string[] }>();
    for (const [key, reason] of this.gwFailures) {
      const socket = this.gwPlan.sockets.get(key);
      if (!socket) continue;
      const perGateway = new Map<string, string[]>();
      for (const l of socket.listeners) {
        const id = `${l.namespace}/${l.gateway}`;
        perGateway.set(id, [...(perGateway.get(id) ?? []), l.listener]);
      }
      for (const [id, names] of perGateway) {
        const [namespace, name] = id.split("/") as [string, string];
        let entry = byGateway.get(id);
        if (!entry) {
          entry = { namespace, name, lines: [] };
          byGateway.set(id, entry);
        }
        entry.lines.push(
          `listener(s) ${names.join(", ")}: cannot listen on ${socket.protocol} ${key.slice(4)}: ${reason}`,
        );
      }
    }
    return [...byGateway.values()].map(({ namespace, name, lines }) => ({
      kind: "Gateway",
      namespace,
      name,
      message: lines.join("; "),
    }));
  }

  /** Open connections/flows per pool id (tests and the dashboard). */
  openConnections(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const pool of [...this.pools.values(), ...this.gwPools.values(), ...this.retiring])
      out[pool.id] = (out[pool.id] ?? 0) + pool.openCount;
    return out;
  }

  async apply(_previous: Snapshot | undefined, next: Snapshot): Promise<void> {
    const started = performance.now();
    // Only the ports that are new objects (or gone) since the last apply are planned again.
    const changes = this.planner.update(next.servicePorts);
    // After an apply that did not finish, the running state may lag the plan: compare all of it once.
    const delta = this.resync ? this.wholeDelta(changes) : changes;
    this.resync = true;
    // Conflicts are a property of the snapshot: one process reports them, not every worker.
    if (this.role !== "worker") this.reportConflicts(delta.conflicts);
    const serving = this.role !== "primary";
    if (serving) this.reconcileListeners(delta);
    // A Service port's new socket takes its key from a Gateway socket holding it (that one is then
    // reported as not bound, below).
    if (serving && this.gwListeners.size > 0) for (const lp of delta.listeners.open) this.yieldGatewaySocket(lp.key);
    let gatewayVipsChanged = false;
    if (next.gateway.l4 !== this.lastL4 || next.gateway.http !== this.lastHttp) {
      const before = this.gwPlan.vips;
      const l4Changed = next.gateway.l4 !== this.lastL4;
      if (l4Changed) this.gwPlan = planGateway(next.gateway.l4);
      // The ingress plane serves the HTTP and HTTPS sockets, but addresses are node-wide work, done here: a
      // Gateway's spec.addresses that are not local go on the link like its TCP/UDP sockets' do.
      const vips = gatewayVips([...next.gateway.l4, ...next.gateway.http]);
      gatewayVipsChanged = before.size !== vips.size || [...before].some((ip) => !vips.has(ip));
      this.gwPlan.vips = vips;
      if (serving && l4Changed) this.reconcileGateway();
      // (after the reconcile: one that threw is done again on the next apply)
      this.lastL4 = next.gateway.l4;
      this.lastHttp = next.gateway.http;
    }
    // Addresses go on the link before anything listens on them; with workers the primary does this
    // before it hands the snapshot on.
    if (this.role !== "worker" && (delta.vipsChanged || gatewayVipsChanged || this.vipsPending)) {
      // Gateway addresses that are not local are added like load-balancer IPs.
      const wanted = new Set([...this.planner.vips.keys(), ...this.gwPlan.vips]);
      await this.vips.sync(wanted);
      // An address that is not ours yet (could not be added, or already local) is looked at again on the next apply.
      const held = this.vips.addresses;
      this.vipsPending =
        this.vips.activeLink !== undefined && [...wanted].some((ip) => !held.has(ip) && !isLoopback(ip));
    }
    if (serving) {
      // New sockets, and every planned one that failed to bind before (retried on each apply).
      const planned = this.planner.listeners;
      const open = new Map(delta.listeners.open.map((lp) => [lp.key, lp]));
      for (const key of this.failures.keys()) if (!this.listeners.has(key)) open.set(key, planned.get(key)!);
      await Promise.all([...open.values()].map((lp) => this.openListener(lp)));
      await this.openGatewayListeners();
      this.reportOverBudget();
    }
    if (this.role !== "worker") await this.healthChecks.sync(next.healthChecks, next.node.nodePortAddresses);

    if (this.role !== "primary") {
      this.metrics.listeners.set({ state: "listening" }, this.listeners.size + this.gwListeners.size);
      this.metrics.listeners.set({ state: "failed" }, this.failures.size + this.gwFailures.size);
    }
    this.metrics.syncDuration.observe((performance.now() - started) / 1000);
    this.metrics.syncLast.set(Date.now() / 1000);
    this.healthz?.markUpdated();
    this.resync = false;
  }

  /** Pools, and the listeners that are updated or go (new ones are opened after the VIPs are bound). */
  private reconcileListeners(delta: PlanDelta): void {
    // Pools first, so listeners can be pointed at them.
    const grace = this.options.config.endpointGracePeriodMs;
    for (const poolPlan of delta.pools.added)
      this.pools.set(poolPlan.id, new Pool(poolPlan, this.metrics.acquire(poolPlan.ref), grace));
    for (const poolPlan of delta.pools.updated)
      this.pools.get(poolPlan.id)!.update(poolPlan.endpoints, poolPlan.sessionAffinity);

    for (const key of delta.listeners.close) {
      this.listeners.get(key)?.close();
      this.listeners.delete(key);
    }
    for (const lp of delta.listeners.update) this.listeners.get(lp.key)?.update(lp, this.pools.get(lp.poolId)!);
    for (const key of this.failures.keys()) if (!this.planner.listeners.has(key)) this.failures.delete(key);

    // Pools no longer planned keep their connections through the grace period, then go.
    for (const id of delta.pools.removed) {
      const pool = this.pools.get(id)!;
      this.pools.delete(id);
      this.retiring.add(pool);
      pool.retire(() => {
        this.retiring.delete(pool);
        pool.metrics.release();
      });
    }
  }

  /** The whole plan against what is running, as one delta (the first apply, or after one that failed). */
  private wholeDelta(changes: PlanDelta): PlanDelta {
    const pools = [...this.planner.pools.values()];
    const listeners = [...this.planner.listeners.values()];
    return {
      pools: {
        added: pools.filter((p) => !this.pools.has(p.id)),
        updated: pools.filter((p) => this.pools.has(p.id)),
        removed: [...this.pools.keys()].filter((id) => !this.planner.pools.has(id)),
      },
      listeners: {
        open: listeners.filter((lp) => !this.listeners.has(lp.key)),
        update: listeners.filter((lp) => this.listeners.has(lp.key)),
        close: [...this.listeners.keys()].filter((key) => !this.planner.listeners.has(key)),
      },
      conflicts: changes.conflicts,
      vipsChanged: true,
    };
  }

  /**
   * Gateway pools and the listeners that are updated or go, against the new gateway plan (a handful
   * of sockets: compared whole). Kept keys keep their sockets and connections; a pool whose endpoints
   * or weights changed is updated in place, so a connection whose endpoint is still there stays.
   */
  private reconcileGateway(): void {
    const plan = this.gwPlan;
    const grace = this.options.config.endpointGracePeriodMs;
    const protocols = new Map([...plan.sockets.values()].map((socket) => [socket.id, socket.protocol]));
    for (const [id, poolPlan] of plan.pools) {
      const running = this.gwPools.get(id);
      if (!running) {
        // a gateway pool's ref names its socket (gateway-plan.ts)
        const socketId = poolPlan.ref.name;
        const protocol = protocols.get(socketId) ?? poolPlan.ref.protocol;
        this.gwPools.set(id, new Pool(poolPlan, this.metrics.acquireGateway(socketId, protocol), grace));
        continue;
      }
      const before = this.gwPoolPlans.get(id);
      if (!before || !samePool(before, poolPlan))
        running.update(poolPlan.endpoints, poolPlan.sessionAffinity, poolPlan.weights, poolPlan.refusedWeight);
    }
    this.gwPoolPlans = new Map(plan.pools);
    for (const [key, listener] of this.gwListeners) {
      const lp = plan.listeners.get(key);
      const previous = this.gwSocketOf(listener);
      // Same key, other protocol (TCP ↔ TLS) or moved to another socket id: keep the socket, new plan.
      if (lp && !this.planner.listeners.has(key)) {
        listener.update(lp, this.gwPools.get(lp.poolId)!);
        this.gwSocketIds.set(listener, lp.gateway!.socketId);
        if (previous !== undefined && previous !== lp.gateway!.socketId) this.reportBind(previous, undefined, true);
        this.reportBind(lp.gateway!.socketId, undefined);
        continue;
      }
      listener.close();
      this.gwListeners.delete(key);
      if (previous !== undefined) this.reportBind(previous, undefined, true);
    }
    for (const key of [...this.gwFailures.keys()]) {
      if (plan.listeners.has(key)) continue;
      this.gwFailures.delete(key);
    }
    const ids = new Set([...plan.sockets.values()].map((socket) => socket.id));
    for (const id of plan.duplicates.keys()) ids.add(id);
    for (const id of [...this.gwReported.keys()]) if (!ids.has(id)) this.reportBind(id, undefined, true);
    for (const [id, pool] of [...this.gwPools]) {
      if (plan.pools.has(id)) continue;
      this.gwPools.delete(id);
      this.retiring.add(pool);
      pool.retire(() => {
        this.retiring.delete(pool);
        pool.metrics.release();
      });
    }
  }

  private readonly gwSocketIds = new WeakMap<Listener, string>();

  private yieldGatewaySocket(key: string): void {
    const listener = this.gwListeners.get(key);
    if (!listener) return;
    listener.close();
    this.gwListeners.delete(key);
  }

  private gwSocketOf(listener: Listener): string | undefined {
    return this.gwSocketIds.get(listener);
  }

  /** Opens the gateway sockets not listening yet (new ones and those that failed before). */
  private async openGatewayListeners(): Promise<void> {
    const plan = this.gwPlan;
    for (const [id, holder] of plan.duplicates) {
      const reason = `another Gateway socket (${holder}) already listens on this address and port`;
      if (this.reportBind(id, reason)) this.logger.warn({ gateway: id, holder }, `cannot listen for ${id}: ${reason}`);
    }
    const opening: Promise<void>[] = [];
    for (const [key, lp] of plan.listeners) {
      if (this.gwListeners.has(key) || this.gwOpening.has(key)) continue;
      const socketId = lp.gateway!.socketId;
      const owner = this.planner.listeners.get(key);
      if (owner) {
        const ref = this.pools.get(owner.poolId)?.ref;
        this.gatewayBindFailed(key, socketId, `already served for Service ${ref ? portLabel(ref) : key}`, undefined);
        continue;
      }
      opening.push(this.openGatewayListener(lp, socketId));
    }
    await Promise.all(opening);
  }

  private async openGatewayListener(lp: ListenerPlan, socketId: string): Promise<void> {
    if (this.listeners.size + this.gwListeners.size + this.opening >= this.budget.listeners) {
      const reason = `the service proxy's ${this.budget.listeners} listening sockets (descriptor budget) are in use`;
      this.gatewayBindFailed(lp.key, socketId, reason, undefined);
      return;
    }
    const listener = this.newListener(lp, this.gwPools.get(lp.poolId)!);
    this.opening++;
    this.gwOpening.add(lp.key);
    try {
      await listener.listen();
      // the plan may have moved on while this bound
      if (this.gwPlan.listeners.get(lp.key)?.gateway?.socketId !== socketId || this.gwListeners.has(lp.key)) {
        listener.close();
        return;
      }
      this.gwListeners.set(lp.key, listener);
      this.gwSocketIds.set(listener, socketId);
      if (this.gwFailures.delete(lp.key))
        this.logger.info({ listener: lp.key, gateway: socketId }, `now serving ${lp.key}`);
      this.reportBind(socketId, undefined);
    } catch (err) {
      listener.close();
      this.gatewayBindFailed(
        lp.key,
        socketId,
        bindFailure(err as NodeJS.ErrnoException, lp),
        err as NodeJS.ErrnoException,
      );
      this.retryGatewayLater();
    } finally {
      this.opening--;
      this.gwOpening.delete(lp.key);
    }
  }

  /** Opens the Gateway sockets that failed to bind again after a while, backing off up to the max. */
  private retryGatewayLater(): void {
    if (this.gwRetryTimer !== undefined || this.closed) return;
    this.gwRetryTimer = setTimeout(() => {
      this.gwRetryTimer = undefined;
      if (this.closed) return;
      this.openGatewayListeners().then(
        () => {
          if (this.gwFailures.size === 0) this.gwRetryMs = GATEWAY_RETRY_MIN_MS;
        },
        (err: unknown) => this.logger.warn({ err }, "retrying the Gateway sockets failed"),
      );
    }, this.gwRetryMs);
    this.gwRetryTimer.unref();
    this.gwRetryMs = Math.min(this.gwRetryMs * 2, GATEWAY_RETRY_MAX_MS);
  }

  /** Logged once per reason, reported to the status writer, retried on the next apply. */
  private gatewayBindFailed(
    key: string,
    socketId: string,
    reason: string,
    err: NodeJS.ErrnoException | undefined,
  ): void {
    if (this.gwFailures.get(key) !== reason) {
      const socket = this.gwPlan.sockets.get(key);
      const listeners = socket?.listeners.map((l) => `${l.namespace}/${l.gateway}/${l.listener}`) ?? [];
      this.logger.error(
        { listener: key, gateway: socketId, listeners, ...(err?.code ? { code: err.code } : {}) },
        `cannot listen on ${key} for Gateway listener(s) ${listeners.join(", ")}: ${reason}`,
      );
    }
    this.gwFailures.set(key, reason);
    this.reportBind(socketId, reason);
    if (err?.code === "EMFILE" || err?.code === "ENFILE") this.exhausted(key, 0);
  }

  /** Tells the status writer when a socket's bind result changes (`forget`: the socket is gone). */
  private reportBind(socketId: string, error: string | undefined, forget = false): boolean {
    const known = this.gwReported.has(socketId);
    if (known && this.gwReported.get(socketId) === error && !forget) return false;
    if (forget) {
      if (!known) return false;
      this.gwReported.delete(socketId);
    } else this.gwReported.set(socketId, error);
    this.options.status?.reportGatewayBind?.(socketId, error);
    return true;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.gwRetryTimer);
    for (const listener of [...this.listeners.values(), ...this.gwListeners.values()]) listener.close();
    this.listeners.clear();
    this.gwListeners.clear();
    for (const pool of [...this.pools.values(), ...this.gwPools.values(), ...this.retiring]) pool.closeAll();
    this.pools.clear();
    this.gwPools.clear();
    this.retiring.clear();
    this.healthChecks.close();
    await this.healthz?.close();
    await this.vips.close();
  }

  private async openListener(lp: ListenerPlan): Promise<void> {
    const handoff = this.options.dnsHandoff;
    if (handoff?.holds(lp.key)) return;
    const pool = this.pools.get(lp.poolId)!;
    // Each listening socket is a descriptor: past the budget's share, the port is reported, not bound
    // (a Service with 10,000 ports must not take the descriptors of the other planes).
    if (this.listeners.size + this.gwListeners.size + this.opening >= this.budget.listeners) {
      this.failures.set(
        lp.key,
        `the service proxy's ${this.budget.listeners} listening sockets (descriptor budget) are in use`,
      );
      this.overBudget.add(lp.key);
      return;
    }
    this.overBudget.delete(lp.key);
    const listener = this.newListener(lp, pool);
    this.opening++;
    this.binding.add(lp.key);
    try {
      await listener.listen();
      // the DNS plane may have taken the key while this bound, or the plane stopped
      if (handoff?.holds(lp.key) || this.closed || this.listeners.has(lp.key)) {
        listener.close();
        return;
      }
      this.listeners.set(lp.key, listener);
      if (this.failures.delete(lp.key)) this.logger.info({ listener: lp.key }, `now serving ${lp.key}`);
    } catch (err) {
      listener.close();
      // the DNS plane took the key meanwhile: not a failure of this plane
      if (handoff?.holds(lp.key)) return;
      const reason = bindFailure(err as NodeJS.ErrnoException, lp);
      if (this.failures.get(lp.key) !== reason) {
        this.logger.error(
          { listener: lp.key, service: portLabel(pool.ref), code: (err as NodeJS.ErrnoException).code },
          `cannot listen on ${lp.key} for ${portLabel(pool.ref)}: ${reason}`,
        );
      }
      this.failures.set(lp.key, reason);
      if ((err as NodeJS.ErrnoException).code === "EMFILE" || (err as NodeJS.ErrnoException).code === "ENFILE")
        this.exhausted(lp.key, 0);
    } finally {
      this.opening--;
      this.binding.delete(lp.key);
    }
  }

  private newListener(lp: ListenerPlan, pool: Pool): Listener {
    const { config } = this.options;
    const onExhausted = (pauseMs: number) => this.exhausted(lp.key, pauseMs);
    const tls = lp.gateway?.sni
      ? {
          hello: { maxBytes: MAX_CLIENT_HELLO, timeoutMs: config.tlsHandshakeTimeoutMs ?? 10_000 },
          pools: (id: string) => this.gwPools.get(id),
        }
      : undefined;
    return lp.protocol === "UDP"
      ? new UdpListener(lp, pool, {
          udpIdleTimeoutMs: config.udpIdleTimeoutMs,
          reusePort: this.options.reusePort,
          maxFlows: this.budget.udpFlowsPerListener,
          limits: this.udpLimits,
          refused: this.udpRefused,
          onExhausted,
        })
      : new TcpListener(lp, pool, {
          dialTimeoutMs: config.dialTimeoutMs,
          dialRetries: config.dialRetries,
          tcpIdleTimeoutMs: config.tcpIdleTimeoutMs,
          reusePort: this.options.reusePort,
          maxConnections: this.budget.tcpConnectionsPerListener,
          shared: this.tcpShared,
          refused: this.tcpRefused,
          onExhausted,
          tls,
        });
  }

  /** Ports left unbound by the listener budget: one line when their number changes. */
  private reportOverBudget(): void {
    for (const key of this.overBudget)
      if (!this.planner.listeners.has(key) || this.listeners.has(key)) this.overBudget.delete(key);
    const n = this.overBudget.size;
    if (n === this.reportedOverBudget) return;
    this.reportedOverBudget = n;
    if (n === 0) this.logger.info("every service port is bound again (listener budget)");
    else
      this.logger.error(
        { notBound: n, budget: this.budget.listeners, example: [...this.overBudget].slice(0, 5) },
        `${n} service port(s) not bound: the service proxy's budget of ${this.budget.listeners} listening sockets is used up (see /api/problems and docs/service-proxy.md)`,
      );
  }

  /** EMFILE/ENFILE in a listener: counted always, logged when it starts a pause. */
  private exhausted(key: string, pauseMs: number): void {
    this.metrics.exhaustion.inc({ plane: "service", listener: key });
    if (pauseMs > 0)
      this.logger.warn(
        { listener: key, pauseMs },
        `${key}: out of file descriptors (EMFILE); refusing new connections/flows for ${pauseMs} ms`,
      );
  }

  private reportConflicts(conflicts: readonly string[]): void {
    if (conflicts.length === 0 && this.reportedConflicts.size === 0) return;
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

/** The service proxy plane is always on: it is nodeplane's kube-proxy. */
export const createServicePlane: PlaneFactory = async (context) => {
  const plane = new ServicePlane({
    config: context.config,
    logger: context.logger,
    registry: context.registry,
    node: () => context.store.get("Node", context.config.nodeName),
    role: context.role ?? "single",
    reusePort: context.reusePort === true,
    // With workers only the first serves ClientIP-affinity ports (ServicePlanner's affinity filter; docs/workers.md).
    servesAffinity: (context.worker?.index ?? 0) === 0,
    status: context.status,
    ...(context.dnsHandoff ? { dnsHandoff: context.dnsHandoff } : {}),
  });
  await plane.start();
  return plane;
};
