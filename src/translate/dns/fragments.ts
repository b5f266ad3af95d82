import type { EndpointSlice, Pod, Service } from "../../model/k8s.ts";
import type { Problem } from "../../model/problems.ts";
import { DNS_SCHEMA_VERSION, type DnsRecords, SMALL_ENDPOINT_IPS, type SrvRecord } from "../../snapshot/dns.ts";
import { normaliseName } from "../../snapshot/dns-lookup.ts";
import { canonicalIp, dashedIp, type IpFamily, ipv4Value, isIPv4, reverseName } from "../../snapshot/ip.ts";

/**
 * The DNS records one object contributes (a Service with its slices, a Pod, the base names of a zone),
 * computed on their own; DnsTranslator (translator.ts) merges the fragments into the answer index.
 */

/** Annotation older clusters use instead of `publishNotReadyAddresses` (named in the DNS specification). */
const TOLERATE_UNREADY = "service.alpha.kubernetes.io/tolerate-unready-endpoints";

/**
 * What one object contributes to the index: a Service (with its slices), a Pod, or the base names.
 * `owner` orders the problems (Services by key, then Pods).
 */
export interface Fragment {
  owner: string;
  entries: Entries;
  problems: readonly Problem[];
}

/**
 * A fragment's names and their records as two parallel arrays, rather than a `[name, records]`
 * pair per name: a full build makes 40k names, and the fragments are kept (the memo).
 */
class Entries {
  readonly names: string[] = [];
  readonly values: DnsRecords[] = [];

  push(name: string, value: DnsRecords): void {
    this.names.push(name);
    this.values.push(value);
  }

  get length(): number {
    return this.names.length;
  }
}

/** The entries of a fragment without names (shared: an empty Entries is never written to). */
const NO_ENTRIES = new Entries();

const BASE_OWNER = "3";

/** A record set this fragment made and may still fill in. */
type OwnRecords = { -readonly [K in keyof DnsRecords]: DnsRecords[K] };

/**
 * An object whose shape the types did not foresee (a hand-written manifest, say) must cost only its
 * own records, never the zone: the failure becomes a Problem on that object.
 */
export function guarded(
  owner: string,
  obj: { metadata?: { namespace?: string; name?: string } },
  build: () => Fragment,
  kind = "Service",
): Fragment {
  try {
    return build();
  } catch (err) {
    return {
      owner,
      entries: NO_ENTRIES,
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
export function baseFragment(domain: string, namespaces: readonly string[]): Fragment {
  const entries = new Entries();
  entries.push(domain, {});
  entries.push(`svc.${domain}`, {});
  entries.push(`pod.${domain}`, {});
  entries.push(`dns-version.${domain}`, { txt: [DNS_SCHEMA_VERSION] });
  for (const ns of namespaces) {
    entries.push(`${ns}.svc.${domain}`, {});
    entries.push(`${ns}.pod.${domain}`, {});
  }
  return { owner: BASE_OWNER, entries, problems: [] };
}

export function serviceFragment(
  owner: string,
  service: Service,
  slices: readonly EndpointSlice[],
  domain: string,
): Fragment {
  const problems: Problem[] = [];
  const namespace = service.metadata?.namespace ?? "default";
  const name = service.metadata?.name ?? "";
  const problem = (field: string, message: string) =>
    problems.push({ kind: "Service", namespace, name, field, message });
  if (!isLabel(name.toLowerCase()) || !isLabel(namespace.toLowerCase())) {
    problem("metadata.name", "not a DNS label: no DNS records for this Service");
    return { owner, entries: NO_ENTRIES, problems };
  }
  const base = `${name}.${namespace}.svc.${domain}`.toLowerCase();
  const entries = new Entries();
  const spec = service.spec ?? {};

  if (spec.type === "ExternalName") {
    const target = normaliseName(spec.externalName ?? "");
    if (!target) problem("spec.externalName", "missing: no DNS record for this ExternalName Service");
    else if (canonicalIp(target)) problem("spec.externalName", `"${target}" is an IP address, not a DNS name`);
    else if (!isDomainName(target)) problem("spec.externalName", `"${spec.externalName}" is not a DNS name`);
    else entries.push(base, { cname: target });
    return { owner, entries, problems };
  }

  const headless = spec.clusterIP === "None";
  // Endpoint names (CoreDNS answers them for every Service with endpoints; the spec asks it of headless ones).
  // Explicit hostnames get records here; the rest are named by their dashed address, which the lookup
  // turns back into an address and checks against `endpointIps` (no string built per endpoint).
  // The records are still private to this fragment, so they may grow in place.
  let named: Map<string, { a?: string[]; aaaa?: string[] }> | undefined;
  const anonymous: string[] = [];
  // IPv4 addresses in rising order cannot repeat: then no check per address (the usual slice)
  let rising = true;
  let lastValue = -1;
  // Only a headless Service needs the endpoints again (its SRV and PTR records); the rest are not kept.
  const endpoints: ReadyEndpoint[] | undefined = headless ? [] : undefined;
  forEachReady(service, slices, problems, (ip, family, hostname, ports, value) => {
    endpoints?.push({ ip, family, hostname, ports });
    if (hostname === undefined) {
      if (value > lastValue) lastValue = value;
      else rising = false;
      anonymous.push(ip);
      return;
    }
    named ??= new Map();
    let host = named.get(hostname);
    if (!host) {
      host = {};
      named.set(hostname, host);
    }
    if (family === 4) {
      if (!host.a) host.a = [];
      if (!host.a.includes(ip)) host.a.push(ip);
    } else {
      if (!host.aaaa) host.aaaa = [];
      if (!host.aaaa.includes(ip)) host.aaaa.push(ip);
    }
  });
  const anonymousIps = anonymous.length > 0 ? endpointIps(anonymous, rising) : undefined;
  const withEndpoints = (records: { a?: readonly string[]; aaaa?: readonly string[] }): OwnRecords => {
    // the records object is this fragment's own (addressRecords made it): fill it in, no copy
    const out: OwnRecords = records;
    if (named) out.endpoints = named;
    if (anonymousIps) out.endpointIps = anonymousIps;
    return out;
  };

  if (!headless) {
    const listed = (spec.clusterIPs?.length ?? 0) > 0;
    const clusterIPs = listed ? spec.clusterIPs! : spec.clusterIP ? [spec.clusterIP] : [];
    const v4: string[] = [];
    const v6: string[] = [];
    for (let i = 0; i < clusterIPs.length; i++) {
      const text = clusterIPs[i]!;
      if (text === "None") continue;
      // a valid IPv4 text is already canonical: no parse result object for the usual case
      const ipv4 = isIPv4(text);
      const ip = ipv4 ? text : canonicalIp(text)?.ip;
      if (ip === undefined) {
        problem(listed ? `spec.clusterIPs[${i}]` : "spec.clusterIP", `"${text}" is not an IP address`);
        continue;
      }
      (ipv4 ? v4 : v6).push(ip);
      entries.push(reverseName(ip)!, { ptr: [base] });
    }
    const records = withEndpoints(addressRecords(v4, v6));
    // CoreDNS makes one record per clusterIP × port and weighs them by that count, then drops the
    // repeats (the target is the Service name for every clusterIP): a dual-stack port weighs 50.
    // (A Service without a clusterIP yet still gets its SRV records, weighed as if it had one.)
    const ipCount = Math.max(1, v4.length + v6.length);
    const ports = spec.ports ?? [];
    // The bare Service name's SRV lists every port, named or not (CoreDNS: no port filter).
    const bare: SrvRecord[] = [];
    // a Set only for many ports: a full rebuild visits every Service, and most have one or two
    const portsSeen = ports.length > 8 ? new Set<number>() : undefined;
    for (const port of ports) {
      if (portsSeen ? portsSeen.has(port.port) : bare.some((s) => s.port === port.port)) continue;
      portsSeen?.add(port.port);
      bare.push({ priority: 0, weight: 0, port: port.port, target: base });
    }
    if (bare.length > 0) records.srv = weighted(bare, ports.length * ipCount);
    entries.push(base, records);
    // PTR records for endpoints with a hostname of their own (CoreDNS's reverse lookup searches every
    // Service's endpoints); the anonymous ones are left to the upstream, see docs/dns.md "CoreDNS parity".
    pushHostnamePtrs(entries, named, base);
    // SRV names of the named ports, grouped by name (a Map: a Service's ports are unbounded, and a
    // list searched per port made 10,000 ports quadratic)
    let srv: Map<string, SrvRecord[]> | undefined;
    for (const port of ports) {
      if (!port.name) continue;
      const srvName = `_${port.name}._${(port.protocol ?? "TCP").toLowerCase()}.${base}`.toLowerCase();
      srv ??= new Map();
      let records = srv.get(srvName);
      if (!records) {
        records = [];
        srv.set(srvName, records);
      }
      records.push({ priority: 0, weight: 0, port: port.port, target: base });
    }
    if (srv) for (const [srvName, records] of srv) pushSrvName(entries, srvName, records, records.length * ipCount);
  } else {
    // Headless: the name answers with the ready endpoints, and does not exist without them.
    if (!endpoints || endpoints.length === 0) return { owner, entries, problems };
    const v4: string[] = [];
    const v6: string[] = [];
    for (const ep of endpoints) (ep.family === 4 ? v4 : v6).push(ep.ip);
    const records = withEndpoints(addressRecords(unique(v4), unique(v6)));
    // PTR records for the ready endpoints (spec 2.4.3).
    pushHostnamePtrs(entries, named, base);
    for (const ip of anonymousIps ?? []) entries.push(reverseName(ip)!, { ptr: [`${dashedIp(ip)}.${base}`] });
    // SRV: CoreDNS makes one record per endpoint address × port (a port-less endpoint counts, with no
    // record), weighs each by that count, then drops repeats of (target, port): two addresses under
    // one hostname give one SRV record, and 6 addresses weigh 16 each.
    const srvByName = new Map<string, { list: SrvRecord[]; count: number }>();
    const bare: SrvRecord[] = [];
    let bareCount = 0;
    const seen = new Set<string>();
    for (const ep of endpoints) {
      const target = `${ep.hostname ?? dashedIp(ep.ip)}.${base}`;
      if (ep.ports.length === 0) bareCount++;
      for (const port of ep.ports) {
        bareCount++;
        if (port.port === undefined) continue;
        const bareKey = `${target} ${port.port}`;
        if (!seen.has(bareKey)) {
          seen.add(bareKey);
          bare.push({ priority: 0, weight: 0, port: port.port, target });
        }
        if (!port.name) continue;
        const srvName = `_${port.name}._${(port.protocol ?? "TCP").toLowerCase()}.${base}`.toLowerCase();
        let group = srvByName.get(srvName);
        if (!group) {
          group = { list: [], count: 0 };
          srvByName.set(srvName, group);
        }
        group.count++;
        const key = `${srvName} ${target} ${port.port}`;
        if (seen.has(key)) continue;
        seen.add(key);
        group.list.push({ priority: 0, weight: 0, port: port.port, target });
      }
    }
    if (bare.length > 0) records.srv = weighted(bare, bareCount);
    entries.push(base, records);
    for (const [srvName, group] of srvByName) pushSrvName(entries, srvName, group.list, group.count);
  }

  return { owner, entries, problems };
}

/**
 * The addresses once each, in first-seen order: the list itself when `distinct` (known not to
 * repeat) and short, else deduplicated through a Set; a Set when longer than SMALL_ENDPOINT_IPS.
 */
function endpointIps(ips: string[], distinct: boolean): readonly string[] | ReadonlySet<string> {
  if (distinct && ips.length <= SMALL_ENDPOINT_IPS) return ips;
  const set = new Set(ips);
  return set.size <= SMALL_ENDPOINT_IPS ? [...set] : set;
}

/**
 * SRV weights as CoreDNS computes them (plugin/backend_lookup.go): all share priority 0, and each of
 * the `count` records it made before dropping repeats gets floor(100 / count), at least 1. The
 * float steps are CoreDNS's own, so the rounding is the same. `list` is the caller's own, weighted in place.
 */
function weighted(list: SrvRecord[], count: number): SrvRecord[] {
  const weight = Math.floor((100 / (100 * count)) * 100) || 1;
  for (const s of list) s.weight = weight;
  return list;
}

/** One SRV name and its empty parent. */
function pushSrvName(entries: Entries, srvName: string, list: SrvRecord[], count: number): void {
  entries.push(srvName, { srv: weighted(list, count) });
  // `_tcp.<svc>…` exists as an empty non-terminal: NODATA, not NXDOMAIN.
  entries.push(srvName.slice(srvName.indexOf(".") + 1), {});
}

/** `<ip>.in-addr.arpa PTR <hostname>.<service>`, for each endpoint address with a hostname. */
function pushHostnamePtrs(
  entries: Entries,
  named: ReadonlyMap<string, { a?: string[]; aaaa?: string[] }> | undefined,
  base: string,
): void {
  for (const [hostname, ips] of named ?? []) {
    const ptr = { ptr: [`${hostname}.${base}`] };
    for (const ip of ips.a ?? []) entries.push(reverseName(ip)!, ptr);
    for (const ip of ips.aaaa ?? []) entries.push(reverseName(ip)!, ptr);
  }
}

interface ReadyEndpoint {
  ip: string;
  family: IpFamily;
  /** the endpoint's own `hostname`, when it has a valid one */
  hostname: string | undefined;
  ports: readonly Port[];
}

type Port = { name?: string; port?: number; protocol?: string };

/**
 * Visits the specification's _ready_ endpoint addresses: ready (unset counts as ready, per the
 * EndpointSlice API), or any endpoint when the Service publishes not-ready addresses. Addresses come
 * canonical; an IPv4 one is already (leading zeros are refused), so it is passed on without copying.
 */
function forEachReady(
  service: Service,
  slices: readonly EndpointSlice[],
  problems: Problem[],
  /** `value` is an IPv4 address's number (see ipv4Value), -1 for IPv6 */
  visit: (ip: string, family: IpFamily, hostname: string | undefined, ports: readonly Port[], value: number) => void,
): void {
  const publishAll =
    service.spec?.publishNotReadyAddresses === true || service.metadata?.annotations?.[TOLERATE_UNREADY] === "true";
  for (const slice of slices) {
    if (slice.addressType !== "IPv4" && slice.addressType !== "IPv6") continue;
    const ports = slice.ports ?? [];
    const list = slice.endpoints ?? [];
    for (let i = 0; i < list.length; i++) {
      const ep = list[i]!;
      if (!publishAll && ep.conditions?.ready === false) continue;
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
      const addresses = ep.addresses ?? [];
      for (let j = 0; j < addresses.length; j++) {
        const text = addresses[j]!;
        const value = ipv4Value(text);
        if (value >= 0) {
          visit(text, 4, hostname, ports, value);
          continue;
        }
        const ip = canonicalIp(text);
        if (!ip) {
          problems.push({
            kind: "EndpointSlice",
            namespace: slice.metadata?.namespace,
            name: slice.metadata?.name,
            field: `endpoints[${i}].addresses[${j}]`,
            message: `"${text}" is not an IP address`,
          });
          continue;
        }
        visit(ip.ip, ip.family, hostname, ports, -1);
      }
    }
  }
}

export function podFragment(owner: string, pod: Pod, domain: string): Fragment {
  const namespace = (pod.metadata?.namespace ?? "default").toLowerCase();
  const phase = pod.status?.phase;
  // Finished pods give their addresses back; they must not keep answering for them.
  if (phase === "Succeeded" || phase === "Failed") return { owner, entries: NO_ENTRIES, problems: [] };
  const texts = pod.status?.podIPs?.length
    ? pod.status.podIPs.map((p) => p.ip)
    : pod.status?.podIP
      ? [pod.status.podIP]
      : [];
  const entries = new Entries();
  for (const text of texts) {
    const ip = canonicalIp(text);
    if (!ip) continue;
    const name = `${dashedIp(ip.ip)}.${namespace}.pod.${domain}`;
    entries.push(name, ip.family === 4 ? { a: [ip.ip] } : { aaaa: [ip.ip] });
  }
  return { owner, entries, problems: [] };
}

function addressRecords(v4: readonly string[], v6: readonly string[]): DnsRecords {
  const records: { a?: readonly string[]; aaaa?: readonly string[] } = {};
  if (v4.length) records.a = v4;
  if (v6.length) records.aaaa = v6;
  return records;
}

/** Two fragments naming the same owner (a shared address's PTR, a shared empty non-terminal): union of both. */
export function mergeRecords(a: DnsRecords, b: DnsRecords): DnsRecords {
  if (isEmpty(b)) return a;
  if (isEmpty(a)) return b;
  const out: DnsRecords = {};
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

const LABEL = /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/;

function isLabel(label: string): boolean {
  return LABEL.test(label);
}

function isDomainName(name: string): boolean {
  return name.length <= 253 && name.split(".").every((l) => isLabel(l));
}
