// `npm run demo` as a user runs it: the built demo as a real process, its banner read back, the printed
// ffmpeg command run as printed, streams checked on the Servers' stat pages and in the demo's own table,
// a live scale-out through the printed curl command, then Ctrl-C (SIGINT) and nothing left behind.
// Everything on the 127.0.26.x loopback block and its own ports, so it never meets the default demo.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { PACKAGE_ROOT } from '../src/paths.js';
import { parseRtmpStat } from '../dev/media/rtmp-server.js';
import { Cleanup, countProcesses, listProcesses, NODE_PROCESS_NAMES } from './helpers/processes.js';
import { startPublisher } from './helpers/publisher.js';
import { waitFor } from './helpers/wait.js';

const DEMO = path.join(PACKAGE_ROOT, 'dist', 'dev', 'demo.js');
const PROXY = '127.0.26.1';
const SERVERS = ['127.0.26.2', '127.0.26.3'];
const SPARE = '127.0.26.4';
const RTMP_PORT = 19370;
const HEALTH_PORT = 18070;

const DEMO_ENV = {
  BIND_ADDRESS: PROXY,
  RTMP_PORT: String(RTMP_PORT),
  HEALTH_PORT: String(HEALTH_PORT),
  DEMO_SERVERS: String(SERVERS.length),
  DEMO_SPARE_SERVERS: '1',
  DEMO_ADDRESS_BASE: SERVERS[0]!,
  DEMO_EMULATOR_PORT: '0',
};

interface DemoRun {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
}

function startDemo(env: Record<string, string>): DemoRun {
  const child = spawn(process.execPath, [DEMO], {
    env: { PATH: `${process.env.PATH ?? ''}:/usr/sbin:/sbin`, HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => out, exited };
}

/** The demo's exit code, or 'timeout' when it has not exited within ms. */
async function exitWithin(run: DemoRun, ms: number): Promise<number | null | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([run.exited, new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** The last table the demo printed: server address → streams it showed (and the whole row). */
function lastTable(output: string): Map<string, { streams: string[]; row: string }> | undefined {
  const blocks = output.split(/^\[\d\d:\d\d:\d\d\] Which Server carries which stream:$/m);
  if (blocks.length < 2) return undefined;
  const rows = new Map<string, { streams: string[]; row: string }>();
  for (const line of blocks.at(-1)!.split('\n')) {
    const m = /^ {2}(\d+\.\d+\.\d+\.\d+):\d+\s.*\s(\S+)$/.exec(line);
    if (!m) {
      if (rows.size > 0) break; // the rows are over
      continue; // the header
    }
    rows.set(m[1]!, { streams: m[2] === '-' ? [] : m[2]!.split(','), row: line });
  }
  return rows;
}

async function statStreams(statUrl: string): Promise<string[]> {
  const res = await fetch(statUrl, { signal: AbortSignal.timeout(3000) });
  return parseRtmpStat(await res.text()).publishing;
}

/** Node processes whose environment names the demo's work dir: the `rtmp-proxy run` it started. */
async function daemonProcesses(dir: string): Promise<number[]> {
  const pids: number[] = [];
  for (const p of await listProcesses(NODE_PROCESS_NAMES)) {
    const environ = await readFile(`/proc/${p.pid}/environ`, 'utf8').catch(() => '');
    if (environ.includes(`HAPROXY_CONFIG=${dir}/`)) pids.push(p.pid);
  }
  return pids;
}

function portBlocker(host: string, port: number): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer((socket) => socket.destroy());
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}

describe('npm run demo', () => {
  const cleanup = new Cleanup();
  after(() => cleanup.run());

  test('a taken port or a bad setting stops the demo before it starts anything, naming the variable', { timeout: 60_000 }, async () => {
    const demoDirs = async () => (await readdir(tmpdir())).filter((d) => d.startsWith('rtmp-proxy-demo-'));
    const before = new Set(await demoDirs());

    const blocker = await portBlocker(PROXY, RTMP_PORT + 1);
    cleanup.defer('port blocker', () => new Promise((resolve) => blocker.close(() => resolve(undefined))));
    const taken = startDemo({ ...DEMO_ENV, RTMP_PORT: String(RTMP_PORT + 1) });
    cleanup.track(taken.child, 'demo with a taken port');
    const takenCode = await exitWithin(taken, 20_000);
    assert.equal(takenCode, 2, taken.output());
    assert.match(taken.output(), new RegExp(`${PROXY.replace(/\./g, '\\.')}:${RTMP_PORT + 1} is not free.*Set RTMP_PORT`));

    const bad = startDemo({ ...DEMO_ENV, DEMO_SERVERS: '0', HEALTH_PORT: 'eighty' });
    cleanup.track(bad.child, 'demo with bad settings');
    const badCode = await exitWithin(bad, 20_000);
    assert.equal(badCode, 2, bad.output());
    assert.match(bad.output(), /DEMO_SERVERS="0" is not valid: an integer from 1 to 50/);

    const badDaemonSetting = startDemo({ ...DEMO_ENV, HEALTH_PORT: 'eighty' });
    cleanup.track(badDaemonSetting.child, 'demo with a bad daemon setting');
    const code = await exitWithin(badDaemonSetting, 20_000);
    assert.equal(code, 2, badDaemonSetting.output());
    assert.match(badDaemonSetting.output(), /HEALTH_PORT="eighty" is not valid/);

    for (const out of [taken.output(), bad.output(), badDaemonSetting.output()]) assert.doesNotMatch(out, /^Starting/m);
    assert.equal(await countProcesses('nginx', { cmdlineIncludes: '/nginx-127.0.26.' }), 0);
    const leftover = (await demoDirs()).filter((d) => !before.has(d));
    assert.deepEqual(leftover, [], 'a failed start left its work dir');
  });

  test('prints a push URL and ffmpeg command that work, shows where each stream went, scales out, and Ctrl-C leaves nothing behind', { timeout: 120_000 }, async (t) => {
    const started = Date.now();
    const demo = startDemo(DEMO_ENV);
    cleanup.track(demo.child, 'demo');
    let dir = '';
    cleanup.defer('leftover HAProxy of the demo', async () => {
      // Only if the demo failed to stop it: the master's pid is in the demo's pidfile.
      const pid = Number(await readFile(path.join(dir, 'haproxy.pid'), 'utf8').catch(() => '0'));
      if (dir !== '' && pid > 0) process.kill(pid, 'SIGTERM');
    });

    await waitFor(() => /^Below: which Server carries which stream/m.test(demo.output()) || demo.child.exitCode !== null, {
      timeoutMs: 40_000,
      what: 'the demo banner',
    });
    const banner = demo.output();
    assert.equal(demo.child.exitCode, null, `the demo exited early:\n${banner}`);
    const readyMs = Date.now() - started;
    const printedReady = /demo ready in ([\d.]+) s/.exec(banner)?.[1];
    t.diagnostic(`demo ready after ${readyMs} ms (the demo says ${printedReady} s)`);

    dir = /^Work dir:\s+(\S+)/m.exec(banner)?.[1] ?? '';
    assert.match(dir, /rtmp-proxy-demo-/, `no work dir in the banner:\n${banner}`);
    assert.ok(existsSync(dir));

    // The URL and the ffmpeg command, exactly as printed.
    const url = /^ {2}URL:\s+(\S+)$/m.exec(banner)?.[1];
    assert.equal(url, `rtmp://${PROXY}:${RTMP_PORT}/stream/demo1`);
    const command = /^ {2}ffmpeg:\s+(ffmpeg .+)$/m.exec(banner)?.[1];
    assert.ok(command, `no ffmpeg command in the banner:\n${banner}`);
    const args = command.split(/\s+/);
    assert.equal(args.at(-1), url, 'the ffmpeg command pushes to the printed URL');

    // Every Server with its stat page; the spare one is marked as not registered.
    const statUrls = new Map<string, string>();
    for (const m of banner.matchAll(/^ {2}(\d+\.\d+\.\d+\.\d+):\d+\s+(http:\/\/\S+\/stat)\s+(.*)$/gm)) statUrls.set(m[1]!, m[2]!);
    assert.deepEqual([...statUrls.keys()], [...SERVERS, SPARE]);
    assert.match(banner, new RegExp(`${SPARE.replace(/\./g, '\\.')}:\\d+\\s+\\S+\\s+spare`));

    const ffmpeg = spawn(args[0]!, args.slice(1), { stdio: 'ignore' });
    cleanup.track(ffmpeg, 'the printed ffmpeg command');
    const second = startPublisher(url.replace(/demo1$/, 'second'), { logLevel: 'error' });
    cleanup.defer('second publisher', () => second.stop());

    // Each stream on exactly one Server's stat page, the two on different Servers.
    const where = await waitFor(
      async () => {
        const found = new Map<string, string[]>();
        for (const [address, statUrl] of statUrls) found.set(address, await statStreams(statUrl));
        const holders = (key: string) => [...found].filter(([, streams]) => streams.includes(key)).map(([address]) => address);
        const a = holders('demo1');
        const b = holders('second');
        return a.length === 1 && b.length === 1 ? { demo1: a[0]!, second: b[0]! } : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 250, what: 'demo1 and second publishing, each on one stat page' },
    );
    assert.notEqual(where.demo1, where.second, 'two streams on one Server');
    assert.ok(SERVERS.includes(where.demo1) && SERVERS.includes(where.second), 'streams went to registered Servers only');
    assert.ok(ffmpeg.exitCode === null && second.running(), `a publisher died: ${second.stderrTail()}`);

    // ... and the demo's own table says the same.
    await waitFor(
      () => {
        const table = lastTable(demo.output());
        return table?.get(where.demo1)?.streams.join() === 'demo1' && table.get(where.second)?.streams.join() === 'second';
      },
      { timeoutMs: 10_000, what: `the demo's table showing demo1 on ${where.demo1} and second on ${where.second}` },
    );

    // Scale out with the printed command: the spare becomes a task, HAProxy takes it in, and the next
    // stream (both other Servers are busy) lands there.
    const curl = /^ {2}curl -s -X POST (\S+) -d '(.+)'$/m.exec(banner);
    assert.ok(curl, `no scale-out command in the banner:\n${banner}`);
    const res = await fetch(curl[1]!, { method: 'POST', body: curl[2]!, signal: AbortSignal.timeout(3000) });
    assert.equal(res.status, 201);
    await waitFor(() => / UP, \d+ conn/.test(lastTable(demo.output())?.get(SPARE)?.row ?? ''), {
      timeoutMs: 15_000,
      what: `the spare ${SPARE} UP in HAProxy in the demo's table`,
    });
    // It came by the ECS task state change event, not the next listing.
    assert.match(demo.output(), new RegExp(`ECS task event: Server added task-\\S+ \\(${SPARE.replace(/\./g, '\\.')}\\)`));
    const third = startPublisher(url.replace(/demo1$/, 'third'), { logLevel: 'error' });
    cleanup.defer('third publisher', () => third.stop());
    await waitFor(async () => (await statStreams(statUrls.get(SPARE)!)).includes('third'), {
      timeoutMs: 15_000,
      intervalMs: 250,
      what: `stream "third" publishing on the new Server ${SPARE}`,
    });
    await waitFor(() => lastTable(demo.output())?.get(SPARE)?.streams.join() === 'third', {
      timeoutMs: 10_000,
      what: `the demo's table showing third on ${SPARE}`,
    });
    // The Proxy's capacity figures, as the emulator's CloudWatch received them: three busy, none free.
    await waitFor(() => /CloudWatch, the Proxies' capacity figures \(summed, 10 s period\): ServersFree 0 · ServersBusy 3 · ServersHeld 0 · ServersTotal 3 · StreamersQueued 0/.test(demo.output()), {
      timeoutMs: 30_000,
      intervalMs: 250,
      what: 'the capacity figures with three streams',
    });
    const haproxy = await countProcesses('haproxy', { cmdlineIncludes: dir });
    const nginx = await countProcesses('nginx', { cmdlineIncludes: dir });
    assert.ok(haproxy >= 1, 'HAProxy runs with the demo');
    assert.equal(nginx, SERVERS.length + 1, 'one nginx per Server');
    assert.equal((await daemonProcesses(dir)).length, 1, 'one rtmp-proxy run');

    // Ctrl-C, with three live streams: exit 0 within the bound, nothing left.
    const stopAt = Date.now();
    demo.child.kill('SIGINT');
    const code = await exitWithin(demo, 30_000);
    assert.equal(code, 0, `demo exit after SIGINT (${code}):\n${demo.output().slice(-2000)}`);
    t.diagnostic(`demo stopped ${Date.now() - stopAt} ms after SIGINT, with three live streams`);
    assert.match(demo.output(), /stopped everything the demo started/);
    assert.equal(await countProcesses('haproxy', { cmdlineIncludes: dir }), 0, 'HAProxy left running');
    assert.equal(await countProcesses('nginx', { cmdlineIncludes: dir }), 0, 'nginx left running');
    assert.deepEqual(await daemonProcesses(dir), [], 'rtmp-proxy run left running');
    assert.equal(existsSync(dir), false, `work dir ${dir} left behind`);
  });

  test('DEMO_PROXIES=2: every Server owned by one Proxy; streamers at one Proxy fill the fleet through its peer; the table says so', { timeout: 120_000 }, async () => {
    const proxies = ['127.0.26.11', '127.0.26.12'];
    const servers = ['127.0.26.21', '127.0.26.22', '127.0.26.23', '127.0.26.24'];
    const demo = startDemo({
      ...DEMO_ENV,
      RTMP_PORT: String(RTMP_PORT + 2),
      HEALTH_PORT: String(HEALTH_PORT + 2),
      DEMO_SERVERS: String(servers.length),
      DEMO_SPARE_SERVERS: '0',
      DEMO_ADDRESS_BASE: servers[0]!,
      DEMO_PROXIES: '2',
      DEMO_PROXY_ADDRESS_BASE: proxies[0]!,
      SYNC_SCHEDULE: '* * * * * *',
    });
    cleanup.track(demo.child, 'demo with two Proxies');
    await waitFor(() => /^Below: which Server carries which stream/m.test(demo.output()) || demo.child.exitCode !== null, {
      timeoutMs: 40_000,
      what: 'the demo banner',
    });
    const banner = demo.output();
    assert.equal(demo.child.exitCode, null, `the demo exited early:\n${banner}`);
    const urls = [...banner.matchAll(/^ {2}URL:\s+(\S+)$/gm)].map((m) => m[1]!);
    assert.deepEqual(urls, proxies.map((p, i) => `rtmp://${p}:${RTMP_PORT + 2}/stream/demo${i + 1}`));
    const dir = /^Work dir:\s+(\S+)/m.exec(banner)?.[1] ?? '';
    // Every Server shows one owner, one of the two Proxies.
    const owners = await waitFor(
      () => {
        const table = lastTable(demo.output());
        const o = servers.map((a) => /\s(127\.0\.26\.1[12]): UP/.exec(table?.get(a)?.row ?? '')?.[1]);
        return o.every((x) => x !== undefined) ? (o as string[]) : undefined;
      },
      { timeoutMs: 15_000, what: 'an owner for every Server in the table' },
    );
    // As many streamers as Servers, all at the first Proxy: its own Servers, then the peer's.
    const keys = servers.map((_, i) => `s${i}`);
    for (const key of keys) {
      const pub = startPublisher(urls[0]!.replace(/demo1$/, key), { logLevel: 'error' });
      cleanup.defer(`publisher ${key}`, () => pub.stop());
    }
    const table = await waitFor(
      () => {
        const t = lastTable(demo.output());
        return t && servers.every((a) => t.get(a)?.streams.length === 1) ? t : undefined;
      },
      { timeoutMs: 30_000, what: 'one stream on every Server in the table' },
    );
    assert.deepEqual(servers.flatMap((a) => table.get(a)!.streams).sort(), keys);
    const viaPeer = owners.filter((o) => o === proxies[1]).length;
    const forwarded = new RegExp(`forwarded to a peer \\(its own Servers were busy\\): ${viaPeer === 0 ? 'none now' : `${proxies[0]!.replace(/\./g, '\\.')} → ${proxies[1]!.replace(/\./g, '\\.')}: ${viaPeer}`}`);
    await waitFor(() => forwarded.test(demo.output().split(/Which Server carries which stream:/).at(-1) ?? ''), {
      timeoutMs: 10_000,
      what: `the table saying ${viaPeer} stream(s) went through the peer`,
    });
    assert.equal((await daemonProcesses(dir)).length, 2, 'two rtmp-proxy run');
    demo.child.kill('SIGINT');
    assert.equal(await exitWithin(demo, 30_000), 0, demo.output().slice(-2000));
    assert.equal(await countProcesses('haproxy', { cmdlineIncludes: dir }), 0, 'HAProxy left running');
    assert.equal(existsSync(dir), false, `work dir ${dir} left behind`);
  });
});
