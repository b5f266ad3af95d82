import { describe, expect, it } from "vitest";
import type { GatewayListener } from "../../../src/model/gateway.ts";
import type { Problem } from "../../../src/model/problems.ts";
import { Store } from "../../../src/store/store.ts";
import type { ClassVerdict } from "../../../src/translate/gateway/classes.ts";
import { analyzeGateway } from "../../../src/translate/gateway/gateways.ts";
import { ReferenceGrants } from "../../../src/translate/gateway/references.ts";
import { translateOptions } from "../../support/options.ts";

const CLASS: ClassVerdict = {
  name: "np",
  accepted: true,
  status: { name: "np", conditions: [], supportedFeatures: [] },
};
const NODE = { name: "n", addresses: [], nodePortAddresses: [] };
const PASSTHROUGH = { mode: "Passthrough" as const };

/** Each listener's conflict reason ("" = none) for one Gateway's listeners (gateway_types.go, distinct listeners). */
function conflicts(listeners: GatewayListener[]): string[] {
  const store = new Store();
  const problems: Problem[] = [];
  const info = analyzeGateway(
    store,
    new ReferenceGrants(store),
    "ns/gw",
    { metadata: { name: "gw", namespace: "ns" }, spec: { gatewayClassName: "np", listeners } },
    CLASS,
    translateOptions(),
    NODE,
    new WeakMap(),
    problems,
  );
  return info.listeners.map((l) => l.conflict?.reason ?? "");
}

describe("listener conflicts within a Gateway", () => {
  it.each<[string, GatewayListener[], string[]]>([
    [
      "HTTP listeners on one port told apart by hostname",
      [
        { name: "a", port: 80, protocol: "HTTP", hostname: "a.example.com" },
        { name: "b", port: 80, protocol: "HTTP", hostname: "*.example.com" },
        { name: "c", port: 80, protocol: "HTTP" },
      ],
      ["", "", ""],
    ],
    [
      "the same port, protocol and hostname: both HostnameConflict, no winner",
      [
        { name: "a", port: 80, protocol: "HTTP", hostname: "a.example.com" },
        { name: "b", port: 80, protocol: "HTTP", hostname: "a.example.com" },
        { name: "c", port: 80, protocol: "HTTP", hostname: "c.example.com" },
      ],
      ["HostnameConflict", "HostnameConflict", ""],
    ],
    [
      "HTTP and HTTPS on one port: all ProtocolConflict",
      [
        { name: "a", port: 8000, protocol: "HTTP" },
        {
          name: "b",
          port: 8000,
          protocol: "HTTPS",
          hostname: "b.example.com",
          tls: { certificateRefs: [{ name: "x" }] },
        },
      ],
      ["ProtocolConflict", "ProtocolConflict"],
    ],
    [
      "a TCP listener makes every TCP-side listener of its port indistinct",
      [
        { name: "a", port: 443, protocol: "TCP" },
        { name: "b", port: 443, protocol: "TLS", hostname: "b.example.com", tls: PASSTHROUGH },
        { name: "c", port: 80, protocol: "HTTP" },
      ],
      ["ProtocolConflict", "ProtocolConflict", ""],
    ],
    [
      "TCP and UDP on one port are distinct (each its own side of the port)",
      [
        { name: "a", port: 53, protocol: "TCP" },
        { name: "b", port: 53, protocol: "UDP" },
      ],
      ["", ""],
    ],
    [
      "two TCP listeners on one port: indistinct (TCP is told apart by port only)",
      [
        { name: "a", port: 9000, protocol: "TCP" },
        { name: "b", port: 9000, protocol: "TCP" },
      ],
      ["HostnameConflict", "HostnameConflict"],
    ],
    [
      "HTTPS and TLS passthrough on one port: different planes, ProtocolConflict",
      [
        {
          name: "a",
          port: 443,
          protocol: "HTTPS",
          hostname: "a.example.com",
          tls: { certificateRefs: [{ name: "x" }] },
        },
        { name: "b", port: 443, protocol: "TLS", hostname: "b.example.com", tls: PASSTHROUGH },
      ],
      ["ProtocolConflict", "ProtocolConflict"],
    ],
    [
      "TLS passthrough listeners told apart by hostname",
      [
        { name: "a", port: 443, protocol: "TLS", hostname: "a.example.com", tls: PASSTHROUGH },
        { name: "b", port: 443, protocol: "TLS", tls: PASSTHROUGH },
      ],
      ["", ""],
    ],
    [
      "an unsupported protocol takes no part",
      [
        { name: "a", port: 80, protocol: "HTTP" },
        { name: "b", port: 80, protocol: "SCTP" },
      ],
      ["", ""],
    ],
  ])("%s", (_name, listeners, expected) => {
    expect(conflicts(listeners)).toEqual(expected);
  });
});
