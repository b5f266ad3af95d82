import type { EndpointSlice, Ingress, IngressBackend, LoadBalancerIngress, Secret, Service } from "../../model/k8s.ts";
import type { Problem } from "../../model/problems.ts";
import {
  type IngressRef,
  type IngressRoute,
  type IngressSnapshot,
  type IngressStatusEntry,
  matchKey,
  type PathType,
  type TlsCertificate,
  type VirtualHost,
} from "../../snapshot/ingress.ts";
import type { NodeSnapshot } from "../../snapshot/snapshot.ts";
import type { Store, StoreChange } from "../../store/store.ts";
import { addSliceOwners, StoreFollower } from "../follow.ts";
import type { TranslateOptions } from "../options.ts";
import { parseAnnotations } from "./annotations.ts";
import { resolveBackend } from "./backends.ts";
import { classSelector } from "./classes.ts";
import { certificateFromSecret } from "./tls.ts";
import { hostError, pathError } from "./validate.ts";

/** ingress-nginx's regex idiom `/app(/|$)(.*)` means "Prefix /app", with `$2` the rest for rewrite-target. */
const NGINX_PREFIX_IDIOM = "(/|$)(.*)";

/** One translator per store, for callers of `translateIngress` (tests); the Translator has its own. */
const perStore = new WeakMap<Store, IngressTranslator>();

/**
 * Ingresses of our class → the compiled route table (docs/ingress.md). Pure: reads the store,
 * returns the table and the problems found; a broken Ingress never affects the others.
 */
export function translateIngress(
  store: Store,
  options: TranslateOptions,
  node: NodeSnapshot,
): { snapshot: IngressSnapshot; problems: Problem[] } {
  let translator = perStore.get(store);
  if (!translator) {
    translator = new IngressTranslator();
    perStore.set(store, translator);
  }
  return translator.translate(store, options, node);
}

/**
 * What one Ingress says on its own, decided once per Ingress object and backend state: its settings,
 * validation problems, resolved backends, and the ordered steps its table entries take. The steps that
 * depend on other Ingresses (who owns a host/path, a certificate, the default backend) and on Secrets
 * are replayed against the shared table on each build, in age order, so problems come out in the
 * same order as a one-pass build.
 */
interface CompiledIngress {
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

type Step =
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

/**
 * Ingresses → route table, recompiling only Ingresses whose own object or backend Services/slices
 * changed (the store's change batches name them). The table itself is then assembled from the
 * compiled Ingresses; virtual hosts whose routes are the same objects as last time are reused, and
 * when nothing the table depends on changed the previous snapshot is returned as is.
 */
export class IngressTranslator {
  private readonly follower = new StoreFollower((store, changes) => this.onChanges(store, changes));
  private readonly dirtyIngresses = new Set<string>();
  private readonly dirtyServices = new Set<string>();
  /** Secrets or IngressClasses changed: the table is assembled again */
  private tableDirty = true;
  /** Service key → Ingress keys whose backends name it */
  private readonly dependents = new Map<string, Set<string>>();
  private compiled = new Map<string, CompiledIngress>();
  private order: CompiledIngress[] = [];
  private orderDirty = true;
  private context = "";
  private previousHosts = new Map<string, { inserted: readonly IngressRoute[]; vhost: VirtualHost }>();
  private previousCertificates = new Map<string, TlsCertificate>();
  private statusAddresses: readonly LoadBalancerIngress[] = [];
  private statusKey = "";
  private last: { snapshot: IngressSnapshot; problems: Problem[] } | undefined;

  translate(
    store: Store,
    options: TranslateOptions,
    node: NodeSnapshot,
  ): { snapshot: IngressSnapshot; problems: Problem[] } {
    this.follow(store);
    const context = `${options.ingressClass}|${options.ingressController}`;
    if (context !== this.context) this.tableDirty = true;
    this.context = context;
    const full = this.last === undefined || this.follower.behind(store);
    let changed = this.tableDirty;

    if (full) {
      // Secrets and IngressClasses may have changed unseen (changes not delivered yet): assemble again.
      changed = true;
      const next = new Map<string, CompiledIngress>();
      for (const [key, ingress] of store.entries("Ingress")) {
        const previous = this.compiled.get(key);
        const entry = previous && upToDate(store, previous, ingress) ? previous : this.compile(store, key, ingress);
        if (entry !== previous) changed = true;
        next.set(key, entry);
      }
      if (next.size !== this.compiled.size) changed = true;
      for (const [key, gone] of this.compiled) if (!next.has(key)) this.forget(gone);
      this.compiled = next;
      if (changed) this.orderDirty = true;
    } else {
      const revisit = new Set(this.dirtyIngresses);
      for (const service of this.dirtyServices) for (const key of this.dependents.get(service) ?? []) revisit.add(key);
      for (const key of revisit) {
        const ingress = store.get("Ingress", key);
        const previous = this.compiled.get(key);
        if (!ingress) {
          if (previous) {
            this.forget(previous);
            this.compiled.delete(key);
            changed = this.orderDirty = true;
          }
          continue;
        }
        if (previous && upToDate(store, previous, ingress)) continue;
        const entry = this.compile(store, key, ingress);
        this.compiled.set(key, entry);
        changed = true;
        if (!previous || previous.time !== entry.time) this.orderDirty = true;
        else if (!this.orderDirty) {
          const at = this.order.indexOf(previous);
          if (at >= 0) this.order[at] = entry;
          else this.orderDirty = true;
        }
      }
    }
    this.dirtyIngresses.clear();
    this.dirtyServices.clear();
    this.follower.synced(store);

    const addresses = options.publishAddresses.length > 0 ? options.publishAddresses : node.addresses;
    const statusKey = addresses.join(",");
    if (statusKey !== this.statusKey) {
      this.statusKey = statusKey;
      this.statusAddresses = addresses.map((ip) => ({ ip }));
      changed = true;
    }
    if (this.last && !changed) return this.last;
    this.tableDirty = false;

    if (this.orderDirty) {
      this.order = [...this.compiled.values()].sort(byAge);
      this.orderDirty = false;
    }
    const problems: Problem[] = [];
    const selector = classSelector(store.list("IngressClass"), options);
    const builder = new TableBuilder(store, problems);
    const entries: IngressStatusEntry[] = [];
    for (const compiled of this.order) {
      const ours = selector.isOurs(compiled.ingress);
      entries.push(statusEntry(compiled, ours));
      if (ours) builder.replay(compiled);
    }
    const table = builder.build(this.previousHosts, this.previousCertificates);
    this.previousHosts = table.hostsByName;
    this.previousCertificates = table.certificatesBySecret;
    const previousEntries = this.last?.snapshot.ingresses;
    this.last = {
      snapshot: {
        ...table.snapshot,
        // the same list as before when every entry is (the status writer then has nothing to look at)
        ingresses: previousEntries && sameList(previousEntries, entries) ? previousEntries : entries,
        statusAddresses: this.statusAddresses,
      },
      // the same list as before when no problem changed, so consumers can skip it
      problems: this.last && sameProblems(this.last.problems, problems) ? this.last.problems : problems,
    };
    return this.last;
  }

  /** Stops listening to the store. */
  close(): void {
    this.follower.close();
  }

  private compile(store: Store, key: string, ingress: Ingress): CompiledIngress {
    const previous = this.compiled.get(key);
    if (previous) this.forget(previous);
    const compiled = compileIngress(store, key, ingress);
    for (const dep of compiled.backends) {
      let set = this.dependents.get(dep.key);
      if (!set) {
        set = new Set();
        this.dependents.set(dep.key, set);
      }
      set.add(key);
    }
    return compiled;
  }

  private forget(compiled: CompiledIngress): void {
    for (const dep of compiled.backends) {
      const set = this.dependents.get(dep.key);
      set?.delete(compiled.key);
      if (set?.size === 0) this.dependents.delete(dep.key);
    }
  }

  private follow(store: Store): void {
    if (this.follower.follow(store)) this.last = undefined;
  }

  private onChanges(store: Store, changes: readonly StoreChange[]): void {
    for (const change of changes) {
      const { kind, key } = change;
      if (kind === "Ingress") this.dirtyIngresses.add(key);
      else if (kind === "Service") this.dirtyServices.add(key);
      else if (kind === "Secret" || kind === "IngressClass") this.tableDirty = true;
      else if (kind === "EndpointSlice") addSliceOwners(store, change, this.dirtyServices);
    }
  }
}

/** The Ingress object and every backend Service and slice list are the very ones it was compiled from. */
function upToDate(store: Store, compiled: CompiledIngress, ingress: Ingress): boolean {
  if (compiled.ingress !== ingress) return false;
  for (const dep of compiled.backends) {
    if (store.get("Service", dep.key) !== dep.service) return false;
    const slices = store.slicesFor(dep.key);
    if (slices.length !== dep.slices.length || slices.some((s, i) => s !== dep.slices[i])) return false;
  }
  return true;
}

function sameList<T>(a: readonly T[], b: readonly T[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function sameProblems(a: readonly Problem[], b: readonly Problem[]): boolean {
  return (
    a.length === b.length &&
    a.every((p, i) => {
      const q = b[i]!;
      return (
        p === q ||
        (p.kind === q.kind &&
          p.namespace === q.namespace &&
          p.name === q.name &&
          p.field === q.field &&
          p.message === q.message &&
          p.origin === q.origin)
      );
    })
  );
}

function statusEntry(compiled: CompiledIngress, ours: boolean): IngressStatusEntry {
  const slot = ours ? "ours" : "theirs";
  const existing = compiled.entries[slot];
  if (existing) return existing;
  const ingress = compiled.ingress;
  const entry: IngressStatusEntry = {
    namespace: ingress.metadata?.namespace ?? "default",
    name: ingress.metadata?.name ?? "",
    ours,
    current: ingress.status?.loadBalancer?.ingress ?? [],
  };
  compiled.entries[slot] = entry;
  return entry;
}

/** Oldest first (the oldest Ingress wins conflicts, as in ingress-nginx); ties by namespace/name. */
function byAge(a: CompiledIngress, b: CompiledIngress): number {
  if (a.time !== b.time) return a.time - b.time;
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

function creationTime(ingress: Ingress): number {
  const ms = Date.parse(ingress.metadata?.creationTimestamp || "1970-01-01T00:00:00Z");
  return Number.isFinite(ms) ? ms : 0;
}

/** Everything about one Ingress that does not depend on the other Ingresses or on Secrets. */
function compileIngress(store: Store, key: string, ingress: Ingress): CompiledIngress {
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

interface HostBuild {
  routes: Map<string, IngressRoute>;
  defaultRoute?: IngressRoute;
}

interface CertClaim {
  secret: string;
  ingress: IngressRef;
}

/** The shared table: compiled Ingresses replayed oldest first; the older one wins every conflict. */
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

  replay(compiled: CompiledIngress): void {
    const ingress = compiled.ingress;
    const ref: IngressRef = { namespace: ingress.metadata?.namespace ?? "default", name: ingress.metadata?.name ?? "" };
    const report = (field: string, message: string) =>
      this.problems.push({ kind: "Ingress", namespace: ref.namespace, name: ref.name, field, message });
    for (const step of compiled.steps) {
      switch (step.kind) {
        case "problem":
          this.problems.push(step.problem);
          break;
        case "host":
          this.host(step.host);
          break;
        case "tls":
          this.claimCertificate(step, ref, report);
          break;
        case "route": {
          const vhost = this.host(step.host);
          const existing = vhost.routes.get(step.key);
          if (existing) {
            const owner = `${existing.ingress.namespace}/${existing.ingress.name}`;
            const sameIngress = existing.ingress.namespace === ref.namespace && existing.ingress.name === ref.name;
            report(
              `${step.field}.path`,
              sameIngress
                ? `${step.pathType} path "${step.path}" on host "${step.host || "*"}" repeats an earlier path of this Ingress; the first one wins`
                : `${step.pathType} path "${step.path}" on host "${step.host || "*"}" is already served by Ingress ${owner}; the older Ingress wins`,
            );
            break;
          }
          vhost.routes.set(step.key, step.route);
          break;
        }
        case "clusterDefault":
          if (this.defaultRoute) {
            const owner = this.defaultRoute.ingress;
            report(
              "spec.defaultBackend",
              `the cluster-wide default backend is already set by Ingress ${owner.namespace}/${owner.name}`,
            );
          } else this.defaultRoute = step.route;
          break;
        case "hostDefault": {
          const vhost = this.host(step.host);
          if (!vhost.defaultRoute) vhost.defaultRoute = step.route;
          break;
        }
      }
    }
  }

  /**
   * The table, reusing the previous build's virtual hosts whose routes are the same objects in the
   * same order, and its certificates whose Secret and hosts are the same.
   */
  build(
    previousHosts: ReadonlyMap<string, { inserted: readonly IngressRoute[]; vhost: VirtualHost }>,
    previousCertificates: ReadonlyMap<string, TlsCertificate>,
  ): {
    snapshot: Omit<IngressSnapshot, "ingresses" | "statusAddresses">;
    hostsByName: Map<string, { inserted: readonly IngressRoute[]; vhost: VirtualHost }>;
    certificatesBySecret: Map<string, TlsCertificate>;
  } {
    const hostsByName = new Map<string, { inserted: readonly IngressRoute[]; vhost: VirtualHost }>();
    const names = [...this.hosts.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const hosts: VirtualHost[] = names.map((host) => {
      const build = this.hosts.get(host)!;
      const inserted = [...build.routes.values()];
      const previous = previousHosts.get(host);
      const vhost =
        previous &&
        previous.vhost.defaultRoute === build.defaultRoute &&
        previous.inserted.length === inserted.length &&
        previous.inserted.every((r, i) => r === inserted[i])
          ? previous.vhost
          : {
              host,
              routes: [...inserted].sort(byPrecedence),
              ...(build.defaultRoute ? { defaultRoute: build.defaultRoute } : {}),
            };
      hostsByName.set(host, { inserted, vhost });
      return vhost;
    });
    const bySecret = new Map<string, string[]>();
    for (const [host, claim] of this.certByHost) {
      if (!this.secretCache.get(claim.secret)) continue;
      const list = bySecret.get(claim.secret) ?? [];
      list.push(host);
      bySecret.set(claim.secret, list);
    }
    const certificatesBySecret = new Map<string, TlsCertificate>();
    const certificates = [...bySecret.entries()]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([secret, hosts]) => {
        const certificate = this.secretCache.get(secret)!;
        hosts.sort();
        const previous = previousCertificates.get(secret);
        const result =
          previous &&
          previous.certPem === certificate.certPem &&
          previous.keyPem === certificate.keyPem &&
          previous.fingerprint256 === certificate.fingerprint256 &&
          previous.hosts.length === hosts.length &&
          previous.hosts.every((h, i) => h === hosts[i])
            ? previous
            : withHosts(certificate, hosts);
        certificatesBySecret.set(secret, result);
        return result;
      });
    const fallback = this.defaultCert ? this.secretCache.get(this.defaultCert.secret) : undefined;
    return {
      snapshot: {
        hosts,
        ...(this.defaultRoute ? { defaultRoute: this.defaultRoute } : {}),
        certificates,
        ...(fallback ? { defaultCertificate: withHosts(fallback, []) } : {}),
      },
      hostsByName,
      certificatesBySecret,
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

  /** A TLS entry's Secret: its certificate for the hosts it covers, unless an older Ingress has one there. */
  private claimCertificate(
    step: Extract<Step, { kind: "tls" }>,
    ref: IngressRef,
    report: (field: string, message: string) => void,
  ): void {
    const { secretKey, index: k } = step;
    if (!this.loadSecret(secretKey)) {
      if (!this.store.get("Secret", secretKey))
        report(`spec.tls[${k}].secretName`, `Secret "${secretKey}" not found; its hosts get the default certificate`);
      return;
    }
    if (!step.explicit && step.noRuleHosts) {
      if (!this.defaultCert) this.defaultCert = { secret: secretKey, ingress: ref };
      return;
    }
    for (const host of step.covered) {
      const claim = this.certByHost.get(host);
      if (!claim) this.certByHost.set(host, { secret: secretKey, ingress: ref });
      else if (claim.secret !== secretKey)
        report(
          `spec.tls[${k}]`,
          `host "${host}" already has the certificate of Secret ${claim.secret} (Ingress ${claim.ingress.namespace}/${claim.ingress.name}); the older Ingress wins`,
        );
    }
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

function byPrecedence(a: IngressRoute, b: IngressRoute): number {
  const la = matchKey(a.path, a.pathType).length;
  const lb = matchKey(b.path, b.pathType).length;
  if (la !== lb) return lb - la;
  if (a.pathType !== b.pathType) return a.pathType === "Exact" ? -1 : 1;
  return a.path < b.path ? -1 : a.path > b.path ? 1 : 0;
}
