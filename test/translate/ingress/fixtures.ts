import type { KindMap } from "../../../src/model/k8s.ts";
import type { NodeSnapshot } from "../../../src/snapshot/snapshot.ts";
import { Store } from "../../../src/store/store.ts";
import { translateIngress } from "../../../src/translate/ingress/translator.ts";
import type { TranslateOptions } from "../../../src/translate/options.ts";
import { translateOptions } from "../../support/options.ts";

export const OPTIONS: TranslateOptions = translateOptions({ localAddresses: ["192.0.2.10"] });

export const NODE: NodeSnapshot = { name: "node-a", addresses: ["192.0.2.10"], nodePortAddresses: ["192.0.2.10"] };

type Obj = { kind: keyof KindMap } & KindMap[keyof KindMap];

export function translate(objects: readonly Obj[], options: Partial<TranslateOptions> = {}) {
  const store = new Store();
  for (const obj of objects) store.upsert(obj.kind, obj as never);
  return translateIngress(store, { ...OPTIONS, ...options }, NODE);
}

/** A Service `name` with ports 80 (named http) and 8443 (named https), and one endpoint per IP on 8080/8443. */
export function svc(name: string, ips: string[] = ["10.0.0.1"], namespace = "default"): Obj[] {
  return [
    {
      kind: "Service",
      metadata: { namespace, name },
      spec: {
        ports: [
          { name: "http", port: 80, targetPort: 8080 },
          { name: "https", port: 443, targetPort: 8443 },
        ],
      },
    },
    {
      kind: "EndpointSlice",
      metadata: { namespace, name: `${name}-abc`, labels: { "kubernetes.io/service-name": name } },
      addressType: "IPv4",
      ports: [
        { name: "http", port: 8080, protocol: "TCP" },
        { name: "https", port: 8443, protocol: "TCP" },
      ],
      endpoints: ips.map((ip) => ({ addresses: [ip], conditions: { ready: true } })),
    },
  ];
}

export interface PathSpec {
  path?: string;
  pathType?: string;
  service?: string;
  port?: number | string;
}

export function ing(
  name: string,
  spec: {
    className?: string | null;
    rules?: { host?: string; paths: PathSpec[] }[];
    defaultBackend?: string;
    tls?: { hosts?: string[]; secretName?: string }[];
  },
  meta: { annotations?: Record<string, string>; created?: string; namespace?: string } = {},
): Obj {
  return {
    kind: "Ingress",
    metadata: {
      namespace: meta.namespace ?? "default",
      name,
      ...(meta.annotations ? { annotations: meta.annotations } : {}),
      ...(meta.created ? { creationTimestamp: meta.created } : {}),
    },
    spec: {
      ...(spec.className === null ? {} : { ingressClassName: spec.className ?? "nodeplane" }),
      ...(spec.defaultBackend
        ? { defaultBackend: { service: { name: spec.defaultBackend, port: { number: 80 } } } }
        : {}),
      ...(spec.tls ? { tls: spec.tls } : {}),
      ...(spec.rules
        ? {
            rules: spec.rules.map((r) => ({
              ...(r.host !== undefined ? { host: r.host } : {}),
              http: {
                paths: r.paths.map((p) => ({
                  ...(p.path !== undefined ? { path: p.path } : {}),
                  ...(p.pathType !== undefined ? { pathType: p.pathType } : {}),
                  backend: {
                    service: {
                      name: p.service ?? "web",
                      port: typeof p.port === "string" ? { name: p.port } : { number: p.port ?? 80 },
                    },
                  },
                })),
              },
            })),
          }
        : {}),
    },
  };
}
