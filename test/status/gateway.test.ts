import { describe, expect, it } from "vitest";
import { silentLogger } from "../../src/log.ts";
import type { Condition, GatewayApiStatus } from "../../src/model/gateway.ts";
import type { GatewaySnapshot } from "../../src/snapshot/gateway.ts";
import { GatewayStatusReconciler, wantedStatuses, withBindReports } from "../../src/status/gateway.ts";
import { mergeConditions, mergeGatewayApiStatus, sameStatus } from "../../src/status/gateway-merge.ts";
import { MemoryStatusWriter, type StatusWriter } from "../../src/status/writer.ts";
import { IpcStatusWriter, StatusRelay } from "../../src/workers/status-relay.ts";

const OURS = "nodeplane.dev/gateway-controller";
const T0 = "2026-01-01T00:00:00Z";
const T1 = "2026-01-01T00:01:00Z";

const cond = (type: string, status: Condition["status"], reason = type, extra: Partial<Condition> = {}): Condition => ({
  type,
  status,
  reason,
  message: "",
  ...extra,
});

/** [title, current conditions, wanted conditions, expected result at T1] */
const MERGES: [string, unknown, Condition[], Condition[]][] = [
  [
    "nothing before: every condition stamped now",
    undefined,
    [cond("Accepted", "True")],
    [cond("Accepted", "True", "Accepted", { lastTransitionTime: T1 })],
  ],
  [
    "same status: lastTransitionTime kept, reason and message updated",
    [cond("Accepted", "True", "Old", { lastTransitionTime: T0 })],
    [cond("Accepted", "True", "Accepted", { message: "new" })],
    [cond("Accepted", "True", "Accepted", { message: "new", lastTransitionTime: T0 })],
  ],
  [
    "status flips: stamped now",
    [cond("Accepted", "True", "Accepted", { lastTransitionTime: T0 })],
    [cond("Accepted", "False", "NotAllowedByListeners")],
    [cond("Accepted", "False", "NotAllowedByListeners", { lastTransitionTime: T1 })],
  ],
  [
    "other types kept in place (another controller's), ours appended in order",
    [
      cond("example.com/Healthy", "True", "Fine", { lastTransitionTime: T0 }),
      cond("Accepted", "True", "Accepted", { lastTransitionTime: T0 }),
    ],
    [cond("Accepted", "True"), cond("ResolvedRefs", "True")],
    [
      cond("example.com/Healthy", "True", "Fine", { lastTransitionTime: T0 }),
      cond("Accepted", "True", "Accepted", { lastTransitionTime: T0 }),
      cond("ResolvedRefs", "True", "ResolvedRefs", { lastTransitionTime: T1 }),
    ],
  ],
  [
    "garbage current list is ignored",
    "not a list",
    [cond("Programmed", "False", "Invalid")],
    [cond("Programmed", "False", "Invalid", { lastTransitionTime: T1 })],
  ],
  [
    "a type twice in the current list: the first wins",
    [
      cond("Accepted", "False", "X", { lastTransitionTime: T0 }),
      cond("Accepted", "True", "Y", { lastTransitionTime: T0 }),
    ],
    [cond("Accepted", "True")],
    [cond("Accepted", "True", "Accepted", { lastTransitionTime: T1 })],
  ],
];

describe("mergeConditions: by type, lastTransitionTime kept while the status holds", () => {
  it.each(MERGES)("%s", (_title, current, wanted, expected) => {
    expect(mergeConditions(current, wanted, T1)).toEqual(expected);
  });
});

const parentRef = (name: string, sectionName?: string) => ({ name, ...(sectionName ? { sectionName } : {}) });

describe("mergeGatewayApiStatus", () => {
  it("Route parents: other controllers' entries untouched, ours replaced, stale ours removed", () => {
    const theirs = {
      parentRef: parentRef("their-gw"),
      controllerName: "example.com/other",
      conditions: [cond("Accepted", "True", "Accepted", { lastTransitionTime: T0 })],
    };
    const current = {
      parents: [
        {
          parentRef: parentRef("gw", "http"),
          controllerName: OURS,
          conditions: [cond("Accepted", "True", "Accepted", { lastTransitionTime: T0 })],
        },
        theirs,
        {
          parentRef: parentRef("old-gw"),
          controllerName: OURS,
          conditions: [cond("Accepted", "True", "Accepted", { lastTransitionTime: T0 })],
        },
      ],
    };
    const wanted: GatewayApiStatus = {
      kind: "HTTPRoute",
      status: {
        parents: [
          // the same parent written with its defaults filled in: still the same entry
          {
            parentRef: {
              group: "gateway.networking.k8s.io",
              kind: "Gateway",
              namespace: "default",
              name: "gw",
              sectionName: "http",
            },
            controllerName: OURS,
            conditions: [cond("Accepted", "True"), cond("ResolvedRefs", "False", "BackendNotFound")],
          },
        ],
      },
    };
    const merged = mergeGatewayApiStatus(current, wanted, OURS, T1, "default");
    expect(merged.parents).toEqual([
      theirs,
      {
        parentRef: {
          group: "gateway.networking.k8s.io",
          kind: "Gateway",
          namespace: "default",
          name: "gw",
          sectionName: "http",
        },
        controllerName: OURS,
        conditions: [
          cond("Accepted", "True", "Accepted", { lastTransitionTime: T0 }),
          cond("ResolvedRefs", "False", "BackendNotFound", { lastTransitionTime: T1 }),
        ],
      },
    ]);
    // nothing of ours wanted any more: only theirs stays
    expect(
      mergeGatewayApiStatus(current, { kind: "HTTPRoute", status: { parents: [] } }, OURS, T1, "default").parents,
    ).toEqual([theirs]);
  });

  it("Gateway: listeners by name keep their times; addresses replaced; other status fields kept", () => {
    const current = {
      addresses: [{ type: "IPAddress", value: "10.0.0.1" }],
      conditions: [cond("Programmed", "True", "Programmed", { lastTransitionTime: T0 })],
      listeners: [
        {
          name: "http",
          attachedRoutes: 1,
          supportedKinds: [],
          conditions: [cond("Programmed", "True", "Programmed", { lastTransitionTime: T0 })],
        },
        { name: "gone", attachedRoutes: 0, supportedKinds: [], conditions: [] },
      ],
      extra: "kept",
    };
    const merged = mergeGatewayApiStatus(
      current,
      {
        kind: "Gateway",
        status: {
          addresses: [{ type: "IPAddress", value: "127.0.0.1" }],
          conditions: [cond("Programmed", "False", "Invalid")],
          listeners: [
            {
              name: "http",
              attachedRoutes: 2,
              supportedKinds: [{ kind: "HTTPRoute" }],
              conditions: [cond("Programmed", "True")],
            },
          ],
        },
      },
      OURS,
      T1,
    );
    expect(merged).toEqual({
      addresses: [{ type: "IPAddress", value: "127.0.0.1" }],
      conditions: [cond("Programmed", "False", "Invalid", { lastTransitionTime: T1 })],
      listeners: [
        {
          name: "http",
          attachedRoutes: 2,
          supportedKinds: [{ kind: "HTTPRoute" }],
          conditions: [cond("Programmed", "True", "Programmed", { lastTransitionTime: T0 })],
        },
      ],
      extra: "kept",
    });
  });

  it("merging what was merged gives the same status: no write", () => {
    const wanted: GatewayApiStatus = {
      kind: "GatewayClass",
      status: { conditions: [cond("Accepted", "True")], supportedFeatures: [{ name: "HTTPRoute" }] },
    };
    const once = mergeGatewayApiStatus(undefined, wanted, OURS, T0);
    const twice = mergeGatewayApiStatus(once, wanted, OURS, T1);
    expect(sameStatus(once, twice)).toBe(true);
    expect(
      sameStatus(
        once,
        mergeGatewayApiStatus(
          once,
          {
            ...wanted,
            status: { ...wanted.status, conditions: [cond("Accepted", "True", "Accepted", { observedGeneration: 2 })] },
          },
          OURS,
          T1,
        ),
      ),
    ).toBe(false);
  });
});

/** A snapshot with one Gateway of two listeners on two sockets, and a route attached to it. */
function snapshot(): GatewaySnapshot {
  const listener = (name: string) => ({
    name,
    attachedRoutes: 1,
    supportedKinds: [{ group: "gateway.networking.k8s.io", kind: "HTTPRoute" }],
    conditions: [
      cond("Accepted", "True", "Accepted", { observedGeneration: 3 }),
      cond("Programmed", "True", "Programmed", { observedGeneration: 3 }),
    ],
  });
  const socket = (port: number, listenerName: string) => ({
    id: `127.0.0.1:${port}`,
    address: "127.0.0.1",
    port,
    protocol: "HTTP" as const,
    listeners: [{ namespace: "default", gateway: "gw", listener: listenerName }],
    hosts: [],
    certificates: [],
  });
  return {
    http: [socket(80, "a"), socket(81, "b")],
    l4: [],
    status: {
      gatewayClasses: [
        {
          name: "nodeplane",
          conditions: [cond("Accepted", "True", "Accepted", { observedGeneration: 1 })],
          supportedFeatures: ["HTTPRouteQueryParamMatching", "Gateway", "HTTPRoute"],
        },
      ],
      gateways: [
        {
          namespace: "default",
          name: "gw",
          addresses: [{ type: "IPAddress", value: "127.0.0.1" }],
          conditions: [
            cond("Accepted", "True", "Accepted", { observedGeneration: 3 }),
            cond("Programmed", "True", "Programmed", { observedGeneration: 3 }),
          ],
          listeners: [listener("a"), listener("b")],
        },
      ],
      routes: [
        {
          kind: "HTTPRoute",
          namespace: "default",
          name: "web",
          parents: [
            {
              parentRef: { name: "gw" },
              conditions: [cond("Accepted", "True", "Accepted", { observedGeneration: 1 })],
            },
          ],
        },
      ],
    },
  };
}

describe("wantedStatuses: bind failures become listener and Gateway conditions", () => {
  const gatewayOf = (failures: Record<string, string>) => {
    const w = wantedStatuses(snapshot(), new Map(Object.entries(failures)), OURS).find(
      (s) => s.status.kind === "Gateway",
    )!;
    return w.status.status as { conditions: Condition[]; listeners: { name: string; conditions: Condition[] }[] };
  };

  it("no failure: the translator's status as it is, features sorted as objects", () => {
    const all = wantedStatuses(snapshot(), new Map(), OURS);
    expect(all.map((w) => `${w.status.kind} ${w.namespace}/${w.name}`)).toEqual([
      "GatewayClass /nodeplane",
      "Gateway default/gw",
      "HTTPRoute default/web",
    ]);
    expect(all[0]!.status.status).toMatchObject({
      supportedFeatures: [{ name: "Gateway" }, { name: "HTTPRoute" }, { name: "HTTPRouteQueryParamMatching" }],
    });
    expect((all[2]!.status.status as { parents: { controllerName: string }[] }).parents[0]!.controllerName).toBe(OURS);
    expect(gatewayOf({}).conditions.map((c) => `${c.type}=${c.status}/${c.reason}`)).toEqual([
      "Accepted=True/Accepted",
      "Programmed=True/Programmed",
    ]);
  });

  it("one socket failed: its listener PortUnavailable/Invalid with the error; the Gateway still programmed", () => {
    const gw = gatewayOf({ "127.0.0.1:81": "listen EADDRINUSE: address already in use 127.0.0.1:81" });
    expect(gw.listeners[0]!.conditions.map((c) => `${c.type}=${c.status}/${c.reason}`)).toEqual([
      "Accepted=True/Accepted",
      "Programmed=True/Programmed",
    ]);
    expect(gw.listeners[1]!.conditions).toEqual([
      cond("Accepted", "False", "PortUnavailable", {
        message: "listen EADDRINUSE: address already in use 127.0.0.1:81",
        observedGeneration: 3,
      }),
      cond("Programmed", "False", "Invalid", {
        message: "listen EADDRINUSE: address already in use 127.0.0.1:81",
        observedGeneration: 3,
      }),
    ]);
    expect(gw.conditions.map((c) => `${c.type}=${c.status}/${c.reason}`)).toEqual([
      "Accepted=True/ListenersNotValid",
      "Programmed=True/Programmed",
    ]);
  });

  it("every socket failed: the Gateway is Programmed=False reason Invalid", () => {
    const gw = gatewayOf({ "127.0.0.1:80": "EACCES", "127.0.0.1:81": "EACCES" });
    expect(gw.conditions.find((c) => c.type === "Programmed")).toMatchObject({
      status: "False",
      reason: "Invalid",
      observedGeneration: 3,
    });
  });

  it("a failure for a socket not in the snapshot changes nothing", () => {
    expect(gatewayOf({ "127.0.0.1:9999": "EACCES" })).toEqual(gatewayOf({}));
  });
});

/** A writer that counts what it is handed, merged in memory. */
function countingWriter(now: () => Date) {
  const memory = new MemoryStatusWriter({ now });
  const calls: string[] = [];
  let fail = false;
  const writer: StatusWriter = {
    setIngressStatus: async () => {},
    setServiceStatus: async () => {},
    ingressStatus: () => undefined,
    serviceStatus: () => undefined,
    async setGatewayApiStatus(namespace, name, status) {
      calls.push(`${status.kind} ${namespace}/${name}`);
      if (fail) throw new Error("not the leader");
      await memory.setGatewayApiStatus(namespace, name, status);
    },
    gatewayApiStatus: (kind, namespace, name) => memory.gatewayApiStatus(kind, namespace, name),
  };
  return { writer, calls, setFail: (f: boolean) => (fail = f) };
}

describe("GatewayStatusReconciler", () => {
  it("writes each object once, then only what changed; bind reports re-reconcile; a failed write is retried", async () => {
    let now = new Date(T0);
    const { writer, calls, setFail } = countingWriter(() => now);
    const reconciler = new GatewayStatusReconciler(writer, silentLogger, OURS);
    const planes = withBindReports(writer, reconciler);
    const first = snapshot();
    await reconciler.apply(first);
    expect(calls.splice(0)).toEqual(["GatewayClass /nodeplane", "Gateway default/gw", "HTTPRoute default/web"]);
    await reconciler.apply(snapshot()); // equal content, new objects
    expect(calls).toEqual([]);

    now = new Date(T1);
    planes.reportGatewayBind?.("127.0.0.1:80", "listen EACCES: permission denied 127.0.0.1:80");
    await reconciler.whenIdle();
    expect(calls.splice(0)).toEqual(["Gateway default/gw"]);
    const gw = writer.gatewayApiStatus?.("Gateway", "default", "gw")?.status as {
      listeners: { conditions: Condition[] }[];
      conditions: Condition[];
    };
    expect(gw.listeners[0]!.conditions[1]).toMatchObject({ reason: "Invalid", lastTransitionTime: T1 });
    expect(gw.listeners[1]!.conditions[1]).toMatchObject({ reason: "Programmed", lastTransitionTime: T0 });
    planes.reportGatewayBind?.("127.0.0.1:80", "listen EACCES: permission denied 127.0.0.1:80"); // the same again
    await reconciler.whenIdle();
    expect(calls).toEqual([]);

    // the socket left the snapshot: its failure is forgotten (the listener programmed again if it comes back)
    const without = { ...snapshot(), http: snapshot().http.slice(1) };
    await reconciler.apply(without);
    expect(calls.splice(0)).toEqual(["Gateway default/gw"]);
    await reconciler.apply(snapshot());
    expect(calls).toEqual([]);

    // a write that fails is tried again on the next snapshot, even an equal one
    setFail(true);
    const changed = snapshot();
    changed.status.routes[0]!.parents[0]!.conditions[0]!.observedGeneration = 2;
    await reconciler.apply(changed);
    expect(calls.splice(0)).toEqual(["HTTPRoute default/web"]);
    setFail(false);
    await reconciler.apply(changed);
    expect(calls.splice(0)).toEqual(["HTTPRoute default/web"]);

    // the route no longer names our Gateway: our parent entries are cleared once
    const noRoutes = snapshot();
    (noRoutes.status as unknown as { routes: unknown[] }).routes = [];
    await reconciler.apply(noRoutes);
    expect(calls.splice(0)).toEqual(["HTTPRoute default/web"]);
    expect(writer.gatewayApiStatus?.("HTTPRoute", "default", "web")).toBeUndefined();
    await reconciler.apply(noRoutes);
    expect(calls).toEqual([]);
  });
});

describe("StatusRelay: workers' bind reports", () => {
  it("a socket is failed while any worker's last report failed; the writer hears changes only", () => {
    const heard: string[] = [];
    const writer: StatusWriter = {
      setIngressStatus: async () => {},
      setServiceStatus: async () => {},
      ingressStatus: () => undefined,
      serviceStatus: () => undefined,
      reportGatewayBind: (id, error) => heard.push(`${id} ${error ?? "ok"}`),
    };
    const relay = new StatusRelay(writer);
    relay.reportGatewayBind("w0", "127.0.0.1:80", undefined);
    relay.reportGatewayBind("w1", "127.0.0.1:80", "EADDRINUSE");
    relay.reportGatewayBind("w0", "127.0.0.1:80", undefined);
    relay.reportGatewayBind("w1", "127.0.0.1:80", undefined);
    expect(heard).toEqual(["127.0.0.1:80 EADDRINUSE", "127.0.0.1:80 ok"]);
  });
});

describe("MemoryStatusWriter (manifests mode)", () => {
  it("merges into the manifest's own status first (a dump with another controller's parent), then into its own", async () => {
    let now = new Date(T0);
    const manifest = {
      parents: [
        {
          parentRef: { name: "their-gw" },
          controllerName: "example.com/other",
          conditions: [cond("Accepted", "True")],
        },
      ],
    };
    const writer = new MemoryStatusWriter({
      now: () => now,
      manifestStatus: (kind, namespace, name) =>
        kind === "HTTPRoute" && namespace === "default" && name === "web" ? manifest : undefined,
    });
    const ours = (status: Condition["status"]): GatewayApiStatus => ({
      kind: "HTTPRoute",
      status: {
        parents: [{ parentRef: { name: "gw" }, controllerName: OURS, conditions: [cond("Accepted", status)] }],
      },
    });
    await writer.setGatewayApiStatus("default", "web", ours("True"));
    now = new Date(T1);
    await writer.setGatewayApiStatus("default", "web", ours("True"));
    const parents = (writer.gatewayApiStatus("HTTPRoute", "default", "web")!.status as { parents: unknown[] }).parents;
    expect(parents).toEqual([
      manifest.parents[0],
      {
        parentRef: { name: "gw" },
        controllerName: OURS,
        conditions: [{ ...cond("Accepted", "True"), lastTransitionTime: T0 }],
      },
    ]);
    // ours removed: the manifest's parent stays
    await writer.setGatewayApiStatus("default", "web", { kind: "HTTPRoute", status: { parents: [] } });
    expect(writer.gatewayApiStatus("HTTPRoute", "default", "web")?.status).toEqual({ parents: manifest.parents });
    expect(writer.gatewayApiStatus("Gateway", "default", "web")).toBeUndefined();
  });
});

describe("IpcStatusWriter: a worker's bind reports", () => {
  it("go to the primary as they are", () => {
    const sent: string[] = [];
    const writer = new IpcStatusWriter(
      async () => {},
      (id, error) => sent.push(`${id} ${error ?? "ok"}`),
    );
    writer.reportGatewayBind("127.0.0.1:8443", "EADDRINUSE");
    writer.reportGatewayBind("127.0.0.1:8443", undefined);
    expect(sent).toEqual(["127.0.0.1:8443 EADDRINUSE", "127.0.0.1:8443 ok"]);
  });
});

describe("GatewayStatusReconciler: a pass that throws", () => {
  it("is logged, never rejects, and the next snapshot writes again", async () => {
    const { writer, calls } = countingWriter(() => new Date(T0));
    const reconciler = new GatewayStatusReconciler(writer, silentLogger, OURS);
    const broken = { ...snapshot(), status: { gatewayClasses: null } } as unknown as GatewaySnapshot;
    await expect(reconciler.apply(broken)).resolves.toBeUndefined();
    await reconciler.apply(snapshot());
    expect(calls).toEqual(["GatewayClass /nodeplane", "Gateway default/gw", "HTTPRoute default/web"]);
  });
});
