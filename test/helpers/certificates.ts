// Self-signed certificates for the RTMPS tests, made with the openssl command-line tool.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';

/** A certificate and its key for `commonName`, valid from now for `days`, in `dir`: the PEM bundle HAProxy reads, and its parts. */
export function selfSignedCertificate(dir: string, name: string, opts: { commonName?: string; days?: number } = {}): { bundle: string; cert: string; key: string } {
  const cert = path.join(dir, `${name}.crt`);
  const key = path.join(dir, `${name}.key`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', String(opts.days ?? 2), '-subj', `/CN=${opts.commonName ?? 'rtmp.example.test'}`], { stdio: 'ignore' });
  return { bundle: readFileSync(cert, 'utf8') + readFileSync(key, 'utf8'), cert: readFileSync(cert, 'utf8'), key: readFileSync(key, 'utf8') };
}
