// `rtmp-proxy status`: the backend as HAProxy runs it, at a glance. Pure parsing and formatting,
// plus one thin reader that asks the admin socket and the master CLI.
import type { Config } from './config.js';
import { HaproxyProcess, type MasterStatus } from './haproxy/process.js';
import { RuntimeApi, type RuntimeServer } from './haproxy/runtime-api.js';
import { silentLogger } from './log.js';
import { RTMP_BACKEND } from './render/render.js';
import { formatAddress } from './model.js';

/** One session from HAProxy's `show sess`, reduced to what status needs. */
export interface SessionInfo {
  /** Backend name, or undefined (`<NONE>`: the CLI's own session, say). */
  backend: string | undefined;
  /** Server name, or undefined while the session waits in the queue (`<none>`). */
  server: string | undefined;
  /** The client's address (the streamer), as HAProxy prints it. */
  source: string;
  /** Age in seconds. HAProxy prints at most two units (`59m59s`, `2h15m`, `3d4h`): exact below an hour. */
  ageSeconds: number | undefined;
  /** The age as HAProxy printed it. */
  age: string;
}

/** HAProxy's human-readable duration (`42s`, `5m3s`, `2h15m`, `3d4h`) → seconds; undefined for `?` or garbage. */
export function parseHaproxyAge(text: string): number | undefined {
  if (!/^(\d+[dhms])+$/.test(text)) return undefined;
  const unit: Record<string, number> = { d: 86_400, h: 3_600, m: 60, s: 1 };
  let total = 0;
  for (const [, n, u] of text.matchAll(/(\d+)([dhms])/g)) total += Number(n) * unit[u!]!;
  return total;
}

/** `show sess` (one line per session: `0x…: proto=tcpv4 src=… fe=… be=… srv=… … age=…`) → sessions. */
export function parseShowSess(answer: string): SessionInfo[] {
  const sessions: SessionInfo[] = [];
  for (const line of answer.split('\n')) {
    if (!/^0x[0-9a-f]+:/i.test(line)) continue;
    const field = (key: string) => new RegExp(`\\s${key}=(\\S*)`).exec(line)?.[1];
    const named = (v: string | undefined) => (v === undefined || v === '' || v.toLowerCase() === '<none>' ? undefined : v);
    const age = field('age') ?? '?';
    sessions.push({ backend: named(field('be')), server: named(field('srv')), source: field('src') ?? '?', ageSeconds: parseHaproxyAge(age), age });
  }
  return sessions;
}

/** What one worker told us: its servers (`show stat`) and sessions (`show sess`). */
export interface WorkerSnapshot {
  pid: number | undefined;
  servers: RuntimeServer[];
  sessions: SessionInfo[];
}

/** One stream on a Server, in whichever worker carries it. */
export interface StreamInfo {
  /** The worker carrying it; undefined when unknown (the admin socket does not say). */
  worker: number | undefined;
  oldWorker: boolean;
  source: string;
  ageSeconds: number | undefined;
  /** ISO time it started (now − age); approximate for streams over an hour (HAProxy rounds the age). */
  since: string | undefined;
}

/** Where a Server stands for new streams. */
export type ServerUse = 'streaming' | 'free' | 'maintenance' | 'down' | 'old-worker-only';

export interface ServerStatus {
  name: string;
  address: string;
  port: number;
  /** HAProxy's status column in the current worker (UP, DOWN, MAINT, DRAIN, no check, …). */
  status: string;
  /** In maintenance in the current worker: takes no new stream (draining, or held while busy elsewhere). */
  maintenance: boolean;
  /** Connections the current worker counts on it now (`scur`). */
  sessions: number;
  /** Streams on it, in every worker. */
  streams: number;
  streamList: StreamInfo[];
  /** Oldest stream's start, when it carries one. */
  since: string | undefined;
  ageSeconds: number | undefined;
  /** Takes the next streamer: in rotation, up, and no stream in any worker. */
  free: boolean;
  use: ServerUse;
}

export interface StatusReport {
  generatedAt: string;
  haproxy: {
    masterPid: number | undefined;
    workerPids: number[];
    oldWorkerPids: number[];
    reloads: number | undefined;
    failedReloads: number | undefined;
    /** Why the master's view is missing, when it is. */
    masterError?: string;
  };
  backend: string;
  servers: ServerStatus[];
  streams: number;
  free: number;
  /** Streamers waiting in the backend queue for a free Server. */
  queued: number;
  /** Old workers that did not answer (they may just have exited). */
  unreachableWorkers: number[];
}

export interface StatusInput {
  now: Date;
  masterPid: number | undefined;
  master: MasterStatus | undefined;
  masterError?: string;
  current: WorkerSnapshot;
  old: WorkerSnapshot[];
  unreachableWorkers?: number[];
  backend?: string;
}

function isUp(status: string): boolean {
  return /^(UP|no check)/.test(status);
}

/** The status report from what the workers said. Pure. */
export function buildStatus(input: StatusInput): StatusReport {
  const backend = input.backend ?? RTMP_BACKEND;
  const now = input.now.getTime();
  const streamsOf = new Map<string, StreamInfo[]>();
  const oldAddress = new Map<string, RuntimeServer>();
  let queued = 0;
  const collect = (w: WorkerSnapshot, oldWorker: boolean) => {
    for (const s of w.sessions) {
      if (s.backend !== backend) continue;
      if (s.server === undefined) {
        queued++;
        continue;
      }
      const list = streamsOf.get(s.server) ?? [];
      list.push({
        worker: w.pid,
        oldWorker,
        source: s.source,
        ageSeconds: s.ageSeconds,
        since: s.ageSeconds === undefined ? undefined : isoSeconds(now - s.ageSeconds * 1000),
      });
      streamsOf.set(s.server, list);
    }
  };
  collect(input.current, false);
  for (const w of input.old) {
    collect(w, true);
    for (const s of w.servers) if (!oldAddress.has(s.name)) oldAddress.set(s.name, s);
  }

  const row = (name: string, address: string, port: number, status: string, maintenance: boolean, sessions: number, inCurrent: boolean): ServerStatus => {
    const streamList = (streamsOf.get(name) ?? []).sort((a, b) => (b.ageSeconds ?? -1) - (a.ageSeconds ?? -1));
    // The admin socket's count covers a stream `show sess` may have missed between the two commands.
    const currentStreams = Math.max(sessions, streamList.filter((s) => !s.oldWorker).length);
    const streams = currentStreams + streamList.filter((s) => s.oldWorker).length;
    const oldest = streamList[0];
    const free = inCurrent && !maintenance && isUp(status) && streams === 0;
    const use: ServerUse = !inCurrent
      ? 'old-worker-only'
      : streams > 0
        ? 'streaming'
        : maintenance
          ? 'maintenance'
          : isUp(status)
            ? 'free'
            : 'down';
    return {
      name,
      address,
      port,
      status,
      maintenance,
      sessions,
      streams,
      streamList,
      since: oldest?.since,
      ageSeconds: oldest?.ageSeconds,
      free,
      use,
    };
  };

  const servers = input.current.servers.map((s) => row(s.name, s.address, s.port, s.status, s.maintenance, s.sessions, true));
  const known = new Set(servers.map((s) => s.name));
  // A Server the current config no longer has, whose stream an old worker still carries.
  for (const name of [...streamsOf.keys()].sort()) {
    if (known.has(name)) continue;
    const o = oldAddress.get(name);
    servers.push(row(name, o?.address ?? '?', o?.port ?? 0, 'gone', true, 0, false));
  }

  return {
    generatedAt: isoSeconds(now),
    haproxy: {
      masterPid: input.master?.masterPid ?? input.masterPid,
      workerPids: input.master?.workerPids ?? (input.current.pid === undefined ? [] : [input.current.pid]),
      oldWorkerPids: input.master?.oldWorkerPids ?? [],
      reloads: input.master?.reloads,
      failedReloads: input.master?.failedReloads,
      ...(input.masterError !== undefined && { masterError: input.masterError }),
    },
    backend,
    servers,
    streams: servers.reduce((n, s) => n + s.streams, 0),
    free: servers.filter((s) => s.free).length,
    queued,
    unreachableWorkers: input.unreachableWorkers ?? [],
  };
}

function isoSeconds(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

/** Seconds → `42s`, `5m03s`, `2h15m`, `3d04h`. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const pad = (n: number) => String(n).padStart(2, '0');
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${pad(s % 60)}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h${pad(Math.floor((s % 3600) / 60))}m`;
  return `${Math.floor(s / 86_400)}d${pad(Math.floor((s % 86_400) / 3600))}h`;
}

function note(s: ServerStatus): string {
  const parts: string[] = [];
  const old = s.streamList.filter((x) => x.oldWorker);
  switch (s.use) {
    case 'free':
      parts.push('free');
      break;
    case 'maintenance':
      parts.push('maintenance: draining or held, takes no new stream');
      break;
    case 'down':
      parts.push(`not free: health check says ${s.status}`);
      break;
    case 'old-worker-only':
      parts.push('no longer in the config: an old worker finishes its stream');
      break;
    case 'streaming':
      if (s.maintenance) parts.push('maintenance: draining or held');
      break;
  }
  if (old.length > 0) {
    parts.push(`${old.length} in old worker ${[...new Set(old.map((x) => x.worker))].join(', ')}`);
    // The reload hazard: the current worker counts 0 here and would hand it a second stream.
    if (s.use !== 'old-worker-only' && !s.maintenance) parts.push('in rotation in the current worker: the next sync holds it');
  }
  if (s.streams > 1) parts.push('MORE THAN ONE STREAM');
  const from = s.streamList[0]?.source;
  if (from !== undefined) parts.push(`from ${from}`);
  return parts.join('; ');
}

/** The table `rtmp-proxy status` prints: a header line, then one row per Server. Pure. */
export function formatStatus(report: StatusReport): string {
  const h = report.haproxy;
  const total = report.servers.filter((s) => s.use !== 'old-worker-only').length;
  const header = [
    `HAProxy master ${h.masterPid ?? '?'}`,
    `worker ${h.workerPids.length > 0 ? h.workerPids.join(', ') : '?'}`,
    `old workers ${h.oldWorkerPids.length > 0 ? h.oldWorkerPids.join(', ') : 'none'}`,
    `reloads ${h.reloads ?? '?'}${h.failedReloads ? ` (${h.failedReloads} failed)` : ''}`,
    `streams ${report.streams}`,
    `free Servers ${report.free} of ${total}`,
    ...(report.queued > 0 ? [`queued streamers ${report.queued}`] : []),
  ].join(' · ');
  const lines = [header];
  if (h.masterError !== undefined) lines.push(`(master CLI: ${h.masterError})`);
  if (report.unreachableWorkers.length > 0) lines.push(`(old workers that did not answer: ${report.unreachableWorkers.join(', ')})`);
  if (report.servers.length === 0) {
    lines.push(`no Servers in ${report.backend}`);
    return `${lines.join('\n')}\n`;
  }
  const rows = [
    ['SERVER', 'ADDRESS', 'STATE', 'STREAM', 'SINCE', 'NOTE'],
    ...report.servers.map((s) => [
      s.name,
      s.port > 0 ? formatAddress(s.address, s.port) : s.address,
      s.status || '?',
      s.streams === 0 ? '-' : s.ageSeconds === undefined ? `${s.streams}` : `${s.streams} for ${formatDuration(s.ageSeconds)}`,
      s.since ?? '-',
      note(s),
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) lines.push(r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd());
  return `${lines.join('\n')}\n`;
}

/** HAProxy is not running, or none of its sockets answers: the message names the variables to look at. */
export class StatusUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StatusUnavailableError';
  }
}

async function snapshot(api: RuntimeApi, pid: number | undefined): Promise<WorkerSnapshot> {
  const servers = await api.servers(RTMP_BACKEND);
  const sessions = parseShowSess(await api.command('show sess'));
  return { pid, servers, sessions };
}

/**
 * Reads the running HAProxy: the master (pidfile, master CLI `show proc`), the current worker through
 * the admin socket (or the master CLI when the socket does not answer), and every old worker through
 * the master CLI. Changes nothing. Throws StatusUnavailableError when no worker can be reached.
 */
export async function readStatus(config: Config, opts: { timeoutMs?: number; now?: () => Date } = {}): Promise<StatusReport> {
  const timeoutMs = opts.timeoutMs ?? 5000;
  const haproxy = new HaproxyProcess({
    bin: config.haproxyBin,
    configPath: config.haproxyConfig,
    pidfile: config.haproxyPidfile,
    masterSocket: config.haproxyMasterSocket,
    logger: silentLogger(),
    timeoutMs,
  });
  const masterPid = await haproxy.runningPid();
  let master: MasterStatus | undefined;
  let masterError: string | undefined;
  try {
    master = await haproxy.masterStatus();
  } catch (e) {
    masterError = `HAPROXY_MASTER_SOCKET=${config.haproxyMasterSocket}: ${(e as Error).message}`;
  }
  const newest = master?.workerPids[master.workerPids.length - 1];

  let current: WorkerSnapshot | undefined;
  let adminError: string | undefined;
  try {
    current = await snapshot(new RuntimeApi(config.haproxySocket, '', timeoutMs), newest);
  } catch (e) {
    adminError = (e as Error).message;
    if (newest !== undefined) {
      try {
        current = await snapshot(RuntimeApi.viaMaster(config.haproxyMasterSocket, newest), newest);
      } catch (e2) {
        masterError ??= `HAPROXY_MASTER_SOCKET=${config.haproxyMasterSocket}: ${(e2 as Error).message}`;
      }
    }
  }
  if (current === undefined) {
    const admin = `HAPROXY_SOCKET=${config.haproxySocket} does not answer (${adminError})`;
    if (masterPid === undefined && master === undefined) {
      throw new StatusUnavailableError(
        `HAProxy is not running: HAPROXY_PIDFILE=${config.haproxyPidfile} names no live HAProxy process and ${admin}. ` +
          'Start it with "rtmp-proxy run" (or "rtmp-proxy once").',
      );
    }
    throw new StatusUnavailableError(
      `HAProxy${masterPid === undefined ? '' : ` (master pid ${masterPid}, HAPROXY_PIDFILE=${config.haproxyPidfile})`} does not answer: ${admin}` +
        `${masterError === undefined ? '; the master has no worker' : `; ${masterError}`}.`,
    );
  }

  const old: WorkerSnapshot[] = [];
  const unreachableWorkers: number[] = [];
  for (const pid of master?.oldWorkerPids ?? []) {
    try {
      old.push(await snapshot(RuntimeApi.viaMaster(config.haproxyMasterSocket, pid), pid));
    } catch {
      unreachableWorkers.push(pid); // it may have finished its last stream and exited just now
    }
  }
  return buildStatus({
    now: opts.now?.() ?? new Date(),
    masterPid,
    master,
    ...(masterError !== undefined && { masterError }),
    current,
    old,
    unreachableWorkers,
  });
}
