import { createSocket } from "node:dgram";
import { createServer } from "node:net";
import type { Config, HostPort } from "../config.ts";

/**
 * Workers sharing a listener must bind the same port: a port 0 ("any") would give each worker its
 * own. The primary picks the ports once (free now on that address) and hands workers the result.
 */
export async function resolveEphemeralPorts(config: Config): Promise<Config> {
  const out: Config = { ...config };
  if (config.httpAddress?.port === 0) out.httpAddress = await freePort(config.httpAddress, false);
  if (config.httpsAddress?.port === 0) out.httpsAddress = await freePort(config.httpsAddress, false);
  if (config.dnsAddress?.port === 0) out.dnsAddress = await freePort(config.dnsAddress, true);
  return out;
}

/** A port free on `address.host` for TCP (and UDP too when `udp`). */
async function freePort(address: HostPort, udp: boolean): Promise<HostPort> {
  for (let attempt = 0; ; attempt++) {
    const port = await freeTcpPort(address.host);
    if (!udp || (await udpFree(address.host, port))) return { host: address.host, port };
    if (attempt >= 20) throw new Error(`no port free for both TCP and UDP on ${address.host}`);
  }
}

function freeTcpPort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, host, () => {
      const bound = server.address();
      const port = typeof bound === "object" && bound ? bound.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function udpFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createSocket(host.includes(":") ? "udp6" : "udp4");
    socket.once("error", () => {
      socket.close();
      resolve(false);
    });
    socket.bind(port, host, () => socket.close(() => resolve(true)));
  });
}
