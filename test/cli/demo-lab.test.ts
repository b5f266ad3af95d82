import { afterEach, describe, expect, it } from "vitest";
import { type RunningApp, startApp } from "../../src/app.ts";
import { demoView, LAB_DIR } from "../../src/cli/demo.ts";
import { parseFlags } from "../../src/cli/flags.ts";
import { demoCommands } from "../../src/demo/commands.ts";
import { echoTargets } from "../../src/demo/echo.ts";
import { silentLogger } from "../../src/log.ts";
import { controlPathFlags } from "../support/flags.ts";

describe("the demo on the package's examples/lab", () => {
  let app: RunningApp | undefined;
  afterEach(async () => {
    await app?.stop();
    app = undefined;
  });

  it("prints the lab's walk with the addresses nodeplane allocated, and finds its pods", async () => {
    // listeners off and a service range of our own: this checks the commands, not the planes
    const config = parseFlags(["--manifests", LAB_DIR, ...controlPathFlags("127.95.0.0/16"), "--workers=1"]);
    app = await startApp(config, silentLogger, { withProcessMetrics: false });
    const view = demoView(app, config);
    const text = demoCommands({
      ...view,
      // the demo's own listener addresses, as `npm start` has them
      httpAddress: { host: "127.0.0.1", port: 8080 },
      httpsAddress: { host: "127.0.0.1", port: 8443 },
      dnsAddress: { host: "127.0.0.1", port: 5353 },
      adminAddress: { host: "127.0.0.1", port: 10249 },
      adminIsDefault: true,
    });
    const ip = (name: string) => view.services.find((s) => s.metadata?.name === name)?.spec?.clusterIP ?? "?";
    const nodePort = view.services.find((s) => s.metadata?.name === "my-svc-np")?.spec?.ports?.[0]?.nodePort;
    expect(ip("my-nginx")).toMatch(/^127\.95\./);
    expect(nodePort).toBeGreaterThanOrEqual(30000);

    const expected = [
      "# my-svc-cp: ClusterIP, no endpoints: connection refused",
      `curl ${ip("my-svc-cp")}:80`,
      "# my-svc-np: NodePort",
      `curl ${ip("my-svc-np")}:1234`,
      `curl 127.0.0.1:${nodePort}`,
      "# my-nginx: ClusterIP, 2 pods",
      `curl ${ip("my-nginx")}:8090`,
      "curl -H 'Host: foo.bar.com' 127.0.0.1:8080/foo",
      "curl -k --resolve foo.bar.com:8443:127.0.0.1 https://foo.bar.com:8443/bar",
      "dig @127.0.0.1 -p 5353 my-nginx.default.svc.cluster.local",
      "npx nodeplane get svc",
      "# dashboard: http://127.0.0.1:10249/",
    ];
    // each appears, in the lab's order
    let at = 0;
    for (const piece of expected) {
      const found = text.indexOf(piece, at);
      expect(found, `${piece}\n---\n${text}`).toBeGreaterThanOrEqual(0);
      at = found + piece.length;
    }

    const pods = echoTargets(view.slices).map((t) => `${t.ip}:${t.port}`);
    expect(pods).toEqual(expect.arrayContaining(["127.244.0.1:8080", "127.244.0.2:8080"]));
    expect(pods.every((p) => p.startsWith("127.244.") && Number(p.split(":")[1]) >= 1024)).toBe(true);
  });
});
