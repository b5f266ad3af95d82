import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const LOG_MODULE = fileURLToPath(new URL("../../src/log.ts", import.meta.url));

/** Logs two lines through createLogger in a child process, as `nodeplane --log-format FORMAT` would. */
function logWith(format: string): Promise<string> {
  const script = `
    const { createLogger } = await import(${JSON.stringify(LOG_MODULE)});
    const logger = createLogger({ logLevel: "info", logFormat: ${JSON.stringify(format)} });
    logger.info({ admin: "127.0.0.1:10249" }, "serving");
    logger.warn({ problem: { kind: "Service", name: "x" } }, "Service default/x: spec.ports[0].port: bad");
  `;
  return new Promise((resolve, reject) =>
    execFile(process.execPath, ["--input-type=module", "-e", script], { timeout: 20_000 }, (err, stdout) =>
      err ? reject(err) : resolve(stdout),
    ),
  );
}

describe("--log-format", () => {
  it("json: one pino JSON object per line", async () => {
    const lines = (await logWith("json"))
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(lines).toMatchObject([
      { level: 30, msg: "serving", admin: "127.0.0.1:10249" },
      { level: 40, msg: "Service default/x: spec.ports[0].port: bad" },
    ]);
  });

  it("pretty: readable lines with level and message, every line delivered before exit", async () => {
    const out = await logWith("pretty");
    expect(out).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO \(\d+\): serving$/m);
    expect(out).toMatch(/^ {4}admin: "127\.0\.0\.1:10249"$/m);
    expect(out).toMatch(/WARN \(\d+\): Service default\/x: spec\.ports\[0\]\.port: bad$/m);
    expect(out).not.toContain('{"level"');
  });
});
