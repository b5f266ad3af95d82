import dnsPacket from "dns-packet";
import type { DnsRecords, DnsSnapshot } from "../../snapshot/dns.ts";
import { inDomain, lookupName } from "../../snapshot/dns-lookup.ts";
import {
  encodeQuestion,
  FLAG_AA,
  FLAG_QR,
  FLAG_RA,
  findCaseSpans,
  RCODE_NOERROR,
  RCODE_NXDOMAIN,
  RCODE_SERVFAIL,
  type Template,
  TYPE_A,
  TYPE_AAAA,
  TYPE_ANY,
  TYPE_CNAME,
  TYPE_PTR,
  TYPE_SOA,
  TYPE_SRV,
  TYPE_TXT,
} from "./wire.ts";

type Answer = dnsPacket.Answer;

/** How the server should answer a name under the zone. */
export type ZoneAnswer =
  /** `rotations`: the same answer with its addresses rotated; the server takes them in turn (round robin) */
  | { kind: "answer"; template: Template; rotations?: readonly Template[] }
  /** an ExternalName CNAME: answer it, plus the target's records resolved upstream */
  | { kind: "chase"; cname: Answer; target: string }
  | { kind: "forward" };

const FORWARD: ZoneAnswer = { kind: "forward" };
/** CNAME chains inside the zone are followed at most this far (ExternalName → ExternalName …). */
const MAX_CHAIN = 8;
/** Encoded answers kept per zone; beyond this the cache restarts (a flood of distinct names cannot grow it). */
const MAX_CACHED = 200_000;
/** Distinct orders kept for an answer with many addresses (CoreDNS's `loadbalance` shuffles instead). */
const MAX_ROTATIONS = 16;
/** CoreDNS gives the `dns-version` TXT record this TTL, whatever its `ttl` option says. */
const DNS_VERSION_TTL = 28800;

/**
 * One snapshot's zone, with its answers encoded lazily and kept until the next snapshot replaces the
 * zone: a repeated question costs two map lookups and one copy.
 */
export class Zone {
  readonly snapshot: DnsSnapshot;
  private readonly ttl: number;
  private readonly byType = new Map<number, Map<string, ZoneAnswer>>();
  private cached = 0;
  private readonly nxdomain: Template;
  private readonly nodata: Template;
  /** the cluster domain in wire form, for case spans (see findCaseSpans) */
  private readonly zoneWire: Buffer | undefined;

  constructor(snapshot: DnsSnapshot, ttl: number) {
    this.snapshot = snapshot;
    this.ttl = ttl;
    this.zoneWire = snapshot.domain ? wireName(snapshot.domain) : undefined;
    this.nxdomain = this.encode(RCODE_NXDOMAIN, [], [this.soa(snapshot.domain)], []);
    this.nodata = this.encode(RCODE_NOERROR, [], [this.soa(snapshot.domain)], []);
  }

  /** SERVFAIL with the zone's SOA, as CoreDNS answers before its first sync (the client retries). */
  servfail(): Template {
    return this.encode(RCODE_SERVFAIL, [], [this.soa(this.snapshot.domain)], []);
  }

  answer(name: string, type: number): ZoneAnswer {
    let byName = this.byType.get(type);
    const hit = byName?.get(name);
    if (hit) return hit;
    const result = lookupName(this.snapshot, name);
    if (result.kind === "outside") return FORWARD;
    if (result.kind === "nxdomain") return { kind: "answer", template: this.nxdomain };
    const answer = this.build(name, type, result.records);
    // Only names of the index are cached: synthesized (insecure pod) names are unbounded.
    if (!result.synthesized) {
      if (this.cached >= MAX_CACHED) {
        this.byType.clear();
        this.cached = 0;
      }
      if (!byName) {
        byName = new Map();
        this.byType.set(type, byName);
      }
      byName.set(name, answer);
      this.cached++;
    }
    return answer;
  }

  private build(name: string, type: number, records: DnsRecords): ZoneAnswer {
    const answers: Answer[] = [];
    const additionals: Answer[] = [];
    let owner = name;
    let current = records;
    // Follow CNAMEs (ExternalName) while the target is ours; hand off to the forwarder when it is not.
    for (let hop = 0; current.cname && type !== TYPE_CNAME && type !== TYPE_ANY; hop++) {
      const cname = this.rr(owner, "CNAME", current.cname);
      answers.push(cname);
      if (hop >= MAX_CHAIN) return this.positive(name, answers, additionals);
      const next = lookupName(this.snapshot, current.cname);
      if (next.kind === "outside") {
        if (answers.length === 1) return { kind: "chase", cname, target: current.cname };
        return this.positive(name, answers, additionals);
      }
      if (next.kind === "nxdomain")
        return {
          kind: "answer",
          template: this.encode(RCODE_NXDOMAIN, answers, [this.soa(this.snapshot.domain)], [], name),
        };
      owner = current.cname;
      current = next.records;
    }
    const own = this.recordsOf(owner, type, current);
    answers.push(...own);
    if (type === TYPE_SRV || type === TYPE_ANY) {
      // The A/AAAA records of SRV targets go in the additional section, as CoreDNS and the spec suggest.
      const seen = new Set<string>();
      for (const rr of own) {
        if (rr.type !== "SRV") continue;
        const target = rr.data.target;
        if (seen.has(target)) continue;
        seen.add(target);
        const found = lookupName(this.snapshot, target);
        if (found.kind !== "records") continue;
        additionals.push(
          ...this.recordsOf(target, TYPE_A, found.records),
          ...this.recordsOf(target, TYPE_AAAA, found.records),
        );
      }
    }
    if (answers.length === 0) {
      return {
        kind: "answer",
        template:
          owner === name
            ? this.nodataFor(name)
            : this.encode(RCODE_NOERROR, answers, [this.soa(this.snapshot.domain)], [], name),
      };
    }
    return this.positive(name, answers, additionals);
  }

  private positive(name: string, answers: Answer[], additionals: Answer[]): ZoneAnswer {
    const template = this.encode(RCODE_NOERROR, answers, [], additionals, name);
    // Clients mostly take the first address: rotate multi-address answers so load spreads over the endpoints.
    const count = answers.length;
    if (count < 2 || !answers.every((a) => a.type === "A" || a.type === "AAAA")) return { kind: "answer", template };
    const turns = Math.min(count, MAX_ROTATIONS);
    const rotations: Template[] = [template];
    for (let turn = 1; turn < turns; turn++) {
      const start = Math.floor((turn * count) / turns);
      rotations.push(
        this.encode(RCODE_NOERROR, [...answers.slice(start), ...answers.slice(0, start)], [], additionals, name),
      );
    }
    return { kind: "answer", template, rotations };
  }

  private recordsOf(owner: string, type: number, r: DnsRecords): Answer[] {
    const out: Answer[] = [];
    const any = type === TYPE_ANY;
    if ((type === TYPE_A || any) && r.a) for (const ip of r.a) out.push(this.rr(owner, "A", ip));
    if ((type === TYPE_AAAA || any) && r.aaaa) for (const ip of r.aaaa) out.push(this.rr(owner, "AAAA", ip));
    if ((type === TYPE_CNAME || any) && r.cname) out.push(this.rr(owner, "CNAME", r.cname));
    if ((type === TYPE_SRV || any) && r.srv)
      for (const s of r.srv)
        out.push({
          name: owner,
          type: "SRV",
          class: "IN",
          ttl: this.ttl,
          data: { priority: s.priority, weight: s.weight, port: s.port, target: s.target },
        });
    if ((type === TYPE_TXT || any) && r.txt)
      // dns-version is the zone's only TXT record
      for (const t of r.txt) out.push({ name: owner, type: "TXT", class: "IN", ttl: DNS_VERSION_TTL, data: t });
    if ((type === TYPE_PTR || any) && r.ptr) for (const p of r.ptr) out.push(this.rr(owner, "PTR", p));
    if ((type === TYPE_SOA || any) && owner === this.snapshot.domain) out.push(this.soa(owner));
    return out;
  }

  private nodataFor(name: string): Template {
    // Reverse names are outside the cluster domain: their negative answers carry a SOA of the reverse tree.
    // (passing the name keeps the cluster zone's case spans off: the question does not end in it)
    if (name.endsWith(".in-addr.arpa")) return this.encode(RCODE_NOERROR, [], [this.soa("in-addr.arpa")], [], name);
    if (name.endsWith(".ip6.arpa")) return this.encode(RCODE_NOERROR, [], [this.soa("ip6.arpa")], [], name);
    return this.nodata;
  }

  private rr(name: string, type: "A" | "AAAA" | "CNAME" | "PTR", data: string): Answer {
    return { name, type, class: "IN", ttl: this.ttl, data } as Answer;
  }

  private soa(owner: string): Answer {
    const soa = this.snapshot.soa;
    return {
      name: owner,
      type: "SOA",
      class: "IN",
      ttl: this.ttl,
      data: {
        mname: soa.mname,
        rname: soa.rname,
        serial: soa.serial,
        refresh: soa.refresh,
        retry: soa.retry,
        expire: soa.expire,
        // negative answers are cached as long as positive ones (CoreDNS uses its TTL here too)
        minimum: this.ttl,
      },
    };
  }

  /** `name`: the question these records answer, when it is one name's (not the shared NXDOMAIN/NODATA) */
  private encode(
    rcode: number,
    answers: Answer[],
    authorities: Answer[],
    additionals: Answer[],
    name?: string,
  ): Template {
    const template = encodeTemplate(FLAG_QR | FLAG_AA | FLAG_RA | rcode, answers, authorities, additionals);
    // Found once per encoded answer, so a mixed-case query costs a few byte copies and no parsing.
    const zone = name === undefined || inDomain(name, this.snapshot.domain) ? this.zoneWire : undefined;
    const count = template.an + template.ns + template.ar;
    const spans = count > 0 ? findCaseSpans(template.body, count, zone, name ? wireName(name) : undefined) : [];
    if (spans.length > 0) template.caseSpans = spans;
    return template;
  }
}

/** Marks where `template` repeats the question `name` (as owner), so it takes the query's case. */
export function withOwnerCase(template: Template, name: string): Template {
  const spans = findCaseSpans(template.body, template.an + template.ns + template.ar, undefined, wireName(name));
  if (spans.length > 0) template.caseSpans = spans;
  return template;
}

/** A name (lowercase, no trailing dot) in wire form, without compression. */
function wireName(name: string): Buffer {
  const question = encodeQuestion(name, 0);
  return question.subarray(0, question.length - 4);
}

/** Encodes records with dns-packet and keeps what follows the (empty) question section. */
export function encodeTemplate(
  flags: number,
  answers: Answer[],
  authorities: Answer[],
  additionals: Answer[],
): Template {
  const packet = dnsPacket.encode({
    type: "response",
    id: 0,
    flags: 0,
    questions: [],
    answers,
    authorities,
    additionals,
  });
  return {
    flags,
    an: answers.length,
    ns: authorities.length,
    ar: additionals.length,
    body: Buffer.from(packet.subarray(12)),
  };
}
