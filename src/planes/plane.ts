import type { Problem } from "../model/problems.ts";
import type { Snapshot } from "../snapshot/snapshot.ts";

/**
 * A data plane reconciles its running state (listeners, routes, zone) to each new snapshot.
 * `apply` gets the snapshot it runs now (undefined the first time) and the next one, and must change
 * only what differs; it must not drop an established connection whose endpoint still exists.
 * An error thrown from one plane is logged and never stops the others.
 */
export interface Plane {
  readonly name: string;
  apply(previous: Snapshot | undefined, next: Snapshot): Promise<void>;
  /** Stop listening and release what the plane added (addresses, sockets). */
  close(): Promise<void>;
  /** What this process's plane cannot do as the snapshot asks (e.g. ports not bound), for /api/problems. */
  problems?(): Problem[];
}
