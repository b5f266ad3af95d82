import { type Condition, GATEWAY_GROUP, type ParentReference } from "../../model/gateway.ts";
import type { Problem } from "../../model/problems.ts";
import type { RouteStatusEntry } from "../../snapshot/gateway.ts";
import { condition } from "./conditions.ts";
import type { GatewayInfo } from "./gateways.ts";
import { effectiveHosts } from "./hostnames.ts";
import { objects } from "./input.ts";
import type { ListenerInfo } from "./listeners.ts";
import type { RouteInfo } from "./routes.ts";

/** A Route serving on a listener, for the hosts both accept (TCP/UDP: `[""]`). */
export interface Attachment {
  listener: ListenerInfo;
  gateway: GatewayInfo;
  route: RouteInfo;
  hosts: readonly string[];
}

export interface AttachResult {
  attachments: Attachment[];
  /**
   * listener → the Routes attached to it with Accepted=True (listener status attachedRoutes): those whose
   * parentRef selects it, that it allows, and whose hostnames intersect its own (HTTPRouteHostnameIntersection
   * counts a Route only on the listeners its hostnames match)
   */
  attached: Map<ListenerInfo, Set<RouteInfo>>;
  /** one entry per Route that names at least one Gateway of ours */
  statuses: RouteStatusEntry[];
}

/**
 * Attaches Routes to listeners (the spec's parentRefs semantics, apis/v1/shared_types.go ParentReference):
 * a parentRef names a Gateway (group/kind default gateway.networking.k8s.io/Gateway, namespace default the
 * Route's), optionally one listener by `sectionName` and/or `port`; the Route attaches to every listener so
 * selected that allows its kind and namespace. Its Accepted condition per parent says why not otherwise:
 * NoMatchingParent (sectionName/port select no listener), NotAllowedByListeners, NoMatchingListenerHostname,
 * or the compiler's reason (UnsupportedValue). A parentRef naming something that is not a Gateway of ours
 * gets no entry: its status belongs to whichever controller serves it.
 */
export function attachRoutes(
  routes: readonly RouteInfo[],
  gateways: ReadonlyMap<string, GatewayInfo>,
  problems: Problem[],
): AttachResult {
  const attachments: Attachment[] = [];
  const attached = new Map<ListenerInfo, Set<RouteInfo>>();
  const statuses: RouteStatusEntry[] = [];
  for (const route of routes) {
    const parents: { parentRef: ParentReference; conditions: Condition[] }[] = [];
    // the same parent twice (the CRD forbids it, a manifest may not) would be two entries for one parentRef
    const seen = new Set<string>();
    for (const [p, parentRef] of objects(route.route.spec?.parentRefs).entries()) {
      if ((parentRef.group ?? GATEWAY_GROUP) !== GATEWAY_GROUP || (parentRef.kind ?? "Gateway") !== "Gateway") continue;
      const gatewayKey = `${parentRef.namespace ?? route.namespace}/${parentRef.name}`;
      const gateway = gateways.get(gatewayKey);
      if (!gateway) continue;
      const parentKey = JSON.stringify([gatewayKey, parentRef.sectionName ?? null, parentRef.port ?? null]);
      if (seen.has(parentKey)) continue;
      seen.add(parentKey);
      let verdict: ParentVerdict;
      try {
        verdict = judgeParent(route, gateway, parentRef);
      } catch (err) {
        // a shape the checks did not foresee costs this parent of this Route only
        verdict = {
          accepted: false,
          reason: "UnsupportedValue",
          message: `could not be read: ${(err as Error).message}`,
        };
      }
      const g = route.generation;
      const accepted = verdict.accepted
        ? condition("Accepted", true, "Accepted", "attached", g)
        : condition("Accepted", false, verdict.reason, verdict.message, g);
      const refs = route.resolvedRefs.ok
        ? condition("ResolvedRefs", true, "ResolvedRefs", "every reference resolved", g)
        : condition("ResolvedRefs", false, route.resolvedRefs.reason, route.resolvedRefs.message, g);
      parents.push({ parentRef, conditions: [accepted, refs] });
      if (!verdict.accepted) {
        if (verdict.reason !== route.notAccepted?.reason || verdict.message !== route.notAccepted.message)
          problems.push({
            kind: route.kind,
            namespace: route.namespace,
            name: route.name,
            field: `spec.parentRefs[${p}]`,
            message: `${verdict.reason}: ${verdict.message}`,
          });
        continue;
      }
      for (const { listener, hosts } of verdict.hosted) {
        attachments.push({ listener, gateway, route, hosts });
        let set = attached.get(listener);
        if (!set) {
          set = new Set();
          attached.set(listener, set);
        }
        set.add(route);
      }
    }
    if (parents.length > 0) statuses.push({ kind: route.kind, namespace: route.namespace, name: route.name, parents });
  }
  return { attachments, attached, statuses };
}

type ParentVerdict =
  | { accepted: true; hosted: { listener: ListenerInfo; hosts: string[] }[] }
  | { accepted: false; reason: string; message: string };

function judgeParent(route: RouteInfo, gateway: GatewayInfo, ref: ParentReference): ParentVerdict {
  const who = `Gateway ${gateway.namespace}/${gateway.name}`;
  if (gateway.notAccepted)
    return {
      accepted: false,
      reason: "NoMatchingParent",
      message: `${who} is not accepted: ${gateway.notAccepted.message}`,
    };
  const selected = gateway.listeners.filter(
    (l) =>
      (ref.sectionName === undefined || l.spec.name === ref.sectionName) &&
      (ref.port === undefined || l.port === ref.port),
  );
  if (selected.length === 0) {
    const what = [
      ref.sectionName !== undefined ? `sectionName "${ref.sectionName}"` : "",
      ref.port !== undefined ? `port ${ref.port}` : "",
    ]
      .filter(Boolean)
      .join(" and ");
    return {
      accepted: false,
      reason: "NoMatchingParent",
      message: `${who} has no listener with ${what || "any name"}`,
    };
  }
  const allowed = selected.filter((l) => l.kinds.includes(route.kind) && l.allows(route.namespace));
  if (allowed.length === 0)
    return {
      accepted: false,
      reason: "NotAllowedByListeners",
      message: `no listener of ${who} selected by this parentRef allows ${route.kind}s from namespace ${route.namespace}`,
    };
  const hosted: { listener: ListenerInfo; hosts: string[] }[] = [];
  for (const listener of allowed) {
    const hosts = effectiveHosts(listener.hostname, route.hostnames);
    if (hosts.length > 0) hosted.push({ listener, hosts });
  }
  if (hosted.length === 0)
    return {
      accepted: false,
      reason: "NoMatchingListenerHostname",
      message: `no hostname of the route (${route.hostnames.join(", ")}) intersects the hostname of a listener of ${who}`,
    };
  if (route.notAccepted) return { accepted: false, ...route.notAccepted };
  return { accepted: true, hosted };
}
