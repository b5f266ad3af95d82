/**
 * How many of something each key (a client IP) holds, with a ceiling per key: the per-source caps of the
 * service plane's UDP flows and of the ingress's client connections. A key is forgotten when its count
 * drops to 0, so the map holds only the clients that hold something now.
 */
export class PerKeyCount {
  readonly max: number;
  private readonly held = new Map<string, number>();

  constructor(max: number) {
    this.max = max;
  }

  /** Takes one for `key`; false (nothing taken) when it holds `max` already. */
  take(key: string): boolean {
    const n = this.held.get(key) ?? 0;
    if (n >= this.max) return false;
    this.held.set(key, n + 1);
    return true;
  }

  /** Gives one back; false when `key` held none. */
  give(key: string): boolean {
    const n = this.held.get(key);
    if (n === undefined) return false;
    if (n <= 1) this.held.delete(key);
    else this.held.set(key, n - 1);
    return true;
  }

  count(key: string): number {
    return this.held.get(key) ?? 0;
  }

  /** keys holding at least one */
  keys(): number {
    return this.held.size;
  }
}
