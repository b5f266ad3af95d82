import { describe, expect, it } from "vitest";
import { parseArgs, USAGE } from "../../reliability/lib/options.ts";
import { type CaseRow, passed, renderTable, totals } from "../../reliability/lib/report.ts";
import { statuses } from "../../reliability/lib/wire.ts";

const row = (over: Partial<CaseRow>): CaseRow => ({
  id: "A1",
  cls: "A",
  title: "32 header fields",
  inputs: 1,
  answer: "400 close",
  clean: true,
  crashed: false,
  boundary: false,
  collateral: [],
  ...over,
});

describe("reliability report", () => {
  it.each([
    ["all clean", [row({}), row({ id: "B1", inputs: 3 })], { inputs: 4, crashes: 0, boundaryChanges: 0 }, true],
    ["a crash", [row({ crashed: true }), row({ id: "B1" })], { inputs: 2, crashes: 1, boundaryChanges: 0 }, false],
    ["a changed boundary", [row({ boundary: true })], { inputs: 1, crashes: 0, boundaryChanges: 1 }, false],
    ["an unclean answer", [row({ clean: false })], { inputs: 1, crashes: 0, boundaryChanges: 0 }, false],
    ["a dropped ClusterIP connection", [row({ collateral: ["ClusterIP connection dropped"] })], { crashes: 0 }, false],
    ["a case that threw", [row({ error: "case timed out after 60 s" })], { crashes: 0 }, false],
  ] as const)("%s", (_name, rows, expected, pass) => {
    const t = totals(rows);
    expect(t).toMatchObject(expected);
    expect(passed(t)).toBe(pass);
  });

  it("prints one line per case and the totals line", () => {
    const text = renderTable([row({}), row({ id: "C1", cls: "C", boundary: true, answer: "200" })]);
    const lines = text.split("\n");
    expect(lines[0]).toMatch(/^case\s+inputs\s+answer/);
    expect(lines.filter((l) => /^(A1|C1) /.test(l))).toHaveLength(2);
    expect(text).toContain("CHANGED");
    expect(lines.at(-1)).toBe(
      "hostile inputs sent: 2 in 2 cases; crashes: 0; boundary changes: 1; unclean answers: 0; other-plane failures: 0; case errors: 0",
    );
  });

  it.each([
    ["HTTP/1.1 400 Bad Request\r\n\r\n", [400]],
    ["HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 403 Forbidden\r\n\r\n", [200, 403]],
    ["", []],
  ])("reads the statuses of %j", (data, expected) => {
    expect(statuses(data)).toEqual(expected);
  });
});

describe("reliability options", () => {
  it.each([
    [[], { quick: false, workers: undefined, cases: undefined, outDir: "/out" }],
    [["--quick", "--workers", "2", "--cases", "A,C1"], { quick: true, workers: 2, cases: ["A", "C1"] }],
  ] as const)("%j", (argv, expected) => {
    expect(parseArgs(argv, "/out")).toMatchObject(expected);
  });

  it.each([
    [["--workers", "0"], "--workers: an integer from 1 to 64"],
    [["--workers"], "--workers needs a value"],
    [["--bogus"], "unknown option --bogus"],
  ])("refuses %j", (argv, message) => {
    expect(parseArgs(argv, "/out")).toContain(message);
  });

  it("prints its usage on --help", () => {
    expect(parseArgs(["--help"], "/out")).toBe(USAGE);
  });
});
