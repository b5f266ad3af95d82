import type { Secret } from "../../model/k8s.ts";
import type { Problem } from "../../model/problems.ts";
import {
  type IngressRef,
  type IngressRoute,
  type IngressSnapshot,
  matchKey,
  type TlsCertificate,
  type VirtualHost,
} from "../../snapshot/ingress.ts";
import type { Store } from "../../store/store.ts";
import type { CompiledIngress, Step } from "./compile.ts";
import { certificateFromSecret } from "./tls.ts";

interface HostBuild {
  routes: Map<string, IngressRoute>;
  defaultRoute?: IngressRoute;
}

interface CertClaim {
  secret: string;
  ingress: IngressRef;
}

/** The shared table: compiled Ingresses replayed oldest first; the older one wins every conflict. */
export class TableBuilder {
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
