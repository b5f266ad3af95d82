import { type Condition, GATEWAY_GROUP, type ListenerStatus } from "../../model/gateway.ts";
import type { GatewayStatusEntry } from "../../snapshot/gateway.ts";
import { condition } from "./conditions.ts";
import { servable } from "./conflicts.ts";
import type { GatewayInfo } from "./gateways.ts";
import type { ListenerInfo } from "./listeners.ts";

/**
 * A Gateway's status (gateway_types.go GatewayConditionType/ListenerConditionType): per listener Accepted,
 * ResolvedRefs, Conflicted and Programmed with the spec's reasons, supportedKinds and attachedRoutes; on the
 * Gateway, Accepted (ListenersNotValid while any listener is not valid: True when some are, False when none is)
 * and Programmed. Bind failures are added later by the status reconciler, which knows the sockets.
 */
export function gatewayStatus(
  gateway: GatewayInfo,
  attached: ReadonlyMap<ListenerInfo, ReadonlySet<unknown>>,
): GatewayStatusEntry {
  const g = gateway.generation;
  const listeners: ListenerStatus[] = gateway.listeners.map((l) => {
    const fault = l.conflict ?? l.notAccepted;
    const ok = servable(gateway, l);
    const programmedFault =
      gateway.notAccepted ??
      gateway.notProgrammed ??
      fault ??
      (ok ? undefined : { reason: "Invalid", message: "no valid certificate to serve" });
    return {
      name: l.spec.name,
      supportedKinds: l.kinds.map((kind) => ({ group: GATEWAY_GROUP, kind })),
      attachedRoutes: attached.get(l)?.size ?? 0,
      conditions: [
        fault
          ? condition("Accepted", false, fault.reason, fault.message, g)
          : condition("Accepted", true, "Accepted", "listener accepted", g),
        l.unresolved
          ? condition("ResolvedRefs", false, l.unresolved.reason, l.unresolved.message, g)
          : condition("ResolvedRefs", true, "ResolvedRefs", "every reference resolved", g),
        l.conflict
          ? condition("Conflicted", true, l.conflict.reason, l.conflict.message, g)
          : condition("Conflicted", false, "NoConflicts", "no conflicts", g),
        ok
          ? condition("Programmed", true, "Programmed", "served", g)
          : condition("Programmed", false, "Invalid", programmedFault?.message ?? "not served", g),
        ...(l.overlapping ? [condition("OverlappingTLSConfig", true, "OverlappingHostnames", l.overlapping, g)] : []),
      ],
    };
  });

  const invalid = gateway.listeners.filter((l) => l.conflict || l.notAccepted);
  const valid = gateway.listeners.length - invalid.length;
  let accepted: Condition;
  if (gateway.notAccepted)
    accepted = condition("Accepted", false, gateway.notAccepted.reason, gateway.notAccepted.message, g);
  else if (gateway.listeners.length === 0)
    accepted = condition("Accepted", false, "ListenersNotValid", "the Gateway has no listeners", g);
  else if (invalid.length > 0) {
    const bad = invalid.map((l) => `${l.spec.name} (${(l.conflict ?? l.notAccepted)!.reason})`).join(", ");
    const good = gateway.listeners.filter((l) => !invalid.includes(l)).map((l) => l.spec.name);
    const message = `listeners not valid: ${bad}; accepted: ${good.length > 0 ? good.join(", ") : "none"}`;
    accepted = condition("Accepted", valid > 0, "ListenersNotValid", message, g);
  } else accepted = condition("Accepted", true, "Accepted", "served by nodeplane", g);

  const anyProgrammed = gateway.listeners.some((l) => servable(gateway, l));
  const programmed = anyProgrammed
    ? condition("Programmed", true, "Programmed", `listening on ${gateway.bind.join(", ")}`, g)
    : gateway.notProgrammed
      ? condition("Programmed", false, gateway.notProgrammed.reason, gateway.notProgrammed.message, g)
      : condition("Programmed", false, "Invalid", gateway.notAccepted?.message ?? "no listener can be served", g);

  return {
    namespace: gateway.namespace,
    name: gateway.name,
    addresses: gateway.addresses,
    conditions: [accepted, programmed],
    listeners,
  };
}
