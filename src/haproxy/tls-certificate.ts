/**
 * RTMPS: the certificate HAProxy terminates TLS with (RTMPS_CERT_FILE, or RTMPS_CERT: the PEM itself,
 * as ECS injects a Secrets Manager secret). Checked before HAProxy sees it — present, a certificate
 * and its private key, the key matching, in its validity period — so a bad one is a clear error at
 * start naming the setting, and plain RTMP keeps serving without the RTMPS frontend.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';

const CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;
const PRIVATE_KEY = /-----BEGIN (?:RSA |EC |ENCRYPTED )?PRIVATE KEY-----[\s\S]+?-----END (?:RSA |EC |ENCRYPTED )?PRIVATE KEY-----/;

/** What is wrong with a PEM bundle (certificate chain + private key) at `now`; undefined when it is fine. */
export function certificateProblem(pem: string, now: Date): string | undefined {
  const certificates = pem.match(CERTIFICATE) ?? [];
  if (certificates.length === 0) return 'no certificate in it (PEM: -----BEGIN CERTIFICATE-----)';
  const keyText = PRIVATE_KEY.exec(pem)?.[0];
  if (keyText === undefined) return 'no private key in it (PEM: -----BEGIN PRIVATE KEY-----); HAProxy wants the certificate and its key in one file';
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(certificates[0]!);
  } catch (e) {
    return `its certificate does not parse: ${(e as Error).message}`;
  }
  let matches: boolean;
  try {
    matches = certificate.checkPrivateKey(createPrivateKey(keyText));
  } catch (e) {
    return `its private key does not parse (an encrypted key cannot be used): ${(e as Error).message}`;
  }
  if (!matches) return `its private key does not match the certificate (${certificate.subject.replace(/\n/g, ', ')})`;
  if (new Date(certificate.validTo) < now) return `its certificate expired on ${new Date(certificate.validTo).toISOString()}`;
  if (new Date(certificate.validFrom) > now) return `its certificate is not valid before ${new Date(certificate.validFrom).toISOString()}`;
  return undefined;
}

/** The PEM of RTMPS_CERT_FILE or RTMPS_CERT and what is wrong with it, naming the setting; nothing is written. */
export function checkCertificateSource(source: { file?: string; pem?: string }, now = new Date()): { pem: string } | { problem: string; variable: string } {
  const variable = source.file !== undefined ? 'RTMPS_CERT_FILE' : 'RTMPS_CERT';
  let pem: string;
  if (source.file !== undefined) {
    try {
      pem = readFileSync(source.file, 'utf8');
    } catch (e) {
      return { variable, problem: `RTMPS_CERT_FILE=${source.file} cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` };
    }
  } else {
    pem = source.pem ?? '';
  }
  const problem = certificateProblem(pem, now);
  return problem === undefined ? { pem } : { variable, problem: `${variable}${source.file !== undefined ? `=${source.file}` : ''}: ${problem}` };
}

/**
 * The file HAProxy reads: RTMPS_CERT_FILE as it is, or RTMPS_CERT written to `writeTo` (mode 600).
 * `{ problem }` names the setting and says what is wrong.
 */
export function prepareCertificate(source: { file?: string; pem?: string }, writeTo: string, now = new Date()): { file: string } | { problem: string; variable: string } {
  const checked = checkCertificateSource(source, now);
  if ('problem' in checked) return checked;
  if (source.file !== undefined) return { file: source.file };
  writeFileSync(writeTo, checked.pem.endsWith('\n') ? checked.pem : `${checked.pem}\n`, { mode: 0o600 });
  chmodSync(writeTo, 0o600);
  return { file: writeTo };
}
