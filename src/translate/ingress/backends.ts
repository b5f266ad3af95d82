import type { EndpointSlice, IngressServiceBackend, Service } from "../../model/k8s.ts";
import type { BackendTarget, UpstreamEndpoint } from "../../snapshot/ingress.ts";
// pure string checks (translators stay free of node:net)
import { isIPv4, parseIPv6 } from "../../snapshot/ip.ts";
import type { Store } from "../../store/store.ts";

/**
 * Resolves an Ingress backend (Service + port by number or name) to endpoint addresses:
 * Ingress port → Service port → its name → the EndpointSlice port of that name (the targetPort as the
 * endpoints controller resolved it). Ready endpoints; when none is ready, serving+terminating ones.
 * Returns an error message when the reference cannot be resolved (the target then has no endpoints → 503).
 */
export function resolveBackend(
  store: Store,
  namespace: string,
  backend: IngressServiceBackend,
): { target: BackendTarget; error?: string } {
  const port = backend.port?.number ?? backend.port?.name ?? "";
  const target: BackendTarget = {
    id: `${namespace}/${backend.name}:${port}`,
    namespace,
    service: backend.name,
    port,
    endpoints: [],
  };
  if (port === "") return { target, error: "service.port needs a number or a name" };
  const service = store.get("Service", `${namespace}/${backend.name}`);
  if (!service) return { target, error: `Service "${namespace}/${backend.name}" not found` };
  if (service.spec?.type === "ExternalName")
    return { target, error: `Service "${namespace}/${backend.name}" is ExternalName, which has no endpoints` };
  const servicePort = findServicePort(service, port);
  if (!servicePort)
    return { target, error: `Service "${namespace}/${backend.name}" has no port ${JSON.stringify(port)}` };
  if ((servicePort.protocol ?? "TCP") !== "TCP")
    return { target, error: `Service port ${JSON.stringify(port)} is ${servicePort.protocol}, not TCP` };
  return {
    target: { ...target, endpoints: endpointsFor(store, `${namespace}/${backend.name}`, servicePort.name ?? "") },
  };
}

function findServicePort(service: Service, port: number | string) {
  const ports = service.spec?.ports ?? [];
  return typeof port === "number" ? ports.find((p) => p.port === port) : ports.find((p) => p.name === port);
}

/**
 * The endpoints of the Service `serviceKey`'s port named `portName` (the Service port's name: the slices
 * carry the targetPort resolved under that name), `protocol` TCP or UDP: ready ones, or serving+terminating
 * ones when none is ready, sorted, without repeats. Shared with the Gateway API backends (translate/gateway/backends.ts).
 */
export function endpointsFor(
  store: Store,
  serviceKey: string,
  portName: string,
  protocol: "TCP" | "UDP" = "TCP",
): UpstreamEndpoint[] {
  const slices = store.slicesFor(serviceKey);
  const { ready, fallback } = collectEndpoints(slices, portName, protocol, undefined);
  // With only one list filled, a repeated ip:port can only repeat within it: sorted, it is dropped
  // as the neighbour of its twin. No Set and no key string per endpoint (1k Ingresses over 10k
  // endpoints on a full rebuild). With both filled, the first copy in slice order decides which list
  // an address lands in: the walk again, keeping the first copy only.
  if (ready.length > 0 && fallback.length > 0) {
    const exact = collectEndpoints(slices, portName, protocol, new Set());
    return sortEndpoints(exact.ready.length > 0 ? exact.ready : exact.fallback);
  }
  return withoutRepeats(sortEndpoints(ready.length > 0 ? ready : fallback));
}

/**
 * The ready and the serving+terminating endpoints of the named port, in slice order. With `seen`, an
 * ip:port already listed is skipped, so the first copy decides its list.
 */
function collectEndpoints(
  slices: readonly EndpointSlice[],
  portName: string,
  protocol: "TCP" | "UDP",
  seen: Set<string> | undefined,
): { ready: UpstreamEndpoint[]; fallback: UpstreamEndpoint[] } {
  const ready: UpstreamEndpoint[] = [];
  const fallback: UpstreamEndpoint[] = [];
  for (const slice of slices) {
    const port = slicePort(slice, portName, protocol);
    if (port === undefined) continue;
    for (const endpoint of slice.endpoints ?? []) {
      const list = listFor(endpoint, ready, fallback);
      if (!list) continue;
      const ip = endpoint.addresses?.[0];
      if (!ip || !(isIPv4(ip) || parseIPv6(ip))) continue;
      if (seen) {
        const key = `${ip}|${port}`;
        if (seen.has(key)) continue;
        seen.add(key);
      }
      list.push({ ip, port });
    }
  }
  return { ready, fallback };
}

/** The ready list to put an endpoint in, the serving+terminating fallback, or none. */
function listFor(
  endpoint: NonNullable<EndpointSlice["endpoints"]>[number],
  ready: UpstreamEndpoint[],
  fallback: UpstreamEndpoint[],
): UpstreamEndpoint[] | undefined {
  // Per the EndpointSlice API, an unknown readiness means ready and serving defaults to ready.
  const isReady = endpoint.conditions?.ready ?? true;
  const serving = endpoint.conditions?.serving ?? isReady;
  const terminating = endpoint.conditions?.terminating ?? false;
  return isReady && !terminating ? ready : serving && terminating ? fallback : undefined;
}

/** The slice's port number for the named port of that protocol, when it has a valid one. */
function slicePort(slice: EndpointSlice, portName: string, protocol: "TCP" | "UDP"): number | undefined {
  if (slice.addressType !== "IPv4" && slice.addressType !== "IPv6") return undefined;
  const found = (slice.ports ?? []).find((p) => (p.name ?? "") === portName && (p.protocol ?? "TCP") === protocol);
  const port = found?.port;
  return port === undefined || !Number.isInteger(port) || port < 1 || port > 65535 ? undefined : port;
}

function sortEndpoints(list: UpstreamEndpoint[]): UpstreamEndpoint[] {
  return list.sort((a, b) => (a.ip === b.ip ? a.port - b.port : a.ip < b.ip ? -1 : 1));
}

/** A sorted list without its repeated neighbours (in place). */
function withoutRepeats(list: UpstreamEndpoint[]): UpstreamEndpoint[] {
  let n = 0;
  for (const e of list) {
    const last = n > 0 ? list[n - 1]! : undefined;
    if (last && last.ip === e.ip && last.port === e.port) continue;
    list[n++] = e;
  }
  list.length = n;
  return list;
}
