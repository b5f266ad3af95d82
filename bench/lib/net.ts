import { createSocket } from "node:dgram";
import { request } from "node:http";
import { createConnection, createServer } from "node:net";
import dnsPacket from "dns-packet";

/** A TCP port free on 127.0.0.1 right now (bound to port 0 and released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Whether something accepts TCP connections at host:port. */
export function canConnect(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}

/** Polls `check` every 100 ms until it is true or `timeoutMs` passed. */
export async function waitFor(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

export type ProbeResult = { status: number; bytes: number; head: string } | { error: string };

/** GET url (Connection: close): status, body length and the body's first 200 bytes, or the error message. */
export function httpProbe(url: string, timeoutMs = 2000, headers: Record<string, string> = {}): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const req = request(url, { headers: { connection: "close", ...headers }, timeout: timeoutMs }, (res) => {
      let bytes = 0;
      let head = "";
      res.on("data", (d: Buffer) => {
        if (head.length < 200) head += d.subarray(0, 200 - head.length).toString("latin1");
        bytes += d.length;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, bytes, head }));
      res.on("error", (err) => resolve({ error: err.message }));
    });
    req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on("error", (err) => resolve({ error: err.message }));
    req.end();
  });
}

/** Asks host:port (UDP) for `name` A; resolves the addresses answered, or the error. */
export function dnsProbe(
  host: string,
  port: number,
  name: string,
  timeoutMs = 1000,
): Promise<{ addresses: string[]; rcode: string } | { error: string }> {
  return new Promise((resolve) => {
    const socket = createSocket("udp4");
    const id = Math.floor(Math.random() * 65535);
    const timer = setTimeout(() => finish({ error: `no answer within ${timeoutMs} ms` }), timeoutMs);
    function finish(result: { addresses: string[]; rcode: string } | { error: string }) {
      clearTimeout(timer);
      socket.close();
      resolve(result);
    }
    socket.on("error", (err) => finish({ error: err.message }));
    socket.on("message", (msg) => {
      try {
        const p = dnsPacket.decode(msg);
        if (p.id !== id) return;
        const addresses = (p.answers ?? []).flatMap((a) => (a.type === "A" ? [String(a.data)] : []));
        finish({ addresses, rcode: String((p.flags ?? 0) & 15) });
      } catch (err) {
        finish({ error: `undecodable answer: ${(err as Error).message}` });
      }
    });
    const query = dnsPacket.encode({
      type: "query",
      id,
      flags: dnsPacket.RECURSION_DESIRED,
      questions: [{ type: "A", name }],
    });
    socket.send(query, port, host);
  });
}
