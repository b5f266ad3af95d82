import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect, createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { afterEach, describe, expect, it } from "vitest";
import {
  alive,
  cleanups,
  freePort,
  httpBackend,
  INGRESS_CLASS,
  ingressYaml,
  listen,
  runCleanups,
  serviceYaml,
  sliceYaml,
  start,
  until,
  workers,
  yamlDocuments,
} from "./harness.ts";

/**
 * SIGTERM always exits (case H, docs/reliability.md: "with 213 leaked half-open TLS connections, the process ignored
 * SIGTERM"): clients that connect and send nothing, or half a request, or hold a WebSocket tunnel, cannot
 * hold the stop past its deadline, nor even make it unclean: the ingress closes them itself (exit 0 and
 * `stopped`; 1 and `stop forced` is for a deadline that cut the stop).
 */

afterEach(runCleanups);

const HALF_OPEN = 50;

function manifests(webPort: number, wsPort = webPort): string {
  return yamlDocuments(
    INGRESS_CLASS,
    serviceYaml("web", { name: "http", port: 8080, targetPort: webPort }),
    sliceYaml("web-1", "web", "http", webPort),
    ingressYaml("web", "web.example", "web"),
    serviceYaml("ws", { name: "http", port: 8080, targetPort: wsPort }),
    sliceYaml("ws-1", "ws", "http", wsPort),
    ingressYaml("ws", "ws.example", "ws"),
  );
}

/** A backend that answers any request head with 101 and then echoes every byte: a WebSocket as far as a proxy sees. */
async function upgradeBackend(): Promise<number> {
  const server = createServer((s) => {
    s.on("error", () => s.destroy());
    let head = "";
    const onHead = (chunk: Buffer) => {
      head += chunk.toString("latin1");
      const end = head.indexOf("\r\n\r\n");
      if (end < 0) return;
      s.off("data", onHead);
      s.write("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
      if (head.length > end + 4) s.write(head.slice(end + 4), "latin1");
      s.pipe(s);
    };
    s.on("data", onHead);
  });
  const port = await listen(server);
  cleanups.push(() => {
    server.close();
    // the tunnels' far ends: the proxy should have closed them, this is for a failed row
    for (const c of tunnelEnds) c.destroy();
  });
  server.on("connection", (c: Socket) => tunnelEnds.push(c));
  return port;
}
const tunnelEnds: Socket[] = [];

/** A tunnel through the ingress (over TLS when `tls`), open once a byte sent has come back. */
function tunnel(port: number, tls: boolean): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = tls
      ? tlsConnect({ host: "127.0.0.1", port, rejectUnauthorized: false, ALPNProtocols: ["http/1.1"] })
      : connect({ host: "127.0.0.1", port });
    cleanups.push(() => s.destroy());
    s.on("error", reject);
    let data = "";
    s.on("data", (c: Buffer) => {
      data += c.toString("latin1");
      if (/^HTTP\/1\.1 101[\s\S]*\r\n\r\nping$/.test(data)) resolve(s);
    });
    s.once("close", () => reject(new Error(`tunnel closed: ${data}`)));
    s.once(tls ? "secureConnect" : "connect", () =>
      s.write("GET /ws HTTP/1.1\r\nHost: ws.example\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nping"),
    );
  });
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
    "%s: with half-open TLS and HTTP clients the stop is clean: exit 0, `stopped`",
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
      // clean: the ingress closes half-open connections at once (it used to hold them 2 s, past a worker's
      // 1 s share of --stop-timeout 2s, and the stop was forced: exit 1)
      expect(await np.exited).toBe(0);
      expect(np.out()).toMatch(/"msg":"stopped"/);
      expect(np.out()).not.toMatch(/stop forced|did not (stop|finish)/);
      expect(await until(() => pids.every((pid) => !alive(pid)), 5_000)).toBe(true);
    },
    30_000,
  );

  it.each([
    ["one process (--ingress-isolation none)", ["--ingress-isolation=none"]],
    ["the ingress in a worker (--ingress-isolation process)", []],
  ])(
    "%s: with WebSocket tunnels on both listeners and half-open clients, the stop is clean: exit 0, `stopped`",
    async (_name, extra) => {
      const dir = mkdtempSync(join(tmpdir(), "nodeplane-stop-"));
      cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
      writeFileSync(join(dir, "all.yaml"), manifests(await httpBackend("web"), await upgradeBackend()));
      const https = await freePort();
      const np = await start(dir, 1, [`--https-address=127.0.0.1:${https}`, "--stop-timeout=2s", ...extra]);
      const httpPort = Number(np.http.split(":")[1]);
      const tunnels = [await tunnel(httpPort, false), await tunnel(https, true)];
      const held = [
        ...tunnels,
        ...(await holdOpen(https, 10, "")),
        ...(await holdOpen(httpPort, 10, "")),
        ...(await holdOpen(httpPort, 10, "GET / HTTP/1.1\r\nHost: web.example\r\n")),
      ];
      await new Promise((r) => setTimeout(r, 200));
      expect(held.filter((s) => !s.destroyed)).toHaveLength(held.length);
      const closed = held.map((s) => new Promise((resolve) => s.once("close", resolve)));

      np.child.kill("SIGTERM");
      expect(await np.exited).toBe(0);
      expect(np.out()).toMatch(/"msg":"stopped"/);
      expect(np.out()).not.toMatch(/stop forced|did not (stop|finish)/);
      await Promise.all(closed);
    },
    30_000,
  );
});
