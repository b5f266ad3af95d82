import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { startApp } from "../../src/app.ts";
import { parseFlags } from "../../src/cli/flags.ts";
import type { Config } from "../../src/config.ts";
import { KubeClient } from "../../src/kube/client.ts";
import { silentLogger } from "../../src/log.ts";
import { ROUTE_KINDS } from "../../src/model/gateway.ts";
import { KubeSource } from "../../src/source/kube/source.ts";
import { type LoggedRequest, TestApiServer } from "../fixtures/apiserver.ts";
import { clusterConfig, ingress, node, secret, service, waitFor } from "../fixtures/cluster.ts";

const MANIFESTS = join(import.meta.dirname, "../../manifests");
const GATEWAY_CONTROLLER = "nodeplane.dev/gateway-controller";
const ROUTE_PLURALS = ["httproutes", "grpcroutes", "tlsroutes", "tcproutes", "udproutes"];
const KUBECTL = spawnSync("sh", ["-c", "command -v kubectl"]).status === 0;

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

interface Grant {
  /** undefined: cluster-wide (ClusterRole); else only in this namespace (Role) */
  namespace: string | undefined;
  rule: Rule;
}

interface RbacDoc {
  kind: string;
  metadata: { name: string; namespace?: string };
  rules?: Rule[];
  roleRef?: { kind: string; name: string };
  subjects?: { kind: string; name: string; namespace: string }[];
}

/** The rules bound to the nodeplane ServiceAccount in the given RBAC files. */
function grants(files: string[]): Grant[] {
  return grantsOf(files.flatMap((f) => parseDocs(readFileSync(join(MANIFESTS, f), "utf8"))));
}

function parseDocs(text: string): RbacDoc[] {
  return parseAllDocuments(text)
    .map((d) => d.toJS() as RbacDoc | null)
    .filter((d): d is RbacDoc => d !== null);
}

/** A RoleBinding grants its role's rules (a Role's or a ClusterRole's) in the binding's namespace only. */
function grantsOf(docs: RbacDoc[]): Grant[] {
  const result: Grant[] = [];
  for (const binding of docs.filter((d) => d.kind === "ClusterRoleBinding" || d.kind === "RoleBinding")) {
    const forUs = binding.subjects?.some(
      (s) => s.kind === "ServiceAccount" && s.name === "nodeplane" && s.namespace === "nodeplane-system",
    );
    if (!forUs) continue;
    const role = docs.find(
      (d) =>
        d.kind === binding.roleRef?.kind &&
        d.metadata.name === binding.roleRef?.name &&
        // a RoleBinding's Role lives in the binding's namespace
        (d.kind !== "Role" || d.metadata.namespace === binding.metadata.namespace),
    );
    if (!role) throw new Error(`${binding.kind} ${binding.metadata.name} points at a missing ${binding.roleRef?.kind}`);
    for (const rule of role.rules ?? [])
      result.push({ namespace: binding.kind === "RoleBinding" ? binding.metadata.namespace : undefined, rule });
  }
  return result;
}

function allows(grant: Grant, request: LoggedRequest): boolean {
  const { rule, namespace } = grant;
  return (
    rule.apiGroups.includes(request.group) &&
    rule.resources.includes(request.resource) &&
    rule.verbs.includes(request.verb) &&
    (namespace === undefined || namespace === request.namespace) &&
    (!rule.resourceNames || (request.name !== undefined && rule.resourceNames.includes(request.name)))
  );
}

describe("RBAC covers exactly the calls nodeplane makes", () => {
  let api: TestApiServer;

  beforeEach(async () => {
    api = new TestApiServer();
    await api.start();
    api.apply("nodes", node("node-a", "127.0.0.1"));
    api.apply("services", service("default", "web", { clusterIP: "127.96.0.10", clusterIPs: ["127.96.0.10"] }));
    api.apply(
      "services",
      service("default", "lb", { type: "LoadBalancer", clusterIP: "127.96.0.11", clusterIPs: ["127.96.0.11"] }),
    );
    api.apply("ingresses", ingress("default", "web"));
    api.apply("ingressclasses", { metadata: { name: "nodeplane" }, spec: { controller: "nodeplane.dev/ingress" } });
    api.apply("secrets", secret("default", "web-tls", "kubernetes.io/tls"));
    api.apply("pods", { metadata: { name: "web-1", namespace: "default" }, status: { podIP: "127.244.0.5" } });
    // the Gateway API CRDs are installed: every kind is watched, every status kind written
    api.installGatewayApi();
    api.apply("namespaces", { metadata: { name: "default" } });
    api.apply("gatewayclasses", { metadata: { name: "nodeplane" }, spec: { controllerName: GATEWAY_CONTROLLER } });
    api.apply("gateways", { metadata: { name: "web", namespace: "default" }, spec: { gatewayClassName: "nodeplane" } });
    for (const plural of ROUTE_PLURALS)
      api.apply(plural, { metadata: { name: "web", namespace: "default" }, spec: {} });
  });

  afterEach(async () => {
    await api.stop();
  });

  /** A whole life of one instance: sync, win the lease, write Ingress and LoadBalancer status, stop (release). */
  async function runInstance(overrides: Partial<Config>): Promise<LoggedRequest[]> {
    const config = clusterConfig({ lbPool: ["127.240.0.0/30"], leaderElect: true, ...overrides });
    const client = new KubeClient(api.kubeConfig());
    const source = new KubeSource(config, silentLogger, { client, backoff: { initialMs: 20, maxMs: 200 } });
    const app = await startApp(config, silentLogger, {
      source,
      withProcessMetrics: false,
      leaderElection: { identity: "pod-a", leaseDurationMs: 1000, renewDeadlineMs: 600, retryPeriodMs: 100 },
    });
    try {
      const lbIP = () =>
        (api.get("services", "default", "lb")?.status as { loadBalancer?: { ingress?: { ip: string }[] } })
          ?.loadBalancer?.ingress?.[0]?.ip;
      await waitFor("LoadBalancer IP written", () => lbIP() === "127.240.0.1");
      await app.status.setIngressStatus("default", "web", [{ ip: "127.0.0.1" }]);
      await waitFor("Ingress status written", () =>
        JSON.stringify(api.get("ingresses", "default", "web")?.status ?? {}).includes("127.0.0.1"),
      );
      const condition = { type: "Accepted", status: "True" as const, reason: "Accepted", message: "" };
      await app.status.setGatewayApiStatus?.("", "nodeplane", {
        kind: "GatewayClass",
        status: { conditions: [condition] },
      });
      await app.status.setGatewayApiStatus?.("default", "web", {
        kind: "Gateway",
        status: { conditions: [condition], listeners: [] },
      });
      for (const kind of ROUTE_KINDS)
        await app.status.setGatewayApiStatus?.("default", "web", {
          kind,
          status: {
            parents: [{ parentRef: { name: "web" }, controllerName: GATEWAY_CONTROLLER, conditions: [condition] }],
          },
        });
      await waitFor("Gateway API status written", () =>
        ["gatewayclasses", "gateways", ...ROUTE_PLURALS].every((plural) =>
          plural === "gatewayclasses"
            ? api.get(plural, undefined, "nodeplane")?.status !== undefined
            : api.get(plural, "default", "web")?.status !== undefined,
        ),
      );
      await waitFor(
        "lease renewed",
        () => api.requests.filter((r) => r.resource === "leases" && r.verb === "update").length >= 2,
      );
    } finally {
      await app.stop();
      await client.close();
    }
    return api.requests;
  }

  function compare(all: LoggedRequest[], granted: Grant[]) {
    // non-resource requests (API discovery) are allowed by the default ClusterRole system:discovery
    const nonResource = all.filter((r) => r.resource.startsWith("/"));
    expect(nonResource.filter((r) => !r.resource.startsWith("/apis/") || r.method !== "GET")).toEqual([]);
    const requests = all.filter((r) => !r.resource.startsWith("/"));
    const denied = requests.filter((r) => !granted.some((g) => allows(g, r)));
    expect(denied.map((r) => `${r.verb} ${r.group}/${r.resource} ${r.namespace ?? ""}/${r.name ?? ""}`)).toEqual([]);
    const unused = granted.flatMap((g) =>
      g.rule.apiGroups.flatMap((group) =>
        g.rule.resources.flatMap((resource) =>
          g.rule.verbs
            .filter(
              (verb) =>
                !requests.some((r) =>
                  allows({ ...g, rule: { ...g.rule, apiGroups: [group], resources: [resource], verbs: [verb] } }, r),
                ),
            )
            .map((verb) => `${verb} ${group}/${resource}`),
        ),
      ),
    );
    expect(unused).toEqual([]);
  }

  it("base ClusterRole + namespaced Role, default flags", async () => {
    const requests = await runInstance({});
    // the Gateway API kinds were found by discovery, not guessed
    expect(requests.some((r) => r.resource === "/apis/gateway.networking.k8s.io" && r.status === 200)).toBe(true);
    // Pods only in our own namespace (the leader's Ingress ADDRESS), never cluster-wide
    expect(requests.some((r) => r.resource === "pods" && r.namespace !== "nodeplane-system")).toBe(false);
    expect(
      requests.some((r) => r.resource === "pods" && r.query.labelSelector === "app.kubernetes.io/name=nodeplane"),
    ).toBe(true);
    compare(requests, grants(["base/rbac.yaml"]));
  });

  it("plus the dns-pods-verified component for --dns-pods verified", async () => {
    const requests = await runInstance({ dnsPods: "verified" });
    compare(requests, grants(["base/rbac.yaml", "components/dns-pods-verified/rbac.yaml"]));
  });

  it.skipIf(!KUBECTL)(
    "the hardened overlay + --watch-namespaces: no cluster-wide Secrets or Ingresses (needs kubectl)",
    async () => {
      api.apply("secrets", secret("other", "other-tls", "kubernetes.io/tls"));
      const rendered = parseDocs(
        execFileSync("kubectl", ["kustomize", join(MANIFESTS, "overlays/hardened")], { encoding: "utf8" }),
      );
      const daemonSet = rendered.find((d) => d.kind === "DaemonSet") as unknown as {
        spec: { template: { spec: { containers: { args: string[] }[] } } };
      };
      // the instance runs with the flags the overlay's DaemonSet passes
      const args = daemonSet.spec.template.spec.containers[0]!.args;
      const { watchNamespaces } = parseFlags(args, { NODE_NAME: "node-a" });
      expect(watchNamespaces).toEqual(["default"]);
      const requests = await runInstance({ watchNamespaces });
      for (const resource of ["secrets", "ingresses", "ingresses/status"])
        expect(requests.filter((r) => r.resource === resource).every((r) => r.namespace === "default")).toBe(true);
      const granted = grantsOf(rendered);
      compare(requests, granted);
      // nothing about Secrets or Ingresses is granted cluster-wide
      const clusterWide = granted.filter((g) => g.namespace === undefined).flatMap((g) => g.rule.resources);
      expect(clusterWide.filter((r) => r === "secrets" || r.startsWith("ingresses"))).toEqual([]);
      // one RoleBinding per watched namespace, no more
      const bound = granted.filter((g) => g.rule.resources.includes("secrets")).map((g) => g.namespace);
      expect(bound).toEqual(watchNamespaces);
    },
  );

  it("the Role's lease is the one the default flags use", () => {
    const config = clusterConfig();
    const leaseGrants = grants(["base/rbac.yaml"]).filter((g) => g.rule.resources.includes("leases"));
    expect(leaseGrants.every((g) => g.namespace === config.leaseNamespace)).toBe(true);
    expect(leaseGrants.flatMap((g) => g.rule.resourceNames ?? [])).toEqual([config.leaseName]);
  });
});
