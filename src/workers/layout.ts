import type { Config } from "../config.ts";
import type { PlaneRole } from "../planes/context.ts";
import { ALL_PLANES, type PlaneName } from "../planes/index.ts";

/** A set of identical worker processes that run the same planes (docs/workers.md). */
export interface WorkerGroup {
  /** `service` (service proxy and DNS), `ingress`, or `all` (every listener plane: `--ingress-isolation none`) */
  name: string;
  planes: PlaneName[];
  count: number;
}

/** Which process runs which plane. */
export interface Layout {
  /** the role of the process you start: `single` without service workers, else `primary` */
  role: PlaneRole;
  /** the planes it builds (as that role: a primary keeps only node-wide work such as virtual IPs) */
  planes: PlaneName[];
  groups: WorkerGroup[];
}

/**
 * Pure: the fault domains. The ingress parses what any client sends, so with `--ingress-isolation process`
 * it runs in processes of its own: a crash there (an unknown bug, an abort, an OOM kill) never takes a
 * ClusterIP connection or a DNS answer with it. The service proxy and DNS stay together: they are small,
 * and sharing a process costs one Node runtime less per worker.
 *
 * | --workers | isolation | the process you start          | workers                              |
 * | 1         | none      | every plane                    | none                                 |
 * | 1         | process   | service proxy + DNS            | 1 ingress                            |
 * | N > 1     | none      | virtual IPs, health servers    | N × (service + ingress + DNS)        |
 * | N > 1     | process   | virtual IPs, health servers    | N × (service + DNS), N × ingress     |
 */
export function planLayout(
  config: Pick<Config, "workers" | "ingressIsolation" | "httpAddress" | "httpsAddress">,
): Layout {
  const ingress = config.httpAddress !== undefined || config.httpsAddress !== undefined;
  const isolate = ingress && config.ingressIsolation === "process";
  const n = config.workers;
  const ingressGroup: WorkerGroup[] = isolate ? [{ name: "ingress", planes: ["ingress"], count: n }] : [];
  if (n <= 1) return { role: "single", planes: isolate ? ["service", "dns"] : [...ALL_PLANES], groups: ingressGroup };
  const serviceGroup: WorkerGroup =
    isolate || !ingress
      ? { name: "service", planes: ["service", "dns"], count: n }
      : { name: "all", planes: [...ALL_PLANES], count: n };
  // the primary builds the service plane alone, for the node-wide part (ingress and DNS have none)
  return { role: "primary", planes: ["service"], groups: [serviceGroup, ...ingressGroup] };
}
