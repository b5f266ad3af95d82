import { GATEWAY_GROUP, type Gateway, type GatewayListener, type RouteKind } from "../../model/gateway.ts";
import type { Problem } from "../../model/problems.ts";
import type { GatewayListenerRef } from "../../snapshot/gateway.ts";
import type { TlsCertificate } from "../../snapshot/ingress.ts";
import type { Store } from "../../store/store.ts";
import { certificateFromSecret } from "../ingress/tls.ts";
import { hostnameProblem } from "./hostnames.ts";
import { objects } from "./input.ts";
import type { ReferenceGrants } from "./references.ts";
import { compileSelector, namespaceLabels } from "./selector.ts";

/** The listener protocols served; each has its own plane and default Route kinds. */
export type ListenerProtocol = "HTTP" | "HTTPS" | "TLS" | "TCP" | "UDP";

const DEFAULT_KINDS: Record<ListenerProtocol, readonly RouteKind[]> = {
  HTTP: ["HTTPRoute", "GRPCRoute"],
  HTTPS: ["HTTPRoute", "GRPCRoute"],
  TLS: ["TLSRoute"],
  TCP: ["TCPRoute"],
  UDP: ["UDPRoute"],
};

/** A reason and message for one listener condition that is not in its good state. */
export interface Fault {
  reason: string;
  message: string;
}

/** One listener as validated on its own (conflicts with its neighbours are found later, by conflicts.ts). */
export interface ListenerInfo {
  ref: GatewayListenerRef;
  index: number;
  spec: GatewayListener;
  /** undefined: not a protocol nodeplane serves */
  protocol?: ListenerProtocol;
  /** TLS listeners: Passthrough (served) or Terminate (refused) */
  tlsMode?: "Passthrough" | "Terminate";
  port: number;
  /** `""` when unset, and always for TCP/UDP (the spec ignores it there) */
  hostname: string;
  /** valid Route kinds, in the order written (supportedKinds) */
  kinds: readonly RouteKind[];
  /** does `allowedRoutes.namespaces` admit Routes from this namespace? */
  allows: (namespace: string) => boolean;
  /** Accepted=False (UnsupportedProtocol, UnsupportedValue), before conflicts */
  notAccepted?: Fault;
  /** ResolvedRefs=False (InvalidRouteKinds, InvalidCertificateRef, RefNotPermitted) */
  unresolved?: Fault;
  /** set by conflicts.ts */
  conflict?: Fault;
  /** HTTPS: another listener on the socket has an overlapping hostname (OverlappingTLSConfig, set by conflicts.ts) */
  overlapping?: string;
  /** HTTPS: the valid certificates, in certificateRefs order */
  certificates: TlsCertificate[];
}

/** Parsed certificates by Secret object and host list, so a rebuild does not parse PEM again. */
export type CertificateCache = WeakMap<object, Map<string, ReturnType<typeof certificateFromSecret>>>;

export function analyzeListener(
  store: Store,
  grants: ReferenceGrants,
  gateway: Gateway,
  listener: GatewayListener,
  index: number,
  cache: CertificateCache,
  problems: Problem[],
): ListenerInfo {
  const namespace = gateway.metadata?.namespace ?? "default";
  const gatewayName = gateway.metadata?.name ?? "";
  const field = `spec.listeners[${index}]`;
  const report = (f: string, message: string) =>
    problems.push({ kind: "Gateway", namespace, name: gatewayName, field: `${field}${f}`, message });
  const protocol = (["HTTP", "HTTPS", "TLS", "TCP", "UDP"] as const).find((p) => p === listener.protocol);
  const info: ListenerInfo = {
    ref: { namespace, gateway: gatewayName, listener: listener.name },
    index,
    spec: listener,
    port: listener.port,
    hostname: "",
    kinds: [],
    allows: () => false,
    certificates: [],
  };
  if (protocol) info.protocol = protocol;
  else {
    info.notAccepted = { reason: "UnsupportedProtocol", message: `protocol "${listener.protocol}" is not supported` };
    report(".protocol", info.notAccepted.message);
    return info;
  }

  if (!Number.isInteger(listener.port) || listener.port < 1 || listener.port > 65535) {
    info.notAccepted = { reason: "UnsupportedValue", message: `port ${String(listener.port)} is not a port number` };
    report(".port", info.notAccepted.message);
  }
  if (protocol !== "TCP" && protocol !== "UDP" && listener.hostname) {
    const bad = typeof listener.hostname === "string" ? hostnameProblem(listener.hostname) : "is not a string";
    if (bad) {
      info.notAccepted ??= { reason: "UnsupportedValue", message: `hostname "${listener.hostname}" ${bad}` };
      report(".hostname", `"${listener.hostname}" ${bad}`);
    } else info.hostname = listener.hostname;
  }

  // allowedRoutes.kinds: the valid ones are supportedKinds; any other makes ResolvedRefs False (InvalidRouteKinds)
  const allowedKinds = DEFAULT_KINDS[protocol];
  const asked = objects(listener.allowedRoutes?.kinds);
  if (asked.length > 0) {
    const kinds: RouteKind[] = [];
    const invalid: string[] = [];
    for (const k of asked) {
      const group = k.group ?? GATEWAY_GROUP;
      const known = group === GATEWAY_GROUP ? allowedKinds.find((x) => x === k.kind) : undefined;
      if (known) {
        if (!kinds.includes(known)) kinds.push(known);
      } else invalid.push(`${group}/${k.kind}`);
    }
    info.kinds = kinds;
    if (invalid.length > 0) {
      info.unresolved = {
        reason: "InvalidRouteKinds",
        message: `${invalid.join(", ")} cannot attach to a ${protocol} listener (supported: ${allowedKinds.join(", ")})`,
      };
      report(".allowedRoutes.kinds", info.unresolved.message);
    }
  } else info.kinds = allowedKinds;

  info.allows = namespacePolicy(store, namespace, listener, (m) => report(".allowedRoutes.namespaces.selector", m));

  if (protocol === "HTTPS" || protocol === "TLS") {
    const mode = listener.tls?.mode ?? "Terminate";
    if (protocol === "TLS") {
      info.tlsMode = mode === "Passthrough" ? "Passthrough" : "Terminate";
      if (mode !== "Passthrough") {
        info.notAccepted ??= {
          reason: "UnsupportedValue",
          message: "tls.mode Terminate on a TLS listener is not supported (TLSRouteModeTerminate): use Passthrough",
        };
        report(".tls.mode", "Terminate on a TLS listener is not supported (TLSRouteModeTerminate): use Passthrough");
      }
    } else if (mode !== "Terminate") {
      info.notAccepted ??= {
        reason: "UnsupportedValue",
        message: `tls.mode ${mode} on an HTTPS listener: must be Terminate`,
      };
      report(".tls.mode", `${mode} on an HTTPS listener: must be Terminate`);
    } else resolveCertificates(store, grants, namespace, info, cache, report);
  }
  return info;
}

function namespacePolicy(
  store: Store,
  gatewayNamespace: string,
  listener: GatewayListener,
  report: (message: string) => void,
): (namespace: string) => boolean {
  const from = listener.allowedRoutes?.namespaces?.from ?? "Same";
  if (from === "All") return () => true;
  if (from === "Selector") {
    const selector = listener.allowedRoutes?.namespaces?.selector;
    if (!selector) {
      report("from: Selector without a selector: no namespace is allowed");
      return () => false;
    }
    const compiled = compileSelector(selector);
    if (!compiled.ok) {
      report(`${compiled.message}: no namespace is allowed`);
      return () => false;
    }
    return (namespace) => compiled.matches(namespaceLabels(store, namespace));
  }
  return (namespace) => namespace === gatewayNamespace;
}

/**
 * HTTPS certificateRefs: core Secrets of type kubernetes.io/tls, in the Gateway's namespace or allowed by a
 * ReferenceGrant. Each invalid reference makes ResolvedRefs False (RefNotPermitted wins over
 * InvalidCertificateRef, as the spec says a reference not permitted must say so); the valid ones still serve.
 */
function resolveCertificates(
  store: Store,
  grants: ReferenceGrants,
  namespace: string,
  info: ListenerInfo,
  cache: CertificateCache,
  report: (field: string, message: string) => void,
): void {
  const refs = objects(info.spec.tls?.certificateRefs);
  let notPermitted: string | undefined;
  let invalid: string | undefined;
  if (refs.length === 0) {
    invalid = "an HTTPS listener needs tls.certificateRefs";
    report(".tls", invalid);
  }
  const hosts = info.hostname ? [info.hostname] : [];
  for (const [i, ref] of refs.entries()) {
    const field = `.tls.certificateRefs[${i}]`;
    const group = ref.group ?? "";
    const kind = ref.kind ?? "Secret";
    const secretNamespace = ref.namespace ?? namespace;
    const name = `${secretNamespace}/${ref.name}`;
    if (group !== "" || kind !== "Secret") {
      const message = `${group ? `${group}/` : ""}${kind} ${name}: only core Secrets are supported`;
      invalid ??= message;
      report(field, message);
      continue;
    }
    if (
      secretNamespace !== namespace &&
      !grants.permits(
        { group: GATEWAY_GROUP, kind: "Gateway", namespace },
        { group: "", kind: "Secret", namespace: secretNamespace, name: ref.name },
      )
    ) {
      const message = `Secret ${name} is in another namespace and no ReferenceGrant there allows it`;
      notPermitted ??= message;
      report(field, message);
      continue;
    }
    const secret = store.get("Secret", name);
    if (!secret) {
      const message = `Secret ${name} not found`;
      invalid ??= message;
      report(field, message);
      continue;
    }
    let perHosts = cache.get(secret);
    if (!perHosts) {
      perHosts = new Map();
      cache.set(secret, perHosts);
    }
    const hostsKey = hosts.join(",");
    let parsed = perHosts.get(hostsKey);
    if (!parsed) {
      parsed = certificateFromSecret(secret, hosts);
      perHosts.set(hostsKey, parsed);
    }
    if ("error" in parsed) {
      const message = `Secret ${name}: ${parsed.field} ${parsed.error}`;
      invalid ??= message;
      report(field, message);
      continue;
    }
    info.certificates.push(parsed.certificate);
  }
  if (notPermitted) info.unresolved ??= { reason: "RefNotPermitted", message: notPermitted };
  else if (invalid) info.unresolved ??= { reason: "InvalidCertificateRef", message: invalid };
}
