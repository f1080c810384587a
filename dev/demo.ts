#!/usr/bin/env node
/**
 * `npm run demo`: the whole chain on one machine, on loopback.
 *
 *   ffmpeg --RTMP--> HAProxy 127.0.0.1:1935 --> nginx-rtmp Servers 127.0.0.2:1935, 127.0.0.3:1935, ...
 *                    (kept in sync by `rtmp-proxy run`, which discovers the Servers as ECS tasks
 *                     through the real AWS SDK, pointed at the project's ECS API emulator)
 *
 * What it starts, all inside one temp directory that is removed at exit:
 * - the ECS API emulator (in this process), holding one RUNNING task per Server;
 * - DEMO_SERVERS nginx-rtmp Servers, plus DEMO_SPARE_SERVERS started but not registered in ECS, so
 *   a scale-out can be shown live through the emulator's admin API;
 * - the real CLI, `rtmp-proxy run`, as a child process with the environment a user would give it;
 *   it starts HAProxy (master-worker, daemonized) and keeps its server list equal to the ECS tasks.
 * Then it prints where to push and, whenever it changes, which Server carries which stream.
 * Ctrl-C (SIGINT), SIGTERM or SIGHUP stops everything it started and exits 0; a second Ctrl-C
 * stops at once, without the grace period for live streams.
 *
 * Settings (environment):
 *   RTMP_PORT, HEALTH_PORT, BIND_ADDRESS  the Proxy's frontends (default 1935, 8000, 127.0.0.1)
 *   SERVER_PORT           RTMP port of every Server, each on its own address (default 1935)
 *   SYNC_SCHEDULE         how often the daemon syncs (default every 2 s: "*\/2 * * * * *")
 *   SHUTDOWN_GRACE_SECONDS  how long live streams may go on after Ctrl-C (default 3)
 *   LOG_LEVEL, APPLY_MODE, HAPROXY_BIN, HAPROXY_TEMPLATE, BUSY_CHECK_*  passed to the daemon
 *   DEMO_SERVERS          Servers registered as ECS tasks (default 3)
 *   DEMO_SPARE_SERVERS    Servers started but not registered, for a live scale-out (default 1)
 *   DEMO_ADDRESS_BASE     address of the first Server; the next ones count up (default 127.0.0.2)
 *   DEMO_STAT_PORT        HTTP port of each Server's /stat page (default 8080)
 *   DEMO_EMULATOR_PORT    port of the ECS API emulator on 127.0.0.1 (default 4566; 0: any free port)
 * The demo sets DISCOVERY, ECS_CLUSTER, ECS_SERVICE, SERVER_ADDRESS, every HAPROXY_* file path (all
 * in its temp dir) and the AWS settings (endpoint, region, dummy credentials) itself.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync, rmSync, type WriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { ConfigErrors, DEFAULT_HAPROXY_BIN, loadConfig, type Config } from '../src/config.js';
import { startEcsEmulator, type EcsEmulator } from './emulator/ecs-emulator.js';
import { HaproxyDriver } from '../src/haproxy/driver.js';
import { silentLogger } from '../src/log.js';
import { formatAddress as hostPort, type RuntimeServer } from '../src/model.js';
import { resolveExecutable, startRtmpServers, type RtmpServer } from './media/rtmp-server.js';

const CLUSTER = 'demo';
const SERVICE = 'rtmp-server';
const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));
/** How long the Proxy may take to come up with every Server UP before the demo gives up. */
const READY_TIMEOUT_MS = 30_000;
const POLL_MS = 1000;

type Env = Record<string, string | undefined>;

export interface DemoSettings {
  servers: number;
  spares: number;
  /** Every Server's address: the first `servers` are registered in ECS, the rest are spares. */
  addresses: string[];
  statPort: number;
  emulatorPort: number;
}

/** A demo setting that is wrong: names the variable, its value and what is allowed. */
class DemoSettingError extends Error {}

/** The demo could not start; the message says why (no stack trace: it is not a bug in the demo). */
class DemoStartError extends Error {}

/** The demo's own settings (DEMO_*); throws naming every bad variable. */
export function parseDemoSettings(env: Env): DemoSettings {
  const errors: string[] = [];
  const int = (name: string, fallback: number, min: number, max: number): number => {
    const raw = env[name]?.trim();
    if (raw === undefined || raw === '') return fallback;
    const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
    if (n >= min && n <= max) return n;
    errors.push(`${name}=${JSON.stringify(raw)} is not valid: an integer from ${min} to ${max}`);
    return fallback;
  };
  const servers = int('DEMO_SERVERS', 3, 1, 50);
  const spares = int('DEMO_SPARE_SERVERS', 1, 0, 50);
  const statPort = int('DEMO_STAT_PORT', 8080, 1, 65535);
  const emulatorPort = int('DEMO_EMULATOR_PORT', 4566, 0, 65535);
  const base = env.DEMO_ADDRESS_BASE?.trim() || '127.0.0.2';
  const octets = net.isIPv4(base) ? base.split('.').map(Number) : [];
  let addresses: string[] = [];
  if (octets[0] !== 127) {
    errors.push(`DEMO_ADDRESS_BASE=${JSON.stringify(base)} is not valid: an IPv4 loopback address (127.x.y.z), e.g. 127.0.0.2`);
  } else if (octets[3]! + servers + spares - 1 > 254) {
    errors.push(`DEMO_ADDRESS_BASE=${JSON.stringify(base)} is not valid: ${servers + spares} Servers counting up from it must end at .254 or below`);
  } else {
    addresses = Array.from({ length: servers + spares }, (_, i) => `${octets.slice(0, 3).join('.')}.${octets[3]! + i}`);
  }
  if (errors.length > 0) throw new DemoSettingError(errors.join('\n'));
  return { servers, spares, addresses, statPort, emulatorPort };
}

/** The environment `rtmp-proxy run` gets: the user's own, demo defaults where unset, discovery and paths forced. */
export function daemonEnv(env: Env, o: { dir: string; emulatorUrl: string; haproxyBin?: string }): Env {
  const child: Env = { ...env };
  // The SDK must reach the emulator with these credentials, not a profile or role of the user's.
  for (const name of ['AWS_PROFILE', 'AWS_SESSION_TOKEN', 'AWS_WEB_IDENTITY_TOKEN_FILE', 'AWS_ROLE_ARN', 'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI', 'AWS_CONTAINER_CREDENTIALS_FULL_URI']) {
    delete child[name];
  }
  // Every HAProxy file (config, pidfile, sockets, maps) lives in the demo's dir: a user's own paths are not touched.
  for (const name of Object.keys(child)) {
    if (name.startsWith('HAPROXY_') && name !== 'HAPROXY_BIN' && name !== 'HAPROXY_TEMPLATE') delete child[name];
  }
  const defaults: Env = {
    BIND_ADDRESS: '127.0.0.1',
    RTMP_PORT: '1935',
    HEALTH_PORT: '8000',
    SERVER_PORT: '1935',
    SYNC_SCHEDULE: '*/2 * * * * *',
    SHUTDOWN_GRACE_SECONDS: '3',
    LOG_LEVEL: 'info',
    ...(o.haproxyBin !== undefined && { HAPROXY_BIN: o.haproxyBin }),
  };
  for (const [name, value] of Object.entries(defaults)) {
    if (child[name] === undefined || child[name]!.trim() === '') child[name] = value;
  }
  return {
    ...child,
    DISCOVERY: 'ecs',
    ECS_CLUSTER: CLUSTER,
    ECS_SERVICE: SERVICE,
    SERVER_ADDRESS: 'private',
    STATIC_SERVERS: undefined,
    HAPROXY_CONFIG: path.join(o.dir, 'haproxy.cfg'),
    HAPROXY_PIDFILE: path.join(o.dir, 'haproxy.pid'),
    HAPROXY_SOCKET: path.join(o.dir, 'admin.sock'),
    HAPROXY_MASTER_SOCKET: path.join(o.dir, 'master.sock'),
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'demo',
    AWS_SECRET_ACCESS_KEY: 'demo',
    AWS_ENDPOINT_URL_ECS: o.emulatorUrl,
    AWS_ENDPOINT_URL_EC2: o.emulatorUrl,
  };
}

/** One row of the live table. */
export interface ServerRow {
  server: string;
  ecs: string;
  proxy: string;
  streams: string[];
}

/** The live table as text: STREAMS last, names comma-separated, "-" for none. */
export function formatTable(rows: readonly ServerRow[]): string {
  const header: ServerRow = { server: 'SERVER', ecs: 'ECS TASK', proxy: 'PROXY', streams: ['STREAMS'] };
  const all = [header, ...rows];
  const width = (pick: (r: ServerRow) => string) => Math.max(...all.map((r) => pick(r).length));
  const w = [width((r) => r.server), width((r) => r.ecs), width((r) => r.proxy)];
  return all
    .map((r) => `  ${r.server.padEnd(w[0]!)}  ${r.ecs.padEnd(w[1]!)}  ${r.proxy.padEnd(w[2]!)}  ${r.streams.length > 0 ? r.streams.join(',') : '-'}`)
    .join('\n');
}

/** What a user types to push a cheap test stream (same settings as the tests' publisher). */
export function ffmpegCommand(url: string): string {
  return `ffmpeg -re -f lavfi -i testsrc=size=320x240:rate=10 -an -c:v flv1 -b:v 200k -g 10 -f flv ${url}`;
}

/** HAProxy's status without the health counter of a check in progress ("UP 1/3" → "UP"), so the table changes only when the state does. */
export function proxyStatus(status: string): string {
  return status.replace(/\s+-?\d+\/\d+$/, '');
}

const say = (line = '') => process.stdout.write(`${line}\n`);
const clock = () => new Date().toTimeString().slice(0, 8);

/** Is address:port free to listen on? Resolves with the error code when it is not. */
function portTaken(address: string, port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    server.listen({ host: address, port, exclusive: true }, () => server.close(() => resolve(undefined)));
  });
}

function httpStatus(url: string, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** The HAProxy master's pid, read synchronously: for the 'exit' safety net, which cannot await. */
function readPid(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

class Demo {
  private dir: string | undefined;
  private emulator: EcsEmulator | undefined;
  private servers: RtmpServer[] = [];
  private daemon: ChildProcess | undefined;
  private daemonExited: Promise<void> = Promise.resolve();
  private daemonLog: WriteStream | undefined;
  private daemonStderr = '';
  private config: Config | undefined;
  private poller: NodeJS.Timeout | undefined;
  private lastTable = '';
  private stopping: Promise<void> | undefined;
  private forced = false;
  private aborted = false;
  private ready = false;

  constructor(private readonly settings: DemoSettings) {}

  async start(): Promise<void> {
    const s = this.settings;
    this.dir = await mkdtemp(path.join(tmpdir(), 'rtmp-proxy-demo-'));
    // Safety net: whatever way this process ends, leave no HAProxy, daemon or temp dir behind.
    process.once('exit', () => this.killEverythingNow());

    const haproxyBin = process.env.HAPROXY_BIN?.trim() ? undefined : await resolveExecutable(DEFAULT_HAPROXY_BIN);
    // Validate with the daemon's own rules before starting anything (the emulator URL is a placeholder here).
    const env = (emulatorUrl: string) => daemonEnv(process.env, { dir: this.dir!, emulatorUrl, ...(haproxyBin !== undefined && { haproxyBin }) });
    const config = loadConfig(env('http://127.0.0.1:1'));
    this.config = config;

    const proxyPorts: Array<[string, number]> = [
      ['RTMP_PORT', config.rtmpPort],
      ['HEALTH_PORT', config.healthPort],
    ];
    for (const [name, port] of proxyPorts) {
      const why = await portTaken(config.bindAddress, port);
      if (why !== undefined) {
        throw new DemoSettingError(
          `${hostPort(config.bindAddress, port)} is not free for the Proxy (${why}): something else listens there. ` +
            `Set ${name} to another port (or BIND_ADDRESS to another address), e.g. ${name}=${port + 10000} npm run demo`,
        );
      }
    }

    say(`Starting the ECS API emulator, ${s.servers} nginx-rtmp Servers${s.spares > 0 ? ` (+${s.spares} spare)` : ''} and rtmp-proxy, everything in ${this.dir}`);
    try {
      this.emulator = await startEcsEmulator({ host: '127.0.0.1', port: s.emulatorPort });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EADDRINUSE') {
        throw new DemoSettingError(`127.0.0.1:${s.emulatorPort} is not free for the ECS API emulator: set DEMO_EMULATOR_PORT to another port (0: any free port)`);
      }
      throw e;
    }
    this.emulator.addCluster(CLUSTER);
    this.checkAborted();

    try {
      this.servers = await startRtmpServers(s.addresses, { port: config.serverPort, statPort: s.statPort, workDir: this.dir });
    } catch (e) {
      const message = (e as Error).message;
      if (/already in use/.test(message)) {
        throw new DemoSettingError(
          `${message}.\nThe demo's Servers use ${s.addresses[0]}..${s.addresses.at(-1)} on ports ${config.serverPort} (SERVER_PORT) and ${s.statPort} (DEMO_STAT_PORT): ` +
            'choose other addresses with DEMO_ADDRESS_BASE (e.g. DEMO_ADDRESS_BASE=127.0.9.2) or other ports with those variables',
        );
      }
      throw e;
    }
    this.checkAborted();
    for (const address of s.addresses.slice(0, s.servers)) this.emulator.addTask({ cluster: CLUSTER, service: SERVICE, address });

    this.startDaemon(env(this.emulator.url));
    await this.waitUntilReady(config);
  }

  private startDaemon(env: Env): void {
    this.daemonLog = createWriteStream(path.join(this.dir!, 'daemon.log'));
    // Its own session: a Ctrl-C in the terminal reaches only the demo, which stops the daemon once, in order.
    const child = spawn(process.execPath, [CLI, 'run'], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    this.daemon = child;
    this.daemonExited = new Promise((resolve) => {
      child.once('exit', () => resolve());
      child.once('error', () => resolve());
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      this.daemonStderr = (this.daemonStderr + chunk).slice(-4000);
      this.daemonLog?.write(chunk);
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      this.daemonLog?.write(`${line}\n`);
      this.echoDaemonLine(line);
    });
    child.once('exit', (code, signal) => {
      if (this.ready && !this.aborted && this.stopping === undefined) {
        this.aborted = true;
        say(`\nrtmp-proxy run exited unexpectedly (code ${code}, signal ${signal}):\n${this.daemonStderr.trim()}`);
        void this.stop().then(() => process.exit(1));
      }
    });
  }

  /** The daemon's JSON log, condensed: membership changes, starts, reloads, warnings and errors. */
  private echoDaemonLine(line: string): void {
    let entry: { level?: number; msg?: string; server?: string; reason?: string; err?: string; code?: string };
    try {
      entry = JSON.parse(line) as typeof entry;
    } catch {
      say(`[${clock()}] rtmp-proxy: ${line}`);
      return;
    }
    const msg = entry.msg ?? '';
    const interesting = (entry.level ?? 0) >= 40 || /^server /.test(msg) || /^sync: (started|reloaded)/.test(msg);
    if (!interesting) return;
    const server = entry.server === undefined ? '' : ` ${this.describeServerName(entry.server)}`;
    // A start's or reload's reason is in msg already.
    const extra = [entry.reason, entry.code, entry.err].filter((x) => x !== undefined && !msg.includes(x)).join('; ');
    say(`[${clock()}] rtmp-proxy: ${msg}${server}${extra ? ` (${extra})` : ''}`);
  }

  /** task-<id> → "task-<id> (127.0.0.3)". */
  private describeServerName(name: string): string {
    const task = this.emulator?.tasks().find((t) => `task-${t.taskId}` === name);
    return task?.address ? `${name} (${task.address})` : name;
  }

  private async waitUntilReady(config: Config): Promise<void> {
    const healthUrl = `http://${hostPort(config.bindAddress, config.healthPort)}/`;
    const haproxy = HaproxyDriver.fromConfig(config, silentLogger(), { timeoutMs: 2000 });
    const deadline = Date.now() + READY_TIMEOUT_MS;
    let last = 'nothing checked yet';
    while (Date.now() < deadline) {
      this.checkAborted();
      const child = this.daemon!;
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new DemoStartError(`rtmp-proxy run exited while starting (code ${child.exitCode}, signal ${child.signalCode}):\n${this.daemonStderr.trim()}`);
      }
      try {
        const status = await httpStatus(healthUrl, 1000);
        if (status !== 200) {
          last = `health page ${healthUrl} answered ${status}`;
        } else {
          const up = (await haproxy.backend()).servers.filter((s) => s.status.startsWith('UP')).length;
          if (up >= this.settings.servers) {
            this.ready = true;
            return;
          }
          last = `${up} of ${this.settings.servers} Servers UP in HAProxy`;
        }
      } catch (e) {
        last = (e as Error).message;
      }
      await delay(100);
    }
    throw new DemoStartError(`the Proxy was not ready within ${READY_TIMEOUT_MS / 1000} s (${last}); daemon log: ${path.join(this.dir!, 'daemon.log')}\n${this.daemonStderr.trim()}`);
  }

  printBanner(readySeconds: number): void {
    const config = this.config!;
    const s = this.settings;
    const proxy = hostPort(config.bindAddress === '0.0.0.0' ? '127.0.0.1' : config.bindAddress === '::' ? '::1' : config.bindAddress, config.rtmpPort);
    const pushUrl = `rtmp://${proxy}/stream/demo1`;
    const registered = this.servers.slice(0, s.servers);
    const spares = this.servers.slice(s.servers);
    const emulatorUrl = this.emulator!.url;
    const tasks = this.emulator!.tasks();
    const rule = '='.repeat(78);
    const lines = [
      '',
      rule,
      `rtmp-proxy demo ready in ${readySeconds.toFixed(1)} s: HAProxy + rtmp-proxy run, ${s.servers} Servers as ECS tasks`,
      rule,
      '',
      'Push a stream to the Proxy (any stream key in place of demo1):',
      `  URL:    ${pushUrl}`,
      `  ffmpeg: ${ffmpegCommand(pushUrl)}`,
      '  Each Server takes one stream; push a second key to see it land on another Server.',
      '',
      'Servers (nginx-rtmp; each /stat page shows what it carries):',
      ...this.servers.map((srv, i) => {
        const task = tasks.find((t) => t.address === srv.address);
        const what = i < s.servers ? `ECS task ${task?.taskId ?? '?'}` : 'spare: running, not registered in ECS';
        return `  ${hostPort(srv.address, srv.port)}  ${srv.statUrl}  ${what}`;
      }),
      '',
      `Proxy health page: http://${hostPort(config.bindAddress === '0.0.0.0' ? '127.0.0.1' : config.bindAddress, config.healthPort)}/`,
      `ECS API emulator:  ${emulatorUrl} (tasks: curl -s ${emulatorUrl}/_emulator/tasks)`,
      `Sync schedule:     ${config.syncSchedule} (SYNC_SCHEDULE)`,
      `Work dir:          ${this.dir} (daemon.log, haproxy.cfg; removed at exit)`,
    ];
    if (spares.length > 0) {
      const spare = spares[0]!;
      lines.push(
        '',
        `Scale out: register the spare Server ${spare.address} as a task; the next sync adds it to HAProxy:`,
        `  curl -s -X POST ${emulatorUrl}/_emulator/tasks -d '{"cluster":"${CLUSTER}","service":"${SERVICE}","address":"${spare.address}"}'`,
      );
    }
    const last = registered.at(-1);
    const lastTask = last && tasks.find((t) => t.address === last.address);
    if (lastTask) {
      lines.push(
        `Scale in: stop the task of ${lastTask.address} in ECS; the Proxy drains it (a live stream there goes on, no new ones) and`,
        '  removes it once idle (its nginx keeps running here, the demo only changes ECS):',
        `  curl -s -X DELETE ${emulatorUrl}/_emulator/tasks/${lastTask.taskId}`,
      );
    }
    lines.push('', 'Below: which Server carries which stream, printed whenever it changes. Ctrl-C stops everything.', rule);
    for (const line of lines) say(line);
  }

  /** Polls ECS (the emulator), HAProxy and every stat page; prints the table when it changed. */
  startTable(): void {
    const tick = async () => {
      if (this.aborted) return;
      const table = await this.table().catch((e: Error) => `  (could not read the state: ${e.message})`);
      if (!this.aborted && table !== this.lastTable) {
        this.lastTable = table;
        say(`[${clock()}] Which Server carries which stream:\n${table}`);
      }
      if (!this.aborted) this.poller = setTimeout(() => void tick(), POLL_MS);
    };
    void tick();
  }

  private async table(): Promise<string> {
    const config = this.config!;
    const tasks = this.emulator!.tasks();
    let running: RuntimeServer[] | undefined;
    try {
      running = (await HaproxyDriver.fromConfig(config, silentLogger(), { timeoutMs: 2000 }).backend()).servers;
    } catch {
      running = undefined;
    }
    const rows = await Promise.all(
      this.servers.map(async (srv): Promise<ServerRow> => {
        const task = [...tasks].reverse().find((t) => t.address === srv.address);
        const ecs = task === undefined ? 'none (spare)' : `${task.taskId.slice(0, 8)} ${task.lastStatus}`;
        const inProxy = running?.find((r) => r.address === srv.address && r.port === srv.port);
        const proxy =
          running === undefined ? '(HAProxy not answering)' : inProxy === undefined ? 'not in HAProxy' : `${proxyStatus(inProxy.status)}, ${inProxy.sessions} conn`;
        const streams = await srv.stats().then(
          (st) => st.publishing,
          () => ['(stat page not answering)'],
        );
        return { server: hostPort(srv.address, srv.port), ecs, proxy, streams };
      }),
    );
    return formatTable(rows);
  }

  /** Stops everything this process started, in order: daemon (and HAProxy), Servers, emulator, temp dir. */
  stop(): Promise<void> {
    return (this.stopping ??= (async () => {
      if (this.poller) clearTimeout(this.poller);
      await this.stopDaemon();
      await Promise.all(this.servers.map((srv) => srv.stop().catch(() => undefined)));
      await this.emulator?.close().catch(() => undefined);
      await new Promise<void>((resolve) => (this.daemonLog ? this.daemonLog.end(() => resolve()) : resolve()));
      if (this.dir) await rm(this.dir, { recursive: true, force: true });
    })());
  }

  /** Asked to stop: a start in progress gives up at its next step. */
  abort(): void {
    this.aborted = true;
  }

  private checkAborted(): void {
    if (this.aborted) throw new Error('stopped while starting');
  }

  /** A second Ctrl-C: no grace period for live streams. */
  force(): void {
    this.forced = true;
    this.daemon?.kill('SIGKILL');
    this.killHaproxy('SIGTERM');
  }

  private async stopDaemon(): Promise<void> {
    const child = this.daemon;
    if (child && child.exitCode === null && child.signalCode === null) {
      // `rtmp-proxy run` on SIGTERM: stops syncing, closes HAProxy's listeners, gives live streams
      // SHUTDOWN_GRACE_SECONDS, then stops HAProxy.
      child.kill('SIGTERM');
      const boundMs = ((this.config?.shutdownGraceSeconds ?? 3) + 20) * 1000;
      const exited = await Promise.race([this.daemonExited.then(() => true), delay(boundMs).then(() => false)]);
      if (!exited) {
        say('rtmp-proxy run did not stop in time; killing it');
        child.kill('SIGKILL');
        await Promise.race([this.daemonExited, delay(2000)]);
      }
    }
    // Whatever the daemon did, HAProxy must be gone before we remove its directory.
    await this.waitHaproxyGone(this.forced ? 2000 : 5000);
  }

  /** SIGTERM, then SIGKILL after `ms`. */
  private async waitHaproxyGone(ms: number): Promise<void> {
    if (this.config) await HaproxyDriver.fromConfig(this.config, silentLogger(), { timeoutMs: ms }).process.stop();
  }

  private killHaproxy(signal: NodeJS.Signals): void {
    const pid = this.config && readPid(this.config.haproxyPidfile);
    if (pid === undefined) return;
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }

  /** The 'exit' safety net: synchronous only. */
  private killEverythingNow(): void {
    if (this.daemon && this.daemon.exitCode === null && this.daemon.signalCode === null) this.daemon.kill('SIGKILL');
    this.killHaproxy('SIGKILL');
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }
}

async function main(): Promise<number> {
  let settings: DemoSettings;
  try {
    settings = parseDemoSettings(process.env);
  } catch (e) {
    process.stderr.write(`rtmp-proxy demo: invalid settings:\n  ${(e as Error).message.split('\n').join('\n  ')}\n`);
    return 2;
  }
  const demo = new Demo(settings);

  // First signal: stop in order (a start in progress gives up at its next step). Second: at once.
  let signals = 0;
  let firstSignalAt = 0;
  let wake = () => {};
  const signalled = new Promise<void>((resolve) => (wake = resolve));
  const onSignal = (signal: NodeJS.Signals) => {
    // A wrapper (npm, yarn, a shell) may pass on the Ctrl-C the terminal already sent us: one press, not two.
    if (signals > 0 && Date.now() - firstSignalAt < 500) return;
    if (signals === 0) firstSignalAt = Date.now();
    signals += 1;
    if (signals === 1) {
      say(`\n[${clock()}] ${signal}: stopping rtmp-proxy (HAProxy), the Servers and the emulator... (Ctrl-C again: stop at once)`);
      demo.abort();
      wake();
    } else {
      say(`[${clock()}] ${signal} again: stopping at once`);
      demo.force();
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);

  const stopAll = async (): Promise<number> => {
    try {
      await demo.stop();
      say(`[${clock()}] stopped everything the demo started; bye`);
      return 0;
    } catch (e) {
      process.stderr.write(`rtmp-proxy demo: stopping failed: ${(e as Error).message}\n`);
      return 1;
    }
  };

  try {
    await demo.start();
  } catch (e) {
    if (signals > 0) return stopAll();
    if (e instanceof ConfigErrors) {
      process.stderr.write(`rtmp-proxy demo: invalid configuration:\n${e.errors.map((x) => `  ${x.message}`).join('\n')}\n`);
    } else {
      process.stderr.write(`rtmp-proxy demo: ${e instanceof DemoSettingError || e instanceof DemoStartError ? e.message : ((e as Error).stack ?? String(e))}\n`);
    }
    await demo.stop().catch(() => undefined);
    return e instanceof ConfigErrors || e instanceof DemoSettingError ? 2 : 1;
  }
  // performance.now() counts from this process's start.
  demo.printBanner(performance.now() / 1000);
  demo.startTable();
  await signalled;
  return stopAll();
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`rtmp-proxy demo: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
