// The health page tells Route53 the truth: 200 only after the daemon's first successful sync and
// while a Server is free. Shutdown as Fargate does it (SIGTERM → daemon.stop): 503 at once, live
// streams keep flowing until they end or SHUTDOWN_GRACE_SECONDS passes, then HAProxy stops.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../src/config.js';
import { DiscoveryError, type Discovery } from '../src/discovery/types.js';
import { startDaemon } from '../src/daemon.js';
import { silentLogger } from '../src/log.js';
import { Cleanup, countProcesses } from './helpers/processes.js';
import { openHeldStream, startTcpBackend } from './helpers/tcp-backends.js';
import { waitFor } from './helpers/wait.js';

const PROXY = '127.0.27.1';
const BACKENDS = ['127.0.27.2', '127.0.27.3'];
const BACKEND_PORT = 19367;

describe('health page and shutdown', () => {
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

  async function start(name: string, graceSeconds: number, ports: { rtmp: number; health: number }, extra: Record<string, string> = {}, discovery?: Discovery) {
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
      ...extra,
    });
    const daemon = startDaemon(config, silentLogger(), discovery);
    cleanup.defer(`daemon ${name}`, () => daemon.stop({ stopHaproxy: true }));
    const first = await daemon.firstSync;
    const health = async (page = '/') => (await fetch(`http://${PROXY}:${ports.health}${page}`)).status;
    if (!discovery) {
      assert.ok(first.ok, 'first sync');
      assert.equal(await health(), 200);
    }
    return { daemon, dir, health, config };
  }

  test('503 while no Server is free, 200 as soon as one is; /live answers 200 throughout', async () => {
    const ports = { rtmp: 19373, health: 18013 };
    const { daemon, health } = await start('capacity', 1, ports);
    const streams = [await openHeldStream(PROXY, ports.rtmp), await openHeldStream(PROXY, ports.rtmp)];
    assert.deepEqual(streams.map((s) => s.server).sort(), BACKENDS);
    assert.equal(await health(), 503, 'both Servers busy: no capacity');
    assert.equal(await health('/live'), 200, 'the container is alive all the same');
    await streams[0]!.close();
    await waitFor(async () => (await health()) === 200, { timeoutMs: 5000, what: 'the health page to answer 200 once a Server is free' });
    await streams[1]!.close();
    await daemon.stop({ stopHaproxy: true });
  });

  test('HEALTH_REQUIRE_CAPACITY=false: 200 even when every Server is busy', async () => {
    const ports = { rtmp: 19374, health: 18014 };
    const { daemon, health } = await start('no-capacity-check', 1, ports, { HEALTH_REQUIRE_CAPACITY: 'false' });
    const streams = [await openHeldStream(PROXY, ports.rtmp), await openHeldStream(PROXY, ports.rtmp)];
    assert.equal(await health(), 200);
    for (const s of streams) await s.close();
    await daemon.stop({ stopHaproxy: true });
  });

  test('503 until the daemon’s first successful sync, even with HAProxy up from before', async () => {
    const ports = { rtmp: 19375, health: 18015 };
    const before = await start('first-sync', 1, ports);
    await before.daemon.stop(); // the daemon goes, HAProxy stays (a daemon restart)
    assert.equal(await before.health(), 200);
    let fail = true;
    const flaky: Discovery = {
      discover: async () => {
        if (fail) throw new DiscoveryError('Rate exceeded', 'ThrottlingException');
        return { servers: BACKENDS.map((a) => ({ name: `static-${a}-${BACKEND_PORT}`, address: a, port: BACKEND_PORT })), skipped: [] };
      },
    };
    const { daemon, health } = await start('first-sync', 1, ports, {}, flaky);
    assert.equal((await daemon.firstSync).ok, false);
    assert.equal(await health(), 503, 'no successful sync yet');
    fail = false;
    await waitFor(async () => (await daemon.syncer.sync()).ok, { timeoutMs: 10_000, intervalMs: 200, what: 'a successful sync after the backoff' });
    assert.equal(await health(), 200);
    await daemon.stop({ stopHaproxy: true });
  });


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
