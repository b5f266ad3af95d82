import { type BackendRef, GATEWAY_GROUP, type RouteKind } from "../../model/gateway.ts";
import type { BackendAppProtocol, L4Backend } from "../../snapshot/gateway.ts";
import type { BackendTarget } from "../../snapshot/ingress.ts";
import type { Store } from "../../store/store.ts";
import { endpointsFor } from "../ingress/backends.ts";
import type { ReferenceGrants } from "./references.ts";

export type BackendProblemReason = "BackendNotFound" | "RefNotPermitted" | "InvalidKind" | "UnsupportedProtocol";

/** One backendRef (core Service only; group "" and kind Service by default) resolved against the store. */
export interface ResolvedBackend {
  /** default 1 */
  weight: number;
  /** snapshot/ingress.ts; endpoints = ready (or serving+terminating) endpoint IPs of the port */
  target?: BackendTarget;
  /** from the Service port's appProtocol: kubernetes.io/h2c → h2c, kubernetes.io/ws → ws, else http */
  appProtocol: BackendAppProtocol;
  /** why the reference is not valid (then `target` is undefined); reason is the Gateway API reason for ResolvedRefs=False */
  problem?: { reason: BackendProblemReason; message: string; field: string };
}

/** BackendRef.weight: 0..1,000,000 (CRD bounds); missing = 1. Anything else is reported by the route compiler. */
export function backendWeight(weight: unknown): number | undefined {
  if (weight === undefined || weight === null) return 1;
  return typeof weight === "number" && Number.isInteger(weight) && weight >= 0 && weight <= 1_000_000
    ? weight
    : undefined;
}

/**
 * Resolves one backendRef of a Route to the endpoints of a Service port (the spec's HTTPBackendRef rules):
 * - group "" and kind Service only (the defaults); anything else → InvalidKind;
 * - a Service in another namespace needs a ReferenceGrant there → else RefNotPermitted (checked before the
 *   Service is looked up, so a refused reference does not tell whether the Service exists);
 * - `port` is required for a Service; a missing Service or port → BackendNotFound;
 * - ExternalName Services are refused (InvalidKind): the spec says implementations SHOULD NOT support them,
 *   they name DNS records outside the cluster, which may not be safe to forward to (CVE-2021-25740);
 * - the Service port's appProtocol decides how requests are carried (KEP-3726): `kubernetes.io/h2c` → h2c,
 *   `kubernetes.io/ws` → ws, unset or `http` → http; GRPCRoute backends are h2c unless the Service names
 *   another protocol (the spec lets the protocol be inferred from the Route type); any protocol we cannot
 *   speak (`kubernetes.io/wss`, `https`, ...) → UnsupportedProtocol.
 * A Service without ready endpoints is valid: its target has no endpoints (the plane answers 503).
 */
export function resolveBackendRef(
  store: Store,
  grants: ReferenceGrants,
  from: { kind: RouteKind; namespace: string },
  ref: BackendRef,
  field: string,
): ResolvedBackend {
  const weight = backendWeight(ref?.weight) ?? 0;
  const l4 = from.kind === "TCPRoute" || from.kind === "UDPRoute" || from.kind === "TLSRoute";
  const fallbackProtocol: BackendAppProtocol = from.kind === "GRPCRoute" ? "h2c" : "http";
  const fail = (reason: BackendProblemReason, message: string): ResolvedBackend => ({
    weight,
    appProtocol: fallbackProtocol,
    problem: { reason, message, field },
  });
  const group = ref?.group ?? "";
  const kind = ref?.kind ?? "Service";
  const name = typeof ref?.name === "string" ? ref.name : "";
  if (group !== "" || kind !== "Service")
    return fail(
      "InvalidKind",
      `backendRef kind ${JSON.stringify(kind)} in group ${JSON.stringify(group)} is not supported: only core Services are`,
    );
  if (name === "") return fail("BackendNotFound", "backendRef has no name");
  const namespace = typeof ref.namespace === "string" && ref.namespace !== "" ? ref.namespace : from.namespace;
  if (
    !grants.permits(
      { group: GATEWAY_GROUP, kind: from.kind, namespace: from.namespace },
      { group: "", kind: "Service", namespace, name },
    )
  )
    return fail(
      "RefNotPermitted",
      `backendRef to Service ${namespace}/${name} is not permitted: no ReferenceGrant in namespace ${JSON.stringify(namespace)} allows ${from.kind}s from namespace ${JSON.stringify(from.namespace)}`,
    );
  const port = ref.port;
  if (port === undefined || port === null) return fail("BackendNotFound", "backendRef to a Service needs a port");
  if (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65535)
    return fail("BackendNotFound", `backendRef port ${JSON.stringify(port)} is not a port number`);
  const service = store.get("Service", `${namespace}/${name}`);
  if (!service) return fail("BackendNotFound", `Service ${namespace}/${name} not found`);
  if (service.spec?.type === "ExternalName")
    return fail(
      "InvalidKind",
      `Service ${namespace}/${name} is of type ExternalName, which is not supported: it names a DNS record that may lie outside the cluster and is not safe to forward to (CVE-2021-25740)`,
    );
  const protocol = from.kind === "UDPRoute" ? "UDP" : "TCP";
  const servicePort = (service.spec?.ports ?? []).find((p) => p.port === port && (p.protocol ?? "TCP") === protocol);
  if (!servicePort) return fail("BackendNotFound", `Service ${namespace}/${name} has no ${protocol} port ${port}`);
  let appProtocol: BackendAppProtocol = fallbackProtocol;
  if (!l4) {
    const resolved = appProtocolOf(servicePort.appProtocol, from.kind === "GRPCRoute");
    if (typeof resolved !== "string") return fail("UnsupportedProtocol", resolved.message);
    appProtocol = resolved;
  }
  return {
    weight,
    appProtocol,
    target: {
      id: `${namespace}/${name}:${port}`,
      namespace,
      service: name,
      port,
      endpoints: endpointsFor(store, `${namespace}/${name}`, servicePort.name ?? "", protocol),
    },
  };
}

function appProtocolOf(value: string | undefined, grpc: boolean): BackendAppProtocol | { message: string } {
  switch (value) {
    case undefined:
    case "":
      return grpc ? "h2c" : "http";
    case "kubernetes.io/h2c":
      return "h2c";
    case "grpc":
      if (grpc) return "h2c";
      break;
    case "http":
      if (!grpc) return "http";
      break;
    case "kubernetes.io/ws":
      if (!grpc) return "ws";
      break;
  }
  return {
    message: grpc
      ? `Service port appProtocol ${JSON.stringify(value)} cannot carry gRPC: a GRPCRoute backend needs HTTP/2 cleartext (unset, kubernetes.io/h2c or grpc)`
      : `Service port appProtocol ${JSON.stringify(value)} is not supported (supported: unset, http, kubernetes.io/h2c, kubernetes.io/ws)`,
  };
}

/** The L4 form of a resolved backend (TCPRoute, UDPRoute, TLSRoute): invalid references keep their weight, without a target. */
export function toL4Backend(resolved: ResolvedBackend): L4Backend {
  const t = resolved.target;
  if (!t) return { weight: resolved.weight };
  return {
    weight: resolved.weight,
    target: {
      id: t.id,
      namespace: t.namespace,
      service: t.service,
      port: typeof t.port === "number" ? t.port : 0,
      endpoints: t.endpoints,
    },
  };
}
