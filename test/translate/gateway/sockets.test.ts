import { describe, expect, it } from "vitest";
import type { Gateway, HTTPRoute } from "../../../src/model/gateway.ts";
import type { Problem } from "../../../src/model/problems.ts";
import type { HttpRouteRule } from "../../../src/snapshot/gateway.ts";
import { Store } from "../../../src/store/store.ts";
import { attachRoutes } from "../../../src/translate/gateway/attach.ts";
import type { ClassVerdict } from "../../../src/translate/gateway/classes.ts";
import { analyzeGateway } from "../../../src/translate/gateway/gateways.ts";
import { ReferenceGrants } from "../../../src/translate/gateway/references.ts";
import type { RouteInfo } from "../../../src/translate/gateway/routes.ts";
import { buildSockets } from "../../../src/translate/gateway/sockets.ts";
import { translateOptions } from "../../support/options.ts";

const NODE = { name: "n", addresses: ["192.168.1.10"], nodePortAddresses: [] };
const CLASS: ClassVerdict = {
  name: "nodeplane",
  accepted: true,
  status: { name: "nodeplane", conditions: [], supportedFeatures: [] },
};

const gateway: Gateway = {
  metadata: { name: "gw", namespace: "ns" },
  spec: {
    gatewayClassName: "nodeplane",
    listeners: [
      { name: "any", port: 80, protocol: "HTTP" },
      { name: "wild", port: 80, protocol: "HTTP", hostname: "*.example.com" },
      { name: "foo", port: 80, protocol: "HTTP", hostname: "foo.example.com" },
    ],
  },
};

/** A Route whose compiled rules are one marker rule each (the rule compiler is tested on its own). */
function route(name: string, section: string, hostnames: string[]): RouteInfo {
  const object: HTTPRoute = {
    metadata: { name, namespace: "ns" },
    spec: { parentRefs: [{ name: "gw", sectionName: section }], hostnames },
  };
  const rule: HttpRouteRule = {
    route: { kind: "HTTPRoute", namespace: "ns", name },
    created: "",
    rule: 0,
    match: -1,
    path: { type: "PathPrefix", value: "/" },
    headers: [],
    queryParams: [],
    filters: [],
    backends: [],
  };
  return {
    kind: "HTTPRoute",
    key: `ns/${name}`,
    namespace: "ns",
    name,
    route: object,
    created: "",
    hostnames,
    rules: [rule],
    backends: [],
    resolvedRefs: { ok: true },
    problems: [],
  };
}

describe("virtual hosts of a socket shared by listeners that differ by hostname (listener isolation)", () => {
  const problems: Problem[] = [];
  const store = new Store();
  const info = analyzeGateway(
    store,
    new ReferenceGrants(store),
    "ns/gw",
    gateway,
    CLASS,
    translateOptions(),
    NODE,
    new WeakMap(),
    problems,
  );
  const routes = [
    route("catch-all", "any", []),
    route("bar-on-any", "any", ["bar.example.com"]),
    route("wild-route", "wild", ["*.example.com"]),
    route("a-route", "wild", ["a.example.com"]),
    route("foo-route", "foo", []),
  ];
  const { attachments } = attachRoutes(routes, new Map([["ns/gw", info]]), problems);
  const [socket] = buildSockets([info], attachments).http;
  const table = Object.fromEntries(socket!.hosts.map((h) => [h.host, h.rules.map((r) => r.route.name)]));

  it("serves each host from its most specific listener only, a route's hosts falling back to less specific route hostnames of that listener", () => {
    expect(socket!.hosts.map((h) => h.host)).toEqual(["a.example.com", "foo.example.com", "*.example.com", ""]);
    expect(table).toEqual({
      "foo.example.com": ["foo-route"],
      "a.example.com": ["a-route", "wild-route"],
      "*.example.com": ["wild-route"],
      "": ["catch-all"],
    });
  });

  it("a route on the empty-hostname listener naming bar.example.com is not served there: *.example.com owns that host", () => {
    expect(Object.values(table).flat()).not.toContain("bar-on-any");
    expect(problems).toEqual([]);
  });
});
