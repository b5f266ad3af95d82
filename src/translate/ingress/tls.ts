import { createPrivateKey, X509Certificate } from "node:crypto";
import type { Secret } from "../../model/k8s.ts";
import type { TlsCertificate } from "../../snapshot/ingress.ts";

const TLS_SECRET_TYPE = "kubernetes.io/tls";

/**
 * A `kubernetes.io/tls` Secret as a certificate, or an error naming what is wrong (missing key,
 * undecodable PEM, key not matching the certificate). Parsing a certificate is pure computation; whether
 * it has expired depends on the clock, so the plane checks that when it loads the certificate.
 */
export function certificateFromSecret(
  secret: Secret,
  hosts: readonly string[],
): { certificate: TlsCertificate } | { field: string; error: string } {
  if (secret.type !== undefined && secret.type !== TLS_SECRET_TYPE)
    return { field: "type", error: `is "${secret.type}", not ${TLS_SECRET_TYPE}` };
  const certPem = secretValue(secret, "tls.crt");
  if (!certPem) return { field: "data[tls.crt]", error: "is missing or empty" };
  const keyPem = secretValue(secret, "tls.key");
  if (!keyPem) return { field: "data[tls.key]", error: "is missing or empty" };
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch (err) {
    return { field: "data[tls.crt]", error: `is not a PEM certificate (${(err as Error).message})` };
  }
  try {
    const key = createPrivateKey(keyPem);
    if (!cert.checkPrivateKey(key))
      return { field: "data[tls.key]", error: "does not match the certificate in tls.crt" };
  } catch (err) {
    return { field: "data[tls.key]", error: `is not a PEM private key (${(err as Error).message})` };
  }
  const certificate = {
    secret: `${secret.metadata?.namespace ?? "default"}/${secret.metadata?.name ?? ""}`,
    hosts,
    certPem,
    subject: cert.subject.replaceAll("\n", ", "),
    validFrom: new Date(cert.validFrom).toISOString(),
    validTo: new Date(cert.validTo).toISOString(),
    fingerprint256: cert.fingerprint256,
  } as TlsCertificate;
  // Not enumerable: the snapshot is served as JSON by the admin API and must never carry private keys.
  Object.defineProperty(certificate, "keyPem", { value: keyPem, enumerable: false });
  return { certificate };
}

function secretValue(secret: Secret, key: string): string | undefined {
  const plain = secret.stringData?.[key];
  if (plain) return plain;
  const encoded = secret.data?.[key];
  if (!encoded) return undefined;
  return Buffer.from(encoded, "base64").toString("utf8");
}
