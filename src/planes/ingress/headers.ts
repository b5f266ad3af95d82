/**
 * The header sets the ingress proxy drops, in one place. Each path's set is composed from the named groups
 * below, so a header added to a group reaches every path that drops that group; the paths differ on purpose:
 * - a proxied request (proxy.ts, direct.ts): hop-by-hop, the forwarding headers and X-Request-Id (we set
 *   them), and what undici refuses (Expect, HTTP2-Settings);
 * - a tunnelled Upgrade request (upgrade.ts): hop-by-hop and the forwarding headers only; Connection and
 *   Upgrade are re-added by the tunnel, and the client's X-Request-Id passes (one is added when absent);
 * - a response, proxied, from an h2c upstream or a refused upgrade: hop-by-hop, plus Server and Date, which
 *   the proxy sets itself (as nginx does);
 * - a request sent over h2c (h2c.ts) or copied to a mirror (mirror.ts): see H2C_REQUEST_SKIP, MIRROR_REQUEST_SKIP.
 */

/** Hop-by-hop headers (RFC 9110 §7.6.1), with Keep-Alive and Proxy-Connection that older clients send. */
const HOP_BY_HOP = ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"];

/** The forwarding headers the proxy writes itself from the client connection; a client's are never trusted. */
const FORWARDING = ["x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "x-forwarded-port", "x-real-ip"];

/** Request headers never forwarded on a proxied request (proxy.ts, and the fast path in direct.ts). */
export const REQUEST_SKIP: ReadonlySet<string> = new Set([
  ...HOP_BY_HOP,
  "expect",
  "http2-settings",
  ...FORWARDING,
  "x-request-id",
]);

/** Request headers dropped from a tunnelled Upgrade request (upgrade.ts re-adds Connection and Upgrade). */
export const UPGRADE_REQUEST_SKIP: ReadonlySet<string> = new Set([...HOP_BY_HOP, ...FORWARDING]);

/**
 * Request headers never sent upstream over h2c (h2c.ts): hop-by-hop but `te` (RFC 9113 §8.2.2 forbids them in
 * HTTP/2; HTTP/2 allows exactly `te: trailers`, which gRPC servers expect, and h2c.ts handles it on its own),
 * `host` (HTTP/2 carries it as :authority), and the HTTP/1-only Expect and HTTP2-Settings.
 */
export const H2C_REQUEST_SKIP: ReadonlySet<string> = new Set([
  ...HOP_BY_HOP.filter((name) => name !== "te"),
  "host",
  "expect",
  "http2-settings",
]);

/** Request headers never copied to a RequestMirror copy (mirror.ts): hop-by-hop, and what undici refuses to send. */
export const MIRROR_REQUEST_SKIP: ReadonlySet<string> = new Set([...HOP_BY_HOP, "expect", "http2-settings"]);

/** Response headers never passed back, from a proxied response (h2c.ts too) or a refused upgrade (its body is re-framed). */
export const RESPONSE_SKIP: ReadonlySet<string> = new Set([...HOP_BY_HOP, "server", "date"]);

/**
 * Named by a Connection header, these are still never removed: Host and the message framing are end-to-end
 * (RFC 9110 §7.6.1 lets a proxy drop what Connection names, not what routing and framing depend on).
 */
export const CONNECTION_PROTECTED: ReadonlySet<string> = new Set(["host", "content-length", "transfer-encoding"]);

/**
 * `value` (a Connection header) without the tokens naming CONNECTION_PROTECTED headers (headers.ts), which a
 * Connection header may not name: removing them as hop-by-hop would change the request's routing (Host) or
 * framing (Content-Length, Transfer-Encoding) for the backend. Undefined when there are none.
 */
export function withoutEndToEndTokens(value: string): string | undefined {
  const tokens = value.split(",");
  let kept = "";
  let dropped = false;
  for (const token of tokens) {
    const name = token.trim();
    if (CONNECTION_PROTECTED.has(name.toLowerCase())) dropped = true;
    else if (name !== "") kept = kept === "" ? name : `${kept}, ${name}`;
  }
  return dropped ? kept : undefined;
}

/** RESPONSE_SKIP by name; the length test spares lowercasing the other headers. */
export function skipResponseHeader(name: string): boolean {
  switch (name.length) {
    case 2:
    case 4:
    case 6:
    case 7:
    case 10:
    case 16:
    case 17:
      return RESPONSE_SKIP.has(name.toLowerCase());
    default:
      return false;
  }
}
