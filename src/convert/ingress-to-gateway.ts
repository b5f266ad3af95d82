/**
 * Ingresses → the Gateway API objects that route the same requests (`nodeplane convert`, docs/gateway.md):
 * a Gateway per IngressClass used, an HTTPRoute per Ingress (per host when an Ingress names several), the
 * redirects ingress-nginx makes to HTTPS, ReferenceGrants for certificates in other namespaces, and one
 * `#` comment line per annotation or feature that has no Gateway API equivalent. Pure: objects in, YAML
 * text out, the same text for the same input whatever its order.
 */
import { stringify } from "yaml";
import { annotationOf, notConverted } from "./annotations.ts";
import { arr, commentSafe, compare, isObj, minName, type Obj, str, strings, strMap } from "./json.ts";

export interface ConvertOptions {
  /** the Gateway's name; default: the IngressClass's name (with several classes, `NAME-CLASS`) */
  gatewayName?: string;
  /** the Gateway's namespace; default: the Ingresses' namespace when they share one, else `default` */
  gatewayNamespace?: string;
  httpPort: number;
  httpsPort: number;
  /** the GatewayClass written and named by the Gateways */
  gatewayClassName: string;
  gatewayController: string;
}

export const DEFAULT_CONVERT_OPTIONS: ConvertOptions = {
  httpPort: 80,
  httpsPort: 443,
  gatewayClassName: "nodeplane",
  gatewayController: "nodeplane.dev/gateway-controller",
};

const GROUP = "gateway.networking.k8s.io";
const API = `${GROUP}/v1`;
/** ingress-nginx's "prefix with captures" idiom, which nodeplane reads as a Prefix (docs/ingress.md) */
const NGINX_PREFIX_IDIOM = "(/|$)(.*)";
const DEFAULT_CLASS_ANNOTATION = "ingressclass.kubernetes.io/is-default-class";
const CLASS_ANNOTATION = "kubernetes.io/ingress.class";

/** One YAML document with the comment lines above it; without an object, only the comments. */
interface Doc {
  comments: string[];
  object?: Obj;
}

interface IngressInput {
  namespace: string;
  name: string;
  className: string;
  annotations: Record<string, string>;
  spec: Obj;
}

interface Service {
  namespace: string;
  name: string;
  ports: { name?: string; port: number }[];
}

/** One HTTPRoute rule as written out. */
interface RouteRule {
  matches?: { path: { type: "PathPrefix" | "Exact"; value: string } }[];
  filters?: Obj[];
  backendRefs: Obj[];
}

export interface ConvertResult {
  /** the YAML stream, with comments */
  text: string;
  /** how many Ingresses were converted */
  ingresses: number;
}

/** `objects` are the decoded documents of the input (any kinds; only Ingresses, IngressClasses and Services are read). */
export function convertIngresses(objects: readonly unknown[], options: ConvertOptions): ConvertResult {
  const ingresses: IngressInput[] = [];
  const services: Service[] = [];
  const header: string[] = [];
  let defaultClass: string | undefined;
  for (const o of objects) {
    if (!isObj(o)) continue;
    const meta = isObj(o.metadata) ? o.metadata : {};
    const name = str(meta.name);
    const namespace = str(meta.namespace) || "default";
    if (o.kind === "IngressClass" && str(o.apiVersion).startsWith("networking.k8s.io/")) {
      const annotations = strMap(meta.annotations);
      if (annotations[DEFAULT_CLASS_ANNOTATION] === "true" && name) defaultClass = minName(defaultClass, name);
    } else if (o.kind === "Service" && o.apiVersion === "v1" && name) {
      const spec = isObj(o.spec) ? o.spec : {};
      const ports = (Array.isArray(spec.ports) ? spec.ports : [])
        .filter(isObj)
        .flatMap((p) =>
          typeof p.port === "number" ? [{ ...(typeof p.name === "string" ? { name: p.name } : {}), port: p.port }] : [],
        );
      services.push({ namespace, name, ports });
    } else if (o.kind === "Ingress" && name) {
      if (o.apiVersion !== "networking.k8s.io/v1") {
        header.push(
          `not converted: Ingress ${namespace}/${name}: ${str(o.apiVersion)} (convert it to networking.k8s.io/v1 first)`,
        );
        continue;
      }
      const annotations = strMap(meta.annotations);
      const spec = isObj(o.spec) ? o.spec : {};
      const className = str(spec.ingressClassName) || annotations[CLASS_ANNOTATION] || "";
      ingresses.push({ namespace, name, className, annotations, spec });
    }
  }
  ingresses.sort((a, b) => compare(`${a.namespace}/${a.name}`, `${b.namespace}/${b.name}`));
  for (const ing of ingresses) if (!ing.className) ing.className = defaultClass ?? options.gatewayClassName;

  const classes = [...new Set(ingresses.map((i) => i.className))].sort(compare);
  const namespaces = [...new Set(ingresses.map((i) => i.namespace))];
  const gatewayNamespace = options.gatewayNamespace ?? (namespaces.length === 1 ? namespaces[0]! : "default");
  const gatewayName = (cls: string) =>
    options.gatewayName ? (classes.length > 1 ? `${options.gatewayName}-${cls}` : options.gatewayName) : cls;

  const docs: Doc[] = [];
  if (ingresses.length > 0)
    docs.push({
      comments: [
        `the GatewayClass nodeplane serves (${options.gatewayController}); skip it if it is installed already`,
      ],
      object: {
        apiVersion: API,
        kind: "GatewayClass",
        metadata: { name: options.gatewayClassName },
        spec: { controllerName: options.gatewayController },
      },
    });
  for (const cls of classes) {
    const mine = ingresses.filter((i) => i.className === cls);
    const gw = convertClass(mine, services, {
      ...options,
      name: gatewayName(cls),
      namespace: gatewayNamespace,
      ingressClass: cls,
    });
    docs.push(...gw);
  }

  const summary = [
    `nodeplane convert: ${ingresses.length} Ingress${ingresses.length === 1 ? "" : "es"} → Gateway API (${API}).`,
    "Each '#' line names what has no Gateway API equivalent or needs a look; nothing is dropped silently.",
  ];
  const text = [
    ...summary.map((l) => `# ${l}\n`),
    ...header.map((l) => `# ${commentSafe(l)}\n`),
    ...docs.map((d) => {
      const comments = d.comments.map((c) => `# ${commentSafe(c)}\n`).join("");
      return d.object ? `---\n${comments}${stringify(d.object, { lineWidth: 0 })}` : comments;
    }),
  ].join("");
  return { text, ingresses: ingresses.length };
}

interface ClassContext extends ConvertOptions {
  name: string;
  namespace: string;
  ingressClass: string;
}

interface Listener {
  name: string;
  hostname?: string;
  protocol: "HTTP" | "HTTPS";
  port: number;
  secrets: { namespace: string; name: string }[];
}

/** The Gateway of one IngressClass, its Routes and ReferenceGrants. */
function convertClass(ingresses: readonly IngressInput[], services: readonly Service[], ctx: ClassContext): Doc[] {
  const gatewayComments: string[] = [`Gateway for IngressClass ${ctx.ingressClass}`];
  const http: Listener = { name: "http", protocol: "HTTP", port: ctx.httpPort, secrets: [] };
  const https: Listener[] = [];
  // TLS: one HTTPS listener per host (the Secret the Ingress names for it), one without hostname for TLS
  // entries without hosts (ingress-nginx serves those as the default certificate)
  for (const ing of ingresses) {
    for (const [i, tls] of arr(ing.spec.tls).entries()) {
      const secret = str(tls.secretName);
      if (!secret) {
        gatewayComments.push(
          `not converted: Ingress ${ing.namespace}/${ing.name} spec.tls[${i}] has no secretName (the default certificate); Gateway listeners need certificateRefs: its hosts are served over HTTP only, without the redirect to HTTPS`,
        );
        continue;
      }
      const hosts = strings(tls.hosts);
      for (const host of hosts.length > 0 ? hosts : [""]) {
        const existing = https.find((l) => (l.hostname ?? "") === host);
        const ref = { namespace: ing.namespace, name: secret };
        if (!existing)
          https.push({
            name: host ? `https-${slug(host)}` : "https",
            ...(host ? { hostname: host } : {}),
            protocol: "HTTPS",
            port: ctx.httpsPort,
            secrets: [ref],
          });
        else if (!existing.secrets.some((s) => s.namespace === ref.namespace && s.name === ref.name)) {
          if (host)
            gatewayComments.push(
              `Ingress ${ing.namespace}/${ing.name}: host ${host} already has Secret ${existing.secrets[0]!.namespace}/${existing.secrets[0]!.name}; ${ref.namespace}/${ref.name} not used (the first Ingress by namespace/name wins)`,
            );
          else existing.secrets.push(ref);
        }
      }
    }
  }
  https.sort((a, b) => compare(a.hostname ?? "", b.hostname ?? ""));
  const listeners = [http, ...https];
  const gateway: Obj = {
    apiVersion: API,
    kind: "Gateway",
    metadata: { name: ctx.name, namespace: ctx.namespace },
    spec: {
      gatewayClassName: ctx.gatewayClassName,
      listeners: listeners.map((l) => ({
        name: l.name,
        ...(l.hostname ? { hostname: l.hostname } : {}),
        protocol: l.protocol,
        port: l.port,
        ...(l.protocol === "HTTPS"
          ? {
              tls: {
                mode: "Terminate",
                certificateRefs: l.secrets.map((s) => ({
                  kind: "Secret",
                  name: s.name,
                  ...(s.namespace !== ctx.namespace ? { namespace: s.namespace } : {}),
                })),
              },
            }
          : {}),
        allowedRoutes: { namespaces: { from: "All" } },
      })),
    },
  };
  const out: Doc[] = [{ comments: gatewayComments, object: gateway }];

  const grants = new Map<string, Set<string>>();
  for (const l of https)
    for (const s of l.secrets)
      if (s.namespace !== ctx.namespace) {
        const names = grants.get(s.namespace) ?? new Set<string>();
        names.add(s.name);
        grants.set(s.namespace, names);
      }

  for (const ing of ingresses) out.push(...convertIngress(ing, services, https, ctx));

  for (const ns of [...grants.keys()].sort(compare))
    out.push({
      comments: [`lets Gateway ${ctx.namespace}/${ctx.name} use the TLS Secrets of namespace ${ns}`],
      object: {
        apiVersion: API,
        kind: "ReferenceGrant",
        metadata: { name: `${ctx.name}-${ctx.namespace}-certificates`, namespace: ns },
        spec: {
          from: [{ group: GROUP, kind: "Gateway", namespace: ctx.namespace }],
          to: [...grants.get(ns)!].sort(compare).map((name) => ({ group: "", kind: "Secret", name })),
        },
      },
    });
  return out;
}

function convertIngress(
  ing: IngressInput,
  services: readonly Service[],
  https: readonly Listener[],
  ctx: ClassContext,
): Doc[] {
  const comments: string[] = [`from Ingress ${ing.namespace}/${ing.name}`];
  comments.push(...notConverted(ing.annotations));

  const rewrite = rewriteFilter(ing, comments);
  const sslRedirect = (annotationOf(ing.annotations, "ssl-redirect") ?? "true").toLowerCase() !== "false";
  const tlsHosts = new Set(arr(ing.spec.tls).flatMap((t) => strings(t.hosts)));
  const defaultBackend = isObj(ing.spec.defaultBackend)
    ? backendRef(ing, ing.spec.defaultBackend, "spec.defaultBackend", services, comments)
    : undefined;

  // rules grouped by host, in the order of first appearance
  const byHost = new Map<string, RouteRule[]>();
  for (const [r, rule] of arr(ing.spec.rules).entries()) {
    const host = str(rule.host);
    const rules = byHost.get(host) ?? [];
    byHost.set(host, rules);
    const paths = isObj(rule.http) ? arr(rule.http.paths) : [];
    for (const [p, path] of paths.entries()) {
      const field = `spec.rules[${r}].http.paths[${p}]`;
      const match = pathMatch(path, field, comments);
      if (!match) continue;
      const ref = isObj(path.backend)
        ? backendRef(ing, path.backend, `${field}.backend`, services, comments)
        : undefined;
      if (!ref) continue;
      const filters = rewrite ? [rewrite(match.type)] : [];
      rules.push({ matches: [{ path: match }], ...(filters.length > 0 ? { filters } : {}), backendRefs: [ref] });
    }
  }
  // the Ingress's defaultBackend serves its hosts' unmatched paths; it is the catch-all for every host only
  // when the Ingress names no host (docs/ingress.md: the oldest such Ingress's is the cluster-wide default)
  const namesHost = [...byHost.keys()].some((h) => h !== "");
  if (defaultBackend) {
    for (const [host, rules] of byHost) if (host !== "") rules.push({ backendRefs: [defaultBackend] });
    if (!namesHost) {
      const rules = byHost.get("") ?? [];
      rules.push({ backendRefs: [defaultBackend] });
      byHost.set("", rules);
    }
  }

  const hosts = [...byHost.keys()];
  const out: Doc[] = [];
  const parent = { name: ctx.name, namespace: ctx.namespace };
  for (const [i, host] of hosts.entries()) {
    const rules = byHost.get(host)!;
    if (rules.length === 0) {
      comments.push(`host ${host || "*"}: no path with a usable backend and no defaultBackend; no route written`);
      continue;
    }
    const name = hosts.length === 1 ? ing.name : `${ing.name}-${host ? slug(host) : "any-host"}`;
    const listener =
      host !== "" && sslRedirect && tlsHosts.has(host) ? https.find((l) => l.hostname === host) : undefined;
    // a TLS host without a Secret has no HTTPS listener here (Gateway API has no default certificate): no redirect
    const redirect = listener !== undefined;
    const parentRefs = listener ? [{ ...parent, sectionName: listener.name }] : [parent];
    out.push({
      comments: i === 0 ? comments : [`from Ingress ${ing.namespace}/${ing.name}`],
      object: route(name, ing.namespace, parentRefs, host, rules),
    });
    if (redirect)
      out.push({
        comments: [
          `from Ingress ${ing.namespace}/${ing.name}: ssl-redirect (the default for its TLS hosts): HTTP → HTTPS`,
          "ingress-nginx answers 308; Gateway API core has 301 and 302 (308 is Extended: HTTPRoute308RedirectStatusCode)",
        ],
        object: route(`${name}-https-redirect`, ing.namespace, [{ ...parent, sectionName: "http" }], host, [
          {
            filters: [
              {
                type: "RequestRedirect",
                requestRedirect: {
                  scheme: "https",
                  ...(ctx.httpsPort !== 443 ? { port: ctx.httpsPort } : {}),
                  statusCode: 301,
                },
              },
            ],
            backendRefs: [],
          },
        ]),
      });
  }
  // nothing to route: the comments still say why
  if (out.length === 0) out.push({ comments });
  return out;
}

function route(name: string, namespace: string, parentRefs: Obj[], host: string, rules: RouteRule[]): Obj {
  return {
    apiVersion: API,
    kind: "HTTPRoute",
    metadata: { name, namespace },
    spec: {
      parentRefs,
      ...(host ? { hostnames: [host] } : {}),
      rules: rules.map((r) => ({
        ...(r.matches ? { matches: r.matches } : {}),
        ...(r.filters ? { filters: r.filters } : {}),
        ...(r.backendRefs.length > 0 ? { backendRefs: r.backendRefs } : {}),
      })),
    },
  };
}

/** Prefix → PathPrefix, Exact → Exact, ImplementationSpecific → PathPrefix (nodeplane reads it as Prefix). */
function pathMatch(
  path: Obj,
  field: string,
  comments: string[],
): { type: "PathPrefix" | "Exact"; value: string } | undefined {
  const type = str(path.pathType);
  let value = str(path.path) || "/";
  if (type === "Exact") return { type: "Exact", value };
  if (type === "ImplementationSpecific") {
    if (value.endsWith(NGINX_PREFIX_IDIOM)) value = value.slice(0, -NGINX_PREFIX_IDIOM.length) || "/";
    if (/[()[\]{}*+?|^$\\]/.test(value)) {
      comments.push(`not converted: ${field} "${str(path.path)}": a regular expression (nodeplane skips it too)`);
      return undefined;
    }
    comments.push(
      `${field}: pathType ImplementationSpecific "${str(path.path)}" → PathPrefix ${trimSlash(value)}, as nodeplane reads it`,
    );
  } else if (type !== "Prefix") {
    comments.push(`not converted: ${field}: pathType "${type}"`);
    return undefined;
  }
  return { type: "PathPrefix", value: trimSlash(value) };
}

/** A Prefix ignores a trailing slash in Ingress (`/foo/` ≡ `/foo`); PathPrefix `/foo` matches the same paths. */
function trimSlash(path: string): string {
  const trimmed = path.replace(/\/+$/, "");
  return trimmed === "" ? "/" : trimmed;
}

/**
 * rewrite-target as nodeplane applies it (the matched prefix replaced, the rest kept): `/x`, `/x/$2` and
 * `/x$1$2` are ReplacePrefixMatch `/x`; on an Exact path the whole path becomes the target (ReplaceFullPath).
 */
function rewriteFilter(ing: IngressInput, comments: string[]): ((type: "PathPrefix" | "Exact") => Obj) | undefined {
  const target = annotationOf(ing.annotations, "rewrite-target");
  if (target === undefined) return undefined;
  let prefix: string | undefined;
  if (!target.includes("$")) prefix = target;
  else if (/^\/[^$]*\/\$2$/.test(target)) prefix = target.slice(0, -3) || "/";
  else if (/^\/[^$]*\$1\$2$/.test(target)) prefix = target.slice(0, -4) || "/";
  if (prefix === undefined || !prefix.startsWith("/")) {
    comments.push(`not converted: rewrite-target=${target}: only a path, PATH/$2 or PATH$1$2 map to URLRewrite`);
    return undefined;
  }
  const value = prefix;
  return (type) => ({
    type: "URLRewrite",
    urlRewrite: {
      path:
        type === "Exact"
          ? { type: "ReplaceFullPath", replaceFullPath: value }
          : { type: "ReplacePrefixMatch", replacePrefixMatch: value },
    },
  });
}

/** A Service backend → backendRef (port by number; a port name looked up in the input's Services). */
function backendRef(
  ing: IngressInput,
  backend: Obj,
  field: string,
  services: readonly Service[],
  comments: string[],
): Obj | undefined {
  if (isObj(backend.resource)) {
    comments.push(
      `not converted: ${field}: a resource backend (${str(backend.resource.kind)} ${str(backend.resource.name)})`,
    );
    return undefined;
  }
  const svc = isObj(backend.service) ? backend.service : undefined;
  const name = str(svc?.name);
  if (!svc || !name) {
    comments.push(`not converted: ${field}: no service`);
    return undefined;
  }
  const port = isObj(svc.port) ? svc.port : {};
  if (typeof port.number === "number") return { name, port: port.number };
  const portName = str(port.name);
  const found = services
    .find((s) => s.namespace === ing.namespace && s.name === name)
    ?.ports.find((p) => p.name === portName);
  if (found) return { name, port: found.port };
  comments.push(
    `${field}: Service ${name} port "${portName}" is a name and the Service is not in the input: backendRefs need the port number; fill it in`,
  );
  return { name };
}

/** A listener or route name from a host: `foo.bar.com` → `foo-bar-com`, `*.bar.com` → `wildcard-bar-com`. */
function slug(host: string): string {
  return host
    .toLowerCase()
    .replace(/^\*\./, "wildcard.")
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 50);
}
