/**
 * The server name of a TLS ClientHello, for TLS passthrough (Gateway TLS listeners, docs/gateway.md):
 * pure, and written for hostile input — every length is checked against what is there before it is
 * used, nothing is read past the buffer, and nothing throws. The hello may be split over several TLS
 * records and several TCP segments; `parseClientHello` says `more` until it is complete (the caller
 * caps how much it buffers and for how long).
 */

export type HelloResult =
  /** incomplete so far: read more (the caller enforces the byte cap and the time limit) */
  | { state: "more" }
  /** a complete ClientHello; `sni` is its host_name (lowercase), undefined when it sends none */
  | { state: "done"; sni: string | undefined }
  | { state: "invalid"; reason: string };

const MORE: HelloResult = { state: "more" };
const RECORD_HEADER = 5;
const HANDSHAKE = 0x16;
const CLIENT_HELLO = 1;
/** RFC 8446 §5.1: a record's plaintext is at most 2^14 bytes; some stacks add slack, refuse only above this */
const MAX_RECORD = (1 << 14) + 2048;
/**
 * Real clients send their hello in one or two records; a hello cut into many tiny records would make
 * each parse of a slowly dripping client walk all of them (the parse runs again on every read).
 */
const MAX_RECORDS = 64;
const EXT_SERVER_NAME = 0;
const HOST_NAME = 0;

function invalid(reason: string): HelloResult {
  return { state: "invalid", reason };
}

/**
 * Parses the bytes a client sent so far. `maxHello` caps the ClientHello handshake message itself
 * (its declared length above it is refused at once, without waiting for the bytes).
 */
export function parseClientHello(data: Uint8Array, maxHello: number): HelloResult {
  if (data.length === 0) return MORE;
  // SSLv2-compatible hellos (high bit of the first byte) carry no extensions, so no SNI: refused.
  if ((data[0]! & 0x80) !== 0) return invalid("SSLv2-style ClientHello");
  if (data[0] !== HANDSHAKE) return invalid("not a TLS handshake record");
  // Reassemble the handshake message from the fragments of consecutive handshake records.
  const parts: Uint8Array[] = [];
  let total = 0;
  let need = -1;
  let offset = 0;
  while (true) {
    if (data.length - offset < RECORD_HEADER) return MORE;
    if (parts.length === MAX_RECORDS) return invalid(`ClientHello split over more than ${MAX_RECORDS} records`);
    if (data[offset] !== HANDSHAKE) return invalid("ClientHello interrupted by a non-handshake record");
    if (data[offset + 1] !== 3) return invalid("unknown record version");
    const length = (data[offset + 3]! << 8) | data[offset + 4]!;
    if (length === 0) return invalid("empty handshake record");
    if (length > MAX_RECORD) return invalid("record too long");
    const start = offset + RECORD_HEADER;
    const end = Math.min(start + length, data.length);
    parts.push(data.subarray(start, end));
    total += end - start;
    if (need < 0 && total >= 4) {
      const head = joined(parts, 4);
      if (head[0] !== CLIENT_HELLO) return invalid("first handshake message is not a ClientHello");
      const bodyLength = (head[1]! << 16) | (head[2]! << 8) | head[3]!;
      if (bodyLength > maxHello) return invalid(`ClientHello longer than ${maxHello} bytes`);
      need = 4 + bodyLength;
    }
    if (need >= 0 && total >= need) return clientHello(joined(parts, need).subarray(4));
    if (end < start + length) return MORE;
    offset = end;
  }
}

/** The first `n` bytes of `parts` (which hold at least that many) as one array. */
function joined(parts: readonly Uint8Array[], n: number): Uint8Array {
  if (parts[0]!.length >= n) return parts[0]!.subarray(0, n);
  const out = new Uint8Array(n);
  let at = 0;
  for (const part of parts) {
    if (at >= n) break;
    const take = Math.min(part.length, n - at);
    out.set(part.subarray(0, take), at);
    at += take;
  }
  return out;
}

/** The ClientHello body (after the 4-byte handshake header). */
function clientHello(body: Uint8Array): HelloResult {
  const r = new Reader(body);
  // legacy_version (2), random (32)
  if (!r.skip(34)) return invalid("ClientHello truncated");
  const sessionId = r.u8();
  if (sessionId < 0 || sessionId > 32 || !r.skip(sessionId)) return invalid("bad session id");
  const suites = r.u16();
  if (suites < 2 || suites % 2 !== 0 || !r.skip(suites)) return invalid("bad cipher suites");
  const compression = r.u8();
  if (compression < 1 || !r.skip(compression)) return invalid("bad compression methods");
  // No extensions at all (TLS 1.0-era clients): a valid hello without SNI.
  if (r.left === 0) return { state: "done", sni: undefined };
  const extensionsLength = r.u16();
  if (extensionsLength < 0 || extensionsLength !== r.left) return invalid("bad extensions length");
  let sni: string | undefined;
  let seen = false;
  while (r.left > 0) {
    const type = r.u16();
    const length = r.u16();
    if (length < 0 || length > r.left) return invalid("extension longer than the hello");
    const data = r.take(length)!;
    if (type !== EXT_SERVER_NAME) continue;
    // RFC 8446 §4.2: an extension type appears at most once
    if (seen) return invalid("duplicate server_name extension");
    seen = true;
    const name = serverName(data);
    if (typeof name !== "string") return name;
    sni = name;
  }
  return { state: "done", sni };
}

/** The server_name extension's data: a list with (at most) one host_name (RFC 6066 §3). */
function serverName(data: Uint8Array): string | HelloResult {
  const r = new Reader(data);
  const listLength = r.u16();
  if (listLength < 0 || listLength !== r.left || listLength === 0) return invalid("bad server_name list");
  let host: string | undefined;
  while (r.left > 0) {
    const type = r.u8();
    const length = r.u16();
    if (type < 0 || length < 0 || length > r.left) return invalid("server name longer than its list");
    const name = r.take(length)!;
    if (type !== HOST_NAME) continue;
    if (host !== undefined) return invalid("several host names");
    const text = hostName(name);
    if (text === undefined) return invalid("malformed host name");
    host = text;
  }
  if (host === undefined) return invalid("no host_name in server_name");
  return host;
}

/** A DNS name in ASCII (IDNs arrive as A-labels), lowercased; undefined when it is not one. */
function hostName(bytes: Uint8Array): string | undefined {
  if (bytes.length === 0 || bytes.length > 253) return undefined;
  let out = "";
  let label = 0;
  for (let i = 0; i < bytes.length; i++) {
    let c = bytes[i]!;
    if (c === 0x2e) {
      if (label === 0) return undefined;
      label = 0;
    } else {
      const letter = (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a);
      const ok = letter || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x5f;
      if (!ok || ++label > 63) return undefined;
      if (c >= 0x41 && c <= 0x5a) c += 0x20;
    }
    out += String.fromCharCode(c);
  }
  // RFC 6066: no trailing dot
  if (label === 0) return undefined;
  return out;
}

/** Bounds-checked reads: a read past the end returns -1 / undefined and moves nothing. */
class Reader {
  private readonly data: Uint8Array;
  private offset = 0;
  constructor(data: Uint8Array) {
    this.data = data;
  }
  get left(): number {
    return this.data.length - this.offset;
  }
  u8(): number {
    if (this.left < 1) return -1;
    return this.data[this.offset++]!;
  }
  u16(): number {
    if (this.left < 2) return -1;
    const v = (this.data[this.offset]! << 8) | this.data[this.offset + 1]!;
    this.offset += 2;
    return v;
  }
  skip(n: number): boolean {
    if (n < 0 || this.left < n) return false;
    this.offset += n;
    return true;
  }
  take(n: number): Uint8Array | undefined {
    if (n < 0 || this.left < n) return undefined;
    const out = this.data.subarray(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }
}

/**
 * Chooses among SNI entries as Gateway API hostnames match: an exact name first, then the longest
 * `*.suffix` that matches one or more labels, then the catch-all `""`. Built once per listener update.
 */
export class SniTable<T> {
  private readonly exact = new Map<string, T>();
  /** `.suffix` (with its dot), longest first */
  private readonly wildcards: { suffix: string; value: T }[] = [];
  private readonly fallback: T | undefined;

  constructor(entries: readonly { host: string; value: T }[]) {
    let fallback: T | undefined;
    for (const { host, value } of entries) {
      const h = host.toLowerCase();
      if (h === "") fallback ??= value;
      else if (h.startsWith("*.")) {
        const suffix = h.slice(1);
        if (!this.wildcards.some((w) => w.suffix === suffix)) this.wildcards.push({ suffix, value });
      } else if (!this.exact.has(h)) this.exact.set(h, value);
    }
    this.wildcards.sort((a, b) => b.suffix.length - a.suffix.length);
    this.fallback = fallback;
  }

  /**
   * The entry for a (lowercase) server name; undefined when nothing matches. A hello without SNI
   * matches nothing, not even `""`: passthrough routes by name, and a nameless client is refused.
   */
  match(sni: string | undefined): T | undefined {
    if (sni === undefined) return undefined;
    const exact = this.exact.get(sni);
    if (exact !== undefined) return exact;
    for (const { suffix, value } of this.wildcards)
      if (sni.length > suffix.length && sni.endsWith(suffix)) return value;
    return this.fallback;
  }
}
