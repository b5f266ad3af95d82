import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

/** A Debian tool a peer or generator needs: found by `check`, installed from `pkg`. */
export interface Tool {
  name: string;
  pkg: string;
  check: () => boolean;
}

const onPath = (cmd: string) => () =>
  spawnSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" }).status === 0 ||
  existsSync(`/usr/sbin/${cmd}`) ||
  existsSync(`/sbin/${cmd}`);

export const NGINX_MODULES = "/usr/lib/nginx/modules";

export const TOOLS: Record<string, Tool> = {
  nginx: { name: "nginx", pkg: "nginx", check: onPath("nginx") },
  "nginx-stream": {
    name: "nginx stream module",
    pkg: "libnginx-mod-stream",
    check: () => existsSync(`${NGINX_MODULES}/ngx_stream_module.so`),
  },
  haproxy: { name: "haproxy", pkg: "haproxy", check: onPath("haproxy") },
  wrk: { name: "wrk", pkg: "wrk", check: onPath("wrk") },
  dnsperf: { name: "dnsperf", pkg: "dnsperf", check: onPath("dnsperf") },
  named: { name: "BIND (named)", pkg: "bind9", check: onPath("named") },
  dnsmasq: { name: "dnsmasq", pkg: "dnsmasq-base", check: onPath("dnsmasq") },
  unbound: { name: "unbound", pkg: "unbound", check: onPath("unbound") },
  taskset: { name: "taskset", pkg: "util-linux", check: onPath("taskset") },
};

export function isRoot(): boolean {
  return typeof process.getuid === "function" && process.getuid() === 0;
}

/**
 * Makes the tools present if it can: missing ones are installed with apt-get (after `apt-get update`)
 * when running as root and `install` is set. Returns which tools are available afterwards.
 */
export function ensureTools(keys: readonly string[], install: boolean, say: (msg: string) => void): Set<string> {
  const missing = keys.filter((k) => !TOOLS[k]!.check());
  if (missing.length > 0 && install && isRoot()) {
    const pkgs = [...new Set(missing.map((k) => TOOLS[k]!.pkg))];
    say(`installing ${pkgs.join(" ")} with apt-get …`);
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
    const update = spawnSync("apt-get", ["update", "-qq"], { stdio: "inherit", env, timeout: 300_000 });
    if (update.status !== 0) say("apt-get update failed; trying the install anyway");
    const res = spawnSync("apt-get", ["install", "-y", "-qq", "--no-install-recommends", ...pkgs], {
      stdio: ["ignore", "ignore", "inherit"],
      env,
      timeout: 600_000,
    });
    if (res.status !== 0) say(`apt-get install ${pkgs.join(" ")} failed (exit ${res.status})`);
  } else if (missing.length > 0) {
    const why = !install ? "--no-install given" : "not root, so not installing";
    say(
      `missing: ${missing.map((k) => `${TOOLS[k]!.name} (Debian ${TOOLS[k]!.pkg})`).join(", ")} — ${why}; their rows are skipped`,
    );
  }
  const present = new Set<string>();
  for (const k of keys) if (TOOLS[k]!.check()) present.add(k);
  return present;
}
