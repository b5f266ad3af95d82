import { type Logger, pino } from "pino";
import type { Config } from "./config.ts";

export type { Logger };

export function createLogger(config: Pick<Config, "logLevel" | "logFormat">): Logger {
  if (config.logFormat === "pretty") {
    return pino({
      level: config.logLevel,
      transport: { target: "pino-pretty", options: { colorize: process.stdout.isTTY, translateTime: "HH:MM:ss.l" } },
    });
  }
  return pino({ level: config.logLevel, base: { pid: process.pid } });
}

/** A logger that drops everything: for tests and library use. */
export const silentLogger: Logger = pino({ level: "silent" });
