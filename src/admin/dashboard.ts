import { createHash } from "node:crypto";
import {
  clusterIPColumn,
  externalIPColumn,
  loadBalancerColumn,
  servicePortsColumn,
  serviceType,
} from "../model/columns.ts";
import {
  conditionBadge,
  endpointCounts,
  escapeHtml,
  frontendsByService,
  htmlTable,
  refreshDashboard,
  renderEndpointSlices,
  renderGateways,
  renderIngresses,
  renderProblems,
  renderServices,
  renderStatus,
  renderTraffic,
} from "./dashboard-client.ts";

/** Functions the page carries, as source text (each self-contained; see dashboard-client.ts). */
const PAGE_FUNCTIONS: readonly ((...args: never[]) => unknown)[] = [
  serviceType,
  clusterIPColumn,
  loadBalancerColumn,
  externalIPColumn,
  servicePortsColumn,
  escapeHtml,
  htmlTable,
  endpointCounts,
  frontendsByService,
  renderServices,
  conditionBadge,
  renderEndpointSlices,
  renderGateways,
  renderIngresses,
  conditionBadge,
  renderGateways,
  renderProblems,
  renderTraffic,
  renderStatus,
  refreshDashboard,
];

const POLL_MS = 2000;

/** The page's script: the functions, then a poll loop that re-renders every 2 s (never two requests at once). */
export function dashboardScript(): string {
  const functions = PAGE_FUNCTIONS.map((f) => f.toString()).join("\n\n");
  return `"use strict";
${functions}

(function poll() {
  const fetchJson = (url) => fetch(url, { cache: "no-store" });
  refreshDashboard(document, fetchJson).finally(() => setTimeout(poll, ${POLL_MS}));
})();
`;
}

const STYLE = `
:root { color-scheme: light dark; --ok: #1a7f37; --bad: #cf222e; --warn: #9a6700; --line: #d0d7de80; }
body { font: 14px/1.4 system-ui, sans-serif; margin: 0; padding: 0 1.5rem 2rem; }
header { position: sticky; top: 0; padding: .75rem 0; background: Canvas; border-bottom: 1px solid var(--line); }
h1 { font-size: 1.25rem; margin: 0 0 .25rem; } h2 { font-size: 1.05rem; margin: 1.5rem 0 .5rem; }
#status { font-size: .9rem; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .3rem .6rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; font-size: .85rem; }
td { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: .85rem; }
.ok { color: var(--ok); } .bad { color: var(--bad); } .warn { color: var(--warn); }
.empty { opacity: .7; font-style: italic; }
.tag { font-size: .7rem; border: 1px solid currentColor; border-radius: 3px; padding: 0 .25rem; }
.problems li { margin: .2rem 0; }
`;

/** The dashboard: one self-contained page (no external assets), and its Content-Security-Policy. */
export function dashboardPage(): { html: string; csp: string } {
  const script = dashboardScript();
  if (/<\/script/i.test(script)) throw new Error("dashboard script must not contain a closing script tag");
  const scriptHash = createHash("sha256").update(script).digest("base64");
  const styleHash = createHash("sha256").update(STYLE).digest("base64");
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>nodeplane</title>
<style>${STYLE}</style>
</head>
<body>
<header><h1>nodeplane</h1><div id="status">loading…</div></header>
<h2>Services</h2><div id="services"></div>
<h2>EndpointSlices</h2><div id="endpointslices"></div>
<h2>Ingress routes</h2><div id="ingresses"></div>
<h2>Gateways</h2><div id="gateways"></div>
<h2>Problems</h2><div id="problems"></div>
<h2>Traffic</h2><div id="traffic"></div>
<script>${script}</script>
</body>
</html>
`;
  const csp = [
    "default-src 'none'",
    `script-src 'sha256-${scriptHash}'`,
    `style-src 'sha256-${styleHash}'`,
    "connect-src 'self'",
    "img-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
  return { html, csp };
}
