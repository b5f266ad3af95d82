import type { Problem } from "../model/problems.ts";
import type { Store } from "../store/store.ts";

/** Feeds the store from the Kubernetes API or a manifests folder. */
export interface Source {
  readonly name: string;
  /** Fills the store; resolves once the first full sync is done (then /readyz turns 200). */
  start(store: Store): Promise<void>;
  stop(): Promise<void>;
  /** true while the source is in sync with its origin (false e.g. while the API server is unreachable) */
  healthy(): boolean;
  /** when not healthy: why, naming what failed (shown by /readyz and /api/status) */
  unhealthyReason?(): string | undefined;
  /** Defects in the origin's objects found by the source itself (manifests: broken documents, conflicts). */
  problems?(): readonly Problem[];
}
