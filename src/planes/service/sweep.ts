/**
 * Coarse timeouts for many items with one timer instead of one timer each. Items are checked every
 * `timeoutMs / 4`; an item whose `quiet` check has said "nothing happened" four times in a row has
 * been quiet for at least `timeoutMs` (and at most 1.25 × that) and is expired. The timer runs only
 * while there are items, and never keeps the process alive.
 */
export class Sweep<T> {
  private readonly items = new Set<T>();
  private readonly periodMs: number;
  private readonly quiet: (item: T) => boolean;
  private readonly expire: (item: T) => void;
  private timer: NodeJS.Timeout | undefined;
  /** quiet checks in a row, per item (absent: 0) */
  private readonly streak = new Map<T, number>();

  /**
   * `quiet(item)` says whether nothing happened to the item since the previous check (it may reset
   * its own activity marker); `expire(item)` is called once, after which the item is forgotten.
   */
  constructor(timeoutMs: number, quiet: (item: T) => boolean, expire: (item: T) => void) {
    this.periodMs = Math.max(1, Math.floor(timeoutMs / 4));
    this.quiet = quiet;
    this.expire = expire;
  }

  get size(): number {
    return this.items.size;
  }

  add(item: T): void {
    this.items.add(item);
    if (this.timer === undefined) {
      this.timer = setInterval(() => this.check(), this.periodMs);
      this.timer.unref();
    }
  }

  delete(item: T): void {
    this.items.delete(item);
    this.streak.delete(item);
    if (this.items.size === 0) this.stop();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  private check(): void {
    const expired: T[] = [];
    for (const item of this.items) {
      if (!this.quiet(item)) {
        this.streak.delete(item);
        continue;
      }
      const n = (this.streak.get(item) ?? 0) + 1;
      if (n >= 4) expired.push(item);
      else this.streak.set(item, n);
    }
    for (const item of expired) {
      this.delete(item);
      this.expire(item);
    }
  }
}

/**
 * The markers a listener's dial and idle sweeps read on one proxied connection (either forwarding
 * path extends it): the connection bumps `activity` on every relayed read and clears `dialSeen` when
 * it starts a dial.
 */
export abstract class SweptConnection {
  /** reads relayed so far, and the count the idle sweep saw last */
  protected activity = 0;
  private seenActivity = 0;
  /** the dial sweep has seen the current dial once */
  protected dialSeen = false;

  /** Idle sweep: nothing relayed since the previous look. */
  idleSince(): boolean {
    const quiet = this.activity === this.seenActivity;
    this.seenActivity = this.activity;
    return quiet;
  }

  /** Dial sweep: the current dial was already pending at the previous look. */
  dialPending(): boolean {
    const seen = this.dialSeen;
    this.dialSeen = true;
    return seen;
  }
}
