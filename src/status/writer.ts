import type { LoadBalancerIngress } from "../model/k8s.ts";

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
}
