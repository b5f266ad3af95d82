import { parseAllDocuments } from "yaml";
import type { EndpointSlice, KindMap, Service, SliceEndpoint } from "../../../src/model/k8s.ts";
import type { Endpoint, Frontend, NodeSnapshot, ServicePortSnapshot } from "../../../src/snapshot/snapshot.ts";
import { Store } from "../../../src/store/store.ts";
import type { TranslateOptions } from "../../../src/translate/options.ts";
import { type ServicesResult, ServiceTranslator } from "../../../src/translate/services/translator.ts";
import { translateOptions } from "../../support/options.ts";

/** This node in every fixture unless a row says otherwise. */
export const NODE: NodeSnapshot = {
  name: "node-a",
  zone: "zone-a",
  nodePortAddresses: ["192.168.1.10", "fd00::10"],
  addresses: ["192.168.1.10", "fd00::10"],
};

export const OPTIONS: TranslateOptions = translateOptions({ dnsPods: "disabled" });

type Manifest = Service | EndpointSlice;

/** YAML (multi-document) or objects → a Store, as a source would fill it. */
export function storeOf(...inputs: (string | Manifest)[]): Store {
  const store = new Store();
  store.batch(() => {
    for (const input of inputs) {
      const objects =
        typeof input === "string"
          ? parseAllDocuments(input)
              .map((d) => d.toJS() as Manifest | null)
              .filter((o): o is Manifest => o !== null)
          : [input];
      for (const obj of objects) {
        obj.metadata = { namespace: "default", ...obj.metadata };
        if (obj.kind === "Service") store.upsert("Service", obj as KindMap["Service"]);
        else if (obj.kind === "EndpointSlice") store.upsert("EndpointSlice", obj as KindMap["EndpointSlice"]);
        else throw new Error(`fixture kind ${obj.kind} not handled`);
      }
    }
  });
  return store;
}

export function translate(
  store: Store,
  node: NodeSnapshot = NODE,
  options: Partial<TranslateOptions> = {},
): ServicesResult {
  return new ServiceTranslator().translate(store, { ...OPTIONS, ...options }, node);
}

export interface EndpointSpec {
  node?: string;
  zone?: string;
  ready?: boolean;
  serving?: boolean;
  terminating?: boolean;
  forZones?: string[];
  forNodes?: string[];
  hostname?: string;
  pod?: string;
}

/** Shorthand endpoint: `ep("10.0.0.1", { node: "node-a", ready: false, terminating: true })`. */
export function ep(ip: string, spec: EndpointSpec = {}): SliceEndpoint {
  const out: SliceEndpoint = { addresses: [ip] };
  const conditions: SliceEndpoint["conditions"] = {};
  if (spec.ready !== undefined) conditions.ready = spec.ready;
  if (spec.serving !== undefined) conditions.serving = spec.serving;
  if (spec.terminating !== undefined) conditions.terminating = spec.terminating;
  if (Object.keys(conditions).length > 0) out.conditions = conditions;
  if (spec.node) out.nodeName = spec.node;
  if (spec.zone) out.zone = spec.zone;
  if (spec.hostname) out.hostname = spec.hostname;
  if (spec.pod) out.targetRef = { kind: "Pod", name: spec.pod };
  if (spec.forZones || spec.forNodes) {
    out.hints = {};
    if (spec.forZones) out.hints.forZones = spec.forZones.map((name) => ({ name }));
    if (spec.forNodes) out.hints.forNodes = spec.forNodes.map((name) => ({ name }));
  }
  return out;
}

/** An EndpointSlice for Service `service` (in `default` unless `ns/name`). */
export function slice(
  service: string,
  name: string,
  ports: { name?: string; port?: number; protocol?: string }[],
  endpoints: SliceEndpoint[],
  addressType = "IPv4",
  labels: Record<string, string> = {},
): EndpointSlice {
  const [namespace, svc] = service.includes("/") ? service.split("/") : ["default", service];
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: { namespace, name, labels: { "kubernetes.io/service-name": svc!, ...labels } },
    addressType,
    ports,
    endpoints,
  };
}

/** Compact text for a frontend: `clusterIP 10.96.0.10:80/TCP forward`, LB with `from <ranges|any>`. */
export function frontendText(f: Frontend): string {
  const host = f.ip.includes(":") ? `[${f.ip}]` : f.ip;
  const from = f.sourceRanges ? ` from ${f.sourceRanges.length > 0 ? f.sourceRanges.join(",") : "any"}` : "";
  const expectedList = f.kind === "clusterIP" ? "cluster" : "external";
  if (f.endpoints !== expectedList) throw new Error(`${f.kind} frontend uses the ${f.endpoints} list`);
  return `${f.kind} ${host}:${f.port}/${f.protocol} ${f.action}${from}${f.nodeLocalDns ? " dns" : ""}`;
}

/** Compact text for an endpoint: `10.0.0.1:8080`, with ` serving-terminating` etc. when not ready. */
export function endpointText(e: Endpoint): string {
  const host = e.ip.includes(":") ? `[${e.ip}]` : e.ip;
  const state = e.ready ? "" : e.serving && e.terminating ? " serving-terminating" : " not-ready";
  return `${host}:${e.port}${state}`;
}

export interface PortSummary {
  frontends: string[];
  cluster: string[];
  external: string[];
  affinity?: string;
  nodePort?: number;
}

/** Every ServicePortSnapshot by id, in compact text; affinity shown only when ClientIP. */
export function summarise(ports: readonly ServicePortSnapshot[]): Record<string, PortSummary> {
  const out: Record<string, PortSummary> = {};
  for (const p of ports) {
    const s: PortSummary = {
      frontends: p.frontends.map(frontendText),
      cluster: p.clusterEndpoints.map(endpointText),
      external: p.externalEndpoints.map(endpointText),
    };
    if (p.sessionAffinity.type === "ClientIP") s.affinity = `ClientIP ${p.sessionAffinity.timeoutSeconds}s`;
    if (p.nodePort !== undefined) s.nodePort = p.nodePort;
    out[p.id] = s;
  }
  return out;
}

/** Problems as `Kind ns/name field: message`. */
export function problemTexts(result: ServicesResult): string[] {
  return result.problems.map((p) => `${p.kind} ${p.namespace}/${p.name} ${p.field}: ${p.message}`);
}
