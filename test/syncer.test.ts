// The sync loop with its HAProxy client injected: which stage a failure belongs to, what is kept,
// and what the client is asked to do. The client here records calls; the real one (src/haproxy/driver.ts)
// is proven against a real HAProxy by runtime-apply, haproxy-sync and faults.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadConfig, type Config } from '../src/config.js';
import type { AppliedEventStep, KnownBackend } from '../src/core/event-step.js';
import type { HaproxySnapshot } from '../src/core/reconcile.js';
import type { HaproxyClient } from '../src/haproxy/driver.js';
import { ConfigValidationError } from '../src/haproxy/process.js';
import { silentLogger } from '../src/log.js';
import type { HealthState, RuntimeChanges, RuntimeServer, Server, SyncFailure, SyncOutcome } from '../src/model.js';
import { ConfigRenderer, renderSettingsFrom } from '../src/render/template.js';
import { Syncer } from '../src/sync.js';

const fleet: Server[] = [
  { name: 's1', address: '10.0.0.1', port: 1935 },
  { name: 's2', address: '10.0.0.2', port: 1935 },
];

/** Records what the Syncer asks; `fail` makes one method throw. */
class RecordingClient implements HaproxyClient {
  calls: string[] = [];
  snapshotValue: HaproxySnapshot = { running: false, file: undefined, servers: [], sessionsInOldWorkers: new Map() };
  backendValue: RuntimeServer[] = [];
  fail: Partial<Record<keyof HaproxyClient, Error>> = {};
  private record(name: keyof HaproxyClient) {
    this.calls.push(name);
    const e = this.fail[name];
    if (e) throw e;
  }
  async snapshot() {
    this.record('snapshot');
    return this.snapshotValue;
  }
  /** What peek's stillCurrent() answers: false as if an event step changed HAProxy during the read. */
  peekStaysCurrent = true;
  /** What peek's knownSince() answers: undefined, as when more than event steps changed HAProxy since the read. */
  knownSinceValue: HaproxySnapshot | undefined = undefined;
  /** What knownSince()'s stillKnown() answers: false as if another event step came after it. */
  knownStays = true;
  private locked = false;
  async peek() {
    this.record('peek');
    return {
      snapshot: this.snapshotValue,
      stillCurrent: () => this.peekStaysCurrent,
      knownSince: async () => {
        // Recorded with where it was asked: a decision on what is known is taken before the lock when it can be.
        this.calls.push(this.locked ? 'knownSince under the lock' : 'knownSince');
        const snapshot = this.knownSinceValue;
        return snapshot && { snapshot, stillKnown: () => this.knownStays };
      },
    };
  }
  async applySteps(): Promise<RuntimeChanges> {
    this.record('applySteps');
    return { added: [], enabled: [], claimed: [], disabled: [], deleted: [], cut: [] };
  }
  async backend() {
    this.record('backend');
    return { servers: this.backendValue, sessionsInOldWorkers: new Map() };
  }
  async readBack() {
    this.record('readBack');
    return { servers: this.backendValue, sessionsInOldWorkers: new Map() };
  }
  /** What knownBackend() answers after applySteps: undefined, as when a step was refused (then a read back). */
  knownValue: KnownBackend | undefined = undefined;
  knownBackend() {
    return this.knownValue;
  }
  async exclusively<T>(fn: () => Promise<T>): Promise<T> {
    this.locked = true;
    try {
      return await fn();
    } finally {
      this.locked = false;
    }
  }
  async applyEventStep(): Promise<AppliedEventStep> {
    this.record('applyEventStep');
    return { kind: 'none', why: 'recorded', settled: false };
  }
  async settleClaims() {
    this.record('settleClaims');
  }
  /** The texts writeConfig was given. */
  written: string[] = [];
  async writeConfig(text: string) {
    this.record('writeConfig');
    this.written.push(text);
  }
  writeConfigSoon() {
    this.record('writeConfigSoon');
  }
  async configWritten() {
    this.record('configWritten');
  }
  async install() {
    this.record('install');
  }
  async startWithLastConfig() {
    this.record('startWithLastConfig');
    return false;
  }
  /** What the health page was told, in order. */
  health: HealthState[] = [];
  async setHealth(state: HealthState) {
    this.record('setHealth');
    this.health.push(state);
  }
}

describe('Syncer with an injected HAProxy client', () => {
  let dir: string;
  let config: Config;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'rtmp-proxy-syncer-'));
    config = loadConfig({ DISCOVERY: 'static', STATIC_SERVERS: '10.0.0.1:1935', HAPROXY_CONFIG: path.join(dir, 'haproxy.cfg'), HAPROXY_SOCKET: path.join(dir, 'admin.sock') });
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const syncerWith = (client: HaproxyClient, o: { discover?: () => Promise<Server[]>; template?: string; renderer?: ConfigRenderer } = {}) =>
    new Syncer({
      config,
      haproxy: client,
      renderer: o.renderer ?? new ConfigRenderer(o.template ?? config.haproxyTemplate, renderSettingsFrom(config)),
      discovery: { discover: async () => ({ servers: await (o.discover ?? (async () => fleet))(), skipped: [] }) },
      logger: silentLogger(),
      now: () => 1_000_000,
      random: () => 0,
    });
  const running = (servers: Server[]) => servers.map((s) => ({ ...s, sessions: 0, maintenance: false, status: 'UP' }));
  /** A syncer that started HAProxy with `fleet`, which now runs as rendered; its discovery answers `discovered.servers`. */
  async function startedSyncer() {
    const client = new RecordingClient();
    const renderer = new ConfigRenderer(config.haproxyTemplate, renderSettingsFrom(config));
    const discovered = { servers: fleet };
    const syncer = syncerWith(client, { renderer, discover: async () => discovered.servers });
    assert.ok((await syncer.sync()).ok); // start: the fleet rendered
    client.snapshotValue = { running: true, file: renderer.render(fleet.map((s) => ({ ...s, draining: false }))), servers: running(fleet), sessionsInOldWorkers: new Map() };
    return { client, renderer, syncer, discovered };
  }
  const failure = (o: SyncOutcome): SyncFailure => {
    assert.equal(o.ok, false, 'the sync failed');
    return o as SyncFailure;
  };

  test('a shutdown that holds the health page down while a sync decides: the sync does not turn it back up', async () => {
    const client = new RecordingClient();
    let asked!: () => void;
    const busyCheckAsked = new Promise<void>((r) => (asked = r));
    let answer!: (busy: Set<string>) => void;
    const syncer = new Syncer({
      config,
      haproxy: client,
      renderer: new ConfigRenderer(config.haproxyTemplate, renderSettingsFrom(config)),
      discovery: { discover: async () => ({ servers: fleet, skipped: [] }) },
      logger: silentLogger(),
      // Deciding: BUSY_CHECK's pages are asked after the sync read its state, before it takes the decision.
      busyCheck: () => {
        asked();
        return new Promise<Set<string>>((r) => (answer = r));
      },
    });
    const sync = syncer.sync();
    await busyCheckAsked;
    await syncer.holdHealthDown();
    answer(new Set());
    const outcome = await sync;
    assert.ok(outcome.ok && outcome.action === 'started', JSON.stringify(outcome));
    assert.deepEqual(client.health, ['down'], 'held down, never turned back up');
  });

  test('not running: the rendered config is installed with a start, then the health page turns up', async () => {
    const client = new RecordingClient();
    const outcome = await syncerWith(client).sync();
    assert.ok(outcome.ok && outcome.action === 'started');
    assert.deepEqual(client.calls, ['snapshot', 'install', 'readBack', 'setHealth']);
  });

  const stages: Array<{ description: string; setup: (c: RecordingClient) => void; template?: string; stage: string; calls: string[] }> = [
    { description: 'the snapshot fails: apply', setup: (c) => (c.fail.snapshot = new Error('no answer')), stage: 'apply', calls: ['snapshot'] },
    {
      description: 'haproxy -c rejects the text: validate',
      setup: (c) => (c.fail.install = new ConfigValidationError('haproxy.cfg', '[ALERT] bad')),
      stage: 'validate',
      calls: ['snapshot', 'install'],
    },
    { description: 'the start fails: apply', setup: (c) => (c.fail.install = new Error('did not come up')), stage: 'apply', calls: ['snapshot', 'install'] },
    { description: 'the template does not render: render, HAProxy untouched', setup: () => {}, template: 'BROKEN', stage: 'render', calls: ['snapshot'] },
  ];
  for (const s of stages) {
    test(`${s.description}; nothing else is asked and the health page stays as it was`, async () => {
      const client = new RecordingClient();
      s.setup(client);
      let template: string | undefined;
      if (s.template) {
        template = path.join(dir, 'broken.ejs');
        await writeFile(template, '<%= servers.map((s) => s.nope.deeper).join() %>');
      }
      const f = failure(await syncerWith(client, template ? { template } : {}).sync());
      assert.equal(f.stage, s.stage);
      assert.deepEqual(client.calls, s.calls);
      assert.equal(f.retryInMs, undefined);
    });
  }

  test('a failed discovery keeps HAProxy running with the last config and backs off; the next tick does not call discovery', async () => {
    const client = new RecordingClient();
    let discoveries = 0;
    const syncer = syncerWith(client, {
      discover: async () => {
        discoveries++;
        throw Object.assign(new Error('Rate exceeded'), { code: 'ThrottlingException' });
      },
    });
    const first = failure(await syncer.sync());
    assert.equal(first.stage, 'discovery');
    assert.equal(first.code, 'ThrottlingException');
    const second = failure(await syncer.sync());
    assert.equal(second.stage, 'backoff');
    assert.equal(second.retryInMs, 500);
    assert.equal(discoveries, 1);
    assert.deepEqual(client.calls, ['startWithLastConfig', 'startWithLastConfig']);
  });

  test('running and in agreement: nothing is changed and the snapshot serves as the backend', async () => {
    const client = new RecordingClient();
    const syncer = syncerWith(client);
    assert.ok((await syncer.sync()).ok);
    const renderer = new ConfigRenderer(config.haproxyTemplate, renderSettingsFrom(config));
    await renderer.load();
    const servers = fleet.map((s) => ({ ...s, sessions: 0, maintenance: false, status: 'UP' }));
    client.snapshotValue = { running: true, file: renderer.render(fleet.map((s) => ({ ...s, draining: false }))), servers, sessionsInOldWorkers: new Map() };
    client.calls = [];
    const outcome = await syncer.sync();
    assert.ok(outcome.ok && outcome.action === 'none');
    assert.deepEqual(client.calls, ['snapshot']);
    assert.deepEqual(outcome.backend?.map((b) => b.name), ['s1', 's2']);
  });

  test('each fleet is rendered once: what runs was rendered by the sync that brought it there', async () => {
    const { client, renderer, syncer, discovered } = await startedSyncer();
    assert.equal(renderer.renders, 1);
    for (let i = 0; i < 3; i++) assert.ok((await syncer.sync()).ok);
    assert.equal(renderer.renders, 1, 'steady syncs render nothing new');
    discovered.servers = [...fleet, { name: 's3', address: '10.0.0.3', port: 1935 }];
    client.backendValue = running(discovered.servers);
    client.calls = [];
    const outcome = await syncer.sync();
    assert.ok(outcome.ok && outcome.action === 'runtime', JSON.stringify(outcome));
    assert.deepEqual(client.calls, ['snapshot', 'applySteps', 'readBack', 'writeConfig']);
    assert.equal(renderer.renders, 2, 'a change renders the new backend once');

    // After an ECS task event: the change is live once applied; the file is handed over to be written in the background.
    const three = discovered.servers;
    client.snapshotValue = { running: true, file: renderer.render(three.map((s) => ({ ...s, draining: false }))), servers: running(three), sessionsInOldWorkers: new Map() };
    discovered.servers = [...three, { name: 's4', address: '10.0.0.4', port: 1935 }];
    client.backendValue = running(discovered.servers);
    client.calls = [];
    const deferred = await syncer.sync({ deferConfigFile: true });
    assert.ok(deferred.ok && deferred.action === 'runtime', JSON.stringify(deferred));
    assert.deepEqual(client.calls, ['snapshot', 'applySteps', 'readBack', 'writeConfigSoon']);
  });

  test("a runtime change whose steps were all accepted: what runs is what they made of it, not read under the lock; the backend is read after", async () => {
    const { client, renderer, syncer, discovered } = await startedSyncer();
    discovered.servers = [...fleet, { name: 's3', address: '10.0.0.3', port: 1935 }];
    client.knownValue = { servers: running(discovered.servers), sessionsInOldWorkers: new Map() };
    client.backendValue = running(discovered.servers);
    client.calls = [];
    const change = await syncer.sync();
    assert.ok(change.ok && change.action === 'runtime', JSON.stringify(change));
    assert.deepEqual(client.calls, ['snapshot', 'applySteps', 'writeConfig', 'backend']);
    assert.deepEqual(change.backend?.map((b) => b.name), ['s1', 's2', 's3']);
    assert.equal(client.written.at(-1), renderer.render(discovered.servers.map((s) => ({ ...s, draining: false }))), 'the file follows what the steps made');
  });

  test('a sync that looks first (the scheduled ones): nothing to do, nothing else asked; something to do, applied from the look, or from what event steps made of it, decided before the lock', async () => {
    const { client, syncer, discovered } = await startedSyncer();
    const look = { lookFirst: true, deferConfigFile: true };

    client.calls = [];
    const steady = await syncer.sync(look);
    assert.ok(steady.ok && steady.action === 'none', JSON.stringify(steady));
    assert.deepEqual(client.calls, ['peek'], 'the look alone: no snapshot under the lock');
    assert.deepEqual(steady.backend?.map((b) => b.name), ['s1', 's2'], 'the look serves as the backend');

    // HAProxy changed during the read, not by event steps alone: the look does not stand; read again under the lock.
    client.peekStaysCurrent = false;
    client.calls = [];
    assert.ok((await syncer.sync(look)).ok);
    assert.deepEqual(client.calls, ['peek', 'knownSince', 'snapshot']);
    client.peekStaysCurrent = true;

    // Something to do, and nothing changed HAProxy since the look: applied from it, no second read under the lock.
    discovered.servers = [...fleet, { name: 's3', address: '10.0.0.3', port: 1935 }];
    client.backendValue = running(discovered.servers);
    client.calls = [];
    const change = await syncer.sync(look);
    assert.ok(change.ok && change.action === 'runtime', JSON.stringify(change));
    assert.deepEqual(client.calls, ['peek', 'applySteps', 'readBack', 'writeConfigSoon']);

    // Something to do, but HAProxy changed after the look, not by event steps alone: read and decided again under the lock.
    client.peekStaysCurrent = false;
    client.calls = [];
    const again = await syncer.sync(look);
    assert.ok(again.ok && again.action === 'runtime', JSON.stringify(again));
    assert.deepEqual(client.calls, ['peek', 'knownSince', 'snapshot', 'applySteps', 'readBack', 'writeConfigSoon']);

    // Only event steps changed it since the look: decided again on what they made of it, before the lock
    // and unread; under the lock, nothing changed since, so it is only applied.
    client.knownSinceValue = client.snapshotValue;
    client.calls = [];
    const known = await syncer.sync(look);
    assert.ok(known.ok && known.action === 'runtime', JSON.stringify(known));
    assert.deepEqual(client.calls, ['peek', 'knownSince', 'applySteps', 'readBack', 'writeConfigSoon']);

    // Event steps keep coming after each of those decisions: three tries before the lock, then decided under it.
    client.knownStays = false;
    client.calls = [];
    const busy = await syncer.sync(look);
    assert.ok(busy.ok && busy.action === 'runtime', JSON.stringify(busy));
    assert.deepEqual(client.calls, ['peek', 'knownSince', 'knownSince', 'knownSince', 'knownSince under the lock', 'applySteps', 'readBack', 'writeConfigSoon']);
    client.knownStays = true;

    // What is known would call for a reload (its file differs): a reload must hold what is busy right now, so read under the lock.
    client.knownSinceValue = { ...client.snapshotValue, file: '# not what runs\n' };
    client.calls = [];
    const read = await syncer.sync(look);
    assert.ok(read.ok && read.action === 'runtime', JSON.stringify(read));
    assert.deepEqual(client.calls, ['peek', 'knownSince', 'snapshot', 'applySteps', 'readBack', 'writeConfigSoon']);
  });
});
