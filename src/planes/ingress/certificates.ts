import { constants } from "node:crypto";
import { createSecureContext, type SecureContext, type SecureContextOptions } from "node:tls";
import forge from "node-forge";
import type { Logger } from "../../log.ts";
import type { IngressSnapshot, TlsCertificate } from "../../snapshot/ingress.ts";

export interface PemPair {
  cert: string;
  key: string;
}

/**
 * Mozilla's "intermediate" server profile (ssl-config.mozilla.org, v5.7), without its DHE suites: TLS 1.2 and 1.3
 * only; for TLS 1.2 ECDHE key exchange (forward secrecy) with AEAD ciphers (AES-GCM, ChaCha20-Poly1305) only, so
 * no static-RSA suites, no CBC, no SHA-1 MACs; TLS 1.3 with its three standard suites. The server's order wins
 * and renegotiation (TLS 1.2 only; 1.3 has none) is refused, which Node otherwise allows a client 3 times in
 * 10 minutes. Every secure context gets it: the listener's default one and each SNI context.
 */
export const TLS_PROFILE = {
  minVersion: "TLSv1.2",
  ciphers: [
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-RSA-CHACHA20-POLY1305",
  ].join(":"),
  honorCipherOrder: true,
  secureOptions: constants.SSL_OP_NO_RENEGOTIATION,
} as const satisfies SecureContextOptions;

/** A secure context for one certificate, with the TLS profile. */
export function profiledContext(pem: PemPair): SecureContext {
  return createSecureContext({ ...TLS_PROFILE, ...pem });
}

/**
 * The self-signed certificate served for unknown or absent SNI (as ingress-nginx's "Fake Certificate"),
 * generated at start: RSA 2048 (node-forge uses Node's native key generation), valid for a year.
 */
export function generateDefaultCertificate(commonName = "nodeplane default certificate"): PemPair {
  const keys = forge.pki.rsa.generateKeyPair({ bits: 2048, e: 0x10001 });
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = `01${forge.util.bytesToHex(forge.random.getBytesSync(15))}`;
  const now = new Date();
  cert.validity.notBefore = new Date(now.getTime() - 60_000);
  cert.validity.notAfter = new Date(now.getTime() + 365 * 24 * 3600 * 1000);
  const attrs = [
    { name: "commonName", value: commonName },
    { name: "organizationName", value: "nodeplane" },
  ];
  cert.setSubject(attrs);
  cert.setIssuer(attrs);
  cert.setExtensions([
    { name: "basicConstraints", cA: false },
    { name: "keyUsage", digitalSignature: true, keyEncipherment: true },
    { name: "extKeyUsage", serverAuth: true },
    { name: "subjectAltName", altNames: [{ type: 2, value: "ingress.local" }] },
  ]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: forge.pki.privateKeyToPem(keys.privateKey) };
}

/**
 * Secure contexts by SNI name, swapped whole on each snapshot: new handshakes see the new certificate,
 * established connections keep the one they negotiated. Contexts are cached by certificate fingerprint
 * so an unchanged Secret is not re-parsed.
 */
export class CertificateStore {
  private exact = new Map<string, SecureContext>();
  private wildcard = new Map<string, SecureContext>();
  private cache = new Map<string, SecureContext>();
  private readonly builtIn: SecureContext;
  private fallback: SecureContext;
  /** the PEM pair clients without SNI get (the server's own context) */
  fallbackPem: PemPair;
  private readonly builtInPem: PemPair;
  private readonly logger: Logger;

  constructor(builtIn: PemPair, logger: Logger) {
    this.builtInPem = builtIn;
    this.fallbackPem = builtIn;
    this.builtIn = profiledContext(builtIn);
    this.fallback = this.builtIn;
    this.logger = logger;
  }

  /** Rebuilds the name map; returns true when the fallback (no-SNI) certificate changed. */
  update(snapshot: IngressSnapshot, now = Date.now()): boolean {
    const exact = new Map<string, SecureContext>();
    const wildcard = new Map<string, SecureContext>();
    const cache = new Map<string, SecureContext>();
    for (const certificate of snapshot.certificates) {
      const context = this.context(certificate, cache, now);
      if (!context) continue;
      for (const host of certificate.hosts) {
        if (host.startsWith("*.")) wildcard.set(host.slice(2), context);
        else exact.set(host, context);
      }
    }
    const previousFallback = this.fallback;
    const defaultCert = snapshot.defaultCertificate;
    const defaultContext = defaultCert ? this.context(defaultCert, cache, now) : undefined;
    this.fallback = defaultContext ?? this.builtIn;
    this.fallbackPem =
      defaultContext && defaultCert ? { cert: defaultCert.certPem, key: defaultCert.keyPem } : this.builtInPem;
    this.exact = exact;
    this.wildcard = wildcard;
    this.cache = cache;
    return previousFallback !== this.fallback;
  }

  /**
   * Gateway API hostnames: a `*.` wildcard matches one or more labels (the longest suffix wins), where
   * Ingress's matches exactly one.
   */
  multiLabelWildcards = false;

  /** For SNICallback: exact name, then wildcard, then the fallback. */
  lookup(servername: string): SecureContext {
    return this.match(servername) ?? this.fallback;
  }

  /** The certificate whose hosts match `servername` (exact, then wildcard); undefined: none does. */
  match(servername: string): SecureContext | undefined {
    const name = servername.toLowerCase();
    const exact = this.exact.get(name);
    if (exact) return exact;
    let dot = name.indexOf(".");
    while (dot > 0) {
      const wild = this.wildcard.get(name.slice(dot + 1));
      if (wild) return wild;
      if (!this.multiLabelWildcards) break;
      dot = name.indexOf(".", dot + 1);
    }
    return undefined;
  }

  private context(
    certificate: TlsCertificate,
    cache: Map<string, SecureContext>,
    now: number,
  ): SecureContext | undefined {
    if (Date.parse(certificate.validTo) < now || Date.parse(certificate.validFrom) > now) {
      this.logger.warn(
        { secret: certificate.secret, validFrom: certificate.validFrom, validTo: certificate.validTo },
        `Secret ${certificate.secret}: certificate is not valid now (expired or not yet valid); its hosts get the default certificate`,
      );
      return undefined;
    }
    const key = certificate.fingerprint256;
    let context = cache.get(key) ?? this.cache.get(key);
    if (!context) {
      try {
        context = profiledContext({ cert: certificate.certPem, key: certificate.keyPem });
      } catch (err) {
        this.logger.warn({ err, secret: certificate.secret }, `Secret ${certificate.secret}: certificate not usable`);
        return undefined;
      }
    }
    cache.set(key, context);
    return context;
  }
}
