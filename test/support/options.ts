import type { TranslateOptions } from "../../src/translate/options.ts";

/**
 * The translators' options as the tests use them: node `node-a`, domain `cluster.local`, class `nodeplane`,
 * no local addresses, pod records `insecure`. A test names only what it changes.
 */
export function translateOptions(overrides: Partial<TranslateOptions> = {}): TranslateOptions {
  return {
    nodeName: "node-a",
    localAddresses: [],
    nodePortCIDRs: [],
    clusterDomain: "cluster.local",
    ingressClass: "nodeplane",
    ingressController: "nodeplane.dev/ingress",
    gatewayController: "nodeplane.dev/gateway-controller",
    gatewayAddress: "127.0.0.1",
    publishAddresses: [],
    dnsPods: "insecure",
    ...overrides,
  };
}
