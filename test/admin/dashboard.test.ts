import { runInNewContext } from "node:vm";
import { describe, expect, it } from "vitest";
import { dashboardPage, dashboardScript } from "../../src/admin/dashboard.ts";
import { LAB_OBJECTS } from "./fixtures.ts";

const HOSTILE = "<img src=x onerror=alert(1)>";

/** API answers as the admin server gives them, with user-controlled strings carrying markup. */
function apiDocuments(): Record<string, unknown> {
  const of = (kind: string) => LAB_OBJECTS.filter((o) => o.kind === kind).map((o) => o.object);
  return {
    "api/status": { ready: true, source: "manifests", healthy: true, generation: 7, node: { name: "node-a" } },
    "api/v1/services": {
      kind: "List",
      items: [
        ...of("Service"),
        { metadata: { name: HOSTILE, namespace: "default", labels: { x: '"><script>' } }, spec: { clusterIP: "None" } },
      ],
    },
    "api/v1/endpointslices": { kind: "List", items: of("EndpointSlice") },
    "api/v1/ingresses": { kind: "List", items: of("Ingress") },
    "api/problems": {
      problems: [{ kind: "Ingress", namespace: "default", name: "bad", message: `host ${HOSTILE} is invalid` }],
    },
    "api/v1/gateways": {
      kind: "List",
      items: [
        {
          kind: "Gateway",
          metadata: { name: "lab", namespace: "default" },
          spec: {
            gatewayClassName: "nodeplane",
            listeners: [
              { name: "http", protocol: "HTTP", port: 8081 },
              { name: "low", protocol: "HTTP", port: 81, hostname: HOSTILE },
            ],
          },
          status: {
            addresses: [{ type: "IPAddress", value: "127.0.0.1" }],
            conditions: [
              { type: "Accepted", status: "True", reason: "Accepted", message: "" },
              { type: "Programmed", status: "True", reason: "Programmed", message: "" },
            ],
            listeners: [
              {
                name: "http",
                attachedRoutes: 1,
                supportedKinds: [{ kind: "HTTPRoute" }],
                conditions: [
                  { type: "Accepted", status: "True", reason: "Accepted", message: "" },
                  { type: "Programmed", status: "True", reason: "Programmed", message: "" },
                  { type: "ResolvedRefs", status: "True", reason: "ResolvedRefs", message: "" },
                ],
              },
              {
                name: "low",
                attachedRoutes: 0,
                supportedKinds: [{ kind: "HTTPRoute" }],
                conditions: [
                  { type: "Accepted", status: "False", reason: "PortUnavailable", message: "listen EACCES" },
                  { type: "Programmed", status: "False", reason: "Invalid", message: HOSTILE },
                ],
              },
            ],
          },
        },
      ],
    },
    "api/v1/httproutes": {
      kind: "List",
      items: [
        {
          kind: "HTTPRoute",
          metadata: { name: "foo-bar", namespace: "default" },
          spec: { parentRefs: [{ name: "lab", sectionName: "http" }], hostnames: ["foo.bar.com"] },
          status: {
            parents: [
              {
                parentRef: { name: "lab", sectionName: "http" },
                controllerName: "nodeplane.dev/gateway-controller",
                conditions: [
                  { type: "Accepted", status: "True", reason: "Accepted", message: "" },
                  { type: "ResolvedRefs", status: "False", reason: "BackendNotFound", message: "service s9 not found" },
                ],
              },
            ],
          },
        },
      ],
    },
    "api/traffic": {
      traffic: [{ kind: "service", key: "default/my-nginx", metrics: { nodeplane_proxy_connections_total: 12 } }],
    },
    "api/serviceports": {
      servicePorts: [
        {
          id: "default/my-nginx:",
          namespace: "default",
          name: "my-nginx",
          frontends: [
            {
              kind: "clusterIP",
              ip: "127.97.33.12",
              port: 8090,
              protocol: "TCP",
              action: "forward",
              endpoints: "cluster",
            },
          ],
        },
        {
          id: "default/my-svc-cp:",
          namespace: "default",
          name: "my-svc-cp",
          frontends: [
            {
              kind: "clusterIP",
              ip: "127.97.33.10",
              port: 80,
              protocol: "TCP",
              action: "reject",
              endpoints: "cluster",
            },
          ],
        },
      ],
    },
  };
}

/** Runs the page's script with a fake document and fetch: what a browser runs, without a DOM. */
async function renderPage(documents: Record<string, unknown> | "down") {
  const elements: Record<string, { innerHTML: string }> = {};
  const document = {
    getElementById(id: string) {
      elements[id] ??= { innerHTML: "" };
      return elements[id];
    },
  };
  const requested: string[] = [];
  const timers: number[] = [];
  const fetch = async (url: string) => {
    requested.push(url);
    if (documents === "down") throw new Error("Failed to fetch");
    const body = documents[url];
    return { ok: body !== undefined, json: async () => body };
  };
  runInNewContext(dashboardScript(), {
    document,
    fetch,
    setTimeout: (_fn: () => void, ms: number) => timers.push(ms),
    console,
  });
  for (let i = 0; i < 50 && timers.length === 0; i++) await new Promise((r) => setTimeout(r, 2));
  return { elements, requested, timers };
}

describe("dashboard page", () => {
  it("renders every section from the API and polls again in 2 s", async () => {
    const { elements, requested, timers } = await renderPage(apiDocuments());
    expect(timers).toEqual([2000]);
    expect(requested.sort()).toEqual([
      "api/problems",
      "api/serviceports",
      "api/status",
      "api/traffic",
      "api/v1/endpointslices",
      "api/v1/gateways",
      "api/v1/grpcroutes",
      "api/v1/httproutes",
      "api/v1/ingresses",
      "api/v1/services",
      "api/v1/tcproutes",
      "api/v1/tlsroutes",
      "api/v1/udproutes",
    ]);
    expect(elements.status?.innerHTML).toContain("ready");
    expect(elements.status?.innerHTML).toContain("snapshot #7");
    const services = elements.services?.innerHTML ?? "";
    expect(services).toContain("<td>127.97.33.11</td>");
    expect(services).toContain("<td>1234:31234/TCP</td>");
    expect(services).toContain("<td>&lt;pending&gt;</td>");
    expect(services).toMatch(/<b>my-nginx<\/b>.*?1\/2/);
    expect(services).toContain('<span class="ok" title="clusterIP: forward">127.97.33.12:8090/TCP</span>');
    expect(services).toContain('<span class="bad" title="clusterIP: reject">127.97.33.10:80/TCP</span>');
    expect(elements.endpointslices?.innerHTML).toContain("127.244.33.2");
    expect(elements.ingresses?.innerHTML).toContain("foo.bar.com");
    expect(elements.ingresses?.innerHTML).toContain("my-nginx:8090");
    expect(elements.traffic?.innerHTML).toContain("proxy_connections_total <b>12</b>");
    // Gateways: a row per listener, programmed or not, the routes on it with Accepted/ResolvedRefs, problems red
    const gateways = elements.gateways?.innerHTML ?? "";
    expect(gateways).toContain("<b>default/lab</b>");
    expect(gateways).toContain("127.0.0.1");
    expect(gateways).toMatch(/<b>http<\/b> HTTP:8081<\/td><td><span class="ok"[^>]*>Programmed<\/span>.*?1 attached/);
    expect(gateways).toContain(
      '<span class="bad" title="&lt;img src=x onerror=alert(1)&gt;">Programmed: False (Invalid)</span>',
    );
    expect(gateways).toMatch(/HTTPRoute default\/foo-bar <i>foo\.bar\.com<\/i> <span class="ok"[^>]*>Accepted<\/span>/);
    expect(gateways).toContain(
      '<span class="bad" title="service s9 not found">ResolvedRefs: False (BackendNotFound)</span>',
    );
    // the route names the http listener only: the other listener's row has none
    expect(gateways).toMatch(/<b>low<\/b>.*?no routes/);
    // user strings are escaped everywhere
    const all = Object.values(elements)
      .map((e) => e.innerHTML)
      .join("\n");
    expect(all).not.toContain("<img");
    expect(all).not.toContain("<script");
    expect(all).toContain("&lt;img src=x onerror=alert(1)&gt;");
  });

  it("shows a waiting note before the first sync and an error when the server is gone", async () => {
    const waiting = await renderPage({
      "api/status": { ready: false, source: "manifests", healthy: false, generation: 0 },
    });
    expect(waiting.elements.status?.innerHTML).toContain("not ready");
    expect(waiting.elements.services?.innerHTML).toContain("Waiting for the first sync");

    const down = await renderPage("down");
    expect(down.elements.status?.innerHTML).toContain("admin server unreachable");
    expect(down.timers).toEqual([2000]);
  });

  it("is one self-contained page whose script the CSP allows by hash", () => {
    const { html, csp } = dashboardPage();
    expect(html).not.toMatch(/<(script|link|img)[^>]+(src|href)=/i);
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("connect-src 'self'");
    const script = /<script>([\s\S]*)<\/script>/.exec(html)?.[1] ?? "";
    expect(script).toBe(dashboardScript());
  });
});
