// Section 8: ECS task state change events (issue 16) against today's schedule, in one run.
// The real daemon (startDaemon) against the project's emulator, which serves ECS, SQS and SNS and emits
// real-shape "ECS Task State Change" events to an SNS topic; with EVENTS_TOPIC_ARN the daemon makes its
// own queue, subscribes it and long-polls it with the real SDK.
//   8a convergence of ADD (PENDING → RUNNING) and STOP (desiredStatus STOPPED), events vs schedules;
//   8b ECS calls per Proxy per minute in a steady fleet at 1,000 and 5,000 Servers;
//   8c time-to-effect of one change at 1,000 Servers, broken down from the daemon's own log lines;
//   8d the events daemon's RSS at 5,000 Servers, in a process of its own (bench/events-probe.ts).
// Loopback only: Proxies on 127.0.60.241–250, ports 19701–19740; stand-in Servers 127.0.60.1–80:19791;
// the 1,000/5,000 fleets (and 8d's added tasks, 127.0.81–82.x) are addresses nothing listens on (port 19790).
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { startEcsEmulator, type EcsEmulator } from '../../dev/emulator/ecs-emulator.js';
import { startDaemon, type Daemon } from '../../src/daemon.js';
import { createEcsDiscovery } from '../../src/discovery/ecs.js';
import type { Discovery } from '../../src/discovery/types.js';
import { createLogger, type Logger } from '../../src/log.js';
import { RuntimeApi } from '../../src/haproxy/runtime-api.js';
import { RTMP_BACKEND, serverNameForTask, taskIdFromArn } from '../../src/model.js';
import {
  bounded,
  createProxy,
  daemonFlagsNote,
  daemonNodeFlags,
  fleetAddress,
  median,
  percentile,
  round,
  startCountingBackend,
  yesNo,
  type BenchContext,
  type CountingBackend,
  type Proxy,
} from '../lib.js';
import type { Breakdown } from '../events-probe.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const PROBE = path.resolve(HERE, '../events-probe.js');
const LIVE_PORT = 19791; // the stand-in Servers of 8a
const FLEET_PORT = 19790; // the large fleets: nothing listens
const PREFIX = 'rtmp-proxy-bench-events-';
const ECS_ACTIONS = ['ListTasks', 'DescribeTasks', 'DescribeNetworkInterfaces'] as const;
const POLL_MS = 5;
const GOAL_CONVERGENCE_MS = 2000;
const GOAL_EFFECT_MS = 10;
const GOAL_RSS_MB = 100;
const FULL_SYNC_SECONDS = 300; // the default FULL_SYNC_INTERVAL
const FULL_REFRESH_EVERY = 30; // the ECS discovery describes everything afresh every 30th listing

// ---- the daemon's log, timestamped as each line is written ----

interface LogLine {
  t: number;
  msg: string;
  level: number;
  fields: Record<string, unknown>;
}

const KEEP = /^(ECS task event|ECS task events|server |sync|previous sync)/;

function capturingLogger(level = 'debug'): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const logger = createLogger(level, {
    write(chunk: string) {
      const t = performance.now();
      for (const l of chunk.split('\n')) {
        if (l.trim() === '') continue;
        const o = JSON.parse(l) as Record<string, unknown>;
        const msg = String(o.msg ?? '');
        const lvl = Number(o.level ?? 30);
        if (lvl >= 40 || KEEP.test(msg)) lines.push({ t, msg, level: lvl, fields: o });
      }
    },
  });
  return { logger, lines };
}

const isSyncLine = (l: LogLine) => l.msg.startsWith('sync: ') || l.msg === 'sync: no change';

// ---- a daemon on its own HAProxy ----

interface Running {
  daemon: Daemon;
  proxy: Proxy;
  lines: LogLine[];
  listing: Discovery;
  close(): Promise<void>;
}

let slot = 0;
const proxyTaskArn = (n: number) => `arn:aws:ecs:us-east-1:123456789012:task/proxies/${(0xbe00 + n).toString(16).padStart(32, '0')}`;

/** The env a daemon of this section runs with (also the probe's). */
async function benchProxy(opts: { cluster: string; cron: string; events?: string; servers: number; serverPort: number }): Promise<{ proxy: Proxy; env: Record<string, string> }> {
  const n = slot++;
  if (n > 9) throw new Error('section 8 has 10 Proxy slots');
  const env: Record<string, string> = {
    DISCOVERY: 'ecs',
    ECS_CLUSTER: opts.cluster,
    SERVER_PORT: String(opts.serverPort),
    SYNC_SCHEDULE: opts.cron,
    METRICS_PORT: 'off',
    ...(opts.events !== undefined && { EVENTS_TOPIC_ARN: opts.events, EVENTS_QUEUE_PREFIX: PREFIX, PROXY_TASK_ARN: proxyTaskArn(n) }),
  };
  const proxy = await createProxy({ applyMode: 'runtime', bind: `127.0.60.${241 + n}`, rtmpPort: 19701 + n, healthPort: 19721 + n, servers: opts.servers, env });
  return { proxy, env: proxy.env };
}

async function startBench(opts: { cluster: string; cron: string; events?: string; servers: number; serverPort: number }): Promise<Running> {
  const { proxy } = await benchProxy(opts);
  const { logger, lines } = capturingLogger();
  const listing = createEcsDiscovery({ cluster: opts.cluster, serverPort: opts.serverPort, addressMode: 'private', logger });
  let daemon: Daemon | undefined;
  const close = async () => {
    await daemon?.stop().catch(() => undefined);
    await proxy.close();
  };
  try {
    daemon = startDaemon(proxy.config, logger, listing);
    const first = await bounded(daemon.firstSync, 120_000, 'first sync');
    if (!first.ok) throw new Error(`first sync failed at ${first.stage}: ${first.error.message}`);
    if (opts.events !== undefined) {
      for (let i = 0; i < 1000 && !daemon.events?.eventsUp; i++) await delay(20);
      if (!daemon.events?.eventsUp) throw new Error('the events queue did not answer within 20 s');
    }
  } catch (e) {
    await close();
    throw e;
  }
  return { daemon, proxy, lines, listing, close };
}

// ---- counting calls ----

interface CallCounts {
  ListTasks: number;
  DescribeTasks: number;
  DescribeNetworkInterfaces: number;
  ecs: number;
  sqs: number;
  sns: number;
}

function countCalls(emu: EcsEmulator, from: number, to = emu.calls().length): CallCounts {
  const c: CallCounts = { ListTasks: 0, DescribeTasks: 0, DescribeNetworkInterfaces: 0, ecs: 0, sqs: 0, sns: 0 };
  for (const call of emu.calls().slice(from, to)) {
    if ((ECS_ACTIONS as readonly string[]).includes(call.action)) {
      c[call.action as (typeof ECS_ACTIONS)[number]]++;
      c.ecs++;
    } else if (/Message|Queue/.test(call.action)) c.sqs++;
    else if (/Subscri|Topic|Publish/.test(call.action)) c.sns++;
  }
  return c;
}

const stats = (xs: number[]) => ({ n: xs.length, p50: round(median(xs), 1), p99: round(percentile(xs, 0.99), 1), max: xs.length ? round(Math.max(...xs), 1) : NaN });
const fmt = (x: number) => (Number.isFinite(x) ? String(x) : '—');

// ---- 8a convergence ----

interface Mode {
  label: string;
  events: boolean;
  cron: string;
  intervalMs: number;
}
const EVENTS: Mode = { label: 'events (default */10 s schedule alongside)', events: true, cron: '*/10 * * * * *', intervalMs: 10_000 };
const SCHEDULE_10: Mode = { label: 'schedule */10 s (today\'s default)', events: false, cron: '*/10 * * * * *', intervalMs: 10_000 };
const SCHEDULE_1: Mode = { label: 'schedule 1 s', events: false, cron: '* * * * * *', intervalMs: 1000 };

interface Trial {
  kind: 'add' | 'stop';
  arn: string;
  address: string;
  name: string;
  offsetMs: number;
  t0?: number;
  /** When the backend read through the driver (HAProxy's `show stat`) first showed the change. */
  seenAt?: number;
  /** When the daemon's log said the Runtime API command was applied. */
  appliedAt?: number;
}

export interface ConvergenceRow {
  mode: string;
  kind: 'add' | 'stop';
  trials: number;
  windowMs: number;
  samplesMs: number[];
  logSamplesMs: number[];
  failures: number;
  warnings: string[];
}

async function convergenceRow(emu: EcsEmulator, topicArn: string, mode: Mode, perKind: number, windowMs: number, addresses: string[], ctx: BenchContext): Promise<ConvergenceRow[]> {
  const cluster = `bench-ev-conv-${slot}`;
  const trials: Trial[] = [];
  const task = (kind: Trial['kind'], address: string): Trial => {
    const arn = emu.addTask({ cluster, address, lastStatus: kind === 'stop' ? 'RUNNING' : 'PENDING' });
    return { kind, arn, address, name: serverNameForTask(taskIdFromArn(arn)!), offsetMs: Math.random() * windowMs };
  };
  for (let i = 0; i < perKind; i++) trials.push(task('stop', addresses[i]!));
  for (let i = 0; i < perKind; i++) trials.push(task('add', addresses[perKind + i]!));
  ctx.progress(`events 8a ${mode.label}: ${perKind} ADD + ${perKind} STOP trials at random times over ${windowMs / 1000} s`);
  const run = await startBench({ cluster, cron: mode.cron, ...(mode.events && { events: topicArn }), servers: 2 * perKind, serverPort: LIVE_PORT });
  try {
    const before = new Map((await run.daemon.driver.backend()).servers.map((s) => [s.address, s]));
    for (const t of trials) {
      const s = before.get(t.address);
      if (t.kind === 'stop' && (s === undefined || s.maintenance)) throw new Error(`${t.address} not routable before its STOP trial`);
      if (t.kind === 'add' && s !== undefined && !s.maintenance) throw new Error(`${t.address} routable before its ADD trial`);
    }
    const start = performance.now();
    const order = [...trials].sort((a, b) => a.offsetMs - b.offsetMs);
    const firing = (async () => {
      for (const t of order) {
        const wait = start + t.offsetMs - performance.now();
        if (wait > 0) await delay(wait);
        t.t0 = performance.now();
        if (t.kind === 'add') emu.setTask(t.arn, { lastStatus: 'RUNNING' });
        else emu.setTask(t.arn, { desiredStatus: 'STOPPED' });
      }
    })();
    const deadline = start + windowMs + mode.intervalMs + 20_000;
    for (let polls = 0; polls < 1_000_000 && performance.now() < deadline; polls++) {
      if (trials.every((t) => t.seenAt !== undefined)) break;
      const servers = (await run.daemon.driver.backend()).servers;
      const at = performance.now();
      const byAddress = new Map(servers.map((s) => [s.address, s]));
      for (const t of trials) {
        if (t.t0 === undefined || t.seenAt !== undefined) continue;
        const s = byAddress.get(t.address);
        if (t.kind === 'add' ? s !== undefined && !s.maintenance : s === undefined || s.maintenance) t.seenAt = at;
      }
      await delay(POLL_MS);
    }
    await firing;
    for (const t of trials) {
      const msg = t.kind === 'add' ? 'server added' : 'server drained';
      t.appliedAt = run.lines.find((l) => l.msg === msg && l.fields.server === t.name && l.t >= t.t0!)?.t;
    }
    const warnings = [...new Set(run.lines.filter((l) => l.level >= 40).map((l) => l.msg))];
    return (['add', 'stop'] as const).map((kind) => {
      const mine = trials.filter((t) => t.kind === kind);
      const row: ConvergenceRow = {
        mode: mode.label,
        kind,
        trials: mine.length,
        windowMs,
        samplesMs: mine.flatMap((t) => (t.seenAt === undefined ? [] : [round(t.seenAt - t.t0!, 1)])),
        logSamplesMs: mine.flatMap((t) => (t.appliedAt === undefined ? [] : [round(t.appliedAt - t.t0!, 1)])),
        failures: mine.filter((t) => t.seenAt === undefined).length,
        warnings,
      };
      const s = stats(row.samplesMs);
      ctx.progress(`events 8a ${mode.label} ${kind}: ${s.n}/${row.trials}, p50 ${s.p50} ms, p99 ${s.p99} ms`);
      return row;
    });
  } finally {
    await run.close();
  }
}

// ---- 8b/8c: the events daemon at 1,000 Servers; the schedule at 1,000 and 5,000 ----

interface WindowCalls {
  servers: number;
  seconds: number;
  calls: CallCounts;
  syncs: number;
  syncMs: number[];
  skippedTicks: number;
}

export interface EventsSteady {
  servers: number;
  startCalls: CallCounts;
  window: WindowCalls;
  listing: { calls: CallCounts; ms: number };
}

export interface EffectTrial {
  kind: 'add' | 'stop';
  /** ms after the emulator emitted the event (SNS → SQS, the long poll answered). */
  handledMs?: number;
  /** The daemon's part: its long poll answered with the event (received) → HAProxy answered the step. */
  receivedToAppliedMs?: number;
  appliedMs?: number;
  /** The daemon's own part: its event line → HAProxy answered the step. */
  handledToAppliedMs?: number;
  /** The config file written and checked (`haproxy -c`, in the background). */
  fileWrittenMs?: number;
  /** Syncs that ran during the trial: none is needed (a scheduled tick may fall in it). */
  syncs: number;
  verified: boolean;
  ecsCalls: number;
}

async function steadyWindow(emu: EcsEmulator, run: Running, servers: number, seconds: number): Promise<WindowCalls> {
  const from = emu.calls().length;
  const t0 = performance.now();
  await delay(seconds * 1000);
  const t1 = performance.now();
  const calls = countCalls(emu, from);
  const syncLines = run.lines.filter((l) => l.t >= t0 && l.t < t1 && isSyncLine(l));
  return {
    servers,
    seconds,
    calls,
    syncs: syncLines.length,
    syncMs: syncLines.map((l) => Number(l.fields.durationMs)),
    skippedTicks: run.lines.filter((l) => l.t >= t0 && l.t < t1 && l.msg.startsWith('previous sync still running')).length,
  };
}

async function waitForLine(lines: LogLine[], pred: (l: LogLine) => boolean, ms: number): Promise<LogLine | undefined> {
  const deadline = performance.now() + ms;
  for (let i = 0; i < 100_000 && performance.now() < deadline; i++) {
    const found = lines.find(pred);
    if (found) return found;
    await delay(2);
  }
  return undefined;
}

/** What a time-to-effect trial watches: the daemon's log, its background file write, HAProxy's backend. */
interface TrialTarget {
  lines: LogLine[];
  written(): Promise<void>;
  servers(): Promise<ReadonlyArray<{ name: string; maintenance: boolean }>>;
}

const inProcess = (run: Running): TrialTarget => ({
  lines: run.lines,
  written: () => run.daemon.driver.configWritten(),
  servers: async () => (await run.daemon.driver.backend()).servers,
});

/** One change at a time: when the event was handled, HAProxy took the command, the config file was written; the syncs meanwhile. */
async function effectTrial(emu: EcsEmulator, run: TrialTarget, kind: 'add' | 'stop', arn: string): Promise<EffectTrial> {
  const name = serverNameForTask(taskIdFromArn(arn)!);
  const from = emu.calls().length;
  const t0 = performance.now();
  if (kind === 'add') emu.setTask(arn, { lastStatus: 'RUNNING' });
  else emu.setTask(arn, { desiredStatus: 'STOPPED' });
  const stepMsg = kind === 'add' ? 'server added' : 'server drained';
  const applied = await waitForLine(run.lines, (l) => l.t >= t0 && l.msg === stepMsg && l.fields.server === name, 10_000);
  // The file follows in the background; the next trial starts once it is written.
  const written = applied && (await bounded(run.written(), 10_000, 'the config file written').then(() => performance.now()));
  const handled = run.lines.find((l) => l.t >= t0 && l.msg.startsWith('ECS task event: Server') && l.fields.taskArn === arn);
  // The poll's answer that carried it: the last one received before the event was handled.
  const received = handled && run.lines.filter((l) => l.t >= t0 && l.t <= handled.t && l.msg === 'ECS task events: received').at(-1);
  const s = (await run.servers()).find((x) => x.name === name);
  const verified = kind === 'add' ? s !== undefined && !s.maintenance : s === undefined || s.maintenance;
  return {
    kind,
    ...(handled && { handledMs: round(handled.t - t0, 1) }),
    ...(written && { fileWrittenMs: round(written - t0, 1) }),
    syncs: run.lines.filter((l) => l.t >= t0 && isSyncLine(l)).length,
    ...(applied && { appliedMs: round(applied.t - t0, 1) }),
    ...(applied && handled && { handledToAppliedMs: round(applied.t - handled.t, 1) }),
    ...(applied && received && { receivedToAppliedMs: round(applied.t - received.t, 1) }),
    verified,
    ecsCalls: countCalls(emu, from).ecs,
  };
}

async function eventsAt1000(emu: EcsEmulator, topicArn: string, cluster: string, addAddresses: string[], stops: string[], windowSeconds: number, ctx: BenchContext) {
  const from = emu.calls().length;
  ctx.progress(`events 8b/8c: the events daemon at 1,000 Servers`);
  const run = await startBench({ cluster, cron: EVENTS.cron, events: topicArn, servers: 1000 + addAddresses.length, serverPort: FLEET_PORT });
  try {
    const startCalls = countCalls(emu, from);
    ctx.progress(`events 8b: steady window of ${windowSeconds} s with events at 1,000`);
    const window = await steadyWindow(emu, run, 1000, windowSeconds);
    const l0 = emu.calls().length;
    const t = performance.now();
    await bounded(run.listing.discover(), 60_000, 'a safety-net listing');
    const listing = { calls: countCalls(emu, l0), ms: round(performance.now() - t, 1) };
    const steady: EventsSteady = { servers: 1000, startCalls, window, listing };
    // The ADD tasks only now (PENDING: an event that routes nothing), so the steady fleet above is 1,000 tasks.
    const adds = addAddresses.map((address) => emu.addTask({ cluster, address, lastStatus: 'PENDING' }));
    await delay(500);
    ctx.progress(`events 8c: ${adds.length + stops.length} changes, one at a time, at 1,000 Servers`);
    const effects: EffectTrial[] = [];
    for (let i = 0; i < Math.max(adds.length, stops.length); i++) {
      for (const [kind, arn] of [['add', adds[i]], ['stop', stops[i]]] as const) {
        if (arn === undefined) continue;
        effects.push(await effectTrial(emu, inProcess(run), kind, arn));
        await delay(200 + Math.random() * 300);
      }
    }
    const warnings = [...new Set(run.lines.filter((l) => l.level >= 40).map((l) => l.msg))];
    return { steady, effects, warnings };
  } finally {
    await run.close();
  }
}

/**
 * The daemon in a process of its own (bench/events-probe.ts) with the entrypoint's node flags: `up`
 * resolves on its UP line (or rejects if it exits first), `stop` sends STOP and returns its RESULT once
 * it exited cleanly, `kill` is the safety net for a `finally`.
 */
function startProbe(settings: { env: Record<string, string>; events: boolean; forwardLog?: boolean }, onLog?: (line: LogLine) => void) {
  const child = spawn(process.execPath, [...daemonNodeFlags(), PROBE], { env: { ...process.env, BENCH_PROBE: JSON.stringify({ ...settings, startTimeoutMs: 120_000 }) }, stdio: ['pipe', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const killer = setTimeout(() => child.kill('SIGKILL'), 300_000);
  const next = lineReader(child, onLog);
  const send = (line: string) => child.stdin.write(`${line}\n`);
  return {
    next,
    send,
    up: () => Promise.race([next('UP', 150_000), exited.then((c) => Promise.reject(new Error(`probe exited (${c}): ${err.slice(0, 2000)}`)))]),
    async stop<T>(): Promise<T> {
      send('STOP');
      const result = (await next('RESULT', 30_000)) as T;
      const code = await bounded(exited, 60_000, 'the probe exiting');
      if (code !== 0) throw new Error(`probe exited with ${code}: ${err.slice(0, 2000)}`);
      return result;
    },
    kill() {
      clearTimeout(killer);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}

/**
 * 8c again with the daemon as the image runs it: in a process of its own (bench/events-probe.ts, log
 * lines forwarded) with the entrypoint's node flags, so the emulator's work and the bench's heap are
 * not in its way and its own code runs as in production (e.g. under --lite-mode).
 */
async function effectInOwnProcess(emu: EcsEmulator, topicArn: string, cluster: string, addAddresses: string[], stops: string[], ctx: BenchContext) {
  const { proxy, env } = await benchProxy({ cluster, cron: EVENTS.cron, events: topicArn, servers: 1000 + addAddresses.length, serverPort: FLEET_PORT });
  ctx.progress('events 8c: the daemon in its own process, with the entrypoint\'s node flags, at 1,000 Servers');
  const lines: LogLine[] = [];
  const probe = startProbe({ env, events: true, forwardLog: true }, (l) => lines.push(l));
  const api = new RuntimeApi(proxy.config.haproxySocket);
  const created: string[] = [];
  try {
    await probe.up();
    for (const address of addAddresses) created.push(emu.addTask({ cluster, address, lastStatus: 'PENDING' }));
    await delay(500);
    const target: TrialTarget = {
      lines,
      written: async () => {
        probe.send('WRITTEN');
        await probe.next('WRITTEN', 10_000);
      },
      servers: () => api.servers(RTMP_BACKEND),
    };
    const effects: EffectTrial[] = [];
    for (let i = 0; i < Math.max(created.length, stops.length); i++) {
      for (const [kind, arn] of [['add', created[i]], ['stop', stops[i]]] as const) {
        if (arn === undefined) continue;
        effects.push(await effectTrial(emu, target, kind, arn));
        await delay(200 + Math.random() * 300);
      }
    }
    const result = await probe.stop<{ execArgv: string[] }>();
    return { effects, warnings: [...new Set(lines.filter((l) => l.level >= 40).map((l) => l.msg))], execArgv: result.execArgv };
  } finally {
    probe.kill();
    await proxy.close();
  }
}

export interface ScheduleAt {
  servers: number;
  startCalls: CallCounts;
  window: WindowCalls;
  /** Scheduled syncs that applied one STOP: their duration and when HAProxy took the command (ms after the sync began). */
  applies: Array<{ syncDurationMs: number; appliedAfterSyncStartMs: number }>;
  warnings: string[];
}

async function scheduleAt(emu: EcsEmulator, cluster: string, servers: number, windowSeconds: number, stops: string[], ctx: BenchContext): Promise<ScheduleAt> {
  const from = emu.calls().length;
  ctx.progress(`events 8b: the 1 s schedule (no events) at ${servers} Servers`);
  const run = await startBench({ cluster, cron: SCHEDULE_1.cron, servers: servers + 20, serverPort: FLEET_PORT });
  try {
    const startCalls = countCalls(emu, from);
    await delay(1500); // past the first scheduled tick after the first sync
    const window = await steadyWindow(emu, run, servers, windowSeconds);
    const applies: ScheduleAt['applies'] = [];
    for (const arn of stops) {
      const name = serverNameForTask(taskIdFromArn(arn)!);
      const t0 = performance.now();
      emu.setTask(arn, { desiredStatus: 'STOPPED' });
      const applied = await waitForLine(run.lines, (l) => l.t >= t0 && l.msg === 'server drained' && l.fields.server === name, 10_000);
      const done = applied && (await waitForLine(run.lines, (l) => l.t >= applied.t && isSyncLine(l), 10_000));
      if (applied && done) {
        const d = Number(done.fields.durationMs);
        applies.push({ syncDurationMs: d, appliedAfterSyncStartMs: round(applied.t - (done.t - d), 1) });
      }
    }
    const warnings = [...new Set(run.lines.filter((l) => l.level >= 40).map((l) => l.msg))];
    return { servers, startCalls, window, applies, warnings };
  } finally {
    await run.close();
  }
}

// ---- 8d: the events daemon at 5,000 Servers in its own process ----

export interface ProbeOutcome {
  approach: 'events' | 'schedule';
  servers: number;
  startCalls: CallCounts;
  window: { seconds: number; calls: CallCounts };
  listing: { calls: CallCounts; ms: number };
  changes: number;
  result: {
    rssAtStartMB: number;
    firstSyncMs: number;
    marks: Record<string, Breakdown & { maxRssMB: number }>;
    sampledPeakMB: number;
    sampledPeak: Breakdown;
    maxRssMB: number;
    execArgv: string[];
  };
  cappedGlobalMaxconn?: number;
}

function lineReader(child: ChildProcessWithoutNullStreams, onLog?: (line: LogLine) => void) {
  const waiting: Array<{ prefix: string; resolve: (s: string) => void }> = [];
  const seen: string[] = [];
  createInterface({ input: child.stdout }).on('line', (line) => {
    // `LOG <epoch ms> <json>`: the probe's log line, on this process's performance.now() clock.
    const log = /^LOG (\d+(?:\.\d+)?) (.*)$/.exec(line);
    if (log) {
      const o = JSON.parse(log[2]!) as Record<string, unknown>;
      const msg = String(o.msg ?? '');
      const level = Number(o.level ?? 30);
      if (level >= 40 || KEEP.test(msg)) onLog?.({ t: Number(log[1]) - performance.timeOrigin, msg, level, fields: o });
      return;
    }
    const i = waiting.findIndex((w) => line.startsWith(`${w.prefix} `));
    if (i >= 0) waiting.splice(i, 1)[0]!.resolve(line);
    else seen.push(line);
  });
  return (prefix: string, ms: number) => {
    const already = seen.findIndex((l) => l.startsWith(`${prefix} `));
    if (already >= 0) return Promise.resolve(JSON.parse(seen.splice(already, 1)[0]!.slice(prefix.length + 1)) as unknown);
    return bounded(new Promise<string>((resolve) => waiting.push({ prefix, resolve })), ms, `the probe's ${prefix} line`).then((l) => JSON.parse(l.slice(prefix.length + 1)) as unknown);
  };
}

/**
 * The daemon at 5,000 Servers in a process of its own: a steady window, one safety-net listing, then
 * `changes` changes (ADD and STOP alternately). With events they apply as their events arrive; without,
 * each is followed by a sync (`SYNC`, as the next tick would run it), so the two compare like for like.
 */
async function probeAt5000(
  emu: EcsEmulator,
  approach: 'events' | 'schedule',
  topicArn: string,
  cluster: string,
  addAddresses: string[],
  stops: string[],
  windowSeconds: number,
  ctx: BenchContext,
): Promise<ProbeOutcome> {
  const servers = 5000;
  const events = approach === 'events';
  const { proxy, env } = await benchProxy({ cluster, cron: EVENTS.cron, ...(events && { events: topicArn }), servers: servers + addAddresses.length, serverPort: FLEET_PORT });
  ctx.progress(`events 8d: the daemon (${approach}) at ${servers} Servers in its own process`);
  const from = emu.calls().length;
  const probe = startProbe({ env, events });
  const { next, send } = probe;
  const created: string[] = [];
  try {
    await probe.up();
    const startCalls = countCalls(emu, from);
    send('MARK idle-start');
    const w0 = emu.calls().length;
    await delay(windowSeconds * 1000);
    const window = { seconds: windowSeconds, calls: countCalls(emu, w0) };
    send('MARK idle-end');
    const l0 = emu.calls().length;
    send('LIST');
    const listed = (await next('LISTED', 60_000)) as { ms: number };
    const listing = { calls: countCalls(emu, l0), ms: listed.ms };
    send('MARK after-listing');
    // The ADD tasks only now (PENDING), so the steady fleet and the listing above are 5,000 tasks.
    for (const address of addAddresses) created.push(emu.addTask({ cluster, address, lastStatus: 'PENDING' }));
    await delay(500);
    let changes = 0;
    const change = async (apply: () => void) => {
      apply();
      changes++;
      if (!events) {
        send('SYNC');
        await next('SYNCED', 60_000);
      }
      if (changes === 1) send('MARK after-first-change');
      await delay(250);
    };
    for (let i = 0; i < Math.max(created.length, stops.length); i++) {
      const add = created[i];
      const stop = stops[i];
      if (add !== undefined) await change(() => emu.setTask(add, { lastStatus: 'RUNNING' }));
      if (stop !== undefined) await change(() => emu.setTask(stop, { desiredStatus: 'STOPPED' }));
    }
    await delay(1500);
    send('MARK after-changes');
    const result = await probe.stop<ProbeOutcome['result']>();
    return { approach, servers, startCalls, window, listing, changes, result, ...(proxy.cappedGlobalMaxconn !== undefined && { cappedGlobalMaxconn: proxy.cappedGlobalMaxconn }) };
  } finally {
    probe.kill();
    await proxy.close(); // the probe stops its HAProxy; this is the safety net if it died
    // Back to the fleet it started with, for whoever comes next.
    for (const arn of created) emu.removeTask(arn);
    for (const arn of stops) emu.setTask(arn, { desiredStatus: 'RUNNING' });
  }
}

// ---- the section ----

export async function runEvents(ctx: BenchContext) {
  const q = ctx.quick;
  const perKind = q ? 10 : 40;
  const convergence: Array<{ mode: Mode; windowMs: number }> = q
    ? [
        { mode: EVENTS, windowMs: 2 * perKind * 300 },
        { mode: SCHEDULE_10, windowMs: 15_000 },
      ]
    : [
        { mode: EVENTS, windowMs: 2 * perKind * 300 },
        { mode: SCHEDULE_10, windowMs: 60_000 },
        { mode: SCHEDULE_1, windowMs: 20_000 },
      ];
  // 100 a kind in a full run: a p99 (nearest rank) of fewer than 100 samples is their maximum.
  const effectPerKind = q ? 5 : 100;
  const steadySeconds = q ? 10 : 30;
  const scheduleSeconds = q ? 3 : 6;
  const scheduleApplies = q ? 3 : 5;

  const savedEnv = new Map<string, string | undefined>();
  const emu = await startEcsEmulator({ host: '127.0.0.1', port: 0 });
  const setEnv = (name: string, value: string) => {
    if (!savedEnv.has(name)) savedEnv.set(name, process.env[name]);
    process.env[name] = value;
  };
  for (const [k, v] of Object.entries({ AWS_REGION: emu.region, AWS_ACCESS_KEY_ID: 'AKIDBENCH', AWS_SECRET_ACCESS_KEY: 'bench-secret' })) setEnv(k, v);
  for (const service of ['ECS', 'EC2', 'SQS', 'SNS']) setEnv(`AWS_ENDPOINT_URL_${service}`, emu.url);
  const backends: CountingBackend[] = [];
  const out: {
    convergence: ConvergenceRow[];
    events1000?: Awaited<ReturnType<typeof eventsAt1000>>;
    events1000OwnProcess?: Awaited<ReturnType<typeof effectInOwnProcess>>;
    schedule: ScheduleAt[];
    probes: ProbeOutcome[];
  } = { convergence: [], schedule: [], probes: [] };
  try {
    // The large fleets first, before events are on: 6,000 adds would be 6,000 events nobody reads.
    const c1000 = 'bench-ev-1000';
    const c5000 = 'bench-ev-5000';
    const fleet1000: string[] = [];
    for (let i = 0; i < 1000; i++) fleet1000.push(emu.addTask({ cluster: c1000, address: fleetAddress(i) }));
    const adds1000 = Array.from({ length: effectPerKind }, (_, i) => fleetAddress(1000 + i));
    const fleet5000: string[] = [];
    for (let i = 0; i < 5000; i++) fleet5000.push(emu.addTask({ cluster: c5000, address: fleetAddress(i) }));
    const changes5000 = q ? 3 : 10;
    const adds5000 = Array.from({ length: changes5000 }, (_, i) => `127.0.81.${i + 1}`);
    const topicArn = emu.createTopic('bench-server-events');
    emu.setEventTargets([topicArn]);

    // BENCH_EVENTS_ONLY=8c: only 8c's trials with the daemon as the image runs it; =8d: only the daemon
    // at 5,000 Servers (8d, 8e). To iterate on its time-to-effect or its memory.
    const only = process.env.BENCH_EVENTS_ONLY;
    if (only !== undefined && only !== '8c' && only !== '8d') throw new Error(`BENCH_EVENTS_ONLY=${only}: expected 8c or 8d`);
    if (only === undefined) {
      // 8a
      const addresses = Array.from({ length: 2 * perKind }, (_, i) => `127.0.60.${i + 1}`);
      for (const a of addresses) backends.push(await startCountingBackend(a, LIVE_PORT));
      for (const { mode, windowMs } of convergence) out.convergence.push(...(await convergenceRow(emu, topicArn, mode, perKind, windowMs, addresses, ctx)));

      // 8b/8c at 1,000: events, then the 1 s schedule (which also times scheduled applies)
      out.events1000 = await eventsAt1000(emu, topicArn, c1000, adds1000, fleet1000.slice(0, effectPerKind), steadySeconds, ctx);
    }
    if (only === undefined || only === '8c') {
      // 8c again, the daemon as the image runs it (other tasks: the schedule's applies below take the next ones)
      const ownAdds = Array.from({ length: effectPerKind }, (_, i) => fleetAddress(1000 + effectPerKind + i));
      const ownStops = fleet1000.slice(effectPerKind + scheduleApplies, 2 * effectPerKind + scheduleApplies);
      out.events1000OwnProcess = await effectInOwnProcess(emu, topicArn, c1000, ownAdds, ownStops, ctx);
    }
    if (only === undefined) {
      out.schedule.push(await scheduleAt(emu, c1000, 1000, scheduleSeconds, fleet1000.slice(effectPerKind, effectPerKind + scheduleApplies), ctx));
      // 8b at 5,000: the schedule
      out.schedule.push(await scheduleAt(emu, c5000, 5000, scheduleSeconds, [], ctx));
    }
    // 8d at 5,000: the events daemon in its own process
    if (only !== '8c') out.probes.push(await probeAt5000(emu, 'events', topicArn, c5000, adds5000, fleet5000.slice(0, changes5000), steadySeconds, ctx));
    // The same changes applied by syncs without events: is the memory the events' or the change's?
    if (!q && only === undefined) out.probes.push(await probeAt5000(emu, 'schedule', topicArn, c5000, adds5000.map((a) => a.replace('127.0.81.', '127.0.82.')), fleet5000.slice(changes5000, 2 * changes5000), 10, ctx));
  } finally {
    await Promise.all(backends.map((b) => b.close()));
    await emu.close();
    for (const [k, v] of savedEnv) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
  report(ctx, out, { perKind, steadySeconds, scheduleSeconds });
  return out;
}

// ---- tables ----

/** "ECS task skipped" is the listing passing over the PENDING ADD tasks (no address yet): expected. */
const unexpected = (warnings: string[]) => warnings.filter((w) => w !== 'ECS task skipped');

function report(
  ctx: BenchContext,
  out: {
    convergence: ConvergenceRow[];
    events1000?: Awaited<ReturnType<typeof eventsAt1000>>;
    events1000OwnProcess?: Awaited<ReturnType<typeof effectInOwnProcess>>;
    schedule: ScheduleAt[];
    probes: ProbeOutcome[];
  },
  p: { perKind: number; steadySeconds: number; scheduleSeconds: number },
) {
  // 8a
  ctx.table({
    section: '8a',
    title: 'Convergence with ECS task events vs the schedule: ADD (task RUNNING → routable) and STOP (desiredStatus STOPPED → out of rotation), ms',
    headers: ['approach', 'change', 'samples', 'p50', 'p99', 'max', 'daemon\'s log: p50 / p99', 'target (issue 16)', 'met?'],
    rows: out.convergence.map((r) => {
      const s = stats(r.samplesMs);
      const l = stats(r.logSamplesMs);
      const isEvents = r.mode === EVENTS.label;
      return [
        r.mode,
        r.kind === 'add' ? 'ADD' : 'STOP',
        `${r.samplesMs.length}/${r.trials}`,
        fmt(s.p50),
        fmt(s.p99),
        fmt(s.max),
        `${fmt(l.p50)} / ${fmt(l.p99)}`,
        isEvents ? `p99 ≤ ${GOAL_CONVERGENCE_MS}` : '—',
        isEvents ? (r.failures > 0 ? `NO (${r.failures} not seen)` : `${yesNo(s.p99 <= GOAL_CONVERGENCE_MS)}${s.p99 > GOAL_CONVERGENCE_MS ? ` (+${round(s.p99 - GOAL_CONVERGENCE_MS, 0)} ms)` : ''}`) : '—',
      ];
    }),
    notes: [
      `Each row: its own daemon (startDaemon, runtime mode) and HAProxy, ${p.perKind} STOP tasks RUNNING at the start (stand-in Servers that listen) and ${p.perKind} ADD tasks PENDING; every trial fires at a uniformly random moment of a window (${[...new Set(out.convergence.map((r) => `${r.mode}: ${r.windowMs / 1000} s`))].join('; ')}), so the schedule's phase is random and trials may overlap.`,
      `t0 = the emulator's change (ADD: lastStatus RUNNING; STOP: desiredStatus STOPPED, still RUNNING), which with events also publishes the event to SNS → this Proxy's SQS queue at once. Seen = the first read of HAProxy's backend (\`show stat\` through the daemon's driver, polled every ~${POLL_MS} ms) showing it routable (ADD) or in drain/maintenance (STOP).`,
      'daemon\'s log: the same changes timed by the daemon\'s own "server added" / "server drained" line (written when HAProxy answered the Runtime API command): no polling granularity.',
      `p99 is nearest-rank: with ${p.perKind} samples, the ${p.perKind >= 100 ? '99th percentile' : 'slowest'}.`,
      ...[...new Set(out.convergence.flatMap((r) => unexpected(r.warnings).map((w) => `${r.mode}: daemon warned "${w}"`)))],
    ],
  });

  // 8b
  const rows: string[][] = [];
  const perMin = (x: number) => round(x, 1);
  const e1000 = out.events1000;
  const eventsRow = (servers: number, window: { seconds: number; calls: CallCounts }, listing: CallCounts, firstDescribes: number) => {
    const windowRate = (window.calls.ecs / window.seconds) * 60;
    const listTasks = listing.ListTasks / (FULL_SYNC_SECONDS / 60);
    const describes = listing.DescribeTasks / (FULL_SYNC_SECONDS / 60) + firstDescribes / ((FULL_REFRESH_EVERY * FULL_SYNC_SECONDS) / 60);
    const total = windowRate + listTasks + describes;
    const target = `0 between changes; ${Math.ceil(servers / 100)} ListTasks per ${FULL_SYNC_SECONDS / 60} min`;
    const met = window.calls.ecs === 0 && listing.ListTasks <= Math.ceil(servers / 100) && listing.DescribeTasks === 0;
    rows.push([
      String(servers),
      `events, FULL_SYNC_INTERVAL ${FULL_SYNC_SECONDS}`,
      `${window.calls.ecs} ECS calls in ${window.seconds} s between changes (measured); one listing: ${listing.ListTasks} ListTasks + ${listing.DescribeTasks} DescribeTasks (measured) every ${FULL_SYNC_SECONDS / 60} min; ${firstDescribes} DescribeTasks every ${FULL_REFRESH_EVERY}th listing`,
      String(perMin(listTasks + (window.calls.ListTasks / window.seconds) * 60)),
      String(round(describes + (window.calls.DescribeTasks / window.seconds) * 60, 2)),
      String(perMin(total)),
      String(perMin((window.calls.sqs / window.seconds) * 60)),
      target,
      yesNo(met),
    ]);
  };
  const scheduleRows = (s: ScheduleAt) => {
    const perSync = { list: s.window.calls.ListTasks / Math.max(1, s.window.syncs), describe: s.window.calls.DescribeTasks / Math.max(1, s.window.syncs) };
    const firstDescribes = s.startCalls.DescribeTasks;
    for (const [label, perMinute, measuredRate] of [
      ['schedule */10 s (no events)', 6, undefined],
      ['schedule 1 s (no events)', 60, (s.window.calls.ecs / s.window.seconds) * 60],
    ] as const) {
      const syncs = measuredRate === undefined ? perMinute : (s.window.syncs / s.window.seconds) * 60;
      const list = perSync.list * syncs;
      const describe = perSync.describe * syncs + (firstDescribes * syncs) / FULL_REFRESH_EVERY;
      rows.push([
        String(s.servers),
        label,
        measuredRate === undefined
          ? `${round(perSync.list, 1)} ListTasks + ${round(perSync.describe, 1)} DescribeTasks per sync (measured, ${s.window.syncs} syncs) × ${perMinute} syncs/min; ${firstDescribes} DescribeTasks every ${FULL_REFRESH_EVERY}th sync`
          : `${s.window.calls.ecs} ECS calls in ${s.window.seconds} s, ${s.window.syncs} syncs (measured; median sync ${fmt(median(s.window.syncMs))} ms${s.window.skippedTicks > 0 ? `, ${s.window.skippedTicks} ticks skipped` : ''}); ${firstDescribes} DescribeTasks every ${FULL_REFRESH_EVERY}th sync`,
        String(perMin(list)),
        String(round(describe, 2)),
        String(perMin(list + describe)),
        '0',
        '—',
        '—',
      ]);
    }
  };
  const s1000 = out.schedule.find((s) => s.servers === 1000);
  const s5000 = out.schedule.find((s) => s.servers === 5000);
  const probe = out.probes.find((p) => p.approach === 'events');
  if (e1000) eventsRow(1000, e1000.steady.window, e1000.steady.listing.calls, e1000.steady.startCalls.DescribeTasks);
  if (s1000) scheduleRows(s1000);
  if (probe) eventsRow(5000, probe.window, probe.listing.calls, probe.startCalls.DescribeTasks);
  if (s5000) scheduleRows(s5000);
  ctx.table({
    section: '8b',
    title: 'ECS calls per Proxy per minute in a steady fleet (no change): events vs the schedule',
    headers: ['Servers', 'approach', 'how', 'ListTasks/min', 'DescribeTasks/min', 'ECS calls/min', 'SQS calls/min', 'target (issue 16)', 'met?'],
    rows,
    notes: [
      "Counted in the emulator's call log (ListTasks, DescribeTasks, DescribeNetworkInterfaces = ECS calls; SQS: ReceiveMessage and the like). Private addresses: no DescribeNetworkInterfaces anywhere.",
      `Events rows: the window is the daemon at its defaults (schedule */10 s, FULL_SYNC_INTERVAL ${FULL_SYNC_SECONDS}) after its first sync with the queue answering: ${p.steadySeconds} s, scheduled syncs running, no ECS call expected. The safety-net listing is the daemon's own ECS discovery called once by the bench (what the sync after FULL_SYNC_INTERVAL calls), amortized over ${FULL_SYNC_SECONDS / 60} min; the full re-description every ${FULL_REFRESH_EVERY}th listing is amortized with the first sync's DescribeTasks count (measured).`,
      `Schedule rows: a daemon on the 1 s schedule without events, ${p.scheduleSeconds} s window; */10 is computed from the same per-sync count × 6 (the per-sync calls do not depend on the schedule). The full re-description every ${FULL_REFRESH_EVERY}th sync is amortized the same way.`,
      'Per Proxy: n Proxies make n times as many. ECS throttles per account and Region (shared with the console, deployments and autoscaling).',
      ...(probe ? [`At 5,000 the events daemon ran in its own process (8d); its first sync made ${probe.startCalls.ListTasks} ListTasks + ${probe.startCalls.DescribeTasks} DescribeTasks.`] : []),
    ],
  });

  // 8c
  const own = out.events1000OwnProcess;
  if (e1000 || own) {
    const cell = (xs: number[]) => (xs.length === 0 ? '—' : `${fmt(stats(xs).p50)} / ${fmt(stats(xs).p99)}`);
    const rowsFor = (label: string, ok: EffectTrial[]): string[][] => (['add', 'stop'] as const).map((kind) => {
      const col = (key: keyof EffectTrial) => ok.filter((t) => t.kind === kind && typeof t[key] === 'number').map((t) => t[key] as number);
      const applied = col('appliedMs');
      const trials = ok.filter((t) => t.kind === kind);
      // The goal is the daemon's: from the event's arrival to HAProxy changed (its delivery, EventBridge → SNS → SQS, is AWS's).
      const daemonsPart = col('receivedToAppliedMs');
      const p99 = stats(daemonsPart).p99;
      return [
        `${label}: ${kind === 'add' ? 'ADD' : 'STOP'}`,
        `${applied.length}/${trials.length}${trials.some((t) => !t.verified) ? ` (${trials.filter((t) => !t.verified).length} not verified)` : ''}`,
        cell(col('handledMs')),
        cell(applied),
        cell(daemonsPart),
        cell(col('handledToAppliedMs')),
        cell(col('fileWrittenMs')),
        String(trials.reduce((m, t) => m + t.syncs, 0)),
        String(trials.reduce((m, t) => m + t.ecsCalls, 0)),
        `≤ ${GOAL_EFFECT_MS} ms`,
        applied.length < trials.length ? 'NO (not applied)' : daemonsPart.length < trials.length ? 'NO (not measured)' : `${yesNo(p99 <= GOAL_EFFECT_MS)}${p99 > GOAL_EFFECT_MS ? ` (+${round(p99 - GOAL_EFFECT_MS, 1)} ms at p99)` : ''}`,
      ];
    });
    const effectRows = [...(e1000 ? rowsFor('events, daemon in the bench process', e1000.effects) : []), ...(own ? rowsFor('events, daemon as the image runs it', own.effects) : [])];
    if (s1000 && s1000.applies.length > 0) {
      const d = s1000.applies.map((a) => a.syncDurationMs);
      const a = s1000.applies.map((x) => x.appliedAfterSyncStartMs);
      effectRows.push([
        'scheduled sync (1 s schedule, no events): STOP',
        `${s1000.applies.length}`,
        '— (waits for the tick)',
        `${cell(a)} after the tick`,
        '—',
        '—',
        `${cell(d)} after the tick (the sync done)`,
        `${s1000.applies.length}`,
        '—',
        '—',
        '—',
      ]);
    }
    ctx.table({
      section: '8c',
      title: 'Time-to-effect of one change at 1,000 Servers: event emitted → HAProxy changed (ms, p50 / p99)',
      headers: ['change', 'trials', '→ event handled', '→ in HAProxy', "event received → in HAProxy (the daemon's part)", 'event handled → in HAProxy', '→ config file written', 'syncs', 'ECS calls', 'target (issue 16): the daemon\'s part, p99', 'met?'],
      rows: effectRows,
      notes: [
        `One change at a time (${(e1000 ?? own)!.effects.length} per daemon, 0.2–0.5 s apart) against the events daemon at 1,000 Servers (HAProxy 1,000 servers that fail their checks, the ${EVENTS.cron} schedule alongside). t0: the emulator's change, published at once to SNS → the Proxy's SQS queue, which answers the waiting long poll.`,
        'event received: the daemon\'s "ECS task events: received" line, written when the SDK hands it the long poll\'s answer carrying the event (SNS → SQS → the answer, parsed: the emulator is in the bench process; in AWS, EventBridge → SNS → SQS alone takes far longer than 10 ms, so the goal is the daemon\'s part, from there to HAProxy changed). → event handled: the daemon\'s "ECS task event: Server added/removed" line (received, parsed, applied to its fleet). → in HAProxy: the driver\'s "server added/drained" line, written when HAProxy answered the event step\'s last Runtime API command (over the daemon\'s kept CLI connection; an ADD: `add server`, then `state ready` and `enable health` in one write; a STOP: `disable server`). → config file written: the file rendered from what now runs, checked with `haproxy -c` and in place (in the background: the next trial starts after it). syncs: sync lines during the trials; a step that did it all needs none, so any is the */10 tick.',
        ...(own
          ? [`"daemon as the image runs it": the same trials (other tasks) with the daemon in a process of its own (bench/events-probe.ts, its log lines forwarded with their times), run with node ${own.execArgv.join(' ') || '(no flags)'} (${process.env.BENCH_DAEMON_NODE_FLAGS === undefined ? "src/entrypoint.sh's flags" : 'BENCH_DAEMON_NODE_FLAGS'}); the bench-process rows share a process and heap with the emulator and run without them.`]
          : []),
        'The scheduled-sync row times the sync itself (from its tick: ListTasks pages, the runtime command, the file): what a change costs once the tick comes, before which it waits up to one interval (8a).',
        ...unexpected([...(e1000?.warnings ?? []), ...(own?.warnings ?? [])]).map((w) => `daemon warned "${w}"`),
      ],
    });
  }

  // 8d
  if (out.probes.length > 0) {
    const peakOf = (p: ProbeOutcome) => Math.max(p.result.maxRssMB, p.result.sampledPeakMB);
    const first = out.probes[0]!;
    ctx.table({
      section: '8d',
      title: `The daemon's memory at ${first.servers} Servers (in its own process), MB`,
      headers: ['daemon', 'RSS at start (modules loaded)', 'after the first sync', 'steady (idle window end)', 'after a safety-net listing', 'after the first change', `after ${first.changes} changes`, 'peak (maxRSS)', 'heap used: steady → after changes', 'first sync ms', 'target (issue 16)', 'met?'],
      rows: out.probes.map((p) => {
        const m = (k: string) => p.result.marks[k];
        const peak = peakOf(p);
        const isEvents = p.approach === 'events';
        return [
          isEvents ? 'events (changes applied as their events arrive)' : 'no events (each change applied by a sync)',
          String(p.result.rssAtStartMB),
          String(m('after-first-sync')?.rssMB ?? '?'),
          String(m('idle-end')?.rssMB ?? '?'),
          String(m('after-listing')?.rssMB ?? '?'),
          String(m('after-first-change')?.rssMB ?? '?'),
          String(m('after-changes')?.rssMB ?? '?'),
          String(peak),
          `${m('idle-end')?.heapUsedMB ?? '?'} → ${m('after-changes')?.heapUsedMB ?? '?'}`,
          String(p.result.firstSyncMs),
          isEvents ? `≤ ${GOAL_RSS_MB} MB incl. the first full description` : '—',
          isEvents ? `${yesNo(peak <= GOAL_RSS_MB)}${peak > GOAL_RSS_MB ? ` (+${round(peak - GOAL_RSS_MB, 0)} MB at the peak)` : ''}` : '—',
        ];
      }),
      notes: [
        'The daemon as the CLI runs it (startDaemon: ECS discovery, SQS + SNS clients, node-cron, HAProxy driver; logs silent) in a child process (bench/events-probe.ts); the emulator runs in the bench process. RSS = process.memoryUsage().rss at each mark.',
        `peak = process.resourceUsage().maxRSS, the high-water mark of the whole life, which includes the first sync describing all ${first.servers} tasks (${first.startCalls.DescribeTasks} DescribeTasks); RSS is also sampled every 50 ms (max: ${out.probes.map((p) => `${p.approach} ${p.result.sampledPeakMB}`).join(', ')}).`,
        `Order: first sync, steady window (${first.window.seconds} s), one safety-net listing, then ${first.changes} changes (ADD and STOP alternately, 0.25 s apart) at 5,000 Servers${out.probes.length > 1 ? '; the "no events" daemon gets the same changes, each followed by a sync (what its next tick would do)' : ''}.`,
        ...(first.cappedGlobalMaxconn !== undefined ? [`HAProxy's global maxconn capped to ${first.cappedGlobalMaxconn} to fit this machine's open-files limit (see "Machine limits" above); the daemon is unaffected.`] : []),
        daemonFlagsNote(first.result.execArgv),
      ],
    });
    // 8e: what the RSS of 8d is made of, at each mark and at the highest sampled RSS.
    const stages: Array<[string, string]> = [
      ['start', 'start (modules loaded)'],
      ['after-first-sync', 'after the first sync'],
      ['idle-end', 'steady (idle window end)'],
      ['after-listing', 'after a safety-net listing'],
      ['after-first-change', 'after the first change'],
      ['after-changes', `after ${first.changes} changes`],
    ];
    const cells = (b: Breakdown) => [b.rssMB, b.heapTotalMB, b.heapUsedMB, b.spacesMB.new ?? 0, b.spacesMB.old ?? 0, b.spacesMB.large_object ?? 0, b.spacesMB.code ?? 0, b.externalMB, b.arrayBuffersMB, b.nativeMB, b.rssAnonMB ?? '?', b.rssFileMB ?? '?'].map(String);
    ctx.table({
      section: '8e',
      title: `Where the daemon's RSS goes at ${first.servers} Servers (8d's events daemon), MB`,
      headers: ['stage', 'RSS', 'V8 heap committed', 'heap used', 'new space (semi-spaces)', 'old space', 'large objects', 'code', 'external', 'of which Buffers', 'native (RSS − heap − external)', 'RSS: anonymous', 'RSS: files (node binary…)'],
      rows: [
        ...stages.filter(([k]) => first.result.marks[k]).map(([k, label]) => [label, ...cells(first.result.marks[k]!)]),
        [`highest sampled RSS (every 50 ms)`, ...cells(first.result.sampledPeak)],
      ],
      notes: [
        'process.memoryUsage() and v8.getHeapSpaceStatistics() (physical size per space) in the daemon process. "native" is the rest of the RSS: Node/V8 code, thread stacks, malloc arenas, and freed memory the allocator has not returned to the system.',
      ],
    });
  }
}
