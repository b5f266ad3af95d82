import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { alive, cleanups, freePort, httpBackend, runCleanups, start, until, workers } from "./harness.ts";

/**
 * SIGTERM always exits (case H of docs/reliability.md: "with 213 leaked half-open TLS connections, the process ignored
 * SIGTERM"): clients that connect and send nothing, or half a request, cannot hold the stop past its
 * deadline. Exit 0 after a clean stop, 1 when the deadline cut it, and the log says which.
 */

afterEach(runCleanups);

const HALF_OPEN = 50;

function manifests(webPort: number): string {
  return `apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: { name: nodeplane }
spec: { controller: nodeplane.dev/ingress }
---
apiVersion: v1
kind: Service
metadata: { name: web, namespace: default }
spec:
  ports: [{ name: http, port: 8080, targetPort: ${webPort} }]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: web-1, namespace: default, labels: { kubernetes.io/service-name: web } }
addressType: IPv4
ports: [{ name: http, port: ${webPort}, protocol: TCP }]
endpoints: [{ addresses: ["127.0.0.1"], conditions: { ready: true } }]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: web, namespace: default }
spec:
  ingressClassName: nodeplane
  rules:
    - host: web.example
      http:
        paths: [{ path: /, pathType: Prefix, backend: { service: { name: web, port: { name: http } } } }]
`;
}

/** `count` connections that are accepted and then say nothing more than `payload` (maybe nothing). */
async function holdOpen(port: number, count: number, payload: string): Promise<Socket[]> {
  const sockets = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<Socket>((resolve, reject) => {
          const s = connect({ host: "127.0.0.1", port }, () => {
            if (payload) s.write(payload);
            resolve(s);
          });
          s.once("error", reject);
        }),
    ),
  );
  for (const s of sockets) s.on("error", () => {});
  cleanups.push(() => {
    for (const s of sockets) s.destroy();
  });
  return sockets;
}

describe("SIGTERM always exits", () => {
  it.each([
    ["one process (--ingress-isolation none)", ["--ingress-isolation=none"]],
    ["the ingress in a worker (--ingress-isolation process)", []],
  ])(
    "%s: with half-open TLS and HTTP clients it exits by its deadline, and says whether it was clean",
    async (_name, extra) => {
      const dir = mkdtempSync(join(tmpdir(), "nodeplane-stop-"));
      cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
      writeFileSync(join(dir, "all.yaml"), manifests(await httpBackend("web")));
      const https = await freePort();
      const np = await start(dir, 1, [`--https-address=127.0.0.1:${https}`, "--stop-timeout=2s", ...extra]);
      const pids = [np.child.pid!, ...(await workers(np.admin)).map((w) => w.pid!)];
      const [, httpPort] = np.http.split(":");
      // TLS clients that never send a ClientHello, plain clients that send nothing or half a head
      const held = [
        ...(await holdOpen(https, HALF_OPEN, "")),
        ...(await holdOpen(Number(httpPort), HALF_OPEN / 2, "")),
        ...(await holdOpen(Number(httpPort), HALF_OPEN / 2, "GET / HTTP/1.1\r\nHost: web.example\r\n")),
      ];
      // each was accepted: nothing answered or closed them yet
      await new Promise((r) => setTimeout(r, 200));
      expect(held.filter((s) => !s.destroyed)).toHaveLength(2 * HALF_OPEN);

      np.child.kill("SIGTERM");
      const code = await np.exited;
      expect([0, 1]).toContain(code);
      if (code === 1) expect(np.out()).toMatch(/stop forced/);
      else expect(np.out()).toMatch(/"msg":"stopped"/);
      expect(await until(() => pids.every((pid) => !alive(pid)), 5_000)).toBe(true);
    },
    30_000,
  );
});
