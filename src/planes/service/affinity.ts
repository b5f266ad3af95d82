/**
 * `sessionAffinity: ClientIP`: which endpoint a client address was last sent to, until the entry
 * has been unused for `timeoutSeconds` (each use refreshes it, like IPVS persistence).
 * Pure: the caller passes the clock.
 */
export class AffinityTable {
  private readonly entries = new Map<string, { endpoint: string; expiresAt: number }>();
  private readonly timeoutMs: number;
  private writesSinceSweep = 0;

  constructor(timeoutSeconds: number) {
    this.timeoutMs = timeoutSeconds * 1000;
  }

  get size(): number {
    return this.entries.size;
  }

  /** The endpoint key remembered for this client, if the entry is still fresh. */
  lookup(client: string, now: number): string | undefined {
    const entry = this.entries.get(client);
    if (!entry) return undefined;
    if (entry.expiresAt <= now) {
      this.entries.delete(client);
      return undefined;
    }
    return entry.endpoint;
  }

  remember(client: string, endpoint: string, now: number): void {
    this.entries.set(client, { endpoint, expiresAt: now + this.timeoutMs });
    // Expired entries of clients that never come back are swept now and then, so the table stays bounded
    // by the clients seen within one timeout.
    if (++this.writesSinceSweep >= 1024) this.sweep(now);
  }

  /** Forget entries pointing at endpoints that left the pool. */
  forgetEndpoints(endpoints: ReadonlySet<string>): void {
    for (const [client, entry] of this.entries) if (endpoints.has(entry.endpoint)) this.entries.delete(client);
  }

  sweep(now: number): void {
    this.writesSinceSweep = 0;
    for (const [client, entry] of this.entries) if (entry.expiresAt <= now) this.entries.delete(client);
  }
}
