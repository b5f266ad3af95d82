/**
 * Helpers for the rule-compiler tests (references, backends, http-rules, precedence): a store from
 * objects, the conformance suite's Services, and a small reference matcher that picks the first rule a
 * request matches, the way the specification describes it.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import type { GRPCRoute, HTTPRoute, ReferenceGrant } from "../../../src/model/gateway.ts";
import type { KindMap } from "../../../src/model/k8s.ts";
import type { HttpRouteRule } from "../../../src/snapshot/gateway.ts";
import { Store } from "../../../src/store/store.ts";

export type Obj = { kind: keyof KindMap } & KindMap[keyof KindMap];

export const INFRA = "gateway-conformance-infra";
export const WEB = "gateway-conformance-web-backend";
export const APP = "gateway-conformance-app-backend";

export function storeOf(objects: readonly Obj[]): Store {
  const store = new Store();
  for (const obj of objects) store.upsert(obj.kind, obj as never);
  return store;
}

export interface PortSpec {
  port: number;
  name?: string;
  targetPort?: number;
  appProtocol?: string;
  protocol?: string;
}

/** A Service and one EndpointSlice with a ready endpoint per IP (the slice ports carry the targetPorts). */
export function service(
  name: string,
  namespace: string,
  options: { ports?: PortSpec[]; ips?: string[]; type?: string; conditions?: Record<string, boolean>[] } = {},
): Obj[] {
  const ports = options.ports ?? [{ port: 8080, name: "http", targetPort: 3000 }];
  const ips = options.ips ?? ["10.0.0.1"];
  return [
    {
      kind: "Service",
      metadata: { namespace, name },
      spec: {
        ...(options.type ? { type: options.type } : {}),
        ports: ports.map((p) => ({
          port: p.port,
          ...(p.name !== undefined ? { name: p.name } : {}),
          targetPort: p.targetPort ?? p.port,
          ...(p.appProtocol ? { appProtocol: p.appProtocol } : {}),
          ...(p.protocol ? { protocol: p.protocol } : {}),
        })),
      },
    },
    {
      kind: "EndpointSlice",
      metadata: { namespace, name: `${name}-abc`, labels: { "kubernetes.io/service-name": name } },
      addressType: "IPv4",
      ports: ports.map((p) => ({ name: p.name ?? "", port: p.targetPort ?? p.port, protocol: p.protocol ?? "TCP" })),
      endpoints: ips.map((ip, i) => ({
        addresses: [ip],
        conditions: options.conditions?.[i] ?? { ready: true },
      })),
    },
  ];
}

/** The conformance suite's backends: infra-backend-v1..v3, web-backend, app-backend-v1/v2 (port 8080). */
export function conformanceServices(): Obj[] {
  return [
    // as conformance/base/manifests.yaml: a plain, an h2c and a WebSocket port
    ...service("infra-backend-v1", INFRA, {
      ips: ["10.1.0.1"],
      ports: [
        { port: 8080, name: "first-port", targetPort: 3000 },
        { port: 8081, name: "second-port", targetPort: 3001, appProtocol: "kubernetes.io/h2c" },
        { port: 8082, name: "third-port", targetPort: 3000, appProtocol: "kubernetes.io/ws" },
      ],
    }),
    ...service("infra-backend-v2", INFRA, { ips: ["10.1.0.2"] }),
    ...service("infra-backend-v3", INFRA, { ips: ["10.1.0.3"] }),
    ...service("web-backend", WEB, { ips: ["10.2.0.1"] }),
    ...service("app-backend-v1", APP, { ips: ["10.3.0.1"] }),
    ...service("app-backend-v2", APP, { ips: ["10.3.0.2"] }),
  ];
}

export function httpRoute(
  name: string,
  spec: HTTPRoute["spec"],
  meta: { namespace?: string; created?: string } = {},
): HTTPRoute & { kind: "HTTPRoute" } {
  return route("HTTPRoute", name, spec, meta);
}

export function grpcRoute(
  name: string,
  spec: GRPCRoute["spec"],
  meta: { namespace?: string; created?: string } = {},
): GRPCRoute & { kind: "GRPCRoute" } {
  return route("GRPCRoute", name, spec, meta);
}

/** A route of generation 1 in INFRA (unless said otherwise), attached to Gateway same-namespace unless `spec` says otherwise. */
function route<K extends string, S extends object | undefined>(
  kind: K,
  name: string,
  spec: S,
  meta: { namespace?: string; created?: string },
) {
  return {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind,
    metadata: {
      namespace: meta.namespace ?? INFRA,
      name,
      creationTimestamp: meta.created ?? "2026-01-01T00:00:00Z",
      generation: 1,
    },
    spec: { parentRefs: [{ name: "same-namespace" }], ...spec },
  };
}

export function grant(
  name: string,
  namespace: string,
  spec: NonNullable<ReferenceGrant["spec"]>,
): ReferenceGrant & { kind: "ReferenceGrant" } {
  return {
    apiVersion: "gateway.networking.k8s.io/v1beta1",
    kind: "ReferenceGrant",
    metadata: { namespace, name },
    spec,
  };
}

export interface TestRequest {
  path: string;
  method?: string;
  headers?: Record<string, string>;
  query?: Record<string, string>;
}

/**
 * The first rule (in the given order) that matches the request: the reference semantics of the spec —
 * Exact path, PathPrefix element-wise, RegularExpression on the whole path; headers by lowercase name
 * (Exact or RegularExpression); query parameters by exact name, first value; method.
 */
export function firstMatch(rules: readonly HttpRouteRule[], req: TestRequest): HttpRouteRule | undefined {
  const headers = new Map(Object.entries(req.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
  const query = new Map(Object.entries(req.query ?? {}));
  return rules.find((rule) => {
    const p = rule.path;
    const pathOk =
      p.type === "Exact"
        ? req.path === p.value
        : p.type === "PathPrefix"
          ? p.value === "/" || req.path === p.value || req.path.startsWith(`${p.value}/`)
          : new RegExp(p.value).test(req.path);
    if (!pathOk) return false;
    if (rule.method !== undefined && rule.method !== (req.method ?? "GET")) return false;
    const valueOk = (m: HttpRouteRule["headers"][number], got: string | undefined) =>
      got !== undefined && (m.type === "Exact" ? got === m.value : new RegExp(m.value).test(got));
    return (
      rule.headers.every((h) => valueOk(h, headers.get(h.name))) &&
      rule.queryParams.every((q) => valueOk(q, query.get(q.name)))
    );
  });
}

/** The Service names of a rule's backends that can receive traffic (weight > 0, valid). */
export function backendNames(rule: HttpRouteRule | undefined): string[] {
  return (rule?.backends ?? []).filter((b) => b.weight > 0 && b.target).map((b) => b.target!.service);
}

/** The objects of a copied conformance manifest (test/translate/gateway/conformance/<name>.yaml). */
export function conformanceManifest(name: string): Obj[] {
  const text = readFileSync(join(import.meta.dirname, "conformance", `${name}.yaml`), "utf8");
  return parseAllDocuments(text)
    .map((d) => d.toJS() as Obj | null)
    .filter((o): o is Obj => o !== null);
}
