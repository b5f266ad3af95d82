import type { Endpoint } from "../../snapshot/snapshot.ts";
import type { ConnectionGate } from "./fd-guard.ts";
import { endpointKey } from "./plan.ts";
import type { Pool, Tracked } from "./pool.ts";
import { type Sweep, SweptConnection } from "./sweep.ts";

/** What the dial and idle sweeps of a listener look at: one proxied connection, either path. */
export interface Spliced extends Tracked {
  idleSince(): boolean;
  dialPending(): boolean;
  dialTimedOut(): void;
}

/**
 * Connect and idle timeouts by sweeping (sweep.ts) rather than a timer per socket: a timer per
 * connection costs an allocation, a timer-list insert and a clock read on every read and write. A
 * connect times out after 1 to 1.25 × `--dial-timeout`, an idle connection is closed after 1 to
 * 1.25 × `--tcp-idle-timeout` without a byte in either direction.
 */
export interface Timers {
  dial: Sweep<Spliced>;
  idle: Sweep<Spliced>;
}

/**
 * What both TCP forwarding paths (the `net.Socket` Splice in tcp-listener.ts and the libuv-handle
 * HandleSplice in tcp-splice-handles.ts) keep about one proxied connection: its pool, sweeps, client,
 * the endpoints to try and the listener's slots; and the one bookkeeping step both take once the
 * upstream is connected.
 */
export abstract class ForwardedConnection extends SweptConnection implements Spliced {
  protected readonly pool: Pool;
  protected readonly timers: Timers;
  protected readonly clientIp: string | undefined;
  /** the endpoints to dial, in order; `attempt` is the one dialled now */
  protected readonly attempts: Endpoint[];
  /** the listener's connection slots: released once, when the connection is done */
  readonly gate: ConnectionGate;
  protected attempt = 0;
  /** the connected endpoint's key ("" until connected) */
  protected endpoint = "";
  connected = false;

  constructor(timers: Timers, pool: Pool, clientIp: string | undefined, attempts: Endpoint[], gate: ConnectionGate) {
    super();
    this.timers = timers;
    this.pool = pool;
    this.clientIp = clientIp;
    this.attempts = attempts;
    this.gate = gate;
  }

  abstract dialTimedOut(): void;
  abstract close(): void;

  /**
   * The upstream of `attempts[attempt]` is connected: the balancer learns it (for affinity), the pool
   * tracks the connection under its endpoint (for the grace period when the endpoint leaves), the
   * active gauge counts it and the idle sweep starts watching it. The caller has taken it off the dial
   * sweep and wires its own reading.
   */
  protected connectedTo(): void {
    this.connected = true;
    const endpoint = this.attempts[this.attempt]!;
    const pool = this.pool;
    pool.balancer.connected(this.clientIp, endpoint, this.clientIp === undefined ? 0 : Date.now());
    this.endpoint = endpointKey(endpoint);
    pool.metrics.active.inc();
    pool.track(this.endpoint, this);
    this.timers.idle.add(this);
  }
}
