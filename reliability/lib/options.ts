// Command line of `npm run reliability` (pure).
import { resolve } from "node:path";

export const USAGE = `usage: npm run reliability -- [options]
  --quick          smaller floods and shorter waits (about a minute)
  --workers N      nodeplane --workers N (default: nodeplane's own default, one per CPU)
  --cases A,C1     only these cases (ids like C1, or the letters A–K of docs/reliability.md)
  --out DIR        results directory (default reliability/results)
`;

export interface Options {
  quick: boolean;
  workers: number | undefined;
  cases: string[] | undefined;
  outDir: string;
}

/** Pure: the command line, or the text to print (usage, or what is wrong). */
export function parseArgs(argv: readonly string[], defaultOutDir: string): Options | string {
  const o: Options = { quick: false, workers: undefined, cases: undefined, outDir: defaultOutDir };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    try {
      if (a === "--quick") o.quick = true;
      else if (a === "--workers") {
        const n = Number(value());
        if (!Number.isInteger(n) || n < 1 || n > 64) return "--workers: an integer from 1 to 64";
        o.workers = n;
      } else if (a === "--cases") o.cases = value().split(",").filter(Boolean);
      else if (a === "--out") o.outDir = resolve(value());
      else if (a === "--help" || a === "-h") return USAGE;
      else return `unknown option ${a}\n${USAGE}`;
    } catch (err) {
      return (err as Error).message;
    }
  }
  return o;
}
