import type { Counter } from "prom-client";
import { ExhaustionBackoff } from "../../util/fd-budget.ts";
import { PerKeyCount } from "../../util/per-key-count.ts";

/**
 * The service plane's share of the descriptor budget (src/util/fd-budget.ts), enforced where sockets
 * are opened: caps on UDP flows (global and per client IP) and TCP connections (global and per
 * listener), and what a listener does when the process runs out of descriptors anyway.
 *
 * Over a cap, the new flow or connection is refused (a UDP datagram dropped, a TCP connection reset)
 * and counted; no healthy flow is evicted to make room. kube-proxy's conntrack does the same once its
 * table is full of assured entries ("table full, dropping packet"); its early-drop of unreplied
 * entries is not copied, since under a flood of spoofed or one-shot sources it would let the flood
 * push out real clients' flows that happen to be waiting for a reply.
 */

/** Why a new flow or connection was refused. */
export type RefusedBy = "listener" | "total" | "source" | "exhausted";

/** One counter per cap (labels bound once: the refusal path runs per packet under a flood). */
export type RefusalCounters = Record<RefusedBy, { inc(): void }>;

export function refusalCounters(counter: Counter<"protocol" | "cap">, protocol: "TCP" | "UDP"): RefusalCounters {
  return {
    listener: counter.labels({ protocol, cap: "listener" }),
    total: counter.labels({ protocol, cap: "total" }),
    source: counter.labels({ protocol, cap: "source" }),
    exhausted: counter.labels({ protocol, cap: "exhausted" }),
  };
}

/** UDP flows of the whole process: a total and a per-client-IP count, shared by every UDP listener. */
export class UdpFlowLimits {
  total = 0;
  private readonly bySource: PerKeyCount;
  readonly maxTotal: number;
  readonly maxPerSource: number;

  constructor(maxTotal: number, maxPerSource: number) {
    this.maxTotal = maxTotal;
    this.maxPerSource = maxPerSource;
    this.bySource = new PerKeyCount(maxPerSource);
  }

  /** Takes a slot for a flow from `ip`; returns the cap that refuses it, or undefined when taken. */
  acquire(ip: string): RefusedBy | undefined {
    if (this.total >= this.maxTotal) return "total";
    if (!this.bySource.take(ip)) return "source";
    this.total++;
    return undefined;
  }

  release(ip: string): void {
    if (this.bySource.give(ip)) this.total--;
  }

  sources(): number {
    return this.bySource.keys();
  }
}

/** A count with a ceiling, shared by the TCP listeners of the process. */
export class SharedCount {
  open = 0;
  readonly max: number;

  constructor(max: number) {
    this.max = max;
  }
}

/**
 * One TCP listener's connection slots: its own cap and the plane-wide one. A connection takes its
 * slot when accepted and gives it back once both of its sockets are closed (`release`, exactly once).
 */
export class ConnectionGate {
  open = 0;
  readonly max: number;
  readonly shared: SharedCount;
  readonly backoff = new ExhaustionBackoff();
  readonly refused: RefusalCounters;
  private readonly onExhausted: (pauseMs: number) => void;

  constructor(max: number, shared: SharedCount, refused: RefusalCounters, onExhausted: (pauseMs: number) => void) {
    this.max = max;
    this.shared = shared;
    this.refused = refused;
    this.onExhausted = onExhausted;
  }

  /** Takes a slot; false (and counted) when a cap or an EMFILE back-off refuses the connection. */
  acquire(): boolean {
    if (this.backoff.until !== 0 && this.backoff.blockedAt(Date.now())) {
      this.refused.exhausted.inc();
      return false;
    }
    if (this.open >= this.max) {
      this.refused.listener.inc();
      return false;
    }
    if (this.shared.open >= this.shared.max) {
      this.refused.total.inc();
      return false;
    }
    this.open++;
    this.shared.open++;
    return true;
  }

  release(): void {
    this.open--;
    this.shared.open--;
  }

  /** EMFILE/ENFILE on accept or on an upstream socket: tell (to be counted), and back off. */
  exhausted(): void {
    this.onExhausted(this.backoff.hit(Date.now()));
  }
}
