import { describe, expect, it } from "vitest";
import { ReferenceGrants } from "../../../src/translate/gateway/references.ts";
import { grant, storeOf } from "./rules-support.ts";

const GW = "gateway.networking.k8s.io";
const FROM = { group: GW, kind: "HTTPRoute", namespace: "routes" };
const TO = { group: "", kind: "Service", namespace: "backends", name: "web" };

describe("ReferenceGrants.permits", () => {
  const cases: {
    name: string;
    grants: ReturnType<typeof grant>[];
    from?: typeof FROM;
    to?: typeof TO;
    permits: boolean;
  }[] = [
    { name: "same namespace needs no grant", grants: [], to: { ...TO, namespace: "routes" }, permits: true },
    { name: "cross namespace without a grant", grants: [], permits: false },
    {
      name: "grant naming the Service",
      grants: [grant("g", "backends", { from: [FROM], to: [{ group: "", kind: "Service", name: "web" }] })],
      permits: true,
    },
    {
      name: "grant without to.name allows every Service",
      grants: [grant("g", "backends", { from: [FROM], to: [{ group: "", kind: "Service" }] })],
      permits: true,
    },
    {
      // conformance: httproute-partially-invalid-via-invalid-reference-grant
      name: "grant naming another Service",
      grants: [grant("g", "backends", { from: [FROM], to: [{ group: "", kind: "Service", name: "other" }] })],
      permits: false,
    },
    {
      name: "grant in the referrer's namespace does not count",
      grants: [grant("g", "routes", { from: [FROM], to: [{ group: "", kind: "Service" }] })],
      permits: false,
    },
    {
      name: "grant from another namespace",
      grants: [
        grant("g", "backends", {
          from: [{ ...FROM, namespace: "elsewhere" }],
          to: [{ group: "", kind: "Service" }],
        }),
      ],
      permits: false,
    },
    {
      name: "grant from another kind (GRPCRoute)",
      grants: [
        grant("g", "backends", { from: [{ ...FROM, kind: "GRPCRoute" }], to: [{ group: "", kind: "Service" }] }),
      ],
      permits: false,
    },
    {
      name: "grant to Secrets does not allow Services",
      grants: [grant("g", "backends", { from: [FROM], to: [{ group: "", kind: "Secret" }] })],
      permits: false,
    },
    {
      name: "grant to Secrets allows a Gateway's certificateRef",
      grants: [
        grant("g", "backends", {
          from: [{ group: GW, kind: "Gateway", namespace: "routes" }],
          to: [{ group: "", kind: "Secret", name: "cert" }],
        }),
      ],
      from: { group: GW, kind: "Gateway", namespace: "routes" },
      to: { group: "", kind: "Secret", namespace: "backends", name: "cert" },
      permits: true,
    },
    {
      name: "wrong group in from",
      grants: [
        grant("g", "backends", { from: [{ ...FROM, group: "example.com" }], to: [{ group: "", kind: "Service" }] }),
      ],
      permits: false,
    },
    {
      name: "one of several grants and entries matches",
      grants: [
        grant("a", "backends", { from: [{ ...FROM, namespace: "x" }], to: [{ group: "", kind: "Service" }] }),
        grant("b", "backends", {
          from: [{ ...FROM, namespace: "y" }, FROM],
          to: [
            { group: "", kind: "Secret" },
            { group: "", kind: "Service", name: "web" },
          ],
        }),
      ],
      permits: true,
    },
    {
      name: "a malformed grant is ignored, not a crash",
      grants: [grant("g", "backends", { from: "nope" as never, to: [null as never] })],
      permits: false,
    },
  ];
  for (const c of cases)
    it(c.name, () => {
      const grants = new ReferenceGrants(storeOf(c.grants));
      expect(grants.permits(c.from ?? FROM, c.to ?? TO)).toBe(c.permits);
    });
});
