import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ConnectionOptions, connect as tlsConnect } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type Backend,
  type Harness,
  ingress,
  rule,
  service,
  slicesFor,
  startBackend,
  startIngress,
  tlsSecret,
  webIngress,
} from "./harness.ts";

const HANDSHAKE_TIMEOUT_MS = 400;
const CLIENTS = 50;

/** Descriptors this process holds: the plane runs in the test process, so its sockets are counted here. */
const openFds = () => readdirSync("/proc/self/fd").length;

/** Server-side sockets on `port` in CLOSE-WAIT (the peer closed, we never did), as `ss` sees them. */
function closeWait(port: number): number {
  const out = execFileSync("ss", ["-Htan", "state", "close-wait", `( sport = :${port} )`], { encoding: "utf8" });
  return out.split("\n").filter((l) => l.trim() !== "").length;
}

async function until(what: string, ok: () => boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A TLS 1.2 ClientHello record that announces 512 bytes of handshake and stops after 10 of them. */
const HALF_CLIENT_HELLO = Buffer.from([
  0x16, 0x03, 0x01, 0x02, 0x04, 0x01, 0x00, 0x02, 0x00, 0x03, 0x03, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
]);

interface Held {
  socket: Socket;
  /** closes from the client side (destroy, or end when `half`) */
  close(half?: boolean): void;
  /** resolves with true when the server closed the connection (FIN or RST), false when we did */
  closedByServer: Promise<boolean>;
}

/** Opens `n` raw TCP connections to the HTTPS port, each sending `bytes` (possibly nothing). */
async function hold(port: number, n: number, bytes?: Buffer | string): Promise<Held[]> {
  const held = Array.from({ length: n }, () => {
    const socket = connect({ host: "127.0.0.1", port });
    let byUs = false;
    socket.on("error", () => undefined);
    socket.on("data", () => undefined);
    if (bytes !== undefined) socket.once("connect", () => socket.write(bytes));
    // bounded: a server that never closes makes the row fail here, not hang
    const bound = setTimeout(() => close(), 5_000);
    const close = (half = false) => {
      byUs = true;
      if (half) socket.end();
      else socket.destroy();
    };
    const closedByServer = new Promise<boolean>((resolve) =>
      socket.once("close", () => {
        clearTimeout(bound);
        resolve(!byUs);
      }),
    );
    return { socket, close, closedByServer };
  });
  await Promise.all(held.map((h) => new Promise((r) => (h.socket.connecting ? h.socket.once("connect", r) : r(0)))));
  return held;
}

// Backends of this file: 127.245.9.x
describe("ingress plane: hostile TLS clients cannot hold descriptors", () => {
  let web: Backend;
  let h: Harness;

  beforeAll(async () => {
    web = await startBackend("web", "127.245.9.1");
    h = await startIngress(webIngress(web), { flags: ["--tls-handshake-timeout", `${HANDSHAKE_TIMEOUT_MS}ms`] });
  });

  afterAll(async () => {
    await h?.close();
    await web?.close();
  });

  /** The listener still completes a handshake and answers after the hostile row. */
  function stillServes(): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = tlsConnect({
        host: "127.0.0.1",
        port: h.httpsPort,
        rejectUnauthorized: false,
        servername: "h.com",
        ALPNProtocols: ["http/1.1"],
      });
      let data = "";
      socket.on("data", (c: Buffer) => {
        data += c.toString("latin1");
        if (data.includes("\r\n\r\n")) socket.destroy();
      });
      socket.on("error", reject);
      socket.on("close", () => resolve(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? "none"));
      socket.once("secureConnect", () => socket.write("GET / HTTP/1.1\r\nHost: h.com\r\nConnection: close\r\n\r\n"));
    });
  }

  const rows: { name: string; bytes?: Buffer | string }[] = [
    { name: "send nothing" },
    { name: "send half a ClientHello", bytes: HALF_CLIENT_HELLO },
    { name: "send one byte of a TLS record", bytes: Buffer.from([0x16]) },
  ];

  for (const row of rows) {
    it(`${CLIENTS} connections that ${row.name}: the server closes them after the handshake timeout, no fd left`, async () => {
      const before = openFds();
      const started = Date.now();
      const held = await hold(h.httpsPort, CLIENTS, row.bytes);
      expect(openFds()).toBeGreaterThanOrEqual(before + CLIENTS); // our client ends plus the server's
      const byServer = await Promise.all(held.map((c) => c.closedByServer));
      const elapsed = Date.now() - started;
      expect(byServer.every((b) => b)).toBe(true);
      expect(elapsed).toBeGreaterThanOrEqual(HANDSHAKE_TIMEOUT_MS - 50);
      await until("descriptors back", () => openFds() <= before);
      expect(closeWait(h.httpsPort)).toBe(0);
      expect(await stillServes()).toBe("200");
    });
  }

  it(`${CLIENTS} clients that hold a silent connection past the timeout and then close leave no CLOSE-WAIT`, async () => {
    const before = openFds();
    const held = await hold(h.httpsPort, CLIENTS, HALF_CLIENT_HELLO);
    // the attacker of the report: hold past the server's timeout, then close from the client side
    await new Promise((r) => setTimeout(r, HANDSHAKE_TIMEOUT_MS + 200));
    for (const c of held) c.close();
    await Promise.all(held.map((c) => c.closedByServer));
    await until("descriptors back", () => openFds() <= before);
    expect(closeWait(h.httpsPort)).toBe(0);
  });

  it(`${CLIENTS} clients that close before the handshake timeout leave no CLOSE-WAIT`, async () => {
    const before = openFds();
    const held = await hold(h.httpsPort, CLIENTS, HALF_CLIENT_HELLO);
    for (const c of held) c.close(true);
    await Promise.all(held.map((c) => c.closedByServer));
    await until("descriptors back", () => openFds() <= before, HANDSHAKE_TIMEOUT_MS * 3);
    expect(closeWait(h.httpsPort)).toBe(0);
  });

  it("plain HTTP on the TLS port is dropped at once, not answered or kept", async () => {
    const before = openFds();
    const held = await hold(h.httpsPort, 10, "GET / HTTP/1.1\r\nHost: h.com\r\n\r\n");
    const started = Date.now();
    expect((await Promise.all(held.map((c) => c.closedByServer))).every((b) => b)).toBe(true);
    expect(Date.now() - started).toBeLessThan(HANDSHAKE_TIMEOUT_MS);
    await until("descriptors back", () => openFds() <= before);
    expect(closeWait(h.httpsPort)).toBe(0);
  });

  it("after an HTTP/1.1 error answer over TLS, a client that never closes is cut off (bounded linger)", async () => {
    const before = openFds();
    // allowHalfOpen (honoured by TLSSocket, missing from its typings): this client keeps its side open after
    // the server's FIN, as a hostile one would
    const options: ConnectionOptions & { allowHalfOpen: boolean } = {
      host: "127.0.0.1",
      port: h.httpsPort,
      rejectUnauthorized: false,
      servername: "h.com",
      ALPNProtocols: ["http/1.1"],
      allowHalfOpen: true,
    };
    const socket = tlsConnect(options);
    try {
      let data = "";
      socket.on("data", (c: Buffer) => {
        data += c.toString("latin1");
      });
      socket.on("error", () => undefined);
      await new Promise((resolve) => socket.once("secureConnect", resolve));
      socket.write("GET / HTTP/1.1\r\nHost: h.com\r\nContent-Length: x\r\n\r\n");
      await until("the answer", () => data.includes("\r\n\r\n"));
      expect(data).toMatch(/^HTTP\/1\.1 400/);
      // only our own end of the connection may remain: the server's descriptor goes after the linger
      await until("the server's socket destroyed", () => openFds() <= before + 1, 8_000);
    } finally {
      socket.destroy();
    }
  });

  it("idle HTTP/2 sessions and HTTP/1.1 keep-alive connections over TLS are closed after the keep-alive timeout", async () => {
    const idle = await startIngress(webIngress(web), {
      limits: { keepAliveTimeoutMs: 300, connectionsCheckingIntervalMs: 100 },
    });
    try {
      const { connect: h2connect } = await import("node:http2");
      const session = h2connect(`https://127.0.0.1:${idle.httpsPort}`, { rejectUnauthorized: false });
      session.on("error", () => undefined);
      const h2Closed = new Promise<number>((resolve) => session.once("close", () => resolve(Date.now())));
      // HTTP/1.1: one answered request, then the connection sits idle in keep-alive
      const h1 = tlsConnect({
        host: "127.0.0.1",
        port: idle.httpsPort,
        rejectUnauthorized: false,
        servername: "h.com",
        ALPNProtocols: ["http/1.1"],
      });
      let h1Data = "";
      h1.on("data", (c: Buffer) => {
        h1Data += c.toString("latin1");
      });
      h1.on("error", () => undefined);
      h1.once("secureConnect", () => h1.write("GET / HTTP/1.1\r\nHost: h.com\r\n\r\n"));
      const h1Closed = new Promise<number>((resolve) => h1.once("close", () => resolve(Date.now())));
      const started = Date.now();
      const bound = setTimeout(() => {
        session.destroy();
        h1.destroy();
      }, 5_000);
      const [h2At, h1At] = await Promise.all([h2Closed, h1Closed]);
      clearTimeout(bound);
      expect(h1Data).toMatch(/^HTTP\/1\.1 200/);
      expect(h2At - started).toBeLessThan(3_000);
      expect(h1At - started).toBeLessThan(3_000);
    } finally {
      await idle.close();
    }
  });

  it("close() finishes while clients sit in the TLS handshake (SIGTERM must not wait on them)", async () => {
    const slow = await startIngress([], { flags: ["--tls-handshake-timeout", "60s"] });
    const held = await hold(slow.httpsPort, CLIENTS, HALF_CLIENT_HELLO);
    const started = Date.now();
    await slow.close();
    expect(Date.now() - started).toBeLessThan(5_000);
    expect((await Promise.all(held.map((c) => c.closedByServer))).every((b) => b)).toBe(true);
  });
});

/** Runs `openssl s_client` (a real TLS client) to 127.0.0.1:port; `input` lines are sent with pauses between. */
function sClient(port: number, args: string[], input: string[] = []): Promise<{ out: string; code: number | null }> {
  return new Promise((resolve) => {
    const child = spawn("openssl", ["s_client", "-connect", `127.0.0.1:${port}`, ...args], {
      stdio: ["pipe", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (c: Buffer) => {
      out += c.toString("latin1");
    });
    child.stderr.on("data", (c: Buffer) => {
      out += c.toString("latin1");
    });
    const bound = setTimeout(() => child.kill("SIGKILL"), 10_000);
    child.on("close", (code) => {
      clearTimeout(bound);
      resolve({ out, code });
    });
    child.stdin.on("error", () => undefined);
    (async () => {
      for (const line of input) {
        await new Promise((r) => setTimeout(r, 400));
        if (child.exitCode !== null) return;
        child.stdin.write(line);
      }
      await new Promise((r) => setTimeout(r, 400));
      // s_client quits at the end of its input (-ign_eof would also turn off its R command)
      child.stdin.end();
    })();
  });
}

/** The negotiated suite, or undefined when the handshake failed. */
function negotiated(out: string): string | undefined {
  const suite = /Cipher is (\S+)/.exec(out)?.[1];
  return suite === undefined || suite === "(NONE)" ? undefined : suite;
}

/** A self-signed RSA certificate as a kubernetes.io/tls Secret (the harness's tlsSecret makes EC ones). */
function rsaSecret(namespace: string, name: string, commonName: string, dir: string) {
  const key = join(dir, `${name}.key`);
  const crt = join(dir, `${name}.crt`);
  execFileSync("openssl", [
    ...["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", `/CN=${commonName}`],
    ...["-addext", `subjectAltName=DNS:${commonName}`, "-keyout", key, "-out", crt],
  ]);
  return {
    kind: "Secret" as const,
    apiVersion: "v1",
    metadata: { namespace, name },
    type: "kubernetes.io/tls",
    data: { "tls.crt": readFileSync(crt).toString("base64"), "tls.key": readFileSync(key).toString("base64") },
  };
}

// Backends of this file: 127.245.9.x
describe("ingress plane: TLS profile (Mozilla intermediate), seen by openssl s_client", () => {
  let web: Backend;
  let h: Harness;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "nodeplane-tls-profile-"));
    web = await startBackend("web", "127.245.9.2");
    h = await startIngress([
      service("default", "web", [{ name: "http", port: 80 }]),
      ...slicesFor("default", "web", "http", [web]),
      rsaSecret("default", "rsa-tls", "rsa.test", dir),
      await tlsSecret("default", "ec-tls", "ec.test", dir),
      ingress("default", "sites", {
        tls: [
          { hosts: ["rsa.test"], secretName: "rsa-tls" },
          { hosts: ["ec.test"], secretName: "ec-tls" },
        ],
        rules: ["rsa.test", "ec.test", "h.com"].map((host) => rule(host, [{ path: "/", service: "web", port: 80 }])),
      }),
    ]);
  });

  afterAll(async () => {
    await h?.close();
    await web?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  // servername: undefined = no SNI (the default certificate, RSA); rsa.test and ec.test are SNI contexts
  const rows: { servername?: string; args: string[]; accepted: string | undefined; why: string }[] = [
    { args: ["-tls1_2", "-cipher", "AES128-SHA"], accepted: undefined, why: "static RSA, CBC, SHA-1" },
    { args: ["-tls1_2", "-cipher", "AES256-GCM-SHA384"], accepted: undefined, why: "static RSA key exchange" },
    { args: ["-tls1_2", "-cipher", "ECDHE-RSA-AES128-SHA"], accepted: undefined, why: "CBC with SHA-1" },
    { args: ["-tls1_2", "-cipher", "ECDHE-RSA-AES256-SHA384"], accepted: undefined, why: "CBC" },
    {
      args: ["-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"],
      accepted: "ECDHE-RSA-AES128-GCM-SHA256",
      why: "ECDHE + AEAD with the RSA default certificate",
    },
    {
      args: ["-tls1_2", "-cipher", "ECDHE-RSA-CHACHA20-POLY1305"],
      accepted: "ECDHE-RSA-CHACHA20-POLY1305",
      why: "ChaCha20-Poly1305",
    },
    {
      args: ["-tls1_2", "-cipher", "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256"],
      accepted: "ECDHE-RSA-AES128-GCM-SHA256",
      why: "the server's order wins over the client's",
    },
    { args: ["-tls1_3"], accepted: "TLS_AES_128_GCM_SHA256", why: "TLS 1.3, the server's first suite" },
    { servername: "rsa.test", args: ["-tls1_2", "-cipher", "AES256-GCM-SHA384"], accepted: undefined, why: "SNI" },
    { servername: "rsa.test", args: ["-tls1_2", "-cipher", "ECDHE-RSA-AES128-SHA"], accepted: undefined, why: "SNI" },
    {
      servername: "rsa.test",
      args: ["-tls1_2", "-cipher", "ECDHE-RSA-AES256-GCM-SHA384"],
      accepted: "ECDHE-RSA-AES256-GCM-SHA384",
      why: "SNI, RSA Secret",
    },
    { servername: "ec.test", args: ["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA"], accepted: undefined, why: "SNI" },
    {
      servername: "ec.test",
      args: ["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"],
      accepted: "ECDHE-ECDSA-AES128-GCM-SHA256",
      why: "SNI, EC Secret",
    },
  ];

  it.each(rows)("$servername $args → $accepted ($why)", async ({ servername, args, accepted }) => {
    const { out } = await sClient(h.httpsPort, [
      ...(servername ? ["-servername", servername] : ["-noservername"]),
      ...args,
    ]);
    // the client did offer it: a refusal must come from the server (alert), not from s_client's own config
    expect(out).not.toMatch(/no cipher match|no protocols available/);
    expect(negotiated(out)).toBe(accepted);
    if (accepted === undefined) expect(out).toMatch(/alert handshake failure/);
  });

  it("refuses TLS 1.1 (the client offers it at security level 0)", async () => {
    const { out } = await sClient(h.httpsPort, ["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0", "-noservername"]);
    expect(out).not.toMatch(/no protocols available/);
    expect(negotiated(out)).toBeUndefined();
    expect(out).toMatch(/alert protocol version|unsupported protocol/);
  });

  it("refuses client-initiated TLS 1.2 renegotiation (R in s_client)", async () => {
    const get = "GET / HTTP/1.1\r\nHost: h.com\r\n\r\n";
    const { out } = await sClient(h.httpsPort, ["-tls1_2", "-servername", "h.com"], [get, "R\n", get]);
    expect(negotiated(out)).toBe("ECDHE-RSA-AES128-GCM-SHA256");
    expect(out).toContain("RENEGOTIATING");
    // the request before R is answered; after R the server refuses, so the second never is
    expect(out.match(/HTTP\/1\.1 200/g)?.length).toBe(1);
    expect(out).toMatch(/no renegotiation|alert/);
  });

  it("keeps the profile when a Secret becomes the default certificate (setSecureContext)", async () => {
    h.store.upsert("Secret", rsaSecret("default", "catch-all", "catch-all.test", dir) as never);
    h.store.upsert(
      "Ingress",
      ingress("default", "catch-all", {
        tls: [{ secretName: "catch-all" }],
        rules: [rule(undefined, [{ path: "/", service: "web", port: 80 }])],
      }) as never,
    );
    await h.sync();
    const ok = await sClient(h.httpsPort, ["-noservername", "-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"]);
    expect(ok.out).toMatch(/CN ?= ?catch-all\.test/);
    expect(negotiated(ok.out)).toBe("ECDHE-RSA-AES128-GCM-SHA256");
    for (const cipher of ["AES256-GCM-SHA384", "ECDHE-RSA-AES128-SHA"]) {
      const refused = await sClient(h.httpsPort, ["-noservername", "-tls1_2", "-cipher", cipher]);
      expect(negotiated(refused.out)).toBeUndefined();
    }
  });
});
