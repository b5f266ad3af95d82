import { describe, expect, it } from "vitest";
import { formatNumber, formatPercent, formatRatio } from "../../bench/lib/format.ts";
import type { SummaryRow } from "../../bench/lib/results.ts";
import { escapeXml, renderChart, scenarioChart } from "../../bench/lib/svg.ts";
import { renderGrid, renderRebuildTable, renderTrafficTable } from "../../bench/lib/table.ts";

function row(target: string, fields: Partial<SummaryRow> = {}): SummaryRow {
  return {
    scenario: "l7-keepalive",
    target,
    generator: "wrk",
    rounds: 3,
    rps: 40_000,
    cpu: 0.5,
    rps_per_core: 80_000,
    p50_ms: 0.75,
    p99_ms: 2.5,
    gbps: 0.05,
    errors: 0,
    vs_direct: 0.4,
    vs_best_peer: 1,
    best_peer: "nginx",
    extra: {},
    ...fields,
  };
}

describe("formatting", () => {
  it.each([
    [41230.4, "41,230"],
    [123.4, "123"],
    [12.345, "12.3"],
    [1.234, "1.23"],
    [0.01234, "0.0123"],
    [0, "0"],
    [null, "–"],
    [Number.NaN, "–"],
  ])("formatNumber(%j) = %s", (v, s) => {
    expect(formatNumber(v)).toBe(s);
  });
  it("formats ratios and percentages", () => {
    expect(formatRatio(0.8512)).toBe("0.85×");
    expect(formatRatio(null)).toBe("–");
    expect(formatPercent(0.987)).toBe("99%");
  });
});

describe("tables", () => {
  it("aligns columns: text left, numbers right", () => {
    const text = renderGrid(
      ["scenario", "target", "generator", "req/s"],
      [
        ["a", "nginx", "wrk", "1"],
        ["a", "nodeplane", "wrk", "1,000"],
      ],
    );
    expect(text.split("\n")).toEqual([
      "scenario  target     generator  req/s",
      "--------  ---------  ---------  -----",
      "a         nginx      wrk            1",
      "a         nodeplane  wrk        1,000",
      "",
    ]);
  });

  it("shows the medians and ratios of traffic rows, Gbit/s only for l4-bulk", () => {
    const text = renderTrafficTable([
      row("direct", {
        cpu: null,
        rps: 100_000,
        rps_per_core: null,
        vs_direct: null,
        vs_best_peer: null,
        best_peer: null,
      }),
      row("nodeplane", { vs_best_peer: 0.8512, vs_direct: 0.3 }),
      row("nginx", { scenario: "l4-bulk", gbps: 5.53 }),
    ]);
    const lines = text.split("\n");
    expect(lines[2]).toMatch(/^l7-keepalive\s+direct\s+wrk\s+100,000\s+–\s+–\s+0\.750\s+2\.50\s+–\s+–\s+–\s+0$/);
    expect(lines[3]).toMatch(/nodeplane\s+wrk\s+40,000\s+50%\s+80,000\s+0\.750\s+2\.50\s+–\s+0\.30×\s+0\.85× nginx/);
    expect(lines[4]).toMatch(/^l4-bulk\s+nginx.*\s5\.53\s/);
  });

  it("lists snapshot-rebuild figures in their own table, and nothing when there are none", () => {
    const text = renderRebuildTable([
      row("nodeplane", {
        scenario: "snapshot-rebuild",
        generator: "in-process",
        rps: null,
        extra: {
          services: 10_000,
          endpoints: 100_000,
          full_rebuild_ms: 150.2,
          endpoint_change_ms: 1.234,
          heap_mib: 210,
        },
      }),
    ]);
    expect(text).toMatch(/snapshot-rebuild\s+nodeplane\s+in-process\s+10,000\s+100,000\s+150\s+1\.23\s+210/);
    expect(renderRebuildTable([row("nginx")])).toBe("");
  });
});

describe("SVG charts", () => {
  it("escapes text", () => {
    expect(escapeXml(`a<b & "c"`)).toBe("a&#60;b &#38; &#34;c&#34;");
  });

  it("scales bars to the panel maximum and highlights nodeplane", () => {
    const svg = renderChart({
      title: "t <1>",
      subtitle: "s",
      panels: [
        {
          title: "req/s",
          bars: [
            { label: "nginx (wrk)", value: 100 },
            { label: "nodeplane (wrk)", value: 50, highlight: true },
          ],
        },
      ],
    });
    expect(svg.startsWith("<svg ")).toBe(true);
    expect(svg.trimEnd().endsWith("</svg>")).toBe(true);
    expect(svg).toContain("t &#60;1&#62;");
    const widths = [...svg.matchAll(/<rect x="190" y="\d+" width="(\d+)" height="18" class="(\w+)"/g)].map((m) => [
      Number(m[1]),
      m[2],
    ]);
    expect(widths).toEqual([
      [420, "bar"],
      [210, "np"],
    ]);
    // every opened element is closed (the file is well-formed enough for browsers)
    expect(svg.match(/<text /g)?.length).toBe(svg.match(/<\/text>/g)?.length);
  });

  it("chooses panels per scenario", () => {
    const titles = (c: ReturnType<typeof scenarioChart>) => c.panels.map((p) => p.title.split(" (")[0]);
    expect(titles(scenarioChart("l7-keepalive", [row("nginx")], "s"))).toEqual([
      "req/s",
      "req/s per core of the process under test",
      "p99 latency, ms",
    ]);
    expect(titles(scenarioChart("l4-bulk", [row("nginx", { scenario: "l4-bulk" })], "s"))[0]).toBe("Gbit/s");
    const dns = scenarioChart("dns-cached", [row("bind", { scenario: "dns-cached", p99_ms: null })], "s");
    expect(titles(dns)).toEqual(["queries/s", "queries/s per core of the process under test"]);
    const rebuild = scenarioChart(
      "snapshot-rebuild",
      [
        row("nodeplane", {
          scenario: "snapshot-rebuild",
          extra: { full_rebuild_ms: 5, endpoint_change_ms: 1, heap_mib: 9 },
        }),
      ],
      "s",
    );
    expect(rebuild.panels.map((p) => p.bars.map((b) => b.value))).toEqual([[5], [1], [9]]);
  });
});
