import type { Logger } from "../../log.ts";
import type { LoadBalancerIngress } from "../../model/k8s.ts";
import type { IngressSnapshot } from "../../snapshot/ingress.ts";
import type { StatusWriter } from "../../status/writer.ts";

/**
 * Keeps `status.loadBalancer.ingress` (the ADDRESS column) of our Ingresses equal to the snapshot's
 * addresses, writing only on change; clears it on Ingresses that left our class after we wrote them.
 * A failed write is logged and retried on the next snapshot; a writer that cannot write now (not the leader)
 * should reject rather than resolve, so the write is attempted again.
 */
export class IngressStatusReconciler {
  private readonly written = new Map<string, string>();
  private lastEntries: IngressSnapshot["ingresses"] | undefined;
  private lastAddresses: IngressSnapshot["statusAddresses"] | undefined;
  /** a write failed: the next snapshot tries again even if it is the same */
  private retry = false;
  private readonly writer: StatusWriter;
  private readonly logger: Logger;

  constructor(writer: StatusWriter, logger: Logger) {
    this.writer = writer;
    this.logger = logger;
  }

  async apply(snapshot: IngressSnapshot): Promise<void> {
    // The same entries and addresses as last time, and every write then went through: nothing to do.
    if (snapshot.ingresses === this.lastEntries && snapshot.statusAddresses === this.lastAddresses && !this.retry)
      return;
    this.lastEntries = snapshot.ingresses;
    this.lastAddresses = snapshot.statusAddresses;
    this.retry = false;
    const desired = snapshot.statusAddresses;
    const desiredText = statusText(desired);
    const present = new Set<string>();
    for (const entry of snapshot.ingresses) {
      const key = `${entry.namespace}/${entry.name}`;
      present.add(key);
      if (entry.ours) {
        if (this.written.get(key) === desiredText) continue;
        if (statusText(entry.current) === desiredText) {
          this.written.set(key, desiredText);
          continue;
        }
        await this.write(entry.namespace, entry.name, desired, () => this.written.set(key, desiredText));
      } else if (this.written.has(key)) {
        await this.write(entry.namespace, entry.name, [], () => this.written.delete(key));
      }
    }
    for (const key of [...this.written.keys()]) if (!present.has(key)) this.written.delete(key);
  }

  private async write(
    namespace: string,
    name: string,
    status: readonly LoadBalancerIngress[],
    done: () => void,
  ): Promise<void> {
    try {
      await this.writer.setIngressStatus(namespace, name, status);
      done();
    } catch (err) {
      this.retry = true;
      this.logger.warn({ err, ingress: `${namespace}/${name}` }, "could not write Ingress status; will retry");
    }
  }
}

function statusText(status: readonly LoadBalancerIngress[]): string {
  return JSON.stringify(
    status.map((s) => [s.ip ?? "", s.hostname ?? ""]).sort((a, b) => (a.join() < b.join() ? -1 : 1)),
  );
}
