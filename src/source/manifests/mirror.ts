/**
 * core/v1 Endpoints → discovery.k8s.io/v1 EndpointSlices, as Kubernetes' EndpointSlice mirroring
 * controller (pkg/controller/endpointslicemirroring) does it (pure):
 * - addresses are grouped by (address family, set of ports): one slice per group, which for the
 *   usual Endpoints is one slice per subset and family;
 * - `addresses` become endpoints with `ready: true`, `notReadyAddresses` with `ready: false`;
 *   hostname, nodeName and targetRef are carried; at most 1000 addresses per subset are mirrored;
 * - labels are copied and `kubernetes.io/service-name` / `endpointslice.kubernetes.io/managed-by`
 *   set; annotations are copied except the trigger-time and last-applied ones;
 * - Endpoints labelled `endpointslice.kubernetes.io/skip-mirror: "true"` or carrying a
 *   leader-election record are not mirrored.
 * Slice names are `<endpoints-name>-<5 chars>` like the controller's generateName, but the suffix
 * is hashed from the group, so the same manifests always give the same names.
 */
import { createHash } from "node:crypto";
import { isIP } from "node:net";
import {
  type EndpointPort,
  type EndpointSlice,
  type Endpoints,
  SERVICE_NAME_LABEL,
  type SliceEndpoint,
} from "../../model/k8s.ts";
import { bigIntToIp, ipToBigInt } from "../../util/cidr.ts";

export const MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by";
export const MIRRORING_CONTROLLER = "endpointslicemirroring-controller.k8s.io";
export const SKIP_MIRROR_LABEL = "endpointslice.kubernetes.io/skip-mirror";
const LEADER_ANNOTATION = "control-plane.alpha.kubernetes.io/leader";
const DROPPED_ANNOTATIONS = new Set([
  "endpoints.kubernetes.io/last-change-trigger-time",
  "kubectl.kubernetes.io/last-applied-configuration",
]);
/** The controller's default --mirroring-max-endpoints-per-subset. */
export const MAX_ENDPOINTS_PER_SUBSET = 1000;
/** The alphabet of the API server's generated name suffixes (no vowels, no look-alikes). */
const SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789";

export function shouldMirror(endpoints: Endpoints): boolean {
  const meta = endpoints.metadata ?? {};
  return meta.labels?.[SKIP_MIRROR_LABEL] !== "true" && !(meta.annotations && LEADER_ANNOTATION in meta.annotations);
}

interface Group {
  addressType: "IPv4" | "IPv6";
  portsKey: string;
  ports: EndpointPort[];
  /** endpoint identity → endpoint; a later duplicate replaces an earlier one, as the controller's set does */
  endpoints: Map<string, SliceEndpoint>;
}

/** The slices the mirroring controller would keep for `endpoints`; [] when it is not mirrored. */
export function mirrorEndpoints(endpoints: Endpoints): EndpointSlice[] {
  if (!shouldMirror(endpoints)) return [];
  const meta = endpoints.metadata ?? {};
  const groups = new Map<string, Group>();
  for (const subset of endpoints.subsets ?? []) {
    const ports = (subset.ports ?? []).map(slicePort);
    const portsKey = JSON.stringify([...ports].map((p) => JSON.stringify(p)).sort());
    const groupFor = (addressType: "IPv4" | "IPv6") => {
      const key = `${addressType}/${portsKey}`;
      let group = groups.get(key);
      if (!group) {
        group = { addressType, portsKey, ports, endpoints: new Map() };
        groups.set(key, group);
      }
      return group;
    };
    let added = 0;
    const add = (address: NonNullable<typeof subset.addresses>[number], ready: boolean) => {
      if (added >= MAX_ENDPOINTS_PER_SUBSET) return;
      const family = isIP(address.ip);
      if (family === 0) return; // the controller skips invalid IPs (validation reports them first)
      const ip = family === 6 ? bigIntToIp(ipToBigInt(address.ip), 6) : address.ip;
      const endpoint: SliceEndpoint = { addresses: [ip], conditions: { ready } };
      if (address.hostname) endpoint.hostname = address.hostname;
      if (address.nodeName) endpoint.nodeName = address.nodeName;
      if (address.targetRef) endpoint.targetRef = structuredClone(address.targetRef);
      const identity = JSON.stringify([ip, endpoint.hostname, endpoint.nodeName, endpoint.targetRef]);
      groupFor(family === 6 ? "IPv6" : "IPv4").endpoints.set(identity, endpoint);
      added++;
    };
    for (const address of subset.addresses ?? []) add(address, true);
    for (const address of subset.notReadyAddresses ?? []) add(address, false);
  }

  const name = meta.name ?? "";
  const namespace = meta.namespace ?? "default";
  const labels: Record<string, string> = { ...meta.labels, [SERVICE_NAME_LABEL]: name };
  labels[MANAGED_BY_LABEL] = MIRRORING_CONTROLLER;
  const annotations = Object.fromEntries(
    Object.entries(meta.annotations ?? {}).filter(([key]) => !DROPPED_ANNOTATIONS.has(key)),
  );
  const slices: EndpointSlice[] = [];
  for (const group of groups.values()) {
    if (group.endpoints.size === 0) continue;
    const slice: EndpointSlice = {
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: {
        name: sliceName(name, `${namespace}/${name}/${group.addressType}/${group.portsKey}`),
        namespace,
        labels: { ...labels },
        ownerReferences: [{ apiVersion: "v1", kind: "Endpoints", name, uid: meta.uid, controller: true }],
      },
      addressType: group.addressType,
      endpoints: [...group.endpoints.values()],
      ports: group.ports.map((p) => ({ ...p })),
    };
    if (Object.keys(annotations).length > 0) slice.metadata!.annotations = { ...annotations };
    slices.push(slice);
  }
  return slices;
}

function slicePort(port: EndpointPort): EndpointPort {
  const out: EndpointPort = { name: port.name ?? "", port: port.port, protocol: port.protocol ?? "TCP" };
  if (port.appProtocol) out.appProtocol = port.appProtocol;
  return out;
}

/** `<name>-` cut to 58 characters (as generateName is) plus a 5-character suffix hashed from `seed`. */
export function sliceName(endpointsName: string, seed: string): string {
  const prefix = `${endpointsName}-`.slice(0, 58);
  const digest = createHash("sha256").update(seed).digest();
  let suffix = "";
  for (let i = 0; i < 5; i++) suffix += SUFFIX_ALPHABET[digest[i]! % SUFFIX_ALPHABET.length];
  return prefix + suffix;
}
