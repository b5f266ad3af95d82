import type { EndpointSlice, Service } from "../model/k8s.ts";
import type { Problem } from "../model/problems.ts";
import type { Store } from "../store/store.ts";
import type { TranslateOptions } from "./options.ts";
import { type ServiceTranslation, translateService } from "./services/service.ts";
import type { HealthCheckSnapshot, NodeSnapshot, ServicePortSnapshot } from "./snapshot.ts";

export interface ServicesResult {
  services: Service[];
  servicePorts: ServicePortSnapshot[];
  healthChecks: HealthCheckSnapshot[];
  problems: Problem[];
}

interface Memo {
  service: Service;
  slices: readonly EndpointSlice[];
  context: string;
  result: ServiceTranslation;
}

/**
 * Services + EndpointSlices → service proxy frontends and endpoints (design §2).
 *
 * Each Service is translated by the pure `translateService`; the result is remembered against the
 * identity of its inputs (the Service object, its slice objects, and the node facts it reads). The
 * store replaces objects rather than mutating them, so an unchanged Service yields the very same
 * ServicePortSnapshot objects on the next build: cheap for 10k Services, and planes can skip
 * anything identical by reference.
 */
export class ServiceTranslator {
  private memo = new Map<string, Memo>();
  private sortedKeys: string[] = [];
  private last: ServicesResult | undefined;

  translate(store: Store, options: TranslateOptions, node: NodeSnapshot): ServicesResult {
    const context = contextKey(node, options);
    const nextMemo = new Map<string, Memo>();
    let changed = this.last === undefined;
    const byKey = new Map<string, Service>();
    for (const service of store.list("Service")) byKey.set(serviceKey(service), service);
    let keys = this.sortedKeys;
    if (byKey.size !== this.memo.size || keys.some((k) => !byKey.has(k))) {
      keys = [...byKey.keys()].sort(compareServiceKeys);
      changed = true;
    }

    const services: Service[] = [];
    for (const key of keys) {
      const service = byKey.get(key)!;
      const slices = store.slicesFor(key);
      const previous = this.memo.get(key);
      let entry: Memo;
      if (
        previous &&
        previous.service === service &&
        previous.context === context &&
        sameList(previous.slices, slices)
      ) {
        entry = previous;
      } else {
        entry = {
          service,
          slices,
          context,
          result: translateService(service, slices, {
            node,
            ...(options.serviceProxyName !== undefined ? { serviceProxyName: options.serviceProxyName } : {}),
          }),
        };
        changed = true;
      }
      nextMemo.set(key, entry);
      services.push(service);
    }
    this.memo = nextMemo;
    this.sortedKeys = keys;
    if (!changed && this.last) return this.last;

    const servicePorts: ServicePortSnapshot[] = [];
    const healthChecks: HealthCheckSnapshot[] = [];
    const problems: Problem[] = [];
    for (const key of keys) {
      const { result } = nextMemo.get(key)!;
      for (const port of result.ports) servicePorts.push(port);
      if (result.healthCheck) healthChecks.push(result.healthCheck);
      for (const problem of result.problems) problems.push(problem);
    }
    this.last = { services, servicePorts, healthChecks, problems };
    return this.last;
  }
}

function serviceKey(service: Service): string {
  return `${service.metadata?.namespace ?? "default"}/${service.metadata?.name ?? ""}`;
}

/** namespace first, then name: plain string order of "ns/name" would put "a-b/x" before "a/x". */
function compareServiceKeys(a: string, b: string): number {
  const [an, aname] = splitKey(a);
  const [bn, bname] = splitKey(b);
  if (an !== bn) return an < bn ? -1 : 1;
  return aname < bname ? -1 : aname > bname ? 1 : 0;
}

function splitKey(key: string): [string, string] {
  const slash = key.indexOf("/");
  return [key.slice(0, slash), key.slice(slash + 1)];
}

function sameList<T>(a: readonly T[], b: readonly T[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function contextKey(node: NodeSnapshot, options: TranslateOptions): string {
  return JSON.stringify([node.name, node.zone ?? null, node.nodePortAddresses, options.serviceProxyName ?? null]);
}
