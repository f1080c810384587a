// The RTMPS certificate check (src/haproxy/tls-certificate.ts): what is wrong is said, naming the setting.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { certificateProblem, prepareCertificate } from '../src/haproxy/tls-certificate.js';
import { selfSignedCertificate } from './helpers/certificates.js';

describe('the RTMPS certificate', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'rtmp-proxy-tls-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const one = selfSignedCertificate(dir, 'one');
  const two = selfSignedCertificate(dir, 'two');
  const now = new Date();

  const cases: Array<[string, string, Date, RegExp | undefined]> = [
    ['a certificate with its key', one.bundle, now, undefined],
    ['the key first, then the certificate', one.key + one.cert, now, undefined],
    ['no key', one.cert, now, /no private key in it/],
    ['no certificate', one.key, now, /no certificate in it/],
    ["another certificate's key", one.cert + two.key, now, /private key does not match the certificate \(CN=rtmp\.example\.test\)/],
    ['expired (three days on)', one.bundle, new Date(now.getTime() + 3 * 86_400_000), /certificate expired on \d{4}-/],
    ['not yet valid (a day back)', one.bundle, new Date(now.getTime() - 86_400_000), /not valid before/],
    ['not PEM at all', 'hello', now, /no certificate in it/],
  ];
  for (const [name, pem, at, problem] of cases) {
    test(name, () => {
      const found = certificateProblem(pem, at);
      if (problem === undefined) assert.equal(found, undefined);
      else assert.match(found ?? '', problem);
    });
  }

  test('RTMPS_CERT_FILE is used where it is; RTMPS_CERT (the PEM, from a secret) is written, readable by its owner only', () => {
    const file = path.join(dir, 'bundle.pem');
    writeFileSync(file, one.bundle);
    assert.deepEqual(prepareCertificate({ file }, path.join(dir, 'unused.pem')), { file });
    const written = path.join(dir, 'rtmps.pem');
    assert.deepEqual(prepareCertificate({ pem: one.bundle }, written), { file: written });
    assert.equal(readFileSync(written, 'utf8'), one.bundle);
    assert.equal(statSync(written).mode & 0o777, 0o600);
  });

  test('a problem names the setting (and the file)', () => {
    assert.deepEqual(prepareCertificate({ file: path.join(dir, 'missing.pem') }, 'x'), { variable: 'RTMPS_CERT_FILE', problem: `RTMPS_CERT_FILE=${path.join(dir, 'missing.pem')} cannot be read: ENOENT` });
    const bad = prepareCertificate({ pem: one.cert + two.key }, path.join(dir, 'never.pem'));
    assert.ok('problem' in bad && bad.variable === 'RTMPS_CERT' && /^RTMPS_CERT: its private key does not match/.test(bad.problem), JSON.stringify(bad));
  });
});
