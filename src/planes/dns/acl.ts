import { isIPv4 } from "node:net";
import { networkInterfaces } from "node:os";
import type { NodeSnapshot } from "../../snapshot/snapshot.ts";
import { type CIDR, cidrContains, parseCIDR } from "../../util/cidr.ts";

/** Loopback in both families: always part of the default. */
const LOOPBACK = ["127.0.0.0/8", "::1/128"];
/** Source addresses remembered (with their verdict) before the memo starts over. */
const MEMO_LIMIT = 4096;

/** What the default recursion list is made of (design: the clients this node serves). */
export interface RecursionSources {
  /** this host's interface addresses (os.networkInterfaces) */
  localAddresses: readonly string[];
  /** the Node object's addresses */
  nodeAddresses: readonly string[];
  /** the Node's spec.podCIDRs */
  podCIDRs: readonly string[];
  /** --service-cidr */
  serviceCIDRs: readonly string[];
}

/** The default `--dns-allow-recursion`: loopback, the node's own addresses, its pod CIDRs and the service CIDRs. */
export function defaultRecursionCIDRs(sources: RecursionSources): string[] {
  const hosts = [...sources.localAddresses, ...sources.nodeAddresses].map((ip) =>
    isIPv4(ip) ? `${ip}/32` : `${ip}/128`,
  );
  return [...new Set([...LOOPBACK, ...hosts, ...sources.podCIDRs, ...sources.serviceCIDRs])];
}

/** The addresses of this host's interfaces (zone suffixes such as %eth0 dropped). */
export function interfaceAddresses(): string[] {
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const info of list ?? []) out.push(info.address.split("%")[0]!);
  }
  return out;
}

/**
 * Which clients may have names outside the cluster domain forwarded (BIND's allow-recursion).
 * Only forwarded questions consult it, so cluster answers pay nothing; a source's verdict is
 * remembered, so a forwarded question from a known client costs one map lookup.
 */
export class RecursionAcl {
  readonly cidrs: readonly string[];
  private readonly v4: { base: number; mask: number }[] = [];
  private readonly v6: CIDR[] = [];
  private readonly memo = new Map<string, boolean>();

  /** Entries that do not parse as CIDRs are skipped (flags are validated earlier; Node objects may not be). */
  constructor(cidrs: readonly string[]) {
    const kept: string[] = [];
    for (const text of cidrs) {
      let cidr: CIDR;
      try {
        cidr = parseCIDR(text);
      } catch {
        continue;
      }
      kept.push(text);
      if (cidr.family === 4) {
        const mask = cidr.prefix === 0 ? 0 : (0xffffffff << (32 - cidr.prefix)) >>> 0;
        this.v4.push({ base: Number(cidr.base) >>> 0, mask });
      } else this.v6.push(cidr);
    }
    this.cidrs = kept;
  }

  allows(address: string): boolean {
    const known = this.memo.get(address);
    if (known !== undefined) return known;
    const verdict = this.check(address);
    if (this.memo.size >= MEMO_LIMIT) this.memo.clear();
    this.memo.set(address, verdict);
    return verdict;
  }

  private check(address: string): boolean {
    // A dual-stack socket reports IPv4 clients as ::ffff:a.b.c.d.
    const plain = address.startsWith("::ffff:") && isIPv4(address.slice(7)) ? address.slice(7) : address;
    const v4 = ipv4ToNumber(plain);
    if (v4 !== undefined) return this.v4.some((c) => (v4 & c.mask) >>> 0 === c.base);
    const host = plain.split("%")[0]!;
    try {
      return this.v6.some((c) => cidrContains(c, host));
    } catch {
      return false;
    }
  }
}

function ipv4ToNumber(address: string): number | undefined {
  if (!isIPv4(address)) return undefined;
  let n = 0;
  for (const part of address.split(".")) n = n * 256 + Number(part);
  return n >>> 0;
}

/**
 * Who may recurse: --dns-allow-recursion when given (fixed), else loopback, this host's interface
 * addresses, the service CIDRs, and the Node's addresses and pod CIDRs once a snapshot has them.
 */
export class RecursionPolicy {
  readonly initial: RecursionAcl;
  private readonly configured: readonly string[] | undefined;
  private readonly serviceCIDRs: readonly string[];
  private readonly localAddresses: readonly string[];
  private lastKey: string;

  constructor(configured: readonly string[] | undefined, serviceCIDRs: readonly string[]) {
    this.configured = configured;
    this.serviceCIDRs = serviceCIDRs;
    this.localAddresses = configured ? [] : interfaceAddresses();
    const initial = configured ?? this.defaults([], []);
    this.lastKey = initial.join(",");
    this.initial = new RecursionAcl(initial);
  }

  /** The list for this node, or undefined when it is fixed by the flag or the same as the last one. */
  forNode(node: NodeSnapshot): RecursionAcl | undefined {
    if (this.configured) return undefined;
    const cidrs = this.defaults(node.addresses, node.podCIDRs ?? []);
    const key = cidrs.join(",");
    if (key === this.lastKey) return undefined;
    this.lastKey = key;
    return new RecursionAcl(cidrs);
  }

  private defaults(nodeAddresses: readonly string[], podCIDRs: readonly string[]): string[] {
    return defaultRecursionCIDRs({
      localAddresses: this.localAddresses,
      nodeAddresses,
      podCIDRs,
      serviceCIDRs: this.serviceCIDRs,
    });
  }
}
