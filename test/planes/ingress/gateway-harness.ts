import { type AddressInfo, createServer } from "node:net";
import {
  EMPTY_GATEWAY,
  type GatewayHttpSocket,
  type GatewayVirtualHost,
  type HttpFilter,
  type HttpRouteRule,
  type WeightedBackend,
} from "../../../src/snapshot/gateway.ts";
import type { TlsCertificate } from "../../../src/snapshot/ingress.ts";
import type { Snapshot } from "../../../src/snapshot/snapshot.ts";
import { type Harness, startIngress } from "./harness.ts";

/**
 * Gateway snapshots built by hand (the translator is T1's and tested on its own): sockets, virtual hosts,
 * rules and backends with the defaults a translated HTTPRoute would have.
 */

let created = 0;

export function rule(partial: Partial<HttpRouteRule> & { name?: string } = {}): HttpRouteRule {
  const { name, ...rest } = partial;
  return {
    route: { kind: "HTTPRoute", namespace: "default", name: name ?? `route-${created++}` },
    created: "2026-01-01T00:00:00Z",
    rule: 0,
    match: 0,
    path: { type: "PathPrefix", value: "/" },
    headers: [],
    queryParams: [],
    filters: [],
    backends: [],
    ...rest,
  };
}

export function backend(
  port: number,
  options: { weight?: number; appProtocol?: WeightedBackend["appProtocol"]; filters?: HttpFilter[]; ip?: string } = {},
): WeightedBackend {
  return {
    weight: options.weight ?? 1,
    appProtocol: options.appProtocol ?? "http",
    filters: options.filters ?? [],
    target: {
      id: `default/svc-${port}:80`,
      namespace: "default",
      service: `svc-${port}`,
      port: 80,
      endpoints: [{ ip: options.ip ?? "127.0.0.1", port }],
    },
  };
}

/** A backendRef that did not resolve (missing Service, not permitted…): picked → 500. */
export function invalidBackend(weight = 1): WeightedBackend {
  return { weight, appProtocol: "http", filters: [] };
}

export function vhost(host: string, rules: HttpRouteRule[]): GatewayVirtualHost {
  return { host, rules };
}

export function httpSocket(
  port: number,
  hosts: GatewayVirtualHost[],
  options: {
    protocol?: "HTTP" | "HTTPS";
    address?: string;
    certificates?: TlsCertificate[];
    defaultCertificate?: TlsCertificate;
  } = {},
): GatewayHttpSocket {
  const address = options.address ?? "127.0.0.1";
  return {
    id: `${address}:${port}`,
    address,
    port,
    protocol: options.protocol ?? "HTTP",
    listeners: [{ namespace: "default", gateway: "gw", listener: `l-${port}` }],
    hosts,
    certificates: options.certificates ?? [],
    ...(options.defaultCertificate ? { defaultCertificate: options.defaultCertificate } : {}),
  };
}

/** A port free right now on 127.0.0.1 (bound and released). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface GatewayHarness extends Harness {
  /** applies a snapshot whose gateway part serves `sockets` (the rest as translated from the store) */
  serve(sockets: GatewayHttpSocket[]): Promise<Snapshot>;
}

export async function startGateway(
  objects: Parameters<typeof startIngress>[0] = [],
  options: Parameters<typeof startIngress>[1] = {},
): Promise<GatewayHarness> {
  const harness = (await startIngress(objects, options)) as GatewayHarness;
  let previous = harness.snapshot;
  harness.serve = async (sockets) => {
    const next: Snapshot = { ...harness.snapshot, gateway: { ...EMPTY_GATEWAY, http: sockets } };
    await harness.plane.apply(previous, next);
    previous = next;
    harness.snapshot = next;
    return next;
  };
  return harness;
}
