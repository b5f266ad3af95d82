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
      "api/v1/ingresses",
      "api/v1/services",
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
