import type { GatewayApiStatus } from "../model/gateway.ts";
import type { LoadBalancerIngress } from "../model/k8s.ts";
import { mergeGatewayApiStatus, transitionTime } from "./gateway-merge.ts";

/** The `--gateway-controller` default, for writers built without a Config (tests). */
export const DEFAULT_GATEWAY_CONTROLLER = "nodeplane.dev/gateway-controller";

export type StatusKind = "Ingress" | "Service";

/**
 * Writes object status (the Ingress ADDRESS column, LoadBalancer IPs). In cluster mode only the elected
 * leader writes to the API server; in manifests mode the status is kept in memory and shown by `nodeplane get`.
 */
export interface StatusWriter {
  setIngressStatus(namespace: string, name: string, ingress: readonly LoadBalancerIngress[]): Promise<void>;
  setServiceStatus(namespace: string, name: string, ingress: readonly LoadBalancerIngress[]): Promise<void>;
  /** Status as last written, for `nodeplane get` in manifests mode. */
  ingressStatus(namespace: string, name: string): readonly LoadBalancerIngress[] | undefined;
  serviceStatus(namespace: string, name: string): readonly LoadBalancerIngress[] | undefined;
  /**
   * Stop caring about this object's status without writing anything (it moved to another controller's
   * class). Optional: writers that never re-assert status need not implement it.
   */
  forget?(kind: StatusKind, namespace: string, name: string): void;
  /**
   * Gateway API status (docs/gateway.md): conditions merged by type with what other controllers wrote,
   * written only when it changes. `namespace` is "" for GatewayClasses.
   */
  setGatewayApiStatus?(namespace: string, name: string, status: GatewayApiStatus): Promise<void>;
  /** Gateway API status as last written, for `nodeplane get` in manifests mode. */
  gatewayApiStatus?(kind: GatewayApiStatus["kind"], namespace: string, name: string): GatewayApiStatus | undefined;
  /**
   * A plane reports whether it could bind a Gateway socket (`GatewayHttpSocket.id` / `GatewayL4Socket.id`):
   * `error` undefined = listening. The Gateway listeners on that socket are then Programmed or not.
   */
  reportGatewayBind?(socketId: string, error: string | undefined): void;
}

/** Manifests mode: status lives in memory, as the API server would keep it. */
export class MemoryStatusWriter implements StatusWriter {
  private readonly ingresses = new Map<string, readonly LoadBalancerIngress[]>();
  private readonly services = new Map<string, readonly LoadBalancerIngress[]>();
  private readonly gateway = new Map<string, GatewayApiStatus>();
  private readonly controllerName: string;
  private readonly now: () => Date;

  /** the status the manifest itself carries (a dump of a cluster: other controllers' conditions and parents) */
  private readonly manifestStatus: (kind: GatewayApiStatus["kind"], namespace: string, name: string) => unknown;

  constructor(
    options: {
      gatewayController?: string;
      now?: () => Date;
      manifestStatus?: (kind: GatewayApiStatus["kind"], namespace: string, name: string) => unknown;
    } = {},
  ) {
    this.controllerName = options.gatewayController ?? DEFAULT_GATEWAY_CONTROLLER;
    this.now = options.now ?? (() => new Date());
    this.manifestStatus = options.manifestStatus ?? (() => undefined);
  }

  /**
   * Merged with what was written before (else with the manifest's own status), as the API server's copy would
   * be: lastTransitionTime kept while a condition's status holds, others' conditions and Route parents kept.
   * A Route left with no parent entries is forgotten.
   */
  async setGatewayApiStatus(namespace: string, name: string, status: GatewayApiStatus): Promise<void> {
    const key = `${status.kind}|${namespace}/${name}`;
    const merged = mergeGatewayApiStatus(
      this.gateway.get(key)?.status ?? this.manifestStatus(status.kind, namespace, name),
      status,
      this.controllerName,
      transitionTime(this.now()),
      namespace,
    );
    if (status.kind !== "Gateway" && status.kind !== "GatewayClass" && (merged.parents as unknown[]).length === 0)
      this.gateway.delete(key);
    else this.gateway.set(key, { kind: status.kind, status: merged } as GatewayApiStatus);
  }

  gatewayApiStatus(kind: GatewayApiStatus["kind"], namespace: string, name: string): GatewayApiStatus | undefined {
    return this.gateway.get(`${kind}|${namespace}/${name}`);
  }

  async setIngressStatus(namespace: string, name: string, ingress: readonly LoadBalancerIngress[]): Promise<void> {
    this.ingresses.set(`${namespace}/${name}`, ingress);
  }

  async setServiceStatus(namespace: string, name: string, ingress: readonly LoadBalancerIngress[]): Promise<void> {
    this.services.set(`${namespace}/${name}`, ingress);
  }

  ingressStatus(namespace: string, name: string): readonly LoadBalancerIngress[] | undefined {
    return this.ingresses.get(`${namespace}/${name}`);
  }

  serviceStatus(namespace: string, name: string): readonly LoadBalancerIngress[] | undefined {
    return this.services.get(`${namespace}/${name}`);
  }

  forget(kind: StatusKind, namespace: string, name: string): void {
    (kind === "Ingress" ? this.ingresses : this.services).delete(`${namespace}/${name}`);
  }
}
