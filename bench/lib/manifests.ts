import { parseAllDocuments } from "yaml";
import type { EndpointSlice, Service } from "../../src/model/k8s.ts";

/** What the harness needs to know of examples/bench: where the backend listens and what nodeplane serves. */
export interface BenchCluster {
  backendPort: number;
  /** the Service's ClusterIP and port: the L4 target */
  clusterIP: string;
  servicePort: number;
  /** A records nodeplane's DNS serves for the Services with a ClusterIP; BIND and dnsmasq get the same */
  records: { name: string; ip: string }[];
  /** the port of the Gateway's first listener (the gateway-keepalive target), when the file has a Gateway */
  gatewayPort?: number;
}

/** Reads the bench manifests (multi-document YAML text). Throws naming what is missing. */
export function readBenchCluster(text: string, clusterDomain: string): BenchCluster {
  const docs = parseAllDocuments(text).map((d) => d.toJS() as { kind?: string } | null);
  const services = docs.filter((d): d is Service => d?.kind === "Service");
  const slices = docs.filter((d): d is EndpointSlice => d?.kind === "EndpointSlice");
  const backend = services.find((s) => s.metadata?.name === "backend");
  if (!backend) throw new Error("examples/bench: no Service named backend");
  const clusterIP = backend.spec?.clusterIP;
  const servicePort = backend.spec?.ports?.[0]?.port;
  if (!clusterIP || !servicePort) throw new Error("examples/bench: Service backend needs spec.clusterIP and a port");
  const slice = slices.find((s) => s.metadata?.labels?.["kubernetes.io/service-name"] === "backend");
  const backendPort = slice?.ports?.[0]?.port;
  if (!backendPort) throw new Error("examples/bench: no EndpointSlice with a port for Service backend");
  const records = services
    .filter((s) => s.spec?.clusterIP && s.spec.clusterIP !== "None")
    .map((s) => ({
      name: `${s.metadata?.name}.${s.metadata?.namespace ?? "default"}.svc.${clusterDomain}`,
      ip: s.spec!.clusterIP!,
    }));
  const gateway = docs.find((d) => d?.kind === "Gateway") as { spec?: { listeners?: { port?: number }[] } } | undefined;
  const gatewayPort = gateway?.spec?.listeners?.[0]?.port;
  return { backendPort, clusterIP, servicePort, records, ...(gatewayPort ? { gatewayPort } : {}) };
}

/** Zone-file lines (relative to the cluster domain) for BIND. */
export function zoneRecords(records: BenchCluster["records"], clusterDomain: string): string {
  const suffix = `.${clusterDomain}`;
  return records
    .map((r) => {
      const rel = r.name.endsWith(suffix) ? r.name.slice(0, -suffix.length) : `${r.name}.`;
      return `${rel} IN A ${r.ip}`;
    })
    .join("\n");
}

/** dnsmasq `host-record=` lines. */
export function dnsmasqHostRecords(records: BenchCluster["records"]): string {
  return records.map((r) => `host-record=${r.name},${r.ip}`).join("\n");
}
