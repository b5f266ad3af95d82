import type { L4Protocol } from "../snapshot/snapshot.ts";
import { listenerKey } from "./service/plan.ts";

/** What the service plane does when the DNS plane takes one of its sockets or gives it back. */
export interface DnsHandoffPeer {
  /** close the forwarding listener on `key`, if any: the DNS plane binds it now */
  yield(key: string): void;
  /** open the forwarding listener on `key` again, if the plan still has one (the fallback) */
  resume(key: string): void;
}

/**
 * Node-local DNS (docs/dns.md): which of the snapshot's `nodeLocalDns` frontends the DNS plane of this
 * process serves right now. Those and only those the service plane leaves alone; every other one it serves
 * as planned (forwarding to the cluster DNS pods), so a socket the DNS plane could not bind, or gave back
 * when it stopped, still answers: never silence.
 *
 * One per process (the service and DNS planes always share a process, src/workers/layout.ts), so the
 * decision needs no IPC, and every worker makes the same one. Keys are the service plane's listener keys
 * (`UDP 10.96.0.10:53`).
 */
export class DnsHandoff {
  private readonly held = new Set<string>();
  private peer: DnsHandoffPeer | undefined;

  static key(protocol: L4Protocol, ip: string, port: number): string {
    return listenerKey(protocol, ip, port);
  }

  /** The service plane of this process (one). */
  attach(peer: DnsHandoffPeer): void {
    this.peer = peer;
  }

  holds(key: string): boolean {
    return this.held.has(key);
  }

  /** The DNS plane is about to bind `key`: the service plane closes its listener there first. */
  take(key: string): void {
    if (this.held.has(key)) return;
    this.held.add(key);
    this.peer?.yield(key);
  }

  /** The DNS plane does not serve `key` (any more): the service plane serves it as planned. */
  giveBack(key: string): void {
    if (!this.held.delete(key)) return;
    this.peer?.resume(key);
  }

  get keys(): ReadonlySet<string> {
    return this.held;
  }
}
