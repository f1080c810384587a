// RTMPS end to end (issue 18): TLS ends in HAProxy, the Servers get plain RTMP. Real ffmpeg pushes
// rtmps:// with a certificate this test makes; plain RTMP goes on alongside; a TLS client that never
// finishes its handshake takes no Server; a bad certificate is an error naming the setting, and the
// Proxy serves plain RTMP without the RTMPS port.
import assert from 'node:assert/strict';
import { statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startRtmpServers, type RtmpServer } from '../dev/media/rtmp-server.js';
import { loadConfig } from '../src/config.js';
import { startDaemon } from '../src/daemon.js';
import { selfSignedCertificate } from './helpers/certificates.js';
import { tempDir } from './helpers/fixtures.js';
import { capturingLogger } from './helpers/logs.js';
import { Cleanup, within } from './helpers/processes.js';
import { startPublisher } from './helpers/publisher.js';
import { tcpConnectable, waitFor } from './helpers/wait.js';

const SERVERS = ['127.0.56.11', '127.0.56.12', '127.0.56.13'];
const SERVER_PORT = 19470;
const STAT_PORT = 18470;
const PROXY = { address: '127.0.56.1', rtmp: 19471, health: 19472, rtmps: 19473 };

describe('RTMPS: TLS in HAProxy, plain RTMP to the Servers', { timeout: 180_000 }, () => {
  const cleanup = new Cleanup();
  let servers: RtmpServer[];
  let dir: string;
  let bundle: { bundle: string; cert: string; key: string };
  const publishing = async () => (await Promise.all(servers.map((s) => s.stats()))).flatMap((s) => s.publishing);

  const start = (name: string, env: Record<string, string>) => {
    const { logger, lines } = capturingLogger();
    const config = loadConfig({
      DISCOVERY: 'static',
      STATIC_SERVERS: SERVERS.map((a) => `${a}:${SERVER_PORT}`).join(','),
      BIND_ADDRESS: PROXY.address,
      RTMP_PORT: String(PROXY.rtmp),
      HEALTH_PORT: String(PROXY.health),
      RTMPS_PORT: String(PROXY.rtmps),
      HAPROXY_CONFIG: path.join(dir, name, 'haproxy.cfg'),
      HAPROXY_PIDFILE: path.join(dir, name, 'haproxy.pid'),
      HAPROXY_SOCKET: path.join(dir, name, 'admin.sock'),
      METRICS_PORT: 'off',
      SHUTDOWN_GRACE_SECONDS: '0',
      ...env,
    });
    const daemon = startDaemon(config, logger);
    cleanup.defer(`daemon ${name}`, () => daemon.stop({ stopHaproxy: true }));
    return { daemon, lines };
  };

  before(async () => {
    dir = await tempDir(cleanup, 'rtmps');
    for (const name of ['good', 'bad', 'pem']) await import('node:fs/promises').then((fs) => fs.mkdir(path.join(dir, name)));
    bundle = selfSignedCertificate(dir, 'proxy');
    writeFileSync(path.join(dir, 'proxy.pem'), bundle.bundle);
    servers = await startRtmpServers(SERVERS, { port: SERVER_PORT, statPort: STAT_PORT, workDir: path.join(dir, 'servers') });
    cleanup.defer('servers', () => Promise.all(servers.map((s) => s.stop())));
  });
  after(() => cleanup.run());

  test('ffmpeg pushes rtmps:// and plain rtmp:// at once; a TLS client that never finishes takes no Server', async () => {
    const { daemon } = start('good', { RTMPS_CERT_FILE: path.join(dir, 'proxy.pem') });
    assert.ok((await daemon.firstSync).ok);
    // A TLS client that opens and never sends its ClientHello, and one that sends a partial one.
    const stalled = [net.connect(PROXY.rtmps, PROXY.address), net.connect(PROXY.rtmps, PROXY.address)];
    for (const s of stalled) {
      s.on('error', () => undefined);
      cleanup.defer('stalled TLS client', () => void s.destroy());
    }
    stalled[1]!.on('connect', () => stalled[1]!.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00])));
    const secure = startPublisher(`rtmps://${PROXY.address}:${PROXY.rtmps}/stream/secure`);
    const plain = startPublisher(`rtmp://${PROXY.address}:${PROXY.rtmp}/stream/plain`);
    cleanup.defer('publishers', () => Promise.all([secure.stop(), plain.stop()]));
    await waitFor(
      async () => {
        for (const p of [secure, plain]) if (!p.running()) throw new Error(`ffmpeg exited: ${p.stderrTail().slice(-400)}`);
        const keys = await publishing();
        return keys.includes('secure') && keys.includes('plain');
      },
      { timeoutMs: 30_000, intervalMs: 250, what: 'both streams publishing' },
    );
    const busy = (await daemon.driver.backend()).servers.filter((s) => s.sessions > 0).length;
    assert.equal(busy, 2, 'two Servers carry the two streams; the stalled TLS clients took none');
    assert.equal((await fetch(`http://${PROXY.address}:${PROXY.health}/`)).status, 200);
    await daemon.stop({ stopHaproxy: true });
  });

  test('RTMPS_CERT (the PEM, as ECS injects a secret): written beside the admin socket, readable by its owner only', async () => {
    const { daemon, lines } = start('pem', { RTMPS_CERT: bundle.bundle });
    assert.ok((await daemon.firstSync).ok);
    assert.equal(statSync(path.join(dir, 'pem', 'rtmps.pem')).mode & 0o777, 0o600);
    assert.ok(lines.some((l) => l.msg === 'RTMPS on: TLS ends in HAProxy, the Servers get plain RTMP'));
    await waitFor(() => tcpConnectable(PROXY.address, PROXY.rtmps), { timeoutMs: 5000, what: 'the RTMPS port' });
    await daemon.stop({ stopHaproxy: true });
  });

  test('a certificate whose key does not match: an error naming RTMPS_CERT_FILE, and plain RTMP serves without the RTMPS port', async () => {
    const mismatched = path.join(dir, 'mismatched.pem');
    writeFileSync(mismatched, bundle.cert + selfSignedCertificate(dir, 'other').key);
    const { daemon, lines } = start('bad', { RTMPS_CERT_FILE: mismatched });
    assert.ok((await daemon.firstSync).ok, 'the Proxy runs');
    const error = lines.find((l) => l.level === 50 && typeof l.msg === 'string' && l.msg.startsWith('RTMPS off'));
    assert.ok(error, 'an error line');
    assert.equal(error.variable, 'RTMPS_CERT_FILE');
    assert.match(error.msg as string, /RTMPS_CERT_FILE=.*mismatched\.pem: its private key does not match the certificate/);
    assert.equal(await tcpConnectable(PROXY.address, PROXY.rtmps), false, 'no RTMPS port');
    const plain = startPublisher(`rtmp://${PROXY.address}:${PROXY.rtmp}/stream/still`);
    cleanup.defer('plain publisher', () => plain.stop());
    await waitFor(async () => (await publishing()).includes('still'), { timeoutMs: 30_000, intervalMs: 250, what: 'plain RTMP publishing' });
    assert.ok(await within(plain.stop(), 10_000));
  });
});
