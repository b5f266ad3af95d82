import { Sweeper } from "../sweeper.ts";

/**
 * Coarse timeouts for many items with one timer (a Sweeper, ../sweeper.ts) instead of one timer each.
 * Items are checked every `timeoutMs / 4`; an item whose `quiet` check has said "nothing happened" four
 * times in a row has been quiet for at least `timeoutMs` (and at most 1.25 × that) and is expired. The
 * timer runs only while there are items, and never keeps the process alive.
 */
export class Sweep<T> {
  private readonly sweeper: Sweeper<T>;
  private readonly quiet: (item: T) => boolean;
  private readonly expire: (item: T) => void;
  /** quiet checks in a row, per item (absent: 0) */
  private readonly streak = new Map<T, number>();

  /**
   * `quiet(item)` says whether nothing happened to the item since the previous check (it may reset
   * its own activity marker); `expire(item)` is called once, after which the item is forgotten.
   */
  constructor(timeoutMs: number, quiet: (item: T) => boolean, expire: (item: T) => void) {
    this.quiet = quiet;
    this.expire = expire;
    this.sweeper = new Sweeper<T>(Math.max(1, Math.floor(timeoutMs / 4)), (items) => this.check(items));
  }

  get size(): number {
    return this.sweeper.size;
  }

  add(item: T): void {
    this.sweeper.add(item);
  }

  delete(item: T): void {
    this.sweeper.delete(item);
    this.streak.delete(item);
  }

  stop(): void {
    this.sweeper.stop();
  }

  private check(items: ReadonlySet<T>): void {
    const expired: T[] = [];
    for (const item of items) {
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
