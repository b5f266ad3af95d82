/**
 * A strict, incremental HTTP/1.1 *response* parser for the upstream side of the ingress proxy (client
 * requests are always parsed by Node's own llhttp). It is pure: bytes in, callbacks out, no I/O.
 *
 * Strict on purpose, because whatever it accepts is forwarded to clients: a status line `HTTP/1.0|1.1 NNN
 * reason`, header lines `token ":" OWS value OWS CRLF`; it rejects bare LF, obs-fold, whitespace before the
 * colon, control characters in values, duplicate or non-numeric Content-Length, Content-Length together
 * with Transfer-Encoding, any Transfer-Encoding other than a single `chunked` (and any on HTTP/1.0), bad chunk
 * sizes and chunk lines, heads or trailers over the size limit, 101 (never asked for) and more than a few
 * 1xx heads. 1xx heads are skipped; HEAD requests, 204 and 304 have no body. A malformed response makes
 * `execute` return an error message; the caller must then close the connection (it cannot be resynced).
 *
 * One unit, over 500 lines: ResponseParser is one state machine over one buffer (head, fixed-length body,
 * chunk sizes and data, trailers), whose states hand over to each other mid-buffer; its helpers below are the
 * byte-level tests it alone uses.
 */

export interface ResponseSink {
  /** a final (non-1xx) response head; `headers` is a flat [name, value, ...] list, hop-by-hop headers removed */
  onHead(status: number, reason: string, headers: string[]): void;
  /**
   * a final response head, in raw mode (`reset(head, true)`): instead of strings, where each kept header line
   * lies in `buf` (only valid during the call), so the head can be copied through without decoding every name
   * and value (the ingress fast path)
   */
  onRawHead?(status: number, buf: Buffer, lines: HeadLines): void;
  /** a piece of body (chunked framing removed); `buf` is only valid during the call */
  onBody(buf: Buffer, start: number, end: number): void;
  /** the message is complete */
  onComplete(): void;
}

export interface ParserLimits {
  /** largest response head (status line and headers), also the limit for chunked trailers */
  maxHeadBytes: number;
  /** most header lines in a head */
  maxHeaders: number;
}

/**
 * A parsed head's header lines in raw mode: for line i, `offsets[4i..4i+3]` = name start, name end, value
 * start, value end (OWS trimmed) in the buffer given with it, and `flags[i]` its kind (low 3 bits) and whether
 * it is written exactly as `name ": " value CRLF` (LINE_CANONICAL). Hop-by-hop lines are not listed; lines
 * named by a Connection header are listed as LINE_DROPPED. Reused from response to response.
 */
export interface HeadLines {
  count: number;
  readonly offsets: Int32Array;
  readonly flags: Uint8Array;
}

export const LINE_OTHER = 0;
export const LINE_CONTENT_LENGTH = 1;
export const LINE_DATE = 2;
export const LINE_SERVER = 3;
export const LINE_DROPPED = 4;
export const LINE_KIND = 7;
export const LINE_CANONICAL = 8;

export const DEFAULT_PARSER_LIMITS: ParserLimits = { maxHeadBytes: 16 * 1024, maxHeaders: 200 };

const MAX_INFORMATIONAL = 8;
const MAX_CHUNK_LINE = 4096;

// States
const HEAD = 0;
const BODY_LENGTH = 1;
const BODY_EOF = 2;
const CHUNK_SIZE = 3;
const CHUNK_SIZE_WS = 4;
const CHUNK_EXT = 5;
const CHUNK_SIZE_LF = 6;
const CHUNK_DATA = 7;
const CHUNK_DATA_CR = 8;
const CHUNK_DATA_LF = 9;
const TRAILER = 10;
const DONE = 11;
const FAILED = 12;
const TRAILER_LF = 13;

const CR = 13;
const LF = 10;
const SP = 32;
const HTAB = 9;
const COLON = 58;

/** RFC 9110 tchar */
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1;
for (let c = 48; c <= 57; c++) TCHAR[c] = 1;
for (let c = 65; c <= 90; c++) TCHAR[c] = 1;
for (let c = 97; c <= 122; c++) TCHAR[c] = 1;

/** field-vchar / SP / HTAB / obs-text: what a header value (and a reason phrase) may contain */
const VALUE_CHAR = new Uint8Array(256);
VALUE_CHAR[HTAB] = 1;
for (let c = 32; c <= 126; c++) VALUE_CHAR[c] = 1;
for (let c = 128; c <= 255; c++) VALUE_CHAR[c] = 1;

const HEX = new Int8Array(256).fill(-1);
for (let c = 0; c < 10; c++) HEX[48 + c] = c;
for (let c = 0; c < 6; c++) {
  HEX[65 + c] = 10 + c;
  HEX[97 + c] = 10 + c;
}

/** ASCII lowercase of a byte (header names are tokens: ASCII only) */
const LOWER = new Uint8Array(256);
for (let c = 0; c < 256; c++) LOWER[c] = c >= 65 && c <= 90 ? c + 32 : c;

const CRLFCRLF = Buffer.from("\r\n\r\n");

/** Buffer's latin1 decoder without `toString`'s argument handling (it is on every header name and value). */
const latin1Slice = (
  Buffer.prototype as unknown as { latin1Slice: (this: Buffer, start: number, end: number) => string }
).latin1Slice;

export class ResponseParser {
  private readonly sink: ResponseSink;
  private readonly limits: ParserLimits;
  private state = DONE;
  /** response to a HEAD request: no body whatever the headers say */
  private noBody = false;
  /** bytes of a head split across reads */
  private pending: Buffer | undefined;
  private informational = 0;
  /** report heads with onRawHead (see HeadLines) instead of onHead */
  private raw = false;
  private readonly lines: HeadLines;
  private remaining = 0;
  private chunkLine = 0;
  private trailerBytes = 0;
  private trailerLineEmpty = true;
  /** the connection may carry another request after this response */
  keepAlive = false;
  /** status of the final response head, 0 before it */
  status = 0;
  /** why parsing failed */
  error = "";

  constructor(sink: ResponseSink, limits: ParserLimits = DEFAULT_PARSER_LIMITS) {
    this.sink = sink;
    this.limits = limits;
    this.lines = {
      count: 0,
      offsets: new Int32Array(limits.maxHeaders * 4),
      flags: new Uint8Array(limits.maxHeaders),
    };
  }

  /** Expects a new response (to a request with method HEAD when `head`; its head reported raw when `raw`). */
  reset(head: boolean, raw = false): void {
    this.state = HEAD;
    this.noBody = head;
    this.raw = raw;
    this.pending = undefined;
    this.informational = 0;
    this.keepAlive = false;
    this.status = 0;
    this.error = "";
  }

  /** no response is being parsed (complete, failed or none expected) */
  get idle(): boolean {
    return this.state === DONE || this.state === FAILED;
  }

  /** the head of the final response has been parsed */
  get headDone(): boolean {
    return this.status !== 0;
  }

  /**
   * Parses `buf[start, end)`. Returns the offset where parsing stopped: `end` normally, less when the message
   * completed before the end (the rest is not part of this response), or -1 when the response is malformed
   * (see `error`). After -1 or a completed message, call `reset` before the next response.
   */
  execute(buf: Buffer, start: number, end: number): number {
    let pos = start;
    while (pos < end) {
      switch (this.state) {
        case HEAD: {
          const next = this.head(buf, pos, end);
          if (next < 0) return this.fail();
          pos = next;
          break;
        }
        case BODY_LENGTH: {
          const n = Math.min(this.remaining, end - pos);
          this.sink.onBody(buf, pos, pos + n);
          pos += n;
          this.remaining -= n;
          if (this.remaining === 0) this.complete();
          break;
        }
        case BODY_EOF:
          this.sink.onBody(buf, pos, end);
          return end;
        case DONE:
          return pos;
        case FAILED:
          return -1;
        default:
          pos = this.chunked(buf, pos, end);
          if (pos < 0) return this.fail();
      }
      if (this.state === DONE) return pos;
    }
    return pos;
  }

  /** The connection reached EOF. Returns false when that cut the response short. */
  finish(): boolean {
    if (this.state === BODY_EOF) {
      this.complete();
      return true;
    }
    return this.state === DONE;
  }

  private fail(): number {
    this.state = FAILED;
    this.pending = undefined;
    return -1;
  }

  private complete(): void {
    this.state = DONE;
    this.sink.onComplete();
  }

  /** Collects a head; returns where its bytes end in `buf`, or -1. */
  private head(buf: Buffer, pos: number, end: number): number {
    const pending = this.pending;
    if (pending === undefined) {
      const at = buf.indexOf(CRLFCRLF, pos);
      if (at >= 0 && at + 4 <= end) {
        if (at + 4 - pos > this.limits.maxHeadBytes) return this.reject("response head too large");
        return this.parseHead(buf, pos, at + 4) ? at + 4 : -1;
      }
      if (end - pos > this.limits.maxHeadBytes) return this.reject("response head too large");
      this.pending = Buffer.from(buf.subarray(pos, end));
      return end;
    }
    // A head split across reads: search across the seam, then parse the joined bytes.
    const joined = Buffer.concat([pending, buf.subarray(pos, end)]);
    const at = joined.indexOf(CRLFCRLF, Math.max(0, pending.length - 3));
    if (at < 0) {
      if (joined.length > this.limits.maxHeadBytes) return this.reject("response head too large");
      this.pending = joined;
      return end;
    }
    if (at + 4 > this.limits.maxHeadBytes) return this.reject("response head too large");
    this.pending = undefined;
    if (!this.parseHead(joined, 0, at + 4)) return -1;
    return pos + (at + 4 - pending.length);
  }

  private reject(message: string): number {
    this.error = message;
    return -1;
  }

  /** Parses one complete head `buf[start, end)` (ending in CRLFCRLF) and sets up the body state. */
  private parseHead(buf: Buffer, start: number, end: number): boolean {
    // status line: HTTP/1.x SP 3DIGIT [SP reason] CRLF
    if (
      end - start < 14 ||
      buf[start] !== 72 ||
      buf[start + 1] !== 84 ||
      buf[start + 2] !== 84 ||
      buf[start + 3] !== 80 ||
      buf[start + 4] !== 47 ||
      buf[start + 5] !== 49 ||
      buf[start + 6] !== 46
    )
      return this.bad("malformed status line");
    const minor = buf[start + 7]!;
    if ((minor !== 48 && minor !== 49) || buf[start + 8] !== SP) return this.bad("unsupported HTTP version");
    const d0 = buf[start + 9]! - 48;
    const d1 = buf[start + 10]! - 48;
    const d2 = buf[start + 11]! - 48;
    if (d0 < 1 || d0 > 5 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9) return this.bad("malformed status code");
    const status = d0 * 100 + d1 * 10 + d2;
    let pos = start + 12;
    let reasonStart = pos;
    if (buf[pos] === SP) reasonStart = ++pos;
    else if (buf[pos] !== CR) return this.bad("malformed status line");
    while (buf[pos] !== CR) {
      if (VALUE_CHAR[buf[pos]!] === 0) return this.bad("invalid character in reason phrase");
      pos++;
    }
    if (buf[pos + 1] !== LF) return this.bad("bare CR in status line");
    const raw = this.raw;
    const reason = !raw && pos > reasonStart ? latin1Slice.call(buf, reasonStart, pos) : "";
    pos += 2;

    const http10 = minor === 48;
    // Header names are classified on their bytes (no string for a name unless it is kept in list mode).
    const headers: string[] = [];
    const lines = this.lines;
    const offsets = lines.offsets;
    const flags = lines.flags;
    const maxHeaders = this.limits.maxHeaders;
    let kept = 0;
    let contentLength = -1;
    let chunked = false;
    let transferEncoding = false;
    let close = http10;
    let connectionTokens: string | undefined;
    const headEnd = end - 2; // the final CRLF
    while (pos < headEnd) {
      if (kept >= maxHeaders) return this.bad("too many response headers");
      const nameStart = pos;
      while (TCHAR[buf[pos]!] === 1) pos++;
      if (pos === nameStart) return this.bad(buf[pos] === SP || buf[pos] === HTAB ? "obs-fold" : "malformed header");
      if (buf[pos] !== COLON) return this.bad("malformed header name");
      const nameEnd = pos++;
      while (buf[pos] === SP || buf[pos] === HTAB) pos++;
      const valueStart = pos;
      while (buf[pos] !== CR) {
        if (VALUE_CHAR[buf[pos]!] === 0) return this.bad("invalid character in header value");
        pos++;
      }
      if (buf[pos + 1] !== LF) return this.bad("bare CR in header");
      let valueEnd = pos;
      while (valueEnd > valueStart && (buf[valueEnd - 1] === SP || buf[valueEnd - 1] === HTAB)) valueEnd--;
      const lineEnd = pos;
      pos += 2;
      let kind = LINE_OTHER;
      switch (nameEnd - nameStart) {
        case 2:
          if (nameIs(buf, nameStart, "te")) continue;
          break;
        case 4:
          if (nameIs(buf, nameStart, "date")) kind = LINE_DATE;
          break;
        case 6:
          if (nameIs(buf, nameStart, "server")) kind = LINE_SERVER;
          break;
        case 7:
          if (nameIs(buf, nameStart, "trailer") || nameIs(buf, nameStart, "upgrade")) continue;
          break;
        case 10:
          if (nameIs(buf, nameStart, "connection")) {
            const tokens = latin1Slice.call(buf, valueStart, valueEnd).toLowerCase();
            connectionTokens = connectionTokens === undefined ? tokens : `${connectionTokens},${tokens}`;
            continue;
          }
          if (nameIs(buf, nameStart, "keep-alive")) continue;
          break;
        case 14:
          if (nameIs(buf, nameStart, "content-length")) {
            if (contentLength >= 0) return this.bad("duplicate Content-Length");
            contentLength = parseLength(buf, valueStart, valueEnd);
            if (contentLength < 0) return this.bad("malformed Content-Length");
            kind = LINE_CONTENT_LENGTH;
          }
          break;
        case 16:
          if (nameIs(buf, nameStart, "proxy-connection")) continue;
          break;
        case 17:
          if (nameIs(buf, nameStart, "transfer-encoding")) {
            if (transferEncoding) return this.bad("duplicate Transfer-Encoding");
            transferEncoding = true;
            chunked = valueEnd - valueStart === 7 && nameIs(buf, valueStart, "chunked");
            if (!chunked) return this.bad("unsupported Transfer-Encoding");
            continue;
          }
          break;
      }
      if (raw) {
        const at = kept * 4;
        offsets[at] = nameStart;
        offsets[at + 1] = nameEnd;
        offsets[at + 2] = valueStart;
        offsets[at + 3] = valueEnd;
        flags[kept] =
          valueStart === nameEnd + 2 && buf[nameEnd + 1] === SP && valueEnd === lineEnd ? kind | LINE_CANONICAL : kind;
      } else
        headers.push(
          latin1Slice.call(buf, nameStart, nameEnd),
          valueEnd > valueStart ? latin1Slice.call(buf, valueStart, valueEnd) : "",
        );
      kept++;
    }
    lines.count = raw ? kept : 0;

    if (connectionTokens !== undefined) {
      // the usual single token without splitting
      if (connectionTokens === "keep-alive") {
        if (http10) close = false;
      } else if (connectionTokens === "close") close = true;
      else
        for (const part of connectionTokens.split(",")) {
          const token = part.trim();
          if (token === "close") close = true;
          else if (token === "keep-alive") {
            if (http10) close = false;
          } else if (token !== "") {
            if (raw) dropLines(buf, lines, token);
            else removeHeader(headers, token);
          }
        }
    }

    if (status < 200) {
      if (status === 101) return this.bad("unexpected 101 Switching Protocols");
      if (++this.informational > MAX_INFORMATIONAL) return this.bad("too many 1xx responses");
      return true; // skipped; the final head follows
    }
    if (transferEncoding && (contentLength >= 0 || http10))
      return this.bad(http10 ? "Transfer-Encoding on HTTP/1.0" : "Content-Length with Transfer-Encoding");

    this.status = status;
    if (raw) this.sink.onRawHead!(status, buf, lines);
    else this.sink.onHead(status, reason, headers);
    if (this.state !== HEAD) return true; // the sink reset or failed us

    if (this.noBody || status === 204 || status === 304) {
      this.keepAlive = !close;
      this.complete();
    } else if (chunked) {
      this.keepAlive = !close;
      this.state = CHUNK_SIZE;
      this.remaining = 0;
      this.chunkLine = 0;
    } else if (contentLength >= 0) {
      this.keepAlive = !close;
      this.remaining = contentLength;
      if (contentLength === 0) this.complete();
      else this.state = BODY_LENGTH;
    } else {
      this.keepAlive = false;
      this.state = BODY_EOF;
    }
    return true;
  }

  private bad(message: string): false {
    this.error = message;
    return false;
  }

  /** The chunked body states; returns the new position or -1. */
  private chunked(buf: Buffer, pos: number, end: number): number {
    while (pos < end) {
      const c = buf[pos]!;
      switch (this.state) {
        case CHUNK_SIZE: {
          const h = HEX[c]!;
          if (h >= 0) {
            if (++this.chunkLine > 15) return this.reject("chunk size too large");
            this.remaining = this.remaining * 16 + h;
            pos++;
            continue;
          }
          if (this.chunkLine === 0) return this.reject("malformed chunk size");
          if (c === CR) this.state = CHUNK_SIZE_LF;
          else if (c === SP || c === HTAB) this.state = CHUNK_SIZE_WS;
          else if (c === 59 /* ; */) this.state = CHUNK_EXT;
          else return this.reject("malformed chunk size");
          pos++;
          continue;
        }
        case CHUNK_SIZE_WS:
          if (c === 59) this.state = CHUNK_EXT;
          else if (c !== SP && c !== HTAB) return this.reject("malformed chunk line");
          pos++;
          continue;
        case CHUNK_EXT:
          if (++this.chunkLine > MAX_CHUNK_LINE) return this.reject("chunk extension too long");
          if (c === CR) this.state = CHUNK_SIZE_LF;
          else if (VALUE_CHAR[c] === 0) return this.reject("malformed chunk extension");
          pos++;
          continue;
        case CHUNK_SIZE_LF:
          if (c !== LF) return this.reject("bare CR in chunk line");
          pos++;
          this.chunkLine = 0;
          if (this.remaining === 0) {
            this.state = TRAILER;
            this.trailerBytes = 0;
            this.trailerLineEmpty = true;
          } else this.state = CHUNK_DATA;
          continue;
        case CHUNK_DATA: {
          const n = Math.min(this.remaining, end - pos);
          this.sink.onBody(buf, pos, pos + n);
          pos += n;
          this.remaining -= n;
          if (this.remaining === 0) this.state = CHUNK_DATA_CR;
          continue;
        }
        case CHUNK_DATA_CR:
          if (c !== CR) return this.reject("missing CRLF after chunk data");
          this.state = CHUNK_DATA_LF;
          pos++;
          continue;
        case CHUNK_DATA_LF:
          if (c !== LF) return this.reject("missing CRLF after chunk data");
          this.state = CHUNK_SIZE;
          pos++;
          continue;
        case TRAILER:
          // Trailer fields are validated loosely (no bare CR/LF, no control characters) and dropped.
          if (++this.trailerBytes > this.limits.maxHeadBytes) return this.reject("trailers too large");
          if (c === CR) {
            if (pos + 1 >= end) {
              // the LF is in the next read: remember we saw the CR
              this.state = TRAILER_LF;
              pos++;
              continue;
            }
            if (buf[pos + 1] !== LF) return this.reject("bare CR in trailer");
            pos += 2;
            if (this.trailerLineEmpty) {
              this.complete();
              return pos;
            }
            this.trailerLineEmpty = true;
            continue;
          }
          if (c === LF || VALUE_CHAR[c] === 0) return this.reject("malformed trailer");
          this.trailerLineEmpty = false;
          pos++;
          continue;
        case TRAILER_LF:
          if (c !== LF) return this.reject("bare CR in trailer");
          pos++;
          if (this.trailerLineEmpty) {
            this.complete();
            return pos;
          }
          this.trailerLineEmpty = true;
          this.state = TRAILER;
          continue;
        default:
          return pos;
      }
    }
    return pos;
  }
}

/** A Content-Length value `buf[start, end)`: 1 to 15 digits; -1 otherwise. */
function parseLength(buf: Buffer, start: number, end: number): number {
  const n = end - start;
  if (n === 0 || n > 15) return -1;
  let v = 0;
  for (let i = start; i < end; i++) {
    const d = buf[i]! - 48;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}

/** whether the bytes at `start` are `lower` (lowercase ASCII) in any case; the caller checked the length */
function nameIs(buf: Buffer, start: number, lower: string): boolean {
  for (let i = 0; i < lower.length; i++) if (LOWER[buf[start + i]!] !== lower.charCodeAt(i)) return false;
  return true;
}

function removeHeader(headers: string[], lowerName: string): void {
  for (let i = headers.length - 2; i >= 0; i -= 2) {
    if (headers[i]!.toLowerCase() === lowerName) headers.splice(i, 2);
  }
}

/** Marks the raw lines named `lowerName` dropped (a Connection header named them). */
function dropLines(buf: Buffer, lines: HeadLines, lowerName: string): void {
  const { offsets, flags } = lines;
  for (let i = 0; i < lines.count; i++) {
    const start = offsets[i * 4]!;
    if (offsets[i * 4 + 1]! - start === lowerName.length && nameIs(buf, start, lowerName)) flags[i] = LINE_DROPPED;
  }
}

/**
 * The header lines of a raw head as text, `name: value` CRLF each, in order, without the dropped ones (and
 * without Date and Server when `dropOwn`): byte for byte what formatting onHead's list gives, but runs of
 * canonical lines are decoded as one slice each rather than two strings per header plus the joins.
 */
export function headerBlock(buf: Buffer, lines: HeadLines, dropOwn: boolean): string {
  const { offsets, flags } = lines;
  let out = "";
  let runStart = -1;
  let runEnd = -1;
  for (let i = 0; i < lines.count; i++) {
    const flag = flags[i]!;
    const kind = flag & LINE_KIND;
    if (kind === LINE_DROPPED || (dropOwn && (kind === LINE_DATE || kind === LINE_SERVER))) continue;
    const at = i * 4;
    const nameStart = offsets[at]!;
    const valueEnd = offsets[at + 3]!;
    if ((flag & LINE_CANONICAL) !== 0) {
      if (nameStart === runEnd) runEnd = valueEnd + 2;
      else {
        if (runStart >= 0) out += latin1Slice.call(buf, runStart, runEnd);
        runStart = nameStart;
        runEnd = valueEnd + 2;
      }
      continue;
    }
    if (runStart >= 0) out += latin1Slice.call(buf, runStart, runEnd);
    runStart = -1;
    runEnd = -1;
    out += `${latin1Slice.call(buf, nameStart, offsets[at + 1]!)}: ${latin1Slice.call(buf, offsets[at + 2]!, valueEnd)}\r\n`;
  }
  if (runStart >= 0) out += latin1Slice.call(buf, runStart, runEnd);
  return out;
}
