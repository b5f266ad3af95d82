import type { Registry } from "prom-client";
import type { Config } from "../config.ts";
import type { Logger } from "../log.ts";
import type { StatusWriter } from "../status/writer.ts";
import type { Store } from "../store/store.ts";
import type { DnsHandoff } from "./dns-handoff.ts";
import type { Plane } from "./plane.ts";

/**
 * Where a plane runs (docs/workers.md):
 * - `single`: the process that owns the watch also serves its planes' listeners and does the node-wide
 *   work (`--workers 1`: every plane, or all but the ingress when that runs in a worker of its own);
 * - `primary`: the process that owns the watch; with service workers it keeps only node-wide, do-once
 *   work (virtual IP addresses, health servers), no data-plane listeners;
 * - `worker`: one of the data-plane processes of a plane group (`src/workers/layout.ts`); it serves
 *   listeners shared with its siblings (SO_REUSEPORT) and does nothing that must happen once per node.
 */
export type PlaneRole = "single" | "primary" | "worker";

/** What a plane factory gets to build its plane. */
export interface PlaneContext {
  config: Config;
  logger: Logger;
  registry: Registry;
  /** the objects behind the snapshot; empty in a worker (it only gets snapshots) */
  store: Store;
  status: StatusWriter;
  /** default `single` */
  role?: PlaneRole;
  /**
   * Bind every listening socket with SO_REUSEPORT (`reusePort: true`), so the kernel spreads connections
   * and datagrams over the workers that share it. Set in workers only: a single process keeps exclusive binds.
   */
  reusePort?: boolean;
  /** in a worker: its index (0-based) among `count` workers */
  worker?: { index: number; count: number };
  /**
   * The ingress plane's self-signed default certificate, when made once for all workers (so each
   * presents the same one); absent = the plane makes its own.
   */
  defaultCertificate?: { cert: string; key: string };
  /**
   * Shared by the service and DNS planes of this process: the node-local DNS sockets the DNS plane holds
   * (docs/dns.md). Absent: the DNS plane binds no node-local socket.
   */
  dnsHandoff?: DnsHandoff;
}

/** Builds a plane, or returns undefined when the config (or its role) turns it off. */
export type PlaneFactory = (context: PlaneContext) => Plane | undefined | Promise<Plane | undefined>;
