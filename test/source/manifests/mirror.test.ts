import { describe, expect, it } from "vitest";
import type { EndpointSlice, Endpoints } from "../../../src/model/k8s.ts";
import { MAX_ENDPOINTS_PER_SUBSET, mirrorEndpoints, sliceName } from "../../../src/source/manifests/mirror.ts";
import { compileYaml } from "../helpers.ts";

const ep = (subsets: Endpoints["subsets"], meta: Partial<NonNullable<Endpoints["metadata"]>> = {}): Endpoints => ({
  apiVersion: "v1",
  kind: "Endpoints",
  metadata: { name: "web", namespace: "default", uid: "uid-1", ...meta },
  subsets,
});

/** Slices reduced to what the table compares: type, ports and `address:ready` per endpoint. */
const brief = (slices: EndpointSlice[]) =>
  slices.map((s) => ({
    type: s.addressType,
    ports: (s.ports ?? []).map((p) => `${p.name}:${p.port}/${p.protocol}`),
    endpoints: (s.endpoints ?? []).map((e) => `${e.addresses[0]}:${e.conditions?.ready}`),
  }));

const TCP80 = [{ port: 80, protocol: "TCP" }];

const CASES: [string, Endpoints, ReturnType<typeof brief>][] = [
  ["no subsets → no slices", ep([]), []],
  [
    "ready and not-ready addresses",
    ep([{ addresses: [{ ip: "127.244.0.1" }], notReadyAddresses: [{ ip: "127.244.0.2" }], ports: TCP80 }]),
    [{ type: "IPv4", ports: [":80/TCP"], endpoints: ["127.244.0.1:true", "127.244.0.2:false"] }],
  ],
  [
    "one slice per address family",
    ep([{ addresses: [{ ip: "127.244.0.1" }, { ip: "fd00::1" }], ports: TCP80 }]),
    [
      { type: "IPv4", ports: [":80/TCP"], endpoints: ["127.244.0.1:true"] },
      { type: "IPv6", ports: [":80/TCP"], endpoints: ["fd00::1:true"] },
    ],
  ],
  [
    "one slice per subset with different ports",
    ep([
      { addresses: [{ ip: "127.244.0.1" }], ports: [{ name: "http", port: 8080, protocol: "TCP" }] },
      { addresses: [{ ip: "127.244.0.2" }], ports: [{ name: "dns", port: 53, protocol: "UDP" }] },
    ]),
    [
      { type: "IPv4", ports: ["http:8080/TCP"], endpoints: ["127.244.0.1:true"] },
      { type: "IPv4", ports: ["dns:53/UDP"], endpoints: ["127.244.0.2:true"] },
    ],
  ],
  [
    "subsets with the same ports share a slice",
    ep([
      { addresses: [{ ip: "127.244.0.1" }], ports: TCP80 },
      { notReadyAddresses: [{ ip: "127.244.0.2" }], ports: TCP80 },
    ]),
    [{ type: "IPv4", ports: [":80/TCP"], endpoints: ["127.244.0.1:true", "127.244.0.2:false"] }],
  ],
  [
    "IPv6 written long is canonicalised",
    ep([{ addresses: [{ ip: "fd00:0:0:0:0:0:0:1" }], ports: TCP80 }]),
    [{ type: "IPv6", ports: [":80/TCP"], endpoints: ["fd00::1:true"] }],
  ],
  [
    "skip-mirror label",
    ep([{ addresses: [{ ip: "127.244.0.1" }], ports: TCP80 }], {
      labels: { "endpointslice.kubernetes.io/skip-mirror": "true" },
    }),
    [],
  ],
  [
    "leader-election record",
    ep([{ addresses: [{ ip: "127.244.0.1" }], ports: TCP80 }], {
      annotations: { "control-plane.alpha.kubernetes.io/leader": "{}" },
    }),
    [],
  ],
];

describe("Endpoints mirroring", () => {
  it.each(CASES)("%s", (_title, endpoints, expected) => {
    expect(brief(mirrorEndpoints(endpoints))).toEqual(expected);
  });

  it("sets the controller's labels, owner, carried fields and deterministic names", () => {
    const endpoints = ep(
      [
        {
          addresses: [
            {
              ip: "127.244.0.1",
              hostname: "web-0",
              nodeName: "node-1",
              targetRef: { kind: "Pod", namespace: "default", name: "web-0" },
            },
          ],
          ports: [{ name: "http", port: 8080, protocol: "TCP", appProtocol: "http" }],
        },
      ],
      {
        labels: { app: "web" },
        annotations: { note: "x", "endpoints.kubernetes.io/last-change-trigger-time": "t" },
      },
    );
    const [slice] = mirrorEndpoints(endpoints);
    expect(slice).toEqual({
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: {
        name: slice!.metadata!.name,
        namespace: "default",
        labels: {
          app: "web",
          "kubernetes.io/service-name": "web",
          "endpointslice.kubernetes.io/managed-by": "endpointslicemirroring-controller.k8s.io",
        },
        annotations: { note: "x" },
        ownerReferences: [{ apiVersion: "v1", kind: "Endpoints", name: "web", uid: "uid-1", controller: true }],
      },
      addressType: "IPv4",
      endpoints: [
        {
          addresses: ["127.244.0.1"],
          conditions: { ready: true },
          hostname: "web-0",
          nodeName: "node-1",
          targetRef: { kind: "Pod", namespace: "default", name: "web-0" },
        },
      ],
      ports: [{ name: "http", port: 8080, protocol: "TCP", appProtocol: "http" }],
    });
    expect(slice!.metadata!.name).toMatch(/^web-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
    expect(mirrorEndpoints(endpoints)[0]!.metadata!.name).toBe(slice!.metadata!.name);
  });

  it("cuts long names as generateName does and truncates huge subsets", () => {
    expect(sliceName("a".repeat(80), "seed")).toHaveLength(63);
    const many = Array.from({ length: MAX_ENDPOINTS_PER_SUBSET + 5 }, (_, i) => ({
      ip: `127.244.${i >> 8}.${i & 255}`,
    }));
    const [slice] = mirrorEndpoints(ep([{ addresses: many, ports: TCP80 }]));
    expect(slice!.endpoints).toHaveLength(MAX_ENDPOINTS_PER_SUBSET);
  });

  it("mirrors in the compiler only for an existing Service without slices of its own", () => {
    const service = (name: string) =>
      `apiVersion: v1\nkind: Service\nmetadata:\n  name: ${name}\nspec:\n  selector: {app: x}\n  ports:\n  - port: 80\n`;
    const endpoints = (name: string) =>
      `apiVersion: v1\nkind: Endpoints\nmetadata:\n  name: ${name}\nsubsets:\n- addresses:\n  - ip: 127.244.0.1\n  ports:\n  - port: 8080\n`;
    const result = compileYaml(
      [
        service("with-selector"),
        endpoints("with-selector"),
        endpoints("no-service"),
        service("has-slice"),
        endpoints("has-slice"),
        "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: has-slice-1\n  labels:\n    kubernetes.io/service-name: has-slice\naddressType: IPv4\nendpoints:\n- addresses: [127.244.0.9]\n",
      ].join("---\n"),
    );
    expect(result.problems).toEqual([]);
    const slices = result.objects.EndpointSlice.map((s) => ({
      service: s.metadata?.labels?.["kubernetes.io/service-name"],
      address: s.endpoints?.[0]?.addresses[0],
      uid: s.metadata?.uid !== undefined,
    }));
    expect(slices).toEqual([
      { service: "has-slice", address: "127.244.0.9", uid: true },
      { service: "with-selector", address: "127.244.0.1", uid: true },
    ]);
    expect(result.ignored.map((i) => i.name)).toEqual(["no-service", "has-slice"]);
  });
});
