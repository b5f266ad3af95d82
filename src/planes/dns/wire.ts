/**
 * The DNS wire format on the hot path: a query parser that reads only what answering needs, and the
 * assembly of a response from a pre-encoded body (header + the client's own question bytes + body + OPT).
 * Record encoding itself is done once per answer with dns-packet (see zone.ts).
 */

export const FLAG_QR = 0x8000;
export const FLAG_AA = 0x0400;
export const FLAG_TC = 0x0200;
export const FLAG_RD = 0x0100;
export const FLAG_RA = 0x0080;
export const FLAG_CD = 0x0010;

export const RCODE_NOERROR = 0;
export const RCODE_FORMERR = 1;
export const RCODE_SERVFAIL = 2;
export const RCODE_NXDOMAIN = 3;
export const RCODE_NOTIMP = 4;
export const RCODE_REFUSED = 5;
/** extended RCODE 16 (BADVERS): 1 in the OPT's extended bits, 0 in the header */
export const RCODE_BADVERS = 16;

export const TYPE_A = 1;
export const TYPE_NS = 2;
export const TYPE_CNAME = 5;
export const TYPE_SOA = 6;
export const TYPE_PTR = 12;
export const TYPE_TXT = 16;
export const TYPE_AAAA = 28;
export const TYPE_SRV = 33;
export const TYPE_OPT = 41;
export const TYPE_ANY = 255;
export const CLASS_IN = 1;
export const CLASS_ANY = 255;

/**
 * What nodeplane advertises and the most it sends over UDP, whatever the client advertises (DNS flag
 * day 2020): fragmentation is avoided, and a spoofed small query cannot draw more than this.
 */
export const OUR_UDP_SIZE = 1232;
export const DEFAULT_UDP_SIZE = 512;

export interface Query {
  id: number;
  flags: number;
  /** lowercase presentation name without the trailing dot ("" for the root); odd bytes escaped as \DDD */
  name: string;
  /** offset just past the question (qname, qtype, qclass): bytes 12..questionEnd are echoed */
  questionEnd: number;
  type: number;
  qclass: number;
  /** an OPT record was present */
  edns: boolean;
  /** the largest UDP response to send it: min(its EDNS size, 1232), at least 512 */
  udpSize: number;
  ednsVersion: number;
  /** the OPT's DO bit (RFC 3225): DNSSEC records wanted; copied into the response's OPT */
  dnssecOk: boolean;
  /** the qname has an uppercase letter: owner names of the answer then take the query's case (0x20) */
  upper: boolean;
}

export type ParsedQuery =
  | { ok: true; query: Query }
  /** not worth answering: too short for a header, or a response (answering those invites loops) */
  | { ok: false; drop: true }
  /** a header we can answer to with this rcode, e.g. FORMERR or NOTIMP */
  | { ok: false; drop: false; id: number; flags: number; rcode: number };

/** Parses a query; never throws, whatever the bytes. */
export function parseQuery(msg: Buffer): ParsedQuery {
  if (msg.length < 12) return { ok: false, drop: true };
  const id = msg.readUInt16BE(0);
  const flags = msg.readUInt16BE(2);
  if (flags & FLAG_QR) return { ok: false, drop: true };
  const opcode = (flags >> 11) & 0xf;
  if (opcode !== 0) return { ok: false, drop: false, id, flags, rcode: RCODE_NOTIMP };
  const formerr = { ok: false as const, drop: false as const, id, flags, rcode: RCODE_FORMERR };
  if (msg.readUInt16BE(4) !== 1) return formerr;
  // qname: plain labels only (a compression pointer cannot be valid in the first name of a message).
  // The presentation form is built in a scratch buffer and turned into one string: this is the hot path.
  let offset = 12;
  let length = 0;
  let escaped = false;
  let upper = false;
  for (;;) {
    if (offset >= msg.length) return formerr;
    const len = msg[offset]!;
    offset++;
    if (len === 0) break;
    if (len > 63) return formerr;
    if (offset + len > msg.length || offset - 12 + len > 254) return formerr;
    if (length > 0) scratch[length++] = 0x2e;
    for (let i = offset; i < offset + len; i++) {
      let c = msg[i]!;
      if (c >= 0x41 && c <= 0x5a) {
        c += 0x20;
        upper = true;
      }
      if (c > 0x20 && c < 0x7f && c !== 0x2e && c !== 0x5c) scratch[length++] = c;
      else {
        escaped = true;
        break;
      }
    }
    offset += len;
  }
  const name = escaped ? escapedName(msg) : scratch.toString("latin1", 0, length);
  if (offset + 4 > msg.length) return formerr;
  const type = msg.readUInt16BE(offset);
  const qclass = msg.readUInt16BE(offset + 2);
  const questionEnd = offset + 4;

  // EDNS: look for the OPT record among the remaining records (anything else there is skipped).
  let edns = false;
  let udpSize = DEFAULT_UDP_SIZE;
  let ednsVersion = 0;
  let dnssecOk = false;
  const others = msg.readUInt16BE(6) + msg.readUInt16BE(8) + msg.readUInt16BE(10);
  offset = questionEnd;
  for (let i = 0; i < others; i++) {
    const nameEnd = skipName(msg, offset);
    if (nameEnd < 0 || nameEnd + 10 > msg.length) return formerr;
    const rrType = msg.readUInt16BE(nameEnd);
    const rdEnd = nameEnd + 10 + msg.readUInt16BE(nameEnd + 8);
    if (rdEnd > msg.length) return formerr;
    if (rrType === TYPE_OPT) {
      if (edns) return formerr;
      edns = true;
      udpSize = Math.min(OUR_UDP_SIZE, Math.max(DEFAULT_UDP_SIZE, msg.readUInt16BE(nameEnd + 2)));
      ednsVersion = msg[nameEnd + 5]!;
      dnssecOk = (msg[nameEnd + 6]! & 0x80) !== 0;
    }
    offset = rdEnd;
  }
  // Bytes beyond the records the header counts (a second question under QDCOUNT 1, say): FORMERR, as BIND and Knot.
  if (offset !== msg.length) return formerr;
  return {
    ok: true,
    query: { id, flags, name, questionEnd, type, qclass, edns, udpSize, ednsVersion, dnssecOk, upper },
  };
}

/** Room for the longest name in presentation form with every byte escaped (255 × 4). */
const scratch = Buffer.alloc(1024);

/** The rare slow path: a qname with dots, backslashes or unprintable bytes inside labels, as \DDD escapes. */
function escapedName(msg: Buffer): string {
  let offset = 12;
  let name = "";
  for (let len = msg[offset]!; len !== 0; len = msg[offset]!) {
    offset++;
    if (name.length > 0) name += ".";
    for (let i = offset; i < offset + len; i++) {
      let c = msg[i]!;
      if (c >= 0x41 && c <= 0x5a) c += 0x20;
      if (c > 0x20 && c < 0x7f && c !== 0x2e && c !== 0x5c) name += String.fromCharCode(c);
      else name += `\\${c.toString().padStart(3, "0")}`;
    }
    offset += len;
  }
  return name;
}

/** Offset just past a (possibly compressed) name, or -1 when it runs off the end or is malformed. */
export function skipName(msg: Buffer, offset: number): number {
  let pos = offset;
  for (let guard = 0; guard < 128; guard++) {
    if (pos >= msg.length) return -1;
    const len = msg[pos]!;
    if (len === 0) return pos + 1;
    if ((len & 0xc0) === 0xc0) return pos + 2 <= msg.length ? pos + 2 : -1;
    if (len > 63) return -1;
    pos += 1 + len;
  }
  return -1;
}

/**
 * A pre-encoded response minus its header and question: `body` holds the answer, authority and
 * additional records exactly as they follow the question. `flags` carries QR/AA/RA and the RCODE.
 * Forwarded (cached) bodies also list where their TTLs are, so they can be aged on the way out.
 */
export interface Template {
  flags: number;
  an: number;
  ns: number;
  ar: number;
  body: Buffer;
  /** offsets (within body) of 32-bit TTL fields to decrease by the age of the entry */
  ttlOffsets?: readonly number[];
  /** when the body was received (ms since epoch), for aging TTLs */
  storedAtMs?: number;
  /** an extended rcode (> 15) to carry in the OPT record */
  extendedRcode?: number;
  /**
   * Where the body holds (lowercase) names that must take the query's letter case, as pairs of
   * (offset within body, length): the bytes come from the last `length` bytes of the query's qname
   * (the whole qname for an owner name equal to it, the zone for a name under the zone). See findCaseSpans.
   */
  caseSpans?: readonly number[];
}

const OPT_LENGTH = 11;

/**
 * Builds the response to `query` (whose raw bytes are `msg`) from `template`: one allocation.
 * When it does not fit in `limit` bytes (the client's UDP size), the answer is left out and TC set,
 * so the client retries over TCP.
 */
export function assemble(msg: Buffer, query: Query, template: Template, limit: number, nowMs = 0): Buffer {
  const questionLength = query.questionEnd - 12;
  const opt = query.edns ? OPT_LENGTH : 0;
  const full = 12 + questionLength + template.body.length + opt;
  const truncated = full > limit;
  const out = Buffer.allocUnsafe(truncated ? 12 + questionLength + opt : full);
  out.writeUInt16BE(query.id, 0);
  out.writeUInt16BE(template.flags | (query.flags & (FLAG_RD | FLAG_CD)) | (truncated ? FLAG_TC : 0) | FLAG_QR, 2);
  out.writeUInt16BE(1, 4);
  out.writeUInt16BE(truncated ? 0 : template.an, 6);
  out.writeUInt16BE(truncated ? 0 : template.ns, 8);
  out.writeUInt16BE((truncated ? 0 : template.ar) + (opt ? 1 : 0), 10);
  msg.copy(out, 12, 12, query.questionEnd);
  let offset = query.questionEnd;
  if (!truncated) {
    template.body.copy(out, offset);
    if (template.ttlOffsets && template.storedAtMs !== undefined) {
      const age = Math.max(0, Math.floor((nowMs - template.storedAtMs) / 1000));
      if (age > 0)
        for (const at of template.ttlOffsets) {
          const ttl = template.body.readUInt32BE(at);
          out.writeUInt32BE(ttl > age ? ttl - age : 0, offset + at);
        }
    }
    if (query.upper && template.caseSpans) recase(out, query.questionEnd - 4, query.questionEnd, template.caseSpans);
    offset += template.body.length;
  }
  if (opt) writeOpt(out, offset, template.extendedRcode, query.dnssecOk);
  return out;
}

/**
 * Copies the query's letter case into the answer's names (resolvers using 0x20 randomisation compare
 * them, and CoreDNS keeps it). Only ASCII letters change, and only where the byte is the same letter
 * in the other case: whatever the query holds, the answer's structure cannot change.
 */
function recase(out: Buffer, qnameEnd: number, body: number, spans: readonly number[]): void {
  for (let s = 0; s < spans.length; s += 2) {
    const length = spans[s + 1]!;
    const from = qnameEnd - length;
    if (from < 12) continue;
    const to = body + spans[s]!;
    for (let i = 0; i < length; i++) {
      const c = out[from + i]!;
      if (c >= 0x41 && c <= 0x5a && out[to + i] === c + 0x20) out[to + i] = c;
    }
  }
}

/**
 * The case spans of an encoded body (uncompressed names, as dns-packet writes them): every owner name
 * equal to `qname` (wire form, lowercase), and every owner, SOA MNAME/RNAME and SRV target under
 * `zone` (wire form, lowercase; omitted for answers outside the cluster domain), whose zone part
 * then takes the query's case, as in CoreDNS, which builds those names from the query's zone.
 */
export function findCaseSpans(body: Buffer, count: number, zone: Buffer | undefined, qname?: Buffer): number[] {
  const spans: number[] = [];
  const records = walkRecords(body, 0, count);
  if (!records) return spans;
  const suffix = (start: number) => {
    if (!zone) return;
    const end = skipName(body, start);
    const at = end - zone.length;
    if (end < 0 || at < start) return;
    // the zone must start on a label boundary: walk the labels to find out
    for (let pos = start; pos <= at; pos += 1 + body[pos]!) {
      if (pos === at) {
        if (body.subarray(at, end).equals(zone)) spans.push(at, zone.length);
        return;
      }
    }
  };
  for (const r of records) {
    const nameEnd = skipName(body, r.start);
    if (qname && nameEnd - r.start === qname.length && body.subarray(r.start, nameEnd).equals(qname))
      spans.push(r.start, qname.length);
    else suffix(r.start);
    if (r.type === TYPE_SOA) {
      suffix(r.rdataStart);
      suffix(skipName(body, r.rdataStart));
    } else if (r.type === TYPE_SRV) suffix(r.rdataStart + 6);
  }
  return spans;
}

/** A header-only response (FORMERR, NOTIMP) for a query whose question we could not (or need not) read. */
export function headerOnly(id: number, queryFlags: number, rcode: number): Buffer {
  const out = Buffer.alloc(12);
  out.writeUInt16BE(id, 0);
  out.writeUInt16BE(FLAG_QR | FLAG_RA | (queryFlags & (FLAG_RD | 0x7800)) | (rcode & 0xf), 2);
  return out;
}

function writeOpt(out: Buffer, offset: number, extendedRcode = 0, dnssecOk = false): void {
  out[offset] = 0; // root owner
  out.writeUInt16BE(TYPE_OPT, offset + 1);
  out.writeUInt16BE(OUR_UDP_SIZE, offset + 3);
  out[offset + 5] = (extendedRcode >> 4) & 0xff;
  out[offset + 6] = 0; // version
  out.writeUInt16BE(dnssecOk ? 0x8000 : 0, offset + 7); // flags: DO copied from the query (RFC 3225 §3)
  out.writeUInt16BE(0, offset + 9); // no options
}

/** A response with just a header, the question and an rcode (SERVFAIL, REFUSED, BADVERS). */
export function rcodeTemplate(rcode: number, authoritative = false): Template {
  return {
    flags: FLAG_QR | FLAG_RA | (authoritative ? FLAG_AA : 0) | (rcode & 0xf),
    an: 0,
    ns: 0,
    ar: 0,
    body: Buffer.alloc(0),
    ...(rcode > 15 ? { extendedRcode: rcode } : {}),
  };
}

/** One resource record's place in a message. */
export interface RecordSpan {
  start: number;
  type: number;
  ttlAt: number;
  rdataStart: number;
  end: number;
}

/** Walks `count` records from `offset`; undefined when they are malformed. */
export function walkRecords(msg: Buffer, offset: number, count: number): RecordSpan[] | undefined {
  const spans: RecordSpan[] = [];
  let pos = offset;
  for (let i = 0; i < count; i++) {
    const nameEnd = skipName(msg, pos);
    if (nameEnd < 0 || nameEnd + 10 > msg.length) return undefined;
    const end = nameEnd + 10 + msg.readUInt16BE(nameEnd + 8);
    if (end > msg.length) return undefined;
    spans.push({ start: pos, type: msg.readUInt16BE(nameEnd), ttlAt: nameEnd + 4, rdataStart: nameEnd + 10, end });
    pos = end;
  }
  return spans;
}

/** The wire form of a question (qname, qtype, qclass) for a plain ASCII name such as the index holds. */
export function encodeQuestion(name: string, type: number, qclass = CLASS_IN): Buffer {
  const labels = name === "" ? [] : name.split(".");
  const length = labels.reduce((n, l) => n + 1 + l.length, 1) + 4;
  const out = Buffer.alloc(length);
  let offset = 0;
  for (const label of labels) {
    out[offset++] = label.length;
    offset += out.write(label, offset, "latin1");
  }
  out[offset++] = 0;
  out.writeUInt16BE(type, offset);
  out.writeUInt16BE(qclass, offset + 2);
  return out;
}
