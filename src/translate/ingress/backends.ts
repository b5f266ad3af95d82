import { isIP } from "node:net";
import type { IngressServiceBackend, Service } from "../../model/k8s.ts";
import type { Store } from "../../store/store.ts";
import type { BackendTarget, UpstreamEndpoint } from "./model.ts";

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

function endpointsFor(store: Store, serviceKey: string, portName: string): UpstreamEndpoint[] {
  const ready: UpstreamEndpoint[] = [];
  const fallback: UpstreamEndpoint[] = [];
  const seen = new Set<string>();
  for (const slice of store.slicesFor(serviceKey)) {
    if (slice.addressType !== "IPv4" && slice.addressType !== "IPv6") continue;
    const slicePort = (slice.ports ?? []).find((p) => (p.name ?? "") === portName && (p.protocol ?? "TCP") === "TCP");
    const port = slicePort?.port;
    if (port === undefined || !Number.isInteger(port) || port < 1 || port > 65535) continue;
    for (const endpoint of slice.endpoints ?? []) {
      // Per the EndpointSlice API, an unknown readiness means ready and serving defaults to ready.
      const isReady = endpoint.conditions?.ready ?? true;
      const serving = endpoint.conditions?.serving ?? isReady;
      const terminating = endpoint.conditions?.terminating ?? false;
      const list = isReady && !terminating ? ready : serving && terminating ? fallback : undefined;
      if (!list) continue;
      const ip = endpoint.addresses?.[0];
      if (!ip || isIP(ip) === 0) continue;
      const key = `${ip}|${port}`;
      if (seen.has(key)) continue;
      seen.add(key);
      list.push({ ip, port });
    }
  }
  const chosen = ready.length > 0 ? ready : fallback;
  return chosen.sort((a, b) => (a.ip === b.ip ? a.port - b.port : a.ip < b.ip ? -1 : 1));
}
