// End-to-end check of the media rig itself: real nginx-rtmp Servers, real ffmpeg publishers, and
// (DESIGN.md fact 3) a real HAProxy in front with maxconn 1 putting one stream on each Server.
// Addresses: the 127.0.30.x block belongs to this file.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { resolveExecutable, startRtmpServers, type RtmpServer } from '../dev/media/rtmp-server.js';
import { startPublisher, waitUntilPublishing, type Publisher } from './helpers/publisher.js';
import { Cleanup, countProcesses, hasExited } from './helpers/processes.js';
import { tcpConnectable, waitFor } from './helpers/wait.js';

const SERVER_ADDRESSES = ['127.0.30.2', '127.0.30.3'];
const PROXY = { address: '127.0.30.1', port: 19350 };
const PUBLISH_TIMEOUT_MS = 15_000;

const cleanup = new Cleanup();
let workDir = '';
let servers: RtmpServer[] = [];

before(async () => {
  workDir = await mkdtemp(path.join(os.tmpdir(), 'rtmp-proxy-media-rig-'));
  cleanup.defer(`temp dir ${workDir}`, () => rm(workDir, { recursive: true, force: true }));
  servers = await startRtmpServers(SERVER_ADDRESSES, { workDir });
  for (const server of servers) cleanup.defer(`nginx-rtmp ${server.address}`, () => server.stop());
});

after(() => cleanup.run());

function publish(url: string): Publisher {
  const publisher = startPublisher(url);
  cleanup.defer(`ffmpeg → ${url}`, () => publisher.stop());
  return publisher;
}

test('a publisher straight to one Server shows on its stat page only, and leaves when stopped', async (t) => {
  const [first, second] = servers as [RtmpServer, RtmpServer];
  assert.deepEqual(await first.stats(), { publishing: [], clients: 0 });

  const started = Date.now();
  const publisher = publish(first.publishUrl('direct'));
  await waitUntilPublishing(first, 'direct', PUBLISH_TIMEOUT_MS).catch((error: Error) => {
    throw new Error(`${error.message}\nffmpeg stderr:\n${publisher.stderrTail()}`);
  });
  const publishMs = Date.now() - started;

  assert.deepEqual(await first.stats(), { publishing: ['direct'], clients: 1 });
  assert.deepEqual(await second.stats(), { publishing: [], clients: 0 });
  assert.ok(publisher.running(), 'ffmpeg keeps publishing');

  await publisher.stop();
  assert.equal(publisher.running(), false);
  await waitFor(async () => (await first.stats()).publishing.length === 0, {
    timeoutMs: 5000,
    what: `${first.address} to drop the stopped stream`,
  });
  assert.deepEqual(await first.stats(), { publishing: [], clients: 0 });
  t.diagnostic(`publisher start → <publishing/> on the stat page: ${publishMs}ms`);
});

test('through HAProxy (tcp, maxconn 1, balance first) two streams land on two Servers, a third waits', async () => {
  const haproxyBin = await resolveExecutable('haproxy');
  assert.ok(haproxyBin, 'haproxy is installed (Debian package haproxy)');
  const configFile = path.join(workDir, 'haproxy.cfg');
  // balance first would put every stream on the first Server; only maxconn 1 moves the second on.
  await writeFile(
    configFile,
    [
      'global',
      '  maxconn 100',
      'defaults',
      '  mode tcp',
      '  timeout connect 2s',
      '  timeout client 60s',
      '  timeout server 60s',
      '  timeout queue 2s',
      'frontend fe_rtmp',
      `  bind ${PROXY.address}:${PROXY.port}`,
      '  default_backend bk_rtmp',
      'backend bk_rtmp',
      '  balance first',
      ...servers.map((s, i) => `  server media${i} ${s.address}:${s.port} maxconn 1`),
      '',
    ].join('\n'),
  );
  const haproxy = cleanup.track(spawn(haproxyBin, ['-f', configFile, '-db'], { stdio: ['ignore', 'ignore', 'pipe'] }), 'haproxy');
  let haproxyStderr = '';
  haproxy.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    haproxyStderr = (haproxyStderr + chunk).slice(-4000);
  });
  await waitFor(async () => !hasExited(haproxy) && (await tcpConnectable(PROXY.address, PROXY.port)), {
    timeoutMs: 10_000,
    what: `haproxy listening on ${PROXY.address}:${PROXY.port}`,
  }).catch((error: Error) => {
    throw new Error(`${error.message}\nhaproxy stderr:\n${haproxyStderr}`);
  });
  assert.equal(await countProcesses('haproxy', { cmdlineIncludes: configFile }), 1, 'one haproxy process for our config');

  const viaProxy = (key: string) => `rtmp://${PROXY.address}:${PROXY.port}/stream/${key}`;
  const onServer = async () => Promise.all(servers.map(async (s) => (await s.stats()).publishing));

  // One at a time, so "first" is deterministic: s1 must be live before s2 connects.
  const p1 = publish(viaProxy('s1'));
  await waitUntilPublishing(servers[0]!, 's1', PUBLISH_TIMEOUT_MS);
  const p2 = publish(viaProxy('s2'));
  await waitUntilPublishing(servers[1]!, 's2', PUBLISH_TIMEOUT_MS).catch(async (error: Error) => {
    throw new Error(`${error.message}\nstreams per Server: ${JSON.stringify(await onServer())}\nffmpeg s2:\n${p2.stderrTail()}`);
  });
  assert.deepEqual(await onServer(), [['s1'], ['s2']], 'each Server carries exactly one stream');

  // Both Servers busy: a third stream must not be doubled onto either. It queues, times out
  // (timeout queue 2s), and ffmpeg gives up.
  const p3 = publish(viaProxy('s3'));
  const code = await waitFor(async () => (p3.running() ? undefined : { code: await p3.exited }), {
    timeoutMs: 15_000,
    what: 'the third publisher to be turned away',
  });
  assert.notEqual(code.code, 0, 'ffmpeg fails for the third stream');
  assert.deepEqual(await onServer(), [['s1'], ['s2']], 'the busy Servers still carry only their own stream');
  assert.ok(p1.running() && p2.running(), 'the two live streams were not cut');

  await Promise.all([p1.stop(), p2.stop()]);
  await waitFor(async () => (await onServer()).every((names) => names.length === 0), {
    timeoutMs: 5000,
    what: 'both Servers to be idle again',
  });
});
