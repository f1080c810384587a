// The sync against a real HAProxy (reload path): start, no-op on an unchanged fleet, graceful reloads
// that refuse no connection, and bad configs or failed discoveries that never replace the running one.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadConfig, type Config } from '../src/config.js';
import { DiscoveryError, type Discovery } from '../src/discovery/types.js';
import { HaproxyDriver } from '../src/haproxy/driver.js';
import type { HaproxyProcess } from '../src/haproxy/process.js';
import { silentLogger } from '../src/log.js';
import { serverNameForAddress, type Server } from '../src/model.js';
import { createSyncer, type Syncer } from '../src/sync.js';
import { Cleanup } from './helpers/processes.js';
import { proxyEnv, startBackends, tempDir } from './helpers/fixtures.js';
import { connectLoop, greetingVia } from './helpers/tcp-backends.js';
import { waitFor } from './helpers/wait.js';

const PROXY = '127.0.20.1';
const RTMP_PORT = 19351;
const HEALTH_PORT = 18001;
const BACKEND_PORT = 19360;
const BACKENDS = ['127.0.20.2', '127.0.20.3', '127.0.20.4', '127.0.20.5'];

/** A fleet the test changes between syncs; `failWith` makes the next discoveries fail. */
class TestFleet implements Discovery {
  servers: Server[] = [];
  failWith: Error | undefined;
  set(addresses: string[]) {
    this.servers = addresses.map((address) => ({ name: serverNameForAddress(address, BACKEND_PORT), address, port: BACKEND_PORT }));
  }
  async discover() {
    if (this.failWith) throw this.failWith;
    return { servers: [...this.servers], skipped: [] };
  }
}

describe('sync against a real HAProxy (APPLY_MODE=reload)', () => {
  const cleanup = new Cleanup();
  let dir: string;
  let config: Config;
  let haproxy: HaproxyProcess;
  const fleet = new TestFleet();
  let syncer: Syncer;
  let clock = Date.now();

  before(async () => {
    dir = await tempDir(cleanup, 'sync');
    config = loadConfig({
      DISCOVERY: 'static',
      STATIC_SERVERS: '127.0.0.1:1',
      APPLY_MODE: 'reload',
      // The connect loop below opens hundreds of connections a second from one address.
      SOURCE_MAX_CONNECT_RATE: 'off',
      ...proxyEnv(dir, { address: PROXY, rtmp: RTMP_PORT, health: HEALTH_PORT }),
    });
    haproxy = HaproxyDriver.fromConfig(config, silentLogger()).process;
    cleanup.defer('haproxy', () => haproxy.stop());
    await startBackends(cleanup, BACKENDS, BACKEND_PORT);
    // The test's own clock: it stands still unless the test moves it (past the backoff after a failed discovery).
    syncer = createSyncer(config, silentLogger(), fleet, { now: () => clock });
  });
  after(() => cleanup.run());

  test('the first sync validates, writes and starts HAProxy; streams route and the health page answers', async () => {
    fleet.set(BACKENDS.slice(0, 2));
    const outcome = await syncer.sync();
    assert.ok(outcome.ok, `sync failed: ${!outcome.ok && outcome.error.message}`);
    assert.equal(outcome.action, 'started');
    assert.deepEqual(outcome.added, fleet.servers.map((s) => s.name).sort());
    await haproxy.validate(config.haproxyConfig); // the live file is a valid config

    const reached = new Set<string>();
    for (let i = 0; i < 4; i++) reached.add(await greetingVia(PROXY, RTMP_PORT));
    assert.deepEqual([...reached].sort(), BACKENDS.slice(0, 2), 'round robin over both Servers');

    const res = await fetch(`http://${PROXY}:${HEALTH_PORT}/`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), await readFile(config.healthPage, 'utf8'));
  });

  test('an unchanged fleet touches nothing: no write, no reload', async () => {
    const before = await haproxy.masterStatus();
    const fileBefore = await readFile(config.haproxyConfig, 'utf8');
    const outcome = await syncer.sync();
    assert.ok(outcome.ok);
    assert.equal(outcome.action, 'none');
    assert.deepEqual([outcome.added, outcome.removed], [[], []]);
    assert.equal((await haproxy.masterStatus()).reloads, before.reloads);
    assert.equal(await readFile(config.haproxyConfig, 'utf8'), fileBefore);
  });

  test('reloads with a changing fleet refuse no connection while a connect loop runs', async () => {
    const before = await haproxy.masterStatus();
    const changes = [BACKENDS.slice(0, 3), BACKENDS.slice(1, 4), BACKENDS, BACKENDS.slice(0, 2), BACKENDS.slice(2), BACKENDS];
    const applying = (async () => {
      for (const addresses of changes) {
        fleet.set(addresses);
        const outcome = await syncer.sync();
        assert.ok(outcome.ok, `sync failed: ${!outcome.ok && outcome.error.message}`);
        assert.equal(outcome.action, 'reloaded');
      }
    })();
    const loop = await connectLoop(PROXY, RTMP_PORT, applying);
    await applying;
    assert.ok(loop.attempts >= changes.length, `the loop ran (${loop.attempts} connects)`);
    assert.equal(loop.failures, 0, `refused or failed connections during reloads: ${loop.errors.join('; ')}`);
    assert.equal((await haproxy.masterStatus()).reloads, before.reloads + changes.length);
    // The new member gets traffic: every Server of the final fleet is reached.
    const reached = new Set<string>();
    await waitFor(
      async () => {
        reached.add(await greetingVia(PROXY, RTMP_PORT));
        return reached.size === BACKENDS.length;
      },
      { timeoutMs: 10_000, intervalMs: 10, what: 'every Server of the fleet to be reached' },
    );
  });

  test('a config that fails haproxy -c is never applied; the error names the file and line', async () => {
    const custom = path.join(dir, 'broken.cfg.ejs');
    const good = await readFile(config.haproxyTemplate, 'utf8');
    await writeFile(custom, good.replace('balance roundrobin', 'balance roundrobin\n  no-such-directive 1'));
    const brokenSyncer = createSyncer({ ...config, haproxyTemplate: custom }, silentLogger(), fleet);
    const fileBefore = await readFile(config.haproxyConfig, 'utf8');
    const statusBefore = await haproxy.masterStatus();
    fleet.set(BACKENDS.slice(0, 1));

    const outcome = await brokenSyncer.sync();
    assert.equal(outcome.ok, false);
    assert.ok(!outcome.ok);
    assert.equal(outcome.stage, 'validate');
    assert.match(outcome.error.message, /no-such-directive/);
    assert.match(outcome.error.message, /\.tmp:\d+\]/, 'names the file and line HAProxy rejected');
    assert.equal(await readFile(config.haproxyConfig, 'utf8'), fileBefore, 'the live file is untouched');
    assert.equal((await haproxy.masterStatus()).reloads, statusBefore.reloads, 'no reload');
    assert.ok(await greetingVia(PROXY, RTMP_PORT), 'HAProxy still routes');
  });

  test('a failed discovery keeps the running config and fleet', async () => {
    const fileBefore = await readFile(config.haproxyConfig, 'utf8');
    const fleetBefore = syncer.lastKnownGood.map((s) => s.name);
    const serversBefore = fleet.servers;
    fleet.failWith = new DiscoveryError('Rate exceeded', 'ThrottlingException');
    fleet.set([]); // what a failed discovery must not be taken for
    try {
      const outcome = await syncer.sync();
      assert.ok(!outcome.ok);
      assert.equal(outcome.stage, 'discovery');
      assert.equal(outcome.code, 'ThrottlingException');
    } finally {
      fleet.failWith = undefined;
      fleet.servers = serversBefore;
    }
    assert.equal(await readFile(config.haproxyConfig, 'utf8'), fileBefore);
    assert.deepEqual(syncer.lastKnownGood.map((s) => s.name), fleetBefore);
    assert.ok(await greetingVia(PROXY, RTMP_PORT));
  });

  test('a sudden drop of the fleet waits for the next sync to confirm it; a confirmed scale-in applies', async () => {
    clock += 10 * 60_000; // past the backoff of the failed discovery before
    fleet.set(BACKENDS);
    assert.ok((await syncer.sync()).ok);
    fleet.set(BACKENDS.slice(0, 1)); // 4 → 1: more than MAX_DROP_PERCENT (50)
    const held = await syncer.sync();
    assert.ok(held.ok);
    assert.deepEqual(held.dropHeld, { from: 4, to: 1, maxDropPercent: 50 });
    assert.equal(held.action, 'none');
    assert.equal(syncer.lastKnownGood.length, 4, 'still the last known-good fleet');
    const confirmed = await syncer.sync();
    assert.ok(confirmed.ok);
    assert.equal(confirmed.dropHeld, undefined);
    assert.equal(confirmed.action, 'reloaded');
    assert.equal(confirmed.removed.length, 3);
    // An empty answer is a drop like any other: held once, then applied (scale to zero is real).
    fleet.set([]);
    assert.ok((await syncer.sync()).ok);
    assert.equal(syncer.lastKnownGood.length, 1);
    const zero = await syncer.sync();
    assert.ok(zero.ok);
    assert.equal(zero.servers, 0);
    fleet.set(BACKENDS);
    assert.ok((await syncer.sync()).ok);
  });

  test('HAProxy gone: started again with the last config while discovery backs off, and by the next sync', async () => {
    fleet.failWith = new DiscoveryError('Rate exceeded', 'ThrottlingException');
    assert.equal((await syncer.sync()).ok, false);
    fleet.failWith = undefined;
    const fileBefore = await readFile(config.haproxyConfig, 'utf8');
    await haproxy.stop();
    assert.equal(await haproxy.runningPid(), undefined);
    const backingOff = await syncer.sync();
    assert.ok(!backingOff.ok);
    assert.equal(backingOff.stage, 'backoff', 'the failed discovery before is still backing off');
    assert.ok(await haproxy.runningPid(), 'HAProxy runs again');
    assert.equal(await readFile(config.haproxyConfig, 'utf8'), fileBefore, 'with the last known-good config');
    assert.ok(BACKENDS.includes(await greetingVia(PROXY, RTMP_PORT)));

    await haproxy.stop();
    clock += 10 * 60_000; // past any backoff
    const outcome = await syncer.sync();
    assert.ok(outcome.ok);
    assert.equal(outcome.action, 'started');
    assert.ok(BACKENDS.includes(await greetingVia(PROXY, RTMP_PORT)));
  });
});
