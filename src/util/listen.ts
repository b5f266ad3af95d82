import type { Server } from "node:net";
import type { HostPort } from "../config.ts";

/** server.listen as a promise that rejects on EADDRINUSE/EACCES instead of emitting. */
export function listen(server: Server, address: HostPort): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once("error", onError);
    server.listen(address.port, address.host, () => {
      server.off("error", onError);
      resolve();
    });
  });
}
