import type { TlsCertificate } from "../snapshot/ingress.ts";
import { ShardedMap } from "../snapshot/sharded-map.ts";
import type { Snapshot } from "../snapshot/snapshot.ts";

/**
 * A snapshot as it crosses IPC to a worker, as a delta against the snapshot that worker already holds.
 * Structured clone copies Maps and Sets, but only own enumerable properties, and every object it
 * carries arrives as a new copy. So:
 * - what the worker already holds is not sent again, and the worker keeps its own object for it. The
 *   translator reuses objects for what did not change (a Service port's entry, a DNS name's records,
 *   the whole DNS index), so one endpoint change in a 10k-Service cluster sends one Service port and
 *   a few DNS names, not the whole cluster. Unchanged objects also keep their identity in the worker,
 *   which the planes rely on (the DNS plane keeps its zone warm while `snapshot.dns` is the same object);
 * - TLS private keys, which the snapshot keeps non-enumerable so its JSON never carries them, travel in
 *   a field of their own and are made non-enumerable again on arrival.
 * A Map that arrives as a delta may list its entries in another order than the primary's: the
 * snapshot's Maps are lookup tables.
 */
export interface SnapshotDelta {
  generation: number;
  /** the parts that differ from the snapshot the worker holds; parts left out are kept as they are */
  parts: Partial<Record<Part, Wire>>;
  /** private keys by certificate index in the ingress part, and of its default certificate */
  keys?: { certificates: string[]; defaultCertificate?: string };
  /** the same for each HTTPS socket of the gateway part, by socket index (sent whenever that part changed) */
  gatewayKeys?: { certificates: string[]; defaultCertificate?: string }[];
}

type Part = Exclude<keyof Snapshot, "generation">;

const PARTS: readonly Part[] = [
  "node",
  "services",
  "servicePorts",
  "healthChecks",
  "ingress",
  "gateway",
  "dns",
  "problems",
];

/** One value over the wire, relative to the worker's previous value at the same place. */
export type Wire =
  | { kind: "same" }
  | { kind: "value"; value: unknown }
  /** `refs[i]` ≥ 0: element `refs[i]` of the previous array; -1: the next element of `fresh` */
  | { kind: "array"; refs: Int32Array; fresh: unknown[] }
  | { kind: "map"; set: [unknown, unknown][]; removed: unknown[] }
  /** a plain object, field by field (one level deep) */
  | { kind: "object"; fields: Record<string, Wire> };

/** The delta taking a worker from `sent` (what it holds; undefined for a new worker) to `next`. */
export function encodeSnapshot(sent: Snapshot | undefined, next: Snapshot): SnapshotDelta {
  const parts: SnapshotDelta["parts"] = {};
  for (const part of PARTS) {
    if (sent && sent[part] === next[part]) continue;
    // ingress is small and carries the private keys: always whole
    parts[part] =
      part === "ingress" || !sent ? { kind: "value", value: cloneable(next[part]) } : encode(sent[part], next[part], 1);
  }
  const delta: SnapshotDelta = { generation: next.generation, parts };
  if (parts.ingress) {
    delta.keys = { certificates: next.ingress.certificates.map((c) => c.keyPem) };
    if (next.ingress.defaultCertificate) delta.keys.defaultCertificate = next.ingress.defaultCertificate.keyPem;
  }
  // (a snapshot built without the gateway part, as some tests do, has no keys to carry)
  if (parts.gateway && next.gateway !== undefined) {
    // every socket's keys, also of sockets the worker holds already: a few strings per socket
    delta.gatewayKeys = next.gateway.http.map((socket) => {
      const keys: { certificates: string[]; defaultCertificate?: string } = {
        certificates: socket.certificates.map((c) => c.keyPem),
      };
      if (socket.defaultCertificate) keys.defaultCertificate = socket.defaultCertificate.keyPem;
      return keys;
    });
  }
  return delta;
}

/** The worker side: `held` (its current snapshot) with the delta applied. */
export function decodeSnapshot(held: Snapshot | undefined, delta: SnapshotDelta): Snapshot {
  const part = <P extends Part>(name: P): Snapshot[P] => {
    const wire = delta.parts[name];
    if (!held && wire?.kind !== "value")
      throw new Error(`snapshot ${delta.generation}: ${name} refers to an earlier snapshot, and there is none`);
    return (wire ? decode(held?.[name], wire) : held![name]) as Snapshot[P];
  };
  const snapshot: Snapshot = {
    generation: delta.generation,
    node: part("node"),
    services: part("services"),
    servicePorts: part("servicePorts"),
    healthChecks: part("healthChecks"),
    ingress: part("ingress"),
    gateway: part("gateway"),
    dns: part("dns"),
    problems: part("problems"),
  };
  if (delta.parts.ingress && delta.keys) {
    const keys = delta.keys;
    for (const [i, c] of snapshot.ingress.certificates.entries()) hideKey(c, keys.certificates[i]);
    if (snapshot.ingress.defaultCertificate) hideKey(snapshot.ingress.defaultCertificate, keys.defaultCertificate);
  }
  if (delta.parts.gateway && delta.gatewayKeys && snapshot.gateway !== undefined) {
    const keys = delta.gatewayKeys;
    for (const [i, socket] of snapshot.gateway.http.entries()) {
      // a socket the worker held keeps its certificates (and their keys) as they were
      for (const [j, c] of socket.certificates.entries()) hideKeyOnce(c, keys[i]?.certificates[j]);
      if (socket.defaultCertificate) hideKeyOnce(socket.defaultCertificate, keys[i]?.defaultCertificate);
    }
  }
  return snapshot;
}

function encode(previous: unknown, next: unknown, depth: number): Wire {
  if (previous === next) return { kind: "same" };
  // The DNS index is a sharded map (not a Map, so structured clone would not carry it): it goes as its
  // changes, found by walking only the shards the change touched, or whole as a plain Map.
  if (next instanceof ShardedMap) {
    if (previous instanceof ShardedMap) {
      const { set, removed } = next.changesSince(previous);
      if (set.length * 2 <= next.size) return { kind: "map", set, removed };
    }
    return { kind: "value", value: cloneable(next) };
  }
  if (Array.isArray(previous) && Array.isArray(next)) return encodeArray(previous, next);
  if (previous instanceof Map && next instanceof Map) return encodeMap(previous, next);
  if (depth > 0 && isPlainObject(previous) && isPlainObject(next)) {
    const fields: Record<string, Wire> = {};
    for (const key of Object.keys(next)) fields[key] = encode(previous[key], next[key], depth - 1);
    return { kind: "object", fields };
  }
  return { kind: "value", value: cloneable(next) };
}

/** A value structured clone carries whole: the DNS index's sharded map (here or one level down) as a plain Map. */
function cloneable(value: unknown): unknown {
  if (value instanceof ShardedMap) return new Map(value);
  if (!isPlainObject(value) || !Object.values(value).some((v) => v instanceof ShardedMap)) return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, v instanceof ShardedMap ? new Map(v) : v]));
}

function encodeArray(previous: readonly unknown[], next: readonly unknown[]): Wire {
  // The usual change replaces a few elements in place (one Service port of 10k): compare position by
  // position and send the replaced ones, without indexing the whole previous array.
  if (previous.length === next.length) {
    const refs = new Int32Array(next.length);
    const fresh: unknown[] = [];
    for (let i = 0; i < next.length && fresh.length <= IN_PLACE_LIMIT; i++) {
      const item = next[i];
      if (item === previous[i] && typeof item === "object" && item !== null) refs[i] = i;
      else {
        refs[i] = -1;
        fresh.push(item);
      }
    }
    if (fresh.length <= IN_PLACE_LIMIT) return { kind: "array", refs, fresh };
  }
  const at = new Map<unknown, number>();
  for (const [i, item] of previous.entries()) if (typeof item === "object" && item !== null) at.set(item, i);
  const refs = new Int32Array(next.length);
  const fresh: unknown[] = [];
  for (const [i, item] of next.entries()) {
    const index = at.get(item);
    if (index === undefined) {
      refs[i] = -1;
      fresh.push(item);
    } else refs[i] = index;
  }
  // mostly new: the plain array is smaller
  return fresh.length * 2 > next.length ? { kind: "value", value: next } : { kind: "array", refs, fresh };
}

function encodeMap(previous: ReadonlyMap<unknown, unknown>, next: ReadonlyMap<unknown, unknown>): Wire {
  const set: [unknown, unknown][] = [];
  for (const [key, value] of next) if (previous.get(key) !== value || !previous.has(key)) set.push([key, value]);
  const removed: unknown[] = [];
  for (const key of previous.keys()) if (!next.has(key)) removed.push(key);
  return set.length * 2 > next.size ? { kind: "value", value: next } : { kind: "map", set, removed };
}

/** Beyond this many replaced elements, elements are looked up wherever they moved to. */
const IN_PLACE_LIMIT = 64;

function decode(previous: unknown, wire: Wire): unknown {
  switch (wire.kind) {
    case "same":
      return previous;
    case "value":
      return wire.value;
    case "array": {
      const before = previous as readonly unknown[];
      let f = 0;
      return Array.from(wire.refs, (ref) => (ref >= 0 ? before[ref] : wire.fresh[f++]));
    }
    case "map": {
      const map = new Map(previous as ReadonlyMap<unknown, unknown>);
      for (const key of wire.removed) map.delete(key);
      for (const [key, value] of wire.set) map.set(key, value);
      return map;
    }
    case "object": {
      const before = previous as Record<string, unknown>;
      const out: Record<string, unknown> = {};
      for (const [key, field] of Object.entries(wire.fields)) out[key] = decode(before[key], field);
      return out;
    }
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function hideKeyOnce(certificate: TlsCertificate, key: string | undefined): void {
  if (!Object.hasOwn(certificate, "keyPem")) hideKey(certificate, key);
}

function hideKey(certificate: TlsCertificate, key: string | undefined): void {
  Object.defineProperty(certificate, "keyPem", { value: key ?? "", enumerable: false });
}
