import type { EndpointSlice } from "../model/k8s.ts";
import { type Store, type StoreChange, sliceOwner } from "../store/store.ts";

/** What a translator does with one change batch of the store it follows. */
export type ChangeHandler = (store: Store, changes: readonly StoreChange[]) => void;

/**
 * One translator's subscription to the store it translates, and how far the change batches it was
 * handed reach. Translators keep "dirty" sets from those batches and revisit only what they name;
 * that is sound only when every change up to `store.revision` has been handed on. It is not for a
 * store followed for the first time, nor inside `store.batch` (the batch is delivered at its end):
 * then `behind` says so and the translator revisits everything (by identity).
 */
export class StoreFollower {
  private store: Store | undefined;
  private unsubscribe: (() => void) | undefined;
  /** the store revision up to which every change was handed on; -1 until the first build synced */
  private syncedRevision = -1;
  private readonly onChanges: ChangeHandler;

  constructor(onChanges: ChangeHandler) {
    this.onChanges = onChanges;
  }

  /** Follows `store` (and stops following any other). True when it was not followed yet: the caller drops its memo. */
  follow(store: Store): boolean {
    if (this.store === store) return false;
    this.close();
    this.store = store;
    this.syncedRevision = -1;
    this.unsubscribe = store.subscribe((changes) => {
      this.onChanges(store, changes);
      if (this.syncedRevision >= 0) this.syncedRevision = store.revision;
    });
    return true;
  }

  /** Some change has not been handed on (a store new to this follower, or a build inside a batch). */
  behind(store: Store): boolean {
    return store.revision !== this.syncedRevision;
  }

  /** Every change up to now is accounted for: call at the end of a build. */
  synced(store: Store): void {
    this.syncedRevision = store.revision;
  }

  /** Stops following, so a dropped translator can be collected. */
  close(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.store = undefined;
  }
}

/**
 * Adds to `services` the keys of the Services an EndpointSlice change concerns: the one the slice
 * belonged to and the one it belongs to now (a relabelled slice moves between them).
 */
export function addSliceOwners(store: Store, change: StoreChange, services: Set<string>): void {
  const before = change.previous ? sliceOwner(change.previous as EndpointSlice) : undefined;
  if (before) services.add(before);
  const slice = store.get("EndpointSlice", change.key);
  const owner = slice ? sliceOwner(slice) : undefined;
  if (owner) services.add(owner);
}
