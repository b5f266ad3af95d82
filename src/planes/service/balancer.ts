import type { Endpoint, SessionAffinity } from "../../snapshot/snapshot.ts";
import { AffinityTable } from "./affinity.ts";
import { endpointKey } from "./plan.ts";

/**
 * Round-robin over a pool's endpoints, with optional ClientIP affinity. `attempts` returns the
 * endpoints to dial in order: the chosen one, then the next ones for retries after a failed dial.
 * Pure apart from its own cursor: the caller passes the clock.
 */
export class Balancer {
  private endpoints: readonly Endpoint[] = [];
  private keys: string[] = [];
  private cursor = 0;
  private affinity: AffinityTable | undefined;
  private affinityTimeout = 0;

  constructor(endpoints: readonly Endpoint[], affinity: SessionAffinity) {
    this.update(endpoints, affinity);
  }

  get size(): number {
    return this.endpoints.length;
  }

  /** True when the choice depends on the client address (callers skip looking it up otherwise). */
  get needsClient(): boolean {
    return this.affinity !== undefined;
  }

  update(endpoints: readonly Endpoint[], affinity: SessionAffinity): void {
    const gone = new Set(this.keys);
    this.endpoints = endpoints;
    this.keys = endpoints.map(endpointKey);
    for (const key of this.keys) gone.delete(key);
    if (affinity.type === "ClientIP") {
      if (!this.affinity || this.affinityTimeout !== affinity.timeoutSeconds) {
        this.affinity = new AffinityTable(affinity.timeoutSeconds);
        this.affinityTimeout = affinity.timeoutSeconds;
      } else if (gone.size > 0) {
        this.affinity.forgetEndpoints(gone);
      }
    } else {
      this.affinity = undefined;
    }
    if (this.cursor >= this.endpoints.length) this.cursor = 0;
  }

  /** Up to `max` distinct endpoints to try, first choice first. */
  attempts(client: string | undefined, now: number, max: number): Endpoint[] {
    const n = this.endpoints.length;
    if (n === 0 || max <= 0) return [];
    let first = -1;
    if (this.affinity && client !== undefined) {
      const remembered = this.affinity.lookup(client, now);
      if (remembered !== undefined) first = this.keys.indexOf(remembered);
    }
    if (first < 0) {
      first = this.cursor;
      this.cursor = (this.cursor + 1) % n;
    }
    const count = Math.min(n, max);
    if (count === 1) return [this.endpoints[first]!];
    const out: Endpoint[] = [];
    for (let i = 0; i < count; i++) out.push(this.endpoints[(first + i) % n]!);
    return out;
  }

  /** Called with the endpoint a client was actually connected to (after retries). */
  connected(client: string | undefined, endpoint: Endpoint, now: number): void {
    if (this.affinity && client !== undefined) this.affinity.remember(client, endpointKey(endpoint), now);
  }
}
