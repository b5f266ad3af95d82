/**
 * Field checks of the Gateway API kinds and Namespace (pure), as the CRDs' OpenAPI schemas and their simple
 * CEL rules refuse objects on write (config/crd/standard/*.yaml of gateway-api v1.6): required fields,
 * enums, list sizes, and the name/hostname/path patterns. What the API server would accept but the
 * specification calls invalid (a hostname no listener matches, a missing Service, a regex we cannot
 * run) is not refused here: such an object enters the store and the translator reports it as a condition.
 */
import type { GatewayKind } from "../../model/k8s.ts";
import { type Checker, describe, type Json } from "./checker.ts";
import { dns1123Label, dns1123Subdomain, labelValue, qualifiedName } from "./names.ts";

const PORT = { min: 1, max: 65535 };

/** Gateway API's patterns (apis/v1/shared_types.go). */
const GROUP = /^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const KIND = /^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$/;
const SECTION_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const HOSTNAME = /^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const PRECISE_HOSTNAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const CONTROLLER_NAME =
  /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/[A-Za-z0-9/\-._~%!$&'()*+,;=:]+$/;
const PROTOCOL =
  /^[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?$|[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/[A-Za-z0-9]+$/;
const ADDRESS_TYPE =
  /^Hostname|IPAddress|NamedAddress|[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/[A-Za-z0-9/\-._~%!$&'()*+,;=:]+$/;
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/;
/** HTTPPathMatch value (Exact/PathPrefix): an absolute path of RFC 3986 path characters */
const PATH_VALUE = /^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|%[0-9a-fA-F]{2})+$/;
const GRPC_SERVICE = /^[a-zA-Z_][a-zA-Z0-9_]*(\.[a-zA-Z_][a-zA-Z0-9_]*)*$/;
const GRPC_METHOD = /^[A-Za-z_][A-Za-z_0-9]*$/;

const HTTP_METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"] as const;
const HTTP_FILTERS = [
  "RequestHeaderModifier",
  "ResponseHeaderModifier",
  "RequestMirror",
  "RequestRedirect",
  "URLRewrite",
  "ExtensionRef",
  "CORS",
] as const;
const GRPC_FILTERS = ["ResponseHeaderModifier", "RequestHeaderModifier", "RequestMirror", "ExtensionRef"] as const;

/** A string with a pattern and a length bound (the CRDs' `pattern` + `maxLength`). */
function pattern(
  c: Checker,
  field: string,
  v: unknown,
  re: RegExp,
  max: number,
  what: string,
  required = false,
): string | undefined {
  const s = c.string(field, v, required);
  if (s === undefined || s === "") return s;
  if (s.length > max) c.fail(field, `must be no more than ${max} characters`);
  else if (!re.test(s)) c.fail(field, `"${s}" is not ${what}`);
  else return s;
  return undefined;
}

/** A list with the CRD's `maxItems` (and `minItems` when required). */
function bounded(c: Checker, field: string, v: unknown, max: number, required = false): void {
  const list = c.list(field, v, required);
  if (list && list.length > max) c.fail(field, `may hold at most ${max} entries`);
}

function objectName(c: Checker, field: string, v: unknown, required = false): void {
  const s = c.string(field, v, required);
  if (s && s.length > 253) c.fail(field, "must be no more than 253 characters");
}

function group(c: Checker, field: string, v: unknown): void {
  pattern(c, field, v, GROUP, 253, "an API group (a DNS subdomain, or empty for the core group)");
}

function kind(c: Checker, field: string, v: unknown, required = false): void {
  pattern(c, field, v, KIND, 63, "a kind (letters, digits and '-', starting with a letter)", required);
}

function namespaceRef(c: Checker, field: string, v: unknown, required = false): void {
  c.name(field, v, dns1123Label, required);
}

function hostname(c: Checker, field: string, v: unknown, required = false): void {
  pattern(c, field, v, HOSTNAME, 253, "a hostname (lowercase DNS name, optionally starting with '*.')", required);
}

export function checkGatewayKind(c: Checker, kind: GatewayKind, obj: Json): void {
  switch (kind) {
    case "GatewayClass":
      checkGatewayClass(c, obj);
      return;
    case "Gateway":
      checkGateway(c, obj);
      return;
    case "HTTPRoute":
      checkHttpRoute(c, obj);
      return;
    case "GRPCRoute":
      checkGrpcRoute(c, obj);
      return;
    case "TLSRoute":
    case "TCPRoute":
    case "UDPRoute":
      checkL4Route(c, kind, obj);
      return;
    case "ReferenceGrant":
      checkReferenceGrant(c, obj);
      return;
  }
}

/** Namespace: only its labels matter to nodeplane (listeners' `allowedRoutes.namespaces.selector`). */
export function checkNamespace(_c: Checker, _obj: Json): void {}

function checkGatewayClass(c: Checker, obj: Json): void {
  const spec = c.object("spec", obj.spec, true);
  if (!spec) return;
  pattern(
    c,
    "spec.controllerName",
    spec.controllerName,
    CONTROLLER_NAME,
    253,
    "a domain-prefixed path (e.g. nodeplane.dev/gateway-controller)",
    true,
  );
  const description = c.string("spec.description", spec.description);
  if (description && description.length > 64) c.fail("spec.description", "must be no more than 64 characters");
  const params = c.object("spec.parametersRef", spec.parametersRef);
  if (params) {
    group(c, "spec.parametersRef.group", params.group);
    if (params.group === undefined) c.fail("spec.parametersRef.group", "required");
    kind(c, "spec.parametersRef.kind", params.kind, true);
    c.string("spec.parametersRef.name", params.name, true);
    namespaceRef(c, "spec.parametersRef.namespace", params.namespace);
  }
}

function checkGateway(c: Checker, obj: Json): void {
  const spec = c.object("spec", obj.spec, true);
  if (!spec) return;
  objectName(c, "spec.gatewayClassName", spec.gatewayClassName, true);
  bounded(c, "spec.listeners", spec.listeners, 64, true);
  const names = new Set<string>();
  const portProtoHost = new Set<string>();
  c.each("spec.listeners", spec.listeners, (l, at) => {
    const name = pattern(c, `${at}.name`, l.name, SECTION_NAME, 253, "a listener name (a lowercase DNS name)", true);
    if (name) {
      if (names.has(name)) c.fail(`${at}.name`, `duplicate listener name "${name}" (listener names must be unique)`);
      names.add(name);
    }
    hostname(c, `${at}.hostname`, l.hostname);
    const port = c.integer(`${at}.port`, l.port, PORT, true);
    const protocol = pattern(c, `${at}.protocol`, l.protocol, PROTOCOL, 255, "a protocol name", true);
    if (port !== undefined && protocol) {
      const key = `${port}/${protocol}/${typeof l.hostname === "string" ? l.hostname : ""}`;
      if (portProtoHost.has(key))
        c.fail(at, "port, protocol and hostname must be unique among the listeners (combination repeated)");
      portProtoHost.add(key);
    }
    if ((protocol === "TCP" || protocol === "UDP") && l.hostname !== undefined && l.hostname !== null)
      c.fail(`${at}.hostname`, `must not be set for protocol ${protocol}`);
    if ((protocol === "HTTP" || protocol === "TCP" || protocol === "UDP") && l.tls !== undefined && l.tls !== null)
      c.fail(`${at}.tls`, `must not be set for protocol ${protocol}`);
    const tls = c.object(`${at}.tls`, l.tls);
    if (protocol === "TLS" && (!tls || tls.mode === undefined)) c.fail(`${at}.tls.mode`, "required for protocol TLS");
    if (tls) {
      const mode = c.oneOf(`${at}.tls.mode`, tls.mode, ["Terminate", "Passthrough"]) ?? "Terminate";
      if (protocol === "HTTPS" && mode === "Passthrough")
        c.fail(`${at}.tls.mode`, "must be Terminate for protocol HTTPS");
      bounded(c, `${at}.tls.certificateRefs`, tls.certificateRefs, 64);
      c.each(`${at}.tls.certificateRefs`, tls.certificateRefs, (ref, where) => {
        group(c, `${where}.group`, ref.group);
        kind(c, `${where}.kind`, ref.kind);
        objectName(c, `${where}.name`, ref.name, true);
        namespaceRef(c, `${where}.namespace`, ref.namespace);
      });
      const options = c.object(`${at}.tls.options`, tls.options);
      if (options && Object.keys(options).length > 16) c.fail(`${at}.tls.options`, "may hold at most 16 entries");
      c.stringMap(`${at}.tls.options`, tls.options, qualifiedName);
      const certs = Array.isArray(tls.certificateRefs) ? tls.certificateRefs.length : 0;
      if (mode === "Terminate" && certs === 0 && !options)
        c.fail(`${at}.tls.certificateRefs`, "certificateRefs or options must be set when mode is Terminate");
    }
    const allowed = c.object(`${at}.allowedRoutes`, l.allowedRoutes);
    if (allowed) {
      const ns = c.object(`${at}.allowedRoutes.namespaces`, allowed.namespaces);
      if (ns) {
        c.oneOf(`${at}.allowedRoutes.namespaces.from`, ns.from, ["All", "Same", "Selector"]);
        checkLabelSelector(c, `${at}.allowedRoutes.namespaces.selector`, ns.selector);
      }
      bounded(c, `${at}.allowedRoutes.kinds`, allowed.kinds, 8);
      c.each(`${at}.allowedRoutes.kinds`, allowed.kinds, (k, where) => {
        group(c, `${where}.group`, k.group);
        kind(c, `${where}.kind`, k.kind, true);
      });
    }
  });
  bounded(c, "spec.addresses", spec.addresses, 16);
  c.each("spec.addresses", spec.addresses, (a, at) => {
    const type = pattern(c, `${at}.type`, a.type, ADDRESS_TYPE, 253, "an address type");
    const value = c.string(`${at}.value`, a.value);
    if (value && value.length > 253) c.fail(`${at}.value`, "must be no more than 253 characters");
    if (type === "Hostname" && value && !PRECISE_HOSTNAME.test(value))
      c.fail(`${at}.value`, `"${value}" is not a hostname`);
  });
  const infra = c.object("spec.infrastructure", spec.infrastructure);
  if (infra) {
    c.stringMap("spec.infrastructure.labels", infra.labels, qualifiedName, labelValue);
    c.stringMap("spec.infrastructure.annotations", infra.annotations, qualifiedName);
  }
}

function checkLabelSelector(c: Checker, field: string, v: unknown): void {
  const selector = c.object(field, v);
  if (!selector) return;
  c.stringMap(`${field}.matchLabels`, selector.matchLabels, qualifiedName, labelValue);
  c.each(`${field}.matchExpressions`, selector.matchExpressions, (e, at) => {
    c.name(`${at}.key`, e.key, qualifiedName, true);
    const op = c.oneOf(`${at}.operator`, e.operator, ["In", "NotIn", "Exists", "DoesNotExist"], true);
    const values = c.list(`${at}.values`, e.values);
    (values ?? []).forEach((value, i) => {
      c.string(`${at}.values[${i}]`, value);
    });
    if ((op === "In" || op === "NotIn") && (values?.length ?? 0) === 0)
      c.fail(`${at}.values`, `required (at least one) for operator ${op}`);
    if ((op === "Exists" || op === "DoesNotExist") && (values?.length ?? 0) > 0)
      c.fail(`${at}.values`, `must be empty for operator ${op}`);
  });
}

function checkParentRefs(c: Checker, spec: Json): void {
  bounded(c, "spec.parentRefs", spec.parentRefs, 32);
  c.each("spec.parentRefs", spec.parentRefs, (ref, at) => {
    group(c, `${at}.group`, ref.group);
    kind(c, `${at}.kind`, ref.kind);
    namespaceRef(c, `${at}.namespace`, ref.namespace);
    objectName(c, `${at}.name`, ref.name, true);
    pattern(c, `${at}.sectionName`, ref.sectionName, SECTION_NAME, 253, "a section name (a lowercase DNS name)");
    c.integer(`${at}.port`, ref.port, PORT);
  });
}

function checkHostnames(c: Checker, spec: Json): void {
  bounded(c, "spec.hostnames", spec.hostnames, 16);
  (c.list("spec.hostnames", spec.hostnames) ?? []).forEach((h, i) => {
    hostname(c, `spec.hostnames[${i}]`, h, true);
  });
}

function checkBackendRef(c: Checker, at: string, ref: Json, withFilters?: readonly string[]): void {
  group(c, `${at}.group`, ref.group);
  kind(c, `${at}.kind`, ref.kind);
  objectName(c, `${at}.name`, ref.name, true);
  namespaceRef(c, `${at}.namespace`, ref.namespace);
  c.integer(`${at}.port`, ref.port, PORT);
  c.integer(`${at}.weight`, ref.weight, { min: 0, max: 1_000_000 });
  // the CEL rule: a Service reference needs its port
  const isService = (ref.group === undefined || ref.group === "") && (ref.kind === undefined || ref.kind === "Service");
  if (isService && (ref.port === undefined || ref.port === null))
    c.fail(`${at}.port`, "required when the reference is to a Service");
  if (withFilters) checkFilters(c, `${at}.filters`, ref.filters, withFilters);
  else if (ref.filters !== undefined) c.fail(`${at}.filters`, "not a field of this kind");
}

function checkBackendRefs(c: Checker, field: string, v: unknown, withFilters?: readonly string[], required = false) {
  bounded(c, field, v, 16);
  c.each(field, v, (ref, at) => checkBackendRef(c, at, ref, withFilters), required);
}

function checkHeaderModifier(c: Checker, field: string, v: unknown): void {
  const mod = c.object(field, v);
  if (!mod) return;
  for (const list of ["set", "add"]) {
    bounded(c, `${field}.${list}`, mod[list], 16);
    const seen = new Set<string>();
    c.each(`${field}.${list}`, mod[list], (h, at) => {
      const name = pattern(c, `${at}.name`, h.name, HEADER_NAME, 256, "an HTTP header name", true);
      if (name) {
        if (seen.has(name.toLowerCase())) c.fail(`${at}.name`, `duplicate header "${name}"`);
        seen.add(name.toLowerCase());
      }
      const value = c.string(`${at}.value`, h.value, true);
      if (value && value.length > 4096) c.fail(`${at}.value`, "must be no more than 4096 characters");
    });
  }
  bounded(c, `${field}.remove`, mod.remove, 16);
  (c.list(`${field}.remove`, mod.remove) ?? []).forEach((name, i) => {
    pattern(c, `${field}.remove[${i}]`, name, HEADER_NAME, 256, "an HTTP header name", true);
  });
}

function checkPathModifier(c: Checker, field: string, v: unknown): void {
  const mod = c.object(field, v);
  if (!mod) return;
  const type = c.oneOf(`${field}.type`, mod.type, ["ReplaceFullPath", "ReplacePrefixMatch"], true);
  if (type === "ReplaceFullPath" && typeof mod.replaceFullPath !== "string")
    c.fail(`${field}.replaceFullPath`, "required when type is ReplaceFullPath");
  if (type === "ReplacePrefixMatch" && typeof mod.replacePrefixMatch !== "string")
    c.fail(`${field}.replacePrefixMatch`, "required when type is ReplacePrefixMatch");
  if (type !== "ReplaceFullPath" && mod.replaceFullPath !== undefined)
    c.fail(`${field}.replaceFullPath`, "may only be set when type is ReplaceFullPath");
  if (type !== "ReplacePrefixMatch" && mod.replacePrefixMatch !== undefined)
    c.fail(`${field}.replacePrefixMatch`, "may only be set when type is ReplacePrefixMatch");
  for (const key of ["replaceFullPath", "replacePrefixMatch"]) {
    const s = c.string(`${field}.${key}`, mod[key]);
    if (s && s.length > 1024) c.fail(`${field}.${key}`, "must be no more than 1024 characters");
  }
}

/** `filters` of a rule or a backendRef: the type enum, and exactly the type's own field set. */
function checkFilters(c: Checker, field: string, v: unknown, types: readonly string[]): void {
  bounded(c, field, v, 16);
  const FIELD_OF: Record<string, string> = {
    RequestHeaderModifier: "requestHeaderModifier",
    ResponseHeaderModifier: "responseHeaderModifier",
    RequestMirror: "requestMirror",
    RequestRedirect: "requestRedirect",
    URLRewrite: "urlRewrite",
    ExtensionRef: "extensionRef",
    CORS: "cors",
  };
  const counts = new Map<string, number>();
  c.each(field, v, (f, at) => {
    const type = c.oneOf(`${at}.type`, f.type, types, true);
    if (!type) return;
    counts.set(type, (counts.get(type) ?? 0) + 1);
    for (const [t, key] of Object.entries(FIELD_OF)) {
      const present = f[key] !== undefined && f[key] !== null;
      if (t === type && !present) c.fail(`${at}.${key}`, `required for filter type ${type}`);
      if (t !== type && present) c.fail(`${at}.${key}`, `must not be set for filter type ${type}`);
    }
    switch (type) {
      case "RequestHeaderModifier":
      case "ResponseHeaderModifier":
        checkHeaderModifier(c, `${at}.${FIELD_OF[type]}`, f[FIELD_OF[type]!]);
        break;
      case "RequestRedirect": {
        const r = c.object(`${at}.requestRedirect`, f.requestRedirect);
        if (!r) break;
        c.oneOf(`${at}.requestRedirect.scheme`, r.scheme, ["http", "https"]);
        pattern(c, `${at}.requestRedirect.hostname`, r.hostname, PRECISE_HOSTNAME, 253, "a hostname");
        checkPathModifier(c, `${at}.requestRedirect.path`, r.path);
        c.integer(`${at}.requestRedirect.port`, r.port, PORT);
        if (r.statusCode !== undefined && ![301, 302, 303, 307, 308].includes(r.statusCode as number))
          c.fail(`${at}.requestRedirect.statusCode`, `${describe(r.statusCode)} is not one of 301, 302, 303, 307, 308`);
        break;
      }
      case "URLRewrite": {
        const r = c.object(`${at}.urlRewrite`, f.urlRewrite);
        if (!r) break;
        pattern(c, `${at}.urlRewrite.hostname`, r.hostname, PRECISE_HOSTNAME, 253, "a hostname");
        checkPathModifier(c, `${at}.urlRewrite.path`, r.path);
        break;
      }
      case "RequestMirror": {
        const m = c.object(`${at}.requestMirror`, f.requestMirror);
        if (!m) break;
        const ref = c.object(`${at}.requestMirror.backendRef`, m.backendRef, true);
        if (ref) checkBackendRef(c, `${at}.requestMirror.backendRef`, { ...ref, weight: undefined });
        c.integer(`${at}.requestMirror.percent`, m.percent, { min: 0, max: 100 });
        const fraction = c.object(`${at}.requestMirror.fraction`, m.fraction);
        if (fraction) {
          const n = c.integer(
            `${at}.requestMirror.fraction.numerator`,
            fraction.numerator,
            { min: 0, max: 2 ** 31 - 1 },
            true,
          );
          const d = c.integer(`${at}.requestMirror.fraction.denominator`, fraction.denominator, {
            min: 1,
            max: 2 ** 31 - 1,
          });
          if (n !== undefined && n > (d ?? 100))
            c.fail(`${at}.requestMirror.fraction`, "numerator must be less than or equal to denominator");
        }
        if (m.percent !== undefined && fraction) c.fail(`${at}.requestMirror`, "only one of percent or fraction");
        break;
      }
      case "ExtensionRef": {
        const e = c.object(`${at}.extensionRef`, f.extensionRef);
        if (!e) break;
        group(c, `${at}.extensionRef.group`, e.group);
        if (e.group === undefined) c.fail(`${at}.extensionRef.group`, "required");
        kind(c, `${at}.extensionRef.kind`, e.kind, true);
        objectName(c, `${at}.extensionRef.name`, e.name, true);
        break;
      }
    }
  });
  for (const type of ["RequestHeaderModifier", "ResponseHeaderModifier", "RequestRedirect", "URLRewrite", "CORS"])
    if ((counts.get(type) ?? 0) > 1) c.fail(field, `${type} filter may appear at most once`);
  if ((counts.get("RequestRedirect") ?? 0) > 0 && (counts.get("URLRewrite") ?? 0) > 0)
    c.fail(field, "RequestRedirect and URLRewrite filters cannot be used together");
}

function checkValueMatches(c: Checker, field: string, v: unknown): void {
  bounded(c, field, v, 16);
  const seen = new Set<string>();
  c.each(field, v, (m, at) => {
    c.oneOf(`${at}.type`, m.type, ["Exact", "RegularExpression"]);
    const name = pattern(c, `${at}.name`, m.name, HEADER_NAME, 256, "a header or query parameter name", true);
    if (name) {
      if (seen.has(name.toLowerCase())) c.fail(`${at}.name`, `duplicate match on "${name}"`);
      seen.add(name.toLowerCase());
    }
    const value = c.string(`${at}.value`, m.value, true);
    if (value && value.length > 4096) c.fail(`${at}.value`, "must be no more than 4096 characters");
  });
}

function checkTimeout(c: Checker, field: string, v: unknown): void {
  const s = c.string(field, v);
  if (s && !/^([0-9]{1,5}(h|m|s|ms)){1,4}$/.test(s)) c.fail(field, `"${s}" is not a duration such as 10s or 1m30s`);
}

/**
 * What HTTPRoute and GRPCRoute share: spec with parentRefs and hostnames, at most 16 rules, each with an
 * optional name, at most 64 matches (each checked by `match`), filters and backendRefs' filters of the
 * `filters` types; then `rest` checks what else a rule has.
 */
function checkL7Route(
  c: Checker,
  obj: Json,
  filters: readonly string[],
  match: (m: Json, where: string) => void,
  rest?: (rule: Json, at: string) => void,
): void {
  const spec = c.object("spec", obj.spec, true);
  if (!spec) return;
  checkParentRefs(c, spec);
  checkHostnames(c, spec);
  bounded(c, "spec.rules", spec.rules, 16);
  c.each("spec.rules", spec.rules, (rule, at) => {
    pattern(c, `${at}.name`, rule.name, SECTION_NAME, 253, "a rule name (a lowercase DNS name)");
    bounded(c, `${at}.matches`, rule.matches, 64);
    c.each(`${at}.matches`, rule.matches, match);
    checkFilters(c, `${at}.filters`, rule.filters, filters);
    checkBackendRefs(c, `${at}.backendRefs`, rule.backendRefs, filters);
    rest?.(rule, at);
  });
}

function checkHttpRoute(c: Checker, obj: Json): void {
  checkL7Route(
    c,
    obj,
    HTTP_FILTERS,
    (m, where) => {
      const path = c.object(`${where}.path`, m.path);
      if (path) {
        const type =
          c.oneOf(`${where}.path.type`, path.type, ["Exact", "PathPrefix", "RegularExpression"]) ?? "PathPrefix";
        const value = c.string(`${where}.path.value`, path.value);
        if (value && value.length > 1024) c.fail(`${where}.path.value`, "must be no more than 1024 characters");
        else if (value !== undefined && type !== "RegularExpression") {
          if (!value.startsWith("/")) c.fail(`${where}.path.value`, `"${value}" must be an absolute path`);
          else if (/\/\/|\/\.\/|\/\.\.\/|%2f|%2F|#|\/\.\.?$/.test(value))
            c.fail(
              `${where}.path.value`,
              `"${value}" must not contain '//', '/./', '/../', '%2f' or '#' or end in '/.' or '/..'`,
            );
          else if (!PATH_VALUE.test(value)) c.fail(`${where}.path.value`, `"${value}" is not a valid path`);
        }
      }
      checkValueMatches(c, `${where}.headers`, m.headers);
      checkValueMatches(c, `${where}.queryParams`, m.queryParams);
      c.oneOf(`${where}.method`, m.method, HTTP_METHODS);
    },
    (rule, at) => {
      const timeouts = c.object(`${at}.timeouts`, rule.timeouts);
      if (timeouts) {
        checkTimeout(c, `${at}.timeouts.request`, timeouts.request);
        checkTimeout(c, `${at}.timeouts.backendRequest`, timeouts.backendRequest);
      }
    },
  );
}

function checkGrpcRoute(c: Checker, obj: Json): void {
  checkL7Route(c, obj, GRPC_FILTERS, (m, where) => {
    const method = c.object(`${where}.method`, m.method);
    if (method) {
      const type = c.oneOf(`${where}.method.type`, method.type, ["Exact", "RegularExpression"]) ?? "Exact";
      const service = c.string(`${where}.method.service`, method.service);
      const name = c.string(`${where}.method.method`, method.method);
      if (!service && !name) c.fail(`${where}.method`, "one or both of service and method must be set");
      if (type === "Exact") {
        if (service && !GRPC_SERVICE.test(service))
          c.fail(`${where}.method.service`, `"${service}" is not a gRPC service name`);
        if (name && !GRPC_METHOD.test(name)) c.fail(`${where}.method.method`, `"${name}" is not a gRPC method name`);
      }
      if (service && service.length > 1024) c.fail(`${where}.method.service`, "must be no more than 1024 characters");
      if (name && name.length > 1024) c.fail(`${where}.method.method`, "must be no more than 1024 characters");
    }
    checkValueMatches(c, `${where}.headers`, m.headers);
  });
}

function checkL4Route(c: Checker, kind: "TLSRoute" | "TCPRoute" | "UDPRoute", obj: Json): void {
  const spec = c.object("spec", obj.spec, true);
  if (!spec) return;
  checkParentRefs(c, spec);
  if (kind === "TLSRoute") {
    checkHostnames(c, spec);
    (Array.isArray(spec.hostnames) ? spec.hostnames : []).forEach((h, i) => {
      if (typeof h === "string" && h.startsWith("*") && !h.startsWith("*."))
        c.fail(`spec.hostnames[${i}]`, "a wildcard must be a whole first label ('*.')");
    });
  } else if (spec.hostnames !== undefined) c.fail("spec.hostnames", `not a field of ${kind}`);
  bounded(c, "spec.rules", spec.rules, 16);
  c.each(
    "spec.rules",
    spec.rules,
    (rule, at) => {
      pattern(c, `${at}.name`, rule.name, SECTION_NAME, 253, "a rule name (a lowercase DNS name)");
      checkBackendRefs(c, `${at}.backendRefs`, rule.backendRefs, undefined, true);
    },
    true,
  );
}

function checkReferenceGrant(c: Checker, obj: Json): void {
  const spec = c.object("spec", obj.spec, true);
  if (!spec) return;
  bounded(c, "spec.from", spec.from, 16);
  c.each(
    "spec.from",
    spec.from,
    (from, at) => {
      if (typeof from.group !== "string") c.fail(`${at}.group`, 'required ("" for the core group)');
      group(c, `${at}.group`, from.group);
      kind(c, `${at}.kind`, from.kind, true);
      namespaceRef(c, `${at}.namespace`, from.namespace, true);
    },
    true,
  );
  bounded(c, "spec.to", spec.to, 16);
  c.each(
    "spec.to",
    spec.to,
    (to, at) => {
      if (typeof to.group !== "string") c.fail(`${at}.group`, 'required ("" for the core group)');
      group(c, `${at}.group`, to.group);
      kind(c, `${at}.kind`, to.kind, true);
      objectName(c, `${at}.name`, to.name);
    },
    true,
  );
}

/** Object names of the kinds here (Gateway API objects are DNS subdomains; a Namespace is a DNS label). */
export function gatewayNameRule(kind: GatewayKind | "Namespace"): (s: string) => string | undefined {
  return kind === "Namespace" ? dns1123Label : dns1123Subdomain;
}
