#!/usr/bin/env node
/**
 * `npm run demo`: the whole chain on one machine, on loopback.
 *
 *   ffmpeg --RTMP--> HAProxy 127.0.0.1:1935 --> nginx-rtmp Servers 127.0.0.2:1935, 127.0.0.3:1935, ...
 *                    (kept in sync by `rtmp-proxy run`, which discovers the Servers as ECS tasks
 *                     through the real AWS SDK, pointed at the project's ECS API emulator)
 *
 * What it starts, all inside one temp directory that is removed at exit:
 * - the ECS API emulator (in this process), holding one RUNNING task per Server, and publishing each
 *   task change as an ECS task state change event to an SNS topic, as the service stack's rule does;
 * - DEMO_SERVERS nginx-rtmp Servers, plus DEMO_SPARE_SERVERS started but not registered in ECS, so
 *   a scale-out can be shown live through the emulator's admin API;
 * - the real CLI, `rtmp-proxy run`, as a child process with the environment a user would give it;
 *   it starts HAProxy (master-worker, daemonized) and keeps its server list equal to the ECS tasks,
 *   subscribing a queue of its own to the topic, so a scale-out or -in lands in about a second.
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
 *   DEMO_PROXIES          Proxies (default 1); more than one run as peers (PROXY_SERVICE), each Server
 *                         owned by one of them, a full Proxy forwarding to a peer with a free Server
 *   DEMO_PROXY_ADDRESS_BASE  the first Proxy's address when DEMO_PROXIES > 1 (default 127.0.1.1)
 *   DEMO_STAT_PORT        HTTP port of each Server's /stat page (default 8080)
 *   DEMO_EMULATOR_PORT    port of the ECS API emulator on 127.0.0.1 (default 4566; 0: any free port)
 * The demo sets DISCOVERY, ECS_CLUSTER, ECS_SERVICE, SERVER_ADDRESS, every HAPROXY_* file path (all
 * in its temp dir), EVENTS_TOPIC_ARN, PROXY_TASK_ARN and the AWS settings (endpoints, region, dummy
 * credentials) itself.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync, rmSync, type WriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { ConfigErrors, loadConfig, type Config } from '../src/config.js';
import { DEFAULT_HAPROXY_BIN } from '../src/paths.js';
import { startEcsEmulator, type EcsEmulator } from './emulator/ecs-emulator.js';
import { HaproxyDriver } from '../src/haproxy/driver.js';
import { silentLogger } from '../src/log.js';
import { formatAddress as hostPort, type RuntimeServer } from '../src/model.js';
import { resolveExecutable, startRtmpServers, type RtmpServer } from './media/rtmp-server.js';

const CLUSTER = 'demo';
const SERVICE = 'rtmp-server';
const PROXY_SERVICE_NAME = 'rtmp-proxy';
/** The topic the emulator publishes ECS task state changes to (its account is 123456789012). */
const EVENTS_TOPIC_NAME = 'rtmp-server-events';
const EVENTS_TOPIC_ARN = `arn:aws:sns:us-east-1:123456789012:${EVENTS_TOPIC_NAME}`;
const CAPACITY_PERIOD_SECONDS = 10;
/** The single Proxy's stand-in task (several Proxies are tasks of PROXY_SERVICE_NAME). */
const SINGLE_PROXY_TASK_ARN = `arn:aws:ecs:us-east-1:123456789012:task/${CLUSTER}/demo-proxy`;
const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));
/** How long the Proxy may take to come up with every Server UP before the demo gives up. */
const READY_TIMEOUT_MS = 30_000;
const POLL_MS = 1000;

type Env = Record<string, string | undefined>;

export interface DemoSettings {
  servers: number;
  spares: number;
  /** Proxies (DEMO_PROXIES): more than one run as PROXY_SERVICE peers, each on its own address. */
  proxies: number;
  /** Their addresses when more than one (DEMO_PROXY_ADDRESS_BASE counting up); one Proxy binds BIND_ADDRESS. */
  proxyAddresses: string[];
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
  const proxies = int('DEMO_PROXIES', 1, 1, 5);
  let proxyAddresses: string[] = [];
  if (proxies > 1) {
    const proxyBase = env.DEMO_PROXY_ADDRESS_BASE?.trim() || '127.0.1.1';
    const p = net.isIPv4(proxyBase) ? proxyBase.split('.').map(Number) : [];
    if (p[0] !== 127 || p[3]! + proxies - 1 > 254) {
      errors.push(`DEMO_PROXY_ADDRESS_BASE=${JSON.stringify(proxyBase)} is not valid: an IPv4 loopback address (127.x.y.z) with room for ${proxies} Proxies counting up`);
    } else {
      proxyAddresses = Array.from({ length: proxies }, (_, i) => `${p.slice(0, 3).join('.')}.${p[3]! + i}`);
      const clash = proxyAddresses.find((a) => addresses.includes(a));
      if (clash) errors.push(`DEMO_PROXY_ADDRESS_BASE=${JSON.stringify(proxyBase)} is not valid: ${clash} is a Server's address (DEMO_ADDRESS_BASE)`);
    }
  }
  if (errors.length > 0) throw new DemoSettingError(errors.join('\n'));
  return { servers, spares, proxies, proxyAddresses, addresses, statPort, emulatorPort };
}

/** The environment `rtmp-proxy run` gets: the user's own, demo defaults where unset, discovery and paths forced. */
export function daemonEnv(env: Env, o: { dir: string; emulatorUrl: string; haproxyBin?: string; peer?: { address: string; taskArn: string } }): Env {
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
    AWS_ENDPOINT_URL_SQS: o.emulatorUrl,
    AWS_ENDPOINT_URL_SNS: o.emulatorUrl,
    AWS_ENDPOINT_URL_CLOUDWATCH: o.emulatorUrl,
    // Capacity metrics every 10 s (the service stack: every minute), recorded by the emulator's CloudWatch.
    CAPACITY_METRICS: 'on',
    CAPACITY_METRICS_PERIOD: String(CAPACITY_PERIOD_SECONDS),
    // ECS task events as the service stack wires them: the emulator publishes each task change to
    // this topic, and each Proxy subscribes a queue of its own (named after its task).
    EVENTS_TOPIC_ARN: EVENTS_TOPIC_ARN,
    PROXY_TASK_ARN: SINGLE_PROXY_TASK_ARN,
    // Several Proxies: each its own address and ECS task, peers of one service.
    ...(o.peer && { BIND_ADDRESS: o.peer.address, PROXY_SERVICE: PROXY_SERVICE_NAME, PROXY_CLUSTER: CLUSTER, PROXY_TASK_ARN: o.peer.taskArn }),
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
export function formatTable(rows: readonly ServerRow[], proxyHeader = 'PROXY'): string {
  const header: ServerRow = { server: 'SERVER', ecs: 'ECS TASK', proxy: proxyHeader, streams: ['STREAMS'] };
  const all = [header, ...rows];
  const width = (pick: (r: ServerRow) => string) => Math.max(...all.map((r) => pick(r).length));
  const w = [width((r) => r.server), width((r) => r.ecs), width((r) => r.proxy)];
  return all
    .map((r) => `  ${r.server.padEnd(w[0]!)}  ${r.ecs.padEnd(w[1]!)}  ${r.proxy.padEnd(w[2]!)}  ${r.streams.length > 0 ? r.streams.join(',') : '-'}`)
    .join('\n');
}

/**
 * The capacity figures CloudWatch holds for the latest period, summed over the Proxies (each publishes
 * its share), as one line; undefined before the first publication.
 */
export function formatCapacity(datapoints: ReadonlyArray<{ metricName: string; timestamp: number; value?: number }>): string | undefined {
  const latest = Math.max(...datapoints.map((d) => d.timestamp));
  if (!Number.isFinite(latest)) return undefined;
  const sums = new Map<string, number>();
  for (const d of datapoints) if (d.timestamp === latest) sums.set(d.metricName, (sums.get(d.metricName) ?? 0) + (d.value ?? 0));
  const order = ['ServersFree', 'ServersBusy', 'ServersHeld', 'ServersTotal', 'StreamersQueued', 'StreamersRefused'];
  return order.filter((m) => sums.has(m)).map((m) => `${m} ${sums.get(m)}`).join(' · ');
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

/** One `rtmp-proxy run` the demo started: its address, files, process and output. */
interface ProxyRun {
  address: string;
  dir: string;
  config: Config;
  taskArn?: string;
  child?: ChildProcess;
  exited: Promise<void>;
  log?: WriteStream;
  stderr: string;
}

class Demo {
  private dir: string | undefined;
  private emulator: EcsEmulator | undefined;
  private servers: RtmpServer[] = [];
  private proxies: ProxyRun[] = [];
  private poller: NodeJS.Timeout | undefined;
  private lastTable = '';
  private lastCapacity: string | undefined;
  private stopping: Promise<void> | undefined;
  private forced = false;
  private aborted = false;
  private ready = false;

  constructor(private readonly settings: DemoSettings) {}

  private get several(): boolean {
    return this.settings.proxies > 1;
  }

  async start(): Promise<void> {
    const s = this.settings;
    this.dir = await mkdtemp(path.join(tmpdir(), 'rtmp-proxy-demo-'));
    // Safety net: whatever way this process ends, leave no HAProxy, daemon or temp dir behind.
    process.once('exit', () => this.killEverythingNow());

    const haproxyBin = process.env.HAPROXY_BIN?.trim() ? undefined : await resolveExecutable(DEFAULT_HAPROXY_BIN);
    const envFor = (p: Pick<ProxyRun, 'dir' | 'address' | 'taskArn'>, emulatorUrl: string) =>
      daemonEnv(process.env, {
        dir: p.dir,
        emulatorUrl,
        ...(haproxyBin !== undefined && { haproxyBin }),
        ...(this.several && { peer: { address: p.address, taskArn: p.taskArn ?? 'arn:aws:ecs:us-east-1:000000000000:task/demo/pending' } }),
      });
    // Validate with the daemon's own rules before starting anything (the emulator URL is a placeholder here).
    const addresses = this.several ? s.proxyAddresses : [undefined];
    this.proxies = addresses.map((address, i) => {
      const dir = this.several ? path.join(this.dir!, `proxy-${i + 1}`) : this.dir!;
      const config = loadConfig(envFor({ dir, address: address ?? '' }, 'http://127.0.0.1:1'));
      return { address: config.bindAddress, dir, config, exited: Promise.resolve(), stderr: '' };
    });

    for (const { config } of this.proxies) {
      const ports: Array<[string, number]> = [
        ['RTMP_PORT', config.rtmpPort],
        ['HEALTH_PORT', config.healthPort],
        ...(config.peering ? ([['PEER_PORT', config.peering.peerPort], ['PEER_API_PORT', config.peering.peerApiPort]] as Array<[string, number]>) : []),
      ];
      for (const [name, port] of ports) {
        const why = await portTaken(config.bindAddress, port);
        if (why !== undefined) {
          throw new DemoSettingError(
            `${hostPort(config.bindAddress, port)} is not free for the Proxy (${why}): something else listens there. ` +
              `Set ${name} to another port (or ${this.several ? 'DEMO_PROXY_ADDRESS_BASE' : 'BIND_ADDRESS'} to another address), e.g. ${name}=${port + 10000} npm run demo`,
          );
        }
      }
    }

    const what = this.several ? `${s.proxies} Proxies (rtmp-proxy run each)` : 'rtmp-proxy';
    say(`Starting the ECS API emulator, ${s.servers} nginx-rtmp Servers${s.spares > 0 ? ` (+${s.spares} spare)` : ''} and ${what}, everything in ${this.dir}`);
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
    this.emulator.setEventTargets([this.emulator.createTopic(EVENTS_TOPIC_NAME)]);
    this.checkAborted();

    const serverPort = this.proxies[0]!.config.serverPort;
    try {
      this.servers = await startRtmpServers(s.addresses, { port: serverPort, statPort: s.statPort, workDir: this.dir });
    } catch (e) {
      const message = (e as Error).message;
      if (/already in use/.test(message)) {
        throw new DemoSettingError(
          `${message}.\nThe demo's Servers use ${s.addresses[0]}..${s.addresses.at(-1)} on ports ${serverPort} (SERVER_PORT) and ${s.statPort} (DEMO_STAT_PORT): ` +
            'choose other addresses with DEMO_ADDRESS_BASE (e.g. DEMO_ADDRESS_BASE=127.0.9.2) or other ports with those variables',
        );
      }
      throw e;
    }
    this.checkAborted();
    for (const address of s.addresses.slice(0, s.servers)) this.emulator.addTask({ cluster: CLUSTER, service: SERVICE, address });
    // Several Proxies: each is a task of the Proxies' own service, as on ECS.
    if (this.several) for (const p of this.proxies) p.taskArn = this.emulator.addTask({ cluster: CLUSTER, service: PROXY_SERVICE_NAME, address: p.address });

    for (const p of this.proxies) this.startDaemon(p, envFor(p, this.emulator.url));
    await this.waitUntilReady();
  }

  private startDaemon(p: ProxyRun, env: Env): void {
    mkdirSync(p.dir, { recursive: true });
    p.log = createWriteStream(path.join(p.dir, 'daemon.log'));
    // Its own session: a Ctrl-C in the terminal reaches only the demo, which stops the daemon once, in order.
    const child = spawn(process.execPath, [CLI, 'run'], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    p.child = child;
    p.exited = new Promise((resolve) => {
      child.once('exit', () => resolve());
      child.once('error', () => resolve());
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      p.stderr = (p.stderr + chunk).slice(-4000);
      p.log?.write(chunk);
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      p.log?.write(`${line}\n`);
      this.echoDaemonLine(p, line);
    });
    child.once('exit', (code, signal) => {
      if (this.ready && !this.aborted && this.stopping === undefined) {
        this.aborted = true;
        say(`\n${this.nameOf(p)} exited unexpectedly (code ${code}, signal ${signal}):\n${p.stderr.trim()}`);
        void this.stop().then(() => process.exit(1));
      }
    });
  }

  private nameOf(p: ProxyRun): string {
    return this.several ? `rtmp-proxy ${p.address}` : 'rtmp-proxy';
  }

  /** The daemon's JSON log, condensed: membership changes, starts, reloads, Proxies seen, warnings and errors. */
  private echoDaemonLine(p: ProxyRun, line: string): void {
    let entry: { level?: number; msg?: string; server?: string; reason?: string; err?: string; code?: string };
    try {
      entry = JSON.parse(line) as typeof entry;
    } catch {
      say(`[${clock()}] ${this.nameOf(p)}: ${line}`);
      return;
    }
    const msg = entry.msg ?? '';
    const interesting = (entry.level ?? 0) >= 40 || /^server /.test(msg) || /^sync: (started|reloaded)/.test(msg) || /^Proxies seen/.test(msg) || /^ECS task event: Server/.test(msg);
    if (!interesting) return;
    const server = entry.server === undefined ? '' : ` ${this.describeServerName(entry.server)}`;
    // A start's or reload's reason is in msg already.
    const extra = [entry.reason, entry.code, entry.err].filter((x) => x !== undefined && !msg.includes(x)).join('; ');
    say(`[${clock()}] ${this.nameOf(p)}: ${msg}${server}${extra ? ` (${extra})` : ''}`);
  }

  /** task-<id> → "task-<id> (127.0.0.3)". */
  private describeServerName(name: string): string {
    const task = this.emulator?.tasks().find((t) => `task-${t.taskId}` === name);
    return task?.address ? `${name} (${task.address})` : name;
  }

  /** Every Proxy's health page says 200, and every registered Server is UP in some Proxy's HAProxy. */
  private async waitUntilReady(): Promise<void> {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    let last = 'nothing checked yet';
    while (Date.now() < deadline) {
      this.checkAborted();
      for (const p of this.proxies) {
        const child = p.child!;
        if (child.exitCode !== null || child.signalCode !== null) {
          throw new DemoStartError(`${this.nameOf(p)} run exited while starting (code ${child.exitCode}, signal ${child.signalCode}):\n${p.stderr.trim()}`);
        }
      }
      try {
        const up = new Set<string>();
        last = '';
        for (const p of this.proxies) {
          const healthUrl = `http://${hostPort(p.config.bindAddress, p.config.healthPort)}/`;
          const status = await httpStatus(healthUrl, 1000);
          if (status !== 200) last = `health page ${healthUrl} answered ${status}`;
          const { servers } = await HaproxyDriver.fromConfig(p.config, silentLogger(), { timeoutMs: 2000 }).backend();
          for (const srv of servers) if (!srv.maintenance && srv.status.startsWith('UP')) up.add(srv.address);
        }
        if (last === '' && up.size >= this.settings.servers) {
          this.ready = true;
          return;
        }
        last ||= `${up.size} of ${this.settings.servers} Servers UP in HAProxy`;
      } catch (e) {
        last = (e as Error).message;
      }
      await delay(100);
    }
    throw new DemoStartError(
      `the Proxy was not ready within ${READY_TIMEOUT_MS / 1000} s (${last}); daemon log: ${path.join(this.proxies[0]!.dir, 'daemon.log')}\n` +
        this.proxies.map((p) => p.stderr.trim()).filter((x) => x !== '').join('\n'),
    );
  }

  printBanner(readySeconds: number): void {
    const s = this.settings;
    const config = this.proxies[0]!.config;
    const local = (c: Config) => (c.bindAddress === '0.0.0.0' ? '127.0.0.1' : c.bindAddress === '::' ? '::1' : c.bindAddress);
    const pushUrls = this.proxies.map((p, i) => `rtmp://${hostPort(local(p.config), p.config.rtmpPort)}/stream/demo${i + 1}`);
    const registered = this.servers.slice(0, s.servers);
    const spares = this.servers.slice(s.servers);
    const emulatorUrl = this.emulator!.url;
    const tasks = this.emulator!.tasks();
    const rule = '='.repeat(78);
    const lines = [
      '',
      rule,
      this.several
        ? `rtmp-proxy demo ready in ${readySeconds.toFixed(1)} s: ${s.proxies} Proxies (HAProxy + rtmp-proxy run each), ${s.servers} Servers as ECS tasks`
        : `rtmp-proxy demo ready in ${readySeconds.toFixed(1)} s: HAProxy + rtmp-proxy run, ${s.servers} Servers as ECS tasks`,
      rule,
      '',
      ...(this.several
        ? [
            'Push a stream to any Proxy (any stream key); each Server is owned by one Proxy, and a Proxy',
            'whose own Servers are all busy forwards the streamer to a peer that has a free one:',
            ...pushUrls.map((u) => `  URL:    ${u}`),
            `  ffmpeg: ${ffmpegCommand(pushUrls[0]!)}`,
          ]
        : [
            'Push a stream to the Proxy (any stream key in place of demo1):',
            `  URL:    ${pushUrls[0]}`,
            `  ffmpeg: ${ffmpegCommand(pushUrls[0]!)}`,
            '  Each Server takes one stream; push a second key to see it land on another Server.',
          ]),
      '',
      'Servers (nginx-rtmp; each /stat page shows what it carries):',
      ...this.servers.map((srv, i) => {
        const task = tasks.find((t) => t.address === srv.address);
        const what = i < s.servers ? `ECS task ${task?.taskId ?? '?'}` : 'spare: running, not registered in ECS';
        return `  ${hostPort(srv.address, srv.port)}  ${srv.statUrl}  ${what}`;
      }),
      '',
      ...this.proxies.map((p) => `Proxy health page: http://${hostPort(local(p.config), p.config.healthPort)}/`),
      `ECS API emulator:  ${emulatorUrl} (tasks: curl -s ${emulatorUrl}/_emulator/tasks)`,
      `Sync schedule:     ${config.syncSchedule} (SYNC_SCHEDULE)`,
      `Work dir:          ${this.dir} (daemon.log, haproxy.cfg${this.several ? ' per Proxy' : ''}; removed at exit)`,
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
      const capacity = formatCapacity(this.emulator?.metricData() ?? []);
      if (!this.aborted && capacity !== undefined && capacity !== this.lastCapacity) {
        this.lastCapacity = capacity;
        say(`[${clock()}] CloudWatch, the Proxies' capacity figures (summed, ${CAPACITY_PERIOD_SECONDS} s period): ${capacity}`);
      }
      if (!this.aborted) this.poller = setTimeout(() => void tick(), POLL_MS);
    };
    void tick();
  }

  private async table(): Promise<string> {
    const tasks = this.emulator!.tasks();
    const views = await Promise.all(
      this.proxies.map(async (p) => {
        try {
          return { p, ...(await HaproxyDriver.fromConfig(p.config, silentLogger(), { timeoutMs: 2000 }).backend()) };
        } catch {
          return { p, servers: undefined, peers: undefined };
        }
      }),
    );
    const rows = await Promise.all(
      this.servers.map(async (srv): Promise<ServerRow> => {
        const task = [...tasks].reverse().find((t) => t.address === srv.address);
        const ecs = task === undefined ? 'none (spare)' : `${task.taskId.slice(0, 8)} ${task.lastStatus}`;
        const streams = await srv.stats().then(
          (st) => st.publishing,
          () => ['(stat page not answering)'],
        );
        return { server: hostPort(srv.address, srv.port), ecs, proxy: this.proxyCell(srv, views), streams };
      }),
    );
    const table = formatTable(rows, this.several ? 'OWNER: STATE (STREAM THROUGH)' : 'PROXY');
    if (!this.several) return table;
    // A stream forwarded to a peer shows as a connection on the sending Proxy's bk_peers.
    const forwarded = views.flatMap((v) => (v.peers ?? []).filter((x) => x.sessions > 0).map((x) => `${v.p.address} → ${x.address}: ${x.sessions}`));
    return `${table}\n  forwarded to a peer (its own Servers were busy): ${forwarded.length > 0 ? forwarded.join(', ') : 'none now'}`;
  }

  /** One Proxy: HAProxy's state of the Server. Several: which Proxy owns it (routes new streams to it) and which one carries its stream. */
  private proxyCell(srv: RtmpServer, views: ReadonlyArray<{ p: ProxyRun; servers?: RuntimeServer[] }>): string {
    const rows = views.map((v) => ({ p: v.p, row: v.servers?.find((r) => r.address === srv.address && r.port === srv.port), answered: v.servers !== undefined }));
    if (!this.several) {
      const { row, answered } = rows[0]!;
      return !answered ? '(HAProxy not answering)' : row === undefined ? 'not in HAProxy' : `${proxyStatus(row.status)}, ${row.sessions} conn`;
    }
    if (rows.every((r) => !r.answered)) return '(HAProxy not answering)';
    if (rows.every((r) => r.row === undefined)) return 'not in HAProxy';
    const owner = rows.find((r) => r.row && !r.row.maintenance);
    const carriers = rows.filter((r) => (r.row?.sessions ?? 0) > 0).map((r) => r.p.address);
    const state = owner ? `${owner.p.address}: ${proxyStatus(owner.row!.status)}` : 'no owner now (handoff)';
    return `${state}${carriers.length > 0 ? ` (through ${carriers.join(', ')})` : ''}`;
  }

  /** Stops everything this process started, in order: daemons (and HAProxys), Servers, emulator, temp dir. */
  stop(): Promise<void> {
    return (this.stopping ??= (async () => {
      if (this.poller) clearTimeout(this.poller);
      await Promise.all(this.proxies.map((p) => this.stopDaemon(p)));
      await Promise.all(this.servers.map((srv) => srv.stop().catch(() => undefined)));
      await this.emulator?.close().catch(() => undefined);
      await Promise.all(this.proxies.map((p) => new Promise<void>((resolve) => (p.log ? p.log.end(() => resolve()) : resolve()))));
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
    for (const p of this.proxies) {
      p.child?.kill('SIGKILL');
      killHaproxy(p, 'SIGTERM');
    }
  }

  private async stopDaemon(p: ProxyRun): Promise<void> {
    const child = p.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      // `rtmp-proxy run` on SIGTERM: stops syncing, closes HAProxy's listeners, gives live streams
      // SHUTDOWN_GRACE_SECONDS, then stops HAProxy.
      child.kill('SIGTERM');
      const boundMs = (p.config.shutdownGraceSeconds + 20) * 1000;
      const exited = await Promise.race([p.exited.then(() => true), delay(boundMs).then(() => false)]);
      if (!exited) {
        say(`${this.nameOf(p)} run did not stop in time; killing it`);
        child.kill('SIGKILL');
        await Promise.race([p.exited, delay(2000)]);
      }
    }
    // Whatever the daemon did, HAProxy must be gone before we remove its directory: SIGTERM, then SIGKILL.
    await HaproxyDriver.fromConfig(p.config, silentLogger(), { timeoutMs: this.forced ? 2000 : 5000 }).process.stop();
  }

  /** The 'exit' safety net: synchronous only. */
  private killEverythingNow(): void {
    for (const p of this.proxies) {
      if (p.child && p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
      killHaproxy(p, 'SIGKILL');
    }
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }
}

function killHaproxy(p: ProxyRun, signal: NodeJS.Signals): void {
  const pid = readPid(p.config.haproxyPidfile);
  if (pid === undefined) return;
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
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
