// Only real streamers take a Server (issue 18): real HAProxy, real nginx-rtmp Servers, real ffmpeg
// publishers, and attackers from their own loopback source addresses — idle sockets, a C0 alone,
// garbage, a slow sender, a flood of connects. The Servers' own stat pages say who got in.
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startRtmpServers, type RtmpServer } from '../dev/media/rtmp-server.js';
import { loadConfig } from '../src/config.js';
import { startDaemon, type Daemon } from '../src/daemon.js';
import { capturingLogger } from './helpers/logs.js';
import { tempDir } from './helpers/fixtures.js';
import { Cleanup } from './helpers/processes.js';
import { startPublisher, type Publisher } from './helpers/publisher.js';
import { RTMP_C0_C1 } from './helpers/tcp-backends.js';
import { waitFor } from './helpers/wait.js';

const SERVERS = ['127.0.54.11', '127.0.54.12', '127.0.54.13'];
const SERVER_PORT = 19460;
const STAT_PORT = 18460;
const PROXY = { address: '127.0.54.1', rtmp: 19461, health: 19462 };

/** A client from its own source address, doing `behave` once connected; resolves when HAProxy closes it. */
function attacker(source: string, behave: (socket: net.Socket) => void): { closed: Promise<number>; socket: net.Socket } {
  const started = Date.now();
  const socket = net.connect({ host: PROXY.address, port: PROXY.rtmp, localAddress: source });
  socket.on('error', () => undefined);
  socket.on('connect', () => behave(socket));
  const closed = new Promise<number>((resolve) => socket.on('close', () => resolve(Date.now() - started)));
  return { closed, socket };
}

describe('the RTMP handshake gate and per-source limits (real ffmpeg, real nginx-rtmp)', { timeout: 180_000 }, () => {
  const cleanup = new Cleanup();
  let servers: RtmpServer[];
  let daemon: Daemon;
  const { logger, lines } = capturingLogger();
  const publishers: Publisher[] = [];

  /** Streams publishing on each Server, by their own stat pages. */
  const publishing = async () => (await Promise.all(servers.map((s) => s.stats()))).flatMap((s) => s.publishing);
  /** Connections each Server has (publishers and anything else that reached it). */
  const clientsAtServers = async () => (await Promise.all(servers.map((s) => s.stats()))).reduce((n, s) => n + s.clients, 0);
  const publish = async (key: string) => {
    const p = startPublisher(`rtmp://${PROXY.address}:${PROXY.rtmp}/stream/${key}`);
    cleanup.defer(`publisher ${key}`, () => p.stop());
    publishers.push(p);
    return p;
  };

  before(async () => {
    const dir = await tempDir(cleanup, 'gate');
    servers = await startRtmpServers(SERVERS, { port: SERVER_PORT, statPort: STAT_PORT, workDir: path.join(dir, 'servers') });
    cleanup.defer('servers', () => Promise.all(servers.map((s) => s.stop())));
    const config = loadConfig({
      DISCOVERY: 'static',
      STATIC_SERVERS: SERVERS.map((a) => `${a}:${SERVER_PORT}`).join(','),
      BIND_ADDRESS: PROXY.address,
      RTMP_PORT: String(PROXY.rtmp),
      HEALTH_PORT: String(PROXY.health),
      HAPROXY_CONFIG: path.join(dir, 'haproxy.cfg'),
      HAPROXY_PIDFILE: path.join(dir, 'haproxy.pid'),
      HAPROXY_SOCKET: path.join(dir, 'admin.sock'),
      RTMP_HANDSHAKE_TIMEOUT: '2',
      SOURCE_MAX_STREAMS: '2',
      SOURCE_MAX_CONNECT_RATE: '20',
      METRICS_PORT: 'off',
      SHUTDOWN_GRACE_SECONDS: '0',
    });
    daemon = startDaemon(config, logger);
    cleanup.defer('daemon', () => daemon.stop({ stopHaproxy: true }));
    assert.ok((await daemon.firstSync).ok);
    await waitFor(async () => (await daemon.driver.backend()).servers.filter((s) => /^(UP|no check)/.test(s.status)).length === SERVERS.length, { timeoutMs: 15_000, what: 'every Server up' });
  });
  after(() => cleanup.run());

  test('idle sockets, a C0 alone, garbage and a slow sender never reach a Server; real streamers are placed meanwhile', async () => {
    const attacks = [
      // Idle: connect and send nothing (two: the per-source cap lets two in, the gate stops them).
      attacker('127.0.55.1', () => undefined),
      attacker('127.0.55.1', () => undefined),
      // Half a handshake: C0 and nothing more.
      attacker('127.0.55.2', (s) => s.write(Buffer.from([3]))),
      // Not RTMP.
      attacker('127.0.55.3', (s) => s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n')),
      // C0 + C1 a byte every 100 ms: not within the gate's 2 s.
      attacker('127.0.55.4', (s) => {
        let i = 0;
        const timer = setInterval(() => (i < RTMP_C0_C1.length && !s.destroyed ? s.write(RTMP_C0_C1.subarray(i, ++i)) : clearInterval(timer)), 100);
        s.on('close', () => clearInterval(timer));
      }),
    ];
    const real = await Promise.all([publish('alpha'), publish('beta')]);
    for (const [i, key] of ['alpha', 'beta'].entries()) {
      await waitFor(async () => {
        if (!real[i]!.running()) throw new Error(`ffmpeg ${key} exited: ${real[i]!.stderrTail().slice(-300)}`);
        return (await publishing()).includes(key);
      }, { timeoutMs: 20_000, intervalMs: 250, what: `${key} publishing` });
    }
    const closedAfter = await Promise.all(attacks.map((a) => a.closed));
    assert.ok(closedAfter[3]! < 1500, `garbage closed at once (${closedAfter[3]} ms)`);
    assert.deepEqual((await publishing()).sort(), ['alpha', 'beta']);
    assert.equal(await clientsAtServers(), 2, 'the Servers saw the two real streamers and nobody else');
    assert.equal((await fetch(`http://${PROXY.address}:${PROXY.health}/`)).status, 200, 'a Server is free: the health page says so');
    const refused = await daemon.driver.frontendRefusals();
    assert.ok(refused.handshake >= attacks.length, `the gate counted them: ${JSON.stringify(refused)}`);
  });

  test('one source cannot hold more than SOURCE_MAX_STREAMS; another source takes the free Server', async () => {
    // 127.0.0.1 (ffmpeg's source) holds two streams already: a third is refused at connect.
    const third = await publish('gamma');
    await waitFor(() => !third.running(), { timeoutMs: 20_000, intervalMs: 250, what: 'the third ffmpeg from one source to give up' });
    assert.ok(!(await publishing()).includes('gamma'));
    // From another address, a streamer's handshake takes the free Server.
    const other = attacker('127.0.55.9', (s) => s.write(RTMP_C0_C1));
    cleanup.defer('other source', () => void other.socket.destroy());
    await waitFor(async () => (await daemon.driver.backend()).servers.filter((s) => s.sessions > 0).length === 3, { timeoutMs: 10_000, what: 'the other source on the third Server (HAProxy)' });
  });

  test('a flood of connects from one source: refused beyond the rate, said in one line', async () => {
    const source = '127.0.55.5';
    const before = (await daemon.driver.frontendRefusals()).perSource;
    const floods = Array.from({ length: 40 }, () => attacker(source, (s) => s.write('x')));
    await Promise.all(floods.map((f) => f.closed));
    const refused = (await daemon.driver.frontendRefusals()).perSource - before;
    assert.ok(refused >= 40 - 20, `at least 20 of 40 refused at connect: ${refused}`);
    const logged = () => lines.filter((l) => l.msg === 'connections from one source refused by its limits' && l.source === source);
    await waitFor(() => logged().length === 1, { timeoutMs: 20_000, intervalMs: 250, what: 'the line about the source' });
    assert.equal(logged()[0]!.refused, refused, 'one line for all of them (the once-a-minute rule: test/source-limits.test.ts)');
    assert.deepEqual((await publishing()).sort(), ['alpha', 'beta'], 'the real streams went on');
  });
});
