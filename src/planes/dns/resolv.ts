import { readFile } from "node:fs/promises";
import { isIP } from "node:net";
import type { HostPort } from "../../config.ts";

/** The `nameserver` lines of a resolv.conf, as upstreams on port 53 (missing or unreadable file: none). */
export async function readResolvConf(path = "/etc/resolv.conf"): Promise<HostPort[]> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch {
    return [];
  }
  return parseResolvConf(text);
}

export function parseResolvConf(text: string): HostPort[] {
  const out: HostPort[] = [];
  for (const line of text.split("\n")) {
    const [keyword, address] = line.trim().split(/\s+/);
    if (keyword !== "nameserver" || !address) continue;
    const host = address.split("%")[0]!;
    if (isIP(host)) out.push({ host, port: 53 });
  }
  return out;
}
