// The `rtmp-proxy` command as a user runs it: a real process, real HAProxy, the ECS emulator over HTTP.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { access, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startEcsEmulator, type EcsEmulator } from '../dev/emulator/ecs-emulator.js';
import { CLI, runCli } from './helpers/cli.js';
import { Cleanup, countProcesses } from './helpers/processes.js';
import { startTcpBackend } from './helpers/tcp-backends.js';
import { waitFor } from './helpers/wait.js';

const PROXY = '127.0.25.1';
const BACKENDS = ['127.0.25.2', '127.0.25.3'];
const BACKEND_PORT = 19365;


describe('rtmp-proxy CLI', () => {
  const cleanup = new Cleanup();
  let emulator: EcsEmulator;
  let dir: string;
  let env: Record<string, string>;

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'rtmp-proxy-cli-'));
    cleanup.defer('temp dir', () => rm(dir, { recursive: true, force: true }));
    emulator = await startEcsEmulator({ host: '127.0.0.1', port: 0 });
    cleanup.defer('emulator', () => emulator.close());
    for (const address of BACKENDS) {
      const backend = await startTcpBackend(address, BACKEND_PORT);
      cleanup.defer(`backend ${address}`, () => backend.close());
      emulator.addTask({ cluster: 'media', address });
    }
    env = {
      ECS_CLUSTER: 'media',
      SERVER_PORT: String(BACKEND_PORT),
      BIND_ADDRESS: PROXY,
      RTMP_PORT: '19366',
      HEALTH_PORT: '18006',
      HAPROXY_CONFIG: path.join(dir, 'haproxy.cfg'),
      HAPROXY_PIDFILE: path.join(dir, 'haproxy.pid'),
      HAPROXY_SOCKET: path.join(dir, 'admin.sock'),
      SYNC_SCHEDULE: '* * * * * *',
      SHUTDOWN_GRACE_SECONDS: '2',
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_ENDPOINT_URL_ECS: emulator.url,
      AWS_ENDPOINT_URL_EC2: emulator.url,
    };
    cleanup.defer('haproxy', async () => {
      const pid = Number(await readFile(env.HAPROXY_PIDFILE!, 'utf8').catch(() => '0'));
      try {
        if (pid > 0) process.kill(pid, 'SIGTERM');
      } catch {
        // already gone: the run test stops it
      }
    });
  });
  after(() => cleanup.run());

  test('--help for the tool and every command', async () => {
    const top = await runCli(['--help'], {});
    assert.equal(top.code, 0);
    assert.match(top.stdout, /Usage: rtmp-proxy <command>/);
    for (const command of ['run', 'once', 'render']) {
      const r = await runCli([command, '--help'], {});
      assert.equal(r.code, 0, command);
      assert.match(r.stdout, new RegExp(`Usage: rtmp-proxy ${command}`));
    }
    const unknown = await runCli(['launch'], {});
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown command "launch"/);
  });

  test('a bad setting stops the start, naming the variable, its value and what is allowed', async () => {
    const r = await runCli(['once'], { ...env, RTMP_PORT: '99999', SERVER_ADDRESS: 'elastic' });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /RTMP_PORT="99999" is not valid: a TCP port/);
    assert.match(r.stderr, /SERVER_ADDRESS="elastic" is not valid: one of private, public/);
    await assert.rejects(access(env.HAPROXY_CONFIG!), 'nothing was written');
  });

  test('render prints the config the fleet gives and changes nothing', async () => {
    const r = await runCli(['render'], env);
    assert.equal(r.code, 0, r.stderr);
    for (const address of BACKENDS) assert.match(r.stdout, new RegExp(`server task-[0-9a-f]{32} ${address.replace(/\./g, '\\.')}:${BACKEND_PORT} check maxconn 1 weight 10`));
    await assert.rejects(access(env.HAPROXY_CONFIG!), 'render wrote no file');
  });

  test('once: a sync that starts HAProxy exits 0; a failed discovery exits 1', async () => {
    const r = await runCli(['once'], env);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const line = JSON.parse(r.stdout.trim().split('\n').pop()!);
    assert.equal(line.action, 'started');
    assert.equal(line.servers, 2);
    assert.equal((await fetch(`http://${PROXY}:${env.HEALTH_PORT}/`)).status, 200);

    emulator.injectFault({ action: 'ListTasks', kind: 'cluster-not-found', times: Infinity });
    try {
      const failed = await runCli(['once'], env);
      assert.equal(failed.code, 1);
      assert.match(failed.stdout, /"code":"ClusterNotFoundException"/);
    } finally {
      emulator.clearFaults();
    }
  });

  test('run: syncs on the schedule; SIGTERM stops HAProxy and exits 0', async () => {
    const child = spawn(process.execPath, [CLI, 'run'], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    cleanup.track(child, 'rtmp-proxy run');
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));

    // A new task is picked up by a scheduled sync (every second here), without a restart.
    const task = emulator.addTask({ cluster: 'media', address: '127.0.25.4' });
    const taskName = `task-${task.split('/').pop()}`;
    const syncLines = () => stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
    await waitFor(() => syncLines().some((l) => l.action === 'runtime' && l.added?.includes(taskName)), {
      timeoutMs: 10_000,
      what: 'a scheduled sync to add the new task',
    });
    emulator.removeTask(task);

    child.kill('SIGTERM');
    assert.equal(await exited, 0);
    assert.match(stdout, /"msg":"rtmp-proxy stopped"/);
    assert.equal(await countProcesses('haproxy', { cmdlineIncludes: dir }), 0, 'HAProxy stopped with the daemon');
  });
});
