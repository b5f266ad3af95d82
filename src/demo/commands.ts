/**
 * The commands `nodeplane demo` prints, built from what is actually running (allocated clusterIPs and
 * nodePorts, listener addresses), in the order of the lab (shared/seed): ClusterIP without endpoints,
 * NodePort, a Service with two pods, the Ingress, DNS, then `nodeplane get`.
 */
import { formatHostPort, type HostPort } from "../config.ts";
import type { Gateway, GatewayClass, HTTPRoute } from "../model/gateway.ts";
import type { EndpointSlice, Ingress, IngressBackend, Service } from "../model/k8s.ts";

export interface DemoView {
  services: readonly Service[];
  slices: readonly EndpointSlice[];
  ingresses: readonly Ingress[];
  /** where NodePorts answer (the node's first NodePort address) */
  nodePortAddress: string;
  httpAddress?: HostPort;
  httpsAddress?: HostPort;
  dnsAddress?: HostPort;
  clusterDomain: string;
  /** the admin server's bound address */
  adminAddress: HostPort;
  /** whether the admin address is the CLI's default (then `get` needs no --admin-address) */
  adminIsDefault: boolean;
  /** Gateway API: the classes, Gateways and HTTPRoutes of the manifests, and what nodeplane serves */
  gatewayClasses?: readonly GatewayClass[];
  gateways?: readonly Gateway[];
  httpRoutes?: readonly HTTPRoute[];
  /** --gateway-controller and --gateway-address */
  gatewayController?: string;
  gatewayAddress?: string;
}

/** The lab's Services in the order it walks them; others follow by name. */
const LAB_ORDER = ["my-svc-cp", "my-svc-np", "my-svc-headless", "my-nginx"];

/** Without the lab's Services, at most this many are walked one by one. */
const MAX_SERVICES = 6;

function backendText(backend: IngressBackend | undefined): string {
  const svc = backend?.service;
  if (!svc) return backend?.resource ? `${backend.resource.kind}/${backend.resource.name}` : "?";
  return `${svc.name}:${svc.port?.name ?? svc.port?.number ?? ""}`;
}

/** Quotes for a POSIX shell when needed: names come from user manifests. */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9._:/@=,+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** A listener address as clients reach it: a wildcard host is reached on loopback. */
function reach(hp: HostPort): HostPort {
  if (hp.host === "0.0.0.0") return { host: "127.0.0.1", port: hp.port };
  if (hp.host === "::") return { host: "::1", port: hp.port };
  return hp;
}

function hostPort(host: string, port: number): string {
  return formatHostPort({ host, port });
}

function readyEndpoints(view: DemoView, svc: Service): number {
  const ns = svc.metadata?.namespace ?? "default";
  const name = svc.metadata?.name;
  let n = 0;
  for (const slice of view.slices) {
    if ((slice.metadata?.namespace ?? "default") !== ns) continue;
    if (slice.metadata?.labels?.["kubernetes.io/service-name"] !== name) continue;
    for (const ep of slice.endpoints ?? []) if (ep.conditions?.ready !== false) n++;
  }
  return n;
}

function ordered<T extends { metadata?: { name?: string; namespace?: string } }>(services: readonly T[]): T[] {
  const rank = (s: T) => {
    const i = LAB_ORDER.indexOf(s.metadata?.name ?? "");
    return i < 0 ? LAB_ORDER.length : i;
  };
  const key = (s: T) => `${s.metadata?.namespace ?? "default"}/${s.metadata?.name ?? ""}`;
  return [...services].sort((a, b) => rank(a) - rank(b) || key(a).localeCompare(key(b)));
}

function isHeadless(svc: Service): boolean {
  return svc.spec?.clusterIP === "None" || svc.spec?.type === "ExternalName" || !svc.spec?.clusterIP;
}

/** A concrete host for a rule host (`*.foo.com` → `demo.foo.com`). */
function concreteHost(host: string): string {
  return host.startsWith("*.") ? `demo.${host.slice(2)}` : host;
}

export function demoCommands(view: DemoView): string {
  const out: string[] = [];
  const line = (comment: string, ...commands: string[]) => {
    out.push(`  # ${comment}`, ...commands.map((c) => `  ${c}`));
  };

  const services = ordered(view.services);
  const proxied = services.filter(
    (s) => !isHeadless(s) && (s.spec?.ports ?? []).some((p) => (p.protocol || "TCP") === "TCP"),
  );
  // with the lab's Services present, walk those and name the others; otherwise show what there is
  const lab = proxied.filter((s) => LAB_ORDER.includes(s.metadata?.name ?? ""));
  const shown = lab.length > 0 ? lab : proxied.slice(0, MAX_SERVICES);
  const others = proxied.filter((s) => !shown.includes(s));
  out.push("Services (the service proxy):");
  for (const svc of shown) {
    const name = svc.metadata?.name ?? "";
    const ns = svc.metadata?.namespace ?? "default";
    const who = ns === "default" ? name : `${ns}/${name}`;
    const ready = readyEndpoints(view, svc);
    const state =
      ready === 0
        ? "no endpoints: connection refused, as kube-proxy rejects"
        : ready === 1
          ? "one pod answers"
          : `${ready} pods: run it a few times, they take turns`;
    for (const port of svc.spec?.ports ?? []) {
      if ((port.protocol || "TCP") !== "TCP") continue;
      const commands = [`curl ${hostPort(svc.spec!.clusterIP!, port.port)}`];
      if (port.nodePort) commands.push(`curl ${hostPort(view.nodePortAddress, port.nodePort)}`);
      const type = svc.spec?.type || "ClusterIP";
      line(`${who}: ${type}${port.nodePort ? ` ${port.port}:${port.nodePort}` : ""}, ${state}`, ...commands);
    }
  }
  if (shown.length === 0) out.push("  (no Service with a cluster IP and a TCP port in the manifests)");
  if (others.length > 0) {
    const names = others.map((s) => {
      const ns = s.metadata?.namespace ?? "default";
      return `${ns === "default" ? "" : `${ns}/`}${s.metadata?.name ?? ""} ${hostPort(s.spec!.clusterIP!, s.spec!.ports![0]!.port)}`;
    });
    out.push(`  # also: ${names.join(", ")}`);
  }

  const http = view.httpAddress ? reach(view.httpAddress) : undefined;
  const https = view.httpsAddress ? reach(view.httpsAddress) : undefined;
  const ingressLines: string[][] = [];
  for (const ing of ordered(view.ingresses)) {
    const ingName = ing.metadata?.name ?? "";
    for (const rule of ing.spec?.rules ?? []) {
      const paths = rule.http?.paths ?? [];
      if (paths.length === 0) continue;
      const host = rule.host ? concreteHost(rule.host) : "";
      const first = paths[0]?.path || "/";
      const last = paths[paths.length - 1]?.path || "/";
      const cmds: string[] = [];
      if (http) {
        const header = host ? `-H ${shellQuote(`Host: ${host}`)} ` : "";
        cmds.push(`curl ${header}${shellQuote(`${formatHostPort(http)}${first}`)}`);
      }
      // every route is also served over HTTPS (the default certificate when no Secret names the host: -k)
      if (https) {
        const sniHost = host || "localhost";
        const url = `https://${sniHost}:${https.port}${last}`;
        cmds.push(`curl -k --resolve ${shellQuote(`${sniHost}:${https.port}:${https.host}`)} ${shellQuote(url)}`);
      }
      const routes = paths.map((p) => `${p.path || "/"} → ${backendText(p.backend)}`).join(", ");
      if (cmds.length > 0) ingressLines.push([`${ingName}: ${rule.host || "any host"} ${routes}`, ...cmds]);
    }
    if (ing.spec?.defaultBackend && http)
      ingressLines.push([
        `${ingName}: anything no rule matches → default backend ${backendText(ing.spec.defaultBackend)}`,
        `curl ${formatHostPort(http)}/`,
      ]);
  }
  if (ingressLines.length > 0) {
    out.push("Ingress:");
    for (const [comment, ...cmds] of ingressLines) line(comment!, ...cmds);
  }
  const gatewayLines = gatewayApiLines(view);
  if (gatewayLines.length > 0) {
    out.push("Gateway API (the same Services through a Gateway and HTTPRoutes):");
    for (const [comment, ...cmds] of gatewayLines) line(comment!, ...cmds);
  }

  const withPods =
    services.find((s) => !isHeadless(s) && readyEndpoints(view, s) > 0) ?? services.find((s) => !isHeadless(s));
  if (view.dnsAddress) {
    const dns = reach(view.dnsAddress);
    const headless = services.find((s) => s.spec?.clusterIP === "None");
    const names = [withPods, headless].filter((s): s is Service => s !== undefined);
    if (names.length > 0) {
      out.push("Cluster DNS:");
      for (const svc of names) {
        const fqdn = `${svc.metadata?.name}.${svc.metadata?.namespace ?? "default"}.svc.${view.clusterDomain}`;
        line(
          svc === headless ? "headless: the pod IPs" : "the cluster IP",
          `dig @${dns.host} -p ${dns.port} ${shellQuote(fqdn)}`,
        );
      }
    }
  }

  const admin = reach(view.adminAddress);
  const flag = view.adminIsDefault ? "" : ` --admin-address ${formatHostPort(admin)}`;
  out.push("What nodeplane sees:");
  const get = [`npx nodeplane get svc${flag}`, `npx nodeplane get ingresses${flag}`];
  if (gatewayLines.length > 0) get.push(`npx nodeplane get gateways${flag}`, `npx nodeplane get httproutes${flag}`);
  if (withPods) {
    const ns = withPods.metadata?.namespace ?? "default";
    const nsFlag = ns === "default" ? "" : ` -n ${shellQuote(ns)}`;
    get.push(`npx nodeplane describe svc ${shellQuote(withPods.metadata?.name ?? "")}${nsFlag}${flag}`);
  }
  line("kubectl-style tables", ...get);
  out.push(`  # dashboard: http://${formatHostPort(admin)}/`);
  return `${out.join("\n")}\n`;
}

/** HTTP listeners of our Gateways: where each HTTPRoute attached to them answers, one curl per path. */
function gatewayApiLines(view: DemoView): string[][] {
  const controller = view.gatewayController ?? "nodeplane.dev/gateway-controller";
  const ours = new Set(
    (view.gatewayClasses ?? []).filter((c) => c.spec?.controllerName === controller).map((c) => c.metadata?.name ?? ""),
  );
  const gateways = (view.gateways ?? []).filter((g) => ours.has(g.spec?.gatewayClassName ?? ""));
  const lines: string[][] = [];
  for (const route of ordered(view.httpRoutes ?? [])) {
    const routeNs = route.metadata?.namespace ?? "default";
    const targets: string[] = [];
    for (const ref of route.spec?.parentRefs ?? []) {
      if ((ref.kind ?? "Gateway") !== "Gateway") continue;
      const gw = gateways.find(
        (g) => g.metadata?.name === ref.name && (g.metadata?.namespace ?? "default") === (ref.namespace ?? routeNs),
      );
      const address = gw?.spec?.addresses?.find((a) => (a.type ?? "IPAddress") === "IPAddress")?.value;
      const host = address ?? view.gatewayAddress ?? "127.0.0.1";
      for (const l of gw?.spec?.listeners ?? []) {
        if (l.protocol !== "HTTP" || (ref.sectionName && ref.sectionName !== l.name)) continue;
        if (ref.port && ref.port !== l.port) continue;
        const target = formatHostPort(reach({ host, port: l.port }));
        if (!targets.includes(target)) targets.push(target);
      }
    }
    if (targets.length === 0) continue;
    const hostname = route.spec?.hostnames?.[0];
    const header = hostname ? `-H ${shellQuote(`Host: ${concreteHost(hostname)}`)} ` : "";
    const paths: string[] = [];
    const described: string[] = [];
    for (const rule of route.spec?.rules ?? []) {
      const backends = (rule.backendRefs ?? []).map((b) => `${b.name}:${b.port ?? ""}`).join("+") || "no backend";
      for (const match of rule.matches?.length ? rule.matches : [{}]) {
        const path = match.path?.value ?? "/";
        described.push(`${path} → ${backends}`);
        if (!paths.includes(path) && (match.path?.type ?? "PathPrefix") !== "RegularExpression") paths.push(path);
      }
    }
    const cmds = targets.flatMap((t) => paths.map((p) => `curl ${header}${shellQuote(`${t}${p}`)}`));
    if (cmds.length > 0)
      lines.push([`${route.metadata?.name ?? ""}: ${hostname ?? "any host"} ${described.join(", ")}`, ...cmds]);
  }
  return lines;
}
