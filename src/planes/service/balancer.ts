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
  /** weighted mode (gateway sockets): the weights, with the refused share last, and their running scores */
  private weights: number[] | undefined;
  private scores: number[] = [];
  private weightTotal = 0;

  constructor(
    endpoints: readonly Endpoint[],
    affinity: SessionAffinity,
    weights?: readonly number[],
    refusedWeight?: number,
  ) {
    this.update(endpoints, affinity, weights, refusedWeight);
  }

  get size(): number {
    return this.endpoints.length;
  }

  /** True when the choice depends on the client address (callers skip looking it up otherwise). */
  get needsClient(): boolean {
    return this.affinity !== undefined;
  }

  update(
    endpoints: readonly Endpoint[],
    affinity: SessionAffinity,
    weights?: readonly number[],
    refusedWeight?: number,
  ): void {
    this.setWeights(endpoints.length, weights, refusedWeight);
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

  private setWeights(n: number, weights: readonly number[] | undefined, refused: number | undefined): void {
    if (weights === undefined || weights.length !== n) {
      this.weights = undefined;
      return;
    }
    const next = [...weights, refused ?? 0].map((w) => (Number.isFinite(w) && w > 0 ? w : 0));
    const same =
      this.weights !== undefined && next.length === this.weights.length && next.every((w, i) => w === this.weights![i]);
    if (same) return;
    this.weights = next;
    this.scores = next.map(() => 0);
    this.weightTotal = next.reduce((a, b) => a + b, 0);
  }

  /**
   * Smooth weighted round-robin (nginx's): every pick adds each weight to its score and takes the
   * highest score, less the total. Exact shares over any window of `total` picks, spread evenly, no
   * randomness. Returns the index, `endpoints.length` for the refused share, -1 when every weight is 0.
   */
  private pickWeighted(): number {
    const weights = this.weights!;
    if (this.weightTotal <= 0) return -1;
    const scores = this.scores;
    let best = 0;
    for (let i = 0; i < weights.length; i++) {
      scores[i]! += weights[i]!;
      if (scores[i]! > scores[best]!) best = i;
    }
    scores[best]! -= this.weightTotal;
    return best;
  }

  /**
   * Up to `max` distinct endpoints to try, first choice first. Weighted: empty when the pick is the
   * refused share (an invalid backend) or every weight is 0; retries go to the next endpoints that
   * have a weight.
   */
  attempts(client: string | undefined, now: number, max: number): Endpoint[] {
    const n = this.endpoints.length;
    if (this.weights !== undefined) {
      if (max <= 0) return [];
      const first = this.pickWeighted();
      if (first < 0 || first >= n) return [];
      const out: Endpoint[] = [this.endpoints[first]!];
      for (let i = 1; i < n && out.length < max; i++) {
        const j = (first + i) % n;
        if (this.weights[j]! > 0) out.push(this.endpoints[j]!);
      }
      return out;
    }
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
