import { describe, expect, it } from "vitest";
import { FlagError, parseFlags } from "../src/cli/flags.ts";
import { dnsNodeLocal } from "../src/config.ts";

describe("parseFlags", () => {
  it.each([
    [
      ["--manifests", "dir"],
      { manifests: "dir", serviceCIDRs: ["127.96.0.0/16"], httpAddress: { host: "127.0.0.1", port: 8080 } },
    ],
    [[], { serviceCIDRs: ["10.96.0.0/12"], httpAddress: { host: "0.0.0.0", port: 80 }, leaderElect: true }],
    [["--service-cidr=10.0.0.0/16,fd00::/108"], { serviceCIDRs: ["10.0.0.0/16", "fd00::/108"] }],
    [["--node-port-range", "31000-31010"], { nodePortRange: { min: 31000, max: 31010 } }],
    [["--sync-delay", "250ms", "--udp-idle-timeout", "2m"], { syncDelayMs: 250, udpIdleTimeoutMs: 120_000 }],
    [
      ["--dns-upstream", "127.0.0.1:5300,::1"],
      {
        dnsUpstream: [
          { host: "127.0.0.1", port: 5300 },
          { host: "::1", port: 53 },
        ],
      },
    ],
    [["--dns-allow-recursion", "10.0.0.0/8,::1/128"], { dnsAllowRecursion: ["10.0.0.0/8", "::1/128"] }],
    [["--dns-allow-recursion", ""], { dnsAllowRecursion: [] }],
    [["--dns-ttl", "5"], { dnsTcpMaxConnections: 256, dnsTcpIdleTimeoutMs: 10_000 }],
    [
      ["--dns-tcp-max-connections", "64", "--dns-tcp-idle-timeout", "2s"],
      { dnsTcpMaxConnections: 64, dnsTcpIdleTimeoutMs: 2000 },
    ],
    [
      [],
      {
        dnsForwardZones: [],
        dnsServeStaleMs: 3_600_000,
        dnsPrefetch: 2,
        dnsMaxNegativeTtl: 1800,
        dnsMaxInflightForwards: 1000,
      },
    ],
    [
      ["--dns-forward-zone", "corp.example.=10.0.0.1,[fd00::1]:5300", "--dns-forward-zone", ".=192.0.2.1"],
      {
        dnsForwardZones: [
          {
            zone: "corp.example",
            upstreams: [
              { host: "10.0.0.1", port: 53 },
              { host: "fd00::1", port: 5300 },
            ],
          },
          { zone: "", upstreams: [{ host: "192.0.2.1", port: 53 }] },
        ],
      },
    ],
    [
      [
        "--dns-serve-stale",
        "0",
        "--dns-prefetch",
        "0",
        "--dns-max-negative-ttl",
        "60",
        "--dns-max-inflight-forwards",
        "5",
      ],
      { dnsServeStaleMs: 0, dnsPrefetch: 0, dnsMaxNegativeTtl: 60, dnsMaxInflightForwards: 5 },
    ],
    [["--admin-address", "[::1]:9000"], { adminAddress: { host: "::1", port: 9000 } }],
    [["--manifests", "d", "--http-address", ""], { httpAddress: undefined }],
    [["--leader-elect=false"], { leaderElect: false }],
    [[], { maxUdpFlows: 0, maxUdpFlowsPerSource: 0, maxTcpConnections: 0, maxIngressConnections: 0 }],
    [
      [
        "--max-udp-flows=5000",
        "--max-udp-flows-per-source=100",
        "--max-tcp-connections=800",
        "--max-ingress-connections=300",
      ],
      { maxUdpFlows: 5000, maxUdpFlowsPerSource: 100, maxTcpConnections: 800, maxIngressConnections: 300 },
    ],
    [[], { maxIngressConnectionsPerSource: 0 }],
    [["--max-ingress-connections-per-source", "64"], { maxIngressConnectionsPerSource: 64 }],
    [[], { tlsHandshakeTimeoutMs: 10_000 }],
    [["--tls-handshake-timeout", "2s"], { tlsHandshakeTimeoutMs: 2_000 }],
    [[], { watchNamespaces: [] }],
    [["--watch-namespaces", "a, b,a"], { watchNamespaces: ["a", "b"] }],
  ])("%j", (argv, expected) => {
    expect(parseFlags(argv, {})).toMatchObject(expected);
  });

  it.each([
    [["--bogus"], "unknown flag --bogus"],
    [["--workers", "0"], "--workers"],
    [["--service-cidr", "10.0.0.0/33"], "--service-cidr"],
    [["--node-port-range", "5-1"], "--node-port-range"],
    [["--log-level", "loud"], "--log-level"],
    [["--admin-address", "nope:port"], "--admin-address"],
    [["--dns-allow-recursion", "10.0.0.0/33"], "--dns-allow-recursion"],
    [["--dns-tcp-max-connections", "0"], "--dns-tcp-max-connections"],
    [["--dns-tcp-idle-timeout", "10ms"], "--dns-tcp-idle-timeout"],
    [["--dns-forward-zone", "corp.example"], "--dns-forward-zone"],
    [["--dns-forward-zone", "corp.example=ns.corp.example"], "--dns-forward-zone"],
    [["--dns-forward-zone", "bad zone=10.0.0.1"], "--dns-forward-zone"],
    [["--dns-max-inflight-forwards", "0"], "--dns-max-inflight-forwards"],
    [["--manifests"], "needs a value"],
    [["--max-udp-flows", "-1"], "--max-udp-flows"],
    [["--max-tcp-connections", "lots"], "--max-tcp-connections"],
    [["--max-ingress-connections-per-source", "-1"], "--max-ingress-connections-per-source"],
    [["--max-ingress-connections-per-source", "1.5"], "--max-ingress-connections-per-source"],
    [["--max-ingress-connections-per-source", "10000001"], "--max-ingress-connections-per-source"],
    [["--tls-handshake-timeout", "0"], "--tls-handshake-timeout: must be more than 0"],
    [["--watch-namespaces", "a,B_c"], '--watch-namespaces: "B_c" is not a namespace name'],
    [["--dns-service", "kube-dns"], '--dns-service: "kube-dns" is not NAMESPACE/NAME'],
    [["--dns-service", "a/b/c"], "--dns-service"],
    [["--dns-link-local", "169.254.20"], "--dns-link-local"],
    [["stray"], "unexpected argument"],
  ])("%j is rejected", (argv, message) => {
    expect(() => parseFlags(argv, {})).toThrow(FlagError);
    expect(() => parseFlags(argv, {})).toThrow(message);
  });

  // node-local DNS: on in cluster mode when the DNS plane is on, off in manifests mode unless asked
  it.each([
    [[], false],
    [["--dns-address", "0.0.0.0:53"], true],
    [["--dns-address", "0.0.0.0:53", "--dns-node-local=false"], false],
    [["--dns-node-local"], true],
    [["--manifests", "dir"], false],
    [["--manifests", "dir", "--dns-node-local"], true],
  ])("%j: node-local DNS %s", (argv, on) => {
    expect(dnsNodeLocal(parseFlags(argv, {}))).toBe(on);
  });

  it("--dns-service and --dns-link-local", () => {
    expect(parseFlags([], {})).toMatchObject({ dnsService: { namespace: "kube-system", name: "kube-dns" } });
    expect(parseFlags(["--dns-service", "dns/coredns", "--dns-link-local", "169.254.20.10"], {})).toMatchObject({
      dnsService: { namespace: "dns", name: "coredns" },
      dnsLinkLocal: "169.254.20.10",
    });
  });
});
