/**
 * Flags for tests of the control path (source, store, translator, admin API, CLI) rather than the planes:
 * the admin server on a loopback port the OS picks, the HTTP, HTTPS and DNS listeners off.
 */
export const LISTENERS_OFF: readonly string[] = [
  "--admin-address=127.0.0.1:0",
  "--http-address=",
  "--https-address=",
  "--dns-address=",
];

/** LISTENERS_OFF, a service range of the test's own, and no VIPs on the host's interfaces. */
export function controlPathFlags(serviceCidr: string): string[] {
  return [...LISTENERS_OFF, `--service-cidr=${serviceCidr}`, "--vip-interface=none"];
}
