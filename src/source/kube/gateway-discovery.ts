/**
 * Which Gateway API kinds the API server serves, and at which version: API discovery (GET
 * /apis/gateway.networking.k8s.io → the served versions, then GET /apis/gateway.networking.k8s.io/<version> →
 * the resources of each). Per kind the first version of GATEWAY_API_VERSIONS that serves it is watched, so a
 * cluster with Gateway API v1.6 (TLSRoute/TCPRoute/UDPRoute at v1) and one with an older experimental install
 * (v1alpha2) both work, and a standard-channel install without TCPRoute/UDPRoute simply has no such watch.
 * Discovery is allowed to every authenticated client by the default ClusterRole system:discovery
 * (nonResourceURLs /apis, /apis/*): no RBAC rule of ours.
 */
import { isNotFound, type KubeClient } from "../../kube/client.ts";
import { GATEWAY_API_VERSIONS, GATEWAY_GROUP } from "../../model/gateway.ts";
import { GATEWAY_KINDS, type GatewayKind } from "../../model/k8s.ts";
import type { ResourceSpec } from "./reflector.ts";

export type { GatewayKind };

export const GATEWAY_PLURALS: Record<GatewayKind, string> = {
  GatewayClass: "gatewayclasses",
  Gateway: "gateways",
  HTTPRoute: "httproutes",
  GRPCRoute: "grpcroutes",
  TLSRoute: "tlsroutes",
  TCPRoute: "tcproutes",
  UDPRoute: "udproutes",
  ReferenceGrant: "referencegrants",
};

interface APIGroup {
  versions?: { groupVersion?: string; version?: string }[];
}

interface APIResourceList {
  resources?: { name?: string }[];
}

/**
 * The version to watch for each served kind; an empty map when the group is not served at all (no CRDs).
 * Other failures (API server unreachable, 403) throw: the caller keeps what it watches and asks again later.
 */
export async function discoverGatewayApi(client: KubeClient, signal?: AbortSignal): Promise<Map<GatewayKind, string>> {
  const served = new Map<GatewayKind, string>();
  let group: APIGroup;
  try {
    group = await client.request<APIGroup>(`/apis/${GATEWAY_GROUP}`, signal ? { signal } : {});
  } catch (err) {
    if (isNotFound(err)) return served;
    throw err;
  }
  const versions = new Set((group.versions ?? []).map((v) => v.version).filter((v): v is string => !!v));
  const resources = new Map<string, Set<string>>();
  const wanted = new Set<string>(Object.values(GATEWAY_API_VERSIONS).flat());
  for (const version of versions) {
    if (!wanted.has(version)) continue;
    try {
      const list = await client.request<APIResourceList>(`/apis/${GATEWAY_GROUP}/${version}`, signal ? { signal } : {});
      resources.set(version, new Set((list.resources ?? []).map((r) => r.name ?? "")));
    } catch (err) {
      // a version removed between the two calls: as if not served
      if (!isNotFound(err)) throw err;
    }
  }
  for (const kind of GATEWAY_KINDS) {
    const version = GATEWAY_API_VERSIONS[kind].find((v) => resources.get(v)?.has(GATEWAY_PLURALS[kind]));
    if (version) served.set(kind, version);
  }
  return served;
}

/** list+watch of one Gateway API kind, cluster-wide, at the version discovery chose. */
export function gatewayResource(kind: GatewayKind, version: string): ResourceSpec {
  return {
    kind,
    apiVersion: `${GATEWAY_GROUP}/${version}`,
    path: `/apis/${GATEWAY_GROUP}/${version}/${GATEWAY_PLURALS[kind]}`,
  };
}

/** Namespaces, for their labels (listeners' `allowedRoutes.namespaces.selector`). */
export const NAMESPACE_RESOURCE: ResourceSpec = { kind: "Namespace", apiVersion: "v1", path: "/api/v1/namespaces" };
