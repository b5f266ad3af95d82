import type { Problem } from "../../model/problems.ts";
import type { Store } from "../../store/store.ts";
import type { TranslateOptions } from "../options.ts";
import { type DnsSnapshot, EMPTY_DNS } from "./model.ts";

/** Services/slices/pods → DNS answer index. The DNS issue replaces this with the real translator. */
export function translateDns(
  _store: Store,
  _options: TranslateOptions,
): { snapshot: DnsSnapshot; problems: Problem[] } {
  return { snapshot: EMPTY_DNS, problems: [] };
}
