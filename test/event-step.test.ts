// An ECS task event's change applied at once, outside the sync: the pure decision (core/event-step.ts),
// then against a real HAProxy: one command each, the file following, the sync after finding nothing to
// do, and events that arrive while a sync reads and decides.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { loadConfig, type Config } from '../src/config.js';
import { ownerOf } from '../src/core/ownership.js';
import type { MembershipPlan } from '../src/core/plan.js';
import { afterEventStep, afterSyncSteps, planEventStep, withFleetChanges, type EventStepSettings, type FleetChange, type KnownBackend } from '../src/core/event-step.js';
import type { Discovery } from '../src/discovery/types.js';
import { CliSession } from '../src/haproxy/cli-session.js';
import { CliCommandError } from '../src/haproxy/cli-socket.js';
import { HaproxyDriver } from '../src/haproxy/driver.js';
import { RuntimeApi } from '../src/haproxy/runtime-api.js';
import { serverNameForAddress, type RuntimeChanges, type RuntimeServer, type Server } from '../src/model.js';
import { ConfigRenderer, renderSettingsFrom } from '../src/render/template.js';
import { createSyncer, Syncer } from '../src/sync.js';
import { capturingLogger } from './helpers/logs.js';
import { proxyEnv, startBackends, tempDir } from './helpers/fixtures.js';
import { Cleanup } from './helpers/processes.js';
import { greetingVia } from './helpers/tcp-backends.js';

const server = (n: number, address = `10.0.0.${n}`): Server => ({ name: `s${n}`, address, port: 1935 });
const running = (n: number, o: Partial<RuntimeServer> = {}): RuntimeServer => ({ ...server(n), sessions: 0, maintenance: false, status: 'UP', ...o });
const known = (servers: RuntimeServer[], old: Record<string, number> = {}): KnownBackend => ({ servers, sessionsInOldWorkers: new Map(Object.entries(old)) });
const RUNTIME: EventStepSettings = { applyMode: 'runtime', claims: false, busyCheck: false };
const plan = (o: Partial<MembershipPlan>): MembershipPlan => ({ add: [], enable: [], claim: [], disable: [], cut: [], delete: [], conflicts: [], draining: [], held: [], configServers: [], ...o });
const PROXIES = ['arn:aws:ecs:us-east-1:123456789012:task/p/aaaa', 'arn:aws:ecs:us-east-1:123456789012:task/p/bbbb'];

describe('planEventStep: what one event does at once', () => {
  const two = known([running(1), running(2)]);
  const cases: Array<{ name: string; known: KnownBackend | undefined; change: FleetChange; settings?: Partial<EventStepSettings>; expect: string }> = [
    { name: 'a stopping Server that takes streams: drained', known: two, change: { kind: 'removed', server: server(1) }, expect: 'drain' },
    { name: 'a stopping Server already out of rotation: nothing', known: known([running(1, { maintenance: true })]), change: { kind: 'removed', server: server(1) }, expect: 'none' },
    { name: 'a stopping Server HAProxy does not have: nothing', known: two, change: { kind: 'removed', server: server(9) }, expect: 'none' },
    { name: 'a new Server at a free address: added', known: two, change: { kind: 'added', server: server(3) }, expect: 'add' },
    { name: 'a new Server HAProxy has already: left to the sync', known: known([running(1), running(3, { maintenance: true })]), change: { kind: 'added', server: server(3) }, expect: 'none' },
    { name: "a new Server at another Server's address (a stopped task's IP): left to the sync, which holds it", known: known([running(1, { maintenance: true, sessions: 1 })]), change: { kind: 'added', server: server(3, '10.0.0.1') }, expect: 'none' },
    { name: 'a new Server an old worker streams on: left to the sync', known: known([running(1)], { s3: 1 }), change: { kind: 'added', server: server(3) }, expect: 'none' },
    { name: 'several Proxies: a new Server this Proxy owns is claimed (then enabled once the peers confirm)', known: two, change: { kind: 'added', server: server(3) }, settings: { claims: true, ownership: { self: ownerOf('s3', PROXIES)!, proxies: PROXIES } }, expect: 'claim' },
    { name: 'several Proxies: a new Server a peer owns is left to the sync, which holds it', known: two, change: { kind: 'added', server: server(3) }, settings: { claims: true, ownership: { self: PROXIES.find((p) => p !== ownerOf('s3', PROXIES))!, proxies: PROXIES } }, expect: 'none' },
    { name: 'several Proxies, who owns what not known (the Proxy list unread): nothing new is claimed', known: two, change: { kind: 'added', server: server(3) }, settings: { claims: true }, expect: 'none' },
    { name: 'several Proxies: a stopping Server is still drained at once', known: two, change: { kind: 'removed', server: server(2) }, settings: { claims: true }, expect: 'drain' },
    { name: "BUSY_CHECK: a new Server's status page is asked first, in the sync", known: two, change: { kind: 'added', server: server(3) }, settings: { busyCheck: true }, expect: 'none' },
    { name: 'an address change: left to the sync (a reload)', known: two, change: { kind: 'updated', server: server(1, '10.0.0.9') }, expect: 'none' },
    { name: 'APPLY_MODE=reload: left to the sync', known: two, change: { kind: 'removed', server: server(1) }, settings: { applyMode: 'reload' }, expect: 'none' },
    { name: 'what runs is not known (a sync is changing it): left to the sync', known: undefined, change: { kind: 'removed', server: server(1) }, expect: 'none' },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const step = planEventStep(c.known, c.change, { ...RUNTIME, ...c.settings });
      assert.equal(step.kind, c.expect, JSON.stringify(step));
      if (step.kind === 'none') assert.ok(step.why.length > 0, 'says why');
      if (step.kind === 'drain') assert.equal(step.name, c.change.server.name);
      if (step.kind === 'add' || step.kind === 'claim') assert.deepEqual(step.server, c.change.server);
    });
  }

  test('afterEventStep: a drained Server shows in maintenance, a new one routable; applying twice changes nothing more', () => {
    const drained = afterEventStep(known([running(1), running(2)]), { kind: 'drain', name: 's1' });
    assert.deepEqual(drained.servers.map((s) => [s.name, s.maintenance]), [['s1', true], ['s2', false]]);
    const added = afterEventStep(drained, { kind: 'add', server: server(3) });
    assert.deepEqual(added.servers.map((s) => [s.name, s.address, s.maintenance, s.sessions]), [['s1', '10.0.0.1', true, 0], ['s2', '10.0.0.2', false, 0], ['s3', '10.0.0.3', false, 0]]);
    assert.deepEqual(afterEventStep(afterEventStep(added, { kind: 'add', server: server(3) }), { kind: 'drain', name: 's1' }), added);
    const released = afterEventStep(drained, { kind: 'claim', server: server(4) }, false);
    assert.deepEqual(released.servers.map((s) => [s.name, s.maintenance]).at(-1), ['s4', true], 'a claim the peers did not confirm is in HAProxy, out of rotation');
  });

  test("afterSyncSteps: what a sync's accepted steps made of what it decided on; unknown after a refusal or a claim", () => {
    const done = (o: Partial<RuntimeChanges>): RuntimeChanges => ({ added: [], enabled: [], claimed: [], disabled: [], deleted: [], cut: [], ...o });
    const before = { ...known([running(1), running(2, { maintenance: true, sessions: 1 }), running(3, { maintenance: true }), running(4)], { s9: 2 }), running: true, file: 'the file' };
    const steps = plan({ disable: [{ name: 's1', reason: 'removed' }], enable: ['s2', 's7'], cut: ['s2'], delete: ['s3'], add: [{ server: server(5), enable: true }, { server: server(6), enable: false }] });
    const after = afterSyncSteps(before, steps, done({ disabled: ['s1'], enabled: ['s2'], cut: ['s2'], deleted: ['s3'], added: ['s5', 's6'] }), new Set(['s5']), new Set(['s7']));
    assert.deepEqual(
      after?.servers.map((s) => [s.name, s.maintenance, s.sessions]),
      [['s1', true, 0], ['s2', false, 0], ['s4', false, 0], ['s5', false, 0], ['s6', true, 0]],
      's7 stopping (its enable skipped) is no refusal; s6 added held',
    );
    assert.equal(after?.sessionsInOldWorkers.get('s9'), 2);
    assert.deepEqual(Object.keys(after!).sort(), ['servers', 'sessionsInOldWorkers'], 'the snapshot\'s file text is not kept');
    assert.equal(afterSyncSteps(before, steps, done({ disabled: ['s1'], enabled: ['s2'], cut: ['s2'], deleted: ['s3'], added: ['s6'] }), new Set(), new Set(['s7'])), undefined, 'an add refused (maybe half done)');
    assert.equal(afterSyncSteps(before, plan({ delete: ['s3'] }), done({}), new Set(), new Set()), undefined, 'a delete refused');
    assert.equal(afterSyncSteps(before, plan({ claim: ['s4'] }), done({ claimed: ['s4'] }), new Set(), new Set()), undefined, 'claims: the peers decide');
    assert.deepEqual(afterSyncSteps(before, plan({}), done({}), new Set(), new Set())?.servers, before.servers);
  });

  test('withFleetChanges: the events after a discovery, in order, on the fleet it found', () => {
    const fleet = [server(1), server(2)];
    const changes: FleetChange[] = [
      { kind: 'added', server: server(3) },
      { kind: 'removed', server: server(1) },
      { kind: 'updated', server: server(2, '10.0.0.20') },
      { kind: 'added', server: server(3) },
    ];
    assert.deepEqual(withFleetChanges(fleet, changes), [server(2, '10.0.0.20'), server(3)]);
    assert.deepEqual(withFleetChanges(fleet, []), fleet);
    assert.deepEqual(fleet, [server(1), server(2)], 'the fleet given is not changed');
  });
});

const PROXY = { address: '127.0.33.1', rtmp: 19386, health: 18087 };
const BACKEND_PORT = 19387;
const BACKENDS = ['127.0.33.2', '127.0.33.3', '127.0.33.4', '127.0.33.5', '127.0.33.6', '127.0.33.7'];
const asServer = (address: string): Server => ({ name: serverNameForAddress(address, BACKEND_PORT), address, port: BACKEND_PORT });

/** A fleet the test sets; discovery returns a copy. */
class TestFleet implements Discovery {
  servers: Server[] = [];
  set(addresses: string[]) {
    this.servers = addresses.map(asServer);
  }
  async discover() {
    return { servers: [...this.servers], skipped: [] };
  }
}

describe('event steps against a real HAProxy (APPLY_MODE=runtime)', () => {
  const cleanup = new Cleanup();
  let config: Config;
  let driver: HaproxyDriver;
  const fleet = new TestFleet();
  const { logger, lines } = capturingLogger();

  before(async () => {
    const dir = await tempDir(cleanup, 'event-step');
    config = loadConfig({ DISCOVERY: 'static', STATIC_SERVERS: '127.0.0.1:1', SHUTDOWN_GRACE_SECONDS: '0', ...proxyEnv(dir, PROXY) });
    driver = HaproxyDriver.fromConfig(config, logger);
    cleanup.defer('haproxy', () => driver.process.stop());
    await startBackends(cleanup, BACKENDS, BACKEND_PORT);
  });
  after(() => cleanup.run());

  const state = async (address: string) => (await driver.backend()).servers.find((s) => s.address === address);
  const routable = async () => (await driver.backend()).servers.filter((s) => !s.maintenance).map((s) => s.address).sort();
  const linesSince = (from: number) => lines.slice(from).map((l) => `${l.msg} ${l.server ?? ''}`);

  test('a new Server joins and a stopping one leaves with one command each, no sync; the file follows and the sync after changes nothing', async () => {
    const syncer = createSyncer(config, logger, fleet, { driver });
    fleet.set(BACKENDS.slice(0, 2));
    const first = await syncer.sync();
    assert.ok(first.ok && first.action === 'started', JSON.stringify(first));

    fleet.set(BACKENDS.slice(0, 3));
    assert.equal((await syncer.applyEvent({ kind: 'added', server: asServer(BACKENDS[2]!) })).kind, 'add');
    assert.deepEqual(await routable(), BACKENDS.slice(0, 3), 'routable at once');
    const reached = new Set<string>();
    for (let i = 0; i < 6 && !reached.has(BACKENDS[2]!); i++) reached.add(await greetingVia(PROXY.address, PROXY.rtmp));
    assert.ok(reached.has(BACKENDS[2]!), `a streamer reaches the new Server: ${[...reached].join(', ')}`);

    fleet.set(BACKENDS.slice(1, 3));
    assert.equal((await syncer.applyEvent({ kind: 'removed', server: asServer(BACKENDS[0]!) })).kind, 'drain');
    assert.equal((await state(BACKENDS[0]!))?.maintenance, true, 'out of rotation at once');

    await driver.configWritten();
    const file = await readFile(config.haproxyConfig, 'utf8');
    assert.match(file, new RegExp(`server ${asServer(BACKENDS[2]!).name} ${BACKENDS[2]!.replaceAll('.', '\\.')}:${BACKEND_PORT}(?![^\\n]*disabled)`), 'the file has the new Server, in rotation');
    assert.match(file, new RegExp(`server ${asServer(BACKENDS[0]!).name} [^\\n]* disabled\\n`), 'and the stopping one disabled');
    await driver.process.validate(config.haproxyConfig);

    const next = await syncer.sync();
    assert.ok(next.ok, JSON.stringify(next));
    assert.equal(next.action, 'runtime', 'only the drained Server, now idle, is deleted');
    assert.deepEqual(next.changes?.deleted, [asServer(BACKENDS[0]!).name]);
    assert.deepEqual({ added: next.changes?.added, enabled: next.changes?.enabled, disabled: next.changes?.disabled }, { added: [], enabled: [], disabled: [] });
    const quiet = await syncer.sync();
    assert.ok(quiet.ok && quiet.action === 'none', JSON.stringify(quiet));
  });

  test('an event step waits while a sync holds HAProxy, then applies to what that sync left', async () => {
    let release!: () => void;
    const held = driver.exclusively(() => new Promise<void>((r) => (release = r)));
    const syncer = createSyncer(config, logger, fleet, { driver });
    fleet.set(BACKENDS.slice(1, 4));
    const step = syncer.applyEvent({ kind: 'added', server: asServer(BACKENDS[3]!) });
    try {
      // Bounded: a few event-loop turns and socket round trips.
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(await state(BACKENDS[3]!), undefined, 'not applied while the sync holds HAProxy');
    } finally {
      release(); // a failure here must not leave HAProxy locked for the tests after it
    }
    await held;
    assert.equal((await step).kind, 'add');
    assert.equal((await state(BACKENDS[3]!))?.maintenance, false);
  });

  test("what is known to run after a read is the backend, not the config file's text", async () => {
    const read = await driver.snapshot();
    assert.ok(read.running && read.file !== undefined);
    const known = driver.knownBackend();
    assert.deepEqual(known?.servers, read.servers);
    assert.equal(known && 'file' in known, false);
  });

  test('a background file write is rendered only once no change holds or waits for HAProxy', async () => {
    const text = await readFile(config.haproxyConfig, 'utf8');
    let release!: () => void;
    const held = driver.exclusively(() => new Promise<void>((r) => (release = r)));
    let queuedDone = false;
    /** For each render: whether the change queued behind the held lock was done by then. */
    const renders: boolean[] = [];
    try {
      driver.writeConfigSoon(() => {
        renders.push(queuedDone);
        return text;
      });
      const queued = driver.exclusively(async () => {
        await new Promise((r) => setTimeout(r, 20));
        queuedDone = true;
      });
      // Bounded: a few event-loop turns.
      await new Promise((r) => setTimeout(r, 30));
      assert.deepEqual(renders, [], 'not rendered while a change holds HAProxy');
      release();
      await Promise.all([held, queued]);
    } finally {
      release(); // a failure here must not leave HAProxy locked for the tests after it
    }
    await driver.configWritten();
    assert.deepEqual(renders, [true], 'rendered once, after the change that waited');
  });

  test("a sync's many steps of one kind (sent together, in chunks): each accepted or refused on its own, in plan order", async () => {
    const options = new ConfigRenderer(config.haproxyTemplate, renderSettingsFrom(config)).serverOptions;
    const bulk = Array.from({ length: 40 }, (_, i): Server => ({ name: `bulk-${i}`, address: `127.0.3.${i + 1}`, port: 1 }));
    const names = bulk.map((s) => s.name);
    // Five HAProxy has already: their `add server` is refused, the 35 others (sent with them, in chunks) are not.
    const already = [3, 16, 17, 31, 39].map((i) => bulk[i]!);
    assert.deepEqual((await driver.applySteps(plan({ add: already.map((server) => ({ server, enable: false })) }), options)).added, already.map((s) => s.name));
    const from = lines.length;
    const added = await driver.applySteps(plan({ add: bulk.map((server) => ({ server, enable: false })) }), options);
    assert.deepEqual(added.added, names.filter((n) => !already.some((s) => s.name === n)), 'the accepted ones, in plan order');
    assert.deepEqual(lines.slice(from).filter((l) => l.msg === 'server not added; retrying next sync').map((l) => l.server).sort(), already.map((s) => s.name).sort());
    const inHaproxy = (await driver.backend()).servers.filter((s) => names.includes(s.name));
    assert.equal(inHaproxy.length, 40);
    assert.ok(inHaproxy.every((s) => s.maintenance), 'added held, as planned');
    const deleted = await driver.applySteps(plan({ delete: names }), options);
    assert.deepEqual(deleted.deleted, names);
    assert.deepEqual((await driver.backend()).servers.filter((s) => names.includes(s.name)), []);
  });

  test('events that come while a sync asks BUSY_CHECK: a stopping Server is not put back in rotation, a new one waits for its own check', async () => {
    const target = BACKENDS[4]!;
    const name = asServer(target).name;
    const newcomer = asServer(BACKENDS[5]!);
    const asked: string[][] = [];
    let busy = true;
    let gate: Promise<void> | undefined;
    let entered = (): void => undefined;
    const syncer = new Syncer({
      config,
      discovery: fleet,
      haproxy: driver,
      renderer: new ConfigRenderer(config.haproxyTemplate, renderSettingsFrom(config)),
      logger,
      // BUSY_CHECK stand-in: the target streams through another Proxy until the test says otherwise.
      busyCheck: async (servers) => {
        asked.push(servers.map((s) => s.name));
        entered();
        await gate;
        return new Set(busy ? [name] : []);
      },
    });
    fleet.set([...BACKENDS.slice(1, 4), target]);
    const held = await syncer.sync();
    assert.ok(held.ok, JSON.stringify(held));
    assert.deepEqual(held.held, [{ name, reason: 'busy-elsewhere' }], 'added held: busy elsewhere');

    // The next sync would enable it (free now), but ECS begins stopping it while that sync asks.
    busy = false;
    let open!: () => void;
    gate = new Promise<void>((r) => (open = r));
    const inBusyCheck = new Promise<void>((r) => (entered = r));
    const from = lines.length;
    const sync = syncer.sync();
    await inBusyCheck;
    const step = syncer.applyEvent({ kind: 'removed', server: asServer(target) });
    const joined = syncer.applyEvent({ kind: 'added', server: newcomer });
    open();
    const outcome = await sync;
    assert.ok(outcome.ok, JSON.stringify(outcome));
    assert.ok(!(outcome.changes?.enabled ?? []).includes(name) && !(outcome.changes?.added ?? []).includes(name), JSON.stringify(outcome.changes));
    assert.equal((await step).kind, 'none', 'nothing left for the event step');
    const s = await state(target);
    assert.ok(s === undefined || s.maintenance, `never back in rotation: ${JSON.stringify(s)}`);
    assert.ok(!linesSince(from).includes(`server enabled ${name}`), linesSince(from).join('\n'));

    assert.equal((await joined).kind, 'none', 'BUSY_CHECK: a new Server is not added by its event step');
    assert.equal(await state(newcomer.address), undefined, 'nor by the sync that asked before it came');
    fleet.set([...BACKENDS.slice(1, 4), newcomer.address]);
    asked.length = 0;
    gate = undefined;
    const next = await syncer.sync();
    assert.ok(next.ok && next.changes?.added.includes(newcomer.name), JSON.stringify(next));
    assert.ok(asked.some((names) => names.includes(newcomer.name)), 'asked first');
    assert.equal((await state(newcomer.address))?.maintenance, false);
  });

  test("chained changes (an add's `state ready` and `enable health`): one round trip; HAProxy runs each, and a refused one rejects with its words", async (t) => {
    const session = new CliSession(config.haproxySocket);
    t.after(() => session.close());
    const target = asServer(BACKENDS[5]!).name;
    // A connection each (`a; b`), and the kept session the driver uses (one line each, one write).
    for (const api of [new RuntimeApi(config.haproxySocket), new RuntimeApi(config.haproxySocket, '', 5000, session)]) {
      await api.disableServer('bk_rtmp', target);
      await api.changeAll([`set server bk_rtmp/${target} state ready`, `enable health bk_rtmp/${target}`]);
      assert.equal((await state(BACKENDS[5]!))?.maintenance, false);
      await api.disableServer('bk_rtmp', target);
      const refused = await api.changeAll([`set server bk_rtmp/${target} state ready`, 'enable health bk_rtmp/no-such-server']).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(refused instanceof CliCommandError && /No such server/.test(refused.answer), String(refused));
      assert.equal((await state(BACKENDS[5]!))?.maintenance, false, 'the command before the refused one ran: chain only what may run regardless');
      await assert.rejects(api.changeAll(['disable server bk_rtmp/a; enable server bk_rtmp/b']), /must not contain ";"/);
    }
    // Through the master CLI (the admin socket gone), every command of the chain reaches the worker.
    const pids = (await driver.process.masterStatus()).workerPids;
    const viaMaster = RuntimeApi.viaMaster(config.haproxyMasterSocket, pids[pids.length - 1]!);
    await viaMaster.changeAll([`disable server bk_rtmp/${target}`, `enable health bk_rtmp/${target}`]);
    assert.equal((await state(BACKENDS[5]!))?.maintenance, true);
    await viaMaster.changeAll([`set server bk_rtmp/${target} state ready`, `enable health bk_rtmp/${target}`]);
    assert.equal((await state(BACKENDS[5]!))?.maintenance, false);
  });
});
