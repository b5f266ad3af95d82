/** Inputs of the translators besides the store: settings and facts gathered (by I/O) before translation. */
export interface TranslateOptions {
  nodeName: string;
  /** addresses found on this host's interfaces (gathered by the caller, so translation stays pure) */
  localAddresses: readonly string[];
  /** --node-port-addresses CIDRs; empty = every node address */
  nodePortCIDRs: readonly string[];
  clusterDomain: string;
  ingressClass: string;
  ingressController: string;
  /** GatewayClass spec.controllerName served */
  gatewayController: string;
  /** where Gateway listeners bind when the Gateway has no spec.addresses */
  gatewayAddress: string;
  publishAddresses: readonly string[];
  dnsPods: "insecure" | "verified" | "disabled";
  /** Services labelled service.kubernetes.io/service-proxy-name with another value are left alone */
  serviceProxyName?: string;
  /** node-local DNS mode (`--dns-node-local`): which Service's port 53 the DNS plane serves */
  nodeLocalDns?: NodeLocalDnsOptions;
}

export interface NodeLocalDnsOptions {
  /** `namespace/name` of the cluster DNS Service (`--dns-service`) */
  service: string;
  /** `--dns-link-local`: an address served like the Service's clusterIP (NodeLocal DNSCache's 169.254.20.10) */
  linkLocal?: string;
}
