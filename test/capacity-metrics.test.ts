// Capacity metrics end to end: real HAProxy, real TCP streams held through it, the daemon publishing
// with the real CloudWatch client to the emulator. What arrives in CloudWatch is what HAProxy says;
// with two Proxies the sums are the fleet; CloudWatch failing never stops a sync.
import assert from 'node:assert/strict';
import { ownerOf } from '../src/core/ownership.js';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startEcsEmulator, type EcsEmulator } from '../dev/emulator/ecs-emulator.js';
import { loadConfig } from '../src/config.js';
import { startDaemon, type Daemon } from '../src/daemon.js';
import { isFree } from '../src/model.js';
import { capturingLogger } from './helpers/logs.js';
import { proxyEnv, startBackends, tempDir, useEmulatorForAws } from './helpers/fixtures.js';
import { Cleanup } from './helpers/processes.js';
import { connectAsStreamer, openHeldStream, type HeldStream } from './helpers/tcp-backends.js';
import { waitFor } from './helpers/wait.js';

const PORTS = { rtmp: 19450, health: 19451, peer: 19452, peerApi: 19453, server: 19454 };
const NAMESPACE = 'RTMPProxyTest';

/** The publications (one PutMetricData each: every metric once) CloudWatch received after the first `from` datapoints. */
function published(emu: EcsEmulator, from: number): Array<Record<string, number>> {
  const publications: Array<Record<string, number>> = [];
  for (const d of emu.metricData({ namespace: NAMESPACE }).slice(from)) {
    const last = publications.at(-1);
    if (last === undefined || d.metricName in last) publications.push({ [d.metricName]: d.value! });
    else last[d.metricName] = d.value!;
  }
  return publications;
}
const received = (emu: EcsEmulator) => emu.metricData({ namespace: NAMESPACE }).length;

describe('capacity metrics: one Proxy, streams held through it', () => {
  const cleanup = new Cleanup();
  let emu: EcsEmulator;
  let daemon: Daemon;
  const SERVERS = ['127.0.51.11', '127.0.51.12'];
  const PROXY = { address: '127.0.51.1', rtmp: PORTS.rtmp, health: PORTS.health };
  const { logger, lines } = capturingLogger();
  const streams: HeldStream[] = [];

  before(async () => {
    emu = await startEcsEmulator({ host: '127.0.0.1', port: 0 });
    cleanup.defer('emulator', () => emu.close());
    useEmulatorForAws(cleanup, emu.url);
    await startBackends(cleanup, SERVERS, PORTS.server, { hold: true });
    for (const address of SERVERS) emu.addTask({ cluster: 'media', service: 'rtmp-server', address, lastStatus: 'RUNNING' });
    const dir = await tempDir(cleanup, 'capacity');
    const config = loadConfig({
      ECS_CLUSTER: 'media',
      ECS_SERVICE: 'rtmp-server',
      SERVER_PORT: String(PORTS.server),
      CAPACITY_METRICS: 'on',
      CAPACITY_METRICS_NAMESPACE: NAMESPACE,
      METRICS_PORT: 'off',
      SHUTDOWN_GRACE_SECONDS: '0',
      ...proxyEnv(dir, PROXY),
    });
    daemon = startDaemon(config, logger);
    cleanup.defer('daemon', () => daemon.stop({ stopHaproxy: true }));
    cleanup.defer('streams', () => Promise.all(streams.map((s) => s.close())));
    assert.ok((await daemon.firstSync).ok);
    await waitFor(async () => (await daemon.driver.backend()).servers.filter((s) => s.status.startsWith('UP')).length === 2, { timeoutMs: 10_000, what: 'both Servers UP' });
  });
  after(() => cleanup.run());

  test('what CloudWatch gets is what HAProxy says: free, busy, held, total, with the cluster and service as dimensions', async () => {
    streams.push(await openHeldStream(PROXY.address, PROXY.rtmp));
    const since = received(emu);
    await daemon.capacity!.publishNow();
    const [figures] = published(emu, since);
    const { servers } = await daemon.driver.backend();
    assert.deepEqual(figures, {
      ServersFree: servers.filter((s) => isFree({ ...s, streams: s.sessions })).length,
      ServersBusy: servers.filter((s) => s.sessions > 0).length,
      ServersHeld: 0,
      ServersTotal: servers.length,
      StreamersQueued: 0,
      StreamersRefused: 0,
    });
    assert.deepEqual([figures!.ServersBusy, figures!.ServersFree], [1, 1]);
    const [datapoint] = emu.metricData({ namespace: NAMESPACE });
    assert.deepEqual(datapoint!.dimensions, { Cluster: 'media', Service: 'rtmp-server' });
    assert.equal(datapoint!.timestamp % 60_000, 0, 'stamped with the start of its minute');
  });

  test('a streamer waiting for a Server is queued; one the queue times out on is refused', async () => {
    streams.push(await openHeldStream(PROXY.address, PROXY.rtmp));
    // Both Servers busy: a third streamer waits in HAProxy's queue.
    const waiting = connectAsStreamer(PROXY.address, PORTS.rtmp);
    cleanup.defer('waiting', () => void waiting.destroy());
    waiting.on('error', () => undefined);
    await waitFor(async () => (await daemon.driver.backendCounters()).queued === 1, { timeoutMs: 5000, what: 'the streamer in the queue' });
    let since = received(emu);
    await daemon.capacity!.publishNow();
    assert.equal(published(emu, since)[0]!.StreamersQueued, 1);
    // `timeout queue` (10 s) ends its wait: turned away, counted once.
    await waitFor(() => waiting.destroyed || waiting.readableEnded, { timeoutMs: 20_000, intervalMs: 200, what: 'the queue timeout' });
    since = received(emu);
    await daemon.capacity!.publishNow();
    assert.deepEqual([published(emu, since)[0]!.StreamersQueued, published(emu, since)[0]!.StreamersRefused], [0, 1]);
    since = received(emu);
    await daemon.capacity!.publishNow();
    assert.equal(published(emu, since)[0]!.StreamersRefused, 0, 'counted in the period it happened, not again');
  });

  test('CloudWatch failing (throttled, denied, unreachable): syncs go on, one log line, published again once it answers', async () => {
    const failed = () => lines.filter((l) => l.msg === 'capacity metrics not published; trying again next period' && (l.level as number) >= 40).length;
    for (const kind of ['throttle', 'access-denied', 'drop-connection'] as const) {
      emu.injectFault({ action: 'PutMetricData', kind, times: Infinity });
      const before = failed();
      await daemon.capacity!.publishNow();
      await daemon.capacity!.publishNow();
      assert.ok((await daemon.syncNow()).ok, `a sync while CloudWatch fails (${kind})`);
      assert.equal(failed(), before + 1, `one line for two failed periods (${kind})`);
      emu.clearFaults();
    }
    const since = received(emu);
    await daemon.capacity!.publishNow();
    assert.equal(published(emu, since).length, 1);
    assert.ok(lines.some((l) => l.msg === 'capacity metrics published again'));
  });
});

describe('capacity metrics: two Proxies sharing the fleet (PROXY_SERVICE)', () => {
  const cleanup = new Cleanup();
  let emu: EcsEmulator;
  const PROXIES = ['127.0.51.21', '127.0.51.22'];
  const SERVERS = ['127.0.51.31', '127.0.51.32', '127.0.51.33', '127.0.51.34', '127.0.51.35'];
  const daemons: Daemon[] = [];
  let serverTasks: string[] = [];
  let tasks: string[] = [];

  before(async () => {
    emu = await startEcsEmulator({ host: '127.0.0.1', port: 0 });
    cleanup.defer('emulator', () => emu.close());
    useEmulatorForAws(cleanup, emu.url);
    await startBackends(cleanup, SERVERS, PORTS.server, { hold: true });
    serverTasks = SERVERS.map((address) => emu.addTask({ cluster: 'media', service: 'rtmp-server', address, lastStatus: 'RUNNING' }));
    tasks = PROXIES.map((address) => emu.addTask({ cluster: 'media', service: 'rtmp-proxy', address, lastStatus: 'RUNNING' }));
    const dir = await tempDir(cleanup, 'capacity-peers');
    for (const [i, address] of PROXIES.entries()) {
      const config = loadConfig({
        ECS_CLUSTER: 'media',
        ECS_SERVICE: 'rtmp-server',
        SERVER_PORT: String(PORTS.server),
        PROXY_SERVICE: 'rtmp-proxy',
        PROXY_TASK_ARN: tasks[i]!,
        PEER_PORT: String(PORTS.peer),
        PEER_API_PORT: String(PORTS.peerApi),
        SYNC_SCHEDULE: '* * * * * *',
        CAPACITY_METRICS: 'on',
        CAPACITY_METRICS_NAMESPACE: NAMESPACE,
        METRICS_PORT: 'off',
        SHUTDOWN_GRACE_SECONDS: '0',
        ...proxyEnv(path.join(dir, address), { address, rtmp: PORTS.rtmp, health: PORTS.health }),
      });
      const daemon = startDaemon(config, capturingLogger().logger);
      cleanup.defer(`daemon ${address}`, () => daemon.stop({ stopHaproxy: true }));
      daemons.push(daemon);
    }
    for (const d of daemons) assert.ok((await d.firstSync).ok);
  });
  after(() => cleanup.run());

  test("each publishes its own share: the sums are the fleet, whatever each Proxy's HAProxy lists", async () => {
    // Every Server routed by exactly one of them (ownership settled).
    await waitFor(
      async () => {
        const routed = new Map<string, number>();
        for (const d of daemons) for (const s of (await d.driver.backend()).servers) if (!s.maintenance && s.status.startsWith('UP')) routed.set(s.address, (routed.get(s.address) ?? 0) + 1);
        return SERVERS.every((a) => routed.get(a) === 1);
      },
      { timeoutMs: 20_000, intervalMs: 200, what: 'each Server routed by one Proxy' },
    );
    const stream = await openHeldStream(PROXIES[0]!, PORTS.rtmp);
    cleanup.defer('stream', () => stream.close());
    for (const d of daemons) await d.syncNow();
    const since = received(emu);
    for (const d of daemons) await d.capacity!.publishNow();
    const shares = published(emu, since);
    assert.equal(shares.length, 2);
    const sum = (name: string) => shares.reduce((n, f) => n + f[name]!, 0);
    assert.deepEqual(
      { total: sum('ServersTotal'), busy: sum('ServersBusy'), free: sum('ServersFree') },
      { total: SERVERS.length, busy: 1, free: SERVERS.length - 1 },
    );
    // Each HAProxy lists all five; each share is the Servers that Proxy owns (task ids are random, so
    // one Proxy may own all five in some runs).
    for (const [i, d] of daemons.entries()) {
      assert.equal((await d.driver.backend()).servers.length, SERVERS.length);
      const owned = serverTasks.filter((arn) => ownerOf(`task-${arn.split('/').pop()}`, tasks) === tasks[i]).length;
      assert.equal(shares[i]!.ServersTotal, owned, `Proxy ${i} owns ${owned}`);
    }
  });
});
