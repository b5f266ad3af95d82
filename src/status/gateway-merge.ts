/**
 * Gateway API status merge (pure; the clock is a parameter): what to write on an object given the status it
 * carries now and the status we want it to carry. The rules (docs/gateway.md, Gateway API's status
 * conventions in apis/v1/shared_types.go):
 * - conditions merge by type: ours replace the ones of the same type, every other type is kept as it is
 *   (another controller's, or a policy's), never the whole list replaced;
 * - `lastTransitionTime` is kept when a condition's status did not change, else set to `now`;
 * - a Route's `status.parents` entries whose `controllerName` is not ours are kept untouched; ours are replaced
 *   by the wanted ones (ours the snapshot no longer wants are removed);
 * - a Gateway's `addresses`, `listeners` and a GatewayClass's `supportedFeatures` are ours (the object is of
 *   our class) and replaced, each listener's conditions merged as above.
 * `sameStatus` then tells whether a write is needed at all.
 */
import {
  type Condition,
  GATEWAY_GROUP,
  type GatewayApiStatus,
  type ListenerStatus,
  type ParentReference,
  type RouteParentStatus,
} from "../model/gateway.ts";

type Json = Record<string, unknown>;

/** `now` as Kubernetes writes times (RFC 3339, seconds). */
export function transitionTime(now: Date): string {
  return now.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** Conditions merged by type; the order of the current list is kept, new types appended. */
export function mergeConditions(current: unknown, wanted: readonly Condition[], now: string): Condition[] {
  const existing = (Array.isArray(current) ? current : []).filter(
    (c): c is Condition => typeof c === "object" && c !== null && typeof (c as Condition).type === "string",
  );
  const byType = new Map(wanted.map((c) => [c.type, c]));
  const stamp = (want: Condition, was: Condition | undefined): Condition => ({
    ...want,
    lastTransitionTime:
      was && was.status === want.status && typeof was.lastTransitionTime === "string" ? was.lastTransitionTime : now,
  });
  const out: Condition[] = [];
  const done = new Set<string>();
  for (const was of existing) {
    if (done.has(was.type)) continue; // a list with a type twice is repaired: the first wins
    done.add(was.type);
    const want = byType.get(was.type);
    out.push(want ? stamp(want, was) : was);
  }
  for (const want of wanted) if (!done.has(want.type)) out.push(stamp(want, undefined));
  return out;
}

/** A parentRef with the API's defaults filled in, as a key: entries for the same parent compare equal. */
export function parentKey(ref: ParentReference, routeNamespace: string): string {
  return JSON.stringify([
    ref.group ?? GATEWAY_GROUP,
    ref.kind ?? "Gateway",
    ref.namespace ?? routeNamespace,
    ref.name,
    ref.sectionName ?? "",
    ref.port ?? 0,
  ]);
}

/**
 * The status to write: `current` is the object's status as read (anything: it comes from the API server
 * or a manifest), `wanted` ours. `routeNamespace` resolves parentRefs without a namespace.
 */
export function mergeGatewayApiStatus(
  current: unknown,
  wanted: GatewayApiStatus,
  controllerName: string,
  now: string,
  routeNamespace = "",
): Json {
  const cur: Json = isObject(current) ? current : {};
  switch (wanted.kind) {
    case "GatewayClass": {
      const out: Json = { ...cur, conditions: mergeConditions(cur.conditions, wanted.status.conditions ?? [], now) };
      if (wanted.status.supportedFeatures) out.supportedFeatures = wanted.status.supportedFeatures;
      return out;
    }
    case "Gateway": {
      const previous = new Map<string, Json>();
      for (const l of Array.isArray(cur.listeners) ? cur.listeners : [])
        if (isObject(l) && typeof l.name === "string" && !previous.has(l.name)) previous.set(l.name, l);
      const listeners = (wanted.status.listeners ?? []).map(
        (l): ListenerStatus => ({
          ...l,
          conditions: mergeConditions(previous.get(l.name)?.conditions, l.conditions, now),
        }),
      );
      const out: Json = {
        ...cur,
        conditions: mergeConditions(cur.conditions, wanted.status.conditions ?? [], now),
        listeners,
      };
      if (wanted.status.addresses && wanted.status.addresses.length > 0) out.addresses = wanted.status.addresses;
      else delete out.addresses;
      return out;
    }
    default: {
      const entries = (Array.isArray(cur.parents) ? cur.parents : []).filter(isObject);
      const theirs = entries.filter((p) => p.controllerName !== controllerName);
      const ours = new Map<string, Json>();
      for (const p of entries)
        if (p.controllerName === controllerName && isObject(p.parentRef))
          ours.set(parentKey(p.parentRef as unknown as ParentReference, routeNamespace), p);
      const mine = (wanted.status.parents ?? []).map(
        (p): RouteParentStatus => ({
          parentRef: p.parentRef,
          controllerName,
          conditions: mergeConditions(ours.get(parentKey(p.parentRef, routeNamespace))?.conditions, p.conditions, now),
        }),
      );
      return { ...cur, parents: [...theirs, ...mine] };
    }
  }
}

/** Whether two statuses are the same (key order of objects aside): equal means no write. */
export function sameStatus(a: unknown, b: unknown): boolean {
  return canonical(a) === canonical(b);
}

function canonical(v: unknown): string {
  return JSON.stringify(v, (_key, value: unknown) =>
    isObject(value)
      ? Object.fromEntries(
          Object.keys(value)
            .filter((k) => value[k] !== undefined)
            .sort()
            .map((k) => [k, value[k]]),
        )
      : value,
  );
}

function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
