import type { Problem } from "../../model/problems.ts";
import { EMPTY_GATEWAY, type GatewaySnapshot } from "../../snapshot/gateway.ts";
import type { NodeSnapshot } from "../../snapshot/snapshot.ts";
import type { Store } from "../../store/store.ts";
import type { TranslateOptions } from "../options.ts";

/** the same array every build, so the Translator's problem memo sees no change */
const NO_PROBLEMS: Problem[] = [];

/**
 * Gateway API objects of our GatewayClasses → the gateway part of the snapshot (docs/gateway.md).
 * Placeholder until the translator lands: serves nothing.
 */
export class GatewayTranslator {
  translate(
    _store: Store,
    _options: TranslateOptions,
    _node: NodeSnapshot,
  ): { snapshot: GatewaySnapshot; problems: Problem[] } {
    return { snapshot: EMPTY_GATEWAY, problems: NO_PROBLEMS };
  }

  close(): void {}
}
