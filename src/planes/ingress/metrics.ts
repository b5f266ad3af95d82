import { Counter, Histogram, type Registry } from "prom-client";

/** ingress-nginx-compatible names, so existing dashboards keep working. */
export function ingressMetrics(registry: Registry) {
  const labelNames = ["ingress", "namespace", "service", "status", "method", "host", "path"] as const;
  return {
    requests: new Counter({
      name: "nginx_ingress_controller_requests",
      help: "Client requests served by the ingress plane",
      labelNames,
      registers: [registry],
    }),
    duration: new Histogram({
      name: "nginx_ingress_controller_request_duration_seconds",
      help: "Time from the first request byte to the last response byte sent",
      labelNames,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
  };
}

export type IngressMetrics = ReturnType<typeof ingressMetrics>;
