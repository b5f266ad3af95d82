import type { Store } from "../store/store.ts";
import { translateDns } from "./dns/index.ts";
import { translateIngress } from "./ingress/index.ts";
import { translateNode } from "./node.ts";
import type { TranslateOptions } from "./options.ts";
import { ServiceTranslator } from "./services.ts";
import type { Snapshot } from "./snapshot.ts";

/**
 * Builds snapshots from the store. Pure apart from its memo: the service translator reuses
 * per-Service results whose inputs (same object identities) did not change, so a one-endpoint
 * change does not re-translate ten thousand Services.
 */
export class Translator {
  private readonly services = new ServiceTranslator();
  private generation = 0;

  private readonly options: TranslateOptions;

  constructor(options: TranslateOptions) {
    this.options = options;
  }

  build(store: Store): Snapshot {
    const node = translateNode(store, this.options);
    const services = this.services.translate(store, this.options, node);
    const ingress = translateIngress(store, this.options, node);
    const dns = translateDns(store, this.options);
    return {
      generation: ++this.generation,
      node,
      services: services.services,
      servicePorts: services.servicePorts,
      healthChecks: services.healthChecks,
      ingress: ingress.snapshot,
      dns: dns.snapshot,
      problems: [...services.problems, ...ingress.problems, ...dns.problems],
    };
  }
}
