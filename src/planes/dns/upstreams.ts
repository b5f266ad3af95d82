import type { HostPort } from "../../config.ts";

/** Where a zone's names go: `--dns-forward-zone ZONE=IP[:PORT][,…]`. */
export interface ForwardZone {
  /** lowercase, no trailing dot; "" is the root */
  zone: string;
  upstreams: readonly HostPort[];
}

/** Health of one upstream, as CoreDNS's forward plugin keeps it. */
export class Upstream {
  readonly address: HostPort;
  /** consecutive failures (queries that got nothing, then failed probes) */
  fails = 0;
  /** a probe timer is pending */
  probing = false;

  constructor(address: HostPort) {
    this.address = address;
  }

  down(maxFails: number): boolean {
    return maxFails > 0 && this.fails > maxFails;
  }
}

/**
 * The upstream groups: the default one and one per forward zone; the longest zone that contains a
 * name wins (CoreDNS picks the most specific server block). The same address in several groups
 * shares one health state.
 */
export class UpstreamRoutes {
  readonly fallback: readonly Upstream[];
  readonly zones: { zone: string; suffix: string; upstreams: readonly Upstream[] }[];
  readonly all: readonly Upstream[];

  /** `previous`: routes being replaced; an address in both keeps its health state */
  constructor(fallback: readonly HostPort[], zones: readonly ForwardZone[] = [], previous?: UpstreamRoutes) {
    const byAddress = new Map<string, Upstream>();
    const get = (hp: HostPort) => {
      const key = `${hp.host}|${hp.port}`;
      let upstream = byAddress.get(key);
      if (!upstream) {
        upstream =
          previous?.all.find((u) => u.address.host === hp.host && u.address.port === hp.port) ?? new Upstream(hp);
        byAddress.set(key, upstream);
      }
      return upstream;
    };
    this.fallback = fallback.map(get);
    this.zones = zones
      .map((z) => ({ zone: z.zone, suffix: `.${z.zone}`, upstreams: z.upstreams.map(get) }))
      .sort((a, b) => b.zone.length - a.zone.length);
    this.all = [...byAddress.values()];
  }

  /** The upstreams for a lowercase name (no trailing dot). */
  for(name: string): readonly Upstream[] {
    for (const z of this.zones) {
      if (z.zone === "" || name === z.zone || name.endsWith(z.suffix)) return z.upstreams;
    }
    return this.fallback;
  }
}

/**
 * The order to try a group in: the healthy ones in their configured order (CoreDNS's `policy
 * sequential`), then, only when every one is down, all of them anyway (CoreDNS does the same and
 * counts it in coredns_forward_healthcheck_broken_total).
 */
export function attemptOrder(
  upstreams: readonly Upstream[],
  maxFails: number,
): { order: readonly Upstream[]; broken: boolean } {
  let healthy = 0;
  for (const u of upstreams) if (!u.down(maxFails)) healthy++;
  if (healthy === upstreams.length) return { order: upstreams, broken: false };
  if (healthy === 0) return { order: upstreams, broken: upstreams.length > 0 };
  return { order: upstreams.filter((u) => !u.down(maxFails)), broken: false };
}
