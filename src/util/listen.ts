import type { Server } from "node:net";
import type { HostPort } from "../config.ts";

export interface ListenOptions {
  /** SO_REUSEPORT: share the port with sibling worker processes (the kernel spreads connections) */
  reusePort?: boolean;
}

/** server.listen as a promise that rejects on EADDRINUSE/EACCES instead of emitting. */
export function listen(server: Server, address: HostPort, options: ListenOptions = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once("error", onError);
    const done = () => {
      server.off("error", onError);
      resolve();
    };
    if (options.reusePort) server.listen({ port: address.port, host: address.host, reusePort: true }, done);
    else server.listen(address.port, address.host, done);
  });
}
