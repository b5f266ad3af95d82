import type { ScenarioName } from "./options.ts";

/** An HTTP load scenario: what is fetched, through which plane, with which generators. */
export interface HttpScenario {
  name: ScenarioName;
  kind: "http";
  /** gateway: nodeplane's Gateway HTTP listener (examples/bench's Gateway and HTTPRoute) */
  plane: "l4" | "l7" | "gateway";
  path: "/" | "/1m";
  /** `Connection: close` on every request: measures new connections per second */
  close: boolean;
  /** latency percentiles are headline figures: runs use the longer latency duration */
  latency: boolean;
  connections: number;
  generators: readonly ("wrk" | "autocannon")[];
  /** request headers every request carries (`name: value`), e.g. the one an HTTPRoute matches on */
  headers?: readonly string[];
}

export interface DnsScenario {
  name: ScenarioName;
  kind: "dns";
  /** cluster: names nodeplane holds (examples/bench); forward: names outside the cluster domain, from the forward cache */
  names: "cluster" | "forward";
}

export interface RebuildScenario {
  name: ScenarioName;
  kind: "rebuild";
  services: number;
  endpointsPerService: number;
}

export type Scenario = HttpScenario | DnsScenario | RebuildScenario;

export const SCENARIO_TABLE: Record<ScenarioName, Scenario> = {
  "l7-keepalive": {
    name: "l7-keepalive",
    kind: "http",
    plane: "l7",
    path: "/",
    close: false,
    latency: true,
    connections: 64,
    generators: ["wrk", "autocannon"],
  },
  // l7-keepalive through a Gateway listener: an HTTPRoute rule with a header match and a RequestHeaderModifier
  "gateway-keepalive": {
    name: "gateway-keepalive",
    kind: "http",
    plane: "gateway",
    path: "/",
    close: false,
    latency: true,
    connections: 64,
    generators: ["wrk", "autocannon"],
    headers: ["x-bench: 1"],
  },
  "l4-keepalive": {
    name: "l4-keepalive",
    kind: "http",
    plane: "l4",
    path: "/",
    close: false,
    latency: true,
    connections: 64,
    generators: ["wrk", "autocannon"],
  },
  "l4-bulk": {
    name: "l4-bulk",
    kind: "http",
    plane: "l4",
    path: "/1m",
    close: false,
    latency: false,
    connections: 8,
    generators: ["wrk"],
  },
  "l4-connrate": {
    name: "l4-connrate",
    kind: "http",
    plane: "l4",
    path: "/",
    close: true,
    latency: false,
    connections: 32,
    generators: ["wrk"],
  },
  "l7-connrate": {
    name: "l7-connrate",
    kind: "http",
    plane: "l7",
    path: "/",
    close: true,
    latency: false,
    connections: 32,
    generators: ["wrk"],
  },
  "dns-cached": { name: "dns-cached", kind: "dns", names: "cluster" },
  // names under bench.example answered from each forwarder's cache (warmed once before the rounds)
  "dns-forward-cached": { name: "dns-forward-cached", kind: "dns", names: "forward" },
  "snapshot-rebuild": { name: "snapshot-rebuild", kind: "rebuild", services: 10_000, endpointsPerService: 10 },
};

/** Which targets can serve an HTTP scenario's plane (direct = the backend itself). */
export const HTTP_TARGETS: Record<"l4" | "l7" | "gateway", readonly string[]> = {
  l7: ["direct", "nodeplane", "nginx", "haproxy", "http-proxy"],
  // the peers have no Gateway API: nodeplane's figure compares with its own l7-keepalive
  gateway: ["direct", "nodeplane"],
  l4: ["direct", "nodeplane", "nginx", "haproxy"],
};

export const DNS_TARGETS: readonly string[] = ["nodeplane", "bind", "dnsmasq"];
/** dns-forward-cached: forwarders with a cache (BIND here is the upstream, not a target) */
export const DNS_FORWARD_TARGETS: readonly string[] = ["nodeplane", "dnsmasq", "unbound"];
