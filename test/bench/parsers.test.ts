import { describe, expect, it } from "vitest";
import { parseAutocannonOutput } from "../../bench/lib/autocannon.ts";
import { dnsperfArgs, dnsperfQueries, parseDnsperfOutput } from "../../bench/lib/dnsperf.ts";
import { parseWrkOutput, wrkArgs } from "../../bench/lib/wrk.ts";

const WRK_STDOUT = `Running 10s test @ http://127.0.0.1:18081/
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   490.12us  120.40us   8.01ms   90.12%
    Req/Sec   130.51k     5.20k  140.00k    70.00%
  1305100 requests in 10.00s, 262.13MB read
Requests/sec: 130510.00
Transfer/sec:     26.21MB
WRK_JSON {"requests":1305100,"duration_us":10000000,"bytes":274864000,"connect_errors":0,"read_errors":2,"write_errors":0,"status_errors":3,"timeouts":1,"p50_us":450.0,"p90_us":600.0,"p99_us":1250.5,"mean_us":490.1,"max_us":8010.0}
`;

describe("wrk", () => {
  it("builds the command line: whole seconds, headers, script, url last", () => {
    expect(
      wrkArgs({
        url: "http://127.0.0.1:1/",
        connections: 32,
        threads: 1,
        durationS: 2.4,
        headers: ["Connection: close"],
        script: "/x/wrk-report.lua",
        timeoutS: 5,
      }),
    ).toEqual([
      "-t",
      "1",
      "-c",
      "32",
      "-d",
      "2s",
      "--timeout",
      "5s",
      "-s",
      "/x/wrk-report.lua",
      "-H",
      "Connection: close",
      "http://127.0.0.1:1/",
    ]);
  });

  it("reads the report line into rates, latencies in ms and an error count", () => {
    const r = parseWrkOutput(WRK_STDOUT);
    expect(r.requests).toBe(1305100);
    expect(r.durationS).toBe(10);
    expect(r.rps).toBeCloseTo(130510);
    expect(r.gbps).toBeCloseTo((274864000 * 8) / 10 / 1e9);
    expect(r.p50_ms).toBeCloseTo(0.45);
    expect(r.p99_ms).toBeCloseTo(1.2505);
    expect(r.errors).toBe(6);
  });

  it.each([
    ["no report line", "Running 10s test\n"],
    ["a missing field", 'WRK_JSON {"requests":1}\n'],
    ["zero duration", WRK_STDOUT.replace('"duration_us":10000000', '"duration_us":0')],
  ])("rejects output with %s", (_, stdout) => {
    expect(() => parseWrkOutput(stdout)).toThrow();
  });
});

const DNSPERF_STDOUT = `DNS Performance Testing Tool
Version 2.10.0

[Status] Command line: dnsperf -s 127.0.0.1 -p 5300 -d q.txt -l 10
[Status] Sending queries (to 127.0.0.1:5300)
[Status] Started at: Sat Nov 28 01:58:30 2026
[Status] Stopping after 10.000000 seconds
[Status] Testing complete (time limit)

Statistics:

  Queries sent:         623410
  Queries completed:    623400 (100.00%)
  Queries lost:         10 (0.00%)

  Response codes:       NOERROR 623400 (100.00%)
  Average packet size:  request 49, response 65
  Run time (s):         10.000112
  Queries per second:   62339.301800

  Average Latency (s):  0.001530 (min 0.000021, max 0.011280)
  Latency StdDev (s):   0.000591

`;

describe("dnsperf", () => {
  it("reads the statistics block", () => {
    const r = parseDnsperfOutput(DNSPERF_STDOUT);
    expect(r).toMatchObject({ sent: 623410, completed: 623400, lost: 10, qps: 62339.3018 });
    expect(r.avg_ms).toBeCloseTo(1.53);
    expect(r.max_ms).toBeCloseTo(11.28);
  });
  it("rejects output without statistics", () => {
    expect(() => parseDnsperfOutput("[Status] Sending queries\n")).toThrow(/Queries sent|Average Latency/);
  });
  it("writes the query file and the command line", () => {
    expect(dnsperfQueries(["a.b.svc.cluster.local", "c.d.svc.cluster.local"])).toBe(
      "a.b.svc.cluster.local A\nc.d.svc.cluster.local A\n",
    );
    const args = dnsperfArgs({
      server: "127.0.0.1",
      port: 5300,
      queryFile: "q",
      durationS: 3,
      clients: 8,
      outstanding: 100,
    });
    expect(args.join(" ")).toBe("-s 127.0.0.1 -p 5300 -d q -l 3 -c 8 -T 1 -q 100 -t 2");
  });
});

describe("autocannon worker report", () => {
  it("reads the JSON line", () => {
    const r = parseAutocannonOutput(
      'noise\nAUTOCANNON_JSON {"requests":50000,"durationS":2.5,"bytes":1000000,"errors":1,"p50_ms":1,"p99_ms":4}\n',
    );
    expect(r.rps).toBe(20000);
    expect(r.gbps).toBeCloseTo(0.0032);
    expect(r).toMatchObject({ requests: 50000, errors: 1, p50_ms: 1, p99_ms: 4 });
  });
  it.each([
    ["nothing", ""],
    ["a bad field", 'AUTOCANNON_JSON {"requests":"x","durationS":1,"bytes":0,"errors":0,"p50_ms":1,"p99_ms":1}'],
  ])("rejects %s", (_, stdout) => {
    expect(() => parseAutocannonOutput(stdout)).toThrow();
  });
});
