import type { Config } from "../../config.ts";
import type { Logger } from "../../log.ts";
import type { Store } from "../../store/store.ts";
import type { Source } from "../source.ts";

/** Placeholder until the manifests source lands (foundation issue). */
export class ManifestsSource implements Source {
  readonly name = "manifests";
  constructor(_config: Config, _logger: Logger) {}
  async start(_store: Store): Promise<void> {
    throw new Error("manifests source is being built");
  }
  async stop(): Promise<void> {}
  healthy(): boolean {
    return false;
  }
}
