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

type Report = (field: string, message: string) => void;

/** What the steps of one Ingress share while it is compiled. */
interface Compiling {
  store: Store;
  ref: IngressRef;
  settings: IngressRoute["settings"];
  steps: Step[];
  /** the backend Services met so far, by key: the compiled Ingress is stale when one of them changes */
  backends: Map<string, BackendDep>;
  report: Report;
}

/** Everything about one Ingress that does not depend on the other Ingresses or on Secrets. */
export function compileIngress(store: Store, key: string, ingress: Ingress): CompiledIngress {
  const steps: Step[] = [];
  const ref: IngressRef = { namespace: ingress.metadata?.namespace ?? "default", name: ingress.metadata?.name ?? "" };
  const report: Report = (field, message) =>
    steps.push({
      kind: "problem",
      problem: { kind: "Ingress", namespace: ref.namespace, name: ref.name, field, message },
    });
  const annotationProblems: Problem[] = [];
  const settings = parseAnnotations(ingress, annotationProblems);
  for (const problem of annotationProblems) steps.push({ kind: "problem", problem });
  const c: Compiling = { store, ref, settings, steps, backends: new Map(), report };
  const spec = ingress.spec ?? {};

  const { ruleHosts, validRules } = validHostRules(spec, report);
  const tlsHosts = tlsSteps(c, spec, ruleHosts);
  for (const rule of validRules) pathSteps(c, spec, rule, tlsHosts);
  if (spec.defaultBackend) defaultBackendSteps(c, spec.defaultBackend, ruleHosts, tlsHosts);
  return { ingress, key, time: creationTime(ingress), steps, backends: [...c.backends.values()], entries: {} };
}

type IngressSpec = NonNullable<Ingress["spec"]>;

/** The rules whose host is valid (or empty), and the distinct non-empty hosts among them (a tls entry without hosts covers them). */
function validHostRules(
  spec: IngressSpec,
  report: Report,
): { ruleHosts: string[]; validRules: { index: number; host: string }[] } {
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
  return { ruleHosts, validRules };
}

/**
 * TLS: host validation and coverage here; the certificate claims are replayed with the other Ingresses
 * (a "tls" step per entry with a secretName). Returns the hosts TLS covers (ssl-redirect applies to them).
 */
function tlsSteps(c: Compiling, spec: IngressSpec, ruleHosts: readonly string[]): Set<string> {
  const tlsHosts = new Set<string>();
  (spec.tls ?? []).forEach((entry, k) => {
    const hosts: string[] = [];
    (entry.hosts ?? []).forEach((host, h) => {
      const error = hostError(host);
      if (error) c.report(`spec.tls[${k}].hosts[${h}]`, `"${host}" ${error}`);
      else hosts.push(host);
    });
    const explicit = entry.hosts !== undefined && entry.hosts.length > 0;
    const covered = explicit ? hosts : ruleHosts;
    for (const host of covered) tlsHosts.add(host);
    if (!entry.secretName) return;
    c.steps.push({
      kind: "tls",
      index: k,
      secretKey: `${c.ref.namespace}/${entry.secretName}`,
      explicit,
      covered,
      noRuleHosts: ruleHosts.length === 0,
    });
  });
  return tlsHosts;
}

/** A "host" step for one valid rule, then a "route" step for each of its paths that is valid and has a service backend. */
function pathSteps(
  c: Compiling,
  spec: IngressSpec,
  { index, host }: { index: number; host: string },
  tlsHosts: ReadonlySet<string>,
): void {
  c.steps.push({ kind: "host", host });
  for (const [j, p] of (spec.rules?.[index]?.http?.paths ?? []).entries()) {
    const field = `spec.rules[${index}].http.paths[${j}]`;
    const error = pathError(p.path, p.pathType);
    if (error) {
      c.report(p.pathType === undefined ? `${field}.pathType` : `${field}.path`, error);
      continue;
    }
    let path = p.path || "/";
    const pathType: PathType = p.pathType === "Exact" ? "Exact" : "Prefix";
    if (p.pathType === "ImplementationSpecific" && path.endsWith(NGINX_PREFIX_IDIOM))
      path = path.slice(0, -NGINX_PREFIX_IDIOM.length) || "/";
    if (p.pathType === "ImplementationSpecific" && /[()[\]{}*+?|^$\\]/.test(path)) {
      c.report(`${field}.path`, `"${p.path}": regular expressions are not supported; path skipped`);
      continue;
    }
    const r = backendRoute(
      c,
      host,
      path,
      pathType,
      p.pathType as IngressRoute["declaredPathType"],
      p.backend,
      c.settings.sslRedirect && tlsHosts.has(host),
      `${field}.backend`,
    );
    if (!r) continue;
    c.steps.push({
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

/** spec.defaultBackend: the cluster-wide default when the Ingress has no host rules, else each rule host's default. */
function defaultBackendSteps(
  c: Compiling,
  backend: IngressBackend,
  ruleHosts: readonly string[],
  tlsHosts: ReadonlySet<string>,
): void {
  const r = backendRoute(c, "", "/", "Prefix", "Default", backend, false, "spec.defaultBackend");
  if (!r) return;
  if (ruleHosts.length === 0) c.steps.push({ kind: "clusterDefault", route: r });
  else
    for (const host of ruleHosts)
      c.steps.push({
        kind: "hostDefault",
        host,
        route: { ...r, host, redirectToHttps: c.settings.sslRedirect && tlsHosts.has(host) },
      });
}

/**
 * A route to a service backend, its Service remembered as a dependency; undefined (reported) for a
 * resource backend or none.
 */
function backendRoute(
  c: Compiling,
  host: string,
  path: string,
  pathType: PathType,
  declaredPathType: IngressRoute["declaredPathType"],
  backend: IngressBackend,
  redirect: boolean,
  field: string,
): IngressRoute | undefined {
  if (!backend.service) {
    c.report(
      field,
      backend.resource ? "resource backends are not supported (only service backends)" : "needs a service backend",
    );
    return undefined;
  }
  const serviceKey = `${c.ref.namespace}/${backend.service.name}`;
  if (!c.backends.has(serviceKey))
    c.backends.set(serviceKey, {
      key: serviceKey,
      service: c.store.get("Service", serviceKey),
      slices: c.store.slicesFor(serviceKey),
    });
  const { target, error } = resolveBackend(c.store, c.ref.namespace, backend.service);
  // The route stays (and answers 503) so a missing Service does not silently fall through to another route.
  if (error) c.report(`${field}.service`, error);
  return {
    ingress: c.ref,
    host,
    path,
    pathType,
    declaredPathType,
    backend: target,
    settings: c.settings,
    redirectToHttps: redirect,
  };
}
