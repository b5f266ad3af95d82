import { execFile, execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { parseFlags } from "../../src/cli/flags.ts";
import { TestApiServer } from "../fixtures/apiserver.ts";
import { validateObject } from "./schema.ts";

const ROOT = join(import.meta.dirname, "../..");
const MANIFESTS = join(ROOT, "manifests");
const has = (tool: string) => spawnSync("sh", ["-c", `command -v ${tool}`]).status === 0;
const KUBECTL = has("kubectl");
const SHELLCHECK = has("shellcheck");

// biome-ignore lint/suspicious/noExplicitAny: tests navigate parsed YAML freely
type Loose = any;
type Obj = Record<string, unknown> & {
  kind: string;
  metadata: { name: string; namespace?: string; annotations?: Record<string, string> };
};

function parseYaml(text: string): Obj[] {
  return parseAllDocuments(text)
    .map((d) => d.toJS() as Obj | null)
    .filter((o): o is Obj => o !== null);
}

/** Every object file under a folder (kustomization files excluded), read without kustomize. */
function objectFiles(dir: string): { file: string; objects: Obj[] }[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .filter((f) => f.endsWith(".yaml") && !f.endsWith("kustomization.yaml"))
    .map((f) => ({ file: f, objects: parseYaml(readFileSync(join(dir, f), "utf8")) }));
}

function kustomize(dir: string): Obj[] {
  return parseYaml(execFileSync("kubectl", ["kustomize", dir], { encoding: "utf8" }));
}

/** The base as kubectl would apply it; without kubectl, the base files themselves (same objects). */
function base(): Obj[] {
  return KUBECTL ? kustomize(MANIFESTS) : objectFiles(join(MANIFESTS, "base")).flatMap((f) => f.objects);
}

const find = (objects: Obj[], kind: string, name?: string) => {
  const obj = objects.find((o) => o.kind === kind && (!name || o.metadata.name === name));
  if (!obj) throw new Error(`no ${kind} ${name ?? ""}`);
  return obj as Obj & Record<string, Loose>;
};

describe("manifests/", () => {
  it("every object file fits the Kubernetes API schema (client-node's generated types)", () => {
    const problems: string[] = [];
    let count = 0;
    for (const { file, objects } of objectFiles(MANIFESTS)) {
      for (const obj of objects) {
        count++;
        for (const p of validateObject(obj)) problems.push(`${file} ${obj.kind}/${obj.metadata?.name}: ${p}`);
      }
    }
    expect(problems).toEqual([]);
    expect(count).toBeGreaterThan(20);
  });

  it("the validator catches a misspelt field and a wrong type", () => {
    const ds = structuredClone(find(base(), "DaemonSet"));
    ds.spec.template.spec.tolerration = [];
    ds.spec.template.spec.hostNetwork = "yes";
    expect(validateObject(ds)).toEqual([
      'DaemonSet.spec.template.spec.hostNetwork: expected true or false, got "yes"',
      "DaemonSet.spec.template.spec.tolerration: unknown field (V1PodSpec)",
    ]);
  });

  it.skipIf(!KUBECTL)("kubectl kustomize renders the base, the lab overlay and the components (needs kubectl)", () => {
    expect(
      kustomize(MANIFESTS)
        .map((o) => `${o.kind}/${o.metadata.name}`)
        .sort(),
    ).toEqual([
      "ClusterRole/nodeplane",
      "ClusterRoleBinding/nodeplane",
      "DaemonSet/nodeplane",
      "IngressClass/nodeplane",
      "Namespace/nodeplane-system",
      "Role/nodeplane",
      "RoleBinding/nodeplane",
      "ServiceAccount/nodeplane",
    ]);
    const lab = kustomize(join(MANIFESTS, "overlays/lab"));
    expect(find(lab, "IngressClass").metadata).toMatchObject({
      annotations: { "ingressclass.kubernetes.io/is-default-class": "true" },
    });
    expect(find(lab, "GatewayClass", "nodeplane").spec).toMatchObject({
      controllerName: "nodeplane.dev/gateway-controller",
    });
    for (const obj of lab) expect(validateObject(obj)).toEqual([]);
    // the opt-in component, through a throwaway overlay (kustomize wants relative paths)
    const dir = mkdtempSync(join(tmpdir(), "nodeplane-kustomize-"));
    try {
      writeFileSync(
        join(dir, "kustomization.yaml"),
        `resources: [${relative(dir, join(MANIFESTS, "base"))}]\ncomponents: [${relative(dir, join(MANIFESTS, "components/dns-pods-verified"))}]\n`,
      );
      const withPods = kustomize(dir);
      expect(find(withPods, "DaemonSet").spec.template.spec.containers[0].args).toContain("--dns-pods=verified");
      expect(find(withPods, "ClusterRole", "nodeplane-pods").rules).toEqual([
        { apiGroups: [""], resources: ["pods"], verbs: ["list", "watch"] },
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.skipIf(!KUBECTL)(
    "kubectl create --dry-run=client takes every object (discovery from the test API server; needs kubectl)",
    async () => {
      // kubectl maps kinds through API discovery even for a client-side dry run: the fixture serves it
      const api = new TestApiServer();
      await api.start();
      api.installGatewayApi(); // the lab overlay's GatewayClass (kind/up.sh installs the CRDs first)
      const dir = mkdtempSync(join(tmpdir(), "nodeplane-dry-run-"));
      try {
        writeFileSync(join(dir, "kubeconfig"), api.kubeconfigYaml());
        for (const target of [MANIFESTS, join(MANIFESTS, "overlays/lab"), join(MANIFESTS, "overlays/hardened")]) {
          const rendered = execFileSync("kubectl", ["kustomize", target], { encoding: "utf8" });
          writeFileSync(join(dir, "all.yaml"), rendered);
          // async: the fixture answers from this process's event loop
          const { stdout } = await promisify(execFile)("kubectl", [
            ...["--kubeconfig", join(dir, "kubeconfig"), "--cache-dir", join(dir, "cache")],
            ...["create", "--dry-run=client", "--validate=false", "-o", "yaml", "-f", join(dir, "all.yaml")],
          ]);
          const created = parseYaml(stdout).flatMap((o) => (o.kind === "List" ? (o.items as Obj[]) : [o]));
          const names = (objects: Obj[]) => objects.map((o) => `${o.kind}/${o.metadata.name}`).sort();
          expect(names(created)).toEqual(names(parseYaml(rendered)));
        }
        // a dry run writes nothing
        expect(api.requests.every((r) => r.method === "GET")).toBe(true);
      } finally {
        rmSync(dir, { recursive: true, force: true });
        await api.stop();
      }
    },
  );

  it.skipIf(!KUBECTL)("the hardened overlay: Secrets and Ingresses per namespace, as --watch-namespaces says", () => {
    const hardened = kustomize(join(MANIFESTS, "overlays/hardened"));
    for (const obj of hardened) expect(validateObject(obj)).toEqual([]);
    const ds = find(hardened, "DaemonSet");
    const args: string[] = ds.spec.template.spec.containers[0].args;
    // the base's flags plus --watch-namespaces, all valid
    expect(args).toEqual([
      ...find(base(), "DaemonSet").spec.template.spec.containers[0].args,
      "--watch-namespaces=default",
    ]);
    const { watchNamespaces } = parseFlags(args, { NODE_NAME: "node-a" });
    // the cluster-wide role keeps only what the service proxy, DNS and LoadBalancer status need
    const clusterRole = find(hardened, "ClusterRole", "nodeplane");
    const clusterResources = clusterRole.rules.flatMap((r: { resources: string[] }) => r.resources);
    expect(clusterResources).not.toContain("secrets");
    expect(clusterResources.filter((r: string) => r.startsWith("ingresses"))).toEqual([]);
    expect(clusterResources).toEqual(
      expect.arrayContaining(["services", "endpointslices", "ingressclasses", "nodes", "services/status"]),
    );
    // nothing cluster-wide binds the namespaced rules; one RoleBinding per watched namespace does
    expect(hardened.filter((o) => o.kind === "ClusterRoleBinding").map((o) => (o as Loose).roleRef.name)).toEqual([
      "nodeplane",
    ]);
    const bindings = hardened.filter(
      (o) => o.kind === "RoleBinding" && (o as Loose).roleRef.name === "nodeplane-namespaced",
    );
    expect(bindings.map((b) => b.metadata.namespace).sort()).toEqual([...watchNamespaces].sort());
    for (const b of bindings) expect((b as Loose).roleRef.kind).toBe("ClusterRole");
    // status writes: get + update on the status subresource only, never the object itself
    const namespaced = find(hardened, "ClusterRole", "nodeplane-namespaced");
    for (const rule of [...clusterRole.rules, ...namespaced.rules] as { resources: string[]; verbs: string[] }[]) {
      if (rule.verbs.includes("update")) expect(rule.resources.every((r) => r.endsWith("/status"))).toBe(true);
      expect(rule.verbs).not.toContain("patch");
      expect(rule.verbs).not.toContain("*");
    }
  });

  it("the DaemonSet is what docs/cluster.md describes", () => {
    const objects = base();
    const ds = find(objects, "DaemonSet");
    const pod = ds.spec.template.spec;
    const [container] = pod.containers;
    expect(ds.metadata.namespace).toBe("nodeplane-system");
    expect(pod.hostNetwork).toBe(true);
    expect(pod.dnsPolicy).toBe("ClusterFirstWithHostNet");
    expect(pod.priorityClassName).toBe("system-node-critical");
    expect(pod.tolerations).toEqual([{ operator: "Exists" }]);
    expect(pod.serviceAccountName).toBe(find(objects, "ServiceAccount").metadata.name);
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(container.securityContext.privileged).toBe(false);
    expect(container.securityContext.capabilities).toEqual({ drop: ["ALL"], add: ["NET_ADMIN", "NET_BIND_SERVICE"] });
    expect(container.readinessProbe.httpGet).toMatchObject({ path: "/readyz", port: 10249 });
    expect(container.livenessProbe.httpGet).toMatchObject({ path: "/livez", port: 10249 });
    expect(container.args).toContain("--admin-address=127.0.0.1:10249");
    expect(container.env).toContainEqual({
      name: "NODE_NAME",
      valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } },
    });
    expect(container.resources.requests).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
    expect(container.resources.limits).toMatchObject({ memory: expect.any(String) });
    // a read-only root needs a writable /tmp (the VIP state file)
    expect(container.securityContext.readOnlyRootFilesystem).toBe(true);
    expect(container.volumeMounts).toContainEqual({ name: "tmp", mountPath: "/tmp" });

    // every flag the DaemonSet passes is one nodeplane knows, with a valid value
    const config = parseFlags(container.args, { NODE_NAME: "node-a", POD_NAMESPACE: ds.metadata.namespace });
    expect(config.manifests).toBeUndefined();
    expect(config.leaderElect).toBe(true);
    expect(config.leaseNamespace).toBe(ds.metadata.namespace);
    expect(container.env).toContainEqual({
      name: "POD_NAMESPACE",
      valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } },
    });

    const ingressClass = find(objects, "IngressClass");
    expect(ingressClass.metadata.name).toBe("nodeplane");
    expect(ingressClass.spec.controller).toBe("nodeplane.dev/ingress");
    expect(ingressClass.metadata.annotations).toBeUndefined(); // default class only through the component
  });

  it("the lab overlay runs real workloads, not the manifests-mode fakes", () => {
    const lab = objectFiles(join(MANIFESTS, "overlays/lab")).flatMap((f) => f.objects);
    expect(lab.some((o) => o.kind === "Endpoints" || o.kind === "EndpointSlice")).toBe(false);
    for (const o of lab) expect(o.metadata.namespace).toBe("default");
    const images = lab
      .flatMap((o) => {
        const spec = (o as Record<string, Loose>).spec;
        return spec?.template?.spec?.containers ?? spec?.containers ?? [];
      })
      .map((c: { image: string }) => c.image);
    expect(images).toContain("busybox:1.28");
    expect(images.some((i: string) => i.startsWith("nginx"))).toBe(true);
    expect(lab.find((o) => o.kind === "Pod" && o.metadata.name === "busybox")).toBeDefined();
    const names = lab.filter((o) => o.kind === "Service").map((o) => o.metadata.name);
    expect(names).toEqual(
      expect.arrayContaining(["my-svc-cp", "my-svc-np", "my-svc-headless", "my-nginx", "s1", "s2", "testsvc"]),
    );
  });
});

describe("kind/ and the Dockerfile", () => {
  it("kind/cluster.yaml: no kube-proxy, 80/443 mapped on the control-plane, workers", () => {
    const [cluster] = parseYaml(readFileSync(join(ROOT, "kind/cluster.yaml"), "utf8")) as Record<string, Loose>[];
    expect(cluster!.networking.kubeProxyMode).toBe("none");
    const [controlPlane, ...rest] = cluster!.nodes;
    expect(controlPlane.role).toBe("control-plane");
    const hostPorts = controlPlane.extraPortMappings.map((m: { hostPort: number }) => m.hostPort);
    expect(hostPorts).toEqual(expect.arrayContaining([80, 443]));
    expect(rest.filter((n: { role: string }) => n.role === "worker").length).toBeGreaterThanOrEqual(1);
  });

  it("kind/up.sh parses (bash -n) and is strict", () => {
    const script = readFileSync(join(ROOT, "kind/up.sh"), "utf8");
    expect(script.startsWith("#!/usr/bin/env bash\n")).toBe(true);
    expect(script).toContain("set -euo pipefail");
    const result = spawnSync("bash", ["-n", join(ROOT, "kind/up.sh")], { encoding: "utf8" });
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
    // the order of the lab: ClusterIP, NodePort, headless, pods + expose, nslookup, Ingress
    const order = [
      "Lab 1. ClusterIP",
      "Lab 2. NodePort",
      "Lab 2. headless",
      "Lab 3. hello-nginx",
      "nslookup",
      "Ingress:",
    ];
    const positions = order.map((s) => script.indexOf(s));
    expect(positions.every((p) => p >= 0)).toBe(true);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
  });

  it.skipIf(!SHELLCHECK)("kind/up.sh passes shellcheck (needs shellcheck)", () => {
    const result = spawnSync("shellcheck", [join(ROOT, "kind/up.sh")], { encoding: "utf8" });
    expect(result.stdout).toBe("");
    expect(result.status).toBe(0);
  });

  it("Dockerfile: multi-stage on node:24-slim, production dependencies only, iproute2, not root", () => {
    const dockerfile = readFileSync(join(ROOT, "Dockerfile"), "utf8");
    const stages = dockerfile.split(/^FROM /m).slice(1);
    expect(stages.length).toBe(2);
    for (const stage of stages) expect(stage.startsWith("node:24-slim")).toBe(true);
    const final = stages[1]!;
    expect(final).toMatch(/npm ci --omit=dev/);
    expect(final).toMatch(/iproute2/);
    expect(final).toMatch(/setcap cap_net_admin,cap_net_bind_service\+ep/);
    expect(final).toMatch(/^USER node$/m);
    expect(final).toMatch(/COPY --from=build \/app\/dist/);
    expect(stages[0]).toMatch(/npm run build/);
    expect(existsSync(join(ROOT, ".dockerignore"))).toBe(true);
    // everything the build stage copies gets past .dockerignore
    const ignore = readFileSync(join(ROOT, ".dockerignore"), "utf8");
    for (const m of dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm))
      for (const path of m[1]!.split(/\s+/)) expect(ignore).toContain(`!${path.replace(/^\.\//, "")}`);
  });
});
