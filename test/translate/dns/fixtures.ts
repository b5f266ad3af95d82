import type { EndpointSlice, Pod, Service } from "../../../src/model/k8s.ts";
import type { PodRecordMode } from "../../../src/snapshot/dns.ts";
import { Store } from "../../../src/store/store.ts";
import type { TranslateOptions } from "../../../src/translate/options.ts";
import { translateOptions } from "../../support/options.ts";

/** Shared DNS fixtures: the lab's objects plus one of every record form of the DNS specification. */

export function options(dnsPods: PodRecordMode = "insecure", clusterDomain = "cluster.local"): TranslateOptions {
  return translateOptions({ dnsPods, clusterDomain });
}

export function service(
  ns: string,
  name: string,
  spec: Service["spec"],
  annotations?: Record<string, string>,
): Service {
  return { apiVersion: "v1", kind: "Service", metadata: { namespace: ns, name, annotations }, spec };
}

export function slice(
  ns: string,
  service: string,
  name: string,
  endpoints: EndpointSlice["endpoints"],
  ports: EndpointSlice["ports"],
  addressType = "IPv4",
): EndpointSlice {
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: { namespace: ns, name, labels: { "kubernetes.io/service-name": service } },
    addressType,
    endpoints,
    ports,
  };
}

export function pod(ns: string, name: string, ips: string[], phase = "Running"): Pod {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { namespace: ns, name },
    status: { phase, podIPs: ips.map((ip) => ({ ip })) },
  };
}

/** The lab plus every record form of the DNS specification. */
export function labStore(): Store {
  const store = new Store();
  store.batch(() => {
    store.upsert(
      "Service",
      service("default", "kubernetes", { clusterIP: "10.96.0.1", ports: [{ name: "https", port: 443 }] }),
    );
    store.upsert(
      "Service",
      service("default", "my-nginx", {
        clusterIP: "10.96.0.10",
        ports: [{ name: "http", port: 80, protocol: "TCP" }, { port: 8080 }],
      }),
    );
    store.upsert(
      "EndpointSlice",
      slice(
        "default",
        "my-nginx",
        "my-nginx-abc",
        [
          { addresses: ["10.244.0.5"], conditions: { ready: true } },
          { addresses: ["10.244.0.6"], conditions: { ready: false } },
        ],
        [{ name: "http", port: 8080, protocol: "TCP" }],
      ),
    );
    store.upsert(
      "Service",
      service("default", "dual", {
        clusterIP: "10.96.0.20",
        clusterIPs: ["10.96.0.20", "fd00:96::20"],
        ports: [{ name: "dns", port: 53, protocol: "UDP" }],
      }),
    );
    store.upsert("Service", service("web", "headless", { clusterIP: "None", ports: [{ name: "http", port: 80 }] }));
    store.upsert(
      "EndpointSlice",
      slice(
        "web",
        "headless",
        "headless-1",
        [
          { addresses: ["10.244.1.1"], hostname: "web-0", conditions: { ready: true } },
          { addresses: ["10.244.1.2"], hostname: "Web-1" },
          { addresses: ["10.244.1.3"], conditions: { ready: false }, hostname: "web-2" },
          { addresses: ["10.244.1.4"], conditions: { ready: true } },
        ],
        [{ name: "http", port: 8080, protocol: "TCP" }],
      ),
    );
    store.upsert(
      "EndpointSlice",
      slice(
        "web",
        "headless",
        "headless-v6",
        [{ addresses: ["FD00:0:0::1:1"], hostname: "web-0" }],
        [{ name: "http", port: 8080, protocol: "TCP" }],
        "IPv6",
      ),
    );
    store.upsert(
      "Service",
      service("web", "empty-headless", { clusterIP: "None", ports: [{ name: "http", port: 80 }] }),
    );
    store.upsert(
      "EndpointSlice",
      slice(
        "web",
        "empty-headless",
        "empty-1",
        [{ addresses: ["10.244.2.1"], conditions: { ready: false } }],
        [{ name: "http", port: 80 }],
      ),
    );
    store.upsert("Service", service("web", "unready-ok", { clusterIP: "None", publishNotReadyAddresses: true }));
    store.upsert(
      "EndpointSlice",
      slice("web", "unready-ok", "unready-1", [{ addresses: ["10.244.3.1"], conditions: { ready: false } }], []),
    );
    store.upsert("Service", service("web", "ext", { type: "ExternalName", externalName: "WWW.Example.COM." }));
    store.upsert("Service", service("web", "bad-ext", { type: "ExternalName", externalName: "192.0.2.1" }));
    store.upsert("Pod", pod("default", "busybox", ["10.244.0.9"]));
    store.upsert("Pod", pod("default", "done", ["10.244.0.99"], "Succeeded"));
  });
  return store;
}
