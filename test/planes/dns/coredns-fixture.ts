import { Store } from "../../../src/store/store.ts";
import { pod, service, slice } from "../../translate/dns/fixtures.ts";

/**
 * CoreDNS's fake API objects for its `kubernetes` plugin tests, as Kubernetes manifests:
 * `APIConnServeTest` (plugin/kubernetes/handler_test.go: svcIndex, epsIndex, PodIndex) and
 * `APIConnReverseTest` (plugin/kubernetes/reverse_test.go). CoreDNS's fakes hold v1 Endpoints
 * (subsets); here each subset is an EndpointSlice per address family, as the EndpointSlice
 * controller would write it. Port protocols are Kubernetes' upper case ("TCP" for CoreDNS's "tcp").
 */

const http = [{ name: "http", protocol: "TCP", port: 80 }];

/** APIConnServeTest: the objects of handler_test.go, handler_case_test.go and the pod-mode tests. */
export function coreDnsServeStore(): Store {
  const store = new Store();
  store.batch(() => {
    store.upsert(
      "Service",
      service("kube-system", "kubedns", {
        clusterIP: "10.0.0.10",
        clusterIPs: ["10.0.0.10"],
        ports: [{ name: "dns", protocol: "UDP", port: 53 }],
      }),
    );
    store.upsert(
      "EndpointSlice",
      slice(
        "kube-system",
        "kubedns",
        "kubedns-1",
        [{ addresses: ["172.0.0.100"] }],
        [{ name: "dns", protocol: "UDP", port: 53 }],
      ),
    );
    store.upsert(
      "Service",
      service("testns", "svc1", { clusterIP: "10.0.0.1", clusterIPs: ["10.0.0.1"], ports: http }),
    );
    store.upsert(
      "EndpointSlice",
      slice("testns", "svc1", "svc1-slice1", [{ addresses: ["172.0.0.1"], hostname: "ep1a" }], http),
    );
    store.upsert(
      "Service",
      service("testns", "svcempty", { clusterIP: "10.0.0.1", clusterIPs: ["10.0.0.1"], ports: http }),
    );
    store.upsert("EndpointSlice", slice("testns", "svcempty", "svcempty-slice1", [], http));
    store.upsert(
      "Service",
      service("testns", "svc6", { clusterIP: "1234:abcd::1", clusterIPs: ["1234:abcd::1"], ports: http }),
    );
    // hdls1: no Service ports; its endpoints carry port http/80
    store.upsert("Service", service("testns", "hdls1", { clusterIP: "None", clusterIPs: ["None"] }));
    store.upsert(
      "EndpointSlice",
      slice(
        "testns",
        "hdls1",
        "hdls1-slice1",
        [
          { addresses: ["172.0.0.2"] },
          { addresses: ["172.0.0.3"] },
          { addresses: ["172.0.0.4"], hostname: "dup-name" },
          { addresses: ["172.0.0.5"], hostname: "dup-name" },
        ],
        http,
      ),
    );
    store.upsert(
      "EndpointSlice",
      slice(
        "testns",
        "hdls1",
        "hdls1-slice2",
        [{ addresses: ["5678:abcd::1"] }, { addresses: ["5678:abcd::2"] }],
        http,
        "IPv6",
      ),
    );
    store.upsert(
      "Service",
      service("testns", "external", { type: "ExternalName", externalName: "ext.interwebs.test", ports: http }),
    );
    store.upsert(
      "Service",
      service("testns", "external-to-service", {
        type: "ExternalName",
        externalName: "svc1.testns.svc.cluster.local.",
        ports: http,
      }),
    );
    // hdlsprtls: a headless Service whose endpoint has no port (CoreDNS's Port -1)
    store.upsert("Service", service("testns", "hdlsprtls", { clusterIP: "None", clusterIPs: ["None"] }));
    store.upsert(
      "EndpointSlice",
      slice("testns", "hdlsprtls", "hdlsprtls-slice1", [{ addresses: ["172.0.0.20"] }], []),
    );
    store.upsert(
      "Service",
      service("unexposedns", "svc1", { clusterIP: "10.0.0.2", clusterIPs: ["10.0.0.2"], ports: http }),
    );
    store.upsert(
      "Service",
      service("testns", "svc-dual-stack", { clusterIP: "10.0.0.3", clusterIPs: ["10.0.0.3", "10::3"], ports: http }),
    );
    // PodIndex: the one pod CoreDNS's fake knows (the pod modes' `podns` namespace)
    store.upsert("Pod", pod("podns", "foo", ["10.240.0.1"]));
  });
  return store;
}

/**
 * APIConnReverseTest: svc1 (clusterIP 192.168.1.100) with three slices, one repeating an address of
 * another (EndpointSlice skew), and svc2 sharing an endpoint with svc1. CoreDNS's fake has endpoints
 * for svc2 without a Service; here svc2 is a ClusterIP Service whose clusterIP no row asks about.
 */
export function coreDnsReverseStore(): Store {
  const store = new Store();
  store.batch(() => {
    store.upsert(
      "Service",
      service("testns", "svc1", { clusterIP: "192.168.1.100", clusterIPs: ["192.168.1.100"], ports: http }),
    );
    store.upsert(
      "EndpointSlice",
      slice(
        "testns",
        "svc1",
        "svc1-slice1",
        [
          { addresses: ["10.0.0.100"], hostname: "ep1a" },
          { addresses: ["10.0.0.99"], hostname: "double-ep" },
        ],
        http,
      ),
    );
    store.upsert(
      "EndpointSlice",
      slice(
        "testns",
        "svc1",
        "svc1-slice2",
        [
          { addresses: ["1234:abcd::1"], hostname: "ep1b" },
          { addresses: ["fd00:77:30::a"], hostname: "ip6svc1ex" },
          { addresses: ["fd00:77:30::2:9ba6"], hostname: "ip6svc1in" },
        ],
        http,
        "IPv6",
      ),
    );
    store.upsert(
      "EndpointSlice",
      slice("testns", "svc1", "svc1-ccccc", [{ addresses: ["10.0.0.100"], hostname: "ep1a" }], http),
    );
    store.upsert(
      "Service",
      service("testns", "svc2", { clusterIP: "192.168.1.101", clusterIPs: ["192.168.1.101"], ports: http }),
    );
    store.upsert(
      "EndpointSlice",
      slice("testns", "svc2", "svc2-slice1", [{ addresses: ["10.0.0.99"], hostname: "double-ep" }], http),
    );
  });
  return store;
}
