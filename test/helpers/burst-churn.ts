// A burst-and-churn load on one real daemon (`startDaemon`, ECS discovery through the real SDK against
// the emulator, APPLY_MODE=runtime, a sync every second) in front of stand-in Servers: the fleet is
// full, streamers wait in HAProxy's queue, and every second some tasks stop (busy or not) and new ones
// start, some at an address a stopped task had. Each stand-in Server counts the streams it carries by
// its own count of connections that sent data (HAProxy's health checks connect but send nothing), so a
// double-booking is seen where it happens, not in HAProxy's numbers. Shared by test/ and bench/.
import net from 'node:net';
import { loadConfig } from '../../src/config.js';
import { startDaemon } from '../../src/daemon.js';
import { startEcsEmulator } from '../../dev/emulator/ecs-emulator.js';
import { silentLogger, type Logger } from '../../src/log.js';
import { Cleanup } from './processes.js';
import { tempDir, useEmulatorForAws, proxyEnv } from './fixtures.js';
import { RTMP_C0_C1 } from './tcp-backends.js';
import { mulberry32 } from '../../src/core/scaling-sim.js';

export interface ChurnScenario {
  /** Seeds the arrivals, holds and churn: the same seed gives the same load. */
  seed: number;
  /** Stand-in Server addresses; tasks come and go on these. */
  addresses: readonly string[];
  serverPort: number;
  proxy: { address: string; rtmp: number; health: number };
  /** Tasks RUNNING at the start (the rest of the addresses are free for new tasks). */
  initialTasks: number;
  /** Tasks stopped, and as many started, every second. */
  churnPerSecond: number;
  streamers: number;
  /** Streamers arrive at random over this many seconds. */
  arrivalSeconds: number;
  /** Each placed streamer holds its stream for a random time in this range. */
  holdSeconds: readonly [number, number];
  /** A new task's Server listens up to this long after ECS says RUNNING. */
  listenDelayMs: number;
  /** The Server tasks have a container health check: UNKNOWN until they listen, then HEALTHY. */
  healthyWhenListening?: boolean;
  /**
   * A stopped task's address goes to a new task only this long after (default 0: at once). HAProxy
   * retries a refused connection on the same address for ~3 s without counting it against the server;
   * a new task listening there within that time takes that stream beside its own (bench section 6).
   */
  reuseAfterMs?: number;
  haproxyBin: string;
  /** More daemon settings (e.g. HAPROXY_TEMPLATE). */
  env?: Record<string, string>;
  logger?: Logger;
}

export interface ChurnResult {
  haproxyVersion: string;
  streamers: number;
  /** Streamers that reached a Server. */
  placed: number;
  /** Streamers closed before reaching a Server (queue timeout, or no Server at all). */
  refused: number;
  /** Placed streams closed by the far side before the streamer ended them. */
  cut: number;
  /** Placed streamers that waited in HAProxy's queue first (a second or more). */
  queued: number;
  /** Servers that ever carried two streams at once, by their own count. */
  doubleBooked: number;
  /** The longest time one Server carried two or more streams at once. */
  longestOverlapMs: number;
  /** The most streams one Server carried at once. */
  peakOnOneServer: number;
  /** Each double-booked Server and when it first carried two streams (ISO time), to trace in the logs. */
  overlaps: Array<{ address: string; at: string }>;
  /** Times HAProxy's master or worker changed during the run (a crash and restart, or a reload). */
  haproxyRestarts: number;
  tasksStopped: number;
  /** Of those, tasks whose Server carried a stream when they stopped. */
  busyTasksStopped: number;
  tasksStarted: number;
  /** New tasks placed at an address a stopped task had. */
  addressesReused: number;
  durationMs: number;
}

/** A seeded PRNG (the simulator's mulberry32), so a seed names a load pattern. */
export const seededRandom = mulberry32;

/**
 * The stand-in Servers at one address: a listener while a task runs there (closed when the task stops:
 * its live streams go on, new connections and health checks are refused, as a stopping task's would be),
 * and the count of streams at that address across the tasks that had it.
 */
interface StreamCountingAddress {
  readonly address: string;
  /** When it first carried two streams at once (ms since epoch). */
  readonly firstOverlapAt: number | undefined;
  /** Streams at this address now. */
  readonly streams: number;
  readonly overlapMs: number;
  readonly peak: number;
  /** A task starts here: listen. */
  listen(): Promise<void>;
  /** The task stopped: stop accepting; streams in flight go on. */
  stopListening(): void;
  close(): Promise<void>;
}

function streamCountingAddress(address: string, port: number): StreamCountingAddress {
  const streams = new Set<net.Socket>();
  const sockets = new Set<net.Socket>();
  let listener: net.Server | undefined;
  let peak = 0;
  let overlapMs = 0;
  let overlapSince: number | undefined;
  let firstOverlapAt: number | undefined;
  const recount = () => {
    peak = Math.max(peak, streams.size);
    if (streams.size >= 2) {
      overlapSince ??= Date.now();
      firstOverlapAt ??= overlapSince;
    }
    else if (overlapSince !== undefined) {
      overlapMs = Math.max(overlapMs, Date.now() - overlapSince);
      overlapSince = undefined;
    }
  };
  const onConnection = (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.once('data', () => {
      // Data means a streamer: count it and greet it with our address; then take its media, as
      // nginx-rtmp does (nothing flows back, so no buffer delays seeing the end).
      streams.add(socket);
      recount();
      if (process.env.CHURN_TRACE) console.error(`${new Date().toISOString()} ${address} stream from :${socket.remotePort} (now ${streams.size})`);
      socket.write(`${address}\n`);
      socket.resume();
    });
    // The stream ends when its sender is done (FIN) or the connection goes.
    const ended = () => {
      if (streams.delete(socket)) recount();
    };
    socket.on('end', ended);
    socket.on('close', () => {
      sockets.delete(socket);
      ended();
    });
  };
  // Closing the listening socket is immediate; close()'s callback would wait for the live streams.
  const stopListening = () => {
    listener?.close();
    listener = undefined;
  };
  return {
    address,
    get overlapMs() {
      return overlapSince === undefined ? overlapMs : Math.max(overlapMs, Date.now() - overlapSince);
    },
    get peak() {
      return peak;
    },
    get streams() {
      return streams.size;
    },
    get firstOverlapAt() {
      return firstOverlapAt;
    },
    listen: async () => {
      if (listener) return;
      const server = net.createServer(onConnection);
      listener = server;
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, address, () => resolve());
      });
    },
    stopListening,
    close: async () => {
      for (const s of sockets) s.destroy();
      stopListening();
    },
  };
}

const CHUNK = Buffer.alloc(8 * 1024, 0x2e);
/** How long after its quarantine a freed address counts as "recently freed" (a new task may get it). */
const REUSE_WINDOW_MS = 3000;
/** A connect through HAProxy takes milliseconds; a second or more means the streamer was queued. */
const QUEUED_MS = 1000;

type StreamerFate = { fate: 'refused' | 'cut' | 'completed'; waitedMs: number };

/** One streamer: connects, sends at once (as RTMP's handshake does), waits to be placed, holds, ends. */
function streamer(proxy: { address: string; rtmp: number }, holdMs: number, placeWithinMs: number): Promise<StreamerFate> {
  const connectedAt = Date.now();
  let waitedMs = 0;
  return new Promise((resolve) => {
    const socket = net.connect({ host: proxy.address, port: proxy.rtmp });
    let placed = false;
    let ending = false;
    let pinger: NodeJS.Timeout | undefined;
    const finish = (fate: StreamerFate['fate']) => {
      clearTimeout(placeTimer);
      clearTimeout(holdTimer);
      clearInterval(pinger);
      socket.destroy();
      resolve({ fate, waitedMs });
    };
    let holdTimer: NodeJS.Timeout | undefined;
    const placeTimer = setTimeout(() => finish('refused'), placeWithinMs);
    socket.on('error', () => undefined);
    socket.on('connect', () => socket.write(Buffer.concat([RTMP_C0_C1, Buffer.from('publish\n')])));
    socket.on('data', (d) => {
      if (placed || !d.toString().includes('\n')) return;
      placed = true;
      waitedMs = Date.now() - connectedAt;
      clearTimeout(placeTimer);
      // A stream's media: a steady flow (about 160 KB/s), as ffmpeg's would be.
      pinger = setInterval(() => socket.write(CHUNK), 50);
      holdTimer = setTimeout(() => {
        ending = true;
        finish('completed');
      }, holdMs);
    });
    socket.on('close', () => {
      if (!ending) finish(placed ? 'cut' : 'refused');
    });
  });
}

/** Runs the scenario start to end and reports what the Servers saw. Everything it starts, it stops. */
export async function runBurstChurn(s: ChurnScenario): Promise<ChurnResult> {
  const cleanup = new Cleanup();
  const started = Date.now();
  const random = seededRandom(s.seed);
  try {
    const dir = await tempDir(cleanup, 'churn');
    const emulator = await startEcsEmulator({ host: '127.0.0.1', port: 0 });
    cleanup.defer('emulator', () => emulator.close());
    useEmulatorForAws(cleanup, emulator.url);
    const servers = new Map(s.addresses.map((address) => [address, streamCountingAddress(address, s.serverPort)]));
    for (const server of servers.values()) cleanup.defer(`server ${server.address}`, () => server.close());

    const running = new Map<string, string>(); // task ARN → address
    // ECS says RUNNING once the container started, a moment before the Server listens: health checks
    // of a new Server may fail at first.
    // With a container health check (healthyWhenListening), ECS reports the task UNKNOWN until it listens, then HEALTHY.
    const startTask = async (address: string, listenAfterMs = 0) => {
      const arn = emulator.addTask({ cluster: 'media', address, ...(s.healthyWhenListening && { healthStatus: 'UNKNOWN' }) });
      running.set(arn, address);
      const listen = async () => {
        await servers.get(address)!.listen();
        if (s.healthyWhenListening && running.has(arn)) emulator.setTask(arn, { healthStatus: 'HEALTHY' });
      };
      if (listenAfterMs === 0) await listen();
      else setTimeout(() => void listen().catch(() => undefined), listenAfterMs);
    };
    let busyTasksStopped = 0;
    const stopTask = (arn: string) => {
      const address = running.get(arn)!;
      if (servers.get(address)!.streams > 0) busyTasksStopped++;
      emulator.removeTask(arn);
      running.delete(arn);
      servers.get(address)!.stopListening();
      return address;
    };
    for (const address of s.addresses.slice(0, s.initialTasks)) await startTask(address);

    const config = loadConfig({
      DISCOVERY: 'ecs',
      ECS_CLUSTER: 'media',
      // Every streamer here comes from one address (127.0.0.1): no per-source limits.
      SOURCE_MAX_STREAMS: 'off',
      SOURCE_MAX_CONNECT_RATE: 'off',
      SERVER_PORT: String(s.serverPort),
      SYNC_SCHEDULE: '* * * * * *',
      APPLY_MODE: 'runtime',
      METRICS_PORT: 'off',
      HAPROXY_BIN: s.haproxyBin,
      // Streamers hold seconds, not minutes: a shutdown at the end must not wait for them.
      SHUTDOWN_GRACE_SECONDS: '0',
      ...proxyEnv(dir, s.proxy),
      ...s.env,
    });
    const daemon = startDaemon(config, s.logger ?? silentLogger());
    cleanup.defer('daemon', () => daemon.stop({ stopHaproxy: true }));
    const first = await daemon.firstSync;
    if (!first.ok) throw new Error(`the first sync failed: ${first.stage}: ${first.error.message}`);
    const haproxyVersion = (await daemon.haproxy.version()) ?? 'unknown';

    // Churn: every second, stop some tasks (busy or not) and start as many on free addresses, half of
    // the time one a task just left.
    let tasksStopped = 0;
    let tasksStarted = 0;
    let addressesReused = 0;
    const recentlyFreed: string[] = [];
    const freedAt = new Map<string, number>();
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
    // HAProxy's processes, seen every second: a new master or worker means HAProxy restarted or reloaded.
    const processesSeen = new Set<string>();
    const noteProcesses = async () => {
      const status = await daemon.haproxy.masterStatus().catch(() => undefined);
      if (status) processesSeen.add(`${status.masterPid}/${status.workerPids.join(',')}`);
    };
    await noteProcesses();
    const churnTick = async () => {
      await noteProcesses();
      for (let i = 0; i < s.churnPerSecond && running.size > 0; i++) {
        const address = stopTask(pick([...running.keys()]));
        recentlyFreed.push(address);
        freedAt.set(address, Date.now());
        tasksStopped++;
      }
      const used = new Set(running.values());
      const sinceFreed = (a: string) => Date.now() - (freedAt.get(a) ?? -Infinity);
      const eligible = (a: string) => !used.has(a) && sinceFreed(a) >= (s.reuseAfterMs ?? 0);
      for (let i = 0; i < s.churnPerSecond; i++) {
        // "Reused": an address freed in the 3 s after the quarantine (reuseAfterMs) ended.
        const reusable = recentlyFreed.filter((a) => eligible(a) && sinceFreed(a) < (s.reuseAfterMs ?? 0) + REUSE_WINDOW_MS);
        const free = s.addresses.filter(eligible);
        if (free.length === 0) break;
        const reuse = reusable.length > 0 && random() < 0.5;
        const address = reuse ? pick(reusable) : pick(free);
        if (reuse) addressesReused++;
        await startTask(address, Math.round(random() * s.listenDelayMs));
        used.add(address);
        tasksStarted++;
      }
      const horizon = (s.reuseAfterMs ?? 0) + REUSE_WINDOW_MS;
      recentlyFreed.splice(0, recentlyFreed.findIndex((a) => sinceFreed(a) < horizon) >>> 0);
    };

    // Arrivals at random over the window; each holds a random time; the queue (timeout queue 10s) is
    // where the bursts wait, so a streamer is refused only after waiting longer than that.
    const [minHold, maxHold] = s.holdSeconds;
    const arrivals = Array.from({ length: s.streamers }, () => ({
      at: random() * s.arrivalSeconds * 1000,
      holdMs: (minHold + random() * (maxHold - minHold)) * 1000,
    })).sort((a, b) => a.at - b.at);
    const churnUntil = started + s.arrivalSeconds * 1000 + maxHold * 1000;
    let churning = Promise.resolve();
    const churn = setInterval(() => {
      if (Date.now() < churnUntil) churning = churning.then(churnTick);
    }, 1000);
    cleanup.defer('churn', () => clearInterval(churn));

    const fates: Array<Promise<StreamerFate>> = [];
    const t0 = Date.now();
    for (const a of arrivals) {
      const wait = t0 + a.at - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      fates.push(streamer(s.proxy, a.holdMs, 15_000));
    }
    const outcome = await Promise.all(fates);
    clearInterval(churn);
    await churning;

    const counts = [...servers.values()];
    const doubleBooked = counts.filter((sv) => sv.peak >= 2);
    return {
      haproxyVersion,
      streamers: s.streamers,
      placed: outcome.filter((f) => f.fate !== 'refused').length,
      refused: outcome.filter((f) => f.fate === 'refused').length,
      cut: outcome.filter((f) => f.fate === 'cut').length,
      queued: outcome.filter((f) => f.fate !== 'refused' && f.waitedMs >= QUEUED_MS).length,
      doubleBooked: doubleBooked.length,
      longestOverlapMs: Math.max(0, ...counts.map((sv) => sv.overlapMs)),
      peakOnOneServer: Math.max(0, ...counts.map((sv) => sv.peak)),
      overlaps: doubleBooked.map((sv) => ({ address: sv.address, at: new Date(sv.firstOverlapAt!).toISOString() })),
      haproxyRestarts: processesSeen.size - 1,
      tasksStopped,
      busyTasksStopped,
      tasksStarted,
      addressesReused,
      durationMs: Date.now() - started,
    };
  } finally {
    await cleanup.run();
  }
}
