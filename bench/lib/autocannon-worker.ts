// Runs autocannon programmatically (as users do) in its own process, so the harness can pin it to
// the load generator's CPU, and prints one JSON line with the figures the harness records.
// usage: node bench/lib/autocannon-worker.ts '{"url":…,"connections":…,"durationS":…,"headers":{…}}'
import autocannon from "autocannon";

interface Plan {
  url: string;
  connections: number;
  durationS: number;
  headers: Record<string, string>;
}

const plan = JSON.parse(process.argv[2] ?? "{}") as Plan;
const result = await autocannon({
  url: plan.url,
  connections: plan.connections,
  duration: plan.durationS,
  headers: plan.headers,
  pipelining: 1,
});
process.stdout.write(
  `AUTOCANNON_JSON ${JSON.stringify({
    requests: result.requests.total,
    durationS: result.duration,
    bytes: result.throughput.total,
    errors: result.errors + result.non2xx,
    p50_ms: result.latency.p50,
    p99_ms: result.latency.p99,
  })}\n`,
);
