// Shutdown as Fargate does it (SIGTERM → daemon.stop): the health page turns 503 at once, live
// streams keep flowing until they end or SHUTDOWN_GRACE_SECONDS passes, then HAProxy stops.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../src/config.js';
import { startDaemon } from '../src/daemon.js';
import { silentLogger } from '../src/log.js';
import { Cleanup, countProcesses } from './helpers/processes.js';
import { openHeldStream, startTcpBackend } from './helpers/tcp-backends.js';
import { waitFor } from './helpers/wait.js';

const PROXY = '127.0.27.1';
const BACKENDS = ['127.0.27.2', '127.0.27.3'];
const BACKEND_PORT = 19367;

describe('shutdown', () => {
  const cleanup = new Cleanup();
  let root: string;

  before(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'rtmp-proxy-shutdown-'));
    cleanup.defer('temp dir', () => rm(root, { recursive: true, force: true }));
    for (const address of BACKENDS) {
      const backend = await startTcpBackend(address, BACKEND_PORT, { hold: true });
      cleanup.defer(`backend ${address}`, () => backend.close());
    }
  });
  after(() => cleanup.run());

  async function start(name: string, graceSeconds: number, ports: { rtmp: number; health: number }) {
    const dir = path.join(root, name);
    const config = loadConfig({
      DISCOVERY: 'static',
      STATIC_SERVERS: BACKENDS.map((a) => `${a}:${BACKEND_PORT}`).join(','),
      BIND_ADDRESS: PROXY,
      RTMP_PORT: String(ports.rtmp),
      HEALTH_PORT: String(ports.health),
      HAPROXY_CONFIG: path.join(dir, 'haproxy.cfg'),
      HAPROXY_PIDFILE: path.join(dir, 'haproxy.pid'),
      HAPROXY_SOCKET: path.join(dir, 'admin.sock'),
      SHUTDOWN_GRACE_SECONDS: String(graceSeconds),
    });
    const daemon = startDaemon(config, silentLogger());
    cleanup.defer(`daemon ${name}`, () => daemon.stop({ stopHaproxy: true }));
    const first = await daemon.firstSync;
    assert.ok(first.ok, 'first sync');
    const health = async () => (await fetch(`http://${PROXY}:${ports.health}/`)).status;
    assert.equal(await health(), 200);
    return { daemon, dir, health };
  }

  test('health 503 at once; a live stream keeps flowing; HAProxy stops as soon as it ends', async () => {
    const ports = { rtmp: 19368, health: 18008 };
    const { daemon, dir, health } = await start('ends', 60, ports);
    const stream = await openHeldStream(PROXY, ports.rtmp);
    const stopped = daemon.stop({ stopHaproxy: true });
    let done = false;
    void stopped.then(() => (done = true));

    await waitFor(async () => (await health()) === 503, { timeoutMs: 5000, what: 'the health page to answer 503' });
    assert.ok(await stream.alive(), 'the live stream still flows after the 503');
    assert.equal(done, false, 'the daemon waits for the stream');
    assert.equal(await countProcesses('haproxy', { cmdlineIncludes: dir }), 2);

    const endedAt = Date.now();
    await stream.close();
    await stopped;
    assert.ok(Date.now() - endedAt < 30_000, 'stopped once the stream ended, well inside the 60 s grace');
    assert.equal(await countProcesses('haproxy', { cmdlineIncludes: dir }), 0, 'HAProxy is gone');
  });

  test('a stream that outlasts SHUTDOWN_GRACE_SECONDS is cut when the grace ends', async () => {
    const ports = { rtmp: 19369, health: 18009 };
    const { daemon, dir } = await start('outlasts', 1, ports);
    const stream = await openHeldStream(PROXY, ports.rtmp);
    await daemon.stop({ stopHaproxy: true });
    assert.equal(await countProcesses('haproxy', { cmdlineIncludes: dir }), 0);
    assert.equal(await stream.alive(500), false, 'the stream was cut at the end of the grace');
  });
});
