// Prometheus metrics of a running daemon (ECS discovery through the emulator, a real HAProxy):
// what a scrape shows before and after a stream, after a fault, and HAProxy's own exporter.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../src/config.js';
import { startDaemon, type Daemon } from '../src/daemon.js';
import { startEcsEmulator, type EcsEmulator } from '../dev/emulator/ecs-emulator.js';
import { silentLogger } from '../src/log.js';
import { Cleanup } from './helpers/processes.js';
import { proxyEnv, startBackends, tempDir, useEmulatorForAws } from './helpers/fixtures.js';
import { openHeldStream } from './helpers/tcp-backends.js';
import { waitFor } from './helpers/wait.js';

const PROXY = '127.0.32.1';
const BACKENDS = ['127.0.32.2', '127.0.32.3'];
const BACKEND_PORT = 19376;
const PORTS = { rtmp: 19377, health: 18017, metrics: 19101, haproxyMetrics: 19102 };

/** One scrape, as `name{labels}` → value. */
async function scrape(url: string): Promise<Map<string, number>> {
  const res = await fetch(url);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /text\/plain/);
  const samples = new Map<string, number>();
  for (const line of (await res.text()).split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (m) samples.set(m[1]!, Number(m[2]));
  }
  return samples;
}

describe('metrics', () => {
  const cleanup = new Cleanup();
  let emulator: EcsEmulator;
  let daemon: Daemon;
  const url = `http://${PROXY}:${PORTS.metrics}/metrics`;

  before(async () => {
    const dir = await tempDir(cleanup, 'metrics');
    emulator = await startEcsEmulator({ host: '127.0.0.1', port: 0 });
    cleanup.defer('emulator', () => emulator.close());
    await startBackends(cleanup, BACKENDS, BACKEND_PORT, { hold: true });
    for (const address of BACKENDS) emulator.addTask({ cluster: 'media', address });
    useEmulatorForAws(cleanup, emulator.url);
    const config = loadConfig({
      ECS_CLUSTER: 'media',
      SERVER_PORT: String(BACKEND_PORT),
      ...proxyEnv(dir, { address: PROXY, rtmp: PORTS.rtmp, health: PORTS.health }),
      METRICS_PORT: String(PORTS.metrics),
      HAPROXY_METRICS_PORT: String(PORTS.haproxyMetrics),
      SYNC_SCHEDULE: '0 0 1 1 *', // only the syncs the test runs
    });
    daemon = startDaemon(config, silentLogger());
    cleanup.defer('daemon', () => daemon.stop({ stopHaproxy: true }));
    assert.ok((await daemon.firstSync).ok);
  });
  after(() => cleanup.run());

  test('servers discovered, busy and free, syncs, config hash; busy/free are live at scrape time', async () => {
    const m = await waitFor(async () => {
      const s = await scrape(url);
      return s.get('rtmp_proxy_syncs_total{result="ok"}') === 1 ? s : undefined;
    }, { timeoutMs: 5000, what: 'the first sync in the metrics' });
    assert.equal(m.get('rtmp_proxy_servers_discovered'), 2);
    assert.equal(m.get('rtmp_proxy_servers_free'), 2);
    assert.equal(m.get('rtmp_proxy_servers_busy'), 0);
    assert.equal(m.get('rtmp_proxy_haproxy_actions_total{action="started"}'), 1);
    assert.ok((m.get('rtmp_proxy_last_successful_sync_timestamp_seconds') ?? 0) > Date.now() / 1000 - 60);
    assert.ok([...m.keys()].some((k) => /^rtmp_proxy_config_info\{sha256="[0-9a-f]{16}"\}$/.test(k)));
    assert.equal(m.get('rtmp_proxy_sync_duration_seconds_count'), 1);
    assert.ok(m.has('rtmp_proxy_process_resident_memory_bytes'));

    const stream = await openHeldStream(PROXY, PORTS.rtmp);
    const live = await scrape(url);
    assert.equal(live.get('rtmp_proxy_servers_busy'), 1, 'read from HAProxy at scrape time, no sync needed');
    assert.equal(live.get('rtmp_proxy_servers_free'), 1);
    assert.equal(live.get('rtmp_proxy_streams'), 1);
    await stream.close();
  });

  test('a failed discovery counts by AWS error code; runtime changes count by kind', async () => {
    emulator.injectFault({ action: 'ListTasks', kind: 'access-denied', times: 1 });
    assert.equal((await daemon.syncNow()).ok, false);
    await waitFor(async () => (await scrape(url)).get('rtmp_proxy_discovery_errors_total{code="AccessDeniedException"}') === 1, {
      timeoutMs: 5000,
      what: 'the discovery error in the metrics',
    });
    // Past the backoff, a new task joins through the Runtime API.
    emulator.addTask({ cluster: 'media', address: '127.0.32.4' });
    await waitFor(async () => (await daemon.syncNow()).ok, { timeoutMs: 10_000, intervalMs: 200, what: 'a successful sync after the backoff' });
    const m = await scrape(url);
    assert.equal(m.get('rtmp_proxy_consecutive_failures'), 0);
    assert.equal(m.get('rtmp_proxy_servers_discovered'), 3);
    assert.equal(m.get('rtmp_proxy_runtime_changes_total{change="added"}'), 1);
  });

  test("HAProxy's own exporter answers on HAPROXY_METRICS_PORT; anything else is 404", async () => {
    const res = await fetch(`http://${PROXY}:${PORTS.haproxyMetrics}/metrics`);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /^haproxy_backend_active_servers\{proxy="bk_rtmp"\} \d+$/m);
    assert.equal((await fetch(`http://${PROXY}:${PORTS.haproxyMetrics}/stats`)).status, 404);
    assert.equal((await fetch(`http://${PROXY}:${PORTS.metrics}/`)).status, 404);
  });
});
