/**
 * The ingress plane's client-side limits and front-end choices: read by the plane (plane.ts) and by the raw
 * HTTP/1 server it builds (rawserver.ts), so they sit in a module of their own that imports neither.
 */
/** Client-side limits; the defaults suit production, tests shorten them. */
export interface ClientLimits {
  /** largest request head; more → 431 */
  maxHeaderSize: number;
  /** whole request head must arrive within this; else 408 */
  headersTimeoutMs: number;
  /** whole request (head and body) must arrive within this; 0 = no limit */
  requestTimeoutMs: number;
  /** how often the two timeouts above are checked */
  connectionsCheckingIntervalMs: number;
  /** idle keep-alive client connections are closed after this */
  keepAliveTimeoutMs: number;
  /**
   * which server parses plain-HTTP clients: "raw" (net.Server + Node's llhttp per connection, rawserver.ts)
   * or "node" (http.Server); both use Node's strict llhttp
   */
  httpFrontend?: "raw" | "node";
  /**
   * the raw front end's fast path for bodyless requests to plain-HTTP backends (direct.ts); default on,
   * NODEPLANE_INGRESS_FASTPATH=off turns it off (every request then takes the generic path)
   */
  fastPath?: boolean;
}

/** NODEPLANE_INGRESS_FASTPATH=off disables the raw front end's fast path. */
export function defaultFastPath(): boolean {
  return process.env.NODEPLANE_INGRESS_FASTPATH !== "off";
}

/** NODEPLANE_INGRESS_HTTP=node|raw overrides the default front end of the plain-HTTP listener. */
export function defaultHttpFrontend(): "raw" | "node" {
  const env = process.env.NODEPLANE_INGRESS_HTTP;
  return env === "node" || env === "raw" ? env : "raw";
}

export const DEFAULT_CLIENT_LIMITS: ClientLimits = {
  maxHeaderSize: 16 * 1024,
  headersTimeoutMs: 60_000,
  requestTimeoutMs: 300_000,
  connectionsCheckingIntervalMs: 1_000,
  keepAliveTimeoutMs: 75_000,
};
