import type { Registry } from "prom-client";
import type { Config } from "../config.ts";
import type { Logger } from "../log.ts";
import type { StatusWriter } from "../status/writer.ts";
import type { Store } from "../store/store.ts";
import type { Plane } from "./plane.ts";

/** What a plane factory gets to build its plane. */
export interface PlaneContext {
  config: Config;
  logger: Logger;
  registry: Registry;
  store: Store;
  status: StatusWriter;
}

/** Builds a plane, or returns undefined when the config turns it off. */
export type PlaneFactory = (context: PlaneContext) => Plane | undefined | Promise<Plane | undefined>;
