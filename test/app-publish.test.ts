import { describe, expect, it } from "vitest";
import { publishAddresses } from "../src/app.ts";

// The lab's ADDRESS column listed every local address (127.0.0.1, ::1, the host's IPs…) in manifests mode,
// though the ingress listened on 127.0.0.1 only.
describe("publishAddresses", () => {
  it.each([
    ["flag wins", ["192.0.2.7"], "127.0.0.1", "127.0.0.1", ["192.0.2.7"]],
    ["specific listener IPs", [], "127.0.0.1", "127.0.0.1", ["127.0.0.1"]],
    ["two listener IPs", [], "127.0.0.2", "::1", ["127.0.0.2", "::1"]],
    ["wildcard → node addresses", [], "0.0.0.0", "::", []],
    ["listeners off", [], undefined, undefined, []],
    ["hostname listener is not an address", [], "localhost", undefined, []],
  ])("%s", (_name, flag, http, https, expected) => {
    const address = (host: string | undefined) => (host === undefined ? undefined : { host, port: 1 });
    expect(
      publishAddresses({ publishAddresses: flag, httpAddress: address(http), httpsAddress: address(https) }),
    ).toEqual(expected);
  });
});
