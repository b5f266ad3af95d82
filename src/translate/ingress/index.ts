import type { Problem } from "../../model/problems.ts";
import type { Store } from "../../store/store.ts";
import type { TranslateOptions } from "../options.ts";
import type { NodeSnapshot } from "../snapshot.ts";
import { EMPTY_INGRESS, type IngressSnapshot } from "./model.ts";

/** Ingress → route table. The ingress issue replaces this with the real translator. */
export function translateIngress(
  _store: Store,
  _options: TranslateOptions,
  _node: NodeSnapshot,
): { snapshot: IngressSnapshot; problems: Problem[] } {
  return { snapshot: EMPTY_INGRESS, problems: [] };
}
