import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadKubeConfig } from "../../src/kube/client.ts";

const home = mkdtempSync(join(tmpdir(), "nodeplane-kubeconfig-"));
afterAll(() => rmSync(home, { recursive: true, force: true }));

const KUBECONFIG = `apiVersion: v1
kind: Config
clusters: [{ name: c, cluster: { server: "https://127.0.0.1:6443" } }]
users: [{ name: u, user: { token: t } }]
contexts: [{ name: x, context: { cluster: c, user: u } }]
current-context: x
`;

describe("loadKubeConfig without any configuration", () => {
  // `npx nodeplane` on a laptop used to retry forever against client-node's http://localhost:8080 fallback
  it("fails at once, naming what to pass instead", () => {
    expect(() => loadKubeConfig({ env: { HOME: home }, serviceAccountDir: join(home, "none") })).toThrow(
      /no Kubernetes API configured.*--kubeconfig PATH.*--manifests DIR/,
    );
  });

  it("uses ~/.kube/config when it exists", () => {
    const dir = mkdtempSync(join(home, "h-"));
    const config = join(dir, ".kube");
    rmSync(config, { recursive: true, force: true });
    mkdirSync(config);
    writeFileSync(join(config, "config"), KUBECONFIG);
    const kc = loadKubeConfig({ env: { HOME: dir }, serviceAccountDir: join(home, "none") });
    expect(kc.getCurrentCluster()?.server).toBe("https://127.0.0.1:6443");
  });
});
