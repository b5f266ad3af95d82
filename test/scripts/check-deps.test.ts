import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { ALLOWED_CIRCLES, checkGraph, importsOf, readGraph } from "../../scripts/check-deps.ts";

const graph = (edges: Record<string, string[]>) => new Map(Object.entries(edges));

describe("checkGraph", () => {
  const cases: { name: string; edges: Record<string, string[]>; allowed?: string[][]; expected: string[] }[] = [
    {
      name: "the five stages in order: clean",
      edges: {
        "source/source.ts": ["store/store.ts"],
        "store/store.ts": ["model/k8s.ts"],
        "model/k8s.ts": [],
        "translate/index.ts": ["store/store.ts", "snapshot/snapshot.ts", "node:path"],
        "snapshot/snapshot.ts": ["model/k8s.ts"],
        "planes/service/plane.ts": ["snapshot/snapshot.ts", "node:net"],
        "app.ts": ["translate/index.ts", "planes/service/plane.ts", "source/source.ts"],
      },
      expected: [],
    },
    {
      name: "a plane, a worker, the admin API and the CLI reaching into translate/",
      edges: {
        "translate/ingress/index.ts": [],
        "planes/ingress/routes.ts": ["translate/ingress/index.ts"],
        "workers/wire.ts": ["translate/ingress/index.ts"],
        "admin/api.ts": ["translate/ingress/index.ts"],
        "cli/get.ts": ["translate/ingress/index.ts"],
        "app.ts": ["translate/ingress/index.ts"],
      },
      expected: [
        "admin/api.ts imports translate/ingress/index.ts: admin/ takes the snapshot from snapshot/, never translate/",
        "cli/get.ts imports translate/ingress/index.ts: cli/ takes the snapshot from snapshot/, never translate/",
        "planes/ingress/routes.ts imports translate/ingress/index.ts: planes/ takes the snapshot from snapshot/, never translate/",
        "workers/wire.ts imports translate/ingress/index.ts: workers/ takes the snapshot from snapshot/, never translate/",
      ],
    },
    {
      name: "I/O modules under translate/ and snapshot/, with and without node:, subpaths included",
      edges: {
        "translate/a.ts": ["node:fs/promises", "node:path", "yaml"],
        "translate/b.ts": ["net"],
        "snapshot/c.ts": ["node:child_process", "node:os"],
        "snapshot/d.ts": ["node:http2", "node:https", "node:tls", "node:dgram"],
        "planes/e.ts": ["node:net", "node:fs"],
      },
      expected: [
        "snapshot/c.ts imports node:child_process: snapshot/ must stay free of I/O (node:child_process)",
        "snapshot/d.ts imports node:dgram: snapshot/ must stay free of I/O (node:dgram)",
        "snapshot/d.ts imports node:http2: snapshot/ must stay free of I/O (node:http2)",
        "snapshot/d.ts imports node:https: snapshot/ must stay free of I/O (node:https)",
        "snapshot/d.ts imports node:tls: snapshot/ must stay free of I/O (node:tls)",
        "translate/a.ts imports node:fs/promises: translate/ must stay free of I/O (node:fs)",
        "translate/b.ts imports net: translate/ must stay free of I/O (node:net)",
      ],
    },
    {
      name: "a two-file circle and a three-file circle in one folder",
      edges: {
        "cli/main.ts": ["cli/demo.ts"],
        "cli/demo.ts": ["cli/main.ts"],
        "x/a.ts": ["x/b.ts"],
        "x/b.ts": ["x/c.ts"],
        "x/c.ts": ["x/a.ts"],
      },
      expected: ["import circle: cli/demo.ts ↔ cli/main.ts", "import circle: x/a.ts ↔ x/b.ts ↔ x/c.ts"],
    },
    {
      name: "a file importing itself",
      edges: { "x/a.ts": ["x/a.ts"] },
      expected: ["import circle: x/a.ts"],
    },
    {
      name: "an allowed circle is not reported",
      edges: { "p/a.ts": ["p/b.ts"], "p/b.ts": ["p/a.ts"] },
      allowed: [["p/b.ts", "p/a.ts"]],
      expected: [],
    },
    {
      name: "an allowed circle that grew is reported whole",
      edges: { "p/a.ts": ["p/b.ts"], "p/b.ts": ["p/c.ts"], "p/c.ts": ["p/a.ts"] },
      allowed: [["p/a.ts", "p/b.ts"]],
      expected: ["import circle: p/a.ts ↔ p/b.ts ↔ p/c.ts"],
    },
    {
      name: "a folder loop without a file circle, naming the imports that make it",
      edges: {
        "status/cluster.ts": ["lbipam/controller.ts"],
        "status/writer.ts": [],
        "lbipam/controller.ts": ["status/writer.ts"],
      },
      expected: [
        "folder loop: lbipam/ ↔ status/ (lbipam/controller.ts → status/writer.ts, status/cluster.ts → lbipam/controller.ts)",
      ],
    },
    {
      name: "a loop through a file at the top of src/",
      edges: {
        "app.ts": ["admin/server.ts"],
        "admin/server.ts": ["cli/format.ts"],
        "cli/format.ts": [],
        "cli/main.ts": ["app.ts"],
      },
      expected: [
        "folder loop: admin/ ↔ app.ts ↔ cli/ (admin/server.ts → cli/format.ts, app.ts → admin/server.ts, cli/main.ts → app.ts)",
      ],
    },
  ];
  it.each(cases)("$name", ({ edges, allowed, expected }) => {
    expect(checkGraph(graph(edges), allowed ?? [])).toEqual(expected);
  });

  it("allows no circle today: the ingress plane's index.ts ↔ rawserver.ts would be reported", () => {
    const edges = {
      "planes/ingress/index.ts": ["planes/ingress/rawserver.ts"],
      "planes/ingress/rawserver.ts": ["planes/ingress/index.ts"],
    };
    expect(ALLOWED_CIRCLES).toEqual([]);
    expect(checkGraph(graph(edges))).toEqual(["import circle: planes/ingress/index.ts ↔ planes/ingress/rawserver.ts"]);
  });
});

describe("importsOf", () => {
  it.each([
    ['import { a } from "./a.ts";', ["./a.ts"]],
    ['import type {\n  A,\n  B,\n} from "../b.ts";', ["../b.ts"]],
    ['export { c } from "./c.ts";\nexport * from "./d.ts";', ["./c.ts", "./d.ts"]],
    ['const m = await import("./lazy.ts");', ["./lazy.ts"]],
    ['import "./side-effect.ts";', ["./side-effect.ts"]],
    ['import { createServer } from "node:net";', ["node:net"]],
    ['// import { x } from "./commented.ts";\n/* import { y } from "./block.ts"; */', []],
    ['const text = "no import here";', []],
  ])("%j → %j", (source, expected) => {
    expect(importsOf(source)).toEqual(expected);
  });
});

describe("src/", () => {
  it("keeps the rules (what `npm test` checks before vitest)", () => {
    expect(checkGraph(readGraph(resolve(import.meta.dirname, "../../src")))).toEqual([]);
  });
});
