/**
 * Golden tests of the translators, in the manner of Traefik's ingress provider tests: each folder
 * test/translate/fixtures/<translator>/<case>/ holds
 *   - input.yaml: the objects as the store holds them (multi-document; `metadata.namespace` defaults to
 *     `default`), headed by a comment saying what the case shows;
 *   - expected.json: what the translator makes of them: for `services` the service ports, health checks
 *     and problems; for `ingress` the route table (hosts, default route, certificates, status entries)
 *     and problems; for `gateway` the Gateway API part (HTTP and L4 sockets, status) and problems, one
 *     folder per Gateway API conformance test ported (named after it) plus `own-*` cases.
 * Every case runs on node `node-a` (zone `zone-a`, addresses 192.168.1.10 and fd00::10) with the shared
 * test options (test/support/options.ts).
 *
 * To rewrite the expected files from what the translators produce now: `UPDATE_GOLDEN=1 npx vitest run
 * test/translate/golden.test.ts`, then read the diff: every changed line is a behaviour change.
 * A new case is a new folder with an input.yaml; run once with UPDATE_GOLDEN=1 and review its expected.json
 * (JSON rather than YAML: the formatter leaves .json files alone, so a rewrite is the translator's output as is).
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import type { Kind, KindMap } from "../../src/model/k8s.ts";
import type { NodeSnapshot } from "../../src/snapshot/snapshot.ts";
import { Store } from "../../src/store/store.ts";
import { GatewayTranslator } from "../../src/translate/gateway/translator.ts";
import { IngressTranslator } from "../../src/translate/ingress/translator.ts";
import { ServiceTranslator } from "../../src/translate/services/translator.ts";
import { translateOptions } from "../support/options.ts";

const FIXTURES = join(import.meta.dirname, "fixtures");
const UPDATE = process.env.UPDATE_GOLDEN === "1";

const NODE: NodeSnapshot = {
  name: "node-a",
  zone: "zone-a",
  addresses: ["192.168.1.10", "fd00::10"],
  nodePortAddresses: ["192.168.1.10", "fd00::10"],
};
const OPTIONS = translateOptions({ localAddresses: ["192.168.1.10"] });

/** What each translator's golden files record. */
const TRANSLATORS: Record<string, (store: Store) => unknown> = {
  services: (store) => {
    const { servicePorts, healthChecks, problems } = new ServiceTranslator().translate(store, OPTIONS, NODE);
    return { servicePorts, healthChecks, problems };
  },
  ingress: (store) => {
    const { snapshot, problems } = new IngressTranslator().translate(store, OPTIONS, NODE);
    return { ...snapshot, problems };
  },
  gateway: (store) => {
    const { snapshot, problems } = new GatewayTranslator().translate(store, OPTIONS, NODE);
    return { ...snapshot, problems };
  },
};

function storeOf(yamlText: string): Store {
  const store = new Store();
  store.batch(() => {
    for (const doc of parseAllDocuments(yamlText)) {
      if (doc.errors.length > 0) throw doc.errors[0];
      const obj = doc.toJS() as ({ kind: Kind } & KindMap[Kind]) | null;
      if (obj === null) continue;
      obj.metadata = { namespace: "default", ...obj.metadata };
      store.upsert(obj.kind, obj as never);
    }
  });
  return store;
}

/** Plain data, as the file holds it: undefined fields dropped, non-enumerable ones (private keys) left out. */
function plain(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value));
}

for (const [name, run] of Object.entries(TRANSLATORS)) {
  const dir = join(FIXTURES, name);
  const cases = readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
  describe(`${name} translator golden files (test/translate/fixtures/${name})`, () => {
    it("has cases", () => expect(cases.length).toBeGreaterThanOrEqual(5));
    it.each(cases)("%s", (testCase) => {
      const input = readFileSync(join(dir, testCase, "input.yaml"), "utf8");
      expect(input.startsWith("#"), "input.yaml starts with a comment saying what the case shows").toBe(true);
      const actual = plain(run(storeOf(input)));
      const expectedFile = join(dir, testCase, "expected.json");
      if (UPDATE) writeFileSync(expectedFile, `${JSON.stringify(actual, null, 2)}\n`);
      expect(existsSync(expectedFile), `${expectedFile} missing: run with UPDATE_GOLDEN=1 and review it`).toBe(true);
      expect(actual).toEqual(JSON.parse(readFileSync(expectedFile, "utf8")));
    });
  });
}
