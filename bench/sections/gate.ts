// Section 10: the RTMP handshake gate, per-source limits and RTMPS (issue 18), in one run.
// 10a: K idle sockets (connect, send nothing) from the attacker's own loopback source addresses against
//      20 stand-in Servers, without the gate (RTMP_HANDSHAKE_TIMEOUT=off, per-source limits off: the old
//      behaviour) and with the shipped defaults (gate 5 s, SOURCE_MAX_STREAMS 10, SOURCE_MAX_CONNECT_RATE
//      30 per 10 s), one source and spread over several; Servers taken (HAProxy's `show stat` and the
//      stand-ins' own open connections) 3 s into the attack, and whether a real streamer (C0 + C1 from
//      another source) is placed then, and how fast.
// 10b: ffmpeg's time to publish through a Proxy with and without the gate, and over RTMPS, timed from
//      ffmpeg's own log lines and checked on the nginx-rtmp Servers' stat pages.
// 10c: the pure TCP view: C0 + C1 sent at once, time to the Server's first byte, with and without the gate.
// 10d: RTMPS: the TLS handshake (node:tls, time to secureConnect) against a plain TCP connect, and the
//      HAProxy worker's CPU per connection (/proc/<pid>/stat utime + stime).
// Loopback 127.0.61.x (one-source attackers), 127.0.62.x (spread attackers), 127.0.63.x (Proxies,
// Servers, streamers and probes); ports 19800–19899. Everything started is stopped, pass or fail.
import { spawn, execFile } from 'node:child_process';
import { writeFile, readFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';
import { loadConfig } from '../../src/config.js';
import { HaproxyDriver } from '../../src/haproxy/driver.js';
import { limitsFor } from '../../src/render/render.js';
import { startRtmpServers, type RtmpServer } from '../../dev/media/rtmp-server.js';
import { selfSignedCertificate } from '../../test/helpers/certificates.js';
import { tempDir } from '../../test/helpers/fixtures.js';
import { Cleanup, stopChild } from '../../test/helpers/processes.js';
import { ffmpegPublishArgs } from '../../test/helpers/publisher.js';
import { RTMP_C0_C1 } from '../../test/helpers/tcp-backends.js';
import {
  bounded,
  createProxy,
  logger,
  MemoryFleet,
  mustOk,
  percentile,
  round,
  staticServer,
  startCountingBackend,
  syncerFor,
  type BenchContext,
  type CountingBackend,
  type Proxy,
} from '../lib.js';

// ---- addresses and ports (127.0.61.x–127.0.63.x, 19800–19899) ----
const ATTACK_PROXY = { address: '127.0.63.1', rtmp: 19800, health: 19801 };
const NO_GATE_PROXY = { address: '127.0.63.2', rtmp: 19802, health: 19803 };
const GATE_PROXY = { address: '127.0.63.3', rtmp: 19804, health: 19805, rtmps: 19806 };
const STAND_IN_PORT = 19810;
const STAND_INS = 20;
const standInAddress = (i: number) => `127.0.63.${11 + i}`; // .11–.30
const NGINX_PORTS = { rtmp: 19811, stat: 19812 };
const NO_GATE_NGINX = ['127.0.63.41', '127.0.63.42', '127.0.63.43'];
const GATE_NGINX = ['127.0.63.44', '127.0.63.45', '127.0.63.46'];
/** The real streamer of attack row r. */
const streamerSource = (row: number) => `127.0.63.${100 + row}`;
/** Probe sources for 10c/10d, rotated so the per-source limits never decide a probe (.150–.249). */
const probeSource = (i: number) => `127.0.63.${150 + (i % 100)}`;
/** The single attacker address of row r, and the spread attackers' addresses from an offset. */
const oneSource = (row: number) => `127.0.61.${row + 1}`;
const spreadSource = (i: number) => `127.0.62.${i + 1}`;

/** The shipped defaults of the gate and the per-source limits, read from the config loader itself. */
function shippedDefaults(): { gateSeconds: number; maxStreams: number; maxConnectRate: number } {
  const c = loadConfig({ DISCOVERY: 'static', STATIC_SERVERS: '127.0.0.1:1', LOG_LEVEL: 'silent' });
  if (c.handshakeTimeoutSeconds === undefined || c.sourceMaxStreams === undefined || c.sourceMaxConnectRate === undefined) {
    throw new Error('the shipped defaults have the gate or a per-source limit off: nothing to measure against');
  }
  return { gateSeconds: c.handshakeTimeoutSeconds, maxStreams: c.sourceMaxStreams, maxConnectRate: c.sourceMaxConnectRate };
}

const OFF_ENV = { RTMP_HANDSHAKE_TIMEOUT: 'off', SOURCE_MAX_STREAMS: 'off', SOURCE_MAX_CONNECT_RATE: 'off' };
function onEnv(d: ReturnType<typeof shippedDefaults>): Record<string, string> {
  return { RTMP_HANDSHAKE_TIMEOUT: String(d.gateSeconds), SOURCE_MAX_STREAMS: String(d.maxStreams), SOURCE_MAX_CONNECT_RATE: String(d.maxConnectRate) };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function untilTrue(what: string, timeoutMs: number, probe: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < 10_000; i++) {
    if (await probe().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
  throw new Error(`gave up waiting for ${what}`);
}

/** A Proxy (lib's createProxy: HAProxy alone, fleet from memory) in front of `servers`, started and every Server UP. */
async function proxyBefore(
  cleanup: Cleanup,
  at: { address: string; rtmp: number; health: number },
  servers: Array<{ address: string; port: number }>,
  env: Record<string, string>,
): Promise<{ proxy: Proxy; driver: HaproxyDriver }> {
  const proxy = await createProxy({ applyMode: 'runtime', bind: at.address, rtmpPort: at.rtmp, healthPort: at.health, env, servers: servers.length });
  cleanup.defer(`proxy ${at.address}`, () => proxy.close());
  const fleet = new MemoryFleet();
  fleet.servers = servers.map((s) => staticServer(s.address, s.port));
  mustOk(await bounded(syncerFor(proxy, fleet).sync(), 30_000, `first sync of ${at.address}`), `first sync of ${at.address}`);
  const driver = HaproxyDriver.fromConfig(proxy.config, logger);
  await untilTrue(`every Server UP behind ${at.address}`, 15_000, async () => (await driver.backend()).servers.filter((s) => s.status.startsWith('UP')).length === servers.length);
  return { proxy, driver };
}

// ---------------------------------------------------------------------------------------------
// 10a: idle sockets against the fleet
// ---------------------------------------------------------------------------------------------

interface AttackRow {
  gate: boolean;
  k: number;
  /** Source addresses the K sockets come from. */
  sources: number;
}

export interface AttackResult extends AttackRow {
  /** When the snapshot was taken, ms after the first attacker connect. */
  snapshotAtMs: number;
  takenHaproxy: number;
  takenStandIns: number;
  standInConnections: number;
  attackerConnected: number;
  attackerOpen: number;
  healthStatus: number | string;
  /** Most Servers HAProxy showed taken at once, polled every 250 ms over the row. */
  peakTaken: number;
  streamer: { placed: boolean; ms: number; connectMs?: number; error?: string };
  /** The end of the row (ms after the first connect) and what was still open then. */
  endAtMs: number;
  takenAtEnd: number;
  attackerOpenAtEnd: number;
  attackerClosedByProxy: number;
  refused: { perSource: number; handshake: number };
}

/** A C0 + C1 client from `source`: placed when a stand-in greets it (its address and a newline). */
function realStreamer(host: string, port: number, source: string, timeoutMs: number): Promise<{ placed: boolean; ms: number; connectMs?: number; error?: string }> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const socket = net.connect({ host, port, localAddress: source });
    let data = '';
    let done = false;
    let connectMs: number | undefined;
    const finish = (placed: boolean, error?: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ placed, ms: performance.now() - t0, ...(connectMs !== undefined && { connectMs: round(connectMs, 1) }), ...(error !== undefined && { error }) });
    };
    const timer = setTimeout(() => finish(false, `not placed within ${timeoutMs / 1000} s`), timeoutMs);
    socket.on('connect', () => {
      connectMs = performance.now() - t0;
      socket.write(RTMP_C0_C1);
    });
    socket.on('data', (d) => {
      data += d;
      if (data.includes('\n')) finish(true);
    });
    socket.on('error', (e) => finish(false, e.message));
    socket.on('close', () => finish(false, 'closed by the Proxy before a Server greeted it'));
  });
}

async function attackRow(ctx: BenchContext, row: AttackRow, index: number, backends: CountingBackend[], defaults: ReturnType<typeof shippedDefaults>, streamerWaitMs: number): Promise<AttackResult> {
  const cleanup = new Cleanup();
  const sockets: net.Socket[] = [];
  let polling = true;
  let poller: Promise<void> | undefined;
  try {
    const { driver } = await proxyBefore(cleanup, ATTACK_PROXY, backends, row.gate ? onEnv(defaults) : OFF_ENV);
    const counts = { connected: 0, closed: 0 };
    let tearingDown = false;
    let closedByProxy = 0;
    cleanup.defer('attacker sockets', () => {
      tearingDown = true;
      for (const s of sockets) s.destroy();
    });
    const sourceOf = (i: number) => (row.sources === 1 ? oneSource(index) : spreadSource(index * 10 + (i % row.sources)));
    let peakTaken = 0;
    poller = (async () => {
      for (let i = 0; polling && i < 200; i++) {
        const taken = await driver.backend().then((b) => b.servers.filter((s) => s.sessions > 0).length, () => 0);
        peakTaken = Math.max(peakTaken, taken);
        await sleep(250);
      }
    })();

    const t0 = performance.now();
    for (let i = 0; i < row.k; i++) {
      const s = net.connect({ host: ATTACK_PROXY.address, port: ATTACK_PROXY.rtmp, localAddress: sourceOf(i) });
      s.on('error', () => undefined);
      s.on('connect', () => counts.connected++);
      s.on('close', () => {
        counts.closed++;
        if (!tearingDown) closedByProxy++;
      });
      sockets.push(s);
    }
    const openNow = () => sockets.filter((s) => !s.destroyed && s.readyState === 'open').length;

    await sleep(Math.max(0, 3000 - (performance.now() - t0)));
    const snapshotAtMs = performance.now() - t0;
    const servers = (await driver.backend()).servers;
    const takenHaproxy = servers.filter((s) => s.sessions > 0).length;
    const takenStandIns = backends.filter((b) => b.open > 0).length;
    const standInConnections = backends.reduce((n, b) => n + b.open, 0);
    const attackerConnected = counts.connected;
    const attackerOpen = openNow();
    const healthStatus = await fetch(`http://${ATTACK_PROXY.address}:${ATTACK_PROXY.health}/`, { signal: AbortSignal.timeout(3000) }).then(
      (r) => r.status,
      (e: Error) => e.message,
    );
    const streamer = await realStreamer(ATTACK_PROXY.address, ATTACK_PROXY.rtmp, streamerSource(index), streamerWaitMs);
    // Look again once the gate's delay has passed for the first sockets (the same moment without it).
    await sleep(Math.max(0, defaults.gateSeconds * 1000 + 1500 - (performance.now() - t0)));
    const endAtMs = performance.now() - t0;
    const takenAtEnd = (await driver.backend()).servers.filter((s) => s.sessions > 0).length;
    const attackerOpenAtEnd = openNow();
    const refused = await driver.frontendRefusals().catch(() => ({ perSource: NaN, handshake: NaN }));
    polling = false;
    await poller;
    const result: AttackResult = {
      ...row,
      snapshotAtMs: Math.round(snapshotAtMs),
      takenHaproxy,
      takenStandIns,
      standInConnections,
      attackerConnected,
      attackerOpen,
      healthStatus,
      peakTaken,
      streamer: { ...streamer, ms: round(streamer.ms, 1) },
      endAtMs: Math.round(endAtMs),
      takenAtEnd,
      attackerOpenAtEnd,
      attackerClosedByProxy: closedByProxy,
      refused,
    };
    ctx.progress(
      `gate 10a: gate ${row.gate ? 'on' : 'off'} K=${row.k} from ${row.sources}: ${takenHaproxy}/${backends.length} taken at 3 s, streamer ${streamer.placed ? `placed in ${round(streamer.ms, 1)} ms` : `not placed (${streamer.error})`}`,
    );
    return result;
  } finally {
    polling = false;
    await poller;
    await cleanup.run();
    // The stand-ins drop what HAProxy left them before the next row.
    await untilTrue('the stand-ins to be idle', 10_000, async () => backends.every((b) => b.open === 0)).catch(() => undefined);
  }
}

// ---------------------------------------------------------------------------------------------
// 10b: ffmpeg's time to publish
// ---------------------------------------------------------------------------------------------

type PublishKind = 'rtmp, no gate' | 'rtmp, gate' | 'rtmps, gate';

export interface PublishSample {
  kind: PublishKind;
  ok: boolean;
  error?: string;
  /** ms from spawning ffmpeg. */
  connectStart?: number;
  rtmpHandshakeStart?: number;
  rtmpHandshakeDone?: number;
  published?: number;
  /** ms from `published` to the stream on a Server's stat page (polled every 25 ms). */
  statLag?: number;
}

/** One ffmpeg publish: spawn, timestamp its debug log lines, wait for the publish, confirm on a stat page, stop. */
async function publishOnce(cleanup: Cleanup, kind: PublishKind, url: string, key: string, servers: RtmpServer[], timeoutMs: number): Promise<PublishSample> {
  const t0 = performance.now();
  const child = spawn('ffmpeg', ffmpegPublishArgs(url, { logLevel: 'debug' }), { stdio: ['ignore', 'ignore', 'pipe'] });
  cleanup.defer(`ffmpeg ${key}`, () => stopChild(child));
  const sample: PublishSample = { kind, ok: false };
  let tail = '';
  let buffer = '';
  let outputOpening = false;
  let onPublished: (() => void) | undefined;
  const published = new Promise<void>((r) => (onPublished = r));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    const now = performance.now() - t0;
    tail = (tail + chunk).slice(-1500);
    buffer += chunk;
    for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      if (sample.published !== undefined) continue;
      if (line.startsWith('Opening an output file')) outputOpening = true;
      else if (outputOpening && sample.connectStart === undefined && line.includes('Starting connection attempt')) sample.connectStart = now;
      else if (line.includes('Handshaking...')) sample.rtmpHandshakeStart = now;
      else if (line.includes('] Proto = ')) sample.rtmpHandshakeDone = now;
      else if (outputOpening && sample.rtmpHandshakeDone !== undefined && line.startsWith('Successfully opened the file.')) {
        sample.published = now;
        onPublished?.();
      }
    }
    if (buffer.length > 10_000) buffer = buffer.slice(-2000);
  });
  try {
    const outcome = await Promise.race([published.then(() => 'published' as const), exited.then(() => 'exited' as const), sleep(timeoutMs).then(() => 'timeout' as const)]);
    if (outcome !== 'published') {
      sample.error = `${outcome}: ${tail.split('\n').filter((l) => !l.includes('[flv @')).slice(-3).join(' | ')}`;
      return sample;
    }
    const tStat = performance.now();
    const seen = await (async () => {
      for (let i = 0; i < 200 && performance.now() - tStat < 5000; i++) {
        const stats = await Promise.all(servers.map((s) => s.stats().catch(() => ({ publishing: [] as string[] }))));
        if (stats.some((s) => s.publishing.includes(key))) return true;
        await sleep(25);
      }
      return false;
    })();
    if (!seen) {
      sample.error = 'ffmpeg said published, but no Server stat page showed the stream within 5 s';
      return sample;
    }
    sample.statLag = performance.now() - tStat;
    sample.ok = true;
    return sample;
  } finally {
    await stopChild(child);
  }
}

// ---------------------------------------------------------------------------------------------
// 10c / 10d: TCP and TLS probes
// ---------------------------------------------------------------------------------------------

/** C0 + C1 at once from `source`; ms from connect() to the Server's first byte (S0). */
function firstByteAfterC0C1(host: string, port: number, source: string, timeoutMs = 5000): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const socket = net.connect({ host, port, localAddress: source });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no byte within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('connect', () => socket.write(RTMP_C0_C1));
    socket.once('data', () => {
      clearTimeout(timer);
      resolve(performance.now() - t0);
      socket.destroy();
    });
    socket.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      reject(new Error('closed before a byte'));
    });
  });
}

/** ms from connect() to the TCP connection (`connect`), or to the TLS session (`secureConnect`). */
function connectTime(kind: 'tcp' | 'tls', host: string, port: number, source: string, timeoutMs = 5000): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const socket =
      kind === 'tls'
        ? tls.connect({ socket: net.connect({ host, port, localAddress: source }), rejectUnauthorized: false, servername: 'rtmp.example.test' })
        : net.connect({ host, port, localAddress: source });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no ${kind} connection within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once(kind === 'tls' ? 'secureConnect' : 'connect', () => {
      clearTimeout(timer);
      resolve(performance.now() - t0);
      socket.destroy();
    });
    socket.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

/** utime + stime of a process in ms (all its threads), from /proc/<pid>/stat. */
async function cpuMs(pid: number, tickMs: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * tickMs;
}

// ---------------------------------------------------------------------------------------------

const ms = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? '—' : String(round(n, n < 10 ? 2 : 1)));
const p = (values: number[], q: number) => (values.length === 0 ? undefined : percentile(values, q));

export async function runGate(ctx: BenchContext) {
  const defaults = shippedDefaults();
  const quick = ctx.quick;
  const cleanup = new Cleanup();
  const result: Record<string, unknown> = { defaults };
  try {
    // ---- 10a ----
    const backends: CountingBackend[] = [];
    for (let i = 0; i < STAND_INS; i++) {
      const b = await startCountingBackend(standInAddress(i), STAND_IN_PORT, { hold: true });
      cleanup.defer(`stand-in ${b.address}`, () => b.close());
      backends.push(b);
    }
    const allRows: AttackRow[] = [
      { gate: false, k: 10, sources: 1 },
      { gate: false, k: 100, sources: 1 },
      { gate: false, k: 1000, sources: 1 },
      { gate: true, k: 10, sources: 1 },
      { gate: true, k: 100, sources: 1 },
      { gate: true, k: 1000, sources: 1 },
      { gate: true, k: 100, sources: 10 },
      { gate: true, k: 1000, sources: 100 },
    ];
    // --quick leaves out the K = 100 rows.
    const rows = quick ? allRows.filter((r) => r.k !== 100) : allRows;
    const streamerWaitMs = quick ? 8000 : 15_000;
    const attacks: AttackResult[] = [];
    for (const [i, row] of rows.entries()) attacks.push(await bounded(attackRow(ctx, row, i, backends, defaults, streamerWaitMs), 60_000, `attack row ${i + 1}`));
    result.attacks = attacks;
    const limitsText = `gate ${defaults.gateSeconds} s, ≤ ${defaults.maxStreams} conns and ≤ ${defaults.maxConnectRate} connects/10 s per source`;
    ctx.table({
      section: '10a',
      title: `Servers held by K idle sockets (connect, send nothing), of ${STAND_INS} stand-in Servers: without the gate, and with the shipped defaults`,
      headers: ['gate and limits', 'K idle', 'sources', 'Servers taken at 3 s (HAProxy / stand-ins)', 'peak taken', 'attacker sockets open at 3 s', 'health page at 3 s', 'real streamer placed?', 'time to placed; to TCP connect (ms)', 'at end: taken / attacker open', 'refused: per source / gate'],
      rows: attacks.map((a) => [
        a.gate ? 'on (defaults)' : 'off (as before)',
        String(a.k),
        a.sources === 1 ? '1' : `${a.sources} (×${a.k / a.sources})`,
        `${a.takenHaproxy} / ${a.takenStandIns} of ${STAND_INS}`,
        String(a.peakTaken),
        `${a.attackerOpen} of ${a.k}`,
        String(a.healthStatus),
        a.streamer.placed ? 'yes' : `**no** (${a.streamer.error})`,
        `${a.streamer.placed ? ms(a.streamer.ms) : `— (gave up at ${ms(a.streamer.ms)})`}; TCP ${a.streamer.connectMs === undefined ? 'not connected' : `${ms(a.streamer.connectMs)}`}`,
        `${round(a.endAtMs / 1000, 1)} s: ${a.takenAtEnd} / ${a.attackerOpenAtEnd}`,
        `${a.refused.perSource} / ${a.refused.handshake}`,
      ]),
      notes: [
        `"on (defaults)": ${limitsText} (the shipped defaults, read from the config loader); "off (as before)": RTMP_HANDSHAKE_TIMEOUT, SOURCE_MAX_STREAMS and SOURCE_MAX_CONNECT_RATE all off, as before issue 18.`,
        `A fresh HAProxy per row in front of ${STAND_INS} stand-in Servers (maxconn 1 each; HAProxy's frontend maxconn for this fleet is ${limitsFor(STAND_INS).rtmpMaxconn}, and its listen backlog the same). The K sockets are opened at once from 127.0.61.x (one source per row) or 127.0.62.x (spread evenly); they send nothing and stay open until the row ends.`,
        '"Servers taken": HAProxy\'s `show stat` (servers with a session) and the stand-ins\' own count (servers with a connection open), 3 s after the first connect; "peak taken": the most HAProxy showed, polled every 250 ms over the row.',
        `The real streamer: a client from its own address (127.0.63.x) that sends C0 + C1 at once, started right after the 3 s snapshot; placed when a stand-in greets it, given up after ${streamerWaitMs / 1000} s. "At end": the row's last look, once the gate's delay has passed for the first sockets (or the streamer gave up, if later). "refused": HAProxy's ft_rtmp counters (per-source limits / gate).`,
      ],
    });

    // ---- 10b, 10c, 10d: real nginx-rtmp Servers ----
    const dir = await tempDir(cleanup, 'bench-gate');
    const bundle = selfSignedCertificate(dir, 'proxy');
    const certFile = path.join(dir, 'proxy.pem');
    await writeFile(certFile, bundle.bundle, { mode: 0o600 });
    const noGateServers = await startRtmpServers(NO_GATE_NGINX, { port: NGINX_PORTS.rtmp, statPort: NGINX_PORTS.stat, workDir: path.join(dir, 'servers') });
    cleanup.defer('nginx (no gate)', () => Promise.all(noGateServers.map((s) => s.stop())));
    const gateServers = await startRtmpServers(GATE_NGINX, { port: NGINX_PORTS.rtmp, statPort: NGINX_PORTS.stat, workDir: path.join(dir, 'servers') });
    cleanup.defer('nginx (gate)', () => Promise.all(gateServers.map((s) => s.stop())));
    await proxyBefore(cleanup, NO_GATE_PROXY, noGateServers, OFF_ENV);
    const gate = await proxyBefore(cleanup, GATE_PROXY, gateServers, { ...onEnv(defaults), RTMPS_PORT: String(GATE_PROXY.rtmps), RTMPS_CERT_FILE: certFile });

    const rounds = quick ? 6 : 20;
    const kinds: PublishKind[] = ['rtmp, no gate', 'rtmp, gate', 'rtmps, gate'];
    const urls: Record<PublishKind, (key: string) => string> = {
      'rtmp, no gate': (k) => `rtmp://${NO_GATE_PROXY.address}:${NO_GATE_PROXY.rtmp}/stream/${k}`,
      'rtmp, gate': (k) => `rtmp://${GATE_PROXY.address}:${GATE_PROXY.rtmp}/stream/${k}`,
      'rtmps, gate': (k) => `rtmps://${GATE_PROXY.address}:${GATE_PROXY.rtmps}/stream/${k}`,
    };
    const samples: PublishSample[] = [];
    const t10b = performance.now();
    for (let r = 0; r < rounds && performance.now() - t10b < (quick ? 30_000 : 120_000); r++) {
      // Rotate the order each round, so drift on a shared machine falls on every kind alike.
      for (let j = 0; j < kinds.length; j++) {
        const kind = kinds[(r + j) % kinds.length]!;
        const key = `g${r}-${kind.replace(/\W+/g, '-')}`;
        const servers = kind === 'rtmp, no gate' ? noGateServers : gateServers;
        const stepCleanup = new Cleanup();
        try {
          samples.push(await publishOnce(stepCleanup, kind, urls[kind](key), key, servers, 15_000));
        } finally {
          await stepCleanup.run();
        }
      }
      if ((r + 1) % 5 === 0) ctx.progress(`gate 10b: ${r + 1}/${rounds} rounds of ffmpeg publishes`);
    }
    result.publishes = samples;
    const of = (kind: PublishKind, f: (s: PublishSample) => number | undefined) =>
      samples.filter((s) => s.kind === kind && s.ok).map(f).filter((v): v is number => v !== undefined);
    const publishRows = kinds.map((kind) => {
      const all = samples.filter((s) => s.kind === kind);
      const total = of(kind, (s) => s.published);
      const fromConnect = of(kind, (s) => (s.connectStart !== undefined ? s.published! - s.connectStart : undefined));
      const beforeRtmp = of(kind, (s) => (s.connectStart !== undefined && s.rtmpHandshakeStart !== undefined ? s.rtmpHandshakeStart - s.connectStart : undefined));
      const handshake = of(kind, (s) => (s.rtmpHandshakeStart !== undefined && s.rtmpHandshakeDone !== undefined ? s.rtmpHandshakeDone - s.rtmpHandshakeStart : undefined));
      return { kind, n: all.length, failed: all.filter((s) => !s.ok).length, total, fromConnect, beforeRtmp, handshake, errors: [...new Set(all.filter((s) => !s.ok).map((s) => s.error))].slice(0, 2) };
    });
    ctx.table({
      section: '10b',
      title: "ffmpeg's time to publish through the Proxy: without the gate, with it, and over RTMPS (ms)",
      headers: ['path', 'samples', 'failed', 'start → published p50', 'p99', 'connect → published p50', 'p99', 'TCP (+TLS) connect p50', 'p99', 'RTMP handshake p50', 'p99'],
      rows: publishRows.map((r) => [
        r.kind,
        String(r.n),
        `${r.failed}${r.failed > 0 ? ` (${r.errors.join('; ')})` : ''}`,
        ms(p(r.total, 0.5)),
        ms(p(r.total, 0.99)),
        ms(p(r.fromConnect, 0.5)),
        ms(p(r.fromConnect, 0.99)),
        ms(p(r.beforeRtmp, 0.5)),
        ms(p(r.beforeRtmp, 0.99)),
        ms(p(r.handshake, 0.5)),
        ms(p(r.handshake, 0.99)),
      ]),
      notes: [
        `Real ffmpeg (test/helpers/publisher.ts's arguments, -loglevel debug) publishing to real nginx-rtmp Servers through HAProxy, ${rounds} rounds, the three paths in rotating order each round; each sample stopped before the next. "gate": the shipped defaults (${limitsText}); "no gate": all three off.`,
        'Times from ffmpeg\'s own log lines, stamped as they arrive: "start" is the spawn; "connect" its "Starting connection attempt" for the output; "published" its "Successfully opened the file." for the output, which ffmpeg prints once nginx-rtmp answered the publish (NetStream.Publish.Start). Each sample is then checked on the Servers\' stat pages (<publishing/>).',
        '"TCP (+TLS) connect": "Starting connection attempt" → "Handshaking..." (for rtmps, the TLS handshake too); "RTMP handshake": "Handshaking..." → "Proto = …" (C0+C1 out, S0+S1+S2 back, C2 out). Nearest-rank percentiles: with 20 samples p99 is the slowest.',
      ],
    });

    // ---- 10c: C0 + C1 → the Server's first byte ----
    const tcpSamples = quick ? 40 : 100;
    const firstByte = { 'no gate': [] as number[], gate: [] as number[], errors: [] as string[] };
    const t10c = performance.now();
    for (let i = 0; i < tcpSamples && performance.now() - t10c < 60_000; i++) {
      for (const which of (i % 2 === 0 ? ['no gate', 'gate'] : ['gate', 'no gate']) as Array<'no gate' | 'gate'>) {
        const at = which === 'gate' ? GATE_PROXY : NO_GATE_PROXY;
        await firstByteAfterC0C1(at.address, at.rtmp, probeSource(i)).then(
          (t) => firstByte[which].push(t),
          (e: Error) => firstByte.errors.push(`${which}: ${e.message}`),
        );
        await sleep(5);
      }
    }
    result.firstByte = firstByte;
    const stats = (v: number[]) => [String(v.length), ms(p(v, 0.5)), ms(p(v, 0.99)), ms(v.length ? v.reduce((a, b) => a + b, 0) / v.length : undefined)];
    ctx.table({
      section: '10c',
      title: "A streamer's C0 + C1 sent at once: time to the Server's first byte back (S0), without and with the gate (ms)",
      headers: ['path', 'samples', 'p50', 'p99', 'mean'],
      rows: [
        ['no gate', ...stats(firstByte['no gate'])],
        ['gate', ...stats(firstByte.gate)],
        ['gate − no gate', '', ms((p(firstByte.gate, 0.5) ?? NaN) - (p(firstByte['no gate'], 0.5) ?? NaN)), ms((p(firstByte.gate, 0.99) ?? NaN) - (p(firstByte['no gate'], 0.99) ?? NaN)), ''],
      ],
      notes: [
        `From connect() to the first byte of nginx-rtmp's answer through HAProxy; the two Proxies alternate sample by sample, each probe from its own source address (127.0.63.150–249). Errors: ${firstByte.errors.length}${firstByte.errors.length ? ` (${[...new Set(firstByte.errors)].slice(0, 2).join('; ')})` : ''}.`,
      ],
    });

    // ---- 10d: the TLS handshake and HAProxy's CPU ----
    const tickMs = 1000 / Number((await promisify(execFile)('getconf', ['CLK_TCK'], { timeout: 5000 })).stdout.trim() || 100);
    const workerPids = (await gate.proxy.haproxy.masterStatus()).workerPids;
    const worker = workerPids[workerPids.length - 1];
    const perKind = quick ? 60 : 200;
    const batch = 50;
    const probe = { tcp: [] as number[], tls: [] as number[], cpu: { tcp: 0, tls: 0 }, counted: { tcp: 0, tls: 0 }, errors: [] as string[] };
    const t10d = performance.now();
    for (let b = 0; b * batch < perKind && performance.now() - t10d < 60_000; b++) {
      for (const kind of (b % 2 === 0 ? ['tcp', 'tls'] : ['tls', 'tcp']) as Array<'tcp' | 'tls'>) {
        const port = kind === 'tls' ? GATE_PROXY.rtmps : GATE_PROXY.rtmp;
        const n = Math.min(batch, perKind - b * batch);
        const before = worker !== undefined ? await cpuMs(worker, tickMs) : NaN;
        let ok = 0;
        for (let i = 0; i < n; i++) {
          await connectTime(kind, GATE_PROXY.address, port, probeSource(b * batch + i)).then(
            (t) => {
              probe[kind].push(t);
              ok++;
            },
            (e: Error) => probe.errors.push(`${kind}: ${e.message}`),
          );
        }
        // Let HAProxy finish the closes before reading its CPU.
        await sleep(50);
        const after = worker !== undefined ? await cpuMs(worker, tickMs) : NaN;
        probe.cpu[kind] += after - before;
        probe.counted[kind] += ok;
      }
    }
    result.tls = { ...probe, worker, tickMs };
    const cpuPer = (k: 'tcp' | 'tls') => (probe.counted[k] > 0 ? probe.cpu[k] / probe.counted[k] : NaN);
    ctx.table({
      section: '10d',
      title: 'RTMPS: the TLS handshake in HAProxy against a plain TCP connect (ms)',
      headers: ['connection', 'samples', 'p50', 'p99', 'mean', 'HAProxy CPU per connection'],
      rows: [
        ['plain TCP (RTMP_PORT, to `connect`)', ...stats(probe.tcp), `${ms(cpuPer('tcp'))} ms`],
        ['TLS (RTMPS_PORT, to `secureConnect`)', ...stats(probe.tls), `${ms(cpuPer('tls'))} ms`],
        ['TLS − TCP', '', ms((p(probe.tls, 0.5) ?? NaN) - (p(probe.tcp, 0.5) ?? NaN)), ms((p(probe.tls, 0.99) ?? NaN) - (p(probe.tcp, 0.99) ?? NaN)), '', `${ms(cpuPer('tls') - cpuPer('tcp'))} ms`],
      ],
      notes: [
        `node:tls, a full handshake each time (no session reuse), a self-signed RSA-2048 certificate (openssl CLI), TLS 1.3 as negotiated; each connection closed as soon as it is up. Batches of ${batch} alternate TCP and TLS, from rotating source addresses (the per-source limits stay on).`,
        `HAProxy CPU: the worker's (pid ${worker ?? '?'}) utime + stime from /proc, read before and after each batch (${round(tickMs, 1)} ms ticks), divided by the connections of that kind; the client's side of the handshake runs in the bench's own process. Errors: ${probe.errors.length}${probe.errors.length ? ` (${[...new Set(probe.errors)].slice(0, 2).join('; ')})` : ''}.`,
      ],
    });
    return result;
  } finally {
    await cleanup.run();
  }
}
