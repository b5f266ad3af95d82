import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { Cleanup, eventually, nameEchoBackend, probe, sleep, udpEchoBackend, uniqueLoopback } from "./helpers.ts";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const CHILD = fileURLToPath(new URL("./emfile-child.ts", import.meta.url));

interface Labelled {
  labels: Record<string, string>;
  value: number;
}

/** The plane in a child process under `prlimit --nofile=256:256`, driven line by line. */
async function child(env: NodeJS.ProcessEnv, args: string[]) {
  const proc: ChildProcess = spawn("prlimit", ["--nofile=256:256", process.execPath, CHILD, ...args], {
    stdio: ["pipe", "pipe", "pipe"],
    env: { ...process.env, ...env },
  });
  const exited = new Promise<void>((r) => proc.once("exit", () => r()));
  cleanup.add(async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill("SIGKILL");
      await exited;
    }
  });
  let out = "";
  let err = "";
  proc.stdout!.on("data", (d: Buffer) => {
    out += d;
  });
  proc.stderr!.on("data", (d: Buffer) => {
    err += d;
  });
  const next = async (prefix: string): Promise<string> => {
    let line: string | undefined;
    await eventually(
      () => {
        line = out.split("\n").find((l) => l.startsWith(prefix));
        return line !== undefined || proc.exitCode !== null;
      },
      10_000,
      `"${prefix}" from the child (stderr: ${err})`,
    );
    if (line === undefined) throw new Error(`child exited: ${err}`);
    out = out.slice(out.indexOf(line) + line.length + 1);
    return line;
  };
  await next("ready");
  return {
    proc,
    async send(command: string, answer: string): Promise<string> {
      proc.stdin!.write(`${command}\n`);
      return next(answer);
    },
    async metrics(): Promise<{ exhaustion: Labelled[]; refused: Labelled[] }> {
      return JSON.parse((await this.send("metrics", "metrics ")).slice("metrics ".length));
    },
  };
}

function askUdp(host: string, port: number, ms = 500): Promise<string | undefined> {
  return new Promise((resolve) => {
    import("node:dgram").then(({ createSocket }) => {
      const s = createSocket("udp4");
      const timer = setTimeout(() => {
        s.close();
        resolve(undefined);
      }, ms);
      s.on("message", (msg) => {
        clearTimeout(timer);
        s.close();
        resolve(String(msg));
      });
      s.send("q", port, host);
    });
  });
}

describe("the service plane out of descriptors (a child process under a real RLIMIT_NOFILE)", () => {
  it.each([
    ["handles", {}],
    ["sockets", { NODEPLANE_TCP_HANDLES: "0" }],
  ] as const)(
    "after EMFILE on accept, on a dial and on a UDP flow: counts it, stays up and serves once descriptors are free (%s path)",
    async (_path, env) => {
      const t = await nameEchoBackend("127.0.0.1", "t");
      cleanup.add(() => t.close());
      const u = await udpEchoBackend("127.0.0.1", "u");
      cleanup.add(() => u.close());
      const vip = uniqueLoopback();
      const c = await child(env, [vip, String(t.port), String(u.port)]);
      expect(await probe(vip, 80)).toBe("data:t");

      expect(await c.send("fill", "full ")).toMatch(/^full EMFILE \d+$/);
      // accept: libuv takes the connection with its spare descriptor and closes it (Node is not told)
      expect(await probe(vip, 80)).toMatch(/reset|closed/);
      // a new UDP client: its flow cannot get an upstream socket
      expect(await askUdp(vip, 53)).toBeUndefined();
      // one descriptor free: the accept takes it, the dial to the endpoint finds none
      await c.send("free1", "freed1");
      expect(await probe(vip, 80)).toMatch(/reset|closed/);
      const { exhaustion } = await c.metrics();
      const listeners = exhaustion.filter((v) => v.labels.plane === "service").map((v) => v.labels.listener);
      expect(listeners).toContain(`TCP ${vip}:80`);
      expect(listeners).toContain(`UDP ${vip}:53`);

      await c.send("free", "freed");
      // after the back-off (100 ms for a first exhaustion, longer if it repeated), both serve again
      let tcp = "";
      await eventually(
        async () => {
          tcp = await probe(vip, 80);
          return tcp === "data:t";
        },
        8_000,
        "TCP served again",
      );
      await sleep(100);
      let udp: string | undefined;
      await eventually(
        async () => {
          udp = await askUdp(vip, 53);
          return udp === "u:q";
        },
        8_000,
        "UDP served again",
      );
      expect(c.proc.exitCode).toBe(null);
    },
  );
});
