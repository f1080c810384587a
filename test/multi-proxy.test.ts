// Two Proxies in front of one fleet (PROXY_SERVICE): real daemons and HAProxys, real ffmpeg
// publishers, real nginx-rtmp Servers; the Servers and the Proxies are both ECS tasks in the emulator.
// After every step every Server's own stat page is read: never two streams on one Server.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadConfig, type Config } from '../src/config.js';
import { formatStatus, readStatus } from '../src/status.js';
import { ownerOf } from '../src/core/ownership.js';
import { serverNameForTask, taskIdFromArn } from '../src/model.js';
import { startDaemon, type Daemon } from '../src/daemon.js';
import { silentLogger } from '../src/log.js';
import { startRtmpServers, type RtmpServer } from '../dev/media/rtmp-server.js';
import { startEcsEmulator, type EcsEmulator } from '../dev/emulator/ecs-emulator.js';
import { proxyEnv, tempDir, useEmulatorForAws } from './helpers/fixtures.js';
import { Cleanup } from './helpers/processes.js';
import { startPublisher, streamsOnServers, type Publisher } from './helpers/publisher.js';
import { waitFor } from './helpers/wait.js';

const PROXIES = ['127.0.46.1', '127.0.46.2'];
const THIRD = '127.0.46.3';
/** A Proxy task ECS lists as RUNNING whose daemon and HAProxy do not answer (hung, or still starting). */
const SILENT = '127.0.46.9';
const SERVERS = ['127.0.46.11', '127.0.46.12', '127.0.46.13', '127.0.46.14', '127.0.46.15', '127.0.46.16'];
const PORTS = { rtmp: 19610, health: 18610, peer: 19611, peerApi: 18611, server: 19612, stat: 18612 };

describe('several Proxies: every Server owned by one, spillover to a peer, handoff on shutdown', { timeout: 240_000 }, () => {
  const cleanup = new Cleanup();
  let emulator: EcsEmulator;
  let servers: RtmpServer[];
  const daemons = new Map<string, Daemon>();
  const configs = new Map<string, Config>();
  const proxyTask = new Map<string, string>();
  const serverName = new Map<string, string>();
  const proxyIds: string[] = [];
  const live = new Map<string, Publisher>();
  const doubleBooked: string[] = [];

  /** Every Server's stat page: the stream keys on each; more than one is recorded as a double-booking. */
  const streamsByServer = () => streamsOnServers(servers, doubleBooked);
  /** Which Proxy routes new streams to each Server now (in rotation and UP there). */
  async function routers(): Promise<Map<string, string[]>> {
    const map = new Map<string, string[]>();
    for (const [proxy, d] of daemons) {
      const { servers: backend } = await d.driver.backend();
      for (const s of backend) if (!s.maintenance && s.status.startsWith('UP')) map.set(s.address, [...(map.get(s.address) ?? []), proxy]);
    }
    return map;
  }
  async function publish(key: string, proxy: string): Promise<Publisher> {
    const p = startPublisher(`rtmp://${proxy}:${PORTS.rtmp}/stream/${key}`);
    cleanup.defer(`publisher ${key}`, () => p.stop());
    live.set(key, p);
    return p;
  }
  async function placed(keys: readonly string[]): Promise<Map<string, string>> {
    const where = new Map<string, string>();
    await waitFor(
      async () => {
        for (const key of keys) if (!live.get(key)!.running()) throw new Error(`ffmpeg ${key} exited: ${live.get(key)!.stderrTail().slice(-400)}`);
        for (const [address, ks] of await streamsByServer()) for (const k of ks) where.set(k, address);
        return keys.every((k) => where.has(k));
      },
      { timeoutMs: 30_000, intervalMs: 250, what: `streams ${keys.join(', ')} to publish` },
    );
    return where;
  }
  async function stopAll() {
    await Promise.all([...live.values()].map((p) => p.stop()));
    live.clear();
    await waitFor(async () => [...(await streamsByServer()).values()].every((k) => k.length === 0), { timeoutMs: 15_000, what: 'every stream to end' });
  }
  async function startProxy(address: string) {
    const config = loadConfig({
      ECS_CLUSTER: 'media',
      ECS_SERVICE: 'rtmp-server',
      // Every streamer here comes from one address (127.0.0.1): no per-source limits.
      SOURCE_MAX_STREAMS: 'off',
      SOURCE_MAX_CONNECT_RATE: 'off',
      SERVER_PORT: String(PORTS.server),
      PROXY_SERVICE: 'rtmp-proxy',
      PROXY_TASK_ARN: proxyTask.get(address)!,
      PEER_PORT: String(PORTS.peer),
      PEER_API_PORT: String(PORTS.peerApi),
      SYNC_SCHEDULE: '* * * * * *',
      METRICS_PORT: 'off',
      SHUTDOWN_GRACE_SECONDS: '2',
      ...proxyEnv(path.join(dir, address), { address, rtmp: PORTS.rtmp, health: PORTS.health }),
    });
    configs.set(address, config);
    const daemon = startDaemon(config, silentLogger());
    cleanup.defer(`daemon ${address}`, () => daemon.stop({ stopHaproxy: true }));
    daemons.set(address, daemon);
    return daemon;
  }
  /** Every Server routed by exactly one Proxy (the `expected` ones, when given). */
  const settled = (expected: readonly string[] = SERVERS) =>
    waitFor(
      async () => {
        const r = await routers();
        assert.ok([...r.values()].every((owners) => owners.length === 1), `a Server routed by two Proxies: ${JSON.stringify([...r])}`);
        return expected.every((a) => r.get(a)?.length === 1) ? r : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 100, what: 'every Server to be routed by exactly one Proxy' },
    );

  let dir: string;
  /** Every idle Server routed by its owner among `proxies` alone (rendezvous over their task ARNs). */
  const routedByOwners = (proxies: readonly string[], addresses: readonly string[] = SERVERS) =>
    waitFor(
      async () => {
        const r = await routers();
        assert.ok([...r.values()].every((owners) => owners.length === 1), `a Server routed by two Proxies: ${JSON.stringify([...r])}`);
        const busy = await streamsByServer();
        const arns = proxies.map((p) => proxyTask.get(p)!);
        return addresses.every((a) => (busy.get(a)?.length ?? 0) > 0 || r.get(a)?.[0] === proxies[arns.indexOf(ownerOf(serverName.get(a)!, arns)!)]) ? r : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 100, what: `every idle Server to be routed by its owner among ${proxies.join(', ')}` },
    );

  before(async () => {
    dir = await tempDir(cleanup, 'multi-proxy');
    emulator = await startEcsEmulator({ host: '127.0.0.1', port: 0 });
    cleanup.defer('emulator', () => emulator.close());
    useEmulatorForAws(cleanup, emulator.url);
    servers = await startRtmpServers(SERVERS, { port: PORTS.server, statPort: PORTS.stat, workDir: path.join(dir, 'servers') });
    cleanup.defer('rtmp servers', () => Promise.all(servers.map((s) => s.stop())));
    const arns = SERVERS.map((address, i) => emulator.addTask({ cluster: 'media', service: 'rtmp-server', address, taskId: `5e7ee7${String(i).padStart(26, '0')}` }));
    for (const [i, arn] of arns.entries()) serverName.set(SERVERS[i]!, serverNameForTask(taskIdFromArn(arn)!));
    // Proxy task ids chosen (the first that fit, searched the same way every run) so that the shares
    // exercise every test: three Servers each for two Proxies, at least two for a third one.
    const prefix = arns[0]!.slice(0, arns[0]!.lastIndexOf('/') + 1);
    const id = (n: number) => `9f0c5${String(n).padStart(27, '0')}`;
    const names = [...serverName.values()];
    const fits = (k: number) => {
      const [a, b, c] = [0, 1, 2].map((j) => prefix + id(3 * k + j)) as [string, string, string];
      return names.filter((n) => ownerOf(n, [a, b]) === a).length === 3 && names.filter((n) => ownerOf(n, [a, b, c]) === c).length >= 2;
    };
    const k = Array.from({ length: 500 }, (_, i) => i).find(fits);
    assert.ok(k !== undefined, 'proxy task ids with usable shares');
    proxyIds.push(...[0, 1, 2].map((j) => id(3 * k + j)));
    for (const [i, address] of PROXIES.entries()) proxyTask.set(address, emulator.addTask({ cluster: 'media', service: 'rtmp-proxy', address, taskId: proxyIds[i]! }));
    for (const address of PROXIES) await startProxy(address);
    for (const d of daemons.values()) assert.ok((await d.firstSync).ok);
  });
  after(() => cleanup.run());

  test('each Server is routed by exactly one Proxy, and both Proxies own some', async () => {
    const r = await settled();
    const counts = PROXIES.map((p) => [...r.values()].filter((owners) => owners[0] === p).length);
    assert.ok(counts.every((n) => n > 0), `shares ${counts.join('/')}`);
    // What an operator sees: the peer in `status`, the holds and the peers in the metrics.
    const [a, b] = PROXIES as [string, string];
    const report = await readStatus(configs.get(a)!);
    assert.deepEqual(report.peers.map((p) => p.address), [b]);
    assert.match(formatStatus(report), new RegExp(`^peer peer-\\S+ ${b.replace(/\./g, '\\.')}:${PORTS.peer}: has a free Server, 0 forwarded`, 'm'));
    await daemons.get(a)!.syncNow();
    const metrics = await daemons.get(a)!.metrics.registry.metrics();
    assert.match(metrics, /^rtmp_proxy_peers 1$/m);
    assert.match(metrics, new RegExp(`^rtmp_proxy_servers_held\\{reason="owned-by-peer"\\} ${counts[1]}$`, 'm'));
  });

  test('waves of simultaneous streamers, one at each Proxy: all placed, never two on one Server', async () => {
    for (let wave = 0; wave < 3; wave++) {
      const keys = PROXIES.map((_, i) => `wave${wave}-${i}`);
      await Promise.all(PROXIES.map((p, i) => publish(keys[i]!, p)));
      const where = await placed(keys);
      assert.equal(new Set(keys.map((k) => where.get(k))).size, keys.length, `wave ${wave}: one Server per stream`);
    }
    assert.deepEqual(doubleBooked, []);
    await stopAll();
  });

  test('spillover: every streamer through one Proxy fills the whole fleet (its own Servers, then its peer\'s)', async () => {
    await settled();
    const keys = SERVERS.map((_, i) => `spill-${i}`);
    for (const key of keys) await publish(key, PROXIES[0]!);
    const where = await placed(keys);
    assert.equal(new Set(where.values()).size, SERVERS.length, 'six streams on six Servers');
    assert.deepEqual(doubleBooked, []);
    await stopAll();
  });

  test('a third Proxy joins while streams run: it takes its share once idle, no stream is cut, never two routers', async () => {
    await settled();
    const keys = PROXIES.map((_, i) => `before-join-${i}`);
    await Promise.all(PROXIES.map((p, i) => publish(keys[i]!, p)));
    const where = await placed(keys);
    proxyTask.set(THIRD, emulator.addTask({ cluster: 'media', service: 'rtmp-proxy', address: THIRD, taskId: proxyIds[2]! }));
    await startProxy(THIRD);
    // Every idle Server settles on its new owner; the two busy ones stay out of the new owner's rotation until idle.
    await routedByOwners([...PROXIES, THIRD]);
    for (const key of keys) assert.ok((await streamsByServer()).get(where.get(key)!)?.includes(key), `${key} goes on`);
    await stopAll();
    // Once idle, the busy ones move to their owners too; a streamer at the new Proxy is placed.
    const r = await routedByOwners([...PROXIES, THIRD]);
    assert.ok([...r.values()].some((owners) => owners[0] === THIRD), 'the new Proxy routes its share');
    await publish('via-third', THIRD);
    await placed(['via-third']);
    assert.deepEqual(doubleBooked, []);
    await stopAll();
  });

  test('the new Proxy dies (SIGKILL, HAProxy with it): its Servers go back to the others', async () => {
    const third = daemons.get(THIRD)!;
    const { workerPids, masterPid } = await third.haproxy.masterStatus();
    await third.stop(); // the daemon dies with the task; its HAProxy is killed below, not stopped
    daemons.delete(THIRD);
    for (const pid of [masterPid, ...workerPids]) process.kill(pid, 'SIGKILL');
    emulator.removeTask(proxyTask.get(THIRD)!);
    await routedByOwners(PROXIES);
    assert.deepEqual(doubleBooked, []);
  });

  test('a live peer that does not answer: its share stays idle, nothing else is taken over while it is silent', async () => {
    await routedByOwners(PROXIES);
    const silent = emulator.addTask({ cluster: 'media', service: 'rtmp-proxy', address: SILENT });
    proxyTask.set(SILENT, silent);
    // A new Server while the silent peer is listed: nobody may take it (the silent peer might route to it).
    const address = '127.0.46.17';
    const [extra] = await startRtmpServers([address], { port: PORTS.server, statPort: PORTS.stat, workDir: path.join(dir, 'servers-extra') });
    cleanup.defer('extra server', () => extra!.stop());
    servers.push(extra!);
    const task = emulator.addTask({ cluster: 'media', service: 'rtmp-server', address });
    serverName.set(address, serverNameForTask(taskIdFromArn(task)!));
    // Two syncs each: both live Proxies have seen the silent peer and the new Server.
    for (let i = 0; i < 2; i++) for (const d of daemons.values()) await d.syncNow();
    const arns = [...PROXIES, SILENT].map((p) => proxyTask.get(p)!);
    const owner = (a: string) => [...PROXIES, SILENT][arns.indexOf(ownerOf(serverName.get(a)!, arns)!)];
    const r = await routers();
    assert.equal(r.get(address), undefined, 'the new Server is not routed while a live peer is silent');
    for (const a of SERVERS) {
      // The silent peer's share leaves rotation (it might route to it); the rest stays where it was.
      if (owner(a) === SILENT) assert.equal(r.get(a), undefined, `${a} (the silent peer's) is not routed`);
      else assert.deepEqual(r.get(a), [owner(a)], `${a} stays with its owner`);
    }
    // It leaves ECS: everything is routed again, the new Server included.
    emulator.removeTask(silent);
    proxyTask.delete(SILENT);
    await routedByOwners(PROXIES, [...SERVERS, address]);
    emulator.removeTask(task);
    assert.deepEqual(doubleBooked, []);
  });

  test('a Proxy list that flaps (the two Proxies disagree for seconds) while streamers arrive: never two routers, never two streams', async (t) => {
    const [a, b] = PROXIES as [string, string];
    await routedByOwners(PROXIES);
    let flapping = true;
    let violations = 0;
    // Every 100 ms: no Server routed by two Proxies.
    const watcher = (async () => {
      for (let i = 0; flapping && i < 300; i++) {
        const r = await routers();
        if ([...r.values()].some((owners) => owners.length > 1)) violations++;
        await new Promise((res) => setTimeout(res, 100));
      }
    })();
    // B leaves and rejoins ECS's list every 700 ms (A's and B's syncs see different lists), while six
    // streamers arrive, alternately at each Proxy.
    const flapper = (async () => {
      for (let i = 0; i < 10; i++) {
        emulator.setTask(proxyTask.get(b)!, { desiredStatus: i % 2 === 0 ? 'STOPPED' : 'RUNNING' });
        await new Promise((res) => setTimeout(res, 700));
      }
      emulator.setTask(proxyTask.get(b)!, { desiredStatus: 'RUNNING' });
    })();
    const keys = Array.from({ length: 6 }, (_, i) => `flap-${i}`);
    try {
      for (const [i, key] of keys.entries()) {
        await publish(key, i % 2 === 0 ? a : b);
        await new Promise((res) => setTimeout(res, 500));
      }
      await flapper;
      // Each streamer ends up publishing, or turned away: while ownership moves back and forth a
      // Server can be routed by nobody for a sync, and a streamer queued at a Proxy with no free Server
      // of its own waits there (timeout queue, 10 s) — capacity lost for a moment, never a double-booking.
      const outcome = await waitFor(
        async () => {
          const on = new Map<string, string>();
          for (const [address, ks] of await streamsByServer()) for (const k of ks) on.set(k, address);
          return keys.every((k) => on.has(k) || !live.get(k)!.running()) ? on : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 250, what: 'every flapping streamer placed or turned away' },
      );
      t.diagnostic(`placed ${outcome.size} of ${keys.length} streamers while the Proxy list flapped`);
      assert.ok(outcome.size >= keys.length - 2, `most streamers placed: ${outcome.size} of ${keys.length}`);
      assert.equal(new Set(outcome.values()).size, outcome.size, 'one stream per Server');
    } finally {
      flapping = false;
      await watcher;
      await flapper;
      await stopAll();
    }
    assert.equal(violations, 0, 'a Server was routed by two Proxies at once');
    assert.deepEqual(doubleBooked, []);
    // Once the list is steady again, everything is routed by its owner and both Proxies place streamers.
    await routedByOwners(PROXIES);
    await Promise.all(PROXIES.map((p, i) => publish(`after-flap-${i}`, p)));
    await placed(PROXIES.map((_, i) => `after-flap-${i}`));
    await stopAll();
  });

  test('a Proxy that shuts down hands its Servers over; streams through the other go on', async () => {
    const [a, b] = PROXIES as [string, string];
    await settled();
    await publish('via-a', a);
    await publish('via-b', b);
    const where = await placed(['via-a', 'via-b']);
    // ECS stops the task (desired STOPPED: gone from the list), then the daemon gets SIGTERM.
    emulator.removeTask(proxyTask.get(b)!);
    const stopping = daemons.get(b)!.stop({ stopHaproxy: true });
    // While B waits for its stream to end (SHUTDOWN_GRACE_SECONDS), its Servers are out of its rotation,
    // and a streamer that still reaches it (DNS answers live a while) is forwarded to A, not refused.
    const driverB = daemons.get(b)!.driver;
    await waitFor(async () => (await driverB.backend()).servers.every((x) => x.maintenance), { timeoutMs: 5_000, intervalMs: 50, what: "B's Servers out of its rotation" });
    await publish('late-at-b', b);
    const late = await placed(['late-at-b']);
    const aRoutes = new Set((await daemons.get(a)!.driver.backend()).servers.filter((x) => !x.maintenance).map((x) => x.address));
    assert.ok(aRoutes.has(late.get('late-at-b')!), `the late streamer went to a Server A routes (${late.get('late-at-b')})`);
    await stopping;
    daemons.delete(b);
    await routedByOwners([a]);
    assert.ok(live.get('via-a')!.running(), 'the stream through the remaining Proxy was not cut');
    assert.ok((await streamsByServer()).get(where.get('via-a')!)?.includes('via-a'));
    assert.deepEqual(doubleBooked, []);
  });
});
