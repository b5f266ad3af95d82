import type { Service } from "../model/k8s.ts";
import type { Problem } from "../model/problems.ts";
import type { Store } from "../store/store.ts";
import type { TranslateOptions } from "./options.ts";
import type { HealthCheckSnapshot, NodeSnapshot, ServicePortSnapshot } from "./snapshot.ts";

export interface ServicesResult {
  services: Service[];
  servicePorts: ServicePortSnapshot[];
  healthChecks: HealthCheckSnapshot[];
  problems: Problem[];
}

/** Services + EndpointSlices → service proxy frontends and endpoints (design §2). Filled in by the foundation work. */
export class ServiceTranslator {
  translate(store: Store, _options: TranslateOptions, _node: NodeSnapshot): ServicesResult {
    return { services: [...store.list("Service")], servicePorts: [], healthChecks: [], problems: [] };
  }
}
