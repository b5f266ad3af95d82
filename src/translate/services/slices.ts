import type { EndpointSlice } from "../../model/k8s.ts";
import type { Problem } from "../../model/problems.ts";
import type { Endpoint } from "../snapshot.ts";
import {
  compareIPKeys,
  compareStrings,
  type Family,
  familyName,
  type IPSortKey,
  ipFamily,
  ipSortKey,
  normaliseIP,
} from "./ip.ts";

/** An endpoint as the categoriser needs it: the snapshot value plus its topology hints. */
export interface CandidateEndpoint {
  endpoint: Endpoint;
  family: Family;
  /** `hints.forZones` names; undefined when the slice gives none */
  zoneHints?: ReadonlySet<string>;
  /** `hints.forNodes` names; undefined when the slice gives none */
  nodeHints?: ReadonlySet<string>;
  sortKey: IPSortKey;
}

interface SliceEndpointInfo {
  ip: string;
  ready: boolean;
  serving: boolean;
  terminating: boolean;
  nodeName?: string;
  zone?: string;
  hostname?: string;
  targetRef?: string;
  zoneHints?: ReadonlySet<string>;
  nodeHints?: ReadonlySet<string>;
  sortKey: IPSortKey;
}

interface SliceInfo {
  family: Family;
  endpoints: SliceEndpointInfo[];
}

/** The usable content of a Service's EndpointSlices, grouped by slice port (`name/protocol`). */
export interface SliceIndex {
  /** per port key, the (port number, slice) pairs that serve it, in slice-name order */
  byPort: Map<string, { port: number; slice: SliceInfo }[]>;
}

export function portKey(name: string, protocol: string): string {
  return `${name}/${protocol}`;
}

function sliceProblem(slice: EndpointSlice, field: string, message: string): Problem {
  return {
    kind: "EndpointSlice",
    namespace: slice.metadata?.namespace ?? "default",
    name: slice.metadata?.name ?? "",
    field,
    message,
  };
}

function names(list: readonly { name: string }[] | undefined): ReadonlySet<string> | undefined {
  return list && list.length > 0 ? new Set(list.map((h) => h.name)) : undefined;
}

/**
 * Reads the slices of the address families the Service has (FQDN slices are ignored, as kube-proxy
 * does). A slice port without a name counts as the unnamed port; a slice port without a number is
 * unusable. An endpoint's first address is the one used (the API allows only one).
 */
export function indexSlices(
  slices: readonly EndpointSlice[],
  families: readonly Family[],
  problems: Problem[],
): SliceIndex {
  const byPort = new Map<string, { port: number; slice: SliceInfo }[]>();
  const ordered = [...slices].sort((a, b) => compareStrings(a.metadata?.name ?? "", b.metadata?.name ?? ""));
  for (const slice of ordered) {
    if (slice.addressType === "FQDN") continue;
    const family = slice.addressType === "IPv4" ? 4 : slice.addressType === "IPv6" ? 6 : undefined;
    if (family === undefined) {
      problems.push(sliceProblem(slice, "addressType", `unknown address type "${slice.addressType}"`));
      continue;
    }
    if (!families.includes(family)) continue;
    const info: SliceInfo = { family, endpoints: readEndpoints(slice, family, problems) };
    (slice.ports ?? []).forEach((p, i) => {
      if (typeof p.port !== "number" || !Number.isInteger(p.port) || p.port < 1 || p.port > 65535) {
        problems.push(sliceProblem(slice, `ports[${i}].port`, `invalid port ${JSON.stringify(p.port ?? null)}`));
        return;
      }
      const key = portKey(p.name ?? "", p.protocol ?? "TCP");
      let list = byPort.get(key);
      if (!list) {
        list = [];
        byPort.set(key, list);
      }
      list.push({ port: p.port, slice: info });
    });
  }
  return { byPort };
}

function readEndpoints(slice: EndpointSlice, family: Family, problems: Problem[]): SliceEndpointInfo[] {
  const out: SliceEndpointInfo[] = [];
  const namespace = slice.metadata?.namespace ?? "default";
  (slice.endpoints ?? []).forEach((ep, i) => {
    const address = ep.addresses?.[0];
    if (ipFamily(address) !== family) {
      problems.push(
        sliceProblem(
          slice,
          `endpoints[${i}].addresses[0]`,
          address === undefined
            ? "endpoint has no address"
            : `"${address}" is not an ${familyName(family)} address (slice addressType ${slice.addressType})`,
        ),
      );
      return;
    }
    const ip = normaliseIP(address!);
    const c = ep.conditions ?? {};
    const ref = ep.targetRef;
    const info: SliceEndpointInfo = {
      ip,
      // API semantics: ready and serving default to true when unset, terminating to false.
      ready: c.ready !== false,
      serving: c.serving !== false,
      terminating: c.terminating === true,
      sortKey: ipSortKey(ip),
    };
    if (ep.nodeName) info.nodeName = ep.nodeName;
    if (ep.zone) info.zone = ep.zone;
    if (ep.hostname) info.hostname = ep.hostname;
    if (ref?.name && (ref.kind === undefined || ref.kind === "Pod"))
      info.targetRef = `${ref.namespace ?? namespace}/${ref.name}`;
    const zoneHints = names(ep.hints?.forZones);
    const nodeHints = names(ep.hints?.forNodes);
    if (zoneHints) info.zoneHints = zoneHints;
    if (nodeHints) info.nodeHints = nodeHints;
    out.push(info);
  });
  return out;
}

/**
 * The endpoints serving one Service port: every slice port with the same name and protocol.
 * Duplicates (same ip:port in several slices, e.g. while an endpoint moves between slices) are
 * merged: the first ready copy wins, else the first copy. Sorted by address, then port.
 */
export function endpointsForPort(index: SliceIndex, name: string, protocol: string): CandidateEndpoint[] {
  const sources = index.byPort.get(portKey(name, protocol));
  if (!sources) return [];
  const all: CandidateEndpoint[] = [];
  for (const { port, slice } of sources)
    for (const ep of slice.endpoints) all.push(toCandidate(ep, port, slice.family));
  // Stable sort, so equal ip:port keep slice order; then keep one per ip:port, preferring a ready copy.
  all.sort((a, b) => compareIPKeys(a.sortKey, b.sortKey) || a.endpoint.port - b.endpoint.port);
  const out: CandidateEndpoint[] = [];
  for (const c of all) {
    const last = out[out.length - 1];
    if (last && last.endpoint.ip === c.endpoint.ip && last.endpoint.port === c.endpoint.port) {
      if (!last.endpoint.ready && c.endpoint.ready) out[out.length - 1] = c;
      continue;
    }
    out.push(c);
  }
  return out;
}

function toCandidate(ep: SliceEndpointInfo, port: number, family: Family): CandidateEndpoint {
  const endpoint: Endpoint = {
    ip: ep.ip,
    port,
    ready: ep.ready,
    serving: ep.serving,
    terminating: ep.terminating,
  };
  if (ep.nodeName !== undefined) endpoint.nodeName = ep.nodeName;
  if (ep.zone !== undefined) endpoint.zone = ep.zone;
  if (ep.hostname !== undefined) endpoint.hostname = ep.hostname;
  if (ep.targetRef !== undefined) endpoint.targetRef = ep.targetRef;
  const candidate: CandidateEndpoint = { endpoint, family, sortKey: ep.sortKey };
  if (ep.zoneHints) candidate.zoneHints = ep.zoneHints;
  if (ep.nodeHints) candidate.nodeHints = ep.nodeHints;
  return candidate;
}

/** kube-proxy's health check count: distinct ready ip:port on this node over all the Service's slice ports. */
export function localReadyCount(index: SliceIndex, nodeName: string): number {
  const seen = new Set<string>();
  if (!nodeName) return 0;
  for (const sources of index.byPort.values()) {
    for (const { port, slice } of sources) {
      for (const ep of slice.endpoints) if (ep.ready && ep.nodeName === nodeName) seen.add(`${ep.ip}|${port}`);
    }
  }
  return seen.size;
}
