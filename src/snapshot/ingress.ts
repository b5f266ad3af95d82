import type { LoadBalancerIngress } from "../model/k8s.ts";

/**
 * The ingress part of the snapshot: a compiled route table (docs/ingress.md, Routing). The ingress plane turns it
 * into its request matcher; nothing here needs further validation at request time.
 */
export interface IngressSnapshot {
  /** virtual hosts, sorted by host; `""` is the catch-all for rules without a host */
  hosts: readonly VirtualHost[];
  /** cluster-wide default backend (from an Ingress whose rules name no host), used when nothing else matches */
  defaultRoute?: IngressRoute;
  /** certificates chosen by SNI, one per Secret in use, each listing the host patterns it serves */
  certificates: readonly TlsCertificate[];
  /** certificate from a `tls` entry without hosts on an Ingress without host rules: replaces the self-signed default */
  defaultCertificate?: TlsCertificate;
  /** every Ingress in the store, with whether it is ours: status is written for ours and cleared for the rest */
  ingresses: readonly IngressStatusEntry[];
  /** what `status.loadBalancer.ingress` of our Ingresses should say */
  statusAddresses: readonly LoadBalancerIngress[];
}

export interface IngressRef {
  namespace: string;
  name: string;
}

export interface UpstreamEndpoint {
  ip: string;
  port: number;
}

/** A Service port resolved to the endpoint addresses requests go to (never through the clusterIP). */
export interface BackendTarget {
  /** `namespace/service:port`, the port as written in the Ingress */
  id: string;
  namespace: string;
  service: string;
  port: number | string;
  /** ready endpoints, or serving+terminating ones when none is ready; empty → 503 */
  endpoints: readonly UpstreamEndpoint[];
}

export type PathType = "Exact" | "Prefix";

/** The part of a path that decides matching: a Prefix ignores its trailing slash (`/foo/` ≡ `/foo`, `/` ≡ ``). */
export function matchKey(path: string, pathType: PathType): string {
  if (pathType === "Exact") return path;
  let end = path.length;
  while (end > 0 && path.charCodeAt(end - 1) === 47) end--;
  return path.slice(0, end);
}

export interface AffinityCookie {
  name: string;
  /** Max-Age in seconds; absent = session cookie */
  maxAgeSeconds?: number;
  path: string;
}

/** Per-route behaviour from the Ingress's annotations, validated (docs/ingress.md, Annotations). */
export interface RouteSettings {
  /** plain-HTTP requests to a TLS host get a 308 to https */
  sslRedirect: boolean;
  backendProtocol: "HTTP" | "HTTPS";
  /** largest request body in bytes; 0 = unlimited */
  maxBodyBytes: number;
  connectTimeoutMs?: number;
  /** wait for response headers, and between body chunks from the upstream */
  readTimeoutMs?: number;
  /** wait between request body chunks from the client */
  sendTimeoutMs?: number;
  /** replaces the matched path prefix; `$1`/`$2` refer to the separator and the rest (see docs/ingress.md) */
  rewriteTarget?: string;
  affinity?: AffinityCookie;
  /** client CIDRs allowed; absent = everyone; empty = nobody (a bad annotation fails closed) */
  allowSourceRanges?: readonly string[];
}

export interface IngressRoute {
  ingress: IngressRef;
  /** `""` = any host, `*.foo.com` = wildcard */
  host: string;
  /** the path as matched: `/` for an empty ImplementationSpecific path */
  path: string;
  pathType: PathType;
  /** what the Ingress said (ImplementationSpecific is served as Prefix) */
  declaredPathType: "Exact" | "Prefix" | "ImplementationSpecific" | "Default";
  backend: BackendTarget;
  settings: RouteSettings;
  /** the route's Ingress lists its host under `spec.tls` and does not turn ssl-redirect off */
  redirectToHttps: boolean;
}

export interface VirtualHost {
  host: string;
  /** sorted by precedence: longest path first, Exact before Prefix at equal length */
  routes: readonly IngressRoute[];
  /** `defaultBackend` of the (oldest) Ingress that has rules for this host */
  defaultRoute?: IngressRoute;
}

export interface TlsCertificate {
  /** `namespace/name` of the Secret */
  secret: string;
  /** host patterns (exact or `*.` wildcard) this certificate is served for */
  hosts: readonly string[];
  certPem: string;
  /** not enumerable, so the snapshot's JSON (admin API) never carries it */
  readonly keyPem: string;
  subject: string;
  /** ISO dates from the certificate */
  validFrom: string;
  validTo: string;
  fingerprint256: string;
}

export interface IngressStatusEntry {
  namespace: string;
  name: string;
  ours: boolean;
  /** the status the object carries now, to skip writes that change nothing */
  current: readonly LoadBalancerIngress[];
}

export const EMPTY_INGRESS: IngressSnapshot = {
  hosts: [],
  certificates: [],
  ingresses: [],
  statusAddresses: [],
};
