import type { Socket } from "node:net";
import { PerKeyCount } from "../../util/per-key-count.ts";

/**
 * The per-client-IP cap on ingress client connections (--max-ingress-connections-per-source; docs/ingress.md,
 * "Client connections: total and per-source caps"). net.Server's maxConnections caps each listener as a whole, so one client could
 * take every slot of it and lock everyone else out; this cap leaves it at most `max` connections, counted
 * over both listeners, so the others always keep the rest.
 *
 * A connection takes its slot when accepted and gives it back when its socket closes. One over the cap is
 * destroyed at once (before a byte is read or a TLS handshake starts) and counted by the caller; the
 * client's other connections and every other client are untouched.
 */
export class SourceCap {
  readonly max: number;
  /** connections held per client IP */
  private readonly held: PerKeyCount;
  /**
   * the 'close' listener of every admitted socket: one function per cap, never a closure per connection;
   * it finds the IP through the socket (Node caches the peer name read at admit, so it is there after close)
   */
  private readonly onSocketClose: (this: Socket) => void;

  constructor(max: number) {
    this.max = max;
    this.held = new PerKeyCount(max);
    const held = this.held;
    this.onSocketClose = function onSocketClose(this: Socket): void {
      if (this.remoteAddress !== undefined) held.give(this.remoteAddress);
    };
  }

  /**
   * Takes a slot for `socket`'s client IP; false when that IP holds `max` already (the caller destroys the
   * socket). A taken slot is given back when the socket emits 'close'.
   */
  admit(socket: Socket): boolean {
    const ip = socket.remoteAddress;
    // no peer name: the socket is gone already, it holds nothing and will close by itself
    if (ip === undefined) return true;
    if (!this.held.take(ip)) return false;
    socket.on("close", this.onSocketClose);
    return true;
  }

  /** connections `ip` holds now */
  count(ip: string): number {
    return this.held.count(ip);
  }

  /** client IPs holding at least one connection */
  sources(): number {
    return this.held.keys();
  }
}

/**
 * The cap for `--max-ingress-connections-per-source` (`flag`), given the connections one listener may hold
 * (its net.Server maxConnections). 0 = half of that: one client IP can never fill a listener, so at least
 * half of it stays for everyone else, while a NAT of many users still gets thousands of connections at the
 * usual open-files limits (docs/ingress.md has the numbers). A value given is used as is.
 */
export function perSourceCap(flag: number, perListener: number): number {
  if (flag > 0) return Math.floor(flag);
  return Math.max(1, Math.floor(perListener / 2));
}

/** A 'connection' listener for a listener Node accepts for (http.Server, the HTTP/2 secure server). */
export function admitConnection(cap: SourceCap, refused: { inc(): void }): (socket: Socket) => void {
  return (socket) => {
    if (cap.admit(socket)) return;
    refused.inc();
    socket.destroy();
  };
}
