// Section 7: several Proxies in front of one fleet (issue 14). n real daemons and HAProxys (1 s
// schedule) before 12 holding stand-in Servers, the Servers and the Proxies both ECS tasks in the
// emulator. 12 streamers per trial (one per Server), either in simultaneous waves (one per Proxy at
// the same moment) or spread at random over one sync interval at random Proxies. Counted by each
// Server's own open connections: double-booked Servers, streamers turned away (every one of them while
// a Server was free: there are as many Servers as streamers). Ours (PROXY_SERVICE) against per-Proxy
// `maxconn 1` alone (today's main). Then, for ours, a Proxy joins: how long each Server that changes
// owner is routed by nobody, and the connect latency of a spilled streamer against a direct one.
import { loadConfig } from '../../src/config.js';
import { ownerOf } from '../../src/core/ownership.js';
import { startDaemon, type Daemon } from '../../src/daemon.js';
import { serverNameForTask, taskIdFromArn } from '../../src/model.js';
import { startEcsEmulator, type EcsEmulator } from '../../dev/emulator/ecs-emulator.js';
import { openHeldStream, type HeldStream } from '../../test/helpers/tcp-backends.js';
import { Cleanup } from '../../test/helpers/processes.js';
import { proxyEnv, tempDir, useEmulatorForAws } from '../../test/helpers/fixtures.js';
import { logger, median, percentile, round, spareAddress, startCountingBackend, yesNo, type BenchContext, type CountingBackend } from '../lib.js';

const SERVERS = 12;
const serverAddress = (i: number) => spareAddress(240 + i);
const proxyAddress = (i: number) => spareAddress(230 + i);
const PORTS = { rtmp: 19490, health: 18490, peer: 19491, peerApi: 18491, server: 19492 };
const POLL_MS = 50;

type Approach = 'ours' | 'maxconn-only';
type Pattern = 'simultaneous' | 'spread';

interface Fleet {
  emulator: EcsEmulator;
  backends: CountingBackend[];
  daemons: Daemon[];
  proxyArns: string[];
  serverNames: string[];
  cleanup: Cleanup;
  dir: string;
}

/** Which Proxies route new streams to each Server (index by Server). */
async function routers(f: Fleet): Promise<number[][]> {
  const by: number[][] = f.backends.map(() => []);
  for (const [p, d] of f.daemons.entries()) {
    const { servers } = await d.driver.backend().catch(() => ({ servers: [] }));
    for (const s of servers) {
      const i = f.backends.findIndex((b) => b.address === s.address);
      if (i >= 0 && !s.maintenance && s.status.startsWith('UP')) by[i]!.push(p);
    }
  }
  return by;
}

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < 100_000; i++) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  throw new Error(`gave up waiting for ${what}`);
}

function startProxy(f: Fleet, i: number, approach: Approach): Daemon {
  const address = proxyAddress(i);
  const config = loadConfig({
    ECS_CLUSTER: 'media',
    ECS_SERVICE: 'rtmp-server',
    // Every streamer here comes from one address (127.0.0.1): no per-source limits.
    SOURCE_MAX_STREAMS: 'off',
    SOURCE_MAX_CONNECT_RATE: 'off',
    SERVER_PORT: String(PORTS.server),
    SYNC_SCHEDULE: '* * * * * *',
    METRICS_PORT: 'off',
    SHUTDOWN_GRACE_SECONDS: '0',
    ...(approach === 'ours' && { PROXY_SERVICE: 'rtmp-proxy', PROXY_TASK_ARN: f.proxyArns[i]!, PEER_PORT: String(PORTS.peer), PEER_API_PORT: String(PORTS.peerApi) }),
    ...proxyEnv(`${f.dir}/${address}`, { address, rtmp: PORTS.rtmp, health: PORTS.health }),
  });
  const d = startDaemon(config, logger);
  f.cleanup.defer(`daemon ${address}`, () => d.stop({ stopHaproxy: true }));
  return d;
}

async function setUp(n: number, approach: Approach): Promise<Fleet> {
  const cleanup = new Cleanup();
  const dir = await tempDir(cleanup, 'bench-proxies');
  const emulator = await startEcsEmulator({ host: '127.0.0.1', port: 0 });
  cleanup.defer('emulator', () => emulator.close());
  useEmulatorForAws(cleanup, emulator.url);
  const backends: CountingBackend[] = [];
  const serverNames: string[] = [];
  for (let i = 0; i < SERVERS; i++) {
    const b = await startCountingBackend(serverAddress(i), PORTS.server, { hold: true });
    cleanup.defer(`backend ${i}`, () => b.close());
    backends.push(b);
    serverNames.push(serverNameForTask(taskIdFromArn(emulator.addTask({ cluster: 'media', service: 'rtmp-server', address: serverAddress(i) }))!));
  }
  const proxyArns = Array.from({ length: 6 }, (_, i) => emulator.addTask({ cluster: 'media', service: 'rtmp-proxy', address: proxyAddress(i), desiredStatus: i < n ? 'RUNNING' : 'STOPPED' }));
  const f: Fleet = { emulator, backends, daemons: [], proxyArns, serverNames, cleanup, dir };
  for (let i = 0; i < n; i++) f.daemons.push(startProxy(f, i, approach));
  for (const d of f.daemons) await d.firstSync;
  await settle(f, approach);
  return f;
}

/** Ours: every Server routed by exactly one Proxy, every peer checked (can take spilled streamers); maxconn only: by every Proxy. */
function settle(f: Fleet, approach: Approach): Promise<number[][]> {
  const n = f.daemons.length;
  return until('the Proxies to settle', 30_000, async () => {
    const r = await routers(f);
    if (!r.every((owners) => owners.length === (approach === 'ours' ? 1 : n))) return undefined;
    // A peer that routes some Server has a free one (no stream runs between trials): its /free must be seen.
    const routing = new Set(r.flat().map((p) => proxyAddress(p)));
    for (const d of approach === 'ours' ? f.daemons : []) {
      const peers = (await d.driver.backend()).peers ?? [];
      if (peers.length !== n - 1 || !peers.every((p) => !routing.has(p.address) || p.status.startsWith('UP'))) return undefined;
    }
    return r;
  });
}

interface TrialResult {
  placed: number;
  turnedAway: number;
  doubleBooked: number;
  latencies: { direct: number[]; spilled: number[] };
}

async function trial(f: Fleet, pattern: Pattern, approach: Approach, seed: number): Promise<TrialResult> {
  let state = seed;
  const random = () => ((state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const owners = await settle(f, approach);
  const n = f.daemons.length;
  const streams: HeldStream[] = [];
  const result: TrialResult = { placed: 0, turnedAway: 0, doubleBooked: 0, latencies: { direct: [], spilled: [] } };
  const open = async (proxy: number) => {
    const t = performance.now();
    try {
      const s = await openHeldStream(proxyAddress(proxy), PORTS.rtmp, 15_000);
      const ms = performance.now() - t;
      streams.push(s);
      result.placed++;
      const i = f.backends.findIndex((b) => b.address === s.server);
      (approach === 'ours' && owners[i]?.[0] !== proxy ? result.latencies.spilled : result.latencies.direct).push(ms);
    } catch {
      result.turnedAway++;
    }
  };
  if (pattern === 'simultaneous') {
    for (let opened = 0; opened < SERVERS; opened += n) {
      await Promise.all(Array.from({ length: Math.min(n, SERVERS - opened) }, (_, p) => open(p)));
    }
  } else {
    await Promise.all(
      Array.from({ length: SERVERS }, async () => {
        await new Promise((r) => setTimeout(r, random() * 1000));
        await open(Math.floor(random() * n));
      }),
    );
  }
  result.doubleBooked = f.backends.filter((b) => b.open > 1).length;
  await Promise.all(streams.map((s) => s.close()));
  await until('every stream to end', 10_000, async () => (f.backends.every((b) => b.open === 0) ? true : undefined));
  return result;
}

/** A Proxy joins: for each Server that changes owner, how long no Proxy routes it. */
async function join(f: Fleet): Promise<number[]> {
  const before = f.proxyArns.slice(0, f.daemons.length);
  const joining = f.daemons.length;
  const after = f.proxyArns.slice(0, joining + 1);
  const moved = f.serverNames.flatMap((name, i) => (ownerOf(name, before) !== ownerOf(name, after) ? [i] : []));
  f.emulator.setTask(f.proxyArns[joining]!, { desiredStatus: 'RUNNING' });
  f.daemons.push(startProxy(f, joining, 'ours'));
  const unrouted = new Map<number, number>();
  const since = new Map<number, number>();
  await until('the new Proxy to route its share', 30_000, async () => {
    const r = await routers(f);
    const now = performance.now();
    for (const i of moved) {
      if (r[i]!.length === 0 && !since.has(i)) since.set(i, now);
      if (r[i]!.length > 0 && since.has(i)) {
        unrouted.set(i, (unrouted.get(i) ?? 0) + now - since.get(i)!);
        since.delete(i);
      }
    }
    return moved.every((i) => r[i]!.length === 1 && r[i]![0] === joining) ? true : undefined;
  });
  return moved.map((i) => round(unrouted.get(i) ?? 0, 0));
}

export async function runProxies(ctx: BenchContext) {
  const counts = ctx.quick ? [1, 2, 3] : [1, 2, 3, 5];
  const seeds = ctx.quick ? [1] : [1, 2, 3];
  const rows: string[][] = [];
  const joins: Array<{ n: number; idleMs: number[] }> = [];
  const latency = { direct: [] as number[], spilled: [] as number[] };
  const data: unknown[] = [];
  for (const n of counts) {
    for (const approach of ['maxconn-only', 'ours'] as const) {
      if (n === 1 && approach === 'maxconn-only') continue; // one Proxy: the same thing
      ctx.progress(`proxies: ${approach}, ${n} Proxies: starting`);
      const f = await setUp(n, approach);
      try {
        for (const pattern of ['simultaneous', 'spread'] as const) {
          const results: TrialResult[] = [];
          for (const seed of seeds) {
            results.push(await trial(f, pattern, approach, seed));
            ctx.progress(`proxies: ${approach}, ${n} Proxies, ${pattern}, seed ${seed}: ${JSON.stringify(results.at(-1)!.doubleBooked)} double-booked`);
          }
          for (const r of results.filter(() => approach === 'ours')) {
            latency.direct.push(...r.latencies.direct);
            latency.spilled.push(...r.latencies.spilled);
          }
          const sum = (k: 'placed' | 'turnedAway' | 'doubleBooked') => results.reduce((a, r) => a + r[k], 0);
          data.push({ n, approach, pattern, results });
          rows.push([
            String(n),
            approach === 'ours' ? 'ours (PROXY_SERVICE)' : 'maxconn 1 per Proxy (main before)',
            pattern,
            `${sum('placed')}/${results.length * SERVERS}`,
            String(sum('doubleBooked')),
            String(sum('turnedAway')),
            approach === 'ours' ? '0 double-booked, 0 turned away' : '—',
            approach === 'ours' ? yesNo(sum('doubleBooked') === 0 && sum('turnedAway') === 0) : '—',
          ]);
        }
        if (approach === 'ours' && n < 5) {
          ctx.progress(`proxies: a Proxy joins ${n}`);
          joins.push({ n, idleMs: await join(f) });
        }
      } finally {
        await f.cleanup.run();
      }
    }
  }
  ctx.table({
    section: '7',
    title: `Several Proxies before ${SERVERS} Servers: ${SERVERS} streamers per trial, ${seeds.length} trial(s) per row (counted by each Server's own open connections)`,
    headers: ['Proxies', 'approach', 'arrivals', 'placed', 'Servers double-booked (sum)', 'turned away (a Server was free)', 'target', 'met?'],
    rows,
    notes: [
      'simultaneous: waves of one streamer per Proxy at the same moment; spread: at random times over one sync interval (1 s), at random Proxies.',
      'There are as many Servers as streamers, so a streamer turned away was always turned away while a Server was free.',
    ],
  });
  ctx.table({
    section: '7b',
    title: 'Ours: a Proxy joins; each Server that moves to it is routed by nobody for (ms)',
    headers: ['Proxies before', 'Servers moved', 'median', 'max'],
    rows: joins.map((j) => [String(j.n), String(j.idleMs.length), j.idleMs.length > 0 ? String(median(j.idleMs)) : '—', j.idleMs.length > 0 ? String(Math.max(...j.idleMs)) : '—']),
    notes: ['Idle Servers: the old owner disables, the new owner claims and enables at its next sync (1 s schedule here; 10 s by default), after reading the peers.'],
  });
  ctx.table({
    section: '7c',
    title: 'Ours: connect latency through the Proxy, direct vs spilled to a peer (ms, all trials)',
    headers: ['path', 'streamers', 'p50', 'p99'],
    rows: (['direct', 'spilled'] as const).map((k) => [k, String(latency[k].length), ...[0.5, 0.99].map((p) => (latency[k].length > 0 ? String(round(percentile(latency[k], p), 1)) : '—'))]),
    notes: ['Includes streamers that waited in the queue for a Server to free up (none should: one streamer per Server).'],
  });
  return { rows: data, joins, latency };
}
