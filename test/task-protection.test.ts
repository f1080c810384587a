// ECS task scale-in protection driven by who is streaming (issue 8).
// 1. The pure planner: protect, renew, lift, only ours, lapsed entries, held Servers, batching.
// 2. The adapter against the ECS API emulator over real HTTP with the real SDK: batching within the
//    10-task limit, throttling and dropped connections (never throws, retried next update), tasks
//    ECS refuses, shutdown, a protection set by someone else never lifted.
// 3. End to end with real streams: ffmpeg → HAProxy → nginx-rtmp, the fleet from the emulator through
//    the real discovery and Syncer; after each sync, `protector.update(outcome.backend)`.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ECSClient, UpdateTaskProtectionCommand } from '@aws-sdk/client-ecs';
import { loadConfig, type Config } from '../src/config.js';
import { startDaemon } from '../src/daemon.js';
import { HaproxyDriver } from '../src/haproxy/driver.js';
import { createEcsDiscovery } from '../src/discovery/ecs.js';
import { startEcsEmulator, type EcsEmulator } from '../dev/emulator/ecs-emulator.js';
import { silentLogger } from '../src/log.js';
import { startRtmpServers, type RtmpServer } from '../dev/media/rtmp-server.js';
import { createSyncer, type Syncer } from '../src/sync.js';
import type { BackendServer, SyncOutcome } from '../src/model.js';
import {
  batches,
  createTaskProtector,
  planProtection,
  renewWindowMs,
  type ProtectionEntry,
  type TaskProtector,
} from '../src/aws/task-protection.js';
import { Cleanup } from './helpers/processes.js';
import { startPublisher, type Publisher } from './helpers/publisher.js';
import { proxyEnv, startBackends, tempDir, useEmulatorForAws } from './helpers/fixtures.js';
import { openHeldStream } from './helpers/tcp-backends.js';
import { waitFor } from './helpers/wait.js';
import { capturingLogger } from './helpers/logs.js';

const MIN = 60_000;
const T0 = 1_700_000_000_000;

function server(name: string, streams: number, extra: Partial<BackendServer> = {}): BackendServer {
  return { name, address: '10.0.0.1', port: 1935, taskArn: `arn:task/${name}`, streams, maintenance: false, status: 'UP', ...extra };
}
const arn = (name: string) => `arn:task/${name}`;
const state = (entries: Record<string, ProtectionEntry>) => new Map(Object.entries(entries).map(([k, v]) => [arn(k), v]));

describe('planProtection (pure)', () => {
  test('a stream starts: its task is protected; idle Servers are not', () => {
    const plan = planProtection(new Map(), [server('a', 1), server('b', 0), server('c', 0)], T0, 60);
    assert.deepEqual(plan, { protect: [arn('a')], renew: [], unprotect: [], forget: [], deferred: [] });
  });

  test('streams in old workers count (streams is the sum), static Servers (no taskArn) are ignored', () => {
    const plan = planProtection(new Map(), [server('a', 2), { ...server('s', 1), taskArn: undefined } as BackendServer], T0, 60);
    assert.deepEqual(plan.protect, [arn('a')]);
  });

  test('the stream goes on: nothing to do until less than a third of the period is left, then renew', () => {
    const s = state({ a: { until: T0 + 60 * MIN } });
    assert.equal(renewWindowMs(60), 20 * MIN);
    assert.deepEqual(planProtection(s, [server('a', 1)], T0, 60), { protect: [], renew: [], unprotect: [], forget: [], deferred: [] });
    assert.deepEqual(planProtection(s, [server('a', 1)], T0 + 39 * MIN, 60).renew, []);
    assert.deepEqual(planProtection(s, [server('a', 1)], T0 + 40 * MIN, 60).renew, [arn('a')]);
    // Lapsed while the stream still runs (renewals failed for 20 min): protect again.
    assert.deepEqual(planProtection(s, [server('a', 1)], T0 + 61 * MIN, 60).renew, [arn('a')]);
  });

  test('the stream ends, or the Server leaves the backend or the fleet: lift', () => {
    const s = state({ a: { until: T0 + 60 * MIN }, b: { until: T0 + 60 * MIN }, c: { until: T0 + 60 * MIN } });
    const backend = [server('a', 0), { ...server('c', 1), taskArn: undefined } as BackendServer]; // b left; c draining, out of the fleet
    assert.deepEqual(planProtection(s, backend, T0 + MIN, 60).unprotect, [arn('a'), arn('b'), arn('c')]);
  });

  test('only ours: a task this Proxy did not protect is never lifted, whatever its state', () => {
    const plan = planProtection(new Map(), [server('a', 0), server('b', 0, { maintenance: true })], T0, 60);
    assert.deepEqual(plan, { protect: [], renew: [], unprotect: [], forget: [], deferred: [] });
  });

  test('our protection lapsed already and the stream is gone: forgotten without a call (someone else may hold it now)', () => {
    const plan = planProtection(state({ a: { until: T0 } }), [server('a', 0)], T0 + 1, 60);
    assert.deepEqual(plan, { protect: [], renew: [], unprotect: [], forget: [arn('a')], deferred: [] });
  });

  test('our stream ended but the Server is held idle (busy through another Proxy now): lift deferred, not done', () => {
    const s = state({ a: { until: T0 + 60 * MIN } });
    const held = planProtection(s, [server('a', 0, { maintenance: true, status: 'MAINT' })], T0 + MIN, 60);
    assert.deepEqual(held, { protect: [], renew: [], unprotect: [], forget: [], deferred: [arn('a')] });
    // Back in rotation and idle: lifted. Or our protection ran out meanwhile: forgotten.
    assert.deepEqual(planProtection(s, [server('a', 0)], T0 + 2 * MIN, 60).unprotect, [arn('a')]);
    assert.deepEqual(planProtection(s, [server('a', 0, { maintenance: true })], T0 + 61 * MIN, 60).forget, [arn('a')]);
  });

  test('a call with no answer (uncertain) is retried while streaming, and lifted when the stream ends', () => {
    const s = state({ a: { until: T0 + 60 * MIN, uncertain: true } });
    assert.deepEqual(planProtection(s, [server('a', 1)], T0 + MIN, 60).protect, [arn('a')]);
    assert.deepEqual(planProtection(s, [server('a', 0)], T0 + MIN, 60).unprotect, [arn('a')]);
  });

  test('a task under two names (address moved) streams if either name does', () => {
    const plan = planProtection(new Map(), [server('a', 0), { ...server('a2', 1), taskArn: arn('a') }], T0, 60);
    assert.deepEqual(plan.protect, [arn('a')]);
  });

  test('batches of at most 10', () => {
    assert.deepEqual(batches([]), []);
    assert.deepEqual(batches(Array.from({ length: 25 }, (_, i) => i)).map((b) => b.length), [10, 10, 5]);
    assert.deepEqual(batches(Array.from({ length: 10 }, (_, i) => i)).map((b) => b.length), [10]);
  });
});


function ecsClient(emulator: EcsEmulator, maxAttempts = 2) {
  return new ECSClient({
    region: 'us-east-1',
    endpoint: emulator.url,
    credentials: { accessKeyId: 't', secretAccessKey: 't' },
    retryMode: 'adaptive',
    maxAttempts,
  });
}

describe('task protector against the ECS emulator (real SDK over HTTP)', () => {
  let emulator: EcsEmulator;
  before(async () => {
    emulator = await startEcsEmulator({ host: '127.0.0.1', port: 0 });
  });
  after(() => emulator.close());

  const protection = (taskArn: string) => emulator.tasks().find((t) => t.taskArn === taskArn)?.protection;
  const updateCalls = () => emulator.calls('UpdateTaskProtection');
  function fleet(n: number, service: string | null = 'media-servers') {
    return Array.from({ length: n }, () => emulator.addTask({ cluster: 'media', ...(service && { service }) })).map((taskArn, i) => ({
      name: `task-${i}`,
      address: '10.0.0.1',
      port: 1935,
      taskArn,
      streams: 0,
      maintenance: false,
      status: 'UP',
    }));
  }
  const streaming = (backend: BackendServer[], on: number[]) => backend.map((s, i) => ({ ...s, streams: on.includes(i) ? 1 : 0 }));

  test('25 streams start at once: 3 calls of at most 10 tasks; they end: 3 lifts; idle Servers never named', async () => {
    emulator.reset();
    const backend = fleet(30);
    const protector = createTaskProtector({ cluster: 'media', minutes: 60, ecs: ecsClient(emulator), logger: silentLogger() });
    const on = Array.from({ length: 25 }, (_, i) => i);
    const t = Date.now();
    const r = await protector.update(streaming(backend, on));
    assert.equal(r.protected.length, 25);
    assert.deepEqual(r.failures, []);
    const calls = updateCalls();
    assert.deepEqual(calls.map((c) => (c.params.tasks as string[]).length), [10, 10, 5]);
    assert.ok(calls.every((c) => c.params.protectionEnabled === true && c.params.expiresInMinutes === 60 && c.params.cluster === 'media'));
    for (const [i, s] of backend.entries()) {
      const p = protection(s.taskArn);
      if (i < 25) {
        assert.equal(p?.enabled, true, `${s.name} protected`);
        assert.ok(Math.abs(p!.expiresAt! * 1000 - (t + 60 * MIN)) < 5000, 'expires in PROTECTION_MINUTES');
      } else assert.equal(p, undefined, `${s.name} never touched`);
    }
    // Still streaming, early in the period: no call.
    assert.equal((await protector.update(streaming(backend, on))).protected.length, 0);
    assert.equal(updateCalls().length, 3);

    const ended = await protector.update(streaming(backend, []));
    assert.equal(ended.lifted.length, 25);
    const lifts = updateCalls().slice(3);
    assert.deepEqual(lifts.map((c) => (c.params.tasks as string[]).length), [10, 10, 5]);
    assert.ok(lifts.every((c) => c.params.protectionEnabled === false));
    assert.ok(backend.slice(0, 25).every((s) => protection(s.taskArn)?.enabled === false));
    assert.equal(protector.state().size, 0);
    const named = new Set(updateCalls().flatMap((c) => c.params.tasks as string[]));
    assert.ok(backend.slice(25).every((s) => !named.has(s.taskArn)), 'the idle Servers are never named in a call');
  });

  test('renewal when less than a third of the period is left; protection set by someone else is never lifted', async () => {
    emulator.reset();
    const backend = fleet(3);
    // Someone else (an operator, the Server task itself) protected task 2.
    await ecsClient(emulator).send(new UpdateTaskProtectionCommand({ cluster: 'media', tasks: [backend[2]!.taskArn], protectionEnabled: true, expiresInMinutes: 600 }));
    let clock = Date.now();
    const protector = createTaskProtector({ cluster: 'media', minutes: 60, ecs: ecsClient(emulator), logger: silentLogger(), now: () => clock });
    assert.deepEqual((await protector.update(streaming(backend, [0]))).protected, [backend[0]!.taskArn]);
    clock += 39 * MIN;
    assert.deepEqual((await protector.update(streaming(backend, [0]))).renewed, []);
    clock += 1 * MIN;
    assert.deepEqual((await protector.update(streaming(backend, [0]))).renewed, [backend[0]!.taskArn]);
    assert.equal(protector.state().get(backend[0]!.taskArn)?.until, clock + 60 * MIN);
    const r = await protector.update(streaming(backend, []));
    assert.deepEqual(r.lifted, [backend[0]!.taskArn]);
    assert.equal(protection(backend[2]!.taskArn)?.enabled, true, 'the protection someone else set stays');
    assert.ok(updateCalls().slice(1).every((c) => !(c.params.tasks as string[]).includes(backend[2]!.taskArn)));
  });

  test('throttled: update() does not throw, the intent is kept and retried at the next update; one log line per kind', async () => {
    emulator.reset();
    const backend = fleet(2);
    const { logger, lines } = capturingLogger();
    // One attempt per call, so each update sees AWS's own answer (the SDK's retries are the next test's).
    const protector = createTaskProtector({ cluster: 'media', minutes: 60, ecs: ecsClient(emulator, 1), logger });
    emulator.injectFault({ action: 'UpdateTaskProtection', kind: 'throttle', times: Infinity });
    const r1 = await protector.update(streaming(backend, [0]));
    assert.deepEqual(r1.protected, []);
    assert.equal(r1.failures[0]?.code, 'ThrottlingException');
    const r2 = await protector.update(streaming(backend, [0]));
    assert.equal(r2.failures[0]?.code, 'ThrottlingException');
    assert.equal(protection(backend[0]!.taskArn), undefined);
    assert.equal(protector.state().size, 0, 'refused by AWS: nothing recorded as protected');
    const errors = lines.filter((l) => l.level === 50);
    assert.equal(errors.length, 1, `one error line for repeated throttling: ${JSON.stringify(errors)}`);
    emulator.clearFaults();
    assert.deepEqual((await protector.update(streaming(backend, [0]))).protected, [backend[0]!.taskArn]);
    assert.ok(lines.some((l) => String(l.msg).includes('answers again')), 'recovery logged once');

    // The lift is throttled too: kept, retried.
    emulator.injectFault({ action: 'UpdateTaskProtection', kind: 'throttle', times: Infinity });
    const r3 = await protector.update(streaming(backend, []));
    assert.deepEqual(r3.lifted, []);
    assert.equal(protector.state().size, 1);
    emulator.clearFaults();
    assert.deepEqual((await protector.update(streaming(backend, []))).lifted, [backend[0]!.taskArn]);
    assert.equal(protection(backend[0]!.taskArn)?.enabled, false);
  });

  test('persistent throttling with the SDK’s adaptive retry: every update returns (bounded by the call timeout), none throws', async () => {
    emulator.reset();
    const backend = fleet(1);
    const ecs = new ECSClient({ region: 'us-east-1', endpoint: emulator.url, credentials: { accessKeyId: 't', secretAccessKey: 't' }, retryMode: 'adaptive' });
    const protector = createTaskProtector({ cluster: 'media', minutes: 60, ecs, logger: silentLogger(), callTimeoutMs: 1500 });
    emulator.injectFault({ action: 'UpdateTaskProtection', kind: 'throttle', times: Infinity });
    for (let i = 0; i < 3; i++) {
      // A hang would fail this: the SDK's rate limiter must not hold an update past our own deadline
      // (checked with a wide margin, not as a timing measurement).
      const r = await Promise.race([
        protector.update(streaming(backend, [0])),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`update ${i} still running after 15 s`)), 15_000).unref()),
      ]);
      // The SDK's rate limiter may hold the retry past our deadline: a Timeout, i.e. maybe sent.
      assert.ok(['ThrottlingException', 'Timeout'].includes(r.failures[0]?.code ?? ''), JSON.stringify(r.failures));
    }
    assert.equal(protection(backend[0]!.taskArn), undefined);
    // Recovery after throttling is the previous test's (its client has no rate limiter to wind down).
  });

  test('a throttled batch leaves the rest of the plan to the next update', async () => {
    emulator.reset();
    const backend = fleet(15);
    const protector = createTaskProtector({ cluster: 'media', minutes: 60, ecs: ecsClient(emulator, 1), logger: silentLogger() });
    emulator.injectFault({ action: 'UpdateTaskProtection', kind: 'throttle', times: 1 });
    const all = Array.from({ length: 15 }, (_, i) => i);
    const r1 = await protector.update(streaming(backend, all));
    assert.equal(r1.protected.length, 0);
    assert.equal(updateCalls().length, 1, 'stopped after the throttled call');
    const r2 = await protector.update(streaming(backend, all));
    assert.equal(r2.protected.length, 15);
  });

  test('no answer (dropped connection): maybe applied, so an ended stream still lifts it', async () => {
    emulator.reset();
    const backend = fleet(2);
    const protector = createTaskProtector({ cluster: 'media', minutes: 60, ecs: ecsClient(emulator, 1), logger: silentLogger() });
    emulator.injectFault({ action: 'UpdateTaskProtection', kind: 'drop-connection', times: 1 });
    const r = await protector.update(streaming(backend, [0]));
    assert.equal(r.failures[0]?.code, 'NetworkError');
    assert.equal(protector.state().get(backend[0]!.taskArn)?.uncertain, true);
    const lifted = await protector.update(streaming(backend, []));
    assert.deepEqual(lifted.lifted, [backend[0]!.taskArn]);
    assert.equal(updateCalls().at(-1)?.params.protectionEnabled, false);
  });

  test('a task ECS refuses (TASK_NOT_VALID: not in a service) is not asked again while that stream lasts', async () => {
    emulator.reset();
    const backend = fleet(1, null);
    const protector = createTaskProtector({ cluster: 'media', minutes: 60, ecs: ecsClient(emulator), logger: silentLogger() });
    const r = await protector.update(streaming(backend, [0]));
    assert.deepEqual(r.failures, [{ action: 'protect', code: 'TASK_NOT_VALID', tasks: [backend[0]!.taskArn] }]);
    await protector.update(streaming(backend, [0]));
    assert.equal(updateCalls().length, 1);
  });

  test('a streaming Server whose task stopped: lifted (ECS answers TASK_NOT_VALID: nothing left to lift)', async () => {
    emulator.reset();
    const backend = fleet(2);
    const protector = createTaskProtector({ cluster: 'media', minutes: 60, ecs: ecsClient(emulator), logger: silentLogger() });
    await protector.update(streaming(backend, [0]));
    emulator.removeTask(backend[0]!.taskArn);
    // Out of the fleet, still draining its stream: no taskArn in the backend.
    const draining = streaming(backend, [0]).map((s, i) => (i === 0 ? { ...s, taskArn: undefined, maintenance: true } : s));
    const r = await protector.update(draining);
    assert.deepEqual(r.lifted, [backend[0]!.taskArn]);
    assert.equal(protector.state().size, 0);
  });

  test('shutdown(): no more calls; protection on live streams is left to run out; no backend snapshot changes nothing', async () => {
    emulator.reset();
    const backend = fleet(2);
    const protector = createTaskProtector({ cluster: 'media', minutes: 60, ecs: ecsClient(emulator), logger: silentLogger() });
    await protector.update(streaming(backend, [0]));
    assert.equal((await protector.update(undefined)).skipped, 'no-backend');
    protector.shutdown();
    const r = await protector.update(streaming(backend, []));
    assert.equal(r.skipped, 'shutdown');
    assert.equal(updateCalls().length, 1);
    assert.equal(protection(backend[0]!.taskArn)?.enabled, true);
  });
});

// ---- end to end with real streams ----

const SERVER_ADDRESSES = ['127.0.29.2', '127.0.29.3', '127.0.29.4'];
const SERVER_PORT = 19380;
const STAT_PORT = 18080;
const PROXY = { address: '127.0.29.1', rtmp: 19381, health: 18081 };
const PUBLISH_TIMEOUT_MS = 20_000;

function ok(outcome: SyncOutcome): Extract<SyncOutcome, { ok: true }> {
  assert.ok(outcome.ok, `sync failed: ${!outcome.ok && `${outcome.stage}: ${outcome.error.message}`}`);
  return outcome;
}

describe('task protection with real streams: ffmpeg → HAProxy → nginx-rtmp, fleet from the ECS emulator', () => {
  const cleanup = new Cleanup();
  let emulator: EcsEmulator;
  let servers: RtmpServer[];
  let syncer: Syncer;
  let protector: TaskProtector;
  const taskOf = new Map<string, string>(); // server address → task ARN
  const live = new Map<string, Publisher>();
  /** Every Server that carried a stream at some point: the only ones that may ever be protected. */
  const carried = new Set<string>();
  const measured: string[] = [];

  async function where(key: string): Promise<string | undefined> {
    for (const s of servers) if ((await s.stats()).publishing.includes(key)) return s.address;
    return undefined;
  }
  async function publish(key: string): Promise<string> {
    const publisher = startPublisher(`rtmp://${PROXY.address}:${PROXY.rtmp}/stream/${key}`);
    cleanup.defer(`publisher ${key}`, () => publisher.stop());
    live.set(key, publisher);
    const address = await waitFor(
      async () => {
        if (!publisher.running()) throw new Error(`ffmpeg exited: ${publisher.stderrTail().slice(-500)}`);
        return where(key);
      },
      { timeoutMs: PUBLISH_TIMEOUT_MS, intervalMs: 200, what: `stream ${key} to publish on some Server` },
    );
    carried.add(address);
    return address;
  }
  async function unpublish(key: string) {
    await live.get(key)?.stop();
    live.delete(key);
    await waitFor(async () => (await where(key)) === undefined, { timeoutMs: 10_000, what: `stream ${key} to end` });
  }
  /** One tick of the daemon: a sync, then the protector on its backend. */
  async function tick() {
    const outcome = ok(await syncer.sync());
    assert.ok(outcome.backend, 'the sync reports the backend');
    return { outcome, report: await protector.update(outcome.backend) };
  }
  const protection = (address: string) => emulator.tasks().find((t) => t.taskArn === taskOf.get(address))?.protection;
  const protectedAddresses = () => SERVER_ADDRESSES.filter((a) => protection(a)?.enabled === true);
  const everEnabled = () =>
    new Set(emulator.calls('UpdateTaskProtection').flatMap((c) => (c.params.protectionEnabled === true && !c.fault ? (c.params.tasks as string[]) : [])));

  before(async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'rtmp-proxy-protection-'));
    cleanup.defer('temp dir', () => rm(dir, { recursive: true, force: true }));
    emulator = await startEcsEmulator({ host: '127.0.0.1', port: 0 });
    cleanup.defer('emulator', () => emulator.close());
    servers = await startRtmpServers(SERVER_ADDRESSES, { port: SERVER_PORT, statPort: STAT_PORT, workDir: path.join(dir, 'servers') });
    cleanup.defer('rtmp servers', () => Promise.all(servers.map((s) => s.stop())));
    for (const address of SERVER_ADDRESSES) taskOf.set(address, emulator.addTask({ cluster: 'media', service: 'media-servers', address }));
    const config: Config = loadConfig({
      DISCOVERY: 'ecs',
      ECS_CLUSTER: 'media',
      SERVER_PORT: String(SERVER_PORT),
      BIND_ADDRESS: PROXY.address,
      RTMP_PORT: String(PROXY.rtmp),
      HEALTH_PORT: String(PROXY.health),
      HAPROXY_CONFIG: path.join(dir, 'haproxy.cfg'),
      HAPROXY_PIDFILE: path.join(dir, 'haproxy.pid'),
      HAPROXY_SOCKET: path.join(dir, 'admin.sock'),
      TASK_PROTECTION: 'true',
      PROTECTION_MINUTES: '45',
    });
    const discovery = createEcsDiscovery({ cluster: 'media', serverPort: SERVER_PORT, addressMode: 'private', ecs: ecsClient(emulator), logger: silentLogger() });
    const haproxy = HaproxyDriver.fromConfig(config, silentLogger()).process;
    cleanup.defer('haproxy', () => haproxy.stop());
    syncer = createSyncer(config, silentLogger(), discovery);
    protector = createTaskProtector({ cluster: config.ecsCluster!, minutes: config.protectionMinutes, ecs: ecsClient(emulator), logger: silentLogger() });
  });
  after(async () => {
    protector?.shutdown();
    await cleanup.run();
    if (measured.length > 0) console.log(`task protection: ${measured.join('; ')}`);
  });

  test('a stream starts → its task is protected at the next tick; it ends → lifted at the next tick; the others never', async () => {
    const first = await tick();
    assert.equal(first.outcome.action, 'started');
    assert.equal(emulator.calls('UpdateTaskProtection').length, 0, 'no stream, no call');

    const s1 = await publish('s1');
    const t1 = Date.now();
    const { report } = await tick();
    assert.deepEqual(report.protected, [taskOf.get(s1)], 'protected within one tick');
    measured.push(`protect: 1 tick, ${Date.now() - t1} ms (sync + update)`);
    assert.deepEqual(protectedAddresses(), [s1]);
    const p = protection(s1)!;
    assert.ok(Math.abs(p.expiresAt! * 1000 - (t1 + 45 * MIN)) < 10_000, 'for PROTECTION_MINUTES');

    // The stream goes on: nothing touched.
    for (let i = 0; i < 2; i++) {
      const quiet = (await tick()).report;
      assert.deepEqual([quiet.protected, quiet.renewed, quiet.lifted, quiet.failures], [[], [], [], []], 'a quiet tick');
    }
    assert.equal(emulator.calls('UpdateTaskProtection').length, 1);

    await unpublish('s1');
    const t2 = Date.now();
    const ended = await tick();
    assert.deepEqual(ended.report.lifted, [taskOf.get(s1)], 'lifted within one tick');
    measured.push(`lift: 1 tick, ${Date.now() - t2} ms`);
    assert.deepEqual(protectedAddresses(), []);
    assert.deepEqual([...everEnabled()], [taskOf.get(s1)], 'no other Server was ever protected');
  });

  test('two streams: each Server protected, the idle one never; throttling on UpdateTaskProtection → no throw, protected at the next tick', async () => {
    const a = await publish('s2');
    emulator.injectFault({ action: 'UpdateTaskProtection', kind: 'throttle', times: Infinity });
    const throttled = await tick();
    assert.equal(throttled.report.failures[0]?.code, 'ThrottlingException');
    assert.deepEqual(protectedAddresses(), []);
    emulator.clearFaults();
    const t = Date.now();
    assert.deepEqual((await tick()).report.protected, [taskOf.get(a)], 'retried at the next tick');
    measured.push(`after throttling: protected 1 tick after the fault cleared, ${Date.now() - t} ms`);

    const b = await publish('s3');
    assert.notEqual(a, b);
    assert.deepEqual((await tick()).report.protected, [taskOf.get(b)]);
    assert.deepEqual(protectedAddresses().sort(), [a, b].sort());
    const idle = SERVER_ADDRESSES.find((x) => x !== a && x !== b)!;
    assert.equal(protection(idle)?.enabled ?? false, false, 'the idle Server is not protected');
    const mayBe = new Set([...carried].map((x) => taskOf.get(x)));
    assert.ok([...everEnabled()].every((t) => mayBe.has(t)), 'only Servers that carried a stream were ever protected');

    await unpublish('s2');
    assert.deepEqual((await tick()).report.lifted, [taskOf.get(a)]);
    assert.deepEqual(protectedAddresses(), [b]);

    // Shutdown with s3 still live: its protection stays, to run out by itself.
    protector.shutdown();
    await unpublish('s3');
    assert.equal((await tick()).report.skipped, 'shutdown');
    assert.deepEqual(protectedAddresses(), [b]);
  });
});

describe('TASK_PROTECTION=true in the daemon: a stream protects its Server task at the next sync', () => {
  const cleanup = new Cleanup();
  after(() => cleanup.run());

  test('startDaemon wires the protector to every sync; shutdown leaves live protection alone', async () => {
    const dir = await tempDir(cleanup, 'protect-daemon');
    const emulator = await startEcsEmulator({ host: '127.0.0.1', port: 0 });
    cleanup.defer('emulator', () => emulator.close());
    const addresses = ['127.0.29.12', '127.0.29.13'];
    await startBackends(cleanup, addresses, 19382, { hold: true });
    for (const address of addresses) emulator.addTask({ cluster: 'media', service: 'rtmp-server', address });
    useEmulatorForAws(cleanup, emulator.url);
    const config = loadConfig({
      ECS_CLUSTER: 'media',
      SERVER_PORT: '19382',
      ...proxyEnv(dir, { address: '127.0.29.11', rtmp: 19383, health: 18083 }),
      METRICS_PORT: 'off',
      TASK_PROTECTION: 'true',
      PROTECTION_MINUTES: '30',
      SHUTDOWN_GRACE_SECONDS: '1',
      SYNC_SCHEDULE: '0 0 1 1 *',
    });
    const daemon = startDaemon(config, silentLogger());
    cleanup.defer('daemon', () => daemon.stop({ stopHaproxy: true }));
    assert.ok((await daemon.firstSync).ok);

    const stream = await openHeldStream('127.0.29.11', 19383);
    await daemon.syncNow();
    const protectedTask = () => emulator.tasks().filter((t) => t.protection?.enabled);
    const task = await waitFor(() => protectedTask()[0], { timeoutMs: 5000, what: 'the streaming Server task to be protected' });
    assert.equal(task.address, stream.server);
    assert.equal(protectedTask().length, 1, 'the idle Server is not protected');

    await daemon.stop({ stopHaproxy: true });
    assert.equal(protectedTask().length, 1, 'shutdown leaves the protection to expire');
    await stream.close();
  });
});
