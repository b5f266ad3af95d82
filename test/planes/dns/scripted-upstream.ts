import dgram from "node:dgram";
import dnsPacket from "dns-packet";
import { bindUdpAndTcp } from "./helpers.ts";

/** One question as the scripted upstream saw it. */
export interface SeenQuery {
  name: string;
  type: string;
  proto: "udp" | "tcp";
  /** the EDNS UDP size the query advertised; undefined without an OPT record */
  ednsSize: number | undefined;
  rd: boolean;
  /** the OPT's DO bit */
  dnssecOk: boolean;
}

/** What the upstream does with one question. */
export type Action =
  | { answers: dnsPacket.Answer[]; delayMs?: number }
  /** NXDOMAIN (or NODATA: NOERROR, no answers) with an SOA in the authority section */
  | { negative: "nxdomain" | "nodata"; soaTtl: number; soaMinimum: number }
  | { rcode: "SERVFAIL" | "REFUSED" }
  /** no reply at all (a dead or overloaded upstream) */
  | { silent: true }
  /** over UDP: TC=1 with no records; over TCP: the answers */
  | { truncate: dnsPacket.Answer[] };

export type Script = (query: SeenQuery) => Action;

/** A scripted upstream resolver on 127.0.0.1, UDP and TCP on one port. */
export interface ScriptedUpstream {
  port: number;
  seen: SeenQuery[];
  /** questions seen for `name` (lowercase), optionally of one type and protocol */
  count(name: string, type?: string, proto?: "udp" | "tcp"): number;
  script: Script;
  close(): Promise<void>;
}

export async function startScriptedUpstream(script: Script): Promise<ScriptedUpstream> {
  const seen: SeenQuery[] = [];
  const state = { script };
  const respond = async (msg: Buffer, proto: "udp" | "tcp"): Promise<Buffer | undefined> => {
    const packet = dnsPacket.decode(msg);
    const q = packet.questions?.[0];
    if (!q) return undefined;
    const opt = packet.additionals?.find((a) => a.type === "OPT") as
      | { udpPayloadSize?: number; flag_do?: boolean }
      | undefined;
    const query: SeenQuery = {
      name: q.name.toLowerCase(),
      type: q.type,
      proto,
      ednsSize: opt?.udpPayloadSize,
      rd: ((packet.flags ?? 0) & dnsPacket.RECURSION_DESIRED) !== 0,
      dnssecOk: opt?.flag_do === true,
    };
    seen.push(query);
    const action = state.script(query);
    const base = { type: "response" as const, id: packet.id, questions: [q] };
    if ("silent" in action) return undefined;
    if ("rcode" in action)
      return dnsPacket.encode({
        ...base,
        flags: dnsPacket.RECURSION_AVAILABLE | (action.rcode === "SERVFAIL" ? 2 : 5),
      });
    if ("negative" in action)
      return dnsPacket.encode({
        ...base,
        flags: dnsPacket.RECURSION_AVAILABLE | (action.negative === "nxdomain" ? 3 : 0),
        authorities: [
          {
            name: "example",
            type: "SOA",
            ttl: action.soaTtl,
            data: {
              mname: "ns.example",
              rname: "hostmaster.example",
              serial: 1,
              refresh: 3600,
              retry: 600,
              expire: 86400,
              minimum: action.soaMinimum,
            },
          },
        ],
      });
    if ("truncate" in action) {
      if (proto === "udp") return dnsPacket.encode({ ...base, flags: dnsPacket.TRUNCATED_RESPONSE });
      return dnsPacket.encode({ ...base, flags: dnsPacket.RECURSION_AVAILABLE, answers: action.truncate });
    }
    const out = dnsPacket.encode({ ...base, flags: dnsPacket.RECURSION_AVAILABLE, answers: action.answers });
    if (action.delayMs) await new Promise((r) => setTimeout(r, action.delayMs));
    return out;
  };

  const udp = dgram.createSocket("udp4");
  udp.on("message", (msg, rinfo) => {
    respond(msg, "udp").then(
      (out) => {
        try {
          if (out) udp.send(out, rinfo.port, rinfo.address);
        } catch {
          // closed meanwhile
        }
      },
      () => {},
    );
  });
  const { port, tcp } = await bindUdpAndTcp(udp, (msg) => respond(msg, "tcp"), "the scripted upstream");
  return {
    port,
    seen,
    count: (name, type, proto) =>
      seen.filter((s) => s.name === name && (!type || s.type === type) && (!proto || s.proto === proto)).length,
    get script() {
      return state.script;
    },
    set script(next: Script) {
      state.script = next;
    },
    async close() {
      udp.close();
      await new Promise<void>((resolve) => tcp.close(() => resolve()));
    },
  };
}

/** `n` A records for `name` (192.0.2.x), enough to pass a size. */
export function manyA(name: string, n: number, ttl = 300): dnsPacket.Answer[] {
  return Array.from({ length: n }, (_, i) => ({
    name,
    type: "A" as const,
    ttl,
    data: `192.0.${2 + Math.floor(i / 250)}.${(i % 250) + 1}`,
  }));
}
