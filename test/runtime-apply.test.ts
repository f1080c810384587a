// APPLY_MODE=runtime against a real HAProxy: membership changes through the admin socket without a
// reload, drains that never cut a live connection, and reloads that keep busy Servers out of rotation.
import assert from 'node:assert/strict';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadConfig, type Config } from '../src/config.js';
import type { Discovery } from '../src/discovery/types.js';
import { HaproxyDriver } from '../src/haproxy/driver.js';
import type { HaproxyProcess } from '../src/haproxy/process.js';
import { RuntimeApi } from '../src/haproxy/runtime-api.js';
import { silentLogger } from '../src/log.js';
import { serverNameForAddress, type Server } from '../src/model.js';
import { createSyncer, type Syncer } from '../src/sync.js';
import type { SyncOutcome } from '../src/model.js';
import { Cleanup, countProcesses } from './helpers/processes.js';
import { proxyEnv, startBackends, tempDir } from './helpers/fixtures.js';
import { connectLoop, openHeldStream, type HeldStream } from './helpers/tcp-backends.js';
import { waitFor } from './helpers/wait.js';

const PROXY = '127.0.21.1';
const RTMP_PORT = 19352;
const HEALTH_PORT = 18002;
const BACKEND_PORT = 19361;
const BACKENDS = ['127.0.21.2', '127.0.21.3', '127.0.21.4', '127.0.21.5'];
const name = (address: string) => serverNameForAddress(address, BACKEND_PORT);

class TestFleet implements Discovery {
  servers: Server[] = [];
  set(addresses: string[]) {
    this.servers = addresses.map((address) => ({ name: name(address), address, port: BACKEND_PORT }));
  }
  async discover() {
    return { servers: [...this.servers], skipped: [] };
  }
}

function ok(outcome: SyncOutcome): Extract<SyncOutcome, { ok: true }> {
  assert.ok(outcome.ok, `sync failed: ${!outcome.ok && `${outcome.stage}: ${outcome.error.message}`}`);
  return outcome;
}

describe('APPLY_MODE=runtime against a real HAProxy', () => {
  const cleanup = new Cleanup();
  const fleet = new TestFleet();
  let dir: string;
  let config: Config;
  let haproxy: HaproxyProcess;
  let api: RuntimeApi;
  let syncer: Syncer;
  const streams: HeldStream[] = [];

  /** Every Server's sessions as HAProxy's current worker counts them. */
  const sessions = async () => Object.fromEntries((await api.servers('bk_rtmp')).map((s) => [s.name, s.sessions]));
  const haproxyProcesses = () => countProcesses('haproxy', { cmdlineIncludes: dir });

  before(async () => {
    dir = await tempDir(cleanup, 'runtime');
    config = loadConfig({
      DISCOVERY: 'static',
      STATIC_SERVERS: '127.0.0.1:1',
      APPLY_MODE: 'runtime',
      // The connect loop below opens hundreds of connections a second from one address.
      SOURCE_MAX_CONNECT_RATE: 'off',
      ...proxyEnv(dir, { address: PROXY, rtmp: RTMP_PORT, health: HEALTH_PORT }),
    });
    haproxy = HaproxyDriver.fromConfig(config, silentLogger()).process;
    cleanup.defer('haproxy', () => haproxy.stop());
    cleanup.defer('streams', () => Promise.all(streams.map((s) => s.close())));
    await startBackends(cleanup, BACKENDS, BACKEND_PORT, { hold: true });
    api = new RuntimeApi(config.haproxySocket);
    syncer = createSyncer(config, process.env.TEST_LOG ? (await import('../src/log.js')).createLogger('debug') : silentLogger(), fleet);
  });
  after(() => cleanup.run());

  test('first sync starts HAProxy; a new Server joins through the Runtime API without a reload', async () => {
    fleet.set(BACKENDS.slice(0, 2));
    assert.equal(ok(await syncer.sync()).action, 'started');
    const reloads = (await haproxy.masterStatus()).reloads;

    fleet.set(BACKENDS.slice(0, 3));
    const outcome = ok(await syncer.sync());
    assert.equal(outcome.action, 'runtime');
    assert.deepEqual(outcome.changes?.added, [name(BACKENDS[2]!)]);
    assert.equal((await haproxy.masterStatus()).reloads, reloads, 'no reload');
    assert.deepEqual(Object.keys(await sessions()).sort(), BACKENDS.slice(0, 3).map(name).sort());

    // The file on disk lists what runs, so a restart would lose nothing.
    const file = await readFile(config.haproxyConfig, 'utf8');
    for (const a of BACKENDS.slice(0, 3)) assert.match(file, new RegExp(`server ${name(a)} ${a}:${BACKEND_PORT} check maxconn 1 weight 10\\n`));
    await haproxy.validate(config.haproxyConfig);

    // Three long-lived streams land on three different Servers (maxconn 1 holds in one worker).
    for (let i = 0; i < 3; i++) streams.push(await openHeldStream(PROXY, RTMP_PORT));
    assert.deepEqual(streams.map((s) => s.server).sort(), BACKENDS.slice(0, 3));
    assert.equal(ok(await syncer.sync()).action, 'none', 'an unchanged fleet touches nothing');
  });

  test('a busy Server that leaves the fleet is drained: its stream keeps flowing, then it is deleted', async () => {
    const busy = streams[0]!;
    fleet.set(BACKENDS.filter((a) => a !== busy.server));
    const outcome = ok(await syncer.sync());
    assert.equal(outcome.action, 'runtime');
    assert.deepEqual(outcome.changes?.disabled, [name(busy.server)]);
    assert.deepEqual(outcome.draining, [name(busy.server)]);
    assert.ok(await busy.alive(), 'the drained stream still flows');
    assert.match(await readFile(config.haproxyConfig, 'utf8'), new RegExp(`server ${name(busy.server)} .* disabled\\n`));

    // New streams never reach the draining Server; the new Server takes one.
    const fresh = await openHeldStream(PROXY, RTMP_PORT);
    streams.push(fresh);
    assert.equal(fresh.server, BACKENDS[3]);
    assert.ok(await busy.alive());

    // Still draining on the next tick; deleted once its stream ends.
    assert.deepEqual(ok(await syncer.sync()).draining, [name(busy.server)]);
    await busy.close();
    streams.shift();
    await waitFor(async () => (await sessions())[name(busy.server)] === 0, { timeoutMs: 5000, what: 'the drained stream to be gone' });
    const deleted = ok(await syncer.sync());
    assert.deepEqual(deleted.changes?.deleted, [name(busy.server)]);
    assert.equal((await sessions())[name(busy.server)], undefined);
    assert.doesNotMatch(await readFile(config.haproxyConfig, 'utf8'), new RegExp(name(busy.server)));
  });

  test('a reload (template change) keeps Servers busy in the old worker out of rotation until their streams end', async () => {
    for (const s of streams.splice(0)) await s.close();
    fleet.set(BACKENDS);
    ok(await syncer.sync());
    const live = await openHeldStream(PROXY, RTMP_PORT);
    streams.push(live);

    const custom = path.join(dir, 'custom.cfg.ejs');
    await writeFile(custom, (await readFile(config.haproxyTemplate, 'utf8')).replace('timeout queue 10s', 'timeout queue 11s'));
    const reloading = createSyncer({ ...config, haproxyTemplate: custom }, silentLogger(), fleet);
    const outcome = ok(await reloading.sync());
    assert.equal(outcome.action, 'reloaded');
    assert.equal((await haproxy.masterStatus()).oldWorkerPids.length, 1, 'the old worker still carries the stream');
    assert.ok(await live.alive(), 'the live stream survived the reload');

    // The new worker sees the busy Server in maintenance: three more streams go to the three others.
    const busyName = name(live.server);
    assert.equal((await api.servers('bk_rtmp')).find((s) => s.name === busyName)?.maintenance, true);
    for (let i = 0; i < 3; i++) streams.push(await openHeldStream(PROXY, RTMP_PORT));
    assert.deepEqual(streams.slice(1).map((s) => s.server).sort(), BACKENDS.filter((a) => a !== live.server).sort());
    const held = ok(await reloading.sync());
    assert.deepEqual(held.held, [{ name: busyName, reason: 'busy-in-old-worker' }]);

    // The stream ends in the old worker: the Server is back in rotation at the next sync.
    await live.close();
    streams.shift();
    await waitFor(async () => (await haproxy.masterStatus()).oldWorkerPids.length === 0, { timeoutMs: 10_000, what: 'the old worker to exit' });
    const back = ok(await reloading.sync());
    assert.deepEqual(back.changes?.enabled, [busyName]);
    const next = await openHeldStream(PROXY, RTMP_PORT);
    streams.push(next);
    assert.equal(next.server, live.server, 'the freed Server takes the next stream');
    for (const s of streams.splice(0)) await s.close();
  });

  test('20 membership changes: one HAProxy master and one worker, no refused connection, no reload', async () => {
    assert.equal(ok(await syncer.sync()).action, 'reloaded', 'back to the default template: a reload');
    await waitFor(async () => (await haproxy.masterStatus()).oldWorkerPids.length === 0, { timeoutMs: 10_000, what: 'old workers to exit' });
    const reloads = (await haproxy.masterStatus()).reloads;
    const applying = (async () => {
      for (let i = 0; i < 20; i++) {
        fleet.set(BACKENDS.filter((_, j) => j !== i % BACKENDS.length));
        const outcome = ok(await syncer.sync());
        assert.equal(outcome.action, 'runtime', `change ${i}`);
      }
    })();
    const greeting = connectLoop(PROXY, RTMP_PORT, applying);
    await applying;
    const loop = await greeting;
    assert.equal(loop.failures, 0, `failed connections: ${loop.errors.join('; ')}`);
    assert.equal((await haproxy.masterStatus()).reloads, reloads, 'no reload');
    assert.equal(await haproxyProcesses(), 2, 'one master and one worker');
  });

  test('the admin socket gone: membership still changes, through the master CLI, without a reload', async () => {
    // Settle first: a Server the connect loop still used at the last change may be draining.
    await waitFor(async () => ok(await syncer.sync()).action === 'none', { timeoutMs: 10_000, what: 'the backend to settle' });
    const reloads = (await haproxy.masterStatus()).reloads;
    await rm(config.haproxySocket);
    fleet.set(BACKENDS.slice(0, 2));
    const outcome = ok(await syncer.sync());
    assert.equal(outcome.action, 'runtime');
    assert.equal(outcome.changes?.deleted.length, 1);
    const [worker] = (await haproxy.masterStatus()).workerPids;
    assert.deepEqual((await RuntimeApi.viaMaster(config.haproxyMasterSocket, worker!).servers('bk_rtmp')).map((s) => s.name).sort(), BACKENDS.slice(0, 2).map(name).sort());
    assert.equal(ok(await syncer.sync()).action, 'none');
    assert.equal((await haproxy.masterStatus()).reloads, reloads, 'no reload');
  });

  test('a restarted daemon starts from what HAProxy runs: its first sync reports real changes only', async () => {
    await waitFor(async () => ok(await syncer.sync()).action === 'none', { timeoutMs: 10_000, what: 'the backend to settle' });
    const restarted = createSyncer(config, silentLogger(), fleet);
    const same = ok(await restarted.sync());
    assert.deepEqual([same.action, same.added, same.removed], ['none', [], []]);
    const another = createSyncer(config, silentLogger(), fleet);
    const before = fleet.servers.map((s) => s.address);
    fleet.set([...before, BACKENDS.find((a) => !before.includes(a))!]);
    const grown = ok(await another.sync());
    assert.equal(grown.added.length, 1, 'only the new Server counts as added');
    assert.deepEqual(grown.changes?.added, grown.added);
  });

  test('a stale pidfile naming another program is not taken for HAProxy', async () => {
    const pidfile = path.join(dir, 'stale.pid');
    await writeFile(pidfile, `${process.pid}\n`); // this test runner: alive, not HAProxy
    const stale = HaproxyDriver.fromConfig({ ...config, haproxyPidfile: pidfile }, silentLogger()).process;
    assert.equal(await stale.runningPid(), undefined);
    assert.ok(await haproxy.runningPid(), 'the real one is recognised');
  });

  test('SERVER_SEND_PROXY: every server line and every added server sends the PROXY header, health checks too', async () => {
    const withProxy = createSyncer({ ...config, serverSendProxy: true }, silentLogger(), fleet);
    fleet.set(BACKENDS.slice(0, 2));
    assert.equal(ok(await withProxy.sync()).action, 'reloaded', 'the server options changed: a reload');
    fleet.set(BACKENDS.slice(0, 3));
    const added = ok(await withProxy.sync());
    assert.equal(added.action, 'runtime', 'HAProxy took `add server … send-proxy check-send-proxy`');
    const file = await readFile(config.haproxyConfig, 'utf8');
    for (const a of BACKENDS.slice(0, 3)) assert.match(file, new RegExp(`server ${name(a)} ${a}:${BACKEND_PORT} check maxconn 1 weight 10 send-proxy check-send-proxy\\n`));
    assert.equal(ok(await withProxy.sync()).action, 'none', 'the file written after the runtime change matches what runs');
    assert.equal(ok(await syncer.sync()).action, 'reloaded', 'and back without it');
  });
});
