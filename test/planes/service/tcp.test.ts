import { createHash, randomBytes } from "node:crypto";
import { connect, createServer, type Server, type Socket } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { forceTcpPath, probeTcpHandles } from "../../../src/planes/service/tcp-handles.ts";
import { handleSplices } from "../../../src/planes/service/tcp-splice-handles.ts";
import {
  Cleanup,
  captureLogger,
  countingBackend,
  echoBackend,
  endpoint,
  eventually,
  firstLine,
  frontend,
  httpBackend,
  nameEchoBackend,
  probe,
  run,
  servicePort,
  snapshot,
  startPlane,
  uniqueLoopback,
} from "./helpers.ts";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

async function plane(config: Parameters<typeof startPlane>[0] = {}, logger = captureLogger().logger) {
  const started = await startPlane(config, logger);
  cleanup.add(() => started.plane.close());
  return started;
}

async function backends(n: number) {
  const list = [];
  for (let i = 0; i < n; i++) {
    const b = await nameEchoBackend("127.0.0.1", `pod-${i}`);
    cleanup.add(() => b.close());
    list.push(b);
  }
  return list;
}

function curl(url: string, ...extra: string[]) {
  return run("curl", ["-sS", "--max-time", "5", ...extra, url]);
}

// Both forwarding paths run the whole suite: the libuv handle splice (used when Node's bindings pass
// the start-up probe) and the net.Socket splice (the fallback).
for (const path of ["handles", "sockets"] as const) suite(path);

function suite(path: "handles" | "sockets"): void {
  it(`serves connections on the ${path} path`, async () => {
    forceTcpPath(path);
    if (path === "handles") expect(probeTcpHandles()).not.toBeTypeOf("string");
    const { plane: p } = await plane();
    const pods = await backends(1);
    const vip = uniqueLoopback();
    await p.apply(
      undefined,
      snapshot([servicePort("web", [frontend(vip, 8080)], [endpoint(pods[0]!.host, pods[0]!.port)])]),
    );
    const before = handleSplices.count;
    expect(await firstLine(vip, 8080)).toBe("pod-0");
    expect(handleSplices.count - before).toBe(path === "handles" ? 1 : 0);
    forceTcpPath(undefined);
  });

  describe(`service plane over TCP on loopback (${path} path)`, () => {
    beforeAll(() => forceTcpPath(path));
    afterAll(() => forceTcpPath(undefined));

    it("round-robins connections across the endpoints, in order", async () => {
      const { plane: p } = await plane();
      const pods = await backends(3);
      const vip = uniqueLoopback();
      await p.apply(
        undefined,
        snapshot([
          servicePort(
            "web",
            [frontend(vip, 8080)],
            pods.map((b) => endpoint(b.host, b.port)),
          ),
        ]),
      );
      const seen: string[] = [];
      for (let i = 0; i < 6; i++) seen.push(await firstLine(vip, 8080));
      expect(seen).toEqual(["pod-0", "pod-1", "pod-2", "pod-0", "pod-1", "pod-2"]);
    });

    it("answers curl through a ClusterIP and a NodePort from HTTP backends", async () => {
      const { plane: p } = await plane();
      const a = await httpBackend("127.0.0.1", "nginx-a");
      const b = await httpBackend("127.0.0.1", "nginx-b");
      cleanup.add(() => a.close());
      cleanup.add(() => b.close());
      const vip = uniqueLoopback();
      const node = uniqueLoopback();
      await p.apply(
        undefined,
        snapshot([
          servicePort(
            "my-nginx",
            [frontend(vip, 8090), frontend(node, 30090, { kind: "nodePort", endpoints: "external" })],
            [endpoint(a.host, a.port), endpoint(b.host, b.port)],
          ),
        ]),
      );
      const answers = new Set<string>();
      for (let i = 0; i < 4; i++) {
        const r = await curl(`http://${vip}:8090/`);
        expect(r.code).toBe(0);
        answers.add(r.stdout.trim());
      }
      expect([...answers].sort()).toEqual(["nginx-a", "nginx-b"]);
      const viaNodePort = await curl(`http://${node}:30090/`);
      expect(viaNodePort.code).toBe(0);
      expect(["nginx-a", "nginx-b"]).toContain(viaNodePort.stdout.trim());
    });

    it("serves an IPv6 frontend over IPv6 endpoints", async () => {
      const { plane: p } = await plane();
      const b = await nameEchoBackend("::1", "pod-v6");
      cleanup.add(() => b.close());
      const port = 20_000 + (process.pid % 20_000);
      await p.apply(undefined, snapshot([servicePort("v6", [frontend("::1", port)], [endpoint("::1", b.port)])]));
      expect(p.status().listening).toEqual([`TCP [::1]:${port}`]);
      expect(await firstLine("::1", port)).toBe("pod-v6");
    });

    it("refuses at once when a port has no endpoint (reject, or forward left empty)", async () => {
      const { plane: p } = await plane();
      const vip = uniqueLoopback();
      await p.apply(
        undefined,
        snapshot([
          servicePort("my-svc-cp", [frontend(vip, 80, { action: "reject" })], []),
          servicePort("empty", [frontend(vip, 81)], []),
        ]),
      );
      expect(p.status().listening).toEqual([]);
      expect(await probe(vip, 80)).toBe("refused");
      const r = await curl(`http://${vip}:80/`);
      expect(r.code).toBe(7); // the lab's "curl: (7) Failed to connect … Connection refused"
      expect(await probe(vip, 81)).toBe("refused");
    });

    it("resets connections on a drop frontend (Local policy without local endpoints)", async () => {
      const { plane: p, registry } = await plane();
      const vip = uniqueLoopback();
      await p.apply(
        undefined,
        snapshot([servicePort("local-only", [frontend(vip, 30080, { kind: "nodePort", action: "drop" })], [])]),
      );
      expect(p.status().listening).toEqual([`TCP ${vip}:30080`]);
      expect(await probe(vip, 30080)).toBe("reset");
      const r = await curl(`http://${vip}:30080/`);
      // Reset after the handshake, not refused. curl reports it as (56) Recv failure, or as (7) "Couldn't
      // connect" when the reset lands while it still checks the connect; never as "Connection refused".
      expect([7, 56]).toContain(r.code);
      expect(r.stderr).not.toMatch(/refused/i);
      const metrics = await registry.getSingleMetricAsString("nodeplane_service_connections_reset_total");
      expect(metrics).toMatch(/service="local-only".* 2$/m);
    });

    it("keeps a client on one endpoint with ClientIP affinity, and rotates without it", async () => {
      const { plane: p } = await plane();
      const pods = await backends(3);
      const sticky = uniqueLoopback();
      const plain = uniqueLoopback();
      const eps = pods.map((b) => endpoint(b.host, b.port));
      await p.apply(
        undefined,
        snapshot([
          servicePort("sticky", [frontend(sticky, 8080)], eps, {
            sessionAffinity: { type: "ClientIP", timeoutSeconds: 10800 },
          }),
          servicePort("plain", [frontend(plain, 8080)], eps),
        ]),
      );
      const stickySeen = new Set<string>();
      for (let i = 0; i < 5; i++) stickySeen.add(await firstLine(sticky, 8080));
      expect(stickySeen.size).toBe(1);
      const plainSeen = new Set<string>();
      for (let i = 0; i < 3; i++) plainSeen.add(await firstLine(plain, 8080));
      expect(plainSeen.size).toBe(3);
    });

    it("retries a failed dial on the next endpoint, bounded by dialRetries", async () => {
      // A port that refuses: bind, note the port, close.
      const dead = createServer();
      await new Promise<void>((r) => dead.listen(0, "127.0.0.1", () => r()));
      const deadPort = (dead.address() as { port: number }).port;
      await new Promise((r) => dead.close(r));
      const [live] = await backends(1);
      const eps = [endpoint("127.0.0.1", deadPort), endpoint(live!.host, live!.port)];

      const { plane: p, registry } = await plane({ dialRetries: 1 });
      const vip = uniqueLoopback();
      await p.apply(undefined, snapshot([servicePort("retry", [frontend(vip, 8080)], eps)]));
      for (let i = 0; i < 4; i++) expect(await firstLine(vip, 8080)).toBe("pod-0");
      expect(await registry.getSingleMetricAsString("nodeplane_service_dial_failures_total")).toMatch(
        /service="retry".* 2$/m,
      );

      const { plane: noRetry } = await plane({ dialRetries: 0 });
      const vip2 = uniqueLoopback();
      await noRetry.apply(undefined, snapshot([servicePort("no-retry", [frontend(vip2, 8080)], eps)]));
      const results = [await probe(vip2, 8080), await probe(vip2, 8080)];
      expect(results.sort()).toEqual(["data:pod-0", "reset"]);
    });

    it("propagates a client's half-close and still delivers the answer", async () => {
      const { plane: p } = await plane();
      const b = await countingBackend("127.0.0.1");
      cleanup.add(() => b.close());
      const vip = uniqueLoopback();
      await p.apply(undefined, snapshot([servicePort("count", [frontend(vip, 9000)], [endpoint(b.host, b.port)])]));
      const answer = await new Promise<string>((resolve, reject) => {
        const s = connect({ host: vip, port: 9000, allowHalfOpen: true }, () => s.end("hello world"));
        let data = "";
        s.on("data", (d) => {
          data += d;
        });
        s.on("end", () => resolve(data));
        s.on("error", reject);
      });
      expect(answer).toBe("got 11 bytes");
    });

    it("moves 20 MB each way intact (checksummed)", async () => {
      const { plane: p, registry } = await plane();
      const b = await echoBackend("127.0.0.1");
      cleanup.add(() => b.close());
      const vip = uniqueLoopback();
      await p.apply(undefined, snapshot([servicePort("bulk", [frontend(vip, 9001)], [endpoint(b.host, b.port)])]));
      const payload = randomBytes(20 * 1024 * 1024);
      const sent = createHash("sha256").update(payload).digest("hex");
      const received = await new Promise<{ hash: string; bytes: number }>((resolve, reject) => {
        const hash = createHash("sha256");
        let bytes = 0;
        const s = connect({ host: vip, port: 9001, allowHalfOpen: true }, () => {
          // Write in chunks honouring backpressure, then half-close.
          let offset = 0;
          const chunk = 256 * 1024;
          const pump = () => {
            while (offset < payload.length) {
              const end = Math.min(offset + chunk, payload.length);
              const ok = s.write(payload.subarray(offset, end));
              offset = end;
              if (!ok) return void s.once("drain", pump);
            }
            s.end();
          };
          pump();
        });
        s.on("data", (d: Buffer) => {
          hash.update(d);
          bytes += d.length;
        });
        s.on("end", () => resolve({ hash: hash.digest("hex"), bytes }));
        s.on("error", reject);
      });
      expect(received.bytes).toBe(payload.length);
      expect(received.hash).toBe(sent);
      await eventually(async () =>
        /service="bulk".* 20971520$/m.test(
          await registry.getSingleMetricAsString("nodeplane_service_sent_bytes_total"),
        ),
      );
    });

    it("serves loadBalancerSourceRanges on LB frontends only", async () => {
      const { plane: p } = await plane();
      const [pod] = await backends(1);
      const lbDenied = uniqueLoopback();
      const lbAllowed = uniqueLoopback();
      const cluster = uniqueLoopback();
      const eps = [endpoint(pod!.host, pod!.port)];
      await p.apply(
        undefined,
        snapshot([
          servicePort(
            "lb",
            [
              frontend(lbDenied, 8080, { kind: "loadBalancer", endpoints: "external", sourceRanges: ["10.0.0.0/8"] }),
              frontend(cluster, 8080, { sourceRanges: ["10.0.0.0/8"] }),
            ],
            eps,
          ),
          servicePort(
            "lb2",
            [frontend(lbAllowed, 8080, { kind: "loadBalancer", endpoints: "external", sourceRanges: ["127.0.0.0/8"] })],
            eps,
          ),
        ]),
      );
      expect(await probe(lbDenied, 8080)).toBe("reset");
      expect(await probe(lbAllowed, 8080)).toBe("data:pod-0");
      expect(await probe(cluster, 8080)).toBe("data:pod-0"); // ranges apply to LB frontends only
    });

    it("reports a listener that cannot bind and keeps serving the others", async () => {
      const { logger, lines } = captureLogger();
      const { plane: p } = await plane({}, logger);
      const [pod] = await backends(1);
      const vip = uniqueLoopback();
      // Someone else holds vip:8080.
      const squatter = createServer();
      await new Promise<void>((r) => squatter.listen(8080, vip, () => r()));
      cleanup.add(() => new Promise((r) => squatter.close(r)));
      const eps = [endpoint(pod!.host, pod!.port)];
      const snap = snapshot([
        servicePort("taken", [frontend(vip, 8080)], eps),
        servicePort("fine", [frontend(vip, 8081)], eps),
      ]);
      await p.apply(undefined, snap);
      expect(p.status()).toEqual({
        listening: [`TCP ${vip}:8081`],
        failed: { [`TCP ${vip}:8080`]: "address already in use by another process" },
      });
      expect(await probe(vip, 8081)).toBe("data:pod-0");
      // Reported once, not on every apply; bound once the port is free.
      await p.apply(snap, snapshot(snap.servicePorts as never));
      expect(lines().filter((l) => l.msg.includes(`cannot listen on TCP ${vip}:8080`))).toHaveLength(1);
      await new Promise((r) => squatter.close(r));
      await p.apply(snap, snapshot(snap.servicePorts as never));
      expect(p.status().failed).toEqual({});
      expect(await probe(vip, 8080)).toBe("data:pod-0");
    });

    it("keeps live connections through reconciles and closes those of a removed endpoint after the grace period", async () => {
      const { plane: p } = await plane({ endpointGracePeriodMs: 300 });
      const pods = await backends(2);
      const vip = uniqueLoopback();
      const [a, b] = pods.map((x) => endpoint(x.host, x.port));
      const s1 = snapshot([servicePort("web", [frontend(vip, 8080)], [a!])]);
      await p.apply(undefined, s1);

      const openConn = () =>
        new Promise<{ socket: Socket; name: string; echo: (text: string) => Promise<string> }>((resolve, reject) => {
          const socket = connect({ host: vip, port: 8080 });
          let buffer = "";
          let waiter: ((line: string) => void) | undefined;
          socket.on("data", (d) => {
            buffer += d;
            let nl = buffer.indexOf("\n");
            while (nl >= 0) {
              const line = buffer.slice(0, nl);
              buffer = buffer.slice(nl + 1);
              if (waiter) {
                const w = waiter;
                waiter = undefined;
                w(line);
              }
              nl = buffer.indexOf("\n");
            }
          });
          socket.on("error", () => {});
          waiter = (name) =>
            resolve({
              socket,
              name,
              echo: (text) =>
                new Promise((r) => {
                  waiter = r;
                  socket.write(`${text}\n`);
                }),
            });
          socket.on("connect", () => {});
          socket.once("close", () => reject(new Error("closed early")));
        });

      const live = await openConn();
      expect(live.name).toBe("pod-0");
      expect(await live.echo("one")).toBe("one");

      // Reconcile: add an endpoint, many times, under traffic.
      for (let i = 0; i < 5; i++) {
        await p.apply(s1, snapshot([servicePort("web", [frontend(vip, 8080)], [a!, b!])]));
        expect(await live.echo(`round ${i}`)).toBe(`round ${i}`);
      }
      // Remove pod-0: its connection lives on through the grace period, then is closed.
      const closed = new Promise<number>((r) => live.socket.once("close", () => r(Date.now())));
      const removedAt = Date.now();
      await p.apply(s1, snapshot([servicePort("web", [frontend(vip, 8080)], [b!])]));
      expect(await live.echo("still here")).toBe("still here");
      expect(await firstLine(vip, 8080)).toBe("pod-1");
      const closedAt = await closed;
      expect(closedAt - removedAt).toBeGreaterThanOrEqual(250);
      await eventually(() => p.openConnections()["default/web:|cluster|4"] === 0, 2_000, "connections untracked");
    });

    it("never fails a connection while endpoints churn under load (bounded: 300 connections, 30 reconciles)", async () => {
      const { plane: p } = await plane({ endpointGracePeriodMs: 5_000 });
      const pods = await backends(3);
      const eps = pods.map((x) => endpoint(x.host, x.port));
      const vip = uniqueLoopback();
      const sets = [[eps[0]!, eps[1]!], [eps[1]!, eps[2]!], [eps[2]!, eps[0]!], eps];
      let current = snapshot([servicePort("churn", [frontend(vip, 8080)], sets[0]!)]);
      await p.apply(undefined, current);
      let stop = false;
      const churn = (async () => {
        for (let i = 1; i <= 30 && !stop; i++) {
          const next = snapshot([servicePort("churn", [frontend(vip, 8080)], sets[i % sets.length]!)]);
          await p.apply(current, next);
          current = next;
          await new Promise((r) => setTimeout(r, 5));
        }
      })();
      const results: string[] = [];
      for (let batch = 0; batch < 30; batch++) {
        results.push(...(await Promise.all(Array.from({ length: 10 }, () => probe(vip, 8080)))));
      }
      stop = true;
      await churn;
      expect(results.filter((r) => !r.startsWith("data:pod-"))).toEqual([]);
      expect(new Set(results).size).toBe(3);
    });

    it("closes a proxied connection idle longer than the TCP idle timeout, not a busy one", async () => {
      const { plane: p } = await plane({ tcpIdleTimeoutMs: 300 });
      const [pod] = await backends(1);
      const vip = uniqueLoopback();
      await p.apply(
        undefined,
        snapshot([servicePort("idle", [frontend(vip, 8080)], [endpoint(pod!.host, pod!.port)])]),
      );
      const open = async () => {
        const socket = connect({ host: vip, port: 8080 });
        socket.on("error", () => {});
        await new Promise((r) => socket.once("data", r));
        return socket;
      };
      const idle = await open();
      const busy = await open();
      const idleClosed = new Promise<number>((r) => idle.once("close", () => r(Date.now())));
      const start = Date.now();
      // Keep `busy` talking every 100 ms for 900 ms (bounded).
      for (let i = 0; i < 9; i++) {
        busy.write("x\n");
        await new Promise((r) => setTimeout(r, 100));
      }
      expect((await idleClosed) - start).toBeGreaterThanOrEqual(250);
      expect(busy.destroyed).toBe(false);
      busy.destroy();
    });

    it("keeps a connection whose endpoint comes back within the grace period", async () => {
      const { plane: p } = await plane({ endpointGracePeriodMs: 200 });
      const [pod] = await backends(1);
      const vip = uniqueLoopback();
      const a = endpoint(pod!.host, pod!.port);
      const other = endpoint("127.0.0.1", 1);
      const withA = snapshot([servicePort("web", [frontend(vip, 8080)], [a])]);
      await p.apply(undefined, withA);
      const socket = connect({ host: vip, port: 8080 });
      let closed = false;
      socket.on("close", () => {
        closed = true;
      });
      socket.on("error", () => {});
      await new Promise((r) => socket.once("data", r));
      await p.apply(withA, snapshot([servicePort("web", [frontend(vip, 8080)], [other])]));
      await p.apply(withA, snapshot([servicePort("web", [frontend(vip, 8080)], [a])]));
      await new Promise((r) => setTimeout(r, 400));
      expect(closed).toBe(false);
      socket.destroy();
    });

    it("closes the socket of a port that went away but lets its connections finish", async () => {
      const { plane: p } = await plane({ endpointGracePeriodMs: 60_000 });
      const [pod] = await backends(1);
      const vip = uniqueLoopback();
      const s1 = snapshot([servicePort("web", [frontend(vip, 8080)], [endpoint(pod!.host, pod!.port)])]);
      await p.apply(undefined, s1);
      const socket = connect({ host: vip, port: 8080 });
      socket.on("error", () => {});
      await new Promise((r) => socket.once("data", r));
      await p.apply(s1, snapshot([]));
      expect(await probe(vip, 8080)).toBe("refused");
      const echoed = new Promise<string>((r) => socket.once("data", (d) => r(String(d))));
      socket.write("ping\n");
      expect(await echoed).toBe("ping\n");
      socket.destroy();
    });
  });

  describe(`service plane TCP forwarding details (${path} path)`, () => {
    beforeAll(() => forceTcpPath(path));
    afterAll(() => forceTcpPath(undefined));

    async function proxied(server: Server) {
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
      cleanup.add(() => new Promise((r) => server.close(() => r(undefined))));
      const port = (server.address() as { port: number }).port;
      const { plane: p } = await plane();
      const vip = uniqueLoopback();
      await p.apply(undefined, snapshot([servicePort("detail", [frontend(vip, 9100)], [endpoint("127.0.0.1", port)])]));
      return { vip, port: 9100, plane: p };
    }

    function outcome(s: Socket): Promise<string> {
      return new Promise((resolve) => {
        let data = "";
        s.on("data", (d) => {
          data += d;
        });
        s.on("error", (err: NodeJS.ErrnoException) => resolve(`error:${err.code}:${data}`));
        s.on("end", () => resolve(`end:${data}`));
      });
    }

    it("passes a backend's reset on to the client as a reset, after the bytes before it", async () => {
      const server = createServer((s) => {
        s.on("error", () => {});
        s.write("before\n", () => setTimeout(() => s.resetAndDestroy(), 50));
      });
      const { vip, port } = await proxied(server);
      const client = connect({ host: vip, port });
      expect(await outcome(client)).toBe("error:ECONNRESET:before\n");
    });

    it("closes every backend connection when clients half-close and reset while the backend streams (bounded: 40 connections, 5 s)", async () => {
      // A client's FIN starts a shutdown towards the backend; its reset can then fail a write to the
      // client while that shutdown is still in flight. The backend connection must be closed anyway
      // (a libuv handle with a shutdown in flight refuses a reset and, in Node, stays open).
      const closed: Promise<void>[] = [];
      const chunk = Buffer.alloc(16 * 1024, 120);
      const server = createServer((s) => {
        closed.push(new Promise((resolve) => s.on("close", () => resolve())));
        s.on("error", () => {});
        s.on("data", () => {});
        const pump = () => {
          while (!s.destroyed && s.write(chunk));
        };
        s.on("drain", pump);
        pump();
      });
      const { vip, port } = await proxied(server);
      const rounds = 40;
      await Promise.all(
        Array.from({ length: rounds }, async (_, i) => {
          const client = connect({ host: vip, port });
          client.on("error", () => {});
          await new Promise((r) => client.once("data", r));
          client.write("bye");
          client.end();
          if (i % 2 === 0) client.resetAndDestroy();
          else setImmediate(() => client.resetAndDestroy());
        }),
      );
      await eventually(() => closed.length === rounds);
      const all = Promise.all(closed).then(() => "all closed");
      expect(await Promise.race([all, new Promise((r) => setTimeout(() => r("some still open"), 5000))])).toBe(
        "all closed",
      );
    });

    it("passes a client's reset on to the backend as a reset", async () => {
      const seen: Promise<string>[] = [];
      const server = createServer((s) => {
        seen.push(outcome(s));
        s.write("hi\n");
      });
      const { vip, port } = await proxied(server);
      const client = connect({ host: vip, port });
      client.on("error", () => {});
      await new Promise((r) => client.once("data", r));
      client.write("x");
      await eventually(() => seen.length === 1);
      client.resetAndDestroy();
      expect(await seen[0]).toBe("error:ECONNRESET:x");
    });

    it("stops reading a backend while its client does not read, and loses nothing when it does (bounded: 64 MiB)", async () => {
      const total = 64 * 1024 * 1024;
      const chunk = randomBytes(256 * 1024);
      let written = 0;
      let stalled: () => void = () => {};
      const stalledOnce = new Promise<void>((r) => {
        stalled = r;
      });
      const server = createServer((s) => {
        s.on("error", () => {});
        const pump = () => {
          while (written < total) {
            written += chunk.length;
            if (!s.write(chunk)) {
              // The backend only stalls when the proxy stopped reading (the client reads nothing yet).
              const at = written;
              setTimeout(() => {
                if (written === at) stalled();
              }, 300);
              return void s.once("drain", pump);
            }
          }
          s.end();
        };
        pump();
      });
      const { vip, port } = await proxied(server);
      const client = connect({ host: vip, port });
      client.on("error", () => {});
      client.pause();
      await stalledOnce;
      // Kernel socket buffers on both hops plus the proxy's high-water marks: far below the 64 MiB.
      expect(written).toBeLessThan(total / 2);
      const hash = createHash("sha256");
      let received = 0;
      client.on("data", (d: Buffer) => {
        hash.update(d);
        received += d.length;
      });
      client.resume();
      await new Promise((r) => client.once("end", r));
      expect(received).toBe(total);
      const expected = createHash("sha256");
      for (let i = 0; i < total / chunk.length; i++) expected.update(chunk);
      expect(hash.digest("hex")).toBe(expected.digest("hex"));
    });

    it("keeps small exchanges intact after a bulk transfer on the same connection (read buffers change size)", async () => {
      const server = createServer({ allowHalfOpen: true }, (s) => s.pipe(s));
      const { vip, port } = await proxied(server);
      const client = connect({ host: vip, port });
      client.on("error", () => {});
      await new Promise((r) => client.once("connect", r));
      let pending = Buffer.alloc(0);
      client.on("data", (d: Buffer) => {
        pending = Buffer.concat([pending, d]);
      });
      const exchange = async (payload: Buffer) => {
        pending = Buffer.alloc(0);
        client.write(payload);
        await eventually(() => pending.length >= payload.length, 5_000, "echo");
        expect(pending.equals(payload)).toBe(true);
      };
      for (let round = 0; round < 3; round++) {
        await exchange(randomBytes(3 * 1024 * 1024));
        for (let i = 0; i < 20; i++) await exchange(Buffer.from(`small ${round}.${i}\n`));
      }
      client.destroy();
    });
  });
}
