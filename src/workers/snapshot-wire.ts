import type { TlsCertificate } from "../translate/ingress/model.ts";
import type { Snapshot } from "../translate/snapshot.ts";

/**
 * A snapshot as it crosses IPC to a worker. Structured clone copies Maps and Sets but only own
 * enumerable properties, and it gives the worker a new object per part on every send. So:
 * - parts the worker already holds (same object in the primary as last sent to that worker) are left
 *   out and the worker keeps its copy: an unchanged DNS index stays the same object there too, which
 *   the DNS plane relies on to keep its zone warm, and nothing unchanged is cloned again;
 * - TLS private keys, kept non-enumerable in the snapshot so its JSON never carries them, are moved to
 *   an explicit field for the trip and made non-enumerable again on arrival.
 */
export interface SnapshotDelta {
  generation: number;
  /** the parts that differ from the snapshot the worker last got; everything else is kept */
  parts: Partial<Omit<Snapshot, "generation">>;
  /** private keys by certificate index in `parts.ingress.certificates`, and of its default certificate */
  keys?: { certificates: string[]; defaultCertificate?: string };
}

type Part = Exclude<keyof Snapshot, "generation">;

const PARTS: readonly Part[] = ["node", "services", "servicePorts", "healthChecks", "ingress", "dns", "problems"];

/** The delta taking a worker from `sent` (what it holds; undefined for a new worker) to `next`. */
export function encodeSnapshot(sent: Snapshot | undefined, next: Snapshot): SnapshotDelta {
  const parts: Record<string, unknown> = {};
  for (const part of PARTS) if (!sent || sent[part] !== next[part]) parts[part] = next[part];
  const delta: SnapshotDelta = { generation: next.generation, parts: parts as SnapshotDelta["parts"] };
  const ingress = delta.parts.ingress;
  if (ingress) {
    delta.keys = { certificates: ingress.certificates.map((c) => c.keyPem) };
    if (ingress.defaultCertificate) delta.keys.defaultCertificate = ingress.defaultCertificate.keyPem;
  }
  return delta;
}

/** The worker side: `held` (its current snapshot) with the delta applied. */
export function decodeSnapshot(held: Snapshot | undefined, delta: SnapshotDelta): Snapshot {
  const parts = delta.parts;
  for (const part of PARTS)
    if (!(part in parts) && !held) throw new Error(`snapshot ${delta.generation}: no ${part} and no earlier snapshot`);
  const ingress = parts.ingress;
  if (ingress && delta.keys) {
    for (const [i, c] of ingress.certificates.entries()) hideKey(c, delta.keys.certificates[i]);
    if (ingress.defaultCertificate) hideKey(ingress.defaultCertificate, delta.keys.defaultCertificate);
  }
  return {
    generation: delta.generation,
    node: parts.node ?? held!.node,
    services: parts.services ?? held!.services,
    servicePorts: parts.servicePorts ?? held!.servicePorts,
    healthChecks: parts.healthChecks ?? held!.healthChecks,
    ingress: parts.ingress ?? held!.ingress,
    dns: parts.dns ?? held!.dns,
    problems: parts.problems ?? held!.problems,
  };
}

function hideKey(certificate: TlsCertificate, key: string | undefined): void {
  Object.defineProperty(certificate, "keyPem", { value: key ?? "", enumerable: false });
}
