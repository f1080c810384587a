// The Proxy's promise end to end: real ffmpeg publishers → real HAProxy → real nginx-rtmp Servers,
// the fleet driven through the ECS API emulator and discovered with the real AWS SDK. At every step,
// every Server's stat page is read: no Server ever carries two streams, and no live stream is cut.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ECSClient } from '@aws-sdk/client-ecs';
import { loadConfig, type Config } from '../src/config.js';
import { createEcsDiscovery } from '../src/discovery/ecs.js';
import { HaproxyDriver } from '../src/haproxy/driver.js';
import { startEcsEmulator, type EcsEmulator } from '../dev/emulator/ecs-emulator.js';
import type { HaproxyProcess } from '../src/haproxy/process.js';
import { silentLogger } from '../src/log.js';
import { startRtmpServers, type RtmpServer } from '../dev/media/rtmp-server.js';
import { createSyncer, type Syncer } from '../src/sync.js';
import type { SyncOutcome } from '../src/model.js';
import { Cleanup, countProcesses } from './helpers/processes.js';
import { startPublisher, streamsOnServers, type Publisher } from './helpers/publisher.js';
import { waitFor } from './helpers/wait.js';

const SERVER_ADDRESSES = ['127.0.24.2', '127.0.24.3', '127.0.24.4', '127.0.24.5'];
const SERVER_PORT = 19354;
const STAT_PORT = 18084;
const PROXY_A = { address: '127.0.24.1', rtmp: 19355, health: 18085 };
const PROXY_B = { address: '127.0.24.10', rtmp: 19356, health: 18086 };
const PUBLISH_TIMEOUT_MS = 20_000;

function ok(outcome: SyncOutcome): Extract<SyncOutcome, { ok: true }> {
  assert.ok(outcome.ok, `sync failed: ${!outcome.ok && `${outcome.stage}: ${outcome.error.message}`}`);
  return outcome;
}

describe('streams end to end: ffmpeg → HAProxy → nginx-rtmp, fleet from the ECS emulator', () => {
  const cleanup = new Cleanup();
  let emulator: EcsEmulator;
  let servers: RtmpServer[];
  let dir: string;
  const taskOf = new Map<string, string>(); // server address → task ARN
  const live = new Map<string, Publisher>(); // stream key → publisher
  /** Every step's record of where each stream was, to report double-bookings. */
  const doubleBookings: string[] = [];

  /** Every Server's stat page: the stream keys on each; more than one is recorded as a double-booking. */
  const streamsByServer = () => streamsOnServers(servers, doubleBookings);
  async function assertNoDoubleBooking(step: string) {
    const map = await streamsByServer();
    for (const [address, keys] of map) assert.ok(keys.length <= 1, `${step}: ${address} carries ${keys.length} streams (${keys.join(', ')})`);
    return map;
  }

  /** Publishes `key` through a Proxy and returns the Server address that took it. */
  async function publish(key: string, proxy: { address: string; rtmp: number }): Promise<string> {
    const publisher = startPublisher(`rtmp://${proxy.address}:${proxy.rtmp}/stream/${key}`);
    cleanup.defer(`publisher ${key}`, () => publisher.stop());
    live.set(key, publisher);
    const where = await waitFor(
      async () => {
        if (!publisher.running()) throw new Error(`ffmpeg exited: ${publisher.stderrTail().slice(-500)}`);
        for (const [address, keys] of await streamsByServer()) if (keys.includes(key)) return address;
        return undefined;
      },
      { timeoutMs: PUBLISH_TIMEOUT_MS, intervalMs: 200, what: `stream ${key} to publish on some Server` },
    );
    return where;
  }
  async function unpublish(key: string) {
    await live.get(key)?.stop();
    live.delete(key);
    await waitFor(async () => ![...(await streamsByServer()).values()].some((keys) => keys.includes(key)), {
      timeoutMs: 10_000,
      what: `stream ${key} to end`,
    });
  }
  async function stillStreaming(key: string, address: string) {
    assert.ok(live.get(key)?.running(), `ffmpeg for ${key} still runs`);
    assert.ok((await streamsByServer()).get(address)?.includes(key), `${key} still publishing on ${address}`);
  }

  function proxyConfig(proxy: typeof PROXY_A, name: string, extra: Record<string, string> = {}): Config {
    return loadConfig({
      DISCOVERY: 'ecs',
      ECS_CLUSTER: 'media',
      SERVER_PORT: String(SERVER_PORT),
      BIND_ADDRESS: proxy.address,
      RTMP_PORT: String(proxy.rtmp),
      HEALTH_PORT: String(proxy.health),
      HAPROXY_CONFIG: path.join(dir, name, 'haproxy.cfg'),
      HAPROXY_PIDFILE: path.join(dir, name, 'haproxy.pid'),
      HAPROXY_SOCKET: path.join(dir, name, 'admin.sock'),
      APPLY_MODE: process.env.E2E_APPLY_MODE ?? 'runtime',
      ...extra,
    });
  }
  function proxySyncer(config: Config): { syncer: Syncer; haproxy: HaproxyProcess } {
    const ecs = new ECSClient({ region: 'us-east-1', endpoint: emulator.url, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
    const discovery = createEcsDiscovery({ cluster: 'media', serverPort: SERVER_PORT, addressMode: 'private', ecs, logger: silentLogger() });
    const haproxy = HaproxyDriver.fromConfig(config, silentLogger()).process;
    cleanup.defer(`haproxy ${config.haproxyConfig}`, () => haproxy.stop());
    return { syncer: createSyncer(config, silentLogger(), discovery), haproxy };
  }

  let proxyA: { syncer: Syncer; haproxy: HaproxyProcess; config: Config };

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'rtmp-proxy-e2e-'));
    cleanup.defer('temp dir', () => rm(dir, { recursive: true, force: true }));
    emulator = await startEcsEmulator({ host: '127.0.0.1', port: 0 });
    cleanup.defer('emulator', () => emulator.close());
    servers = await startRtmpServers(SERVER_ADDRESSES, { port: SERVER_PORT, statPort: STAT_PORT, workDir: path.join(dir, 'servers') });
    cleanup.defer('rtmp servers', () => Promise.all(servers.map((s) => s.stop())));
    const config = proxyConfig(PROXY_A, 'proxy-a');
    proxyA = { ...proxySyncer(config), config };
  });
  after(async () => {
    await cleanup.run();
    if (doubleBookings.length > 0) console.log(`double-bookings seen: ${doubleBookings.join('; ')}`);
  });

  test('stream → scale-out → more streams → scale-in of a busy Server → another stream: never two streams on one Server', async () => {
    const haproxyProcesses = () => countProcesses('haproxy', { cmdlineIncludes: proxyA.config.haproxyConfig });
    for (const address of SERVER_ADDRESSES.slice(0, 2)) taskOf.set(address, emulator.addTask({ cluster: 'media', address }));
    assert.equal(ok(await proxyA.syncer.sync()).action, 'started');

    const first = await publish('s1', PROXY_A);
    await assertNoDoubleBooking('one stream');

    // Scale-out: two more Server tasks turn RUNNING.
    for (const address of SERVER_ADDRESSES.slice(2)) taskOf.set(address, emulator.addTask({ cluster: 'media', address }));
    const out = ok(await proxyA.syncer.sync());
    assert.equal(out.action, 'runtime');
    assert.equal(out.changes?.added.length, 2);
    assert.equal(await haproxyProcesses(), 2, 'one master, one worker: no reload');

    const placed = new Map<string, string>([['s1', first]]);
    for (const key of ['s2', 's3']) {
      placed.set(key, await publish(key, PROXY_A));
      await assertNoDoubleBooking(`after ${key}`);
    }
    assert.equal(new Set(placed.values()).size, 3, 'three streams on three Servers');

    // Scale-in of the busy Server that carries s1: drained, its stream keeps flowing.
    emulator.removeTask(taskOf.get(first)!);
    const scaleIn = ok(await proxyA.syncer.sync());
    assert.deepEqual(scaleIn.draining?.length, 1);
    assert.equal(await haproxyProcesses(), 2, 'no reload for a scale-in');
    await stillStreaming('s1', first);

    // Another stream: only one Server is free and in the fleet.
    const free = SERVER_ADDRESSES.find((a) => ![...placed.values()].includes(a))!;
    assert.equal(await publish('s4', PROXY_A), free);
    await assertNoDoubleBooking('after s4');
    await stillStreaming('s1', first);

    // s1 ends: the drained Server is deleted from the backend.
    await unpublish('s1');
    await waitFor(async () => ok(await proxyA.syncer.sync()).changes?.deleted.length === 1 || undefined, {
      timeoutMs: 10_000,
      what: 'the drained Server to be deleted once its stream ended',
    });
    assert.equal(doubleBookings.length, 0, `double-bookings: ${doubleBookings.join('; ')}`);
  });

  test('a reload while streams are live (template change) hands no busy Server a second stream', async () => {
    // Fleet now: three Servers, all carrying a stream (s2, s3, s4). Free one by ending s2.
    const byServer = await assertNoDoubleBooking('before reload');
    const s2Server = [...byServer].find(([, keys]) => keys.includes('s2'))![0];
    await unpublish('s2');
    ok(await proxyA.syncer.sync());

    const custom = path.join(dir, 'custom.cfg.ejs');
    await writeFile(custom, (await readFile(proxyA.config.haproxyTemplate, 'utf8')).replace('timeout queue 10s', 'timeout queue 12s'));
    const reloading = proxySyncer({ ...proxyA.config, haproxyTemplate: custom }).syncer;
    const reloaded = ok(await reloading.sync());
    assert.equal(reloaded.action, 'reloaded');
    await stillStreaming('s3', [...byServer].find(([, keys]) => keys.includes('s3'))![0]);

    // The new worker starts with every count at 0; the busy Servers must still be held.
    assert.equal(await publish('s5', PROXY_A), s2Server, 'the only free Server takes the new stream');
    await assertNoDoubleBooking('after the reload');
    const held = ok(await reloading.sync()).held ?? [];
    assert.equal(held.length, 2, `the two Servers busy in the old worker are held: ${JSON.stringify(held)}`);
    assert.equal(doubleBookings.length, 0, `double-bookings: ${doubleBookings.join('; ')}`);
  });

  test('two Proxies in front of the same Servers: the busy check keeps each off the other’s busy Servers', async () => {
    for (const key of [...live.keys()]) await unpublish(key);
    const config = proxyConfig(PROXY_B, 'proxy-b', { BUSY_CHECK_PORT: String(STAT_PORT), BUSY_CHECK_PATH: '/stat' });
    const proxyB = proxySyncer(config);
    const configA = { ...proxyA.config, busyCheck: config.busyCheck! };
    const syncA = proxySyncer(configA).syncer;
    ok(await syncA.sync());
    assert.equal(ok(await proxyB.syncer.sync()).action, 'started');

    // Streams alternate between the Proxies; each Proxy syncs (its busy check) before the next stream.
    const placed: string[] = [];
    for (const [i, key] of ['p1', 'p2', 'p3'].entries()) {
      ok(await syncA.sync());
      ok(await proxyB.syncer.sync());
      placed.push(await publish(key, i % 2 === 0 ? PROXY_A : PROXY_B));
      await assertNoDoubleBooking(`two proxies, after ${key}`);
    }
    assert.equal(new Set(placed).size, 3, `three streams on three Servers: ${placed.join(', ')}`);

    // The busy check runs inside HAProxy too: B last synced before p3 started (through A), yet its
    // own health check takes p3's Server out of its rotation (DOWN, not held) within a second or two.
    const driverB = HaproxyDriver.fromConfig(config, silentLogger());
    const p3Server = placed[2]!;
    const status = await waitFor(
      async () => {
        const x = (await driverB.backend()).servers.find((y) => y.address === p3Server);
        return x?.status.startsWith('DOWN') && !x.maintenance ? x.status : undefined;
      },
      { timeoutMs: 5_000, intervalMs: 100, what: `B's HAProxy to mark ${p3Server} (publishing through A) DOWN by its health check` },
    );
    assert.match(status, /^DOWN/);
    await assertNoDoubleBooking('after the health checks');
    assert.equal(doubleBookings.length, 0, `double-bookings: ${doubleBookings.join('; ')}`);
  });
});
