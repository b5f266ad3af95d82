/**
 * The parser thread's entry (started by parser-thread.ts): reads and parses one manifest file per
 * message and posts the plain result back, so a large file's YAML parse never blocks the event loop
 * that serves the ingress, the service proxy and DNS.
 */
import { parentPort } from "node:worker_threads";
import { type LoadRequest, loadManifestFile } from "./load.ts";

export interface WorkerRequest {
  id: number;
  request: LoadRequest;
}

/** `ready` first, once the entry and its imports loaded; then one reply per request */
export type WorkerReply =
  | { ready: true }
  | { id: number; result: Awaited<ReturnType<typeof loadManifestFile>> }
  | { id: number; error: string };

const port = parentPort;
if (port) {
  port.postMessage({ ready: true } satisfies WorkerReply);
  port.on("message", (message: WorkerRequest) => {
    loadManifestFile(message.request)
      .then((result) => port.postMessage({ id: message.id, result } satisfies WorkerReply))
      .catch((err: unknown) =>
        port.postMessage({ id: message.id, error: (err as Error)?.message ?? String(err) } satisfies WorkerReply),
      );
  });
}
