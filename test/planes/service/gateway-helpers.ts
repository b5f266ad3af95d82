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
