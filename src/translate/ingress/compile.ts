import type { EndpointSlice, Ingress, IngressBackend, Service } from "../../model/k8s.ts";
import type { Problem } from "../../model/problems.ts";
import {
  type IngressRef,
  type IngressRoute,
  type IngressStatusEntry,
  matchKey,
  type PathType,
} from "../../snapshot/ingress.ts";
import type { Store } from "../../store/store.ts";
import { parseAnnotations } from "./annotations.ts";
import { resolveBackend } from "./backends.ts";
import { hostError, pathError } from "./validate.ts";

/** ingress-nginx's regex idiom `/app(/|$)(.*)` means "Prefix /app", with `$2` the rest for rewrite-target. */
const NGINX_PREFIX_IDIOM = "(/|$)(.*)";

/**
 * What one Ingress says on its own, decided once per Ingress object and backend state: its settings,
 * validation problems, resolved backends, and the ordered steps its table entries take. The steps that
 * depend on other Ingresses (who owns a host/path, a certificate, the default backend) and on Secrets
 * are replayed against the shared table on each build, in age order, so problems come out in the
 * same order as a one-pass build.
 */
export interface CompiledIngress {
  ingress: Ingress;
  key: string;
  /** creationTimestamp in ms (unset or unreadable = 0), then the key: the age order */
  time: number;
  steps: readonly Step[];
  /** the Services (with their slices) its backends were resolved against */
  backends: readonly BackendDep[];
  /** status entries for `ours` false and true, made once */
  entries: Partial<Record<"ours" | "theirs", IngressStatusEntry>>;
}

interface BackendDep {
  key: string;
  service: Service | undefined;
  slices: readonly EndpointSlice[];
}

export type Step =
  | { kind: "problem"; problem: Problem }
  /** the host gets a virtual host even when none of its paths is valid */
  | { kind: "host"; host: string }
  | { kind: "route"; host: string; key: string; route: IngressRoute; field: string; path: string; pathType: PathType }
  | {
      kind: "tls";
      index: number;
      secretKey: string;
      explicit: boolean;
      covered: readonly string[];
      /** the Ingress has no valid host rules: a tls entry without hosts then sets the default certificate */
      noRuleHosts: boolean;
    }
  | { kind: "clusterDefault"; route: IngressRoute }
  | { kind: "hostDefault"; host: string; route: IngressRoute };
function creationTime(ingress: Ingress): number {
  const ms = Date.parse(ingress.metadata?.creationTimestamp || "1970-01-01T00:00:00Z");
  return Number.isFinite(ms) ? ms : 0;
}

/** Everything about one Ingress that does not depend on the other Ingresses or on Secrets. */
export function compileIngress(store: Store, key: string, ingress: Ingress): CompiledIngress {
  const steps: Step[] = [];
  const backends = new Map<string, BackendDep>();
  const ref: IngressRef = { namespace: ingress.metadata?.namespace ?? "default", name: ingress.metadata?.name ?? "" };
  const report = (field: string, message: string) =>
    steps.push({
      kind: "problem",
      problem: { kind: "Ingress", namespace: ref.namespace, name: ref.name, field, message },
    });
  const annotationProblems: Problem[] = [];
  const settings = parseAnnotations(ingress, annotationProblems);
  for (const problem of annotationProblems) steps.push({ kind: "problem", problem });
  const spec = ingress.spec ?? {};

  // Hosts of this Ingress's valid rules (a tls entry without hosts covers them).
  const ruleHosts: string[] = [];
  const validRules: { index: number; host: string }[] = [];
  for (const [index, rule] of (spec.rules ?? []).entries()) {
    const host = rule.host ?? "";
    if (host !== "") {
      const error = hostError(host);
      if (error) {
        report(`spec.rules[${index}].host`, `"${host}" ${error}`);
        continue;
      }
      if (!ruleHosts.includes(host)) ruleHosts.push(host);
    }
    validRules.push({ index, host });
  }

  // TLS: host validation and coverage here; the certificate claims are replayed with the other Ingresses.
  const tlsHosts = new Set<string>();
  (spec.tls ?? []).forEach((entry, k) => {
    const hosts: string[] = [];
    (entry.hosts ?? []).forEach((host, h) => {
      const error = hostError(host);
      if (error) report(`spec.tls[${k}].hosts[${h}]`, `"${host}" ${error}`);
      else hosts.push(host);
    });
    const explicit = entry.hosts !== undefined && entry.hosts.length > 0;
    const covered = explicit ? hosts : ruleHosts;
    for (const host of covered) tlsHosts.add(host);
    if (!entry.secretName) return;
    steps.push({
      kind: "tls",
      index: k,
      secretKey: `${ref.namespace}/${entry.secretName}`,
      explicit,
      covered,
      noRuleHosts: ruleHosts.length === 0,
    });
  });

  const route = (
    host: string,
    path: string,
    pathType: PathType,
    declaredPathType: IngressRoute["declaredPathType"],
    backend: IngressBackend,
    redirect: boolean,
    field: string,
  ): IngressRoute | undefined => {
    if (!backend.service) {
      report(
        field,
        backend.resource ? "resource backends are not supported (only service backends)" : "needs a service backend",
      );
      return undefined;
    }
    const serviceKey = `${ref.namespace}/${backend.service.name}`;
    if (!backends.has(serviceKey))
      backends.set(serviceKey, {
        key: serviceKey,
        service: store.get("Service", serviceKey),
        slices: store.slicesFor(serviceKey),
      });
    const { target, error } = resolveBackend(store, ref.namespace, backend.service);
    // The route stays (and answers 503) so a missing Service does not silently fall through to another route.
    if (error) report(`${field}.service`, error);
    return {
      ingress: ref,
      host,
      path,
      pathType,
      declaredPathType,
      backend: target,
      settings,
      redirectToHttps: redirect,
    };
  };

  for (const { index, host } of validRules) {
    steps.push({ kind: "host", host });
    for (const [j, p] of (spec.rules?.[index]?.http?.paths ?? []).entries()) {
      const field = `spec.rules[${index}].http.paths[${j}]`;
      const error = pathError(p.path, p.pathType);
      if (error) {
        report(p.pathType === undefined ? `${field}.pathType` : `${field}.path`, error);
        continue;
      }
      let path = p.path || "/";
      const pathType: PathType = p.pathType === "Exact" ? "Exact" : "Prefix";
      if (p.pathType === "ImplementationSpecific" && path.endsWith(NGINX_PREFIX_IDIOM))
        path = path.slice(0, -NGINX_PREFIX_IDIOM.length) || "/";
      if (p.pathType === "ImplementationSpecific" && /[()[\]{}*+?|^$\\]/.test(path)) {
        report(`${field}.path`, `"${p.path}": regular expressions are not supported; path skipped`);
        continue;
      }
      const r = route(
        host,
        path,
        pathType,
        p.pathType as IngressRoute["declaredPathType"],
        p.backend,
        settings.sslRedirect && tlsHosts.has(host),
        `${field}.backend`,
      );
      if (!r) continue;
      steps.push({
        kind: "route",
        host,
        key: `${pathType} ${matchKey(path, pathType)}`,
        route: r,
        field,
        path,
        pathType,
      });
    }
  }

  if (spec.defaultBackend) {
    const r = route("", "/", "Prefix", "Default", spec.defaultBackend, false, "spec.defaultBackend");
    if (r) {
      if (ruleHosts.length === 0) steps.push({ kind: "clusterDefault", route: r });
      else
        for (const host of ruleHosts)
          steps.push({
            kind: "hostDefault",
            host,
            route: { ...r, host, redirectToHttps: settings.sslRedirect && tlsHosts.has(host) },
          });
    }
  }
  return { ingress, key, time: creationTime(ingress), steps, backends: [...backends.values()], entries: {} };
}
