export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  factor: number;
  /** fraction of the delay that is randomised: 0.5 = between 50% and 100% of the step */
  jitter: number;
  random?: () => number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 500, maxMs: 30_000, factor: 2, jitter: 0.5 };

/**
 * Capped exponential backoff with jitter, so a fleet of DaemonSet pods does not reconnect in lockstep
 * after an API server restart. `reset()` after a success starts again from the initial delay.
 */
export class Backoff {
  private readonly options: BackoffOptions;
  private attempt = 0;

  constructor(options: Partial<BackoffOptions> = {}) {
    this.options = { ...DEFAULT_BACKOFF, ...options };
  }

  /** The delay before the next retry; each call grows the step until maxMs. */
  next(): number {
    const { initialMs, maxMs, factor, jitter } = this.options;
    const step = Math.min(maxMs, initialMs * factor ** this.attempt);
    if (step < maxMs) this.attempt++;
    const random = this.options.random ?? Math.random;
    return Math.round(step * (1 - jitter * random()));
  }

  reset(): void {
    this.attempt = 0;
  }
}

/** Resolves after `ms`, or at once when the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}
