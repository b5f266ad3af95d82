import type { GatewayL4Socket, L4Backend } from "../../../src/snapshot/gateway.ts";
import { EMPTY_GATEWAY } from "../../../src/snapshot/gateway.ts";
import type { ServicePortSnapshot, Snapshot } from "../../../src/snapshot/snapshot.ts";
import { snapshot } from "./helpers.ts";

/** Gateway sockets built by hand, as the translator (translate/gateway/) would hand them to the service plane. */
export function l4Socket(
  protocol: GatewayL4Socket["protocol"],
  address: string,
  port: number,
  backends: L4Backend[],
  sni: GatewayL4Socket["sni"] = [],
  listener = `l-${port}`,
): GatewayL4Socket {
  const kind = protocol === "UDP" ? "UDPRoute" : protocol === "TLS" ? "TLSRoute" : "TCPRoute";
  return {
    id: `${address.includes(":") ? `[${address}]` : address}:${port}/${protocol}`,
    address,
    port,
    protocol,
    listeners: [{ namespace: "default", gateway: "gw", listener }],
    ...(protocol === "TLS" ? {} : { route: { kind, namespace: "default", name: "route" } }),
    backends,
    sni,
  };
}

/** A backendRef to a Service (`service`) with these endpoints; no endpoints argument = an invalid reference. */
export function l4Backend(weight: number, service: string, endpoints?: { host: string; port: number }[]): L4Backend {
  if (!endpoints) return { weight };
  return {
    weight,
    target: {
      id: `default/${service}:80`,
      namespace: "default",
      service,
      port: 80,
      endpoints: endpoints.map((e) => ({ ip: e.host, port: e.port })),
    },
  };
}

export function gatewaySnapshot(l4: GatewayL4Socket[], servicePorts: ServicePortSnapshot[] = []): Snapshot {
  return { ...snapshot(servicePorts), gateway: { ...EMPTY_GATEWAY, l4 } };
}

/** A ClientHello built by hand: record(s) around a handshake around the body, with these extensions. */
export function hello(extensions: Buffer[], options: { recordSize?: number; sessionId?: number } = {}): Buffer {
  const ext = Buffer.concat(extensions);
  const body = Buffer.concat([
    Buffer.from([3, 3]),
    Buffer.alloc(32, 7),
    Buffer.from([options.sessionId ?? 0]),
    Buffer.alloc(options.sessionId ?? 0, 1),
    u16(2),
    Buffer.from([0x13, 0x01]),
    Buffer.from([1, 0]),
    u16(ext.length),
    ext,
  ]);
  const handshake = Buffer.concat([
    Buffer.from([1, body.length >> 16, (body.length >> 8) & 0xff, body.length & 0xff]),
    body,
  ]);
  const size = options.recordSize ?? handshake.length;
  const records: Buffer[] = [];
  for (let at = 0; at < handshake.length; at += size) {
    const part = handshake.subarray(at, at + size);
    records.push(Buffer.from([0x16, 3, 1]), u16(part.length), part);
  }
  return Buffer.concat(records);
}

function u16(n: number): Buffer {
  return Buffer.from([(n >> 8) & 0xff, n & 0xff]);
}

export function extension(type: number, data: Buffer): Buffer {
  return Buffer.concat([u16(type), u16(data.length), data]);
}

export function serverName(...names: string[]): Buffer {
  const list = Buffer.concat(
    names.map((n) => Buffer.concat([Buffer.from([0]), u16(n.length), Buffer.from(n, "latin1")])),
  );
  return extension(0, Buffer.concat([u16(list.length), list]));
}
