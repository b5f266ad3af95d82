import { request } from "node:http";
import { formatHostPort, type HostPort } from "../config.ts";

/** The admin server could not be reached or did not answer as expected: the CLI exits 1. */
export class AdminUnreachableError extends Error {}

/** Reads the JSON API of a running nodeplane (`--admin-address`). */
export class AdminClient {
  private readonly host: string;
  private readonly port: number;
  private readonly display: string;
  private readonly timeoutMs: number;

  constructor(address: HostPort, timeoutMs = 5000) {
    // a server bound to every address is reached on loopback
    this.host = address.host === "0.0.0.0" ? "127.0.0.1" : address.host === "::" ? "::1" : address.host;
    this.port = address.port;
    this.display = formatHostPort({ host: this.host, port: this.port });
    this.timeoutMs = timeoutMs;
  }

  /** GET a JSON document; `undefined` for 404 (object not found). */
  async get<T>(path: string): Promise<T | undefined> {
    let status: number;
    let text: string;
    try {
      ({ status, text } = await this.fetchText(path));
    } catch (err) {
      throw new AdminUnreachableError(
        `cannot reach nodeplane's admin server at ${this.display} (${reason(err)}); is nodeplane running? (--admin-address)`,
      );
    }
    if (status === 404) return undefined;
    if (status !== 200)
      throw new AdminUnreachableError(`admin server at ${this.display} answered ${status}: ${text.trim()}`);
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new AdminUnreachableError(`admin server at ${this.display} sent invalid JSON for ${path}`);
    }
  }

  /** node:http rather than fetch: fetch refuses some ports (6000, 6665…) a user may well pick. */
  private fetchText(path: string): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      const req = request(
        { host: this.host, port: this.port, path, headers: { accept: "application/json" }, timeout: this.timeoutMs },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }));
          res.on("error", reject);
        },
      );
      req.on("timeout", () => req.destroy(new Error(`no answer within ${this.timeoutMs} ms`)));
      req.on("error", reject);
      req.end();
    });
  }
}

function reason(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
