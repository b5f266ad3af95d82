import type { EndpointSlice, Pod, Service } from "../../model/k8s.ts";
import type { Problem } from "../../model/problems.ts";
import type { Store } from "../../store/store.ts";
import type { TranslateOptions } from "../options.ts";
import { canonicalIp, dashedIp, type IpFamily, reverseName } from "./ip.ts";
import { DNS_SCHEMA_VERSION, type DnsRecords, type DnsSnapshot, EMPTY_DNS, type SrvRecord } from "./model.ts";

export { EMPTY_DNS };

/** Annotation older clusters use instead of `publishNotReadyAddresses` (named in the DNS specification). */
const TOLERATE_UNREADY = "service.alpha.kubernetes.io/tolerate-unready-endpoints";

/** What one Service (with its slices) contributes to the index. Memoised on object identity. */
interface Fragment {
  entries: readonly (readonly [string, DnsRecords])[];
  problems: readonly Problem[];
}

interface ServiceMemo {
  domain: string;
  slices: readonly EndpointSlice[];
  fragment: Fragment;
}

const serviceMemo = new WeakMap<Service, ServiceMemo>();
const podMemo = new WeakMap<Pod, { domain: string; fragment: Fragment }>();

/**
 * The last build: its index, which names more than one fragment contributes to, and the fragments.
 * A rebuild where few fragments changed copies the index and applies just those changes.
 */
interface LastBuild {
  domain: string;
  pods: string;
  fragments: readonly Fragment[];
  fragmentSet: ReadonlySet<Fragment>;
  shared: ReadonlyMap<string, readonly DnsRecords[]>;
  result: DnsSnapshot;
}

/** Per store, so two stores in one process (tests, embedders) never patch each other's index. */
const lastBuilds = new WeakMap<Store, LastBuild>();
let baseMemo: { key: string; fragment: Fragment } | undefined;

/**
 * Services, EndpointSlices and Pods → the DNS answer index (Kubernetes DNS specification 1.1.0,
 * with CoreDNS's choices where the specification leaves room). Pure: the memo only reuses results
 * for inputs that are the very same (immutable) objects.
 */
export function translateDns(store: Store, options: TranslateOptions): { snapshot: DnsSnapshot; problems: Problem[] } {
  const domain = normaliseName(options.clusterDomain);
  const fragments: Fragment[] = [];
  const namespaces = new Set<string>(["default"]);

  const services = sortByKey(store.list("Service"));
  for (const service of services) {
    const namespace = service.metadata?.namespace ?? "default";
    namespaces.add(namespace.toLowerCase());
    const slices = store.slicesFor(`${namespace}/${service.metadata?.name ?? ""}`);
    const memo = serviceMemo.get(service);
    if (memo && memo.domain === domain && sameItems(memo.slices, slices)) {
      fragments.push(memo.fragment);
      continue;
    }
    const fragment = guarded(service, () =>
      serviceFragment(service, slices.length > 1 ? sortByKey(slices) : slices, domain),
    );
    serviceMemo.set(service, { domain, slices, fragment });
    fragments.push(fragment);
  }
  for (const slice of store.list("EndpointSlice"))
    namespaces.add((slice.metadata?.namespace ?? "default").toLowerCase());
  for (const pod of store.list("Pod")) namespaces.add((pod.metadata?.namespace ?? "default").toLowerCase());

  if (options.dnsPods === "verified") {
    for (const pod of sortByKey(store.list("Pod"))) {
      const memo = podMemo.get(pod);
      if (memo && memo.domain === domain) {
        fragments.push(memo.fragment);
        continue;
      }
      const fragment = guarded(pod, () => podFragment(pod, domain), "Pod");
      podMemo.set(pod, { domain, fragment });
      fragments.push(fragment);
    }
  }

  const namespaceList = [...namespaces].sort();
  fragments.push(baseFragment(domain, namespaceList));
  const last = lastBuilds.get(store);
  const previous = last && last.domain === domain && last.pods === options.dnsPods ? last : undefined;
  if (previous && sameItems(previous.fragments, fragments)) {
    return { snapshot: previous.result, problems: fragments.flatMap((f) => f.problems) };
  }
  const { records, shared } = previous ? applyChanges(previous, fragments) : buildIndex(fragments);

  const snapshot: DnsSnapshot = {
    domain,
    records,
    soa: {
      mname: `ns.dns.${domain}`,
      rname: `hostmaster.${domain}`,
      // Increases whenever the zone content changes (the store revision that produced it).
      serial: store.revision >>> 0,
      refresh: 7200,
      retry: 1800,
      expire: 86400,
    },
    pods: options.dnsPods,
    namespaces: new Set(namespaceList),
  };
  lastBuilds.set(store, {
    domain,
    pods: options.dnsPods,
    fragments,
    fragmentSet: new Set(fragments),
    shared,
    result: snapshot,
  });
  return { snapshot, problems: fragments.flatMap((f) => f.problems) };
}

/**
 * An object whose shape the types did not foresee (a hand-written manifest, say) must cost only its
 * own records, never the zone: the failure becomes a Problem on that object.
 */
function guarded(
  obj: { metadata?: { namespace?: string; name?: string } },
  build: () => Fragment,
  kind = "Service",
): Fragment {
  try {
    return build();
  } catch (err) {
    return {
      entries: [],
      problems: [
        {
          kind,
          namespace: obj.metadata?.namespace,
          name: obj.metadata?.name,
          message: `no DNS records: ${err instanceof Error ? err.message : String(err)}`,
        },
      ],
    };
  }
}

/** The names every zone has: the apex, `svc`, `pod`, the schema version, and each namespace's subtrees. */
function baseFragment(domain: string, namespaces: readonly string[]): Fragment {
  const key = `${domain}|${namespaces.join(",")}`;
  if (baseMemo?.key === key) return baseMemo.fragment;
  const entries: [string, DnsRecords][] = [
    [domain, {}],
    [`svc.${domain}`, {}],
    [`pod.${domain}`, {}],
    [`dns-version.${domain}`, { txt: [DNS_SCHEMA_VERSION] }],
  ];
  for (const ns of namespaces) entries.push([`${ns}.svc.${domain}`, {}], [`${ns}.pod.${domain}`, {}]);
  baseMemo = { key, fragment: { entries, problems: [] } };
  return baseMemo.fragment;
}

/**
 * The index as a mutable pair: `records` (name → merged records) and `shared` (the contributions of
 * names that more than one fragment provides, so one can be taken out again). Contributions are
 * matched by identity.
 */
class IndexBuilder {
  readonly records: Map<string, DnsRecords>;
  readonly shared: Map<string, readonly DnsRecords[]>;

  constructor(records = new Map<string, DnsRecords>(), shared = new Map<string, readonly DnsRecords[]>()) {
    this.records = records;
    this.shared = shared;
  }

  add(name: string, value: DnsRecords): void {
    const existing = this.records.get(name);
    if (!existing) {
      this.records.set(name, value);
      return;
    }
    const list = [...(this.shared.get(name) ?? [existing]), value];
    this.shared.set(name, list);
    this.records.set(name, list.reduce(mergeRecords));
  }

  remove(name: string, value: DnsRecords): void {
    const list = this.shared.get(name);
    if (!list) {
      if (this.records.get(name) === value) this.records.delete(name);
      return;
    }
    const at = list.indexOf(value);
    if (at < 0) return;
    const rest = [...list.slice(0, at), ...list.slice(at + 1)];
    if (rest.length === 1) {
      this.shared.delete(name);
      this.records.set(name, rest[0]!);
    } else {
      this.shared.set(name, rest);
      this.records.set(name, rest.reduce(mergeRecords));
    }
  }
}

function buildIndex(fragments: readonly Fragment[]): IndexBuilder {
  const index = new IndexBuilder();
  for (const fragment of fragments) for (const [name, value] of fragment.entries) index.add(name, value);
  return index;
}

/** The previous index (copied: it is still being served) with the removed and added fragments applied. */
function applyChanges(previous: LastBuild, fragments: readonly Fragment[]): IndexBuilder {
  const now = new Set(fragments);
  const removed = previous.fragments.filter((f) => !now.has(f));
  const added = fragments.filter((f) => !previous.fragmentSet.has(f));
  const changed = removed.length + added.length;
  // When most of the zone changed, building afresh is cheaper than copying and patching.
  if (changed * 2 > fragments.length) return buildIndex(fragments);
  const index = new IndexBuilder(new Map(previous.result.records), new Map(previous.shared));
  for (const fragment of removed) for (const [name, value] of fragment.entries) index.remove(name, value);
  for (const fragment of added) for (const [name, value] of fragment.entries) index.add(name, value);
  return index;
}

function serviceFragment(service: Service, slices: readonly EndpointSlice[], domain: string): Fragment {
  const problems: Problem[] = [];
  const namespace = service.metadata?.namespace ?? "default";
  const name = service.metadata?.name ?? "";
  const problem = (field: string, message: string) =>
    problems.push({ kind: "Service", namespace, name, field, message });
  if (!isLabel(name.toLowerCase()) || !isLabel(namespace.toLowerCase())) {
    problem("metadata.name", "not a DNS label: no DNS records for this Service");
    return { entries: [], problems };
  }
  const base = `${name}.${namespace}.svc.${domain}`.toLowerCase();
  const entries: [string, DnsRecords][] = [];
  const spec = service.spec ?? {};

  if (spec.type === "ExternalName") {
    const target = normaliseName(spec.externalName ?? "");
    if (!target) problem("spec.externalName", "missing: no DNS record for this ExternalName Service");
    else if (canonicalIp(target)) problem("spec.externalName", `"${target}" is an IP address, not a DNS name`);
    else if (!isDomainName(target)) problem("spec.externalName", `"${spec.externalName}" is not a DNS name`);
    else entries.push([base, { cname: target }]);
    return { entries, problems };
  }

  const headless = spec.clusterIP === "None";
  const endpoints = readyEndpoints(service, slices, problems);
  // Endpoint names (CoreDNS answers them for every Service with endpoints; the spec asks it of headless ones).
  // Explicit hostnames get records here; the rest are named by their dashed address, which the lookup
  // turns back into an address and checks against `endpointIps` (no string built per endpoint).
  // The records are still private to this fragment, so they may grow in place.
  const named = new Map<string, { a?: string[]; aaaa?: string[] }>();
  const anonymous = new Set<string>();
  for (const ep of endpoints) {
    if (ep.hostname === undefined) {
      anonymous.add(ep.ip);
      continue;
    }
    let host = named.get(ep.hostname);
    if (!host) {
      host = {};
      named.set(ep.hostname, host);
    }
    if (ep.family === 4) {
      if (!host.a) host.a = [];
      if (!host.a.includes(ep.ip)) host.a.push(ep.ip);
    } else {
      if (!host.aaaa) host.aaaa = [];
      if (!host.aaaa.includes(ep.ip)) host.aaaa.push(ep.ip);
    }
  }
  const withEndpoints = (records: DnsRecords): DnsRecords => {
    if (!named.size && !anonymous.size) return records;
    const out: { -readonly [K in keyof DnsRecords]: DnsRecords[K] } = { ...records };
    if (named.size) out.endpoints = named;
    if (anonymous.size) out.endpointIps = anonymous;
    return out;
  };

  if (!headless) {
    const clusterIPs = (spec.clusterIPs?.length ? spec.clusterIPs : spec.clusterIP ? [spec.clusterIP] : []).filter(
      (ip) => ip !== "None",
    );
    const v4: string[] = [];
    const v6: string[] = [];
    clusterIPs.forEach((text, i) => {
      const ip = canonicalIp(text);
      if (!ip) {
        problem(spec.clusterIPs?.length ? `spec.clusterIPs[${i}]` : "spec.clusterIP", `"${text}" is not an IP address`);
        return;
      }
      (ip.family === 4 ? v4 : v6).push(ip.ip);
      entries.push([reverseName(ip.ip)!, { ptr: [base] }]);
    });
    entries.push([base, withEndpoints(addressRecords(v4, v6))]);
    const srvByName = new Map<string, SrvRecord[]>();
    for (const port of spec.ports ?? []) {
      if (!port.name) continue;
      const srvName = `_${port.name}._${(port.protocol ?? "TCP").toLowerCase()}.${base}`.toLowerCase();
      const list = srvByName.get(srvName) ?? [];
      list.push({ priority: 0, weight: 0, port: port.port, target: base });
      srvByName.set(srvName, list);
    }
    pushSrv(entries, srvByName);
  } else {
    // Headless: the name answers with the ready endpoints, and does not exist without them.
    if (endpoints.length === 0) return { entries, problems };
    const v4: string[] = [];
    const v6: string[] = [];
    for (const ep of endpoints) (ep.family === 4 ? v4 : v6).push(ep.ip);
    entries.push([base, withEndpoints(addressRecords(unique(v4), unique(v6)))]);
    // PTR records for the ready endpoints (spec 2.4.3); a ClusterIP Service's endpoints get none:
    // their reverse names are forwarded, as CoreDNS does with `fallthrough in-addr.arpa ip6.arpa`.
    for (const [hostname, ips] of named) {
      const ptr = { ptr: [`${hostname}.${base}`] };
      for (const ip of ips.a ?? []) entries.push([reverseName(ip)!, ptr]);
      for (const ip of ips.aaaa ?? []) entries.push([reverseName(ip)!, ptr]);
    }
    for (const ip of anonymous) entries.push([reverseName(ip)!, { ptr: [`${dashedIp(ip)}.${base}`] }]);
    const srvByName = new Map<string, SrvRecord[]>();
    const seen = new Set<string>();
    for (const ep of endpoints) {
      for (const port of ep.ports) {
        if (!port.name || port.port === undefined) continue;
        const srvName = `_${port.name}._${(port.protocol ?? "TCP").toLowerCase()}.${base}`.toLowerCase();
        const target = `${ep.hostname ?? dashedIp(ep.ip)}.${base}`;
        const key = `${srvName} ${target} ${port.port}`;
        if (seen.has(key)) continue;
        seen.add(key);
        let list = srvByName.get(srvName);
        if (!list) {
          list = [];
          srvByName.set(srvName, list);
        }
        list.push({ priority: 0, weight: 0, port: port.port, target });
      }
    }
    pushSrv(entries, srvByName);
  }

  return { entries, problems };
}

/** SRV weights as CoreDNS computes them: each of N records gets floor(100/N) (all share priority 0). */
function pushSrv(entries: [string, DnsRecords][], srvByName: Map<string, SrvRecord[]>): void {
  for (const [srvName, list] of srvByName) {
    const weight = Math.floor((100 / (100 * list.length)) * 100);
    entries.push([srvName, { srv: list.map((s) => ({ ...s, weight })) }]);
    // `_tcp.<svc>…` exists as an empty non-terminal: NODATA, not NXDOMAIN.
    entries.push([srvName.slice(srvName.indexOf(".") + 1), {}]);
  }
}

interface ReadyEndpoint {
  ip: string;
  family: IpFamily;
  /** the endpoint's own `hostname`, when it has a valid one */
  hostname: string | undefined;
  ports: readonly { name?: string; port?: number; protocol?: string }[];
}

/**
 * The specification's _ready_ endpoints: ready (unset counts as ready, per the EndpointSlice API),
 * or any endpoint when the Service publishes not-ready addresses.
 */
function readyEndpoints(service: Service, slices: readonly EndpointSlice[], problems: Problem[]): ReadyEndpoint[] {
  const publishAll =
    service.spec?.publishNotReadyAddresses === true || service.metadata?.annotations?.[TOLERATE_UNREADY] === "true";
  const out: ReadyEndpoint[] = [];
  for (const slice of slices) {
    if (slice.addressType !== "IPv4" && slice.addressType !== "IPv6") continue;
    const ports = slice.ports ?? [];
    (slice.endpoints ?? []).forEach((ep, i) => {
      if (!publishAll && ep.conditions?.ready === false) return;
      let hostname: string | undefined;
      if (ep.hostname !== undefined) {
        const lower = ep.hostname.toLowerCase();
        if (isLabel(lower)) hostname = lower;
        else
          problems.push({
            kind: "EndpointSlice",
            namespace: slice.metadata?.namespace,
            name: slice.metadata?.name,
            field: `endpoints[${i}].hostname`,
            message: `"${ep.hostname}" is not a DNS label; the endpoint is named by its address instead`,
          });
      }
      (ep.addresses ?? []).forEach((text, j) => {
        const ip = canonicalIp(text);
        if (!ip) {
          problems.push({
            kind: "EndpointSlice",
            namespace: slice.metadata?.namespace,
            name: slice.metadata?.name,
            field: `endpoints[${i}].addresses[${j}]`,
            message: `"${text}" is not an IP address`,
          });
          return;
        }
        out.push({ ip: ip.ip, family: ip.family, hostname, ports });
      });
    });
  }
  return out;
}

function podFragment(pod: Pod, domain: string): Fragment {
  const namespace = (pod.metadata?.namespace ?? "default").toLowerCase();
  const phase = pod.status?.phase;
  // Finished pods give their addresses back; they must not keep answering for them.
  if (phase === "Succeeded" || phase === "Failed") return { entries: [], problems: [] };
  const texts = pod.status?.podIPs?.length
    ? pod.status.podIPs.map((p) => p.ip)
    : pod.status?.podIP
      ? [pod.status.podIP]
      : [];
  const entries: [string, DnsRecords][] = [];
  for (const text of texts) {
    const ip = canonicalIp(text);
    if (!ip) continue;
    const name = `${dashedIp(ip.ip)}.${namespace}.pod.${domain}`;
    entries.push([name, ip.family === 4 ? { a: [ip.ip] } : { aaaa: [ip.ip] }]);
  }
  return { entries, problems: [] };
}

function addressRecords(v4: readonly string[], v6: readonly string[]): DnsRecords {
  const records: { a?: readonly string[]; aaaa?: readonly string[] } = {};
  if (v4.length) records.a = v4;
  if (v6.length) records.aaaa = v6;
  return records;
}

/** Two fragments naming the same owner (a shared address's PTR, a shared empty non-terminal): union of both. */
function mergeRecords(a: DnsRecords, b: DnsRecords): DnsRecords {
  if (isEmpty(b)) return a;
  if (isEmpty(a)) return b;
  const out: {
    a?: readonly string[];
    aaaa?: readonly string[];
    cname?: string;
    srv?: readonly SrvRecord[];
    txt?: readonly string[];
    ptr?: readonly string[];
    endpoints?: ReadonlyMap<string, DnsRecords>;
    endpointIps?: ReadonlySet<string>;
  } = {};
  const a4 = union(a.a, b.a);
  if (a4) out.a = a4;
  const a6 = union(a.aaaa, b.aaaa);
  if (a6) out.aaaa = a6;
  const cname = a.cname ?? b.cname;
  if (cname) out.cname = cname;
  const endpoints = a.endpoints ?? b.endpoints;
  if (endpoints) out.endpoints = endpoints;
  const endpointIps = a.endpointIps ?? b.endpointIps;
  if (endpointIps) out.endpointIps = endpointIps;
  const srv = a.srv || b.srv ? [...(a.srv ?? []), ...(b.srv ?? [])] : undefined;
  if (srv) out.srv = srv;
  const txt = union(a.txt, b.txt);
  if (txt) out.txt = txt;
  const ptr = union(a.ptr, b.ptr);
  if (ptr) out.ptr = ptr;
  return out;
}

function isEmpty(r: DnsRecords): boolean {
  return !r.a && !r.aaaa && !r.cname && !r.srv && !r.txt && !r.ptr && !r.endpoints && !r.endpointIps;
}

function union(a: readonly string[] | undefined, b: readonly string[] | undefined): readonly string[] | undefined {
  if (!a) return b;
  if (!b) return a;
  return unique([...a, ...b]);
}

function unique(list: readonly string[]): string[] {
  return [...new Set(list)];
}

function sameItems<T>(a: readonly T[], b: readonly T[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Objects ordered by `namespace/name` (keys computed once, not per comparison). */
function sortByKey<T extends { metadata?: { namespace?: string; name?: string } }>(items: Iterable<T>): T[] {
  const keyed = Array.from(items, (item) => ({
    key: `${item.metadata?.namespace ?? ""}/${item.metadata?.name ?? ""}`,
    item,
  }));
  keyed.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return keyed.map((k) => k.item);
}

/** Lowercase, without the trailing dot. */
export function normaliseName(name: string): string {
  const lower = name.trim().toLowerCase();
  return lower.endsWith(".") ? lower.slice(0, -1) : lower;
}

const LABEL = /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/;

function isLabel(label: string): boolean {
  return LABEL.test(label);
}

function isDomainName(name: string): boolean {
  return name.length <= 253 && name.split(".").every((l) => isLabel(l));
}
