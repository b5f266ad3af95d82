/**
 * The defaults the API server fills in on write (pure), applied to a validated manifest so the
 * store holds what `kubectl get -o yaml` would show: namespace, Service type/protocol/targetPort/
 * traffic policies, EndpointSlice port defaults, Secret stringData folded into data, pod IP lists.
 * Address and port allocation is not here: see allocator.ts.
 */
import {
  type EndpointSlice,
  type Endpoints,
  NAMESPACE_NAME_LABEL,
  type Pod,
  type Secret,
  type Service,
  type TypedObject,
} from "../../model/k8s.ts";
import { isClusterScoped, type ManifestKind } from "./validate.ts";

/** Returns a defaulted deep copy; the input is left untouched. */
export function applyDefaults(kind: ManifestKind, input: Record<string, unknown>): TypedObject {
  const obj = structuredClone(input) as TypedObject & Record<string, unknown>;
  const meta = obj.metadata!;
  if (isClusterScoped(kind)) delete meta.namespace;
  else meta.namespace = meta.namespace || "default";
  // Server-owned bookkeeping that a dump from a cluster may carry; this process owns it now.
  delete meta.resourceVersion;
  delete (meta as Record<string, unknown>).managedFields;
  delete (meta as Record<string, unknown>).selfLink;
  delete (meta as Record<string, unknown>).generateName;
  switch (kind) {
    case "Service":
      defaultService(obj as Service);
      break;
    case "EndpointSlice":
      for (const port of (obj as unknown as EndpointSlice).ports ?? []) {
        port.name ??= "";
        port.protocol ??= "TCP";
      }
      break;
    case "Endpoints":
      for (const subset of (obj as Endpoints).subsets ?? [])
        for (const port of subset.ports ?? []) port.protocol ??= "TCP";
      break;
    case "Secret":
      defaultSecret(obj as Secret);
      break;
    case "Pod":
      defaultPod(obj as Pod);
      break;
    case "Namespace":
      // set by the API server on every Namespace (and not changeable): selectors pick namespaces by name with it
      meta.labels = { ...meta.labels, [NAMESPACE_NAME_LABEL]: meta.name ?? "" };
      break;
    default:
      break;
  }
  return obj;
}

function defaultService(svc: Service): void {
  const spec = svc.spec!;
  spec.type ||= "ClusterIP";
  const type = spec.type;
  if (spec.clusterIP === "") delete spec.clusterIP;
  if (spec.clusterIPs?.length === 0) delete spec.clusterIPs;
  if (spec.healthCheckNodePort === 0) delete spec.healthCheckNodePort;
  if (spec.loadBalancerIP === "") delete spec.loadBalancerIP;
  spec.sessionAffinity ||= "None";
  if (spec.sessionAffinity === "ClientIP") {
    spec.sessionAffinityConfig ??= {};
    spec.sessionAffinityConfig.clientIP ??= {};
    spec.sessionAffinityConfig.clientIP.timeoutSeconds ??= 10800;
  }
  for (const port of spec.ports ?? []) {
    port.protocol ||= "TCP";
    if (port.targetPort === undefined || port.targetPort === 0 || port.targetPort === "") port.targetPort = port.port;
    if (port.nodePort === 0) delete port.nodePort;
  }
  if (type === "ExternalName") {
    // The API server clears the address fields of ExternalName Services.
    delete spec.clusterIPs;
    delete spec.ipFamilies;
    delete spec.ipFamilyPolicy;
    return;
  }
  spec.internalTrafficPolicy ||= "Cluster";
  if (type === "NodePort" || type === "LoadBalancer") spec.externalTrafficPolicy ||= "Cluster";
  if (type === "LoadBalancer") spec.allocateLoadBalancerNodePorts ??= true;
}

function defaultSecret(secret: Secret): void {
  secret.type ||= "Opaque";
  const data: Record<string, string> = {};
  for (const [key, value] of Object.entries(secret.data ?? {})) data[key] = value.replace(/\s/g, "");
  // As on write to the API server: stringData wins over data and is not stored.
  for (const [key, value] of Object.entries(secret.stringData ?? {}))
    data[key] = Buffer.from(value, "utf8").toString("base64");
  delete secret.stringData;
  secret.data = data;
}

function defaultPod(pod: Pod): void {
  const status = pod.status;
  if (!status) return;
  if (status.podIP && !status.podIPs?.length) status.podIPs = [{ ip: status.podIP }];
  if (!status.podIP && status.podIPs?.[0]) status.podIP = status.podIPs[0].ip;
}
