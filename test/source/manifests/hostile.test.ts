/**
 * Hostile manifests (case K of docs/reliability.md): each row puts one hostile file next to a good Service and checks
 * that the hostile file is reported by name (and document), the good Service is applied, a Service
 * added afterwards is applied too, and the source's health says whether a file was skipped.
 */
import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { createConnection, createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type RunningApp, startApp } from "../../../src/app.ts";
import { parseFlags } from "../../../src/cli/flags.ts";
import { MAX_DEPTH, MAX_DOCUMENTS, MAX_FILE_BYTES, nestingDepth } from "../../../src/source/manifests/limits.ts";
import { parseManifestFile } from "../../../src/source/manifests/parse.ts";
import { ManifestsSource } from "../../../src/source/manifests/source.ts";
import { Store } from "../../../src/store/store.ts";
import { controlPathFlags } from "../../support/flags.ts";

const service = (name: string, extra = "") =>
  `apiVersion: v1\nkind: Service\nmetadata: {name: ${name}}\nspec: {ports: [{port: 80}]}\n${extra}`;
const jsonService = (name: string, extra: string) =>
  `{"apiVersion":"v1","kind":"Service","metadata":{"name":"${name}"},"spec":{"ports":[{"port":80}]},"extra":${extra}}`;

const nested = (depth: number, open: string, leaf: string, close: string) =>
  open.repeat(depth) + leaf + close.repeat(depth);

/** "billion laughs": 9 levels of 10 aliases each, 10^9 strings if expanded */
function billionLaughs(): string {
  let text = service("laughs", `l0: &l0 [${Array(10).fill("lol").join(", ")}]\n`);
  for (let i = 1; i < 9; i++)
    text += `l${i}: &l${i} [${Array(10)
      .fill(`*l${i - 1}`)
      .join(", ")}]\n`;
  return text;
}

/** each anchor 60 levels deep holds the previous one: 300 levels once aliases are expanded */
function stackedAliases(): string {
  let text = service("stacked", `a0: &a0 ${nested(60, "[", "x", "]")}\n`);
  for (let i = 1; i < 5; i++) text += `a${i}: &a${i} ${nested(60, "[", `*a${i - 1}`, "]")}\n`;
  return text;
}

/** A block-mapping staircase: one more space of indentation per level. */
function deepBlockYaml(depth: number): string {
  let text = service("stairs", "extra:\n");
  for (let i = 1; i <= depth; i++) text += `${" ".repeat(i)}k:\n`;
  return `${text}${" ".repeat(depth + 1)}leaf\n`;
}

/** Deterministic bytes that are not text (a fixed LCG, so every run tests the same garbage). */
function garbage(size: number): Buffer {
  const out = Buffer.alloc(size);
  let x = 12345;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

interface Row {
  name: string;
  /** the hostile file, relative to the folder */
  file: string;
  make: (path: string, dir: string) => Promise<void>;
  /** the problem on the hostile file; undefined: none expected */
  problem?: RegExp;
  /** the document the problem names (`#N`), when it names one */
  document?: number;
  /** false when the file is skipped as a whole: the source then reports itself not healthy */
  healthy: boolean;
}

const text = (content: string | Buffer) => (path: string) => writeFile(path, content);

const ROWS: Row[] = [
  {
    name: "100,000 nested JSON arrays in a Service's unknown field (was: RangeError in structuredClone, every pass)",
    file: "deep-array.json",
    make: text(jsonService("deep", nested(100_000, "[", "", "]"))),
    problem: /nested deeper than 100 levels \(the limit\); file skipped/,
    document: 1,
    healthy: false,
  },
  {
    name: "100,000 nested JSON objects in a Service's unknown field",
    file: "deep-object.json",
    make: text(jsonService("deep", nested(100_000, '{"a":', "1", "}"))),
    problem: /nested deeper than 100 levels/,
    document: 1,
    healthy: false,
  },
  {
    name: "a JSON file that is only 100,000 nested arrays",
    file: "only-arrays.json",
    make: text(nested(100_000, "[", "", "]")),
    problem: /nested deeper than 100 levels/,
    document: 1,
    healthy: false,
  },
  {
    name: "YAML flow sequences 100,000 deep, in the 2nd document",
    file: "deep-flow.yaml",
    make: text(`${service("first")}---\n${nested(100_000, "[", "", "]")}\n`),
    problem: /nested deeper than 100 levels/,
    document: 2,
    healthy: false,
  },
  {
    name: "YAML compact sequences (- - - …) 50,000 deep",
    file: "compact.yaml",
    make: text(`${"- ".repeat(50_000)}x\n`),
    problem: /nested deeper than 100 levels/,
    document: 1,
    healthy: false,
  },
  {
    name: "YAML block mappings 1,000 deep by indentation",
    file: "stairs.yaml",
    make: text(deepBlockYaml(1000)),
    problem: /nested deeper than 100 levels/,
    document: 1,
    healthy: false,
  },
  {
    name: "YAML anchors 60 deep stacked by aliases to 300 levels",
    file: "stacked.yaml",
    make: text(stackedAliases()),
    problem: /nested deeper than 100 levels/,
    document: 1,
    healthy: false,
  },
  {
    name: "a YAML alias inside its own anchor (was: TypeError in metadata.ts, every pass)",
    file: "cycle.yaml",
    make: text(service("cycle", "extra: &a [*a]\n")),
    problem: /refers to itself/,
    document: 1,
    healthy: false,
  },
  {
    name: "a YAML alias bomb (billion laughs): maxAliasCount refuses the document",
    file: "laughs.yaml",
    make: text(billionLaughs()),
    problem: /not valid YAML: Excessive alias count/,
    document: 1,
    healthy: true,
  },
  {
    name: "a file over 8 MiB",
    file: "huge.yaml",
    make: text(`${service("huge")}# ${"x".repeat(MAX_FILE_BYTES)}\n`),
    problem: /larger than 8388608 bytes \(the limit\); file skipped/,
    healthy: false,
  },
  {
    name: "10,001 YAML documents",
    file: "many.yaml",
    make: text(`${service("many")}${"---\n{}\n".repeat(MAX_DOCUMENTS)}`),
    problem: /more than 10000 documents/,
    healthy: false,
  },
  {
    name: "a List of 10,001 items",
    file: "list.json",
    make: text(JSON.stringify({ apiVersion: "v1", kind: "List", items: Array(MAX_DOCUMENTS + 1).fill({}) })),
    problem: /more than 10000 documents/,
    healthy: false,
  },
  {
    // the yaml package's uniqueKeys compares every key with every other: 53 s for this 600 kB file
    name: "40,000 keys in one mapping (a ConfigMap, ignored)",
    file: "keys.yaml",
    make: text(
      `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: keys}\ndata:\n${Array.from({ length: 40_000 }, (_, i) => `  k${i}: v\n`).join("")}`,
    ),
    healthy: true,
  },
  {
    name: "binary garbage",
    file: "garbage.yaml",
    make: text(garbage(200_000)),
    problem: /not valid YAML/,
    document: 1,
    healthy: true,
  },
  {
    name: "a FIFO named like a manifest (was: silently skipped)",
    file: "fifo.yaml",
    make: async (path) => {
      execFileSync("mkfifo", [path]);
    },
    problem: /not a regular file; skipped/,
    healthy: false,
  },
  {
    name: "a symbolic link loop named like a manifest (was: silently skipped)",
    file: "loop.yaml",
    make: (path) => symlink(path, path),
    problem: /cannot read file: ELOOP/,
    healthy: false,
  },
  {
    // root reads files whatever their mode; /proc/self/mem lists as a regular file and fails with EIO
    name: "a file that cannot be read (EIO)",
    file: "eio.yaml",
    make: (path) => symlink("/proc/self/mem", path),
    problem: /cannot read file: EIO/,
    healthy: false,
  },
  {
    name: "a folder that links back to its parent (each real folder is read once)",
    file: "sub/up",
    make: async (path, dir) => {
      await mkdir(join(dir, "sub"));
      await symlink(dir, path);
    },
    healthy: true,
  },
];

describe("hostile manifests: each file reported by name, the others applied", () => {
  let dir: string;
  const sources: ManifestsSource[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "nodeplane-hostile-"));
  });

  afterEach(async () => {
    for (const source of sources.splice(0)) await source.stop();
    await rm(dir, { recursive: true, force: true });
  });

  for (const row of ROWS) {
    it(row.name, { timeout: 30_000 }, async () => {
      await writeFile(join(dir, "good.yaml"), service("good"));
      const path = join(dir, row.file);
      await row.make(path, dir);
      const source = new ManifestsSource(parseFlags(["--manifests", dir], {}), pino({ level: "silent" }), {
        watch: false,
        rescanMs: 60_000,
      });
      sources.push(source);
      const store = new Store();
      await source.start(store);

      expect(store.get("Service", "default/good")).toBeDefined();
      const ofFile = () => source.problems().filter((p) => p.origin === path || p.origin?.startsWith(`${path}#`));
      const mine = ofFile();
      if (row.problem) {
        expect(mine.map((p) => p.message)).toEqual([expect.stringMatching(row.problem)]);
        expect(mine[0]!.origin).toBe(row.document ? `${path}#${row.document}` : path);
      } else expect(source.problems()).toEqual([]);
      expect(source.healthy()).toBe(row.healthy);
      if (!row.healthy) expect(source.unhealthyReason()).toContain(path);

      // a Service added while the hostile file stays is applied on the next pass
      await writeFile(join(dir, "later.yaml"), service("later"));
      await source.refresh();
      expect(store.get("Service", "default/later")).toBeDefined();
      expect(store.get("Service", "default/good")).toBeDefined();
      // and the hostile file is still reported (a skipped file is remembered, not forgotten, by the pass)
      expect(ofFile()).toEqual(mine);
      expect(source.healthy()).toBe(row.healthy);
    });
  }

  it("files past the folder's byte budget are skipped by name; the ones before it apply", async () => {
    await writeFile(join(dir, "a.yaml"), service("a"));
    await writeFile(join(dir, "b.yaml"), service("b"));
    await writeFile(join(dir, "c.yaml"), service("c"));
    const budget = Buffer.byteLength(service("a")) * 2; // a and b fit, c does not
    const source = new ManifestsSource(parseFlags(["--manifests", dir], {}), pino({ level: "silent" }), {
      watch: false,
      maxTotalBytes: budget,
    });
    sources.push(source);
    const store = new Store();
    await source.start(store);
    expect([...store.list("Service")].map((s) => s.metadata?.name).sort()).toEqual(["a", "b"]);
    expect(source.problems()).toEqual([
      {
        kind: "File",
        origin: join(dir, "c.yaml"),
        message: `the folder's manifests pass ${budget} bytes (the limit) with this file; file skipped`,
      },
    ]);
    expect(source.healthy()).toBe(false);
  });

  it("a 10,000-port Service is applied whole", { timeout: 30_000 }, async () => {
    const ports = Array.from({ length: 10_000 }, (_, i) => ({ name: `p${i}`, port: 1000 + i }));
    const big = { apiVersion: "v1", kind: "Service", metadata: { name: "big" }, spec: { ports } };
    await writeFile(join(dir, "big.json"), JSON.stringify(big));
    const source = new ManifestsSource(parseFlags(["--manifests", dir], {}), pino({ level: "silent" }), {
      watch: false,
    });
    sources.push(source);
    const store = new Store();
    await source.start(store);
    expect(source.problems()).toEqual([]);
    expect(store.get("Service", "default/big")?.spec?.ports).toHaveLength(10_000);
  });
});

describe("limits", () => {
  const deep = (n: number): unknown => {
    let v: unknown = "leaf";
    for (let i = 0; i < n; i++) v = [v];
    return v;
  };
  const shared: unknown[] = [[["x"]]];
  const cyclic: unknown[] = [];
  cyclic.push([cyclic]);
  it.each([
    ["a scalar", "x", 0],
    ["an empty object", {}, 1],
    ["3 levels", { a: [{ b: 1 }] }, 3],
    ["exactly the limit", deep(MAX_DEPTH), MAX_DEPTH],
    ["one past the limit", deep(MAX_DEPTH + 1), MAX_DEPTH + 1],
    ["a million levels (stops at the limit)", deep(1_000_000), MAX_DEPTH + 1],
    ["a shared object counted where it is deepest", [shared, [[shared]]], 6],
    ["a cycle", cyclic, "cycle"],
    ["a Map's values", { m: new Map([["k", [[1]]]]) }, 4],
  ] as [string, unknown, number | "cycle"][])("nestingDepth: %s", (_name, value, depth) => {
    expect(nestingDepth(value, MAX_DEPTH)).toBe(depth);
  });

  it.each([
    ["a: 1\nb: 2\na: 3\n", "line 3, column 1"],
    ["x:\n  - {k: 1, k: 2}\n", "line 2, column 12"],
    ["a: 1\n'a': 2\n", "line 2, column 1"],
    ["a: 1\nb: {a: 1}\n", undefined],
    ["a: &x {k: 1}\nb: *x\nc: {<<: *x, k: 2}\n", undefined],
  ])("duplicate keys in %j: %s", (yaml, where) => {
    const { problems } = parseManifestFile({ path: "a.yaml", text: yaml });
    expect(problems.map((p) => p.message)).toEqual(
      where ? [`not valid YAML: Map keys must be unique at ${where}`] : [],
    );
  });

  it("a document at the depth limit is read; one level more skips the file", () => {
    const at = (n: number) => jsonService("x", nested(n - 1, "[", "", "]")); // the object is level 1
    expect(parseManifestFile({ path: "a.json", text: at(MAX_DEPTH) }).problems).toEqual([]);
    expect(parseManifestFile({ path: "a.json", text: at(MAX_DEPTH + 1) })).toEqual({
      documents: [],
      problems: [{ kind: "File", origin: "a.json#1", message: expect.stringMatching(/nested deeper/) }],
    });
  });
});

describe("the process keeps serving while a hostile file sits in the folder", () => {
  let dir: string;
  let app: RunningApp | undefined;
  let echo: Server | undefined;

  afterEach(async () => {
    await app?.stop();
    echo?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("ClusterIP forwarding works, /readyz and /api/status name the file, /api/problems lists it", async () => {
    dir = await mkdtemp(join(tmpdir(), "nodeplane-hostile-app-"));
    echo = createServer((socket) => socket.pipe(socket));
    await new Promise<void>((resolve) => echo!.listen(0, "127.0.0.1", resolve));
    const echoPort = (echo.address() as { port: number }).port;
    // a random clusterIP in the service CIDR, so parallel runs do not collide
    const clusterIP = `127.99.${1 + Math.floor(Math.random() * 250)}.${1 + Math.floor(Math.random() * 250)}`;
    await writeFile(
      join(dir, "echo.yaml"),
      `${service("echo").replace("spec: {ports: [{port: 80}]}", `spec: {clusterIP: ${clusterIP}, ports: [{port: 7, targetPort: ${echoPort}}]}`)}---
apiVersion: v1
kind: Endpoints
metadata: {name: echo}
subsets: [{addresses: [{ip: 127.0.0.1}], ports: [{port: ${echoPort}}]}]
`,
    );
    const deep = join(dir, "deep.json");
    await writeFile(deep, jsonService("deep", nested(100_000, "[", "", "]")));
    const config = parseFlags(["--manifests", dir, ...controlPathFlags("127.99.0.0/16"), "--workers=1"], {});
    app = await startApp(config, pino({ level: "silent" }), { withProcessMetrics: false });
    const admin = `http://127.0.0.1:${app.admin.address.port}`;

    const readyz = await fetch(`${admin}/readyz`);
    expect(readyz.status).toBe(200);
    expect(await readyz.text()).toContain(`${deep}#1`);
    expect(await (await fetch(`${admin}/api/status`)).json()).toMatchObject({
      healthy: false,
      reason: expect.stringContaining(deep),
    });
    const { problems } = (await (await fetch(`${admin}/api/problems`)).json()) as {
      problems: { origin?: string; message: string }[];
    };
    expect(problems).toContainEqual(expect.objectContaining({ origin: `${deep}#1` }));

    const reply = await new Promise<string>((resolve, reject) => {
      const socket = createConnection({ host: clusterIP, port: 7 }, () => socket.end("ping"));
      let got = "";
      socket.setTimeout(5000, () => socket.destroy(new Error("no echo within 5 s")));
      socket.on("data", (d) => {
        got += d;
      });
      socket.on("end", () => resolve(got));
      socket.on("error", reject);
    });
    expect(reply).toBe("ping");
  }, 30_000);
});
