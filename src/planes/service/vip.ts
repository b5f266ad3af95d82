import { execFile } from "node:child_process";
import { mkdir, readFile, readlink, rename, rm, writeFile } from "node:fs/promises";
import { isIPv4, isIPv6 } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { Logger } from "../../log.ts";

/** Runs `ip ARGS…` and resolves with stdout; rejects with stderr in the message. */
export type IpRunner = (args: string[]) => Promise<string>;

export function ipRunner(prefix: readonly string[] = ["ip"]): IpRunner {
  return (args) =>
    new Promise((resolve, reject) => {
      execFile(prefix[0]!, [...prefix.slice(1), ...args], { timeout: 10_000 }, (err, stdout, stderr) => {
        if ((err as NodeJS.ErrnoException | null)?.code === "ENOENT")
          reject(new Error(`${prefix[0]}: command not found (install iproute2)`));
        else if (err) reject(new Error(`${[...prefix, ...args].join(" ")}: ${String(stderr).trim() || err.message}`));
        else resolve(String(stdout));
      });
    });
}

/** Addresses the kernel already treats as local without any binding: 127.0.0.0/8 and ::1 on Linux. */
export function isLoopback(ip: string): boolean {
  return (isIPv4(ip) && ip.startsWith("127.")) || ip === "::1";
}

/** Pure: addresses to add (wanted, not local, not ours yet) and to remove (ours, no longer wanted). */
export function planVips(
  wanted: ReadonlySet<string>,
  held: ReadonlySet<string>,
  local: ReadonlySet<string>,
): { add: string[]; remove: string[] } {
  const add = [...wanted].filter((ip) => !held.has(ip) && !local.has(ip) && !isLoopback(ip));
  const remove = [...held].filter((ip) => !wanted.has(ip));
  return { add, remove };
}

export interface VipOptions {
  /** `--vip-interface`: a link name, `nodeplane0` (dummy link, falls back to lo) or `none` */
  link: string;
  logger: Logger;
  run?: IpRunner;
  /** where the addresses we added are recorded (crash cleanup); default per network namespace */
  stateFile?: string;
}

const DEFAULT_LINK = "nodeplane0";

interface IpAddrJson {
  ifname: string;
  addr_info?: { family: string; local: string; prefixlen: number; label?: string }[];
}

/**
 * Adds the service plane's non-local virtual IPs to a link as /32 or /128, and removes them when no
 * longer needed. It only ever removes addresses it added itself: IPv4 ones carry the label `<link>:np`,
 * and all of them are recorded in a state file, so a restart after a crash removes the leftovers of
 * the previous run and nothing else.
 */
export class VipManager {
  private readonly options: VipOptions;
  private readonly run: IpRunner;
  private link: string | undefined;
  private createdLink = false;
  private readonly held = new Set<string>();
  private disabledReason: string | undefined;
  private readonly stateFileOption: string | undefined;
  private stateFile: string | undefined;

  constructor(options: VipOptions) {
    this.options = options;
    this.run = options.run ?? ipRunner();
    this.stateFileOption = options.stateFile;
  }

  /** The link in use, or undefined when binding is off (`none`, or it could not be set up). */
  get activeLink(): string | undefined {
    return this.disabledReason ? undefined : this.link;
  }

  get addresses(): ReadonlySet<string> {
    return this.held;
  }

  async start(): Promise<void> {
    const { link } = this.options;
    if (link === "none") {
      this.disabledReason = "--vip-interface none";
      return;
    }
    this.stateFile = this.stateFileOption ?? (await defaultStateFile());
    // The dummy link is only created when a first address needs it; one left by a crashed run is reused
    // and cleaned now.
    let exists = true;
    try {
      await this.run(["link", "show", "dev", link]);
    } catch (err) {
      const reason = (err as Error).message;
      if (/command not found/.test(reason)) {
        this.disable(`${reason}; services on non-local IPs will not be served`);
        return;
      }
      exists = false;
    }
    if (exists) {
      this.link = link;
      await this.cleanLeftovers();
    } else if (link !== DEFAULT_LINK) {
      this.disable(`--vip-interface ${link}: no such link; services on non-local IPs will not be served`);
    } else {
      // Without the dummy link a previous run fell back to lo: clean what it left there.
      this.link = "lo";
      await this.cleanLeftovers();
      this.link = undefined;
    }
  }

  private async ensureLink(): Promise<boolean> {
    if (this.link) return true;
    try {
      this.link = await this.createLink(this.options.link);
      this.options.logger.info({ link: this.link, created: this.createdLink }, "service virtual IPs go on this link");
      return true;
    } catch (err) {
      const reason = (err as Error).message;
      this.disable(
        /not permitted/i.test(reason)
          ? "not permitted to manage virtual IPs (run as root or with CAP_NET_ADMIN); services on non-local IPs will not be served"
          : `cannot set up link ${this.options.link} for virtual IPs: ${reason}`,
      );
      return false;
    }
  }

  /** Make exactly `wanted` (minus local addresses) be bound by us. */
  async sync(wanted: ReadonlySet<string>): Promise<void> {
    if (this.disabledReason) return;
    const needsLookup = [...wanted].some((ip) => !this.held.has(ip) && !isLoopback(ip));
    let local = new Set<string>();
    if (needsLookup) {
      try {
        local = await this.localAddresses();
      } catch (err) {
        this.options.logger.warn(
          { reason: (err as Error).message },
          "cannot list local addresses; virtual IPs unchanged",
        );
        return;
      }
    }
    for (const ip of this.held) local.delete(ip);
    const { add, remove } = planVips(wanted, this.held, local);
    if (add.length > 0 && !(await this.ensureLink())) return;
    for (const ip of remove) await this.del(ip);
    for (const ip of add) {
      if (this.disabledReason) break;
      await this.add(ip);
    }
    if (add.length > 0 || remove.length > 0) await this.saveState();
  }

  /** Remove what we added, and the dummy link if we created it. */
  async close(): Promise<void> {
    if (this.link) for (const ip of [...this.held]) await this.del(ip);
    this.held.clear();
    // Nothing left to clean up after us: no state file either.
    if (this.stateFile) await rm(this.stateFile, { force: true }).catch(() => {});
    if (this.createdLink && this.link) {
      await this.run(["link", "del", this.link]).catch(() => {});
      this.createdLink = false;
    }
  }

  /** `nodeplane0`: create the dummy link, or fall back to lo when the kernel cannot make one. */
  private async createLink(link: string): Promise<string> {
    try {
      await this.run(["link", "add", link, "type", "dummy"]);
    } catch (err) {
      const reason = (err as Error).message;
      if (/not permitted/i.test(reason)) throw err;
      this.options.logger.info({ reason }, `cannot create dummy link ${link}; service virtual IPs go on lo`);
      return "lo";
    }
    this.createdLink = true;
    await this.run(["link", "set", "dev", link, "up"]);
    return link;
  }

  private label(): string | undefined {
    const label = `${this.link}:np`;
    return label.length <= 15 ? label : undefined;
  }

  private async cleanLeftovers(): Promise<void> {
    const recorded = await this.loadState();
    let addresses: IpAddrJson[];
    try {
      addresses = JSON.parse(await this.run(["-j", "addr", "show", "dev", this.link!])) as IpAddrJson[];
    } catch {
      return;
    }
    const label = this.label();
    for (const entry of addresses) {
      for (const a of entry.addr_info ?? []) {
        const ours = (label !== undefined && a.label === label) || recorded.includes(a.local);
        const single = a.prefixlen === (a.family === "inet" ? 32 : 128);
        if (ours && single) {
          await this.run(["addr", "del", `${a.local}/${a.prefixlen}`, "dev", this.link!]).catch(() => {});
          this.options.logger.info({ ip: a.local, link: this.link }, "removed virtual IP left by a previous run");
        }
      }
    }
    await this.saveState();
  }

  private async localAddresses(): Promise<Set<string>> {
    const list = JSON.parse(await this.run(["-j", "addr", "show"])) as IpAddrJson[];
    return new Set(list.flatMap((l) => (l.addr_info ?? []).map((a) => a.local)));
  }

  private async add(ip: string): Promise<void> {
    const prefix = isIPv6(ip) ? 128 : 32;
    const label = isIPv4(ip) ? this.label() : undefined;
    const args = ["addr", "add", `${ip}/${prefix}`, "dev", this.link!, ...(label ? ["label", label] : [])];
    if (isIPv6(ip)) args.push("nodad");
    try {
      await this.run(args);
      this.held.add(ip);
    } catch (err) {
      const reason = (err as Error).message;
      if (/not permitted/i.test(reason)) {
        this.disable(
          `not permitted to add virtual IPs to ${this.link} (run as root or with CAP_NET_ADMIN); services on non-local IPs will not be served`,
        );
      } else {
        this.options.logger.warn({ ip, link: this.link, reason }, "cannot add service virtual IP");
      }
    }
  }

  private async del(ip: string): Promise<void> {
    const prefix = isIPv6(ip) ? 128 : 32;
    await this.run(["addr", "del", `${ip}/${prefix}`, "dev", this.link!]).catch((err: Error) => {
      this.options.logger.warn({ ip, link: this.link, reason: err.message }, "cannot remove service virtual IP");
    });
    this.held.delete(ip);
  }

  private disable(reason: string): void {
    if (this.disabledReason) return;
    this.disabledReason = reason;
    this.options.logger.error(reason);
  }

  private async loadState(): Promise<string[]> {
    const link = this.link;
    if (!this.stateFile) return [];
    try {
      const state = JSON.parse(await readFile(this.stateFile, "utf8")) as { link?: string; addresses?: string[] };
      return state.link === link && Array.isArray(state.addresses) ? state.addresses : [];
    } catch {
      return [];
    }
  }

  private async saveState(): Promise<void> {
    if (!this.stateFile) return;
    try {
      await mkdir(dirname(this.stateFile), { recursive: true });
      const tmp = `${this.stateFile}.${process.pid}.tmp`;
      await writeFile(tmp, JSON.stringify({ link: this.link, addresses: [...this.held] }));
      await rename(tmp, this.stateFile);
    } catch (err) {
      this.options.logger.debug({ err, file: this.stateFile }, "cannot record virtual IPs");
    }
  }
}

/** One state file per network namespace, so nodeplanes in different namespaces of a host never mix. */
async function defaultStateFile(): Promise<string> {
  const ns = await readlink("/proc/self/ns/net").then(
    (l) => /\[(\d+)\]/.exec(l)?.[1] ?? "default",
    () => "default",
  );
  const base = process.getuid?.() === 0 ? "/run/nodeplane" : join(tmpdir(), `nodeplane-${process.getuid?.() ?? 0}`);
  return join(base, `vips-netns-${ns}.json`);
}
