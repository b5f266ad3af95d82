import { createServer, type Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";

/** One request as the backend received it. */
export interface Seen {
  method: string;
  url: string;
  /** lower-cased names, values as sent (repeats kept in order) */
  headers: [string, string][];
  body: string;
  /** the whole request arrived (not cut off mid-body) */
  complete: boolean;
}

export interface Recorder {
  port: number;
  server: Server;
  /** requests in the order their heads arrived */
  seen: Seen[];
  /** most requests in progress at once since the last reset */
  maxInFlight: number;
  reset(): void;
  close(): Promise<void>;
}

/**
 * A backend that records what reaches it: method, target, headers and body bytes of every request, in arrival
 * order, and how many were in progress at once. `?ms=N` delays the answer N ms. It answers 200 with
 * `METHOD URL bodyLength` as text, so a client can match answers to requests.
 */
export async function startRecorder(ip: string): Promise<Recorder> {
  const sockets = new Set<Socket>();
  let inFlight = 0;
  const recorder: Recorder = {
    port: 0,
    seen: [],
    maxInFlight: 0,
    server: createServer({ maxHeaderSize: 64 * 1024 }, (req, res) => {
      inFlight++;
      recorder.maxInFlight = Math.max(recorder.maxInFlight, inFlight);
      const headers: [string, string][] = [];
      for (let i = 0; i < req.rawHeaders.length; i += 2)
        headers.push([req.rawHeaders[i]!.toLowerCase(), req.rawHeaders[i + 1]!]);
      const entry: Seen = { method: req.method ?? "", url: req.url ?? "", headers, body: "", complete: false };
      recorder.seen.push(entry);
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("error", () => undefined);
      req.on("close", () => {
        if (!entry.complete) inFlight--;
      });
      req.on("end", () => {
        entry.complete = true;
        entry.body = Buffer.concat(chunks).toString("latin1");
        const ms = Number(/[?&]ms=(\d+)/.exec(entry.url)?.[1] ?? "0");
        setTimeout(() => {
          inFlight--;
          const text = `${entry.method} ${entry.url} ${entry.body.length}\n`;
          res.writeHead(200, { "content-type": "text/plain", "content-length": Buffer.byteLength(text) });
          res.end(text);
        }, ms);
      });
    }),
    reset() {
      recorder.seen = [];
      recorder.maxInFlight = 0;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => recorder.server.close(() => r()));
    },
  };
  recorder.server.on("connection", (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    recorder.server.once("error", reject);
    recorder.server.listen(0, ip, () => resolve());
  });
  recorder.port = (recorder.server.address() as AddressInfo).port;
  return recorder;
}

/** The value of the first header named `name` (lower case) a recorded request carried, and how many there were. */
export function header(seen: Seen, name: string): { value: string | undefined; count: number } {
  const all = seen.headers.filter(([n]) => n === name);
  return { value: all[0]?.[1], count: all.length };
}
