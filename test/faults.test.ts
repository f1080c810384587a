// The fault suite: every fault the AWS API (through the emulator), HAProxy and the host can throw,
// against the real discovery (real SDK over HTTP), the real Syncer and a real HAProxy carrying a live
// stream. No fault may empty the backend, cut the stream or replace the running config.
import assert from 'node:assert/strict';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ECSClient } from '@aws-sdk/client-ecs';
import { loadConfig, type Config } from '../src/config.js';
import { HaproxyDriver } from '../src/haproxy/driver.js';
import { createEcsDiscovery } from '../src/discovery/ecs.js';
import { startEcsEmulator, type EcsEmulator, type FaultSpec } from '../dev/emulator/ecs-emulator.js';
import type { HaproxyProcess } from '../src/haproxy/process.js';
import { RuntimeApi } from '../src/haproxy/runtime-api.js';
import { silentLogger } from '../src/log.js';
import { createSyncer, type Syncer } from '../src/sync.js';
import type { SyncOutcome } from '../src/model.js';
import { Cleanup } from './helpers/processes.js';
import { proxyEnv, startBackends, tempDir } from './helpers/fixtures.js';
import { openHeldStream, type HeldStream } from './helpers/tcp-backends.js';

const PROXY = '127.0.28.1';
const RTMP_PORT = 19371;
const HEALTH_PORT = 18011;
const BACKEND_PORT = 19372;
const BACKENDS = ['127.0.28.2', '127.0.28.3', '127.0.28.4'];

const summary = { injected: 0, survived: 0, streamsLost: 0, emptyBackends: 0 };

describe('fault suite: AWS, HAProxy and host faults against the real daemon path', () => {
  const cleanup = new Cleanup();
  let emulator: EcsEmulator;
  let config: Config;
  let haproxy: HaproxyProcess;
  let syncer: Syncer;
  let api: RuntimeApi;
  let stream: HeldStream;
  let clock = Date.now();
  let dir: string;

  before(async () => {
    dir = await tempDir(cleanup, 'faults');
    emulator = await startEcsEmulator({ host: '127.0.0.1', port: 0 });
    cleanup.defer('emulator', () => emulator.close());
    await startBackends(cleanup, BACKENDS, BACKEND_PORT, { hold: true });
    for (const address of BACKENDS) emulator.addTask({ cluster: 'media', address });
    // A task with no address yet is described on every sync (known Servers are cached), so the
    // DescribeTasks faults below have a call to hit.
    emulator.addTask({ cluster: 'media', address: null });
    config = loadConfig({
      ECS_CLUSTER: 'media',
      SERVER_PORT: String(BACKEND_PORT),
      ...proxyEnv(dir, { address: PROXY, rtmp: RTMP_PORT, health: HEALTH_PORT }),
    });
    // Short per-call timeout and few attempts, so persistent faults fail fast; the SDK still retries.
    const ecs = new ECSClient({ region: 'us-east-1', endpoint: emulator.url, credentials: { accessKeyId: 't', secretAccessKey: 't' }, maxAttempts: 2 });
    const discovery = createEcsDiscovery({ cluster: 'media', serverPort: BACKEND_PORT, addressMode: 'private', ecs, logger: silentLogger(), callTimeoutMs: 1500 });
    haproxy = HaproxyDriver.fromConfig(config, silentLogger()).process;
    cleanup.defer('haproxy', () => haproxy.stop());
    syncer = createSyncer(config, silentLogger(), discovery, { now: () => clock });
    api = new RuntimeApi(config.haproxySocket);
    const first = await syncer.sync();
    assert.ok(first.ok, 'first sync');
    stream = await openHeldStream(PROXY, RTMP_PORT);
    cleanup.defer('stream', () => stream.close());
  });
  after(async () => {
    await cleanup.run();
    console.log(
      `fault suite: ${summary.injected} faults injected, ${summary.survived} survived, ` +
        `${summary.streamsLost} streams lost, ${summary.emptyBackends} empty backends`,
    );
  });

  /** After a fault: the backend still holds the whole fleet, the stream flows, the health page answers, the file is what ran. */
  async function assertSurvived(what: string, fileBefore: string) {
    const servers = await api.servers('bk_rtmp');
    if (servers.length === 0) summary.emptyBackends++;
    assert.equal(servers.length, BACKENDS.length, `${what}: the backend keeps the last known-good fleet`);
    const alive = await stream.alive();
    if (!alive) summary.streamsLost++;
    assert.ok(alive, `${what}: the live stream still flows`);
    assert.equal((await fetch(`http://${PROXY}:${HEALTH_PORT}/`)).status, 200, `${what}: health 200`);
    assert.equal(await readFile(config.haproxyConfig, 'utf8'), fileBefore, `${what}: the running config was not replaced`);
    summary.survived++;
  }

  /** Back to normal: faults cleared, past any backoff, a sync succeeds. */
  async function recover() {
    emulator.clearFaults();
    clock += 10 * 60_000;
    const outcome = await syncer.sync();
    assert.ok(outcome.ok, `recovered: ${!outcome.ok && outcome.error.message}`);
  }

  const awsFaults: Array<[string, FaultSpec, string]> = [
    ['persistent throttling', { action: 'ListTasks', kind: 'throttle', times: Infinity }, 'ThrottlingException'],
    ['5xx', { action: 'DescribeTasks', kind: 'server-error', times: Infinity }, 'ServerException'],
    ['slow answers beyond the per-call timeout', { action: 'ListTasks', kind: 'slow', delayMs: 4000, times: Infinity }, 'Timeout'],
    ['connection dropped', { action: 'ListTasks', kind: 'drop-connection', times: Infinity }, 'NetworkError'],
    ['access denied', { action: 'ListTasks', kind: 'access-denied', times: Infinity }, 'AccessDeniedException'],
    ['cluster not found', { action: 'ListTasks', kind: 'cluster-not-found', times: Infinity }, 'ClusterNotFoundException'],
    ['expired credentials', { action: 'DescribeTasks', kind: 'expired-token', times: Infinity }, 'ExpiredTokenException'],
    ['malformed answer', { action: 'DescribeTasks', kind: 'malformed', times: Infinity }, 'MalformedResponse'],
  ];
  for (const [what, fault, code] of awsFaults) {
    test(`AWS: ${what} → the sync fails with ${code}, nothing changes`, async () => {
      const fileBefore = await readFile(config.haproxyConfig, 'utf8');
      emulator.injectFault(fault);
      summary.injected++;
      const outcome: SyncOutcome = await syncer.sync();
      assert.ok(!outcome.ok);
      assert.equal(outcome.stage, 'discovery');
      assert.equal(outcome.code, code);
      const backoff = await syncer.sync();
      assert.ok(!backoff.ok && backoff.stage === 'backoff', 'the next tick backs off');
      await assertSurvived(what, fileBefore);
      await recover();
    });
  }

  test('AWS: a partial answer (page 2 of ListTasks fails) is never taken for the fleet', async () => {
    for (let i = 0; i < 120; i++) emulator.addTask({ cluster: 'media', address: null }); // no address yet: skipped, but listed
    await recover();
    const fileBefore = await readFile(config.haproxyConfig, 'utf8');
    emulator.injectFault({ action: 'ListTasks', kind: 'server-error', page: 2, times: Infinity });
    summary.injected++;
    const outcome = await syncer.sync();
    assert.ok(!outcome.ok);
    assert.equal(outcome.code, 'ServerException');
    await assertSurvived('partial answer', fileBefore);
    await recover();
  });

  test('AWS: tasks with malformed addresses never reach the config; the rest of the fleet stays', async () => {
    const fileBefore = await readFile(config.haproxyConfig, 'utf8');
    for (const bad of ['10.0.0.9\n  server evil 6.6.6.6:1', '10.0.0.9 #', 'x'.repeat(300), 'not-an-ip']) emulator.addTask({ cluster: 'media', address: bad });
    emulator.addTask({ cluster: 'media', address: BACKENDS[0]!, taskId: 'f'.repeat(32) }); // a duplicate address (sorts last: the first one stays)
    summary.injected++;
    const outcome = await syncer.sync();
    assert.ok(outcome.ok);
    assert.equal(outcome.action, 'none', 'skipped tasks change nothing');
    await assertSurvived('malformed tasks', fileBefore);
    assert.doesNotMatch(fileBefore, /evil|not-an-ip|xxxx/);
  });

  test('HAProxy: a template that fails haproxy -c is never applied', async () => {
    const fileBefore = await readFile(config.haproxyConfig, 'utf8');
    const broken = path.join(dir, 'broken.cfg.ejs');
    await writeFile(broken, (await readFile(config.haproxyTemplate, 'utf8')).replace('mode tcp', 'mode tcp\n  frobnicate on'));
    const brokenSyncer = createSyncer({ ...config, haproxyTemplate: broken }, silentLogger(), { discover: async () => ({ servers: [...syncer.lastKnownGood], skipped: [] }) });
    summary.injected++;
    const outcome = await brokenSyncer.sync();
    assert.ok(!outcome.ok);
    assert.equal(outcome.stage, 'validate');
    assert.match(outcome.error.message, /frobnicate/);
    await assertSurvived('invalid config', fileBefore);
  });

  test('HAProxy: the admin socket deleted → changes go through the master CLI', async () => {
    const fileBefore = await readFile(config.haproxyConfig, 'utf8');
    await rm(config.haproxySocket);
    summary.injected++;
    const outcome = await syncer.sync();
    assert.ok(outcome.ok);
    // Assert through the master CLI, as the daemon now does.
    const [worker] = (await haproxy.masterStatus()).workerPids;
    api = RuntimeApi.viaMaster(config.haproxyMasterSocket, worker!);
    await assertSurvived('admin socket gone', fileBefore);
  });

  test('HAProxy: killed → started again by the next sync with the current config', async () => {
    const pid = (await haproxy.runningPid())!;
    const { workerPids } = await haproxy.masterStatus();
    for (const p of [pid, ...workerPids]) process.kill(p, 'SIGKILL');
    summary.injected++;
    // A SIGKILL cuts the stream with the process: that is the host's fault, not a stream we dropped.
    const outcome = await syncer.sync();
    assert.ok(outcome.ok, !outcome.ok ? outcome.error.message : '');
    assert.equal(outcome.action, 'started');
    api = new RuntimeApi(config.haproxySocket);
    stream = await openHeldStream(PROXY, RTMP_PORT);
    await assertSurvived('killed', await readFile(config.haproxyConfig, 'utf8'));
  });

  test('summary: every fault survived, no stream lost, no empty backend', () => {
    assert.equal(summary.survived, summary.injected);
    assert.equal(summary.streamsLost, 0);
    assert.equal(summary.emptyBackends, 0);
  });
});
