import { request } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningApp, startApp } from "../../../src/app.ts";
import { parseFlags } from "../../../src/cli/flags.ts";
import { silentLogger } from "../../../src/log.ts";
import { generateDefaultCertificate } from "../../../src/planes/ingress/certificates.ts";
import type { Source } from "../../../src/source/source.ts";
import type { Store } from "../../../src/store/store.ts";
import { type Backend, curl, ingress, rule, service, slicesFor, startBackend } from "./harness.ts";

/** A source that loads fixed objects, as the manifests source would. */
function fixedSource(objects: readonly object[]): Source {
  return {
    name: "fixed",
    async start(store: Store) {
      store.batch(() => {
        for (const obj of objects as { kind: "Service" }[]) store.upsert(obj.kind, obj as never);
      });
    },
    async stop() {},
    healthy: () => true,
  };
}

function get(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    request({ host: "127.245.5.1", port, path }, (res) => {
      let body = "";
      res.on("data", (c) => {
        body += c;
      });
      res.on("end", () => resolve(body));
    })
      .on("error", reject)
      .end();
  });
}

// The plane wired into the whole app (source → store → translate → planes, admin server). Addresses 127.245.5.x.
describe("ingress plane inside the app", () => {
  let web: Backend;
  let app: RunningApp;
  const HTTP = "127.245.5.1:18080";

  beforeAll(async () => {
    web = await startBackend("web", "127.245.5.2");
    const pem = generateDefaultCertificate("lab.example");
    const config = parseFlags(
      [
        "--manifests",
        "-",
        "--admin-address",
        "127.245.5.1:0",
        "--http-address",
        HTTP,
        "--https-address",
        "",
        "--dns-address",
        "",
        "--workers",
        "1",
      ],
      {},
    );
    app = await startApp(config, silentLogger, {
      withProcessMetrics: false,
      source: fixedSource([
        service("default", "web", [{ name: "http", port: 80 }]),
        ...slicesFor("default", "web", "http", [web]),
        {
          kind: "Secret",
          metadata: { namespace: "default", name: "testsecret" },
          type: "kubernetes.io/tls",
          data: {
            "tls.crt": Buffer.from(pem.cert).toString("base64"),
            "tls.key": Buffer.from(pem.key).toString("base64"),
          },
        },
        ingress("default", "test", {
          tls: [{ secretName: "testsecret" }],
          rules: [rule("foo.bar.com", [{ path: "/foo", service: "web", port: 80 }])],
        }),
      ]),
    });
  });

  afterAll(async () => {
    await app?.stop();
    await web?.close();
  });

  it("serves routes and writes the Ingress status", async () => {
    const r = await curl(["-s", "-H", "Host: foo.bar.com", `http://${HTTP}/foo`]);
    expect(r.stdout).toContain('"backend":"web"');
    expect(app.status.ingressStatus("default", "test")?.length).toBeGreaterThan(0);
  });

  it("exposes the routes in the admin API without private keys, and the metrics", async () => {
    const port = (app.admin.server.address() as AddressInfo).port;
    const snapshot = await get(port, "/api/snapshot");
    expect(snapshot).toContain('"host":"foo.bar.com"');
    expect(snapshot).toContain("BEGIN CERTIFICATE");
    expect(snapshot).not.toContain("PRIVATE KEY");
    expect(await get(port, "/metrics")).toContain("nginx_ingress_controller_requests");
  });
});
