// The decisions of one sync, as tables: data in, decision out, no HAProxy (src/core/reconcile.ts).
// The real-HAProxy suites (runtime-apply, haproxy-sync, faults) prove that the driver carries them out.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  adoptDrains,
  afterFailure,
  afterSuccess,
  backoffRemaining,
  decide,
  fileAfterSteps,
  guardFleet,
  healthToSet,
  INITIAL_SYNC_STATE,
  type Change,
  type DecideInput,
  type HaproxySnapshot,
  type SyncSettings,
  type SyncState,
} from '../src/core/reconcile.js';
import { ownerOf } from '../src/core/ownership.js';
import { renderedFromRuntime } from '../src/core/plan.js';
import { sortServers, type HoldReason, type RenderedServer, type RuntimeServer, type Server } from '../src/model.js';

const NOW = 1_000_000;
const server = (n: number, address = `10.0.0.${n}`): Server => ({ name: `s${n}`, address, port: 1935 });
const fleetOf = (...ns: number[]) => ns.map((n) => server(n));
const runningServer = (n: number, o: { sessions?: number; maintenance?: boolean; address?: string } = {}): RuntimeServer => ({
  name: `s${n}`,
  address: o.address ?? `10.0.0.${n}`,
  port: 1935,
  sessions: o.sessions ?? 0,
  maintenance: o.maintenance ?? false,
  status: o.maintenance ? 'MAINT' : 'UP',
});
/** A stand-in template: one line per server, `disabled` for those held or draining; `version` stands for the template's text. */
const line = (s: RenderedServer) => `server ${s.name} ${s.address}:${s.port}${s.draining ? ' disabled' : ''}`;
const templateV = (version: string) => (servers: readonly RenderedServer[], peers: readonly RenderedServer[] = []) =>
  [`template ${version}`, ...(sortServers(servers) as RenderedServer[]).map(line), ...(sortServers(peers) as RenderedServer[]).map(line)].join('\n');
const render = templateV('v1');
/** HAProxy running `servers`, with the file on disk agreeing (rendered from them by the same template). */
const runs = (servers: RuntimeServer[], o: { old?: Record<string, number>; file?: string } = {}): HaproxySnapshot => ({
  running: true,
  file: o.file ?? render(renderedFromRuntime(servers)),
  servers,
  sessionsInOldWorkers: new Map(Object.entries(o.old ?? {})),
});
const notRunning: HaproxySnapshot = { running: false, file: undefined, servers: [], sessionsInOldWorkers: new Map() };
const RUNTIME: SyncSettings = { applyMode: 'runtime', maxDropPercent: 50 };
const RELOAD: SyncSettings = { applyMode: 'reload', maxDropPercent: 50 };

/** The decision, reduced to what a reader checks: the change's kind and its steps or reason, held and draining. */
interface Expected {
  kind: Change['kind'];
  add?: Array<[string, boolean]>;
  enable?: string[];
  claim?: string[];
  disable?: Array<[string, string]>;
  cut?: string[];
  delete?: string[];
  reason?: RegExp;
  /** Lines the started/reloaded config must contain. */
  textHas?: string[];
  held?: Array<[string, HoldReason]>;
  draining?: string[];
  drainingSince?: Record<string, number>;
}

function summarize(input: DecideInput): Expected {
  const d = decide(input);
  const out: Expected = { kind: d.change.kind };
  if (d.change.kind === 'runtime') {
    const p = d.change.plan;
    out.add = p.add.map((a) => [a.server.name, a.enable]);
    out.enable = p.enable;
    if (p.claim.length > 0) out.claim = p.claim;
    out.disable = p.disable.map((x) => [x.name, x.reason]);
    out.cut = p.cut;
    out.delete = p.delete;
  }
  out.held = d.held.map((h) => [h.name, h.reason]);
  out.draining = d.draining;
  out.drainingSince = Object.fromEntries(d.state.drainingSince);
  return out;
}

const base = { state: INITIAL_SYNC_STATE, busyElsewhere: new Set<string>(), settings: RUNTIME, now: NOW, render };

const cases: Array<{ description: string; input: DecideInput; expected: Expected }> = [
  {
    description: 'steady fleet, file agrees: nothing to do',
    input: { ...base, fleet: fleetOf(1, 2), snapshot: runs([runningServer(1, { sessions: 1 }), runningServer(2)]) },
    expected: { kind: 'none', held: [], draining: [], drainingSince: {} },
  },
  {
    description: 'a new Server: added and enabled through the Runtime API',
    input: { ...base, fleet: fleetOf(1, 2), snapshot: runs([runningServer(1)]) },
    expected: { kind: 'runtime', add: [['s2', true]], enable: [], disable: [], cut: [], delete: [], held: [], draining: [], drainingSince: {} },
  },
  {
    description: 'a removed idle Server: disabled, then deleted',
    input: { ...base, fleet: fleetOf(1), snapshot: runs([runningServer(1), runningServer(2)]) },
    expected: { kind: 'runtime', add: [], enable: [], disable: [['s2', 'removed']], cut: [], delete: ['s2'], held: [], draining: [], drainingSince: {} },
  },
  {
    description: 'a removed Server carrying a stream: drained, kept, its drain clock starts now',
    input: { ...base, fleet: fleetOf(1), snapshot: runs([runningServer(1), runningServer(2, { sessions: 1 })]) },
    expected: { kind: 'runtime', add: [], enable: [], disable: [['s2', 'removed']], cut: [], delete: [], held: [], draining: ['s2'], drainingSince: { s2: NOW } },
  },
  {
    description: 'a drain still within SERVER_DRAIN_TIMEOUT: nothing to do, the clock kept',
    input: {
      ...base,
      settings: { ...RUNTIME, drainTimeoutMs: 60_000 },
      state: { ...INITIAL_SYNC_STATE, drainingSince: new Map([['s2', NOW - 59_000]]) },
      fleet: fleetOf(1),
      snapshot: runs([runningServer(1), runningServer(2, { sessions: 1, maintenance: true })]),
    },
    expected: { kind: 'none', held: [], draining: ['s2'], drainingSince: { s2: NOW - 59_000 } },
  },
  {
    description: 'a drain that outlived SERVER_DRAIN_TIMEOUT: its stream is cut',
    input: {
      ...base,
      settings: { ...RUNTIME, drainTimeoutMs: 60_000 },
      state: { ...INITIAL_SYNC_STATE, drainingSince: new Map([['s2', NOW - 60_000]]) },
      fleet: fleetOf(1),
      snapshot: runs([runningServer(1), runningServer(2, { sessions: 1, maintenance: true })]),
    },
    expected: { kind: 'runtime', add: [], enable: [], disable: [], cut: ['s2'], delete: [], held: [], draining: ['s2'], drainingSince: { s2: NOW - 60_000 } },
  },
  {
    description: 'a drain that ended: deleted, its clock forgotten',
    input: {
      ...base,
      state: { ...INITIAL_SYNC_STATE, drainingSince: new Map([['s2', NOW - 5_000]]) },
      fleet: fleetOf(1),
      snapshot: runs([runningServer(1), runningServer(2, { maintenance: true })]),
    },
    expected: { kind: 'runtime', add: [], enable: [], disable: [], cut: [], delete: ['s2'], held: [], draining: [], drainingSince: {} },
  },
  {
    description: 'hold: busy in an old worker (left by a reload), so this worker counts 0 on it',
    input: { ...base, fleet: fleetOf(1, 2), snapshot: runs([runningServer(1), runningServer(2)], { old: { s2: 1 } }) },
    expected: { kind: 'runtime', add: [], enable: [], disable: [['s2', 'busy-in-old-worker']], cut: [], delete: [], held: [['s2', 'busy-in-old-worker']], draining: [], drainingSince: {} },
  },
  {
    description: 'hold: a new Server whose status page says it streams through another Proxy is added disabled',
    input: { ...base, busyElsewhere: new Set(['s2']), fleet: fleetOf(1, 2), snapshot: runs([runningServer(1)]) },
    expected: { kind: 'runtime', add: [['s2', false]], enable: [], disable: [], cut: [], delete: [], held: [['s2', 'busy-elsewhere']], draining: [], drainingSince: {} },
  },
  {
    description: 'no hold: the status page reports our own stream',
    input: { ...base, busyElsewhere: new Set(['s2']), fleet: fleetOf(1, 2), snapshot: runs([runningServer(1), runningServer(2, { sessions: 1 })]) },
    expected: { kind: 'none', held: [], draining: [], drainingSince: {} },
  },
  {
    description: 'hold: a new task at the address a stopped task still streams from',
    input: { ...base, fleet: [server(1), server(3, '10.0.0.2')], snapshot: runs([runningServer(1), runningServer(2, { sessions: 1 })]) },
    expected: {
      kind: 'runtime',
      add: [['s3', false]],
      enable: [],
      disable: [['s2', 'removed']],
      cut: [],
      delete: [],
      held: [['s3', 'address-busy']],
      draining: ['s2'],
      drainingSince: { s2: NOW },
    },
  },
  {
    description: 'a held Server that became free: enabled',
    input: { ...base, fleet: fleetOf(1, 2), snapshot: runs([runningServer(1), runningServer(2, { maintenance: true })]) },
    expected: { kind: 'runtime', add: [], enable: ['s2'], disable: [], cut: [], delete: [], held: [], draining: [], drainingSince: {} },
  },
  {
    description: 'reload: a Server changed address (the Runtime API cannot move one)',
    input: { ...base, fleet: [server(1), server(2, '10.0.9.9')], snapshot: runs([runningServer(1), runningServer(2)]) },
    expected: { kind: 'reload', reason: /servers changed address: s2/, textHas: ['server s2 10.0.9.9:1935'], held: [], draining: [], drainingSince: {} },
  },
  {
    description: 'reload: the template changed; a Server busy now starts held in the new worker',
    input: { ...base, render: templateV('v2'), fleet: fleetOf(1, 2), snapshot: runs([runningServer(1, { sessions: 1 }), runningServer(2)]) },
    expected: {
      kind: 'reload',
      reason: /template, settings or file on disk differ/,
      textHas: ['template v2', 'server s1 10.0.0.1:1935 disabled', 'server s2 10.0.0.2:1935'],
      held: [],
      draining: [],
      drainingSince: {},
    },
  },
  {
    description: 'reload: the file on disk was edited by hand',
    input: { ...base, fleet: fleetOf(1), snapshot: runs([runningServer(1)], { file: 'edited' }) },
    expected: { kind: 'reload', reason: /file on disk differ/, textHas: ['template v1'], held: [], draining: [], drainingSince: {} },
  },
  {
    description: 'start: HAProxy is not running; held Servers start disabled',
    input: { ...base, busyElsewhere: new Set(['s2']), fleet: fleetOf(1, 2), snapshot: notRunning },
    expected: { kind: 'start', reason: /not running/, textHas: ['server s1 10.0.0.1:1935', 'server s2 10.0.0.2:1935 disabled'], held: [['s2', 'busy-elsewhere']], draining: [], drainingSince: {} },
  },
  {
    description: 'APPLY_MODE=reload: not running → start',
    input: { ...base, settings: RELOAD, fleet: fleetOf(1), snapshot: notRunning },
    expected: { kind: 'start', reason: /not running/, textHas: ['server s1 10.0.0.1:1935'], held: [], draining: [], drainingSince: {} },
  },
  {
    description: 'APPLY_MODE=reload: the rendered config changed → reload (no holds: the seed behaviour)',
    input: { ...base, settings: RELOAD, busyElsewhere: new Set(['s2']), fleet: fleetOf(1, 2), snapshot: runs([runningServer(1)]) },
    expected: { kind: 'reload', reason: /rendered config changed/, textHas: ['server s2 10.0.0.2:1935'], held: [], draining: [], drainingSince: {} },
  },
  {
    description: 'APPLY_MODE=reload: the same text → nothing',
    input: { ...base, settings: RELOAD, fleet: fleetOf(1), snapshot: runs([runningServer(1)]) },
    expected: { kind: 'none', held: [], draining: [], drainingSince: {} },
  },
];

describe('decide: what one sync does to HAProxy', () => {
  for (const { description, input, expected } of cases) {
    test(description, () => {
      const { reason, textHas, ...rest } = expected;
      assert.deepEqual(summarize(input), rest);
      const d = decide(input);
      if (reason) assert.match(d.change.kind === 'start' || d.change.kind === 'reload' ? d.change.reason : '', reason);
      for (const line of textHas ?? []) {
        assert.ok(d.change.kind === 'start' || d.change.kind === 'reload', 'a config text to install');
        assert.ok(d.change.text.split('\n').includes(line), `"${line}" in:\n${d.change.text}`);
      }
    });
  }
});

const seededState = (applied: Server[], extra: Partial<SyncState> = {}): SyncState => ({ ...INITIAL_SYNC_STATE, seeded: true, applied, ...extra });

const guardCases: Array<{ description: string; state: SyncState; discovered: Server[]; snapshot: HaproxySnapshot; fleet: string[]; drop?: 'held' | 'confirmed'; applied: string[]; pendingDrop: boolean }> = [
  {
    description: 'seeding: a restarted daemon starts from what HAProxy runs',
    state: INITIAL_SYNC_STATE,
    discovered: fleetOf(1, 2, 3),
    snapshot: runs([runningServer(1), runningServer(2), runningServer(3)]),
    fleet: ['s1', 's2', 's3'],
    applied: ['s1', 's2', 's3'],
    pendingDrop: false,
  },
  {
    description: 'seeding makes the drop guard apply to the first sync too',
    state: INITIAL_SYNC_STATE,
    discovered: fleetOf(1),
    snapshot: runs([runningServer(1), runningServer(2), runningServer(3), runningServer(4)]),
    fleet: ['s1', 's2', 's3', 's4'],
    drop: 'held',
    applied: ['s1', 's2', 's3', 's4'],
    pendingDrop: true,
  },
  {
    description: 'no seeding when HAProxy is not running',
    state: INITIAL_SYNC_STATE,
    discovered: fleetOf(1),
    snapshot: notRunning,
    fleet: ['s1'],
    applied: [],
    pendingDrop: false,
  },
  {
    description: 'no seeding after the first sync',
    state: seededState([]),
    discovered: fleetOf(1),
    snapshot: runs([runningServer(1), runningServer(2), runningServer(3)]),
    fleet: ['s1'],
    applied: [],
    pendingDrop: false,
  },
  {
    description: 'drop guard: a sudden drop is held once, the last known-good fleet kept',
    state: seededState(fleetOf(1, 2, 3, 4)),
    discovered: fleetOf(1),
    snapshot: runs([]),
    fleet: ['s1', 's2', 's3', 's4'],
    drop: 'held',
    applied: ['s1', 's2', 's3', 's4'],
    pendingDrop: true,
  },
  {
    description: 'drop guard: the next sync confirms it, applied',
    state: seededState(fleetOf(1, 2, 3, 4), { pendingDrop: true }),
    discovered: fleetOf(1),
    snapshot: runs([]),
    fleet: ['s1'],
    drop: 'confirmed',
    applied: ['s1', 's2', 's3', 's4'],
    pendingDrop: false,
  },
  {
    description: 'drop guard: a drop within MAX_DROP_PERCENT applies at once',
    state: seededState(fleetOf(1, 2, 3, 4)),
    discovered: fleetOf(1, 2),
    snapshot: runs([]),
    fleet: ['s1', 's2'],
    applied: ['s1', 's2', 's3', 's4'],
    pendingDrop: false,
  },
  {
    description: 'drop guard: a pending drop the next answer does not repeat is dropped',
    state: seededState(fleetOf(1, 2, 3, 4), { pendingDrop: true }),
    discovered: fleetOf(1, 2, 3, 4, 5),
    snapshot: runs([]),
    fleet: ['s1', 's2', 's3', 's4', 's5'],
    applied: ['s1', 's2', 's3', 's4'],
    pendingDrop: false,
  },
];

describe('guardFleet: seeding after a restart and the sudden-drop guard', () => {
  for (const c of guardCases) {
    test(c.description, () => {
      const g = guardFleet(c.state, c.discovered, c.snapshot, RUNTIME);
      assert.deepEqual(g.fleet.map((s) => s.name), c.fleet);
      assert.equal(g.drop?.status, c.drop);
      assert.deepEqual(g.state.applied.map((s) => s.name), c.applied);
      assert.equal(g.state.pendingDrop, c.pendingDrop);
      assert.equal(g.state.seeded, true);
    });
  }
});

describe('failures, backoff and recovery', () => {
  const throttled = Object.assign(new Error('Rate exceeded'), { code: 'ThrottlingException' });
  const cases: Array<{ description: string; failures: number; stage: 'discovery' | 'apply' | 'validate'; error: Error; random: number; kind: string; retryInMs: number }> = [
    { description: 'first discovery failure: back off 0.5–1 s (equal jitter, low end)', failures: 0, stage: 'discovery', error: throttled, random: 0, kind: 'discovery:ThrottlingException', retryInMs: 500 },
    { description: 'first discovery failure, high end of the jitter', failures: 0, stage: 'discovery', error: throttled, random: 0.998, kind: 'discovery:ThrottlingException', retryInMs: 999 },
    { description: 'fourth discovery failure: 4–8 s', failures: 3, stage: 'discovery', error: throttled, random: 0, kind: 'discovery:ThrottlingException', retryInMs: 4000 },
    { description: 'the backoff is capped at 5 minutes', failures: 40, stage: 'discovery', error: throttled, random: 0.999, kind: 'discovery:ThrottlingException', retryInMs: 299_850 },
    { description: 'an HAProxy failure retries at the next tick, named by the error', failures: 2, stage: 'apply', error: new TypeError('x'), random: 0.5, kind: 'apply:TypeError', retryInMs: 0 },
  ];
  for (const c of cases) {
    test(c.description, () => {
      const state = seededState(fleetOf(1), { failures: { count: c.failures, kind: '', retryAt: 0 } });
      const v = afterFailure(state, c.stage, c.error, NOW, c.random);
      assert.equal(v.kind, c.kind);
      assert.equal(v.consecutiveFailures, c.failures + 1);
      assert.equal(backoffRemaining(v.state, NOW), c.retryInMs);
      assert.equal(backoffRemaining(v.state, NOW + c.retryInMs), 0, 'over once the time passed');
      assert.deepEqual(v.state.applied, state.applied, 'the last known-good fleet is kept');
    });
  }
  test('a success ends the streak and takes the fleet as the last known-good one', () => {
    const failing = afterFailure(seededState(fleetOf(1)), 'discovery', throttled, NOW, 0).state;
    const ok = afterSuccess(failing, fleetOf(1, 2));
    assert.deepEqual(ok.failures, { count: 0, kind: '', retryAt: 0 });
    assert.deepEqual(ok.applied.map((s) => s.name), ['s1', 's2']);
  });
});

describe('health page and the file after runtime steps', () => {
  test('the first success turns the page up; once up, nothing; after shutdown began, down and kept down', () => {
    assert.equal(healthToSet(INITIAL_SYNC_STATE), 'up');
    assert.equal(healthToSet({ ...INITIAL_SYNC_STATE, health: 'up' }), undefined);
    assert.equal(healthToSet({ ...INITIAL_SYNC_STATE, health: 'up', healthHeldDown: true }), 'down');
    assert.equal(healthToSet({ ...INITIAL_SYNC_STATE, health: 'down', healthHeldDown: true }), undefined);
  });
  test('the file follows what runs after the steps: written only when it differs', () => {
    const after = [runningServer(1), runningServer(2, { maintenance: true })];
    const text = render(renderedFromRuntime(after));
    assert.equal(fileAfterSteps({ servers: after }, text, render), undefined);
    assert.equal(fileAfterSteps({ servers: after }, 'older', render), text);
    assert.ok(text.includes('server s2 10.0.0.2:1935 disabled'), 'a held Server is written disabled');
  });
});

describe('adoptDrains: Servers drained outside a sync whose file did not follow', () => {
  const runningNow = [runningServer(1), runningServer(2, { maintenance: true }), runningServer(3)];
  const fileBefore = render(renderedFromRuntime([runningServer(1), runningServer(2), runningServer(3)]));
  const cases: { name: string; drained: string[]; file?: string; expect: string | undefined }[] = [
    { name: 'drained, the file still says enabled: the file adopts it', drained: ['s2'], expect: render(renderedFromRuntime(runningNow)) },
    { name: 'not drained (the step was refused): nothing to adopt', drained: ['s3'], expect: undefined },
    { name: 'the file says it already', drained: ['s2'], file: render(renderedFromRuntime(runningNow)), expect: undefined },
    { name: 'gone from HAProxy: nothing to adopt', drained: ['s9'], expect: undefined },
    { name: 'the file differs in more than the drain (a real drift): not adopted, the reload repairs it', drained: ['s2'], file: `${fileBefore}# edited by hand\n`, expect: undefined },
  ];
  for (const c of cases) {
    test(c.name, () => {
      assert.equal(adoptDrains({ file: c.file ?? fileBefore, servers: runningNow }, new Set(c.drained), render), c.expect);
    });
  }
  test('after adopting, decide sees no drift: no reload', () => {
    const text = adoptDrains({ file: fileBefore, servers: runningNow }, new Set(['s2']), render);
    const snapshot: HaproxySnapshot = { running: true, file: text, servers: runningNow, sessionsInOldWorkers: new Map() };
    const fleet = [server(1), server(3)];
    const d = decide({ state: INITIAL_SYNC_STATE, fleet, snapshot, busyElsewhere: new Set(), settings: { applyMode: 'runtime', maxDropPercent: 50 }, now: 0, render });
    assert.notEqual(d.change.kind, 'reload', JSON.stringify(d.change));
    const drifted = decide({ state: INITIAL_SYNC_STATE, fleet, snapshot: { ...snapshot, file: fileBefore }, busyElsewhere: new Set(), settings: { applyMode: 'runtime', maxDropPercent: 50 }, now: 0, render });
    assert.equal(drifted.change.kind, 'reload', 'without adopting, the drain looks like a drifted file');
  });
});

describe('decide with several Proxies', () => {
  const A = 'arn:aws:ecs:us-east-1:123456789012:task/p/aaaa';
  const B = 'arn:aws:ecs:us-east-1:123456789012:task/p/bbbb';
  const fleet = fleetOf(1, 2, 3, 4, 5, 6);
  const ours = fleet.filter((s) => ownerOf(s.name, [A, B]) === A).map((s) => s.name);
  const theirs = fleet.filter((s) => ownerOf(s.name, [A, B]) === B).map((s) => s.name);
  const peerB = { name: 'peer-bbbb', address: '127.0.3.2', port: 1936 };
  const peering = (taken: string[] = []) => ({ view: { self: A, proxies: [A, B], peers: [{ taskArn: B, live: true, taken: new Set(taken) }] }, peers: [peerB] });
  const runtime = (input: Partial<DecideInput>) => {
    const d = decide({ ...base, fleet, snapshot: runs([]), ...input });
    assert.equal(d.change.kind, 'runtime');
    return d.change.kind === 'runtime' ? d.change : assert.fail('a runtime change');
  };

  test('both Proxies own some of six Servers (the test needs a split)', () => {
    assert.ok(ours.length > 0 && theirs.length > 0, `${ours} / ${theirs}`);
  });
  test("new Servers: ours are added and claimed, the peer's added held; the peer is added to bk_peers", () => {
    const c = runtime({ peering: peering() });
    assert.deepEqual(c.plan.add.map((a) => [a.server.name, a.enable]), fleet.map((s) => [s.name, false]));
    assert.deepEqual(c.plan.claim, ours);
    assert.deepEqual(new Set(c.plan.held.filter((h) => h.reason === 'owned-by-peer').map((h) => h.name)), new Set(theirs));
    assert.deepEqual(c.peerPlan?.add.map((a) => [a.server.name, a.enable]), [['peer-bbbb', true]]);
    assert.ok(c.plan.configServers.every((s) => s.draining), 'written disabled until the claims settle');
  });
  test('one of ours the peer still streams on: handoff, not claimed', () => {
    const c = runtime({ peering: peering([ours[0]!]) });
    assert.ok(!c.plan.claim.includes(ours[0]!));
    assert.deepEqual(c.plan.held.find((h) => h.name === ours[0]), { name: ours[0], reason: 'handoff' });
  });
  test("ownership moved to the peer: ours in rotation is disabled (its stream goes on); nothing else changes", () => {
    const running = fleet.map((s, i) => runningServer(i + 1, { sessions: s.name === theirs[0] ? 1 : 0, maintenance: !ours.includes(s.name) && s.name !== theirs[0] }));
    const snapshot = { ...runs(running), peers: [{ ...peerB, sessions: 0, maintenance: false, status: 'UP' }] };
    snapshot.file = render(renderedFromRuntime(running), renderedFromRuntime(snapshot.peers));
    const c = runtime({ snapshot, peering: peering() });
    assert.deepEqual(c.plan.disable, [{ name: theirs[0], reason: 'owned-by-peer' }]);
    assert.deepEqual([c.plan.add, c.plan.claim, c.plan.enable, c.plan.delete, c.plan.cut], [[], [], [], [], []]);
  });
});
