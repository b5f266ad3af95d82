import type { BackoffOptions } from "../kube/backoff.ts";
import type { KubeClient } from "../kube/client.ts";
import type { Logger } from "../log.ts";
import type { LoadBalancerIngress, Node, Pod } from "../model/k8s.ts";
import { Reflector } from "../source/kube/reflector.ts";
import { Store } from "../store/store.ts";

export interface IngressAddressesOptions {
  client: KubeClient;
  /** where the nodeplane pods run (the DaemonSet's namespace) */
  namespace: string;
  /** selects the nodeplane pods */
  labelSelector: string;
  logger: Logger;
  backoff?: Partial<BackoffOptions>;
  /** how long to hold Ingress writes for the first list before falling back */
  graceMs?: number;
}

/** The ADDRESS an Ingress shows: one per node running a ready nodeplane pod. */
export interface IngressAddressSource {
  /** undefined while unknown (not synced, or no ready nodeplane pod found): callers keep their own value */
  addresses(): readonly LoadBalancerIngress[] | undefined;
  /** false until the first full list (or a grace period without one): writers hold Ingress writes until then */
  ready(): boolean;
  onChange(listener: () => void): void;
}

/**
 * Leader-only: watches the nodeplane pods (in its own namespace, by label) and the Nodes, and computes
 * the addresses of the nodes whose nodeplane pod is ready — each node's ExternalIP when it has one,
 * else its InternalIP — which is what Ingress status should show when --publish-address is not set.
 * Only the leader runs it, so the other nodes never list every Node.
 */
export class IngressAddressTracker implements IngressAddressSource {
  private readonly options: IngressAddressesOptions;
  private readonly listeners = new Set<() => void>();
  private store: Store | undefined;
  private reflectors: Reflector[] = [];
  private synced = false;
  private current: readonly LoadBalancerIngress[] | undefined;
  private unsubscribe: (() => void) | undefined;
  private gaveUp = false;
  private graceTimer: NodeJS.Timeout | undefined;

  constructor(options: IngressAddressesOptions) {
    this.options = options;
  }

  addresses(): readonly LoadBalancerIngress[] | undefined {
    return this.synced ? this.current : undefined;
  }

  ready(): boolean {
    return this.synced || this.gaveUp;
  }

  onChange(listener: () => void): void {
    this.listeners.add(listener);
  }

  start(): void {
    if (this.reflectors.length > 0) return;
    const { client, namespace, labelSelector, logger, backoff, graceMs = 30_000 } = this.options;
    // if the pods cannot be listed (RBAC?), Ingresses get the ingress plane's own addresses after a while
    this.graceTimer = setTimeout(() => {
      if (this.synced) return;
      this.gaveUp = true;
      logger.warn(
        { namespace, labelSelector },
        "cannot list the nodeplane pods; Ingress status shows this node's addresses",
      );
      for (const listener of this.listeners) listener();
    }, graceMs);
    this.graceTimer.unref();
    const store = new Store();
    this.store = store;
    const common = { client, store, logger, ...(backoff ? { backoff } : {}) };
    this.reflectors = [
      new Reflector({
        ...common,
        resource: {
          kind: "Pod",
          apiVersion: "v1",
          path: `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods`,
          labelSelector,
        },
      }),
      new Reflector({ ...common, resource: { kind: "Node", apiVersion: "v1", path: "/api/v1/nodes" } }),
    ];
    this.unsubscribe = store.subscribe(() => this.recompute());
    const reflectors = this.reflectors;
    void Promise.all(reflectors.map((r) => r.start())).then(() => {
      if (this.reflectors !== reflectors) return; // stopped meanwhile
      this.synced = true;
      this.recompute(true);
    });
  }

  async stop(): Promise<void> {
    const reflectors = this.reflectors;
    this.reflectors = [];
    this.unsubscribe?.();
    clearTimeout(this.graceTimer);
    this.gaveUp = false;
    this.synced = false;
    this.current = undefined;
    this.store = undefined;
    await Promise.all(reflectors.map((r) => r.stop()));
  }

  private recompute(force = false): void {
    if (!this.synced || !this.store) return;
    const next = readyNodeAddresses([...this.store.list("Pod")], [...this.store.list("Node")]);
    const value = next.length > 0 ? next.map((ip) => ({ ip })) : undefined;
    if (!force && JSON.stringify(value) === JSON.stringify(this.current)) return;
    this.current = value;
    for (const listener of this.listeners) listener();
  }
}

/** Pure: the addresses of the nodes that run one of `pods` in Ready state, sorted. */
export function readyNodeAddresses(pods: readonly Pod[], nodes: readonly Node[]): string[] {
  const byName = new Map(nodes.map((n) => [n.metadata?.name ?? "", n]));
  const result = new Set<string>();
  for (const pod of pods) {
    if (pod.metadata?.deletionTimestamp) continue;
    const ready = pod.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True");
    const node = byName.get(pod.spec?.nodeName ?? "");
    if (!ready || !node) continue;
    const addresses = node.status?.addresses ?? [];
    const external = addresses.filter((a) => a.type === "ExternalIP");
    for (const a of external.length > 0 ? external : addresses.filter((a) => a.type === "InternalIP"))
      result.add(a.address);
  }
  return [...result].sort();
}
