// A second process on our ports: HAProxy binds with SO_REUSEPORT, so a leftover HAProxy on the same
// address and port would silently take half the streamers with its own maxconn counts. The daemon
// refuses to start instead, naming the port and the process; nothing of ours is started.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DEFAULT_HAPROXY_BIN } from '../src/paths.js';
import { runCli } from './helpers/cli.js';
import { proxyEnv, tempDir } from './helpers/fixtures.js';
import { Cleanup, countProcesses } from './helpers/processes.js';
import { waitFor } from './helpers/wait.js';

const PROXY = { address: '127.0.27.1', rtmp: 19367, health: 18007 };

describe('another process on our ports', () => {
  const cleanup = new Cleanup();
  let dir: string;
  let env: Record<string, string>;

  before(async () => {
    dir = await tempDir(cleanup, 'ports');
    env = { DISCOVERY: 'static', STATIC_SERVERS: '127.0.27.2:19369', METRICS_PORT: 'off', LOG_FORMAT: 'json', ...proxyEnv(dir, PROXY) };
  });
  after(() => cleanup.run());

  test('a foreign listener on RTMP_PORT: run exits 1 naming the port and the process, and starts no HAProxy', async () => {
    const squatter = net.createServer();
    await new Promise<void>((r) => squatter.listen(PROXY.rtmp, PROXY.address, () => r()));
    try {
      const r = await runCli(['run'], env, 20_000);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`RTMP_PORT=${PROXY.rtmp} on ${PROXY.address.replace(/\./g, '\\.')} is already in use by pid ${process.pid} \\(.*node`));
      assert.doesNotMatch(r.stderr, /HEALTH_PORT/, 'only the taken port is named');
      assert.equal(existsSync(env.HAPROXY_PIDFILE!), false, 'no HAProxy was started');
      assert.equal(await countProcesses('haproxy', { cmdlineIncludes: dir }), 0);
    } finally {
      await new Promise((r) => squatter.close(r));
    }
  });

  test('several Proxies: a foreign listener on PEER_PORT is refused the same way', async () => {
    const squatter = net.createServer();
    await new Promise<void>((r) => squatter.listen(19368, PROXY.address, () => r()));
    try {
      const r = await runCli(['run'], { ...env, PROXY_SERVICE: 'rtmp-proxy', PROXY_CLUSTER: 'media', PEER_PORT: '19368', PEER_API_PORT: '18008' }, 20_000);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`PEER_PORT=19368 on ${PROXY.address.replace(/\./g, '\\.')} is already in use by pid ${process.pid}`));
      assert.equal(existsSync(env.HAPROXY_PIDFILE!), false, 'no HAProxy was started');
    } finally {
      await new Promise((r) => squatter.close(r));
    }
  });

  test('a leftover HAProxy on HEALTH_PORT: run refuses and names it; a single sync (once) does not start a second one either', async () => {
    const cfg = path.join(dir, 'leftover.cfg');
    const pidfile = path.join(dir, 'leftover.pid');
    await writeFile(cfg, `global\n  maxconn 10\ndefaults\n  mode http\n  timeout client 5s\nfrontend leftover\n  bind ${PROXY.address}:${PROXY.health}\n  http-request return status 200\n`);
    const started = spawnSync(DEFAULT_HAPROXY_BIN, ['-D', '-f', cfg, '-p', pidfile], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(started.status, 0, started.stderr);
    const leftover = Number(readFileSync(pidfile, 'utf8').trim());
    cleanup.defer('leftover haproxy', () => process.kill(leftover, 'SIGKILL'));
    await waitFor(() => fetch(`http://${PROXY.address}:${PROXY.health}/`).then((res) => res.ok), { timeoutMs: 5000, what: 'the leftover HAProxy to answer' });

    const r = await runCli(['run'], env, 20_000);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`HEALTH_PORT=${PROXY.health} on .* in use by pid ${leftover} \\(.*haproxy.*leftover\\.cfg`));

    const once = await runCli(['once'], env, 20_000);
    assert.equal(once.code, 1);
    assert.match(once.stdout, /haproxy not started: HEALTH_PORT=18007 .*in use by pid/);
    assert.equal(await countProcesses('haproxy', { cmdlineIncludes: env.HAPROXY_CONFIG! }), 0, 'no second HAProxy on the port');
  });
});
