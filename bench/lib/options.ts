/** Command line of `npm run bench` (pure). */

export const SCENARIOS = [
  "l7-keepalive",
  "gateway-keepalive",
  "l4-keepalive",
  "l4-bulk",
  "l4-connrate",
  "l7-connrate",
  "dns-cached",
  "dns-forward-cached",
  "snapshot-rebuild",
] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export interface BenchOptions {
  quick: boolean;
  /** measured rounds per scenario (targets interleaved, order rotated each round) */
  rounds: number;
  /** seconds per throughput run */
  durationS: number;
  /** seconds per run whose latency percentiles are reported (keep-alive scenarios) */
  latencyDurationS: number;
  /** seconds of warm-up per target before the rounds */
  warmupS: number;
  scenarios: ScenarioName[];
  /** null = every target */
  targets: string[] | null;
  /** install missing Debian tools with apt-get when root */
  install: boolean;
  /** where results go */
  outDir: string;
  /** nodeplane --workers N for the nodeplane-N rows (0 = no such rows) */
  workers: number;
  help: boolean;
}

export const USAGE = `usage: npm run bench -- [options]
  --quick               short smoke run (1 round, short runs; under 2 minutes)
  --rounds N            measured rounds per scenario (default 3, quick 1)
  --duration S          seconds per throughput run (default 10, quick 2)
  --latency-duration S  seconds per wrk keep-alive run (the latency figures; default 30, quick 2)
  --warmup S            warm-up seconds per target and scenario (default 3, quick 0)
  --scenarios A,B       subset of: ${SCENARIOS.join(", ")}
  --targets A,B         subset of: direct, nodeplane, nodeplane-N, nginx, haproxy, http-proxy, bind, dnsmasq, unbound
  --workers N           also run nodeplane with --workers N as target nodeplane-N (default: CPU count; 0 = off)
  --no-install          never apt-get missing tools (peers without their tool are skipped)
  --out DIR             results directory (default bench/results)
`;

export class OptionsError extends Error {}

export function parseBenchArgs(argv: readonly string[], cpus: number): BenchOptions {
  const quick = argv.includes("--quick");
  const o: BenchOptions = {
    quick,
    rounds: quick ? 1 : 3,
    durationS: quick ? 2 : 10,
    latencyDurationS: quick ? 2 : 30,
    warmupS: quick ? 0 : 3,
    scenarios: [...SCENARIOS],
    targets: null,
    install: true,
    outDir: "bench/results",
    workers: cpus > 1 ? cpus : 0,
    help: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf("=");
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    const value = (): string => {
      if (eq > 0) return arg.slice(eq + 1);
      const next = argv[++i];
      if (next === undefined) throw new OptionsError(`${name} needs a value`);
      return next;
    };
    switch (name) {
      case "--quick":
        break;
      case "--help":
      case "-h":
        o.help = true;
        break;
      case "--no-install":
        o.install = false;
        break;
      case "--rounds":
        o.rounds = positive(name, value(), true);
        break;
      case "--duration":
        o.durationS = positive(name, value(), false);
        break;
      case "--latency-duration":
        o.latencyDurationS = positive(name, value(), false);
        break;
      case "--warmup":
        o.warmupS = nonNegative(name, value());
        break;
      case "--workers":
        o.workers = nonNegative(name, value());
        if (!Number.isInteger(o.workers)) throw new OptionsError(`${name}: not a whole number`);
        break;
      case "--out":
        o.outDir = value();
        break;
      case "--scenarios": {
        const list = value().split(",").filter(Boolean);
        for (const s of list)
          if (!(SCENARIOS as readonly string[]).includes(s))
            throw new OptionsError(`--scenarios: unknown scenario "${s}" (one of ${SCENARIOS.join(", ")})`);
        o.scenarios = list as ScenarioName[];
        break;
      }
      case "--targets":
        o.targets = value().split(",").filter(Boolean);
        break;
      default:
        throw new OptionsError(`unknown option ${arg} (see --help)`);
    }
  }
  return o;
}

function positive(name: string, v: string, integer: boolean): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n)))
    throw new OptionsError(`${name}: "${v}" is not a positive ${integer ? "whole " : ""}number`);
  return n;
}

function nonNegative(name: string, v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new OptionsError(`${name}: "${v}" is not a number ≥ 0`);
  return n;
}
