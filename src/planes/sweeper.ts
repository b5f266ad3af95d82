/**
 * One interval timer for many items instead of a timer each, shared by the planes' coarse timeouts: the
 * service proxy's dial and idle sweeps (service/sweep.ts, `Sweep`) and the ingress upstream client's
 * deadline checks (ingress/h1client.ts, one per UpstreamPools). Every `periodMs` the whole set is handed to
 * `pass` with the time of the tick. The timer runs only while there are items, and never keeps the process
 * alive.
 */
export class Sweeper<T> {
  private readonly items = new Set<T>();
  private readonly periodMs: number;
  private readonly pass: (items: ReadonlySet<T>, now: number) => void;
  private timer: NodeJS.Timeout | undefined;

  constructor(periodMs: number, pass: (items: ReadonlySet<T>, now: number) => void) {
    this.periodMs = periodMs;
    this.pass = pass;
  }

  get size(): number {
    return this.items.size;
  }

  add(item: T): void {
    this.items.add(item);
    if (this.timer === undefined) {
      this.timer = setInterval(() => this.sweep(), this.periodMs);
      this.timer.unref();
    }
  }

  /** Forgets `item`; the timer stops with the last one. */
  delete(item: T): void {
    this.items.delete(item);
    if (this.items.size === 0) this.stop();
  }

  /** One pass now (the timer's tick, or a caller's). */
  sweep(now = performance.now()): void {
    this.pass(this.items, now);
  }

  /** Stops the timer; the items stay, and the next add starts it again. */
  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Stops the timer and forgets every item. */
  clear(): void {
    this.stop();
    this.items.clear();
  }
}
