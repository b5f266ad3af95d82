/**
 * `nodeplane get KIND [NAME…]` and `nodeplane describe KIND [NAME…]`: read a running nodeplane's admin API
 * and print like kubectl. Exit codes: 0 ok, 1 admin server unreachable or object not found, 2 bad usage.
 */
import { stringify as toYaml } from "yaml";
import type { ObjectList } from "../admin/api.ts";
import type { GatewayServing } from "../admin/gateway.ts";
import { isNamespacedResource, type ResourceInfo, resolveResource } from "../admin/resources.ts";
import type { HostPort } from "../config.ts";
import {
  endpointSlicesTable,
  gatewayClassesTable,
  gatewaysTable,
  hostnameRoutesTable,
  ingressesTable,
  nameAgeTable,
  renderTable,
  servicesTable,
  type Table,
  type TableOptions,
} from "../model/columns.ts";
import type { Gateway, GatewayClass, HTTPRoute } from "../model/gateway.ts";
import type { EndpointSlice, Ingress, Service, TypedObject } from "../model/k8s.ts";
import type { Problem } from "../model/problems.ts";
import type { ServicePortSnapshot } from "../snapshot/snapshot.ts";
import { AdminClient, AdminUnreachableError } from "./admin-client.ts";
import { describeEndpointSlice, describeIngress, describeService } from "./describe.ts";
import { describeGateway, describeGatewayObject, describeRoute, type RouteObject } from "./describe-gateway.ts";
import { FlagError, parseFlags } from "./flags.ts";

export const DEFAULT_ADMIN_ADDRESS = "127.0.0.1:10249";

const OUTPUTS = ["table", "wide", "json", "yaml", "name"] as const;
type Output = (typeof OUTPUTS)[number];

/** One kind asked for, with the names asked for (none = all in scope). */
export interface GetTarget {
  resource: ResourceInfo;
  names: string[];
}

export interface GetArgs {
  /** `svc,ing` gives two targets, `svc/a ing/b` too; the order is the user's */
  targets: GetTarget[];
  namespace: string;
  allNamespaces: boolean;
  output: Output;
  admin: HostPort;
}

/** Bad usage: printed on one line, exit 2. */
export class UsageError extends Error {}

const KINDS_HELP =
  "services (svc), endpointslices, ingresses (ing), gatewayclasses (gc), gateways (gtw), httproutes, grpcroutes, " +
  "tlsroutes, tcproutes, udproutes, referencegrants (refgrant)";

const GET_HELP = `usage: nodeplane get KIND[,KIND…] [NAME…] [-n NS | -A] [-o wide|json|yaml|name] [--admin-address HOST:PORT]
       nodeplane get KIND/NAME…

KIND: ${KINDS_HELP}
  -n, --namespace NS       namespace (default "default")
  -A, --all-namespaces     every namespace
  -o, --output FORMAT      wide|json|yaml|name (default: a table)
      --admin-address A    the running nodeplane's admin server (default $NODEPLANE_ADMIN_ADDRESS or ${DEFAULT_ADMIN_ADDRESS})
`;

const DESCRIBE_HELP = `usage: nodeplane describe KIND[,KIND…] [NAME…] | KIND/NAME… [-n NS | -A] [--admin-address HOST:PORT]

KIND: ${KINDS_HELP}
`;

/** Parses kubectl-style arguments: `-n ns`, `-nns`, `--namespace=ns`, `-A`, `-o json`, `-ojson`, `--output=json`. */
export function parseGetArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): GetArgs {
  const positional: string[] = [];
  let namespace: string | undefined;
  let allNamespaces = false;
  let output: Output = "table";
  let admin = env.NODEPLANE_ADMIN_ADDRESS || DEFAULT_ADMIN_ADDRESS;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = (flag: string): string => {
      const eq = arg.indexOf("=");
      if (arg.startsWith("--") && eq > 0) return arg.slice(eq + 1);
      if (!arg.startsWith("--") && arg.length > 2) return arg.slice(2).replace(/^=/, "");
      const next = argv[++i];
      if (next === undefined) throw new UsageError(`${flag} needs a value`);
      return next;
    };
    const name = arg.startsWith("--") ? arg.split("=")[0]! : arg.slice(0, 2);
    switch (name) {
      case "-n":
      case "--namespace":
        namespace = value(name);
        if (namespace === "") throw new UsageError(`${name} needs a namespace`);
        break;
      case "-A":
      case "--all-namespaces":
        if (arg.length > name.length) throw new UsageError(`unknown flag ${arg}`);
        allNamespaces = true;
        break;
      case "-o":
      case "--output": {
        const o = value(name);
        if (!(OUTPUTS as readonly string[]).includes(o) || o === "table")
          throw new UsageError(`${name}: "${o}" is not one of wide|json|yaml|name`);
        output = o as Output;
        break;
      }
      case "--admin-address":
        admin = value(name);
        break;
      default:
        if (arg.startsWith("-")) throw new UsageError(`unknown flag ${arg}`);
        positional.push(arg);
    }
  }
  const targets = parseTargets(positional);
  let address: HostPort;
  try {
    address = parseFlags(["--admin-address", admin], {}).adminAddress;
  } catch (err) {
    throw new UsageError(err instanceof FlagError ? err.message : String(err));
  }
  return { targets, namespace: namespace ?? "default", allNamespaces, output, admin: address };
}

/** `KIND[,KIND…] [NAME…]` or `KIND/NAME…`, as kubectl takes them. */
function parseTargets(positional: readonly string[]): GetTarget[] {
  const [first, ...rest] = positional;
  if (!first) throw new UsageError(`which kind? one of ${KINDS_HELP}`);
  const resolve = (kind: string): ResourceInfo => {
    const resource = resolveResource(kind);
    if (!resource) throw new UsageError(`unknown kind "${kind}": one of ${KINDS_HELP}`);
    return resource;
  };
  if (first.includes("/")) {
    const targets: GetTarget[] = [];
    for (const arg of positional) {
      const slash = arg.indexOf("/");
      if (slash <= 0 || slash === arg.length - 1)
        throw new UsageError(`"${arg}": use KIND/NAME for every argument once one does`);
      const resource = resolve(arg.slice(0, slash));
      const existing = targets.find((t) => t.resource === resource);
      if (existing) existing.names.push(arg.slice(slash + 1));
      else targets.push({ resource, names: [arg.slice(slash + 1)] });
    }
    return targets;
  }
  const resources = [
    ...new Set(
      first
        .split(",")
        .filter((k) => k !== "")
        .map(resolve),
    ),
  ];
  if (resources.length === 0) throw new UsageError(`which kind? one of ${KINDS_HELP}`);
  const stray = rest.find((n) => n.includes("/"));
  if (stray) throw new UsageError(`"${stray}": there is no need to specify a kind with NAME here`);
  return resources.map((resource) => ({ resource, names: [...rest] }));
}

function listPath(resource: ResourceInfo, args: GetArgs): string {
  if (args.allNamespaces || !isNamespacedResource(resource)) return `/api/v1/${resource.resource}`;
  return `/api/v1/namespaces/${encodeURIComponent(args.namespace)}/${resource.resource}`;
}

async function fetchList<T extends TypedObject>(client: AdminClient, path: string): Promise<T[]> {
  const list = await client.get<ObjectList<T>>(path);
  if (!list) throw new AdminUnreachableError(`admin server does not serve ${path} (is it nodeplane?)`);
  return list.items;
}

/** Objects of one kind, fetched for one target. */
export interface ObjectGroup {
  resource: ResourceInfo;
  objects: TypedObject[];
}

/** The objects asked for: every one in scope, or the named ones (a missing name is an error, as in kubectl). */
async function select(client: AdminClient, args: GetArgs): Promise<ObjectGroup[]> {
  const groups: ObjectGroup[] = [];
  const missing: string[] = [];
  for (const { resource, names } of args.targets) {
    const items = await fetchList<TypedObject>(client, listPath(resource, args));
    if (names.length === 0) {
      groups.push({ resource, objects: items });
      continue;
    }
    for (const n of names) if (!items.some((o) => o.metadata?.name === n)) missing.push(`${resource.resource} "${n}"`);
    groups.push({ resource, objects: names.flatMap((n) => items.filter((o) => o.metadata?.name === n)) });
  }
  if (missing.length > 0) throw new NotFoundError(`${missing.join(", ")} not found`);
  return groups;
}

class NotFoundError extends Error {}

/** The text `nodeplane get` prints for these objects. */
export function formatGet(groups: readonly ObjectGroup[], args: GetArgs, now: Date): string {
  const all = groups.flatMap((g) => g.objects);
  switch (args.output) {
    case "json":
      return `${JSON.stringify(single(all, args) ?? listOf(all), null, 4)}\n`;
    case "yaml":
      return toYaml(single(all, args) ?? listOf(all));
    case "name":
      return groups
        .flatMap((g) => g.objects.map((o) => `${g.resource.namePrefix}/${o.metadata?.name ?? ""}\n`))
        .join("");
    default: {
      const options: TableOptions = { wide: args.output === "wide", allNamespaces: args.allNamespaces, now };
      // with several kinds kubectl prints one table per kind, names as kind/name
      const prefixed = groups.length > 1;
      return groups
        .filter((g) => g.objects.length > 0)
        .map((g) => {
          const table = tableFor(g, options);
          if (!prefixed) return renderTable(table);
          const nameCol = table.header.indexOf("NAME");
          const rows = table.rows.map((r) => r.map((c, i) => (i === nameCol ? `${g.resource.namePrefix}/${c}` : c)));
          return renderTable({ header: table.header, rows });
        })
        .join("\n");
    }
  }
}

function tableFor(group: ObjectGroup, options: TableOptions): Table {
  switch (group.resource.kind) {
    case "Service":
      return servicesTable(group.objects as Service[], options);
    case "EndpointSlice":
      return endpointSlicesTable(group.objects as EndpointSlice[], options);
    case "Ingress":
      return ingressesTable(group.objects as Ingress[], options);
    case "GatewayClass":
      return gatewayClassesTable(group.objects as GatewayClass[], options);
    case "Gateway":
      return gatewaysTable(group.objects as Gateway[], options);
    case "HTTPRoute":
    case "GRPCRoute":
      return hostnameRoutesTable(group.objects as HTTPRoute[], options);
    case "TLSRoute":
    case "TCPRoute":
    case "UDPRoute":
    case "ReferenceGrant":
      return nameAgeTable(group.objects, options);
  }
}

/** kubectl prints the object itself, not a List, when exactly one was named. */
function single(objects: readonly TypedObject[], args: GetArgs): TypedObject | undefined {
  const named = args.targets.reduce((n, t) => n + t.names.length, 0);
  return named === 1 && args.targets.length === 1 && objects.length === 1 ? objects[0] : undefined;
}

function listOf(objects: readonly TypedObject[]): ObjectList<TypedObject> {
  return { apiVersion: "v1", kind: "List", metadata: { resourceVersion: "" }, items: [...objects] };
}

function noneFound(args: GetArgs): string {
  return args.allNamespaces ? "No resources found\n" : `No resources found in ${args.namespace} namespace.\n`;
}

export async function main(argv: string[]): Promise<number> {
  if (argv.includes("-h") || argv.includes("--help")) {
    process.stdout.write(GET_HELP);
    return 0;
  }
  return runCommand("get", argv, async (args, client) => {
    const groups = await select(client, args);
    const empty = groups.every((g) => g.objects.length === 0);
    if (empty && args.output !== "json" && args.output !== "yaml") {
      process.stderr.write(noneFound(args));
      return;
    }
    process.stdout.write(formatGet(groups, args, new Date()));
  });
}

export async function describeMain(argv: string[]): Promise<number> {
  if (argv.includes("-h") || argv.includes("--help")) {
    process.stdout.write(DESCRIBE_HELP);
    return 0;
  }
  return runCommand("describe", argv, async (args, client) => {
    if (args.output !== "table") throw new UsageError("describe takes no -o");
    const groups = await select(client, args);
    if (groups.every((g) => g.objects.length === 0)) {
      process.stderr.write(noneFound(args));
      return;
    }
    const problems = (await client.get<{ problems: Problem[] }>("/api/problems"))?.problems ?? [];
    const texts: string[] = [];
    for (const g of groups)
      for (const obj of g.objects) texts.push(await describeOne(client, g.resource, obj, problems));
    process.stdout.write(texts.join("\n\n"));
  });
}

async function describeOne(
  client: AdminClient,
  resource: ResourceInfo,
  obj: TypedObject,
  problems: readonly Problem[],
): Promise<string> {
  const ns = obj.metadata?.namespace ?? "default";
  const nsQuery = `namespace=${encodeURIComponent(ns)}`;
  switch (resource.kind) {
    case "Service": {
      const name = obj.metadata?.name ?? "";
      const slices = await fetchList<EndpointSlice>(client, `/api/v1/endpointslices?${nsQuery}`);
      const ports = await client.get<{ servicePorts: ServicePortSnapshot[] }>(
        `/api/serviceports?${nsQuery}&name=${encodeURIComponent(name)}`,
      );
      return describeService({
        service: obj as Service,
        slices: slices.filter((s) => s.metadata?.labels?.["kubernetes.io/service-name"] === name),
        servicePorts: ports?.servicePorts ?? [],
        problems,
      });
    }
    case "Ingress": {
      const services = await fetchList<Service>(client, `/api/v1/services?${nsQuery}`);
      const slices = await fetchList<EndpointSlice>(client, `/api/v1/endpointslices?${nsQuery}`);
      return describeIngress({ ingress: obj as Ingress, services, slices, problems });
    }
    case "EndpointSlice":
      return describeEndpointSlice(obj as EndpointSlice);
    case "Gateway":
    case "HTTPRoute":
    case "GRPCRoute":
    case "TLSRoute":
    case "TCPRoute":
    case "UDPRoute": {
      const name = encodeURIComponent(obj.metadata?.name ?? "");
      const serving = (await client.get<GatewayServing>(
        `/api/gateway?kind=${resource.kind}&${nsQuery}&name=${name}`,
      )) ?? {
        http: [],
        l4: [],
      };
      if (resource.kind === "Gateway") return describeGateway({ gateway: obj as Gateway, serving, problems });
      return describeRoute({ kind: resource.kind, route: obj as RouteObject, serving, problems });
    }
    case "GatewayClass":
    case "ReferenceGrant":
      return describeGatewayObject(resource.kind, obj, problems);
  }
}

async function runCommand(
  command: string,
  argv: readonly string[],
  body: (args: GetArgs, client: AdminClient) => Promise<void>,
): Promise<number> {
  try {
    const args = parseGetArgs(argv);
    await body(args, new AdminClient(args.admin));
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`nodeplane ${command}: ${err.message} (see nodeplane ${command} --help)\n`);
      return 2;
    }
    if (err instanceof AdminUnreachableError || err instanceof NotFoundError) {
      process.stderr.write(`nodeplane ${command}: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}
