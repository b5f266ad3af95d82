import { describe, expect, it } from "vitest";
import { NGINX_PREFIX, unsupportedNginx } from "../../../src/translate/ingress/annotations.ts";
import { ing, svc, translate } from "./fixtures.ts";

const SNIPPET = "snippet annotation (raw nginx configuration): not supported, not applied";
const UNSUPPORTED = "annotation not supported, not applied";

describe("ingress-nginx annotations nodeplane does not apply are reported (case K of docs/reliability.md)", () => {
  it.each([
    ["configuration-snippet", SNIPPET],
    ["server-snippet", SNIPPET],
    ["auth-snippet", SNIPPET],
    ["stream-snippet", SNIPPET],
    ["modsecurity-snippet", SNIPPET],
    ["auth-url", UNSUPPORTED],
    ["enable-cors", UNSUPPORTED],
    ["limit-rps", UNSUPPORTED],
    ["use-regex", UNSUPPORTED],
    ["ssl-redirect", undefined],
    ["rewrite-target", undefined],
    ["whitelist-source-range", undefined],
  ])("%s → %s", (key, message) => {
    expect(unsupportedNginx(key)).toBe(message);
  });

  it("a snippet is a problem on its Ingress, naming the annotation, and changes nothing on the route", () => {
    const paths = [{ path: "/", pathType: "Prefix" }];
    const plain = translate([...svc("web"), ing("a", { rules: [{ paths }] })]);
    const annotations = {
      [`${NGINX_PREFIX}configuration-snippet`]: "more_set_headers 'X: y';",
      [`${NGINX_PREFIX}server-snippet`]: "location /admin { allow all; }",
      [`${NGINX_PREFIX}ssl-redirect`]: "true",
    };
    const { snapshot, problems } = translate([...svc("web"), ing("a", { rules: [{ paths }] }, { annotations })]);
    expect(problems).toEqual([
      expect.objectContaining({
        kind: "Ingress",
        namespace: "default",
        name: "a",
        field: `metadata.annotations["${NGINX_PREFIX}configuration-snippet"]`,
        message: SNIPPET,
      }),
      expect.objectContaining({ field: `metadata.annotations["${NGINX_PREFIX}server-snippet"]`, message: SNIPPET }),
    ]);
    expect(snapshot.hosts[0]!.routes[0]!.settings).toEqual(plain.snapshot.hosts[0]!.routes[0]!.settings);
  });
});
