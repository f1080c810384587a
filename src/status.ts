// `rtmp-proxy status`: the backend as HAProxy runs it, at a glance. Pure parsing and formatting of
// what the HAProxy driver reads from every worker.
import type { Config } from './config.js';
import { HaproxyDriver, type WorkerView } from './haproxy/driver.js';
import type { MasterStatus } from './haproxy/process.js';
import { silentLogger } from './log.js';
import { formatAddress, isFree, isRoutableStatus, RTMP_BACKEND, type RuntimeServer } from './model.js';

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
  /** With several Proxies: the peers this one forwards to when it has no free Server (bk_peers). */
  peers: RuntimeServer[];
}

export interface StatusInput {
  now: Date;
  masterPid: number | undefined;
  master: MasterStatus | undefined;
  masterError?: string;
  current: WorkerView;
  old: WorkerView[];
  unreachableWorkers?: number[];
  backend?: string;
}

/** The status report from what the workers said. Pure. */
export function buildStatus(input: StatusInput): StatusReport {
  const backend = input.backend ?? RTMP_BACKEND;
  const now = input.now.getTime();
  const streamsOf = new Map<string, StreamInfo[]>();
  const oldAddress = new Map<string, RuntimeServer>();
  let queued = 0;
  const collect = (w: WorkerView, oldWorker: boolean) => {
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
    const free = inCurrent && isFree({ streams, maintenance, status });
    const use: ServerUse = !inCurrent
      ? 'old-worker-only'
      : streams > 0
        ? 'streaming'
        : maintenance
          ? 'maintenance'
          : isRoutableStatus(status)
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
    peers: input.current.peers ?? [],
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
      parts.push('maintenance: draining, held, or owned by a peer Proxy; takes no new stream here');
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
  for (const p of report.peers) {
    const free = p.status.startsWith('UP') && !p.maintenance;
    lines.push(`peer ${p.name} ${formatAddress(p.address, p.port)}: ${free ? 'has a free Server' : p.maintenance ? 'leaving' : 'no free Server'}, ${p.sessions} forwarded stream(s) now`);
  }
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

/**
 * Reads the running HAProxy through its driver: the master, the current worker (admin socket, or the
 * master CLI when that does not answer) and every old worker. Changes nothing. Throws
 * StatusUnavailableError when no worker can be reached.
 */
export async function readStatus(config: Config, opts: { timeoutMs?: number; now?: () => Date } = {}): Promise<StatusReport> {
  const driver = HaproxyDriver.fromConfig(config, silentLogger(), { timeoutMs: opts.timeoutMs ?? 5000 });
  const view = await driver.workers();
  const { masterPid, master, masterError } = view;
  if (view.current === undefined) {
    const admin = `HAPROXY_SOCKET=${config.haproxySocket} does not answer (${view.adminError})`;
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
  return buildStatus({
    now: opts.now?.() ?? new Date(),
    masterPid,
    master,
    ...(masterError !== undefined && { masterError }),
    current: view.current,
    old: view.old,
    unreachableWorkers: view.unreachableWorkers,
  });
}
