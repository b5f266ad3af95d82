import type { Config } from "../../config.ts";
import type { BackoffOptions } from "../../kube/backoff.ts";
import { KubeClient, loadKubeConfig } from "../../kube/client.ts";
import type { Logger } from "../../log.ts";
import { GATEWAY_GROUP } from "../../model/gateway.ts";
import type { Store } from "../../store/store.ts";
import type { Source } from "../source.ts";
import { discoverGatewayApi, type GatewayKind, gatewayResource, NAMESPACE_RESOURCE } from "./gateway-discovery.ts";
import { Reflector, type ResourceSpec } from "./reflector.ts";

export interface KubeSourceOptions {
  /** use this client instead of loading a kubeconfig (tests, or sharing one connection pool) */
  client?: KubeClient;
  /** the in-cluster service-account folder (tests point it at a temporary one) */
  serviceAccountDir?: string;
  env?: NodeJS.ProcessEnv;
  backoff?: Partial<BackoffOptions>;
  pageSize?: number;
  watchTimeoutSeconds?: () => number;
  /** how often to ask discovery whether the Gateway API kinds are served (default 60 s, ±20 % jitter) */
  gatewayDiscoveryIntervalMs?: number;
  /** how long the first sync waits for the Gateway API kinds before serving without them (default 10 s) */
  gatewaySyncTimeoutMs?: number;
}

/** Only `kubernetes.io/tls` Secrets may ever be read: the API server filters, so no other Secret enters memory. */
export const TLS_SECRET_SELECTOR = "type=kubernetes.io/tls";

/**
 * Ingresses and their TLS Secrets: cluster-wide, or with `--watch-namespaces` one list+watch per namespace, so
 * that RBAC can grant them per namespace (RoleBindings) instead of every Secret of the cluster (ClusterRole).
 */
function ingressResources(namespaces: readonly string[]): ResourceSpec[] {
  const ingress = { kind: "Ingress", apiVersion: "networking.k8s.io/v1" } as const;
  const secret = { kind: "Secret", apiVersion: "v1", fieldSelector: TLS_SECRET_SELECTOR } as const;
  if (namespaces.length === 0)
    return [
      { ...ingress, path: "/apis/networking.k8s.io/v1/ingresses" },
      { ...secret, path: "/api/v1/secrets" },
    ];
  return namespaces.flatMap((namespace) => [
    { ...ingress, namespace, path: `/apis/networking.k8s.io/v1/namespaces/${namespace}/ingresses` },
    { ...secret, namespace, path: `/api/v1/namespaces/${namespace}/secrets` },
  ]);
}

/** What cluster mode watches; the ClusterRole in manifests/ grants exactly list+watch on these. */
export function watchedResources(config: Pick<Config, "nodeName" | "dnsPods" | "watchNamespaces">): ResourceSpec[] {
  const resources: ResourceSpec[] = [
    { kind: "Service", apiVersion: "v1", path: "/api/v1/services" },
    { kind: "EndpointSlice", apiVersion: "discovery.k8s.io/v1", path: "/apis/discovery.k8s.io/v1/endpointslices" },
    { kind: "IngressClass", apiVersion: "networking.k8s.io/v1", path: "/apis/networking.k8s.io/v1/ingressclasses" },
    ...ingressResources(config.watchNamespaces),
    // only our own Node: its addresses and zone label
    { kind: "Node", apiVersion: "v1", path: "/api/v1/nodes", fieldSelector: `metadata.name=${config.nodeName}` },
  ];
  // `--dns-pods verified` answers pod records only for pods that exist, as CoreDNS does
  if (config.dnsPods === "verified") resources.push({ kind: "Pod", apiVersion: "v1", path: "/api/v1/pods" });
  return resources;
}

/**
 * Cluster mode's source: one list+watch per kind into the store. `start()` resolves once every kind has
 * been listed; while the API server is unreachable the store keeps its last state (and so the planes keep
 * serving the last snapshot), `healthy()` is false and a log line says so.
 */
export class KubeSource implements Source {
  readonly name = "kubernetes";
  readonly client: KubeClient;
  private readonly config: Config;
  private readonly logger: Logger;
  private readonly options: KubeSourceOptions;
  private readonly ownsClient: boolean;
  private reflectors: Reflector[] = [];
  /** Gateway API kinds (and Namespaces, for listener selectors) by kind, while discovery says they are served */
  private readonly gatewayReflectors = new Map<string, Reflector>();
  private gatewayAbsentLogged = false;
  private discoveryTimer: NodeJS.Timeout | undefined;
  private discovery: Promise<void> | undefined;
  private readonly abort = new AbortController();
  private wasHealthy = true;

  constructor(config: Config, logger: Logger, options: KubeSourceOptions = {}) {
    this.config = config;
    this.logger = logger.child({ component: "kube-source" });
    this.options = options;
    this.ownsClient = !options.client;
    this.client =
      options.client ??
      new KubeClient(
        loadKubeConfig({
          ...(config.kubeconfig ? { kubeconfig: config.kubeconfig } : {}),
          ...(options.serviceAccountDir ? { serviceAccountDir: options.serviceAccountDir } : {}),
          ...(options.env ? { env: options.env } : {}),
        }),
      );
  }

  async start(store: Store): Promise<void> {
    this.logger.info({ server: this.client.server, node: this.config.nodeName }, "watching the API server");
    this.reflectors = watchedResources(this.config).map((resource) => this.reflector(resource, store));
    // the first snapshot has the Gateway API objects too when their CRDs are installed
    await Promise.all([
      ...this.reflectors.map((r) => r.start()),
      this.checkGatewayApi(store, this.options.gatewaySyncTimeoutMs ?? 10_000),
    ]);
    this.scheduleDiscovery(store);
    this.logger.info({ kinds: this.allReflectors().map((r) => r.resource.kind) }, "initial sync done");
  }

  async stop(): Promise<void> {
    this.abort.abort();
    clearTimeout(this.discoveryTimer);
    await this.discovery;
    const reflectors = this.allReflectors();
    this.reflectors = [];
    this.gatewayReflectors.clear();
    await Promise.all(reflectors.map((r) => r.stop()));
    if (this.ownsClient) await this.client.close();
  }

  /**
   * The core kinds' health: the Gateway API watches talk to the same API server, and one refused by an RBAC
   * that predates them (403, logged by its reflector) must not mark the whole source down.
   */
  healthy(): boolean {
    return this.reflectors.length > 0 && this.reflectors.every((r) => r.isHealthy());
  }

  private allReflectors(): Reflector[] {
    return [...this.reflectors, ...this.gatewayReflectors.values()];
  }

  private reflector(resource: ResourceSpec, store: Store): Reflector {
    const { backoff, pageSize, watchTimeoutSeconds } = this.options;
    return new Reflector({
      client: this.client,
      resource,
      store,
      logger: this.logger,
      ...(backoff ? { backoff } : {}),
      ...(pageSize ? { pageSize } : {}),
      ...(watchTimeoutSeconds ? { watchTimeoutSeconds } : {}),
      onHealth: () => this.healthChanged(),
    });
  }

  /**
   * Discovery again every interval (with jitter, so the nodes of a cluster do not ask together): a poll of two
   * or three small GETs a minute per node is cheaper than a watch on CustomResourceDefinitions, and needs no
   * RBAC (a CRD watch would need list/watch on every CRD of the cluster).
   */
  private scheduleDiscovery(store: Store): void {
    if (this.abort.signal.aborted) return;
    const interval = this.options.gatewayDiscoveryIntervalMs ?? 60_000;
    this.discoveryTimer = setTimeout(
      () => {
        this.discovery = this.checkGatewayApi(store).finally(() => {
          this.discovery = undefined;
          this.scheduleDiscovery(store);
        });
      },
      interval * (0.8 + Math.random() * 0.4),
    );
    this.discoveryTimer.unref();
  }

  /**
   * Starts watching the Gateway API kinds discovery says are served, stops those no longer served. With
   * `waitMs` (the first sync) it waits that long for their first list, so the first snapshot has them; never
   * longer: a kind the RBAC refuses (an install older than the Gateway API rules) must not keep the rest from
   * serving. Later checks do not wait at all.
   */
  private async checkGatewayApi(store: Store, waitMs?: number): Promise<void> {
    let served: Map<GatewayKind, string>;
    try {
      served = await discoverGatewayApi(this.client, this.abort.signal);
    } catch (err) {
      if (!this.abort.signal.aborted)
        this.logger.warn(
          { err: err instanceof Error ? err.message : String(err) },
          "Gateway API discovery failed; will ask again",
        );
      return;
    }
    if (this.abort.signal.aborted) return;
    const wanted = new Map<string, ResourceSpec>();
    for (const [kind, version] of served) wanted.set(kind, gatewayResource(kind, version));
    if (wanted.size > 0) wanted.set("Namespace", NAMESPACE_RESOURCE);
    if (served.size === 0 && !this.gatewayAbsentLogged)
      this.logger.info(
        `${GATEWAY_GROUP} is not served (Gateway API CRDs not installed): Gateway API objects are not watched; discovery is asked again every minute`,
      );
    this.gatewayAbsentLogged = served.size === 0;
    for (const [kind, reflector] of [...this.gatewayReflectors]) {
      if (wanted.get(kind)?.path === reflector.resource.path) continue;
      this.gatewayReflectors.delete(kind);
      await reflector.stop();
      store.replace(reflector.resource.kind, []);
      this.logger.info({ kind, path: reflector.resource.path }, "no longer served; stopped watching it");
    }
    const started: Reflector[] = [];
    for (const [kind, resource] of wanted) {
      if (this.gatewayReflectors.has(kind)) continue;
      const reflector = this.reflector(resource, store);
      this.gatewayReflectors.set(kind, reflector);
      started.push(reflector);
    }
    if (started.length === 0) return;
    this.logger.info({ resources: started.map((r) => r.resource.path) }, "watching Gateway API kinds");
    // start() runs each reflector's loop; it resolves after the first list
    const listed = Promise.all(started.map((r) => r.start())).then(() => true);
    if (waitMs === undefined) return;
    let timer: NodeJS.Timeout | undefined;
    const synced = await Promise.race([
      listed,
      new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), waitMs);
      }),
    ]);
    clearTimeout(timer);
    if (!synced)
      this.logger.warn(
        { kinds: started.filter((r) => !r.hasSynced()).map((r) => r.resource.kind), waitedMs: waitMs },
        "Gateway API kinds not listed yet; serving without them until they are",
      );
  }

  /** One line when contact is lost and one when it is back, not one per kind and retry. */
  private healthChanged(): void {
    if (!this.reflectors.every((r) => r.hasSynced())) return;
    const healthy = this.healthy();
    if (healthy === this.wasHealthy) return;
    this.wasHealthy = healthy;
    if (healthy) this.logger.info("API server reachable again; watches resumed");
    else this.logger.warn("API server unreachable; serving the last snapshot until it is back");
  }
}
