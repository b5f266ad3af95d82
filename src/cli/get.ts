/**
 * `nodeplane get KIND [NAME…]` and `nodeplane describe KIND [NAME…]`: read a running nodeplane's admin API
 * and print like kubectl. Exit codes: 0 ok, 1 admin server unreachable or object not found, 2 bad usage.
 */
import { stringify as toYaml } from "yaml";
import type { ObjectList } from "../admin/api.ts";
import { type ResourceInfo, resolveResource } from "../admin/resources.ts";
import type { HostPort } from "../config.ts";
import type { EndpointSlice, Ingress, Service, TypedObject } from "../model/k8s.ts";
import type { Problem } from "../model/problems.ts";
import type { ServicePortSnapshot } from "../translate/snapshot.ts";
import { AdminClient, AdminUnreachableError } from "./admin-client.ts";
import { describeEndpointSlice, describeIngress, describeService } from "./describe.ts";
import { FlagError, parseFlags } from "./flags.ts";
import { endpointSlicesTable, ingressesTable, renderTable, servicesTable, type TableOptions } from "./format.ts";

export const DEFAULT_ADMIN_ADDRESS = "127.0.0.1:10249";

const OUTPUTS = ["table", "wide", "json", "yaml", "name"] as const;
type Output = (typeof OUTPUTS)[number];

export interface GetArgs {
  resource: ResourceInfo;
  names: string[];
  namespace: string;
  allNamespaces: boolean;
  output: Output;
  admin: HostPort;
}

/** Bad usage: printed on one line, exit 2. */
export class UsageError extends Error {}

const KINDS_HELP = "services (svc), endpointslices, ingresses (ing)";

const GET_HELP = `usage: nodeplane get KIND [NAME…] [-n NS | -A] [-o wide|json|yaml|name] [--admin-address HOST:PORT]

KIND: ${KINDS_HELP}
  -n, --namespace NS       namespace (default "default")
  -A, --all-namespaces     every namespace
  -o, --output FORMAT      wide|json|yaml|name (default: a table)
      --admin-address A    the running nodeplane's admin server (default $NODEPLANE_ADMIN_ADDRESS or ${DEFAULT_ADMIN_ADDRESS})
`;

const DESCRIBE_HELP = `usage: nodeplane describe KIND [NAME…] [-n NS | -A] [--admin-address HOST:PORT]

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
  const [kind, ...names] = positional;
  if (!kind) throw new UsageError(`which kind? one of ${KINDS_HELP}`);
  const resource = resolveResource(kind);
  if (!resource) throw new UsageError(`unknown kind "${kind}": one of ${KINDS_HELP}`);
  let address: HostPort;
  try {
    address = parseFlags(["--admin-address", admin], {}).adminAddress;
  } catch (err) {
    throw new UsageError(err instanceof FlagError ? err.message : String(err));
  }
  return { resource, names, namespace: namespace ?? "default", allNamespaces, output, admin: address };
}

function listPath(resource: ResourceInfo, args: GetArgs): string {
  if (args.allNamespaces) return `/api/v1/${resource.resource}`;
  return `/api/v1/namespaces/${encodeURIComponent(args.namespace)}/${resource.resource}`;
}

async function fetchList<T extends TypedObject>(client: AdminClient, path: string): Promise<T[]> {
  const list = await client.get<ObjectList<T>>(path);
  if (!list) throw new AdminUnreachableError(`admin server does not serve ${path} (is it nodeplane?)`);
  return list.items;
}

/** The objects asked for: every one in scope, or the named ones (a missing name is an error, as in kubectl). */
async function select<T extends TypedObject>(client: AdminClient, args: GetArgs): Promise<T[]> {
  const items = await fetchList<T>(client, listPath(args.resource, args));
  if (args.names.length === 0) return items;
  const missing = args.names.filter((n) => !items.some((o) => o.metadata?.name === n));
  if (missing.length > 0)
    throw new NotFoundError(missing.map((n) => `${args.resource.resource} "${n}" not found`).join("; "));
  return args.names.flatMap((n) => items.filter((o) => o.metadata?.name === n));
}

class NotFoundError extends Error {}

/** The text `nodeplane get` prints for these objects. */
export function formatGet(objects: readonly TypedObject[], args: GetArgs, now: Date): string {
  switch (args.output) {
    case "json":
      return `${JSON.stringify(single(objects, args) ?? listOf(objects), null, 4)}\n`;
    case "yaml":
      return toYaml(single(objects, args) ?? listOf(objects));
    case "name":
      return objects.map((o) => `${args.resource.namePrefix}/${o.metadata?.name ?? ""}\n`).join("");
    default: {
      const options: TableOptions = { wide: args.output === "wide", allNamespaces: args.allNamespaces, now };
      switch (args.resource.kind) {
        case "Service":
          return renderTable(servicesTable(objects as Service[], options));
        case "EndpointSlice":
          return renderTable(endpointSlicesTable(objects as EndpointSlice[], options));
        case "Ingress":
          return renderTable(ingressesTable(objects as Ingress[], options));
      }
    }
  }
}

/** kubectl prints the object itself, not a List, when exactly one was named. */
function single(objects: readonly TypedObject[], args: GetArgs): TypedObject | undefined {
  return args.names.length === 1 && objects.length === 1 ? objects[0] : undefined;
}

function listOf(objects: readonly TypedObject[]): ObjectList<TypedObject> {
  return { apiVersion: "v1", kind: "List", metadata: { resourceVersion: "" }, items: [...objects] };
}

export async function main(argv: string[]): Promise<number> {
  if (argv.includes("-h") || argv.includes("--help")) {
    process.stdout.write(GET_HELP);
    return 0;
  }
  return runCommand("get", argv, async (args, client) => {
    const objects = await select(client, args);
    if (objects.length === 0 && args.output !== "json" && args.output !== "yaml") {
      process.stderr.write(
        args.allNamespaces ? "No resources found\n" : `No resources found in ${args.namespace} namespace.\n`,
      );
      return;
    }
    process.stdout.write(formatGet(objects, args, new Date()));
  });
}

export async function describeMain(argv: string[]): Promise<number> {
  if (argv.includes("-h") || argv.includes("--help")) {
    process.stdout.write(DESCRIBE_HELP);
    return 0;
  }
  return runCommand("describe", argv, async (args, client) => {
    if (args.output !== "table") throw new UsageError("describe takes no -o");
    const objects = await select(client, args);
    if (objects.length === 0) {
      process.stderr.write(
        args.allNamespaces ? "No resources found\n" : `No resources found in ${args.namespace} namespace.\n`,
      );
      return;
    }
    const problems = (await client.get<{ problems: Problem[] }>("/api/problems"))?.problems ?? [];
    const texts: string[] = [];
    for (const obj of objects) texts.push(await describeOne(client, args.resource, obj, problems));
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
