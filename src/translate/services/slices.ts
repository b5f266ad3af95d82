import type { EndpointSlice } from "../../model/k8s.ts";
import type { Problem } from "../../model/problems.ts";
import type { Endpoint } from "../../snapshot/snapshot.ts";
import {
  compareIPKeys,
  compareStrings,
  type Family,
  familyName,
  type IPSortKey,
  ipFamily,
  ipSortKey,
  parseIPv4,
} from "./ip.ts";

/** An endpoint's topology hints (`hints.forZones` / `hints.forNodes` names); undefined when the slice gives none. */
export interface EndpointHints {
  zones: ReadonlySet<string> | undefined;
  nodes: ReadonlySet<string> | undefined;
}

/**
 * One slice port's endpoints in slice order, and whether their addresses come in strictly rising
 * order (then the list needs no sort and has no duplicate). No wrapper object per endpoint: a full
 * rebuild reads 100k endpoints, and the wrappers were a third of its allocations.
 */
interface SliceList {
  endpoints: Endpoint[];
  ascending: boolean;
  /** the sort key of the last endpoint pushed */
  last: IPSortKey | undefined;
}

/** The slices' lists for one slice port name and protocol. */
interface PortLists {
  name: string;
  protocol: string;
  /** one list per slice serving it, in slice-name order */
  lists: SliceList[];
}

/** The usable content of a Service's EndpointSlices, grouped by slice port (name and protocol). */
export interface SliceIndex {
  /** a Service has a few ports: a short list, not a Map */
  byPort: PortLists[];
  /** topology hints by endpoint, for the few that have any; undefined when none has */
  hints: Map<Endpoint, EndpointHints> | undefined;
}

function listsFor(index: SliceIndex, name: string, protocol: string): PortLists | undefined {
  for (const port of index.byPort) if (port.name === name && port.protocol === protocol) return port;
  return undefined;
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
 * does) into candidate endpoints per slice port. A slice port without a name counts as the unnamed
 * port; a slice port without a valid number is reported and unused. An endpoint's first address is
 * the one used (the API allows only one); one that is not an IP of the slice's family is reported.
 */
export function indexSlices(
  slices: readonly EndpointSlice[],
  families: readonly Family[],
  problems: Problem[],
): SliceIndex {
  const index: SliceIndex = { byPort: [], hints: undefined };
  const ordered =
    slices.length < 2
      ? slices
      : [...slices].sort((a, b) => compareStrings(a.metadata?.name ?? "", b.metadata?.name ?? ""));
  for (const slice of ordered) {
    if (slice.addressType === "FQDN") continue;
    const family = slice.addressType === "IPv4" ? 4 : slice.addressType === "IPv6" ? 6 : undefined;
    if (family === undefined) {
      problems.push(sliceProblem(slice, "addressType", `unknown address type "${slice.addressType}"`));
      continue;
    }
    if (!families.includes(family)) continue;
    const ports: number[] = [];
    const lists: SliceList[] = [];
    (slice.ports ?? []).forEach((p, i) => {
      if (typeof p.port !== "number" || !Number.isInteger(p.port) || p.port < 1 || p.port > 65535) {
        problems.push(sliceProblem(slice, `ports[${i}].port`, `invalid port ${JSON.stringify(p.port ?? null)}`));
        return;
      }
      const name = p.name ?? "";
      const protocol = p.protocol ?? "TCP";
      const list: SliceList = { endpoints: [], ascending: true, last: undefined };
      let port = listsFor(index, name, protocol);
      if (!port) {
        port = { name, protocol, lists: [] };
        index.byPort.push(port);
      }
      port.lists.push(list);
      ports.push(p.port);
      lists.push(list);
    });
    readEndpoints(slice, family, ports, lists, index, problems);
  }
  return index;
}

function readEndpoints(
  slice: EndpointSlice,
  family: Family,
  ports: readonly number[],
  lists: readonly SliceList[],
  index: SliceIndex,
  problems: Problem[],
): void {
  const endpoints = slice.endpoints ?? [];
  for (let i = 0; i < endpoints.length; i++) {
    const ep = endpoints[i]!;
    const address = ep.addresses?.[0];
    const v4 = family === 4 && address !== undefined ? parseIPv4(address) : -1;
    if (family === 4 ? v4 < 0 : ipFamily(address) !== 6) {
      problems.push(
        sliceProblem(
          slice,
          `endpoints[${i}].addresses[0]`,
          address === undefined
            ? "endpoint has no address"
            : `"${address}" is not an ${familyName(family)} address (slice addressType ${slice.addressType})`,
        ),
      );
      continue;
    }
    if (ports.length === 0) continue;
    const ip = family === 4 ? address! : address!.toLowerCase();
    const c = ep.conditions;
    // API semantics: ready and serving default to true when unset, terminating to false.
    const ready = c?.ready !== false;
    const serving = c?.serving !== false;
    const terminating = c?.terminating === true;
    const ref = ep.targetRef;
    const targetRef =
      ref?.name && (ref.kind === undefined || ref.kind === "Pod")
        ? `${ref.namespace ?? slice.metadata?.namespace ?? "default"}/${ref.name}`
        : undefined;
    const zones = ep.hints ? names(ep.hints.forZones) : undefined;
    const nodes = ep.hints ? names(ep.hints.forNodes) : undefined;
    const hints = zones || nodes ? { zones, nodes } : undefined;
    const sortKey = family === 4 ? v4 : ip;
    for (let j = 0; j < ports.length; j++) {
      // One shape for every Endpoint (absent fields are undefined), so consumers stay monomorphic.
      const endpoint: Endpoint = {
        ip,
        port: ports[j]!,
        ready,
        serving,
        terminating,
        nodeName: ep.nodeName || undefined,
        zone: ep.zone || undefined,
        hostname: ep.hostname || undefined,
        targetRef,
      };
      const list = lists[j]!;
      list.endpoints.push(endpoint);
      if (list.last !== undefined && compareIPKeys(list.last, sortKey) >= 0) list.ascending = false;
      list.last = sortKey;
      if (hints) {
        index.hints ??= new Map();
        index.hints.set(endpoint, hints);
      }
    }
  }
}

interface Keyed {
  endpoint: Endpoint;
  key: IPSortKey;
}

function byAddress(a: Keyed, b: Keyed): number {
  return compareIPKeys(a.key, b.key) || a.endpoint.port - b.endpoint.port;
}

/**
 * The endpoints serving one Service port: every slice port with the same name and protocol.
 * Duplicates (same ip:port in several slices, e.g. while an endpoint moves between slices) are
 * merged: the first ready copy wins, else the first copy. Sorted by address, then port.
 * The caller must not modify the result: for one slice already in strict address order (the usual
 * case) it is that slice's own list, with no copy and no sort.
 */
export function endpointsForPort(index: SliceIndex, name: string, protocol: string): readonly Endpoint[] {
  const perSlice = listsFor(index, name, protocol)?.lists;
  if (!perSlice) return [];
  if (perSlice.length === 1 && perSlice[0]!.ascending) return perSlice[0]!.endpoints;
  const all: Keyed[] = [];
  for (const list of perSlice)
    for (const endpoint of list.endpoints) all.push({ endpoint, key: ipSortKey(endpoint.ip) });
  // Stable sort, so equal ip:port keep slice order; then keep one per ip:port, preferring a ready copy.
  all.sort(byAddress);
  const out: Endpoint[] = [];
  for (const { endpoint: e } of all) {
    const last = out.length > 0 ? out[out.length - 1]! : undefined;
    if (last && last.port === e.port && last.ip === e.ip) {
      if (!last.ready && e.ready) out[out.length - 1] = e;
      continue;
    }
    out.push(e);
  }
  return out;
}

/** kube-proxy's health check count: distinct ready ip:port on this node over all the Service's slice ports. */
export function localReadyCount(index: SliceIndex, nodeName: string): number {
  if (!nodeName) return 0;
  const seen = new Set<string>();
  for (const port of index.byPort) {
    for (const list of port.lists) {
      for (const e of list.endpoints) if (e.ready && e.nodeName === nodeName) seen.add(`${e.ip}|${e.port}`);
    }
  }
  return seen.size;
}
