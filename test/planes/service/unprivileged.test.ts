import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  Cleanup,
  endpoint,
  firstLine,
  frontend,
  nameEchoBackend,
  probe,
  servicePort,
  snapshot,
  uniqueLoopback,
} from "./helpers.ts";

/**
 * The service plane without privileges: as root the runner is started as `nobody` (setpriv drops every
 * capability with the uid), otherwise as the current user. Ports below 1024 and virtual IPs fail with
 * one clear line each; everything else serves.
 */
const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const isRoot = process.getuid?.() === 0;
/** Containers often lower this to 0, which lets anyone bind port 80; the test follows the kernel. */
const unprivilegedPortStart = (() => {
  try {
    return Number(readFileSync("/proc/sys/net/ipv4/ip_unprivileged_port_start", "utf8"));
  } catch {
    return 1024;
  }
})();
const lowPortNeedsPrivilege = 80 < unprivilegedPortStart;

describe("service plane without privileges", () => {
  it("says once per privileged port (and once for VIPs) and serves the rest", async () => {
    const pod = await nameEchoBackend("127.0.0.1", "pod-0");
    cleanup.add(() => pod.close());
    const dir = mkdtempSync(join(tmpdir(), "np-svc-unpriv-"));
    chmodSync(dir, 0o777);
    cleanup.add(() => rmSync(dir, { recursive: true, force: true }));
    const vip = uniqueLoopback();
    const eps = [endpoint(pod.host, pod.port)];
    const ports = [
      servicePort("low", [frontend(vip, 80)], eps),
      servicePort("high", [frontend(vip, 8080)], eps),
      // A non-local clusterIP needs a VIP, which needs CAP_NET_ADMIN. Only tried when the uid change
      // guarantees there is no capability left, so the host is never touched.
      ...(isRoot ? [servicePort("vip", [frontend("10.96.0.10", 8080)], eps)] : []),
    ];
    const snapFile = join(dir, "snapshot.json");
    const configFile = join(dir, "config.json");
    writeFileSync(snapFile, JSON.stringify(snapshot(ports)));
    writeFileSync(
      configFile,
      JSON.stringify({
        vipInterface: isRoot ? "nodeplane0" : "none",
        vipStateFile: join(dir, "vips.json"),
        tcpIdleTimeoutMs: 60_000,
        udpIdleTimeoutMs: 60_000,
        endpointGracePeriodMs: 1_000,
        dialTimeoutMs: 1_000,
        dialRetries: 2,
      }),
    );
    const runner = [process.execPath, join(import.meta.dirname, "netns-runner.ts"), snapFile, configFile];
    const child: ChildProcess = isRoot
      ? spawn("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", ...runner])
      : spawn(runner[0]!, runner.slice(1));
    cleanup.add(
      () =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null) return resolve();
          child.once("exit", () => resolve());
          child.kill("SIGTERM");
        }),
    );
    let logs = "";
    child.stderr!.on("data", (d) => {
      logs += d;
    });
    const status = await new Promise<{ listening: string[]; failed: Record<string, string> }>((resolve, reject) => {
      let out = "";
      child.stdout!.on("data", (d) => {
        out += d;
        const line = out.split("\n").find((l) => l.startsWith("ready "));
        if (line) resolve(JSON.parse(line.slice(6)));
      });
      child.once("exit", (code) => reject(new Error(`runner exited ${code}: ${logs}`)));
    });
    expect(await firstLine(vip, 8080)).toBe("pod-0");
    if (lowPortNeedsPrivilege) {
      expect(status.listening).toEqual([`TCP ${vip}:8080`]);
      expect(status.failed[`TCP ${vip}:80`]).toBe("port 80 is below 1024 and needs root or CAP_NET_BIND_SERVICE");
      expect(await probe(vip, 80)).toBe("refused");
    } else {
      expect(status.listening).toEqual([`TCP ${vip}:80`, `TCP ${vip}:8080`]);
    }

    const errors = logs
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { level: number; msg: string })
      .filter((l) => l.level >= 50)
      .map((l) => l.msg);
    const expected = lowPortNeedsPrivilege
      ? [`cannot listen on TCP ${vip}:80 for default/low: port 80 is below 1024 and needs root or CAP_NET_BIND_SERVICE`]
      : [];
    if (isRoot) {
      expected.unshift(
        "not permitted to manage virtual IPs (run as root or with CAP_NET_ADMIN); services on non-local IPs will not be served",
      );
      expected.push(
        "cannot listen on TCP 10.96.0.10:8080 for default/vip: 10.96.0.10 is not an address of this node (virtual IP binding is off or failed; see --vip-interface)",
      );
    }
    expect(errors.sort()).toEqual(expected.sort()); // sockets bind in parallel: any order
  });
});
