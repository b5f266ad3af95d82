/** `nodeplane describe` text for Routes from the compiled rules: filters, invalid backends, L4 sockets. */
import { describe, expect, it } from "vitest";
import { backendsText, describeRoute, filtersText, matchText } from "../../src/cli/describe-gateway.ts";
import type { HttpRouteRule } from "../../src/snapshot/gateway.ts";

const target = (id: string, ip: string) => ({
  id,
  namespace: "default",
  service: id.split("/")[1]!.split(":")[0]!,
  port: 80,
  endpoints: [{ ip, port: 8080 }],
});

describe("describe for Routes", () => {
  it.each<[string, Parameters<typeof filtersText>[0], string]>([
    ["none", [], ""],
    [
      "redirect",
      [{ type: "RequestRedirect", scheme: "https", hostname: "x.example", port: 8443, statusCode: 301 }],
      "redirect 301 https://x.example:8443",
    ],
    [
      "rewrite",
      [{ type: "URLRewrite", hostname: "in.example", path: { type: "ReplacePrefixMatch", value: "/v2" } }],
      "rewrite host in.example ReplacePrefixMatch /v2",
    ],
    [
      "mirror and header modifier",
      [
        { type: "RequestMirror", backend: target("default/m:80", "127.244.9.1"), appProtocol: "http", percent: 50 },
        { type: "RequestHeaderModifier", modifier: { set: [["x-a", "1"]], add: [], remove: [] } },
      ],
      "mirror default/m:80 50%, RequestHeaderModifier",
    ],
  ])("filters: %s", (_name, filters, text) => {
    expect(filtersText(filters)).toBe(text);
  });

  it("matches and backends: weights, appProtocol, invalid references, no backend = 500", () => {
    const rule: HttpRouteRule = {
      route: { kind: "HTTPRoute", namespace: "default", name: "r" },
      created: "",
      rule: 0,
      match: 0,
      path: { type: "Exact", value: "/a" },
      method: "GET",
      headers: [{ name: "x-env", type: "Exact", value: "canary" }],
      queryParams: [{ name: "v", type: "RegularExpression", value: "^[0-9]+$" }],
      filters: [],
      backends: [],
    };
    expect(matchText(rule)).toBe("Exact /a GET header x-env=canary query v~^[0-9]+$");
    expect(backendsText([])).toBe("<none>: 500");
    expect(
      backendsText([
        { weight: 3, appProtocol: "h2c", filters: [], target: target("default/g:80", "127.244.1.2") },
        { weight: 1, appProtocol: "http", filters: [] },
      ]),
    ).toBe("default/g:80 (127.244.1.2:8080) h2c w=3; <invalid reference> w=1");
  });

  it("a TCPRoute: no Hostnames field, the L4 socket and its weighted backends", () => {
    const text = describeRoute({
      kind: "TCPRoute",
      route: {
        metadata: { name: "db", namespace: "apps" },
        spec: { parentRefs: [{ name: "gw", namespace: "infra", sectionName: "tcp", port: 5432 }], rules: [{}] },
        status: { parents: [] },
      },
      serving: {
        http: [],
        l4: [
          {
            id: "127.0.0.1:5432/TCP",
            address: "127.0.0.1",
            port: 5432,
            protocol: "TCP",
            listeners: [{ namespace: "infra", gateway: "gw", listener: "tcp" }],
            route: { kind: "TCPRoute", namespace: "apps", name: "db" },
            backends: [{ weight: 1, target: { ...target("apps/pg:5432", "127.244.5.5"), port: 5432 } }],
            sni: [],
          },
        ],
      },
      problems: [{ kind: "TCPRoute", namespace: "apps", name: "db", field: "spec.rules[1]", message: "ignored" }],
    });
    expect(text).not.toMatch(/^Hostnames:/m);
    expect(text).toMatch(
      /^ {2}gateway\/infra\/gw section tcp port 5432:\n {4}Controller:\s+<none: no controller has accepted it>$/m,
    );
    expect(text).toMatch(/127\.0\.0\.1:5432\/TCP\s+\*\s+TCP\s+apps\/pg:5432 \(127\.244\.5\.5:8080\) w=1/);
    expect(text).toMatch(/^Problems:\s+TCPRoute apps\/db: spec\.rules\[1\]: ignored$/m);
  });
});
