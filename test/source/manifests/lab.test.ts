import { createPrivateKey, X509Certificate } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { parseFlags } from "../../../src/cli/flags.ts";
import { ManifestsSource } from "../../../src/source/manifests/source.ts";
import { Store } from "../../../src/store/store.ts";
import { cidrContains, parseCIDR } from "../../../src/util/cidr.ts";
import { compileFiles } from "../helpers.ts";

const LAB = join(import.meta.dirname, "..", "..", "..", "examples", "lab");
const POD_RANGE = parseCIDR("127.244.0.0/16");

describe("examples/lab", () => {
  it("every file loads with zero problems", async () => {
    const names = (await readdir(LAB)).filter((n) => /\.(ya?ml|json)$/.test(n));
    expect(names.length).toBeGreaterThan(0);
    for (const name of names) {
      const result = compileFiles({ [name]: await readFile(join(LAB, name), "utf8") });
      expect(result.problems, name).toEqual([]);
      expect(Object.values(result.objects).flat().length + result.ignored.length, name).toBeGreaterThan(0);
    }
  });

  it("gives the lab's objects, endpoints inside 127.244.0.0/16", async () => {
    const source = new ManifestsSource(parseFlags(["--manifests", LAB], {}), pino({ level: "silent" }));
    const store = new Store();
    await source.start(store);
    try {
      expect(source.problems()).toEqual([]);
      const services = Object.fromEntries([...store.list("Service")].map((s) => [s.metadata!.name!, s.spec!]));
      expect(Object.keys(services).sort()).toEqual(
        ["kubernetes", "my-nginx", "my-svc-cp", "my-svc-headless", "my-svc-np", "s1", "s2", "testsvc"].sort(),
      );
      expect(services.kubernetes!.clusterIP).toBe("127.96.0.1");
      expect(services["my-svc-headless"]!.clusterIP).toBe("None");
      expect(services["my-svc-np"]!.ports![0]!.nodePort).toBeGreaterThanOrEqual(30000);
      expect(services["my-nginx"]!.ports![0]).toMatchObject({ port: 8090, targetPort: 8080 });

      const endpoints = (svc: string) =>
        store
          .slicesFor(`default/${svc}`)
          .flatMap((s) =>
            (s.endpoints ?? []).flatMap((e) => e.addresses.map((a) => `${a}:${s.ports?.[0]?.port ?? "-"}`)),
          )
          .sort();
      expect(endpoints("my-nginx")).toEqual(["127.244.0.1:8080", "127.244.0.2:8080"]);
      expect(endpoints("my-svc-headless")).toEqual(["127.244.0.1:-", "127.244.0.2:-"]);
      expect(endpoints("s1")).toEqual(["127.244.1.1:8080"]);
      expect(endpoints("s2")).toEqual(["127.244.2.1:8080"]);
      expect(endpoints("testsvc")).toEqual(["127.244.3.1:8080"]);
      expect(endpoints("my-svc-cp")).toEqual([]);
      for (const slice of store.list("EndpointSlice"))
        for (const e of slice.endpoints ?? [])
          for (const a of e.addresses) expect(cidrContains(POD_RANGE, a)).toBe(true);
      for (const pod of store.list("Pod")) expect(cidrContains(POD_RANGE, pod.status!.podIP!)).toBe(true);

      expect([...store.list("Ingress")].map((i) => i.metadata!.name).sort()).toEqual(["test", "test-ingress"]);
      const secret = store.get("Secret", "default/testsecret")!;
      expect(secret.type).toBe("kubernetes.io/tls");
      const cert = new X509Certificate(Buffer.from(secret.data!["tls.crt"]!, "base64"));
      expect(cert.subjectAltName).toBe("DNS:foo.bar.com, DNS:*.bar.com");
      expect(cert.checkPrivateKey(createPrivateKey(Buffer.from(secret.data!["tls.key"]!, "base64")))).toBe(true);
      expect(store.get("IngressClass", "nodeplane")?.spec?.controller).toBe("nodeplane.dev/ingress");
    } finally {
      await source.stop();
    }
  });
});
