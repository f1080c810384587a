// `rtmp-proxy status` and `rtmp-proxy check` as a user runs them (real processes, a real HAProxy on
// loopback 127.0.31.x), and the choice between JSON and pretty logs.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { access, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { ConfigError } from '../src/config.js';
import { PACKAGE_ROOT } from '../src/paths.js';
import { HaproxyProcess } from '../src/haproxy/process.js';
import { chooseLogFormat, createLogger, silentLogger } from '../src/log.js';
import { parseHaproxyAge, parseShowSess } from '../src/haproxy/runtime-api.js';
import { buildStatus, formatStatus } from '../src/status.js';
import { CLI, runCli } from './helpers/cli.js';
import { Cleanup } from './helpers/processes.js';
import { openHeldStream, startTcpBackend, type HeldStream } from './helpers/tcp-backends.js';
import { waitFor } from './helpers/wait.js';
import { selfSignedCertificate } from './helpers/certificates.js';

/** Debian 12's package, which ensure-deps installs beside the HAProxy the suite runs. */
const DEBIAN_HAPROXY = '/usr/sbin/haproxy';
const PROXY = '127.0.31.1';
const BACKENDS = ['127.0.31.2', '127.0.31.3', '127.0.31.4'];
const BACKEND_PORT = 19390;
const RTMP_PORT = 19391;
const HEALTH_PORT = 18090;


const serverName = (address: string) => `static-${address}-${BACKEND_PORT}`;
const rowOf = (table: string, name: string) => table.split('\n').find((l) => l.startsWith(`${name} `));
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The HAProxy the CLI under test started, as the daemon sees it (its pidfile and master CLI). */
function haproxyOf(env: Record<string, string>, timeoutMs?: number): HaproxyProcess {
  return new HaproxyProcess({
    bin: 'haproxy',
    configPath: env.HAPROXY_CONFIG!,
    pidfile: env.HAPROXY_PIDFILE!,
    masterSocket: `${env.HAPROXY_SOCKET}.master`,
    logger: silentLogger(),
    ...(timeoutMs !== undefined && { timeoutMs }),
  });
}

describe('rtmp-proxy status', () => {
  const cleanup = new Cleanup();
  let dir: string;
  let env: Record<string, string>;
  let stream: HeldStream | undefined;

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'rtmp-proxy-status-'));
    cleanup.defer('temp dir', () => rm(dir, { recursive: true, force: true }));
    for (const address of BACKENDS) {
      const backend = await startTcpBackend(address, BACKEND_PORT, { hold: true });
      cleanup.defer(`backend ${address}`, () => backend.close());
    }
    env = {
      DISCOVERY: 'static',
      STATIC_SERVERS: BACKENDS.map((a) => `${a}:${BACKEND_PORT}`).join(','),
      BIND_ADDRESS: PROXY,
      RTMP_PORT: String(RTMP_PORT),
      HEALTH_PORT: String(HEALTH_PORT),
      METRICS_PORT: 'off',
      HAPROXY_CONFIG: path.join(dir, 'haproxy.cfg'),
      HAPROXY_PIDFILE: path.join(dir, 'haproxy.pid'),
      HAPROXY_SOCKET: path.join(dir, 'admin.sock'),
    };
    // Registered before HAProxy starts, so it runs (after the stream closes) whatever fails.
    cleanup.defer('haproxy', async () => {
      await haproxyOf(env, 5000).stop();
    });
    cleanup.defer('held stream', () => stream?.close());
  });
  after(() => cleanup.run());

  test('--help for status and check; the usage lists both', async () => {
    const top = await runCli(['--help'], {});
    assert.equal(top.code, 0);
    assert.match(top.stdout, /^\s+status\s+Show each Server/m);
    assert.match(top.stdout, /^\s+check\s+Check the environment/m);
    const status = await runCli(['status', '--help'], {});
    assert.equal(status.code, 0);
    assert.match(status.stdout, /^Usage: rtmp-proxy status \[--json\]/);
    assert.match(status.stdout, /--json/);
    const check = await runCli(['check', '--help'], {});
    assert.equal(check.code, 0);
    assert.match(check.stdout, /^Usage: rtmp-proxy check/);
    assert.match(check.stdout, /haproxy -c/);
  });

  test('HAProxy not running: exit 1, naming HAPROXY_PIDFILE and HAPROXY_SOCKET', async () => {
    const r = await runCli(['status'], env);
    assert.equal(r.code, 1, r.stdout);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, new RegExp(`HAProxy is not running: HAPROXY_PIDFILE=${escape(env.HAPROXY_PIDFILE!)} names no live HAProxy`));
    assert.match(r.stderr, new RegExp(`HAPROXY_SOCKET=${escape(env.HAPROXY_SOCKET!)} does not answer`));
  });

  test('bad configuration: exit 2 naming the variable', async () => {
    const r = await runCli(['status'], { ...env, HAPROXY_SOCKET: 'has space' });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /HAPROXY_SOCKET="has space" is not valid/);
  });

  test('a held stream shows on its Server with its age; the others are free', async () => {
    const once = await runCli(['once'], env);
    assert.equal(once.code, 0, once.stderr + once.stdout);
    const masterPid = Number((await readFile(env.HAPROXY_PIDFILE!, 'utf8')).trim());

    stream = await waitFor(() => openHeldStream(PROXY, RTMP_PORT), { timeoutMs: 10_000, what: 'a stream through HAProxy' });
    assert.ok(BACKENDS.includes(stream.server), stream.server);
    await new Promise((r) => setTimeout(r, 1100)); // an age of at least a second

    const r = await runCli(['status'], env);
    assert.equal(r.code, 0, r.stderr);
    const [header] = r.stdout.split('\n');
    assert.match(header!, new RegExp(`^HAProxy master ${masterPid} · worker \\d+ · old workers none · reloads 0 · streams 1 · free Servers 2 of 3`));
    assert.match(r.stdout, /^SERVER\s+ADDRESS\s+STATE\s+STREAM\s+SINCE\s+NOTE$/m);
    const busy = rowOf(r.stdout, serverName(stream.server));
    assert.ok(busy, r.stdout);
    // "UP 1/3": up, between health-check thresholds (HAProxy shows this while checks settle after a start).
    assert.match(busy, new RegExp(`^${escape(serverName(stream.server))}\\s+${escape(stream.server)}:${BACKEND_PORT}\\s+UP(?: \\d+/\\d+)?\\s+1 for [1-9]\\d*s\\s+\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ\\s+from 127\\.0\\.0\\.1:\\d+$`));
    const since = Date.parse(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ/.exec(busy)![0]);
    assert.ok(Math.abs(Date.now() - 1100 - since) < 5000, `since ${new Date(since).toISOString()} is about when the stream opened`);
    for (const address of BACKENDS.filter((a) => a !== stream!.server)) {
      const row = rowOf(r.stdout, serverName(address));
      assert.match(row ?? '', new RegExp(`^${escape(serverName(address))}\\s+${escape(address)}:${BACKEND_PORT}\\s+UP(?: \\d+/\\d+)?\\s+-\\s+-\\s+free$`), r.stdout);
    }

    const j = await runCli(['status', '--json'], env);
    assert.equal(j.code, 0, j.stderr);
    const report = JSON.parse(j.stdout);
    assert.equal(report.haproxy.masterPid, masterPid);
    assert.equal(report.haproxy.reloads, 0);
    assert.deepEqual(report.haproxy.oldWorkerPids, []);
    assert.equal(report.backend, 'bk_rtmp');
    assert.equal(report.streams, 1);
    assert.equal(report.free, 2);
    assert.equal(report.servers.length, 3);
    const s = report.servers.find((x: { name: string }) => x.name === serverName(stream!.server));
    assert.equal(s.streams, 1);
    assert.equal(s.sessions, 1);
    assert.equal(s.free, false);
    assert.equal(s.use, 'streaming');
    assert.equal(s.status, 'UP');
    assert.ok(s.ageSeconds >= 1, String(s.ageSeconds));
    assert.match(s.since, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.equal(s.streamList[0].oldWorker, false);
    for (const other of report.servers.filter((x: { name: string }) => x.name !== s.name)) {
      assert.equal(other.free, true);
      assert.equal(other.streams, 0);
    }
  });

  test('after a reload, the stream an old worker still carries is counted and flagged', async () => {
    assert.ok(stream, 'the previous test opened a stream');
    const haproxy = haproxyOf(env);
    const before = await haproxy.masterStatus();
    await haproxy.reload(); // the same config: a new worker that counts 0 streams; the old one keeps ours
    assert.ok(await stream.alive(), 'the stream survives the reload');
    const oldPid = before.workerPids[0]!;

    const r = await runCli(['status'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout.split('\n')[0]!, new RegExp(`old workers ${oldPid} · reloads 1 · streams 1 · free Servers 2 of 3`));
    const busy = rowOf(r.stdout, serverName(stream.server));
    assert.match(busy ?? '', new RegExp(`UP\\s+1 for \\d+s .*1 in old worker ${oldPid}; in rotation in the current worker: the next sync holds it`), r.stdout);

    const report = JSON.parse((await runCli(['status', '--json'], env)).stdout);
    assert.deepEqual(report.haproxy.oldWorkerPids, [oldPid]);
    const s = report.servers.find((x: { name: string }) => x.name === serverName(stream!.server));
    assert.equal(s.sessions, 0, 'the current worker counts nothing on it');
    assert.equal(s.streams, 1, 'the old worker’s stream is counted');
    assert.equal(s.streamList[0].worker, oldPid);
    assert.equal(s.streamList[0].oldWorker, true);
    assert.equal(s.free, false);

    // The stream ends: the old worker exits, the Server is free again.
    await stream.close();
    stream = undefined;
    const after = await waitFor(
      async () => {
        const x = JSON.parse((await runCli(['status', '--json'], env)).stdout);
        return x.haproxy.oldWorkerPids.length === 0 && x.streams === 0 ? x : undefined;
      },
      { timeoutMs: 10_000, what: 'the old worker to exit once its stream ended' },
    );
    assert.equal(after.free, 3);
  });
});

describe('rtmp-proxy check', () => {
  const cleanup = new Cleanup();
  let dir: string;
  let env: Record<string, string>;
  const template = () => readFile(path.join(PACKAGE_ROOT, 'templates', 'haproxy.cfg.ejs'), 'utf8');
  const checkDirs = async () => new Set((await readdir(tmpdir())).filter((n) => n.startsWith('rtmp-proxy-check-')));

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'rtmp-proxy-checktest-'));
    cleanup.defer('temp dir', () => rm(dir, { recursive: true, force: true }));
    env = {
      DISCOVERY: 'static',
      STATIC_SERVERS: `127.0.31.9:${BACKEND_PORT}`,
      BIND_ADDRESS: PROXY,
      RTMP_PORT: '19392',
      HEALTH_PORT: '18091',
      // Never written by check: these stay absent.
      HAPROXY_CONFIG: path.join(dir, 'live', 'haproxy.cfg'),
      HAPROXY_PIDFILE: path.join(dir, 'run', 'haproxy.pid'),
      HAPROXY_SOCKET: path.join(dir, 'run', 'admin.sock'),
    };
  });
  after(() => cleanup.run());

  test('RTMPS: checks the certificate as run would (nothing written), and haproxy -c checks the rendered TLS frontend', async () => {
    const good = selfSignedCertificate(dir, 'check-good');
    const goodFile = path.join(dir, 'check-good.pem');
    await writeFile(goodFile, good.bundle);
    const ok = await runCli(['check'], { ...env, RTMPS_CERT_FILE: goodFile, RTMPS_PORT: '18093' });
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, new RegExp(`^ok\\s+rtmps: RTMPS_PORT=18093, RTMPS_CERT_FILE=${goodFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: the certificate and its key match, valid now$`, 'm'));
    assert.match(ok.stdout, /^ok\s+config: haproxy -c accepts the rendered config$/m);
    const mismatched = path.join(dir, 'check-mismatched.pem');
    await writeFile(mismatched, good.cert + selfSignedCertificate(dir, 'check-other').key);
    const bad = await runCli(['check'], { ...env, RTMPS_CERT_FILE: mismatched, RTMPS_PORT: '18093' });
    assert.notEqual(bad.code, 0);
    assert.match(bad.stdout, /^FAIL\s+rtmps: RTMPS_CERT_FILE=\S+check-mismatched\.pem: its private key does not match the certificate .*\(run would serve plain RTMP only\)$/m);
  });

  test('passes on the default template and touches nothing', async () => {
    const dirsBefore = await checkDirs();
    const r = await runCli(['check'], env);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.deepEqual(
      lines.map((l) => /^ok\s+([a-z ]+):/.exec(l)?.[1]),
      ['environment', 'haproxy', 'paths', 'health page', 'template', 'config'],
      r.stdout,
    );
    assert.match(r.stdout, /^ok\s+config: haproxy -c accepts the rendered config$/m);
    assert.match(r.stdout, new RegExp(`template: HAPROXY_TEMPLATE=\\S+haproxy\\.cfg\\.ejs renders \\(placeholder fleet: one Server at 127\\.0\\.0\\.1:1935\\)`));
    await assert.rejects(access(env.HAPROXY_CONFIG!), 'HAPROXY_CONFIG was not written');
    await assert.rejects(access(path.dirname(env.HAPROXY_PIDFILE!)), 'nothing was created for the pidfile or sockets');
    const leftover = [...(await checkDirs())].filter((d) => !dirsBefore.has(d));
    assert.deepEqual(leftover, [], 'the temp validation dir is removed');
  });

  test('a bad environment: exit 2, naming every bad variable', async () => {
    const r = await runCli(['check'], { ...env, RTMP_PORT: '99999', APPLY_MODE: 'sometimes', LOG_FORMAT: 'fancy' });
    assert.equal(r.code, 2);
    assert.match(r.stdout, /^FAIL\s+environment: RTMP_PORT="99999" is not valid: a TCP port/m);
    assert.match(r.stdout, /^FAIL\s+environment: APPLY_MODE="sometimes" is not valid: one of runtime, reload/m);
    assert.match(r.stdout, /^FAIL\s+environment: LOG_FORMAT="fancy" is not valid: one of auto, json, pretty/m);
    assert.doesNotMatch(r.stdout, /^ok/m);
  });

  test('an EJS syntax error: exit 1, naming the template file and line', async () => {
    const lines = (await template()).split('\n');
    const at = lines.findIndex((l) => l.includes('servers.forEach'));
    assert.ok(at > 0);
    lines[at] = lines[at]!.replace('function (server) {', 'function (server) { if (server {');
    const file = path.join(dir, 'syntax.cfg.ejs');
    await writeFile(file, lines.join('\n'));
    const r = await runCli(['check'], { ...env, HAPROXY_TEMPLATE: file });
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stdout, new RegExp(`^FAIL\\s+template: HAPROXY_TEMPLATE=${escape(file)} line ${at + 1}: Unexpected token`, 'm'));
    assert.match(r.stdout, /^skip\s+config: not checked: the template did not render$/m);
  });

  test('an EJS error at render time: exit 1, naming the template file and line', async () => {
    const lines = (await template()).split('\n');
    const at = lines.findIndex((l) => l.includes('settings.adminSocket'));
    lines[at] = lines[at]!.replace('settings.adminSocket', 'settings.missing.adminSocket');
    const file = path.join(dir, 'runtime.cfg.ejs');
    await writeFile(file, lines.join('\n'));
    const r = await runCli(['check'], { ...env, HAPROXY_TEMPLATE: file });
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stdout, new RegExp(`^FAIL\\s+template: HAPROXY_TEMPLATE=${escape(file)} line ${at + 1}: Cannot read properties of undefined`, 'm'));
  });

  test('a template HAProxy rejects: exit 1, naming the rendered line and the template line', async () => {
    const lines = (await template()).split('\n');
    const at = lines.findIndex((l) => l.includes('balance roundrobin'));
    lines.splice(at + 1, 0, '  frobnicate-streams 3');
    const file = path.join(dir, 'rejected.cfg.ejs');
    await writeFile(file, lines.join('\n'));
    const r = await runCli(['check'], { ...env, HAPROXY_TEMPLATE: file });
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stdout, /^ok\s+template:/m, 'it renders');
    assert.match(r.stdout, new RegExp(`^FAIL\\s+config: haproxy -c rejects the config rendered from HAPROXY_TEMPLATE=${escape(file)}: .*parsing \\[rendered haproxy\\.cfg:\\d+\\] : unknown keyword 'frobnicate-streams'`, 'm'));
    assert.match(r.stdout, new RegExp(`>> \\d+\\| frobnicate-streams 3\\s+\\(HAPROXY_TEMPLATE=${escape(file)} line ${at + 2}\\)`));
  });

  test("Debian 12's HAProxy 2.6.12: a WARN line naming the version, the fix and what to run; still exit 0", { skip: existsSync(DEBIAN_HAPROXY) ? false : `${DEBIAN_HAPROXY} is not installed` }, async () => {
    const r = await runCli(['check'], { ...env, HAPROXY_BIN: DEBIAN_HAPROXY });
    assert.equal(r.code, 0, r.stdout);
    assert.match(r.stdout, new RegExp(`^WARN\\s+haproxy: HAPROXY_BIN=${escape(DEBIAN_HAPROXY)}: HAProxy 2\\.6\\.\\d+\\S* can hand a Server that comes up more than one queued stream, breaking maxconn 1 under bursts \\(fixed upstream by commit 111ea83ed, in 2\\.6\\.21`, 'm'));
    assert.match(r.stdout, /^ok\s+config: haproxy -c accepts the rendered config$/m, 'the config is still checked');
  });

  test('a missing HAProxy binary and health page are named', async () => {
    const r = await runCli(['check'], { ...env, HAPROXY_BIN: path.join(dir, 'no-haproxy'), HEALTH_PAGE: path.join(dir, 'missing.html') });
    assert.equal(r.code, 1);
    assert.match(r.stdout, new RegExp(`^FAIL\\s+haproxy: HAPROXY_BIN=${escape(path.join(dir, 'no-haproxy'))} was not found`, 'm'));
    assert.match(r.stdout, new RegExp(`^FAIL\\s+health page: HEALTH_PAGE=${escape(path.join(dir, 'missing.html'))}: no such file`, 'm'));
    assert.match(r.stdout, /^skip\s+config: not checked: no usable HAProxy$/m);
  });
});

describe('logs: pretty at a terminal, JSON otherwise', () => {
  test('the choice: TTY → pretty, anything else → JSON; LOG_FORMAT overrides; a bad value names LOG_FORMAT', () => {
    assert.equal(chooseLogFormat({ isTTY: true, env: {} }), 'pretty');
    assert.equal(chooseLogFormat({ isTTY: false, env: {} }), 'json');
    assert.equal(chooseLogFormat({ isTTY: undefined, env: {} }), 'json', 'a pipe or file: stdout.isTTY is undefined');
    assert.equal(chooseLogFormat({ isTTY: true, env: { LOG_FORMAT: 'auto' } }), 'pretty');
    assert.equal(chooseLogFormat({ isTTY: true, env: { LOG_FORMAT: 'json' } }), 'json');
    assert.equal(chooseLogFormat({ isTTY: false, env: { LOG_FORMAT: 'pretty' } }), 'pretty');
    assert.equal(chooseLogFormat({ isTTY: false, env: { LOG_FORMAT: ' ' } }), 'json');
    assert.throws(
      () => chooseLogFormat({ isTTY: true, env: { LOG_FORMAT: 'yaml' } }),
      (e: unknown) => e instanceof ConfigError && e.variable === 'LOG_FORMAT' && /LOG_FORMAT="yaml" is not valid: one of auto, json, pretty/.test(e.message),
    );
  });

  test('with a destination the logger writes JSON, one object per line, whatever the format asked', () => {
    for (const format of ['auto', 'json', 'pretty'] as const) {
      let out = '';
      const dest = new Writable({
        write(chunk, _enc, cb) {
          out += chunk;
          cb();
        },
      });
      const logger = createLogger('info', dest as never, format);
      logger.info({ added: ['a'], removed: [] }, 'sync: runtime');
      logger.warn({ nested: { x: 1 } }, 'second');
      logger.debug('dropped at info');
      const lines = out.trimEnd().split('\n');
      assert.equal(lines.length, 2, format);
      const parsed = lines.map((l) => JSON.parse(l));
      assert.equal(parsed[0].msg, 'sync: runtime');
      assert.deepEqual(parsed[0].added, ['a']);
      assert.equal(parsed[1].level, 40);
    }
  });

  test('the CLI: JSON into a pipe, pretty with LOG_FORMAT=pretty, refuses a bad LOG_FORMAT', async () => {
    // `render` on a static fleet logs nothing on success; a failed one logs its error: use that line.
    const env = { DISCOVERY: 'static', STATIC_SERVERS: '127.0.31.9:1935', HAPROXY_TEMPLATE: '/nonexistent/template.ejs', METRICS_PORT: 'off' };
    const json = await runCli(['render'], env);
    assert.equal(json.code, 1);
    const lines = json.stdout.trim().split('\n');
    assert.ok(lines.length >= 1 && lines.every((l) => typeof JSON.parse(l) === 'object'), json.stdout);
    assert.ok(lines.some((l) => JSON.parse(l).msg === 'render failed'));

    const pretty = await runCli(['render'], { ...env, LOG_FORMAT: 'pretty' });
    assert.equal(pretty.code, 1);
    assert.match(pretty.stdout, /ERROR.*render failed/);
    assert.throws(() => JSON.parse(pretty.stdout.trim().split('\n')[0]!));

    const bad = await runCli(['render'], { ...env, LOG_FORMAT: 'xml' });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /LOG_FORMAT="xml" is not valid/);
  });

  test('the CLI under a pseudo-terminal logs pretty lines', { skip: spawnSync('script', ['--version']).status !== 0 && 'script(1) is not installed' }, () => {
    // util-linux script(1) gives the command a real TTY on stdout; its output comes back here.
    const command = `${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} render`;
    const r = spawnSync('script', ['-qec', command, '/dev/null'], {
      env: { PATH: process.env.PATH ?? '', DISCOVERY: 'static', STATIC_SERVERS: '127.0.31.9:1935', HAPROXY_TEMPLATE: '/nonexistent/template.ejs', METRICS_PORT: 'off' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    const out = r.stdout.replace(/\x1b\[[0-9;]*m/g, '');
    assert.match(out, /ERROR.*render failed/, out);
    assert.doesNotMatch(out, /^\{"level"/m, 'no JSON at a terminal');
  });
});

describe('status: parsing and formatting', () => {
  test('HAProxy ages and show sess lines', () => {
    assert.equal(parseHaproxyAge('0s'), 0);
    assert.equal(parseHaproxyAge('42s'), 42);
    assert.equal(parseHaproxyAge('5m3s'), 303);
    assert.equal(parseHaproxyAge('2h15m'), 8100);
    assert.equal(parseHaproxyAge('3d4h'), 273_600);
    assert.equal(parseHaproxyAge('?'), undefined);
    const sessions = parseShowSess(
      [
        '0x55d1: proto=tcpv4 src=10.0.0.9:40858 fe=ft_rtmp be=bk_rtmp srv=task-a ts=00 epoch=0 age=1h2m calls=2 rate=0 cpu=0 lat=0 rq[f=808000h,i=0,an=00h,rx=27s,wx=,ax=] exp=2s rc=0 c_exp=',
        '0x55d2: proto=tcpv4 src=10.0.0.8:1234 fe=ft_rtmp be=bk_rtmp srv=<none> ts=00 epoch=0 age=3s calls=1',
        '0x55d3: proto=unix_stream src=unix:1 fe=GLOBAL be=<NONE> srv=<none> ts=00 epoch=0 age=0s calls=1',
        '',
      ].join('\n'),
    );
    assert.deepEqual(sessions, [
      { backend: 'bk_rtmp', server: 'task-a', source: '10.0.0.9:40858', ageSeconds: 3720, age: '1h2m' },
      { backend: 'bk_rtmp', server: undefined, source: '10.0.0.8:1234', ageSeconds: 3, age: '3s' },
      { backend: undefined, server: undefined, source: 'unix:1', ageSeconds: 0, age: '0s' },
    ]);
  });

  test('maintenance, down, queued and a Server only an old worker still has', () => {
    const server = (name: string, status: string, sessions = 0) => ({ name, address: '10.0.0.1', port: 1935, sessions, maintenance: status.includes('MAINT'), status });
    const report = buildStatus({
      now: new Date('2025-01-01T12:00:00Z'),
      masterPid: 10,
      master: { masterPid: 10, reloads: 2, failedReloads: 0, workerPids: [12], oldWorkerPids: [11] },
      current: {
        pid: 12,
        servers: [server('task-a', 'MAINT', 1), server('task-b', 'DOWN'), server('task-c', 'MAINT'), server('task-d', 'UP')],
        sessions: [
          { backend: 'bk_rtmp', server: 'task-a', source: '1.2.3.4:5', ageSeconds: 90, age: '1m30s' },
          { backend: 'bk_rtmp', server: undefined, source: '1.2.3.4:6', ageSeconds: 1, age: '1s' },
        ],
      },
      old: [{ pid: 11, servers: [{ ...server('task-z', 'UP', 1), address: '10.0.0.26' }], sessions: [{ backend: 'bk_rtmp', server: 'task-z', source: '1.2.3.4:7', ageSeconds: 7200, age: '2h' }] }],
    });
    assert.deepEqual(
      report.servers.map((s) => [s.name, s.use, s.free, s.streams]),
      [
        ['task-a', 'streaming', false, 1],
        ['task-b', 'down', false, 0],
        ['task-c', 'maintenance', false, 0],
        ['task-d', 'free', true, 0],
        ['task-z', 'old-worker-only', false, 1],
      ],
    );
    assert.equal(report.queued, 1);
    assert.equal(report.streams, 2);
    assert.equal(report.servers[0]!.since, '2025-01-01T11:58:30Z');
    const table = formatStatus(report);
    assert.match(table, /^HAProxy master 10 · worker 12 · old workers 11 · reloads 2 · streams 2 · free Servers 1 of 4 · queued streamers 1$/m);
    assert.match(rowOf(table, 'task-a')!, /MAINT\s+1 for 1m30s\s+2025-01-01T11:58:30Z\s+maintenance: draining or held; from 1\.2\.3\.4:5$/);
    assert.match(rowOf(table, 'task-b')!, /DOWN\s+-\s+-\s+not free: health check says DOWN$/);
    assert.match(rowOf(table, 'task-c')!, /MAINT\s+-\s+-\s+maintenance: draining, held, or owned by a peer Proxy; takes no new stream here$/);
    assert.match(rowOf(table, 'task-z')!, /^task-z\s+10\.0\.0\.26:1935\s+gone\s+1 for 2h00m\s+2025-01-01T10:00:00Z\s+no longer in the config: an old worker finishes its stream; 1 in old worker 11; from 1\.2\.3\.4:7$/);
  });
});
