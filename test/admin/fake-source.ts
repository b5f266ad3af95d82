import type { KindMap } from "../../src/model/k8s.ts";
import type { Problem } from "../../src/model/problems.ts";
import type { Source } from "../../src/source/source.ts";
import type { Store } from "../../src/store/store.ts";

export type SeedObject = { [K in keyof KindMap]: { kind: K; object: KindMap[K] } }[keyof KindMap];

/** An in-memory Source: fills the store with the given objects; health and problems set by the test. */
export class FakeSource implements Source {
  readonly name = "fake";
  healthyNow = true;
  reported: Problem[] = [];
  store: Store | undefined;
  private readonly seed: readonly SeedObject[];

  constructor(seed: readonly SeedObject[]) {
    this.seed = seed;
  }

  async start(store: Store): Promise<void> {
    this.store = store;
    store.batch(() => {
      for (const s of this.seed) store.upsert(s.kind, s.object as never);
    });
  }

  async stop(): Promise<void> {}

  healthy(): boolean {
    return this.healthyNow;
  }

  problems(): readonly Problem[] {
    return this.reported;
  }
}
