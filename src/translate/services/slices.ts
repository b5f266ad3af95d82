import type { EndpointSlice } from "../../model/k8s.ts";
import type { Problem } from "../../model/problems.ts";
import type { Endpoint } from "../snapshot.ts";
import { compareIPKeys, compareStrings, type Family, familyName, type IPSortKey, ipFamily, parseIPv4 } from "./ip.ts";

/** An endpoint's topology hints (`hints.forZones` / `hints.forNodes` names); undefined when the slice gives none. */
export interface EndpointHints {
  zones: ReadonlySet<string> | undefined;
  nodes: ReadonlySet<string> | undefined;
}

/**
 * One slice port's endpoints in slice order, with their address sort keys alongside (parallel
 * arrays instead of one wrapper object per endpoint: a full rebuild reads 100k endpoints, and the
 * wrappers were a third of its allocations).
 */
interface SliceList {
  endpoints: Endpoint[];
  keys: IPSortKey[];
}

/** The usable content of a Service's EndpointSlices, grouped by slice port (`name/protocol`). */
export interface SliceIndex {
  /** per port key, one list per slice serving it, in slice-name order */
  byPort: Map<string, SliceList[]>;
  /** topology hints by endpoint, for the few that have any; undefined when none has */
  hints: Map<Endpoint, EndpointHints> | undefined;
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
 * does) into candidate endpoints per slice port. A slice port without a name counts as the unnamed
 * port; a slice port without a valid number is reported and unused. An endpoint's first address is
 * the one used (the API allows only one); one that is not an IP of the slice's family is reported.
 */
export function indexSlices(
  slices: readonly EndpointSlice[],
  families: readonly Family[],
  problems: Problem[],
): SliceIndex {
  const index: SliceIndex = { byPort: new Map(), hints: undefined };
  const byPort = index.byPort;
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
      const key = portKey(p.name ?? "", p.protocol ?? "TCP");
      const list: SliceList = { endpoints: [], keys: [] };
      let perSlice = byPort.get(key);
      if (!perSlice) {
        perSlice = [];
        byPort.set(key, perSlice);
      }
      perSlice.push(list);
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
      list.keys.push(sortKey);
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
  const perSlice = index.byPort.get(portKey(name, protocol));
  if (!perSlice) return [];
  if (perSlice.length === 1 && strictlyAscending(perSlice[0]!.keys)) return perSlice[0]!.endpoints;
  const all: Keyed[] = [];
  for (const list of perSlice)
    for (let i = 0; i < list.endpoints.length; i++) all.push({ endpoint: list.endpoints[i]!, key: list.keys[i]! });
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

/** Every key orders strictly after the one before it (one slice port: same port, so no duplicates either). */
function strictlyAscending(keys: readonly IPSortKey[]): boolean {
  for (let i = 1; i < keys.length; i++) if (compareIPKeys(keys[i - 1]!, keys[i]!) >= 0) return false;
  return true;
}

/** kube-proxy's health check count: distinct ready ip:port on this node over all the Service's slice ports. */
export function localReadyCount(index: SliceIndex, nodeName: string): number {
  if (!nodeName) return 0;
  const seen = new Set<string>();
  for (const perSlice of index.byPort.values()) {
    for (const list of perSlice) {
      for (const e of list.endpoints) if (e.ready && e.nodeName === nodeName) seen.add(`${e.ip}|${e.port}`);
    }
  }
  return seen.size;
}
