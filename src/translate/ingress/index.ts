import type { Ingress, IngressBackend, Secret } from "../../model/k8s.ts";
import type { Problem } from "../../model/problems.ts";
import type { Store } from "../../store/store.ts";
import type { TranslateOptions } from "../options.ts";
import type { NodeSnapshot } from "../snapshot.ts";
import { parseAnnotations } from "./annotations.ts";
import { resolveBackend } from "./backends.ts";
import { classSelector } from "./classes.ts";
import type {
  IngressRef,
  IngressRoute,
  IngressSnapshot,
  IngressStatusEntry,
  PathType,
  RouteSettings,
  TlsCertificate,
  VirtualHost,
} from "./model.ts";
import { certificateFromSecret } from "./tls.ts";
import { hostError, pathError } from "./validate.ts";

/** ingress-nginx's regex idiom `/app(/|$)(.*)` means "Prefix /app", with `$2` the rest for rewrite-target. */
const NGINX_PREFIX_IDIOM = "(/|$)(.*)";

/**
 * Ingresses of our class → the compiled route table (design §3, issue 4 step 1). Pure: reads the store,
 * returns the table and the problems found; a broken Ingress never affects the others.
 */
export function translateIngress(
  store: Store,
  options: TranslateOptions,
  node: NodeSnapshot,
): { snapshot: IngressSnapshot; problems: Problem[] } {
  const problems: Problem[] = [];
  const selector = classSelector(store.list("IngressClass"), options);
  const ingresses = [...store.list("Ingress")].sort(byAge);
  const builder = new TableBuilder(store, problems);
  const entries: IngressStatusEntry[] = [];
  for (const ingress of ingresses) {
    const ours = selector.isOurs(ingress);
    entries.push({
      namespace: ingress.metadata?.namespace ?? "default",
      name: ingress.metadata?.name ?? "",
      ours,
      current: ingress.status?.loadBalancer?.ingress ?? [],
    });
    if (ours) builder.add(ingress);
  }
  const addresses = options.publishAddresses.length > 0 ? options.publishAddresses : node.addresses;
  return {
    snapshot: {
      ...builder.build(),
      ingresses: entries,
      statusAddresses: addresses.map((ip) => ({ ip })),
    },
    problems,
  };
}

/** Oldest first (the oldest Ingress wins conflicts, as in ingress-nginx); ties by namespace/name. */
function byAge(a: Ingress, b: Ingress): number {
  const ta = a.metadata?.creationTimestamp ?? "";
  const tb = b.metadata?.creationTimestamp ?? "";
  if (ta !== tb) return Date.parse(ta || "1970-01-01T00:00:00Z") - Date.parse(tb || "1970-01-01T00:00:00Z");
  const ka = `${a.metadata?.namespace ?? "default"}/${a.metadata?.name ?? ""}`;
  const kb = `${b.metadata?.namespace ?? "default"}/${b.metadata?.name ?? ""}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

interface HostBuild {
  routes: Map<string, IngressRoute>;
  defaultRoute?: IngressRoute;
}

interface CertClaim {
  secret: string;
  ingress: IngressRef;
}

class TableBuilder {
  private readonly hosts = new Map<string, HostBuild>();
  private defaultRoute: IngressRoute | undefined;
  private readonly certByHost = new Map<string, CertClaim>();
  private defaultCert: CertClaim | undefined;
  private readonly secretCache = new Map<string, TlsCertificate | null>();
  private readonly store: Store;
  private readonly problems: Problem[];

  constructor(store: Store, problems: Problem[]) {
    this.store = store;
    this.problems = problems;
  }

  add(ingress: Ingress): void {
    const ref: IngressRef = { namespace: ingress.metadata?.namespace ?? "default", name: ingress.metadata?.name ?? "" };
    const report = (field: string, message: string) =>
      this.problems.push({ kind: "Ingress", namespace: ref.namespace, name: ref.name, field, message });
    const settings = parseAnnotations(ingress, this.problems);
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

    const tlsHosts = this.addTls(ingress, ref, ruleHosts, report);

    for (const { index, host } of validRules) {
      const vhost = this.host(host);
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
        const route = this.route(ref, host, path, pathType, p.pathType as IngressRoute["declaredPathType"], p.backend, {
          settings,
          redirect: settings.sslRedirect && tlsHosts.has(host),
          field: `${field}.backend`,
          report,
        });
        if (!route) continue;
        const key = `${pathType} ${matchKey(path, pathType)}`;
        const existing = vhost.routes.get(key);
        if (existing) {
          const owner = `${existing.ingress.namespace}/${existing.ingress.name}`;
          const sameIngress = existing.ingress.namespace === ref.namespace && existing.ingress.name === ref.name;
          report(
            `${field}.path`,
            sameIngress
              ? `${pathType} path "${path}" on host "${host || "*"}" repeats an earlier path of this Ingress; the first one wins`
              : `${pathType} path "${path}" on host "${host || "*"}" is already served by Ingress ${owner}; the older Ingress wins`,
          );
          continue;
        }
        vhost.routes.set(key, route);
      }
    }

    if (spec.defaultBackend) {
      const route = this.route(ref, "", "/", "Prefix", "Default", spec.defaultBackend, {
        settings,
        redirect: false,
        field: "spec.defaultBackend",
        report,
      });
      if (!route) return;
      if (ruleHosts.length === 0) {
        if (this.defaultRoute) {
          const owner = this.defaultRoute.ingress;
          report(
            "spec.defaultBackend",
            `the cluster-wide default backend is already set by Ingress ${owner.namespace}/${owner.name}`,
          );
        } else this.defaultRoute = route;
      } else {
        for (const host of ruleHosts) {
          const vhost = this.host(host);
          if (!vhost.defaultRoute)
            vhost.defaultRoute = { ...route, host, redirectToHttps: settings.sslRedirect && tlsHosts.has(host) };
        }
      }
    }
  }

  build(): Omit<IngressSnapshot, "ingresses" | "statusAddresses"> {
    const hosts: VirtualHost[] = [...this.hosts.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([host, build]) => ({
        host,
        routes: [...build.routes.values()].sort(byPrecedence),
        ...(build.defaultRoute ? { defaultRoute: build.defaultRoute } : {}),
      }));
    const bySecret = new Map<string, string[]>();
    for (const [host, claim] of this.certByHost) {
      if (!this.secretCache.get(claim.secret)) continue;
      const list = bySecret.get(claim.secret) ?? [];
      list.push(host);
      bySecret.set(claim.secret, list);
    }
    const certificates = [...bySecret.entries()]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([secret, hosts]) => withHosts(this.secretCache.get(secret)!, hosts.sort()));
    const fallback = this.defaultCert ? this.secretCache.get(this.defaultCert.secret) : undefined;
    return {
      hosts,
      ...(this.defaultRoute ? { defaultRoute: this.defaultRoute } : {}),
      certificates,
      ...(fallback ? { defaultCertificate: withHosts(fallback, []) } : {}),
    };
  }

  private host(host: string): HostBuild {
    let build = this.hosts.get(host);
    if (!build) {
      build = { routes: new Map() };
      this.hosts.set(host, build);
    }
    return build;
  }

  private route(
    ingress: IngressRef,
    host: string,
    path: string,
    pathType: PathType,
    declaredPathType: IngressRoute["declaredPathType"],
    backend: IngressBackend,
    ctx: { settings: RouteSettings; redirect: boolean; field: string; report: (f: string, m: string) => void },
  ): IngressRoute | undefined {
    if (!backend.service) {
      ctx.report(
        ctx.field,
        backend.resource ? "resource backends are not supported (only service backends)" : "needs a service backend",
      );
      return undefined;
    }
    const { target, error } = resolveBackend(this.store, ingress.namespace, backend.service);
    // The route stays (and answers 503) so a missing Service does not silently fall through to another route.
    if (error) ctx.report(`${ctx.field}.service`, error);
    return {
      ingress,
      host,
      path,
      pathType,
      declaredPathType,
      backend: target,
      settings: ctx.settings,
      redirectToHttps: ctx.redirect,
    };
  }

  /** Claims certificates for this Ingress's TLS hosts; returns the hosts it lists as TLS (for the redirect). */
  private addTls(
    ingress: Ingress,
    ref: IngressRef,
    ruleHosts: readonly string[],
    report: (field: string, message: string) => void,
  ): Set<string> {
    const tlsHosts = new Set<string>();
    (ingress.spec?.tls ?? []).forEach((entry, k) => {
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
      const secretKey = `${ref.namespace}/${entry.secretName}`;
      if (!this.loadSecret(secretKey)) {
        if (!this.store.get("Secret", secretKey))
          report(`spec.tls[${k}].secretName`, `Secret "${secretKey}" not found; its hosts get the default certificate`);
        return;
      }
      if (!explicit && ruleHosts.length === 0) {
        if (!this.defaultCert) this.defaultCert = { secret: secretKey, ingress: ref };
        return;
      }
      for (const host of covered) {
        const claim = this.certByHost.get(host);
        if (!claim) this.certByHost.set(host, { secret: secretKey, ingress: ref });
        else if (claim.secret !== secretKey)
          report(
            `spec.tls[${k}]`,
            `host "${host}" already has the certificate of Secret ${claim.secret} (Ingress ${claim.ingress.namespace}/${claim.ingress.name}); the older Ingress wins`,
          );
      }
    });
    return tlsHosts;
  }

  private loadSecret(key: string): TlsCertificate | null {
    const cached = this.secretCache.get(key);
    if (cached !== undefined) return cached;
    const secret = this.store.get("Secret", key);
    let result: TlsCertificate | null = null;
    if (secret) {
      const parsed = parseSecret(secret);
      if ("certificate" in parsed) result = parsed.certificate;
      else
        this.problems.push({
          kind: "Secret",
          namespace: secret.metadata?.namespace ?? "default",
          name: secret.metadata?.name ?? "",
          field: parsed.field,
          message: `${parsed.error}; hosts using it get the default certificate`,
        });
    }
    this.secretCache.set(key, result);
    return result;
  }
}

/** Secrets are immutable in the store (replaced on change), so parsed certificates are memoised by identity. */
const parsedSecrets = new WeakMap<Secret, ReturnType<typeof certificateFromSecret>>();

function parseSecret(secret: Secret): ReturnType<typeof certificateFromSecret> {
  let parsed = parsedSecrets.get(secret);
  if (!parsed) {
    parsed = certificateFromSecret(secret, []);
    parsedSecrets.set(secret, parsed);
  }
  return parsed;
}

function withHosts(certificate: TlsCertificate, hosts: string[]): TlsCertificate {
  const copy = { ...certificate, hosts } as TlsCertificate;
  Object.defineProperty(copy, "keyPem", { value: certificate.keyPem, enumerable: false });
  return copy;
}

/** The part of a path that decides matching: a Prefix ignores its trailing slash (`/foo/` ≡ `/foo`, `/` ≡ ``). */
export function matchKey(path: string, pathType: PathType): string {
  if (pathType === "Exact") return path;
  let end = path.length;
  while (end > 0 && path.charCodeAt(end - 1) === 47) end--;
  return path.slice(0, end);
}

function byPrecedence(a: IngressRoute, b: IngressRoute): number {
  const la = matchKey(a.path, a.pathType).length;
  const lb = matchKey(b.path, b.pathType).length;
  if (la !== lb) return lb - la;
  if (a.pathType !== b.pathType) return a.pathType === "Exact" ? -1 : 1;
  return a.path < b.path ? -1 : a.path > b.path ? 1 : 0;
}
