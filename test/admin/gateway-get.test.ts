/**
 * `nodeplane get|describe` for the Gateway API kinds, through a real admin server and the real CLI process.
 * The gateway part of the snapshot and the status are built by hand here (the translator is tested on its
 * own), so these rows prove what the CLI shows and where the status comes from: the status writer's
 * (manifests mode keeps it in memory), else the translator's, else the object's.
 */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AdminServer, startAdminServer } from "../../src/admin/server.ts";
import { formatHostPort } from "../../src/config.ts";
import { silentLogger } from "../../src/log.ts";
import type { Condition, GatewayApiStatus } from "../../src/model/gateway.ts";
import type { SnapshotPipeline } from "../../src/pipeline.ts";
import type { GatewaySnapshot } from "../../src/snapshot/gateway.ts";
import type { Snapshot } from "../../src/snapshot/snapshot.ts";
import { MemoryStatusWriter, type StatusWriter } from "../../src/status/writer.ts";
import { Store } from "../../src/store/store.ts";
import { Translator } from "../../src/translate/index.ts";
import { translateOptions } from "../support/options.ts";
import { FakeSource } from "./fake-source.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const CREATED = "2026-12-01T00:00:00Z";

function cond(type: string, status: Condition["status"], reason: string, message = ""): Condition {
  return { type, status, reason, message, observedGeneration: 1 };
}

function seed(store: Store): void {
  store.upsert("GatewayClass", {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "GatewayClass",
    metadata: { name: "nodeplane", creationTimestamp: CREATED },
    spec: { controllerName: "nodeplane.dev/gateway-controller", description: "the node's data plane" },
  });
  store.upsert("GatewayClass", {
    metadata: { name: "other", creationTimestamp: CREATED },
    spec: { controllerName: "example.com/other" },
    status: { conditions: [cond("Accepted", "Unknown", "Pending")] },
  });
  store.upsert("Gateway", {
    metadata: { name: "lab", namespace: "default", creationTimestamp: CREATED, generation: 1 },
    spec: {
      gatewayClassName: "nodeplane",
      listeners: [
        { name: "http", protocol: "HTTP", port: 8081, allowedRoutes: { namespaces: { from: "All" } } },
        { name: "busy", protocol: "HTTP", port: 22 },
      ],
    },
  });
  store.upsert("HTTPRoute", {
    metadata: { name: "test", namespace: "default", creationTimestamp: CREATED, generation: 1 },
    spec: {
      parentRefs: [{ name: "lab", sectionName: "http" }, { name: "elsewhere" }],
      hostnames: ["foo.bar.com"],
      rules: [{ matches: [{ path: { type: "PathPrefix", value: "/foo" } }], backendRefs: [{ name: "s1", port: 80 }] }],
    },
    status: {
      parents: [
        {
          parentRef: { name: "elsewhere" },
          controllerName: "example.com/other",
          conditions: [cond("Accepted", "True", "Accepted")],
        },
      ],
    },
  });
  store.upsert("TCPRoute", { metadata: { name: "db", namespace: "apps", creationTimestamp: CREATED }, spec: {} });
  store.upsert("ReferenceGrant", {
    metadata: { name: "allow-default", namespace: "apps", creationTimestamp: CREATED },
    spec: {
      from: [{ group: "gateway.networking.k8s.io", kind: "HTTPRoute", namespace: "default" }],
      to: [{ group: "", kind: "Service" }],
    },
  });
}

const GATEWAY: GatewaySnapshot = {
  http: [
    {
      id: "127.0.0.1:8081",
      address: "127.0.0.1",
      port: 8081,
      protocol: "HTTP",
      listeners: [{ namespace: "default", gateway: "lab", listener: "http" }],
      hosts: [
        {
          host: "foo.bar.com",
          rules: [
            {
              route: { kind: "HTTPRoute", namespace: "default", name: "test" },
              created: CREATED,
              rule: 0,
              match: 0,
              path: { type: "PathPrefix", value: "/foo" },
              headers: [],
              queryParams: [],
              filters: [],
              backends: [
                {
                  weight: 1,
                  appProtocol: "http",
                  filters: [],
                  target: {
                    id: "default/s1:80",
                    namespace: "default",
                    service: "s1",
                    port: 80,
                    endpoints: [{ ip: "127.244.1.1", port: 8080 }],
                  },
                },
              ],
            },
          ],
        },
      ],
      certificates: [],
    },
  ],
  l4: [],
  status: {
    gatewayClasses: [
      {
        name: "nodeplane",
        conditions: [cond("Accepted", "True", "Accepted")],
        supportedFeatures: ["Gateway", "HTTPRoute"],
      },
    ],
    gateways: [
      {
        namespace: "default",
        name: "lab",
        addresses: [{ type: "IPAddress", value: "127.0.0.1" }],
        conditions: [cond("Accepted", "True", "Accepted"), cond("Programmed", "True", "Programmed")],
        listeners: [
          {
            name: "http",
            supportedKinds: [{ group: "gateway.networking.k8s.io", kind: "HTTPRoute" }],
            attachedRoutes: 1,
            conditions: [cond("Accepted", "True", "Accepted"), cond("Programmed", "True", "Programmed")],
          },
          {
            name: "busy",
            supportedKinds: [{ group: "gateway.networking.k8s.io", kind: "HTTPRoute" }],
            attachedRoutes: 0,
            conditions: [cond("Programmed", "False", "Invalid", "listen EACCES 127.0.0.1:22")],
          },
        ],
      },
    ],
    routes: [
      {
        kind: "HTTPRoute",
        namespace: "default",
        name: "test",
        parents: [
          {
            parentRef: { name: "lab", sectionName: "http" },
            conditions: [cond("Accepted", "True", "Accepted"), cond("ResolvedRefs", "True", "ResolvedRefs")],
          },
        ],
      },
    ],
  },
};

/** A status writer that keeps Gateway API status in memory, as manifests mode's does (only what the admin API reads). */
function gatewayStatusMemory(written: Map<string, GatewayApiStatus>): StatusWriter {
  const base = new MemoryStatusWriter();
  return {
    setIngressStatus: (ns, name, lb) => base.setIngressStatus(ns, name, lb),
    setServiceStatus: (ns, name, lb) => base.setServiceStatus(ns, name, lb),
    ingressStatus: (ns, name) => base.ingressStatus(ns, name),
    serviceStatus: (ns, name) => base.serviceStatus(ns, name),
    gatewayApiStatus: (kind, ns, name) => written.get(`${kind}/${ns}/${name}`),
  };
}

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ["bin/nodeplane.js", ...args], { cwd: ROOT, timeout: 20_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

describe("nodeplane get|describe for the Gateway API kinds", () => {
  let admin: AdminServer;
  const written = new Map<string, GatewayApiStatus>();
  const status = gatewayStatusMemory(written);
  let at: string;
  beforeAll(async () => {
    const store = new Store();
    seed(store);
    const base = new Translator(translateOptions()).build(store);
    const snapshot: Snapshot = { ...base, gateway: GATEWAY };
    const pipeline = { snapshot } as unknown as SnapshotPipeline;
    // the writer's status (what S1 keeps after adding bind failures) wins over the translator's
    written.set("Gateway/default/lab", {
      kind: "Gateway",
      status: {
        addresses: [{ type: "IPAddress", value: "127.0.0.1" }],
        conditions: [
          { ...cond("Accepted", "True", "Accepted"), lastTransitionTime: CREATED },
          { ...cond("Programmed", "True", "Programmed"), lastTransitionTime: CREATED },
        ],
        listeners: GATEWAY.status.gateways[0]!.listeners.map((l) => ({ ...l, conditions: [...l.conditions] })),
      },
    });
    admin = await startAdminServer({
      address: { host: "127.0.0.1", port: 0 },
      pipeline,
      registry: new Registry(),
      source: new FakeSource([]),
      status,
      store,
      logger: silentLogger,
      ready: () => true,
    });
    at = `--admin-address=${formatHostPort(admin.address)}`;
  });
  afterAll(async () => {
    await admin.close();
  });

  it.each([
    {
      args: ["gatewayclasses"],
      out: [
        "NAME        CONTROLLER                         ACCEPTED   AGE",
        "nodeplane   nodeplane.dev/gateway-controller   True       <age>",
        "other       example.com/other                  Unknown    <age>",
      ],
    },
    {
      args: ["gc", "-o", "wide", "-A"],
      out: [
        "NAME        CONTROLLER                         ACCEPTED   AGE     DESCRIPTION",
        "nodeplane   nodeplane.dev/gateway-controller   True       <age>   the node's data plane",
        "other       example.com/other                  Unknown    <age>",
      ],
    },
    {
      args: ["gtw"],
      out: ["NAME   CLASS       ADDRESS     PROGRAMMED   AGE", "lab    nodeplane   127.0.0.1   True         <age>"],
    },
    { args: ["httproute", "test"], out: ["NAME   HOSTNAMES           AGE", 'test   ["foo.bar.com"]   <age>'] },
    {
      args: ["tcproutes,referencegrants", "-A"],
      out: [
        "NAMESPACE   NAME                AGE",
        "apps        tcproute.gateway.networking.k8s.io/db   <age>",
        "",
        "NAMESPACE   NAME                                                          AGE",
        "apps        referencegrant.gateway.networking.k8s.io/allow-default   <age>",
      ],
    },
  ])("get $args", async ({ args, out }) => {
    const r = await cli(["get", ...args, at]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split("\n");
    const normal = (l: string) =>
      l
        .replace(/\d+d(\d+h)?/g, "<age>")
        .replace(/\s+/g, " ")
        .trim();
    // columns compared with their spacing squeezed (AGE's width varies with the clock)
    expect(lines.map(normal)).toEqual(out.map(normal));
  });

  it("-o json carries the computed status: the writer's, else the translator's with other controllers' parents kept", async () => {
    const gw = JSON.parse((await cli(["get", "gateway", "lab", "-o", "json", at])).stdout);
    expect(gw.apiVersion).toBe("gateway.networking.k8s.io/v1");
    expect(gw.kind).toBe("Gateway");
    expect(gw.status.conditions[1]).toMatchObject({ type: "Programmed", status: "True", lastTransitionTime: CREATED });
    const route = JSON.parse((await cli(["get", "httproutes", "test", "-o", "json", at])).stdout);
    expect(route.status.parents).toEqual([
      {
        parentRef: { name: "lab", sectionName: "http" },
        controllerName: "nodeplane.dev/gateway-controller",
        conditions: [cond("Accepted", "True", "Accepted"), cond("ResolvedRefs", "True", "ResolvedRefs")],
      },
      {
        parentRef: { name: "elsewhere" },
        controllerName: "example.com/other",
        conditions: [cond("Accepted", "True", "Accepted")],
      },
    ]);
    const classes = JSON.parse((await cli(["get", "gatewayclasses", "-o", "json", at])).stdout);
    expect(classes.items.map((c: { metadata: { namespace?: string } }) => c.metadata.namespace)).toEqual([
      undefined,
      undefined,
    ]);
    expect(classes.items[0].status.supportedFeatures).toEqual([{ name: "Gateway" }, { name: "HTTPRoute" }]);
    // another controller's class keeps the status it has
    expect(classes.items[1].status.conditions[0].reason).toBe("Pending");
  });

  it("describe gateway: conditions per listener, the socket, and the routes it serves", async () => {
    const r = await cli(["describe", "gateway", "lab", at]);
    expect(r.code).toBe(0);
    const text = r.stdout;
    expect(text).toMatch(/^Name:\s+lab$/m);
    expect(text).toMatch(/^Addresses:\s+127\.0\.0\.1$/m);
    expect(text).toMatch(/^ {2}http:\n(?: {4}.*\n)*? {4}Socket:\s+127\.0\.0\.1:8081 \(HTTP\)$/m);
    expect(text).toMatch(/^ {2}busy:\n(?: {4}.*\n)*? {4}Socket:\s+<none> \(not served\)$/m);
    expect(text).toMatch(/Programmed\s+False\s+Invalid\s+listen EACCES 127\.0\.0\.1:22/);
    expect(text).toMatch(/127\.0\.0\.1:8081\s+foo\.bar\.com\s+httproute\/default\/test\s+1/);
  });

  it("describe httproute: per parent conditions and the resolved backends with their endpoints", async () => {
    const r = await cli(["describe", "httproute", "test", at]);
    expect(r.code).toBe(0);
    const text = r.stdout;
    expect(text).toMatch(/^Hostnames:\s+foo\.bar\.com$/m);
    expect(text).toMatch(
      /^ {2}gateway\/default\/lab section http:\n {4}Controller:\s+nodeplane\.dev\/gateway-controller$/m,
    );
    expect(text).toMatch(/ResolvedRefs\s+True\s+ResolvedRefs/);
    expect(text).toMatch(/^ {2}gateway\/default\/elsewhere:\n {4}Controller:\s+example\.com\/other$/m);
    expect(text).toMatch(
      /127\.0\.0\.1:8081\s+foo\.bar\.com\s+PathPrefix \/foo\s+default\/s1:80 \(127\.244\.1\.1:8080\) w=1/,
    );
  });

  it("describe referencegrant and gatewayclass print their specs; unknown names exit 1", async () => {
    const grant = await cli(["describe", "referencegrant", "allow-default", "-n", "apps", at]);
    expect(grant.stdout).toMatch(/^From:\s+HTTPRoute\.gateway\.networking\.k8s\.io in default$/m);
    expect(grant.stdout).toMatch(/^To:\s+Service\.core \(any name\)$/m);
    const gc = await cli(["describe", "gc", "nodeplane", at]);
    expect(gc.stdout).toMatch(/^Supported Features:\s+Gateway\n\s+HTTPRoute$/m);
    const missing = await cli(["get", "gateway", "nope", at]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('gateways "nope" not found');
  });
});
