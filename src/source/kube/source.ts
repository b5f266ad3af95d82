import type { Config } from "../../config.ts";
import type { Logger } from "../../log.ts";
import type { Store } from "../../store/store.ts";
import type { Source } from "../source.ts";

/** Placeholder until the Kubernetes source lands (cluster-mode issue). */
export class KubeSource implements Source {
  readonly name = "kubernetes";
  constructor(_config: Config, _logger: Logger) {}
  async start(_store: Store): Promise<void> {
    throw new Error("Kubernetes source is being built");
  }
  async stop(): Promise<void> {}
  healthy(): boolean {
    return false;
  }
}
