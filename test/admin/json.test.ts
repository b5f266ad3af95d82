import { describe, expect, it } from "vitest";
import { jsonReplacer } from "../../src/admin/server.ts";

describe("admin JSON", () => {
  it("serialises Maps and Sets and never carries a private key", () => {
    const pem = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n";
    const value = {
      byHost: new Map([["foo.bar.com", { certPem: "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----" }]]),
      names: new Set(["a", "b"]),
      keyPem: "anything",
      nested: [{ note: pem }, { data: { "tls.key": "LS0t" } }, { rsa: "-----BEGIN RSA PRIVATE KEY-----" }],
    };
    const out = JSON.parse(JSON.stringify(value, jsonReplacer));
    expect(out).toEqual({
      byHost: { "foo.bar.com": { certPem: "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----" } },
      names: ["a", "b"],
      keyPem: "[redacted]",
      nested: [{ note: "[redacted]" }, { data: { "tls.key": "[redacted]" } }, { rsa: "[redacted]" }],
    });
  });
});
