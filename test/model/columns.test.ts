import { describe, expect, it } from "vitest";
import { RESOURCES, resolveResource } from "../../src/admin/resources.ts";
import { formatGet, type ObjectGroup, parseGetArgs, UsageError } from "../../src/cli/get.ts";
import {
  age,
  externalIPColumn,
  humanDuration,
  ingressHostsColumn,
  ingressPortsColumn,
  listWithMore,
  renderTable,
  servicePortsColumn,
  servicesTable,
  sliceEndpointsColumn,
  slicePortsColumn,
} from "../../src/model/columns.ts";
import type { Ingress, Service } from "../../src/model/k8s.ts";

const S = 1000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;

describe("AGE (kubectl's HumanDuration)", () => {
  it.each([
    [0, "0s"],
    [-1500, "0s"],
    [-5000, "<invalid>"],
    [5 * S, "5s"],
    [119 * S, "119s"],
    [2 * M, "2m"],
    [3 * M + 20 * S, "3m20s"],
    [10 * M + 30 * S, "10m"],
    [179 * M, "179m"],
    [3 * H, "3h"],
    [5 * H + 10 * M, "5h10m"],
    [8 * H + 59 * M, "8h"],
    [47 * H, "47h"],
    [2 * D, "2d"],
    [2 * D + 4 * H, "2d4h"],
    [8 * D, "8d"],
    [400 * D, "400d"],
    [2 * 365 * D, "2y"],
    [3 * 365 * D + 20 * D, "3y20d"],
    [9 * 365 * D + 20 * D, "9y"],
  ])("%i ms → %s", (ms, text) => {
    expect(humanDuration(ms)).toBe(text);
  });

  it("counts from creationTimestamp and says <unknown> without one", () => {
    const now = new Date("2025-01-01T00:05:00Z");
    expect(age("2025-01-01T00:00:00Z", now)).toBe("5m");
    expect(age(undefined, now)).toBe("<unknown>");
    expect(age("yesterday", now)).toBe("<unknown>");
  });
});

const svc = (spec: Service["spec"], status?: Service["status"]): Service => ({ metadata: { name: "s" }, spec, status });

describe("PORT(S)", () => {
  it.each<[Service["spec"], string]>([
    [{ ports: [{ port: 80 }] }, "80/TCP"],
    [
      {
        ports: [
          { port: 53, protocol: "UDP" },
          { port: 53, protocol: "TCP" },
        ],
      },
      "53/UDP,53/TCP",
    ],
    [{ type: "NodePort", ports: [{ port: 1234, nodePort: 31234, protocol: "TCP" }] }, "1234:31234/TCP"],
    [{ ports: [] }, "<none>"],
    [{}, "<none>"],
  ])("%j → %s", (spec, text) => {
    expect(servicePortsColumn(svc(spec))).toBe(text);
  });
});

describe("EXTERNAL-IP", () => {
  it.each<[Service["spec"], Service["status"], boolean, string]>([
    [{ type: "ClusterIP" }, undefined, false, "<none>"],
    [{}, undefined, false, "<none>"],
    [{ type: "NodePort", externalIPs: ["127.5.0.1", "127.5.0.2"] }, undefined, false, "127.5.0.1,127.5.0.2"],
    [{ type: "LoadBalancer" }, undefined, false, "<pending>"],
    [{ type: "LoadBalancer" }, { loadBalancer: { ingress: [{ ip: "127.6.0.1" }] } }, false, "127.6.0.1"],
    [
      { type: "LoadBalancer" },
      { loadBalancer: { ingress: [{ hostname: "lb.example.com" }] } },
      false,
      "lb.example.com",
    ],
    [
      { type: "LoadBalancer" },
      { loadBalancer: { ingress: [{ ip: "127.6.0.101" }, { ip: "127.6.0.102" }] } },
      false,
      "127.6.0.101,1...",
    ],
    [
      { type: "LoadBalancer" },
      { loadBalancer: { ingress: [{ ip: "127.6.0.101" }, { ip: "127.6.0.102" }] } },
      true,
      "127.6.0.101,127.6.0.102",
    ],
    [
      { type: "LoadBalancer", externalIPs: ["127.5.0.9"] },
      { loadBalancer: { ingress: [{ ip: "127.6.0.1" }] } },
      false,
      "127.6.0.1,127.5.0.9",
    ],
    [{ type: "LoadBalancer", externalIPs: ["127.5.0.9"] }, undefined, false, "127.5.0.9"],
    [{ type: "ExternalName", externalName: "db.example.com" }, undefined, false, "db.example.com"],
    [{ type: "Weird" }, undefined, false, "<unknown>"],
  ])("%j %j wide=%s → %s", (spec, status, wide, text) => {
    expect(externalIPColumn(svc(spec, status), wide)).toBe(text);
  });
});

describe("EndpointSlice and Ingress columns", () => {
  it.each([
    [[], "<unset>"],
    [["a"], "a"],
    [["a", "b", "c"], "a,b,c"],
    [["a", "b", "c", "d", "e"], "a,b,c + 2 more..."],
  ])("listWithMore %j → %s", (items, text) => {
    expect(listWithMore(items)).toBe(text);
  });

  it("slice ports and endpoints", () => {
    const slice = {
      addressType: "IPv4",
      ports: [{ port: 80 }, { name: "dns" }, {}],
      endpoints: [
        { addresses: ["127.244.0.1"] },
        { addresses: ["127.244.0.2", "127.244.0.3"] },
        { addresses: ["127.244.0.4"] },
      ],
    };
    expect(slicePortsColumn(slice)).toBe("80,dns,*");
    expect(sliceEndpointsColumn(slice)).toBe("127.244.0.1,127.244.0.2,127.244.0.3 + 1 more...");
    expect(slicePortsColumn({ addressType: "IPv4" })).toBe("<unset>");
  });

  it.each<[Ingress["spec"], string, string]>([
    [{ rules: [{ host: "foo.bar.com" }] }, "foo.bar.com", "80"],
    [{ rules: [{}], tls: [{ hosts: ["x"] }] }, "*", "80, 443"],
    [{ rules: [{ host: "a" }, { host: "b" }, { host: "c" }, { host: "d" }] }, "a,b,c + 1 more...", "80"],
    [{}, "*", "80"],
  ])("ingress %j → hosts %s, ports %s", (spec, hosts, ports) => {
    const ing: Ingress = { metadata: { name: "i" }, spec };
    expect(ingressHostsColumn(ing)).toBe(hosts);
    expect(ingressPortsColumn(ing)).toBe(ports);
  });
});

describe("tables", () => {
  const now = new Date("2025-01-01T01:00:00Z");
  const services: Service[] = [
    {
      metadata: { name: "my-svc-np", namespace: "default", creationTimestamp: "2025-01-01T00:57:00Z" },
      spec: {
        type: "NodePort",
        clusterIP: "127.96.0.11",
        selector: { app: "x", tier: "web" },
        ports: [{ port: 1234, nodePort: 31234 }],
      },
    },
    { metadata: { name: "db", namespace: "prod" }, spec: { type: "ExternalName", externalName: "db.example.com" } },
  ];

  it("renders like kubectl get svc (three spaces between columns, last column unpadded)", () => {
    expect(renderTable(servicesTable(services, { wide: false, allNamespaces: false, now }))).toBe(
      [
        "NAME        TYPE           CLUSTER-IP    EXTERNAL-IP      PORT(S)          AGE",
        "my-svc-np   NodePort       127.96.0.11   <none>           1234:31234/TCP   3m",
        "db          ExternalName   <none>        db.example.com   <none>           <unknown>",
        "",
      ].join("\n"),
    );
  });

  it("adds NAMESPACE first with -A and SELECTOR last with -o wide", () => {
    const table = servicesTable(services, { wide: true, allNamespaces: true, now });
    expect(table.header).toEqual([
      "NAMESPACE",
      "NAME",
      "TYPE",
      "CLUSTER-IP",
      "EXTERNAL-IP",
      "PORT(S)",
      "AGE",
      "SELECTOR",
    ]);
    expect(table.rows[0]).toEqual([
      "default",
      "my-svc-np",
      "NodePort",
      "127.96.0.11",
      "<none>",
      "1234:31234/TCP",
      "3m",
      "app=x,tier=web",
    ]);
    expect(table.rows[1]?.[0]).toBe("prod");
    expect(table.rows[1]?.[7]).toBe("<none>");
  });
});

describe("nodeplane get arguments", () => {
  it.each<[string[], Record<string, unknown>]>([
    [
      ["svc"],
      { namespace: "default", allNamespaces: false, output: "table", admin: { host: "127.0.0.1", port: 10249 } },
    ],
    [["services", "-n", "kube-system"], { namespace: "kube-system" }],
    [["service", "-nkube-system"], { namespace: "kube-system" }],
    [["svc", "--namespace=x", "-o", "wide"], { namespace: "x", output: "wide" }],
    [["ing", "-A", "-ojson"], { allNamespaces: true, output: "json" }],
    [["ingresses.networking.k8s.io", "--output=yaml"], { output: "yaml" }],
    [
      ["endpointslice", "-o", "name", "a", "b"],
      { targets: [{ resource: { kind: "EndpointSlice" }, names: ["a", "b"] }] },
    ],
    [
      ["svc,ing,svc", "x"],
      {
        targets: [
          { resource: { kind: "Service" }, names: ["x"] },
          { resource: { kind: "Ingress" }, names: ["x"] },
        ],
      },
    ],
    [
      ["svc/a", "ingress/b", "service/c"],
      {
        targets: [
          { resource: { kind: "Service" }, names: ["a", "c"] },
          { resource: { kind: "Ingress" }, names: ["b"] },
        ],
      },
    ],
    [["svc", "--admin-address", "[::1]:9000"], { admin: { host: "::1", port: 9000 } }],
    [["svc", "--admin-address=127.0.0.2:1"], { admin: { host: "127.0.0.2", port: 1 } }],
  ])("%j", (argv, expected) => {
    expect(parseGetArgs(argv, {})).toMatchObject(expected);
  });

  it("takes the admin address from NODEPLANE_ADMIN_ADDRESS, the flag winning", () => {
    expect(parseGetArgs(["svc"], { NODEPLANE_ADMIN_ADDRESS: "127.0.0.3:1111" }).admin).toEqual({
      host: "127.0.0.3",
      port: 1111,
    });
    expect(
      parseGetArgs(["svc", "--admin-address", "127.0.0.4:2"], { NODEPLANE_ADMIN_ADDRESS: "127.0.0.3:1111" }).admin.port,
    ).toBe(2);
  });

  it.each([
    [[], "which kind"],
    [["pods"], 'unknown kind "pods"'],
    [["svc.apps"], 'unknown kind "svc.apps"'],
    [["svc", "-o", "table"], "-o"],
    [["svc", "-o", "jsonpath"], "-o"],
    [["svc", "-n"], "-n needs a value"],
    [["svc", "--watch"], "unknown flag --watch"],
    [["svc", "-Ax"], "unknown flag -Ax"],
    [["svc", "--admin-address", "nope:port"], "--admin-address"],
    [["svc/a", "b"], "KIND/NAME"],
    [["svc", "ing/b"], "no need to specify a kind"],
    [["svc,pods"], 'unknown kind "pods"'],
    [[","], "which kind"],
  ])("%j is bad usage", (argv, message) => {
    expect(() => parseGetArgs(argv, {})).toThrow(UsageError);
    expect(() => parseGetArgs(argv, {})).toThrow(message);
  });

  it("knows every resource by its kubectl names", () => {
    for (const r of RESOURCES) for (const alias of r.aliases) expect(resolveResource(alias)).toBe(r);
    expect(resolveResource("SVC")?.kind).toBe("Service");
    expect(resolveResource("endpointslices.discovery.k8s.io")?.kind).toBe("EndpointSlice");
  });
});

describe("nodeplane get output", () => {
  const items: Service[] = [
    { apiVersion: "v1", kind: "Service", metadata: { name: "a", namespace: "default" }, spec: {} },
  ];
  const now = new Date();
  const services = (objects: Service[] = items): ObjectGroup[] => [{ resource: resolveResource("svc")!, objects }];

  it("prints a v1 List for -o json, the object itself when one was named", () => {
    const list = JSON.parse(formatGet(services(), parseGetArgs(["svc", "-o", "json"], {}), now));
    expect(list).toEqual({ apiVersion: "v1", kind: "List", metadata: { resourceVersion: "" }, items });
    const one = JSON.parse(formatGet(services(), parseGetArgs(["svc", "a", "-o", "json"], {}), now));
    expect(one).toEqual(items[0]);
    const empty = JSON.parse(formatGet(services([]), parseGetArgs(["svc", "-o", "json"], {}), now));
    expect(empty.items).toEqual([]);
  });

  it("prints kind/name for -o name and YAML for -o yaml", () => {
    expect(formatGet(services(), parseGetArgs(["svc", "-o", "name"], {}), now)).toBe("service/a\n");
    const ing: ObjectGroup[] = [{ resource: resolveResource("ing")!, objects: [{ metadata: { name: "a" } }] }];
    expect(formatGet(ing, parseGetArgs(["ing", "-o", "name"], {}), now)).toBe("ingress.networking.k8s.io/a\n");
    expect(formatGet(services(), parseGetArgs(["svc", "-o", "yaml"], {}), now)).toMatch(
      /^apiVersion: v1\nkind: List\n/,
    );
  });

  it("prints one table per kind with kind/name names when several kinds were asked for", () => {
    const groups: ObjectGroup[] = [
      ...services(),
      {
        resource: resolveResource("ing")!,
        objects: [{ metadata: { name: "web" }, spec: { rules: [{ host: "foo.bar.com" }] } } as Ingress],
      },
      { resource: resolveResource("endpointslices")!, objects: [] },
    ];
    expect(formatGet(groups, parseGetArgs(["svc,ing,endpointslices"], {}), now)).toBe(
      [
        "NAME        TYPE        CLUSTER-IP   EXTERNAL-IP   PORT(S)   AGE",
        "service/a   ClusterIP   <none>       <none>        <none>    <unknown>",
        "",
        "NAME                            CLASS    HOSTS         ADDRESS   PORTS   AGE",
        "ingress.networking.k8s.io/web   <none>   foo.bar.com             80      <unknown>",
        "",
      ].join("\n"),
    );
  });
});
