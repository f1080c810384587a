// The kept CLI connection the daemon's changes go through, against a real HAProxy (master-worker):
// answers in order also when batches overlap, refusals with HAProxy's text, and reloads it did not
// make: its changes still reach the worker that takes new streams, and the old worker is let go.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CliSession, IDLE_CHECK_MS } from '../src/haproxy/cli-session.js';
import { sendCliCommand } from '../src/haproxy/cli-socket.js';
import { HaproxyProcess } from '../src/haproxy/process.js';
import { RuntimeApi } from '../src/haproxy/runtime-api.js';
import { silentLogger } from '../src/log.js';
import { Cleanup } from './helpers/processes.js';
import { waitFor } from './helpers/wait.js';

/** Addresses nothing listens on: the servers are only names and states here. */
const SERVER = (i: number) => `127.0.57.${i}:19480`;

describe('CliSession against a real HAProxy', () => {
  const cleanup = new Cleanup();
  let dir = '';
  let admin = '';
  let haproxy: HaproxyProcess;
  /** The worker that takes new connections, asked on a connection of its own. */
  const current = (cmd: string) => sendCliCommand(admin, cmd);
  const oldWorkers = async () => (await haproxy.masterStatus()).oldWorkerPids;
  const reloadFromOutside = async () => {
    const before = (await haproxy.masterStatus()).workerPids;
    await sendCliCommand(`${admin}.master`, 'reload');
    await waitFor(async () => (await haproxy.masterStatus()).workerPids.some((p) => !before.includes(p)), { timeoutMs: 10_000, what: 'a new worker' });
    await waitFor(async () => /^Pid: \d+$/m.test(await current('show info').catch(() => '')), { timeoutMs: 10_000, what: 'the new worker to answer' });
  };

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'rtmp-proxy-cli-session-'));
    cleanup.defer('temp dir', () => rm(dir, { recursive: true, force: true }));
    admin = path.join(dir, 'admin.sock');
    const configPath = path.join(dir, 'haproxy.cfg');
    await writeFile(
      configPath,
      [
        'global',
        '  master-worker',
        `  stats socket ${admin} mode 600 level admin expose-fd listeners`,
        // Shorter than the waits below: the session must outlive it.
        '  stats timeout 1s',
        'defaults',
        '  mode tcp',
        '  timeout connect 1s',
        '  timeout client 5s',
        '  timeout server 5s',
        'backend bk',
        '  balance roundrobin',
        `  server s1 ${SERVER(1)}`,
        `  server s2 ${SERVER(2)}`,
        '',
      ].join('\n'),
    );
    haproxy = new HaproxyProcess({ bin: 'haproxy', configPath, pidfile: path.join(dir, 'haproxy.pid'), masterSocket: `${admin}.master`, logger: silentLogger() });
    cleanup.defer('haproxy', () => haproxy.stop());
    await haproxy.start();
  });
  after(() => cleanup.run());

  test('batches written before the last one answered: each gets its own answers, in order', async (t) => {
    const session = new CliSession(admin);
    t.after(() => session.close());
    const [first, second, third] = await Promise.all([
      session.run(['disable server bk/s1', 'disable server bk/nope']),
      session.run(['add server bk/s3 ' + SERVER(3)]),
      session.run(['enable server bk/s1', 'del server bk/s3']),
    ]);
    assert.deepEqual(first, ['', 'No such server.\n']);
    assert.deepEqual(second, ['New server registered.\n']);
    assert.deepEqual(third, ['', 'Server deleted.\n']);
    assert.doesNotMatch(await current('show stat bk 4 -1'), /MAINT/, 's1 back in rotation');
    await assert.rejects(session.run(['show info\nshutdown sessions server bk/s1']), /one line/);
  });

  test('changes through a session: applied in the worker, refusals rejected with what HAProxy said, one connection for all', async (t) => {
    const session = new CliSession(admin);
    t.after(() => session.close());
    const api = new RuntimeApi(admin, '', 5000, session);
    await api.addServer('bk', { name: 's4', address: '127.0.57.4', port: 19480 }, { enable: true, options: 'check weight 10' });
    await api.disableServer('bk', 's2');
    await assert.rejects(api.disableServer('bk', 'nope'), /haproxy refused "disable server bk\/nope": No such server\./);
    const servers = await new RuntimeApi(admin).servers('bk');
    assert.deepEqual(
      servers.map((s) => [s.name, s.maintenance]),
      [
        ['s1', false],
        ['s2', true],
        ['s4', false],
      ],
    );
    // Longer than `stats timeout 1s`, shorter than the idle check: HAProxy kept the session open.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await api.enableServer('bk', 's2');
    await api.disableServer('bk', 's4');
    await api.deleteServer('bk', 's4');
    // Besides this command's own connection, one CLI session: the one opened before the wait (not age=0s).
    const cliSessions = (await current('show sess')).split('\n').filter((l) => /fe=GLOBAL/.test(l));
    assert.equal(cliSessions.length, 2, cliSessions.join('\n'));
    assert.equal(cliSessions.filter((l) => / age=0s /.test(l)).length, 1, cliSessions.join('\n'));
  });

  test('reloaded by someone else: the next change reaches the new worker, and the old one is let go', async (t) => {
    const session = new CliSession(admin);
    t.after(() => session.close());
    const api = new RuntimeApi(admin, '', 5000, session);
    await api.disableServer('bk', 's1');
    await reloadFromOutside();
    assert.doesNotMatch(await current('show stat bk 4 -1'), /MAINT/, 'the new worker starts from the file: s1 in rotation');
    await api.disableServer('bk', 's1');
    assert.match(await current('show stat bk 4 -1'), /^bk,s1,.*MAINT/m, 'the change reached the new worker');
    await waitFor(async () => (await oldWorkers()).length === 0, { timeoutMs: 10_000, what: 'the old worker to exit' });
    await api.enableServer('bk', 's1');
  });

  test('an idle session lets go of a worker reloaded by someone else within its idle check', async (t) => {
    const session = new CliSession(admin);
    t.after(() => session.close());
    await session.run(['disable server bk/s2']);
    await reloadFromOutside();
    await waitFor(async () => (await oldWorkers()).length === 0, { timeoutMs: 4 * IDLE_CHECK_MS, what: 'the old worker to exit' });
    assert.deepEqual(await session.run(['enable server bk/s2']), [''], 'and the session opens again on the next batch');
  });

  test('HAProxy stopped and started again: the next batch connects to the new process', async (t) => {
    const session = new CliSession(admin);
    t.after(() => session.close());
    await session.run(['disable server bk/s2']);
    await haproxy.stop();
    await assert.rejects(session.run(['enable server bk/s2']), /ENOENT|ECONNREFUSED|closed/);
    await haproxy.start();
    assert.deepEqual(await session.run(['disable server bk/s2']), ['']);
    assert.match(await current('show stat bk 4 -1'), /^bk,s2,.*MAINT/m);
  });
});
