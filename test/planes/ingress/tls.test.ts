import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type TLSSocket } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type Backend,
  curl,
  type Harness,
  ingress,
  rule,
  service,
  slicesFor,
  startBackend,
  startIngress,
  tlsSecret,
} from "./harness.ts";

// Backends of this file: 127.245.2.x
describe("ingress plane: TLS by SNI", () => {
  let dir: string;
  let web: Backend;
  let h: Harness;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "nodeplane-tls-"));
    web = await startBackend("web", "127.245.2.1");
    h = await startIngress([
      service("default", "web", [{ name: "http", port: 80 }]),
      ...slicesFor("default", "web", "http", [web]),
      await tlsSecret("default", "testsecret", "foo.bar.com", dir),
      ingress("default", "test", {
        tls: [{ hosts: ["foo.bar.com"], secretName: "testsecret" }],
        rules: [
          rule("foo.bar.com", [{ path: "/", service: "web", port: 80 }]),
          rule("plain.com", [{ path: "/", service: "web", port: 80 }]),
        ],
      }),
    ]);
  });

  afterAll(async () => {
    await h?.close();
    await web?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const resolve = () => `foo.bar.com:${h.httpsPort}:127.0.0.1`;

  /** The certificate the listener presents for `servername` (undefined = no SNI). */
  function peerCertificate(servername: string | undefined) {
    return new Promise<{ subject: string; fingerprint256: string; alpn: string | false | null }>((res, rej) => {
      const socket: TLSSocket = connect({
        host: "127.0.0.1",
        port: h.httpsPort,
        rejectUnauthorized: false,
        ALPNProtocols: ["h2", "http/1.1"],
        ...(servername ? { servername } : {}),
      });
      socket.once("secureConnect", () => {
        const cert = socket.getPeerCertificate();
        res({ subject: cert.subject.CN as string, fingerprint256: cert.fingerprint256, alpn: socket.alpnProtocol });
        socket.destroy();
      });
      socket.once("error", rej);
    });
  }

  it("serves the Secret's certificate for its host and the default one otherwise", async () => {
    expect((await peerCertificate("foo.bar.com")).subject).toBe("foo.bar.com");
    expect((await peerCertificate("FOO.BAR.COM")).subject).toBe("foo.bar.com");
    expect((await peerCertificate("other.com")).subject).toBe("nodeplane test default");
    expect((await peerCertificate(undefined)).subject).toBe("nodeplane test default");
    expect((await peerCertificate("foo.bar.com")).alpn).toBe("h2");
  });

  it("curl with --resolve sees the certificate and reaches the backend over HTTP/2", async () => {
    const r = await curl(["-v", "-k", "--http2", "--resolve", resolve(), `https://foo.bar.com:${h.httpsPort}/x`]);
    expect(r.stderr).toMatch(/subject: CN=foo\.bar\.com/);
    expect(r.stderr).toMatch(/ALPN: server accepted h2|ALPN, server accepted to use h2/);
    expect(JSON.parse(r.stdout).backend).toBe("web");
  });

  it("tunnels an Upgrade (WebSocket) request over HTTP/1.1 on the TLS listener", async () => {
    const socket = connect({
      host: "127.0.0.1",
      port: h.httpsPort,
      rejectUnauthorized: false,
      servername: "foo.bar.com",
      ALPNProtocols: ["http/1.1"],
    });
    await new Promise((r) => socket.once("secureConnect", r));
    socket.write(
      "GET /ws HTTP/1.1\r\nHost: foo.bar.com\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    const head = await new Promise<string>((r) => socket.once("data", (c: Buffer) => r(c.toString())));
    expect(head).toMatch(/^HTTP\/1.1 101 /);
    expect(head).toMatch(/Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=/);
    // one masked text frame "hi" → echoed back by the backend as "web:hi"
    socket.write(Buffer.from([0x81, 0x82, 1, 2, 3, 4, "h".charCodeAt(0) ^ 1, "i".charCodeAt(0) ^ 2]));
    const frame = await new Promise<Buffer>((r) => socket.once("data", r));
    expect(frame.subarray(2).toString()).toBe("web:hi");
    socket.destroy();
  });

  it("redirects plain HTTP for a TLS host with 308, not for other hosts", async () => {
    const r = await curl([
      "-s",
      "-o",
      "/dev/null",
      "-w",
      "%{http_code} %{redirect_url}",
      "-H",
      "Host: foo.bar.com",
      `http://127.0.0.1:${h.httpPort}/a?b=1`,
    ]);
    expect(r.stdout).toBe(`308 https://foo.bar.com:${h.httpsPort}/a?b=1`);
    const upgrade = await curl([
      "-s",
      "-o",
      "/dev/null",
      "-w",
      "%{http_code} %{redirect_url}",
      "-H",
      "Host: foo.bar.com",
      "-H",
      "Connection: Upgrade",
      "-H",
      "Upgrade: websocket",
      `http://127.0.0.1:${h.httpPort}/ws`,
    ]);
    expect(upgrade.stdout).toBe(`308 https://foo.bar.com:${h.httpsPort}/ws`);
    const plain = await curl([
      "-s",
      "-o",
      "/dev/null",
      "-w",
      "%{http_code}",
      "-H",
      "Host: plain.com",
      `http://127.0.0.1:${h.httpPort}/`,
    ]);
    expect(plain.stdout).toBe("200");
  });

  it("rotates the certificate when the Secret changes, without dropping an established connection", async () => {
    const before = await peerCertificate("foo.bar.com");
    // A keep-alive HTTP/1.1 connection opened before the rotation...
    const socket = connect({
      host: "127.0.0.1",
      port: h.httpsPort,
      servername: "foo.bar.com",
      rejectUnauthorized: false,
      ALPNProtocols: ["http/1.1"],
    });
    await new Promise((r) => socket.once("secureConnect", r));
    const ask = () =>
      new Promise<string>((res) => {
        let data = "";
        const onData = (c: Buffer) => {
          data += c.toString();
          if (/\r\n\r\n[\s\S]*"backend":"web"/.test(data) && data.trimEnd().endsWith("}")) {
            socket.off("data", onData);
            res(data);
          }
        };
        socket.on("data", onData);
        socket.write("GET /k HTTP/1.1\r\nHost: foo.bar.com\r\n\r\n");
      });
    expect(await ask()).toMatch(/^HTTP\/1.1 200/);
    // ...traffic continues while the Secret is replaced...
    const traffic = Promise.all(
      Array.from({ length: 20 }, () =>
        curl([
          "-s",
          "-k",
          "-o",
          "/dev/null",
          "-w",
          "%{http_code}",
          "--resolve",
          resolve(),
          `https://foo.bar.com:${h.httpsPort}/t`,
        ]),
      ),
    );
    h.store.upsert("Secret", await tlsSecret("default", "testsecret", "foo.bar.com", dir));
    await h.sync();
    const after = await peerCertificate("foo.bar.com");
    expect(after.subject).toBe("foo.bar.com");
    expect(after.fingerprint256).not.toBe(before.fingerprint256);
    expect((await traffic).every((r) => r.stdout === "200")).toBe(true);
    // ...and the old connection still works, with the certificate it negotiated.
    expect(await ask()).toMatch(/^HTTP\/1.1 200/);
    expect(socket.getPeerCertificate().fingerprint256).toBe(before.fingerprint256);
    socket.destroy();
  });

  it("falls back to the default certificate when the Secret goes bad", async () => {
    const secret = h.store.get("Secret", "default/testsecret")!;
    h.store.upsert("Secret", { ...secret, data: { "tls.crt": secret.data!["tls.crt"]! } });
    const snapshot = await h.sync();
    expect(snapshot.problems).toEqual([expect.objectContaining({ kind: "Secret", field: "data[tls.key]" })]);
    expect((await peerCertificate("foo.bar.com")).subject).toBe("nodeplane test default");
  });
});
