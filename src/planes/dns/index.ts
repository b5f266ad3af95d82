/** The cluster DNS plane (plane.ts). */
export { createDnsPlane, DnsPlane } from "./plane.ts";
