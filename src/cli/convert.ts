/**
 * `nodeplane convert [FILE|DIR|-]`: reads manifests (as `--manifests` reads them: multi-document YAML/JSON,
 * `List`s, folders recursively) and prints the Gateway API equivalent of their Ingresses on stdout
 * (src/convert/ingress-to-gateway.ts). Problems reading the input go to stderr, one line each.
 * Exit codes: 0 converted (or nothing to convert, said on stderr), 1 the input cannot be read, 2 bad usage.
 */
import { readFileSync, statSync } from "node:fs";
import { type ConvertOptions, convertIngresses, DEFAULT_CONVERT_OPTIONS } from "../convert/ingress-to-gateway.ts";
import { formatProblem, type Problem } from "../model/problems.ts";
import { listManifestFiles, readManifestFile } from "../source/manifests/files.ts";
import { MAX_FILE_BYTES } from "../source/manifests/limits.ts";
import { parseManifestFile } from "../source/manifests/parse.ts";

export const CONVERT_HELP = `usage: nodeplane convert [FILE|DIR|-] [flags]

Prints Gateway API objects (gateway.networking.k8s.io/v1) equivalent to the Ingresses in FILE, in every
manifest under DIR (recursively), or on stdin (- or nothing): a GatewayClass, a Gateway per IngressClass used
(an HTTP listener, HTTPS listeners for the TLS hosts, routes allowed from all namespaces), an HTTPRoute per
Ingress (per host when it names several), HTTP → HTTPS redirect routes, ReferenceGrants for certificates in
other namespaces. Every annotation or feature without a Gateway API equivalent is a '# not converted:' line.

flags:
      --gateway-name NAME        the Gateway's name (default: the IngressClass's name)
      --gateway-namespace NS     the Gateway's namespace (default: the Ingresses' one when they share it, else default)
      --gateway-class NAME       the GatewayClass written and used (default ${DEFAULT_CONVERT_OPTIONS.gatewayClassName})
      --http-port N              the HTTP listener's port (default ${DEFAULT_CONVERT_OPTIONS.httpPort}; e.g. 8081 with no root)
      --https-port N             the HTTPS listeners' port (default ${DEFAULT_CONVERT_OPTIONS.httpsPort})

example:
  nodeplane convert examples/lab --http-port 8081 --https-port 8444 > gateway.yaml
`;

class UsageError extends Error {}

export function parseConvertArgs(argv: readonly string[]): { input: string; options: ConvertOptions } {
  const options: ConvertOptions = { ...DEFAULT_CONVERT_OPTIONS };
  let input: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "-" || !arg.startsWith("-")) {
      if (input !== undefined) throw new UsageError(`one input only ("${input}", then "${arg}")`);
      input = arg;
      continue;
    }
    const eq = arg.indexOf("=");
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    const value = (): string => {
      const v = eq > 0 ? arg.slice(eq + 1) : argv[++i];
      if (v === undefined || v === "") throw new UsageError(`${name} needs a value`);
      return v;
    };
    const port = (): number => {
      const v = value();
      if (!/^\d{1,5}$/.test(v) || Number(v) < 1 || Number(v) > 65535)
        throw new UsageError(`${name}: "${v}" is not a port`);
      return Number(v);
    };
    const dnsName = (): string => {
      const v = value();
      if (!/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(v))
        throw new UsageError(`${name}: "${v}" is not a valid Kubernetes name`);
      return v;
    };
    switch (name) {
      case "--gateway-name":
        options.gatewayName = dnsName();
        break;
      case "--gateway-namespace":
        options.gatewayNamespace = dnsName();
        break;
      case "--gateway-class":
        options.gatewayClassName = dnsName();
        break;
      case "--http-port":
        options.httpPort = port();
        break;
      case "--https-port":
        options.httpsPort = port();
        break;
      default:
        throw new UsageError(`unknown flag ${arg}`);
    }
  }
  return { input: input ?? "-", options };
}

/** Every decoded document of the input, and what could not be read. */
async function readInput(input: string): Promise<{ documents: unknown[]; problems: Problem[] }> {
  const documents: unknown[] = [];
  const problems: Problem[] = [];
  const add = (path: string, text: string) => {
    const parsed = parseManifestFile({ path, text });
    for (const d of parsed.documents) documents.push(d.object);
    problems.push(...parsed.problems);
  };
  if (input === "-") {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of process.stdin) {
      size += (chunk as Buffer).length;
      if (size > MAX_FILE_BYTES) throw new Error(`stdin: larger than ${MAX_FILE_BYTES} bytes (the limit)`);
      chunks.push(chunk as Buffer);
    }
    add("stdin.yaml", Buffer.concat(chunks).toString("utf8"));
    return { documents, problems };
  }
  if (statSync(input).isDirectory()) {
    const listing = await listManifestFiles(input);
    problems.push(...listing.problems);
    for (const file of listing.files) {
      const read = await readManifestFile(file.path);
      if ("problem" in read) problems.push(read.problem);
      else if ("text" in read) add(file.path, read.text);
    }
    return { documents, problems };
  }
  if (statSync(input).size > MAX_FILE_BYTES)
    throw new Error(`${input}: larger than ${MAX_FILE_BYTES} bytes (the limit)`);
  add(input, readFileSync(input, "utf8"));
  return { documents, problems };
}

export async function main(argv: string[]): Promise<number> {
  if (argv.includes("-h") || argv.includes("--help")) {
    process.stdout.write(CONVERT_HELP);
    return 0;
  }
  let args: ReturnType<typeof parseConvertArgs>;
  try {
    args = parseConvertArgs(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`nodeplane convert: ${err.message} (see nodeplane convert --help)\n`);
    return 2;
  }
  let read: Awaited<ReturnType<typeof readInput>>;
  try {
    read = await readInput(args.input);
  } catch (err) {
    process.stderr.write(
      `nodeplane convert: cannot read ${args.input}: ${err instanceof Error ? err.message : String(err)}\n`,
    );
    return 1;
  }
  for (const p of read.problems) process.stderr.write(`nodeplane convert: skipped: ${formatProblem(p)}\n`);
  const result = convertIngresses(read.documents, args.options);
  if (result.ingresses === 0)
    process.stderr.write(`nodeplane convert: no networking.k8s.io/v1 Ingress in ${args.input}\n`);
  process.stdout.write(result.text);
  return 0;
}
