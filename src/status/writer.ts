import type { GatewayApiStatus } from "../model/gateway.ts";
import type { LoadBalancerIngress } from "../model/k8s.ts";

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
