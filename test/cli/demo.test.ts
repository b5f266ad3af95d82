import { execFile } from "node:child_process";
import { createSocket } from "node:dgram";
import { connect } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { type RunningApp, startApp } from "../../src/app.ts";
import { demoArgs, LAB_DIR, startDemo } from "../../src/cli/demo.ts";
import { parseFlags } from "../../src/cli/flags.ts";
import { demoCommands, shellQuote } from "../../src/demo/commands.ts";
import { EchoBackends, type EchoTarget, echoTargets } from "../../src/demo/echo.ts";
import { silentLogger } from "../../src/log.ts";
import type { EndpointSlice } from "../../src/model/k8s.ts";
import { FakeSource } from "../admin/fake-source.ts";
import { LAB_OBJECTS, labObjectsOn } from "../admin/fixtures.ts";
import { controlPathFlags } from "../support/flags.ts";

/** A /24 of 127.244.0.0/16 of our own per run, so parallel runs do not collide. */
const NET = `127.244.${100 + Math.floor(Math.random() * 150)}`;
const PORT = 20000 + Math.floor(Math.random() * 20000);

function curl(args: string[]): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) => {
    execFile("curl", ["-sS", "--max-time", "5", ...args], (err, stdout) => {
      resolve({ code: err ? (typeof err.code === "number" ? err.code : -1) : 0, stdout });
    });
  });
}

function udpEcho(host: string, port: number, message: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createSocket("udp4");
    const timer = setTimeout(() => {
      socket.close();
      reject(new Error("no UDP answer"));
    }, 3000);
    socket.on("message", (msg) => {
      clearTimeout(timer);
      socket.close();
      resolve(msg.toString());
    });
    socket.send(message, port, host);
  });
}

/** true when a TCP connect is refused (nothing listening). */
function refused(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(false);
    });
    socket.once("error", (err: NodeJS.ErrnoException) => resolve(err.code === "ECONNREFUSED"));
  });
}

async function eventually(check: () => Promise<boolean>): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}

const slice = (
  name: string,
  service: string,
  ports: EndpointSlice["ports"],
  endpoints: EndpointSlice["endpoints"],
): EndpointSlice => ({
  metadata: { name, namespace: "default", labels: { "kubernetes.io/service-name": service } },
  addressType: "IPv4",
  ports,
  endpoints,
});

describe("echoTargets", () => {
  it("takes every 127.244.0.0/16 endpoint once per port and protocol, named by its pod", () => {
    const slices = [
      slice(
        "a",
        "web",
        [
          { port: 8080, protocol: "TCP" },
          { port: 5353, protocol: "UDP" },
          { port: 9, protocol: "SCTP" },
        ],
        [
          { addresses: ["127.244.0.11"], targetRef: { kind: "Pod", name: "web-1" }, conditions: { ready: true } },
          { addresses: ["127.244.0.12"], conditions: { ready: false } },
          { addresses: ["10.1.2.3"], targetRef: { name: "elsewhere" } },
        ],
      ),
      slice("b", "web-again", [{ port: 8080 }], [{ addresses: ["127.244.0.11"], targetRef: { name: "other-name" } }]),
      slice("c", "no-port", [{ name: "http" }], [{ addresses: ["127.244.0.13"] }]),
    ];
    expect(echoTargets(slices)).toEqual<EchoTarget[]>([
      { ip: "127.244.0.11", port: 8080, protocol: "TCP", pod: "web-1" },
      { ip: "127.244.0.12", port: 8080, protocol: "TCP", pod: "127.244.0.12" },
      { ip: "127.244.0.11", port: 5353, protocol: "UDP", pod: "web-1" },
      { ip: "127.244.0.12", port: 5353, protocol: "UDP", pod: "127.244.0.12" },
    ]);
  });
});

describe("echo backends", () => {
  let backends: EchoBackends | undefined;
  afterEach(async () => {
    await backends?.close();
    backends = undefined;
  });

  it("answer HTTP like a tiny echo server, echo UDP, and stop when their endpoint goes", async () => {
    backends = new EchoBackends(silentLogger);
    const pod1 = { ip: `${NET}.1`, port: PORT, protocol: "TCP" as const, pod: "hello-nginx-1" };
    const pod2 = { ip: `${NET}.2`, port: PORT, protocol: "TCP" as const, pod: `${NET}.2` };
    const udp = { ip: `${NET}.1`, port: PORT, protocol: "UDP" as const, pod: "hello-nginx-1" };
    await backends.sync([pod1, pod2, udp]);
    expect(backends.targets()).toHaveLength(3);

    const one = await curl([
      "-i",
      "-H",
      "Host: foo.bar.com",
      "-H",
      "X-Forwarded-For: 127.0.0.9",
      `http://${NET}.1:${PORT}/foo?x=1`,
    ]);
    expect(one.code).toBe(0);
    expect(one.stdout).toMatch(/^HTTP\/1\.1 200 OK\r$/m);
    expect(one.stdout).toMatch(/^server: nodeplane-echo\r$/im);
    expect(one.stdout).toContain(`nodeplane-echo: pod hello-nginx-1 (${NET}.1:${PORT})`);
    expect(one.stdout).toContain("GET /foo?x=1 HTTP/1.1");
    expect(one.stdout).toContain("host: foo.bar.com");
    expect(one.stdout).toContain("x-forwarded-for: 127.0.0.9");
    const two = await curl(["-d", "hello", `http://${NET}.2:${PORT}/`]);
    expect(two.stdout).toContain(`pod ${NET}.2 (${NET}.2:${PORT})`);
    expect(two.stdout).toContain("POST / HTTP/1.1");
    expect(two.stdout).toContain("body: 5 bytes");
    expect(await udpEcho(`${NET}.1`, PORT, "ping")).toBe("ping");

    // the second pod's endpoint is gone: its backend stops, the first keeps serving
    await backends.sync([pod1, udp]);
    expect((await curl([`http://${NET}.2:${PORT}/`])).code).toBe(7);
    expect((await curl([`http://${NET}.1:${PORT}/`])).code).toBe(0);

    await backends.close();
    expect((await curl([`http://${NET}.1:${PORT}/`])).code).toBe(7);
  });

  it("logs a port it cannot bind and keeps the others", async () => {
    backends = new EchoBackends(silentLogger);
    const target = { ip: `${NET}.3`, port: PORT + 1, protocol: "TCP" as const, pod: "p" };
    const squatter = new EchoBackends(silentLogger);
    await squatter.sync([target]);
    try {
      await backends.sync([target, { ...target, ip: `${NET}.4` }]);
      expect(backends.targets().map((t) => t.ip)).toEqual([`${NET}.4`]);
    } finally {
      await squatter.close();
    }
    // retried on the next sync once the port is free
    await backends.sync([target, { ...target, ip: `${NET}.4` }]);
    expect(backends.targets()).toHaveLength(2);
  });
});

describe("nodeplane demo", () => {
  let app: RunningApp | undefined;
  let stopDemo: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await stopDemo?.();
    await app?.stop();
    app = stopDemo = undefined;
  });

  it("starts the flags from the lab defaults and lets the user's flags win", () => {
    const config = parseFlags(demoArgs(["--log-format", "json", "--admin-address", "127.0.0.1:9999"]));
    expect(config).toMatchObject({
      manifests: LAB_DIR,
      logFormat: "json",
      vipInterface: "none",
      serviceCIDRs: ["127.96.0.0/16"],
      httpAddress: { host: "127.0.0.1", port: 8080 },
      httpsAddress: { host: "127.0.0.1", port: 8443 },
      dnsAddress: { host: "127.0.0.1", port: 5353 },
      adminAddress: { host: "127.0.0.1", port: 9999 },
    });
    expect(parseFlags(demoArgs([])).logFormat).toBe("pretty");
    expect(LAB_DIR).toMatch(/\/examples\/lab\/$/);
  });

  it("plays the pods of the snapshot's EndpointSlices, follows changes and prints the lab's commands", async () => {
    const pods = slice(
      "my-nginx-demo",
      "my-nginx",
      [{ port: PORT + 2, protocol: "TCP" }],
      [
        { addresses: [`${NET}.21`], targetRef: { kind: "Pod", name: "hello-nginx-a" } },
        { addresses: [`${NET}.22`], targetRef: { kind: "Pod", name: "hello-nginx-b" } },
      ],
    );
    const source = new FakeSource([
      ...labObjectsOn("127.97.34").filter((o) => o.kind !== "EndpointSlice"),
      { kind: "EndpointSlice", object: pods },
    ]);
    const config = parseFlags([
      "--manifests=unused",
      ...controlPathFlags("127.97.0.0/16"),
      "--sync-delay=10ms",
      "--workers=1",
    ]);
    app = await startApp(config, silentLogger, { source, withProcessMetrics: false });
    let printed = "";
    stopDemo = await startDemo({ app, config, logger: silentLogger }, (t) => {
      printed += t;
    });

    expect((await curl([`http://${NET}.21:${PORT + 2}/`])).stdout).toContain("pod hello-nginx-a");
    expect((await curl([`http://${NET}.22:${PORT + 2}/`])).stdout).toContain("pod hello-nginx-b");
    expect(printed).toContain("2 echo backends play the pods");
    expect(printed).toContain("curl 127.97.34.10:80");
    expect(printed).toContain("curl 127.97.34.11:1234");
    expect(printed).toContain("curl 127.97.34.12:8090");
    expect(printed).toContain(`--admin-address ${app.admin.address.host}:${app.admin.address.port}`);

    // a third pod appears, the first goes
    source.store!.upsert("EndpointSlice", {
      ...pods,
      endpoints: [
        { addresses: [`${NET}.22`], targetRef: { kind: "Pod", name: "hello-nginx-b" } },
        { addresses: [`${NET}.23`], targetRef: { kind: "Pod", name: "hello-nginx-c" } },
      ],
    });
    expect(await eventually(async () => !(await refused(`${NET}.23`, PORT + 2)))).toBe(true);
    expect(await eventually(() => refused(`${NET}.21`, PORT + 2))).toBe(true);
    expect((await curl([`http://${NET}.23:${PORT + 2}/`])).stdout).toContain("pod hello-nginx-c");
  });
});

describe("demo commands", () => {
  it("follow the lab with the live addresses", () => {
    const services = LAB_OBJECTS.filter((o) => o.kind === "Service").map((o) => o.object);
    const slices = LAB_OBJECTS.filter((o) => o.kind === "EndpointSlice").map((o) => o.object as EndpointSlice);
    const ingresses = LAB_OBJECTS.filter((o) => o.kind === "Ingress").map((o) => o.object);
    const text = demoCommands({
      services: [
        ...services,
        { metadata: { name: "my-svc-headless", namespace: "default" }, spec: { clusterIP: "None" } },
      ],
      slices,
      ingresses,
      nodePortAddress: "127.0.0.1",
      httpAddress: { host: "127.0.0.1", port: 8080 },
      httpsAddress: { host: "0.0.0.0", port: 8443 },
      dnsAddress: { host: "127.0.0.1", port: 5353 },
      clusterDomain: "cluster.local",
      adminAddress: { host: "127.0.0.1", port: 10249 },
      adminIsDefault: true,
    });
    expect(text).toBe(
      [
        "Services (the service proxy):",
        "  # my-svc-cp: ClusterIP, no endpoints: connection refused, as kube-proxy rejects",
        "  curl 127.97.33.10:80",
        "  # my-svc-np: NodePort 1234:31234, no endpoints: connection refused, as kube-proxy rejects",
        "  curl 127.97.33.11:1234",
        "  curl 127.0.0.1:31234",
        "  # my-nginx: ClusterIP, one pod answers",
        "  curl 127.97.33.12:8090",
        "  # also: other/lb 127.97.33.13:443",
        "Ingress:",
        "  # foo: foo.bar.com /foo → my-nginx:8090",
        "  curl -H 'Host: foo.bar.com' 127.0.0.1:8080/foo",
        "  curl -k --resolve foo.bar.com:8443:127.0.0.1 https://foo.bar.com:8443/foo",
        "Cluster DNS:",
        "  # the cluster IP",
        "  dig @127.0.0.1 -p 5353 my-nginx.default.svc.cluster.local",
        "  # headless: the pod IPs",
        "  dig @127.0.0.1 -p 5353 my-svc-headless.default.svc.cluster.local",
        "What nodeplane sees:",
        "  # kubectl-style tables",
        "  npx nodeplane get svc",
        "  npx nodeplane get ingresses",
        "  npx nodeplane describe svc my-nginx",
        "  # dashboard: http://127.0.0.1:10249/",
        "",
      ].join("\n"),
    );
  });

  it("walk the lab's Ingresses: a host with two paths over HTTP and HTTPS, and the default backend", () => {
    const text = demoCommands({
      services: [],
      slices: [],
      ingresses: [
        {
          metadata: { name: "test-ingress", namespace: "default" },
          spec: {
            tls: [{ secretName: "testsecret" }],
            defaultBackend: { service: { name: "testsvc", port: { number: 80 } } },
          },
        },
        {
          metadata: { name: "test", namespace: "default" },
          spec: {
            rules: [
              {
                host: "foo.bar.com",
                http: {
                  paths: [
                    { path: "/foo", pathType: "Prefix", backend: { service: { name: "s1", port: { number: 80 } } } },
                    { path: "/bar", pathType: "Prefix", backend: { service: { name: "s2", port: { number: 80 } } } },
                  ],
                },
              },
              {
                host: "*.wild.com",
                http: { paths: [{ backend: { service: { name: "s3", port: { name: "web" } } } }] },
              },
            ],
          },
        },
      ],
      nodePortAddress: "127.0.0.1",
      httpAddress: { host: "127.0.0.1", port: 8080 },
      httpsAddress: { host: "127.0.0.1", port: 8443 },
      clusterDomain: "cluster.local",
      adminAddress: { host: "127.0.0.1", port: 10250 },
      adminIsDefault: false,
    });
    expect(text).toBe(
      [
        "Services (the service proxy):",
        "  (no Service with a cluster IP and a TCP port in the manifests)",
        "Ingress:",
        "  # test: foo.bar.com /foo → s1:80, /bar → s2:80",
        "  curl -H 'Host: foo.bar.com' 127.0.0.1:8080/foo",
        "  curl -k --resolve foo.bar.com:8443:127.0.0.1 https://foo.bar.com:8443/bar",
        "  # test: *.wild.com / → s3:web",
        "  curl -H 'Host: demo.wild.com' 127.0.0.1:8080/",
        "  curl -k --resolve demo.wild.com:8443:127.0.0.1 https://demo.wild.com:8443/",
        "  # test-ingress: anything no rule matches → default backend testsvc:80",
        "  curl 127.0.0.1:8080/",
        "What nodeplane sees:",
        "  # kubectl-style tables",
        "  npx nodeplane get svc --admin-address 127.0.0.1:10250",
        "  npx nodeplane get ingresses --admin-address 127.0.0.1:10250",
        "  # dashboard: http://127.0.0.1:10250/",
        "",
      ].join("\n"),
    );
  });

  it("walks the lab's Gateway API step: each HTTPRoute path on its Gateway's HTTP listener, other classes left out", () => {
    const text = demoCommands({
      services: [],
      slices: [],
      ingresses: [],
      gatewayClasses: [
        { metadata: { name: "nodeplane" }, spec: { controllerName: "nodeplane.dev/gateway-controller" } },
        { metadata: { name: "theirs" }, spec: { controllerName: "example.com/other" } },
      ],
      gateways: [
        {
          metadata: { name: "lab", namespace: "default" },
          spec: {
            gatewayClassName: "nodeplane",
            listeners: [
              { name: "http", protocol: "HTTP", port: 8081 },
              { name: "tls", protocol: "HTTPS", port: 8444 },
            ],
          },
        },
        {
          metadata: { name: "other", namespace: "default" },
          spec: { gatewayClassName: "theirs", listeners: [{ name: "http", protocol: "HTTP", port: 9999 }] },
        },
      ],
      httpRoutes: [
        {
          metadata: { name: "foo-bar", namespace: "default" },
          spec: {
            parentRefs: [{ name: "lab", sectionName: "http" }],
            hostnames: ["foo.bar.com"],
            rules: [
              { matches: [{ path: { type: "PathPrefix", value: "/foo" } }], backendRefs: [{ name: "s1", port: 80 }] },
              { matches: [{ path: { type: "PathPrefix", value: "/bar" } }], backendRefs: [{ name: "s2", port: 80 }] },
            ],
          },
        },
        {
          metadata: { name: "elsewhere", namespace: "default" },
          spec: { parentRefs: [{ name: "other" }], rules: [{}] },
        },
      ],
      gatewayController: "nodeplane.dev/gateway-controller",
      gatewayAddress: "127.0.0.1",
      nodePortAddress: "127.0.0.1",
      clusterDomain: "cluster.local",
      adminAddress: { host: "127.0.0.1", port: 10249 },
      adminIsDefault: true,
    });
    expect(text).toBe(
      [
        "Services (the service proxy):",
        "  (no Service with a cluster IP and a TCP port in the manifests)",
        "Gateway API (the same Services through a Gateway and HTTPRoutes):",
        "  # foo-bar: foo.bar.com /foo → s1:80, /bar → s2:80",
        "  curl -H 'Host: foo.bar.com' 127.0.0.1:8081/foo",
        "  curl -H 'Host: foo.bar.com' 127.0.0.1:8081/bar",
        "What nodeplane sees:",
        "  # kubectl-style tables",
        "  npx nodeplane get svc",
        "  npx nodeplane get ingresses",
        "  npx nodeplane get gateways",
        "  npx nodeplane get httproutes",
        "  # dashboard: http://127.0.0.1:10249/",
        "",
      ].join("\n"),
    );
  });

  it.each([
    ["plain-name.ns", "plain-name.ns"],
    ["Host: foo", "'Host: foo'"],
    ["it's", "'it'\\''s'"],
    ["$(rm -rf /)", "'$(rm -rf /)'"],
  ])("shellQuote(%s) = %s", (input, quoted) => {
    expect(shellQuote(input)).toBe(quoted);
  });
});
