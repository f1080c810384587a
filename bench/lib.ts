// Shared pieces of the benchmarks: addresses, a proxy under test, counting TCP backends, statistics,
// tables and the machine description. Loopback only: 127.0.60.0–127.0.80.255, ports 19400–19499
// (RTMP side, backends) and 18400–18499 (health), so the benchmarks never meet the tests' addresses.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { loadConfig, type ApplyMode, type Config } from '../src/config.js';
import { DEFAULT_HAPROXY_BIN, PACKAGE_ROOT } from '../src/paths.js';
import { HaproxyDriver } from '../src/haproxy/driver.js';
import type { Discovery } from '../src/discovery/types.js';
import type { HaproxyProcess } from '../src/haproxy/process.js';
import { limitsFor } from '../src/render/render.js';
import { createLogger, silentLogger, type Logger } from '../src/log.js';
import { serverNameForAddress, type Server } from '../src/model.js';
import { createSyncer, type Syncer } from '../src/sync.js';
import type { SyncOutcome } from '../src/model.js';
import { countProcesses } from '../test/helpers/processes.js';

/** Silent unless BENCH_LOG names a pino level (debugging a bench). */
export const logger: Logger = process.env.BENCH_LOG ? createLogger(process.env.BENCH_LOG) : silentLogger();

/** The i-th fleet address: 127.0.60.1 … 127.0.79.250 for i < 5000. */
export function fleetAddress(i: number): string {
  if (i < 0 || i >= 5000) throw new Error(`fleet address index ${i} out of range`);
  return `127.0.${60 + Math.floor(i / 250)}.${(i % 250) + 1}`;
}

/** Addresses outside the fleet block, for proxies and hand-placed backends: 127.0.80.1 … 127.0.80.254. */
export function spareAddress(i: number): string {
  if (i < 1 || i > 254) throw new Error(`spare address ${i} out of range`);
  return `127.0.80.${i}`;
}

export function staticServer(address: string, port: number): Server {
  return { name: serverNameForAddress(address, port), address, port };
}

/** An in-memory fleet: the apply-cost benches need N Servers without AWS in the way. */
export class MemoryFleet implements Discovery {
  servers: Server[] = [];
  async discover() {
    return { servers: [...this.servers], skipped: [] };
  }
}

/** The hard limit on open files (HAProxy raises its soft limit up to this; it needs ~2 per connection). */
export async function fdHardLimit(): Promise<number> {
  const { stdout } = await promisify(execFile)('sh', ['-c', 'ulimit -Hn'], { timeout: 5000 });
  const n = Number(stdout.trim());
  return Number.isFinite(n) && n > 0 ? n : Infinity; // "unlimited"
}

/**
 * HAProxy asks for about 2 file descriptors per connection of the global maxconn, plus one per health
 * check. When the shipped template's maxconn for this fleet needs more than the hard limit allows,
 * HAProxy refuses to start ("Cannot raise FD limit"); the bench then uses a copy of the shipped template
 * with only the global maxconn capped to fit, and says so in its table.
 */
async function templateThatFits(dir: string, servers: number): Promise<{ path: string; cappedGlobalMaxconn: number } | undefined> {
  const { globalMaxconn } = limitsFor(servers);
  const hard = await fdHardLimit();
  const headroom = servers + 200;
  if (2 * globalMaxconn + headroom <= hard) return undefined;
  const cap = Math.floor((hard - headroom) / 2);
  const shipped = path.join(PACKAGE_ROOT, 'templates', 'haproxy.cfg.ejs');
  const text = await readFile(shipped, 'utf8');
  const line = 'maxconn <%= settings.globalMaxconn %>';
  if (!text.includes(line)) throw new Error(`${shipped} has no "${line}" line to cap`);
  const file = path.join(dir, 'haproxy.cfg.ejs');
  await writeFile(file, text.replace(line, `maxconn ${cap} # bench: capped from <%= settings.globalMaxconn %> to fit the open-files hard limit ${hard}`));
  return { path: file, cappedGlobalMaxconn: cap };
}

export interface ProxyOptions {
  applyMode: ApplyMode;
  /** Proxy bind address (127.0.80.x). */
  bind: string;
  rtmpPort: number;
  healthPort: number;
  /** Extra environment (ECS settings, schedule…). */
  env?: Record<string, string>;
  /** The largest fleet this proxy will run: decides whether HAProxy's global maxconn must be capped to start here. */
  servers?: number;
}

/** A proxy under test: its own temp dir (config, pidfile, sockets), so HAProxy processes can be counted by it. */
export interface Proxy {
  dir: string;
  config: Config;
  /** The environment `config` was loaded from: a daemon in another process given it runs this proxy. */
  env: Record<string, string>;
  haproxy: HaproxyProcess;
  /** Set when the shipped template's global maxconn had to be capped to fit the machine's open-files limit. */
  cappedGlobalMaxconn?: number;
  /** HAProxy processes whose command line names this proxy's dir (master + workers). */
  processes(): Promise<number>;
  /** Stops HAProxy (no grace) and removes the temp dir. */
  close(): Promise<void>;
}

export async function createProxy(opts: ProxyOptions): Promise<Proxy> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'rtmp-proxy-bench-'));
  const fit = await templateThatFits(dir, opts.servers ?? 0);
  const env: Record<string, string> = {
    DISCOVERY: 'static',
    STATIC_SERVERS: '127.0.0.1:1',
    APPLY_MODE: opts.applyMode,
    BIND_ADDRESS: opts.bind,
    RTMP_PORT: String(opts.rtmpPort),
    HEALTH_PORT: String(opts.healthPort),
    HAPROXY_CONFIG: path.join(dir, 'haproxy.cfg'),
    HAPROXY_PIDFILE: path.join(dir, 'haproxy.pid'),
    HAPROXY_SOCKET: path.join(dir, 'admin.sock'),
    SHUTDOWN_GRACE_SECONDS: '0',
    LOG_LEVEL: 'silent',
    // The benches open connections from one address far faster than a streamer would.
    SOURCE_MAX_CONNECT_RATE: 'off',
    SOURCE_MAX_STREAMS: 'off',
    ...(fit && { HAPROXY_TEMPLATE: fit.path }),
    ...opts.env,
  };
  const config = loadConfig(env);
  const haproxy = HaproxyDriver.fromConfig(config, logger).process;
  return {
    dir,
    config,
    env,
    haproxy,
    ...(fit && { cappedGlobalMaxconn: fit.cappedGlobalMaxconn }),
    processes: () => countProcesses('haproxy', { cmdlineIncludes: dir }),
    close: async () => {
      try {
        await haproxy.stop();
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  };
}

export function syncerFor(proxy: Proxy, discovery: Discovery): Syncer {
  return createSyncer(proxy.config, logger, discovery);
}

export type OkOutcome = Extract<SyncOutcome, { ok: true }>;

export function mustOk(outcome: SyncOutcome, what: string): OkOutcome {
  if (!outcome.ok) throw new Error(`${what}: sync failed at ${outcome.stage}: ${outcome.error.message}`);
  return outcome;
}

/** The tests' stand-in Server: it counts the connections open on it now (two at once is a double-booking). */
export { startTcpBackend as startCountingBackend, type TcpBackend as CountingBackend } from '../test/helpers/tcp-backends.js';


/** Rejects when `p` takes longer than `ms`: every step of a bench is bounded in time. */
export async function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

// ---- statistics ----

/** Nearest-rank percentile (p in 0..1) of a non-empty sample; with 20 values p99 is the maximum. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

export const median = (values: readonly number[]) => percentile(values, 0.5);

export function round(n: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/** seed / ours, as "12.3×"; "—" when either side is missing or ours is 0. */
export function ratio(seed: number | undefined, ours: number | undefined): string {
  if (seed === undefined || ours === undefined || !Number.isFinite(seed) || !Number.isFinite(ours)) return '—';
  if (ours === 0) return seed === 0 ? '1×' : '∞';
  const r = seed / ours;
  return `${r >= 10 ? Math.round(r) : round(r, r >= 1 ? 1 : 2)}×`;
}

export const yesNo = (ok: boolean) => (ok ? 'yes' : 'NO');

// ---- tables ----

export interface Table {
  section: string;
  title: string;
  headers: string[];
  rows: string[][];
  notes: string[];
}

export function renderTable(t: Table): string {
  const widths = t.headers.map((h, i) => Math.max(h.length, ...t.rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  const out = [`### ${t.section}. ${t.title}`, '', line(t.headers), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`];
  for (const r of t.rows) out.push(line(r));
  if (t.notes.length > 0) out.push('', ...t.notes.map((n) => `- ${n}`));
  return out.join('\n');
}

// ---- the machine ----

export interface Machine {
  cpuModel: string;
  cpus: number;
  totalMemoryMB: number;
  os: string;
  node: string;
  haproxy: string;
  loadAverageAtStart: number[];
  /** The code measured: `git describe --always --dirty` of the working tree (dist/ is built from it). */
  revision: string;
}

export async function describeMachine(): Promise<Machine> {
  const cpus = os.cpus();
  let haproxy = 'unknown';
  try {
    const { stdout } = await promisify(execFile)(DEFAULT_HAPROXY_BIN, ['-v'], { timeout: 5000 });
    haproxy = /version (\S+)/.exec(stdout)?.[1] ?? stdout.split('\n')[0]!.trim();
  } catch (e) {
    haproxy = `not found (${(e as Error).message})`;
  }
  const revision = await promisify(execFile)('git', ['describe', '--always', '--dirty'], { cwd: PACKAGE_ROOT, timeout: 5000 })
    .then(({ stdout }) => stdout.trim())
    .catch(() => 'unknown');
  return {
    revision,
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    cpus: cpus.length,
    totalMemoryMB: Math.round(os.totalmem() / 2 ** 20),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    haproxy,
    loadAverageAtStart: os.loadavg().map((l) => round(l, 2)),
  };
}

/** Resident memory of a process from /proc (kB → MB), or undefined when it is gone. */
export async function procRssMB(pid: number): Promise<number | undefined> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => undefined);
  const kb = status && /^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1];
  return kb ? round(Number(kb) / 1024, 1) : undefined;
}

export interface BenchContext {
  quick: boolean;
  /** Adds a result table (printed at once and kept for the JSON). */
  table(t: Omit<Table, 'notes'> & { notes?: string[] }): void;
  /** Progress on stderr, so stdout stays the tables. */
  progress(message: string): void;
}

/**
 * The node flags the daemon process of sections 5 and 8d runs with: those src/entrypoint.sh gives
 * the daemon (its RTMP_PROXY_NODE_FLAGS default), so the bench measures the daemon as the image runs
 * it; BENCH_DAEMON_NODE_FLAGS (space-separated, '' for none) measures others.
 */
export function daemonNodeFlags(): string[] {
  let flags = process.env.BENCH_DAEMON_NODE_FLAGS;
  if (flags === undefined) {
    const entrypoint = readFileSync(path.join(PACKAGE_ROOT, 'src', 'entrypoint.sh'), 'utf8');
    flags = /^daemon_node_flags=\$\{RTMP_PROXY_NODE_FLAGS-"([^"]*)"\}$/m.exec(entrypoint)?.[1];
    if (flags === undefined) throw new Error("src/entrypoint.sh has no daemon_node_flags=${RTMP_PROXY_NODE_FLAGS-\"…\"} line");
  }
  return flags.split(' ').filter((f) => f !== '');
}

/** A table note naming the node flags a daemon process ran with, and where they came from. */
export function daemonFlagsNote(execArgv: readonly string[]): string {
  const from = process.env.BENCH_DAEMON_NODE_FLAGS === undefined ? "src/entrypoint.sh's flags for the daemon" : 'BENCH_DAEMON_NODE_FLAGS';
  return execArgv.length > 0 ? `The daemon process ran with node ${execArgv.join(' ')} (${from}).` : `The daemon process ran with no node flags (${from}).`;
}
