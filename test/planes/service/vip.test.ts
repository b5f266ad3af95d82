import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type IpRunner, ipRunner, isLoopback, planVips, VipManager } from "../../../src/planes/service/vip.ts";
import { captureLogger } from "./helpers.ts";

interface Addr {
  family: string;
  local: string;
  prefixlen: number;
  label?: string;
}

/** An in-memory iproute2: enough of `ip link`/`ip addr` to drive VipManager without touching the host. */
function fakeIp(options: { dummy: boolean; permitted: boolean; links?: Record<string, Addr[]> }) {
  const links = new Map<string, Addr[]>(Object.entries(options.links ?? { lo: [] }));
  const calls: string[] = [];
  const run: IpRunner = async (args) => {
    calls.push(args.join(" "));
    const fail = (msg: string) => {
      throw new Error(`ip ${args.join(" ")}: ${msg}`);
    };
    const [a0, a1, a2, a3] = args;
    if (a0 === "link" && a1 === "show") return links.has(a3!) ? "" : fail(`Device "${a3}" does not exist.`);
    if (a0 === "link" && a1 === "add") {
      if (!options.permitted) fail("RTNETLINK answers: Operation not permitted");
      if (!options.dummy) fail("Error: Unknown device type.");
      links.set(a2!, []);
      return "";
    }
    if (a0 === "link" && a1 === "set") return "";
    if (a0 === "link" && a1 === "del") {
      links.delete(a2!);
      return "";
    }
    if (a0 === "-j") {
      const only = args[3] === "dev" ? args[4] : undefined;
      return JSON.stringify(
        [...links].filter(([n]) => !only || n === only).map(([ifname, addr_info]) => ({ ifname, addr_info })),
      );
    }
    if (a0 === "addr") {
      if (!options.permitted) fail("RTNETLINK answers: Operation not permitted");
      const [ip, prefix] = a2!.split("/") as [string, string];
      const list = links.get(args[4]!)!;
      if (a1 === "add") {
        const label = args.indexOf("label") > 0 ? args[args.indexOf("label") + 1] : undefined;
        list.push({ family: ip.includes(":") ? "inet6" : "inet", local: ip, prefixlen: Number(prefix), label });
      } else {
        const i = list.findIndex((x) => x.local === ip);
        if (i < 0) fail("RTNETLINK answers: Cannot assign requested address");
        list.splice(i, 1);
      }
      return "";
    }
    return fail("unexpected");
  };
  return { run, links, calls };
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "np-vip-"));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

describe("planVips", () => {
  it.each([
    { wanted: ["10.96.0.1"], held: [], local: [], add: ["10.96.0.1"], remove: [] },
    { wanted: ["127.96.0.5", "::1"], held: [], local: [], add: [], remove: [] },
    { wanted: ["192.168.1.5"], held: [], local: ["192.168.1.5"], add: [], remove: [] },
    { wanted: ["10.96.0.2"], held: ["10.96.0.1", "10.96.0.2"], local: [], add: [], remove: ["10.96.0.1"] },
  ])("$wanted with $held held", ({ wanted, held, local, add, remove }) => {
    expect(planVips(new Set(wanted), new Set(held), new Set(local))).toEqual({ add, remove });
  });
  it("knows loopback", () => {
    expect([isLoopback("127.244.0.1"), isLoopback("::1"), isLoopback("10.0.0.1")]).toEqual([true, true, false]);
  });
});

describe("VipManager", () => {
  it("creates the dummy link on first need, labels IPv4, removes only its own, deletes the link on close", async () => {
    const ip = fakeIp({ dummy: true, permitted: true });
    const vips = new VipManager({
      link: "nodeplane0",
      logger: captureLogger().logger,
      run: ip.run,
      stateFile: join(dir, "s.json"),
    });
    await vips.start();
    expect(ip.links.has("nodeplane0")).toBe(false);
    await vips.sync(new Set(["10.96.0.1", "fd00::1", "127.96.0.1"]));
    expect(ip.links.get("nodeplane0")).toEqual([
      { family: "inet", local: "10.96.0.1", prefixlen: 32, label: "nodeplane0:np" },
      { family: "inet6", local: "fd00::1", prefixlen: 128, label: undefined },
    ]);
    expect(JSON.parse(await readFile(join(dir, "s.json"), "utf8"))).toEqual({
      link: "nodeplane0",
      addresses: ["10.96.0.1", "fd00::1"],
    });
    await vips.sync(new Set(["fd00::1"]));
    expect(ip.links.get("nodeplane0")!.map((a) => a.local)).toEqual(["fd00::1"]);
    await vips.close();
    expect(ip.links.has("nodeplane0")).toBe(false);
    expect(existsSync(join(dir, "s.json"))).toBe(false); // nothing left to clean: no state either
  });

  it("falls back to lo when the kernel cannot make a dummy link, and never removes what it did not add", async () => {
    const theirs: Addr = { family: "inet", local: "10.96.0.9", prefixlen: 32, label: "lo" };
    const ip = fakeIp({ dummy: false, permitted: true, links: { lo: [theirs] } });
    const vips = new VipManager({
      link: "nodeplane0",
      logger: captureLogger().logger,
      run: ip.run,
      stateFile: join(dir, "s.json"),
    });
    await vips.start();
    await vips.sync(new Set(["10.96.0.1", "10.96.0.9"]));
    expect(vips.activeLink).toBe("lo");
    expect(ip.links.get("lo")!.map((a) => [a.local, a.label])).toEqual([
      ["10.96.0.9", "lo"],
      ["10.96.0.1", "lo:np"],
    ]);
    await vips.sync(new Set());
    await vips.close();
    expect(ip.links.get("lo")).toEqual([theirs]);
  });

  it("cleans what a crashed run left (label or state file) and nothing else", async () => {
    const ip = fakeIp({
      dummy: false,
      permitted: true,
      links: {
        lo: [
          { family: "inet", local: "127.0.0.1", prefixlen: 8, label: "lo" },
          { family: "inet", local: "10.96.0.1", prefixlen: 32, label: "lo:np" },
          { family: "inet6", local: "fd00::1", prefixlen: 128 },
          { family: "inet6", local: "fd00::2", prefixlen: 128 },
        ],
      },
    });
    await writeFile(join(dir, "s.json"), JSON.stringify({ link: "lo", addresses: ["fd00::1"] }));
    const vips = new VipManager({
      link: "lo",
      logger: captureLogger().logger,
      run: ip.run,
      stateFile: join(dir, "s.json"),
    });
    await vips.start();
    expect(ip.links.get("lo")!.map((a) => a.local)).toEqual(["127.0.0.1", "fd00::2"]);
  });

  it("says once that it is not permitted and keeps going", async () => {
    const ip = fakeIp({ dummy: true, permitted: false });
    const { logger, lines } = captureLogger();
    const vips = new VipManager({ link: "nodeplane0", logger, run: ip.run, stateFile: join(dir, "s.json") });
    await vips.start();
    await vips.sync(new Set(["10.96.0.1"]));
    await vips.sync(new Set(["10.96.0.1", "10.96.0.2"]));
    const errors = lines().filter((l) => l.level >= 50);
    expect(errors.map((l) => l.msg)).toEqual([
      "not permitted to manage virtual IPs (run as root or with CAP_NET_ADMIN); services on non-local IPs will not be served",
    ]);
    expect(vips.activeLink).toBeUndefined();
  });

  it("says once that iproute2 is missing and keeps going", async () => {
    const { logger, lines } = captureLogger();
    const vips = new VipManager({
      link: "nodeplane0",
      logger,
      run: ipRunner(["/nonexistent/ip"]),
      stateFile: join(dir, "s.json"),
    });
    await vips.start();
    await vips.sync(new Set(["10.96.0.1"]));
    expect(
      lines()
        .filter((l) => l.level >= 40)
        .map((l) => l.msg),
    ).toEqual(["/nonexistent/ip: command not found (install iproute2); services on non-local IPs will not be served"]);
  });

  it("never touches interfaces with --vip-interface none", async () => {
    const ip = fakeIp({ dummy: true, permitted: true });
    const vips = new VipManager({ link: "none", logger: captureLogger().logger, run: ip.run });
    await vips.start();
    await vips.sync(new Set(["10.96.0.1"]));
    await vips.close();
    expect(ip.calls).toEqual([]);
  });
});
