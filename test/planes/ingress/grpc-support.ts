/**
 * What the gRPC tests (grpc.test.ts, gateway-grpc.test.ts) share: @grpc/grpc-js generic clients and servers
 * with raw Buffer messages (no protoc), a server bound on loopback, and a port nothing listens on.
 */
import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import * as grpc from "@grpc/grpc-js";

const identity = (b: Buffer) => b;

/** A method definition whose messages are raw Buffers. */
export const rawMethod = (path: string, requestStream: boolean, responseStream: boolean) => ({
  path,
  requestStream,
  responseStream,
  requestSerialize: identity,
  requestDeserialize: identity,
  responseSerialize: identity,
  responseDeserialize: identity,
});

/** A generic client's unary method with raw Buffer messages. */
export type Unary = (
  req: Buffer,
  md: grpc.Metadata,
  opts: grpc.CallOptions,
  cb: (err: grpc.ServiceError | null, res?: Buffer) => void,
) => grpc.ClientUnaryCall;

/** The generic client constructor for `service`, typed as `C` (its methods as the test declares them). */
export function clientConstructor<C>(
  service: grpc.ServiceDefinition,
): new (
  address: string,
  credentials: grpc.ChannelCredentials,
  options?: grpc.ChannelOptions,
) => C {
  return grpc.makeGenericClientConstructor(service, "Echo") as unknown as new (
    address: string,
    credentials: grpc.ChannelCredentials,
    options?: grpc.ChannelOptions,
  ) => C;
}

/** Binds `server` on 127.0.0.1 (an ephemeral port, no TLS); resolves the port. */
export function bindInsecure(server: grpc.Server): Promise<number> {
  return new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, port) =>
      err ? reject(err) : resolve(port),
    ),
  );
}

/** A loopback port that was just bound and released: connecting to it is refused. */
export async function closedPort(): Promise<number> {
  const dead = createServer();
  dead.listen(0, "127.0.0.1");
  await once(dead, "listening");
  const { port } = dead.address() as AddressInfo;
  dead.close();
  return port;
}

/** Polls `changed` every 20 ms until it is true or 3 s passed (the caller's expect then says which). */
export async function settle(changed: () => boolean): Promise<void> {
  const deadline = Date.now() + 3000;
  while (!changed() && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));
}
