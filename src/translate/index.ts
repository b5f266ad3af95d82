import type { Problem } from "../model/problems.ts";
import type { Snapshot } from "../snapshot/snapshot.ts";
import type { Store } from "../store/store.ts";
import { DnsTranslator } from "./dns/translator.ts";
import { GatewayTranslator } from "./gateway/translator.ts";
import { IngressTranslator } from "./ingress/translator.ts";
import { translateNode } from "./node.ts";
import type { TranslateOptions } from "./options.ts";
import { ServiceTranslator } from "./services/translator.ts";

export type TranslatorPart = "node" | "services" | "ingress" | "gateway" | "dns";
export type TranslatorProbe = (done: TranslatorPart) => void;

/**
 * Builds snapshots from the store. Pure apart from its memo: the service translator reuses
 * per-Service results whose inputs (same object identities) did not change, so a one-endpoint
 * change does not re-translate ten thousand Services.
 */
export class Translator {
  private readonly services = new ServiceTranslator();
  private readonly dns = new DnsTranslator();
  private readonly ingress = new IngressTranslator();
  private readonly gateway = new GatewayTranslator();
  private generation = 0;
  /** the last build's problem lists and their concatenation, reused while all three are the same arrays */
  private problems: { parts: readonly (readonly Problem[])[]; all: readonly Problem[] } | undefined;

  private readonly options: TranslateOptions;
  private readonly probe: TranslatorProbe;

  /** `probe` is told when each part is done (the benchmark reads its clocks there; translators have none). */
  constructor(options: TranslateOptions, probe: TranslatorProbe = () => {}) {
    this.options = options;
    this.probe = probe;
  }

  /** One list of problems; the same array as last time when no translator's list changed (the pipeline skips re-reporting it). */
  private allProblems(parts: readonly (readonly Problem[])[]): readonly Problem[] {
    const last = this.problems;
    if (last && parts.every((p, i) => p === last.parts[i])) return last.all;
    const all = parts.flat();
    this.problems = { parts, all };
    return all;
  }

  /** Stops following the store (the translators' change listeners), so a dropped Translator can be collected. */
  close(): void {
    this.services.close();
    this.ingress.close();
    this.gateway.close();
    this.dns.close();
  }

  build(store: Store): Snapshot {
    const node = translateNode(store, this.options);
    this.probe("node");
    const services = this.services.translate(store, this.options, node);
    this.probe("services");
    const ingress = this.ingress.translate(store, this.options, node);
    this.probe("ingress");
    const gateway = this.gateway.translate(store, this.options, node);
    this.probe("gateway");
    const dns = this.dns.translate(store, this.options);
    this.probe("dns");
    return {
      generation: ++this.generation,
      node,
      services: services.services,
      servicePorts: services.servicePorts,
      healthChecks: services.healthChecks,
      ingress: ingress.snapshot,
      gateway: gateway.snapshot,
      dns: dns.snapshot,
      problems: this.allProblems([services.problems, ingress.problems, gateway.problems, dns.problems]),
    };
  }
}
