import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { RuntimeServer } from '../src/model.js';
import { holdBusyForReload, isEmptyPlan, planMembership, type MembershipInput } from '../src/core/plan.js';
import type { Server } from '../src/model.js';

const server = (n: number): Server => ({ name: `task-${n}`, address: `10.0.0.${n}`, port: 1935 });
const running = (n: number, over: Partial<RuntimeServer> = {}): RuntimeServer => ({ ...server(n), sessions: 0, maintenance: false, status: 'UP', ...over });
const input = (over: Partial<MembershipInput>): MembershipInput => ({
  desired: [],
  running: [],
  sessionsInOldWorkers: new Map(),
  busyElsewhere: new Set(),
  drainingSince: new Map(),
  now: 1_000_000,
  ...over,
});

describe('planMembership', () => {
  test('the same fleet plans nothing', () => {
    const plan = planMembership(input({ desired: [server(1), server(2)], running: [running(1), running(2, { sessions: 1 })] }));
    assert.ok(isEmptyPlan(plan));
    assert.deepEqual(plan.configServers.map((s) => [s.name, s.draining]), [['task-1', false], ['task-2', false]]);
  });

  test('a new Server is added enabled; one that left with no stream is disabled and deleted', () => {
    const plan = planMembership(input({ desired: [server(2), server(3)], running: [running(1), running(2)] }));
    assert.deepEqual(plan.add, [{ server: server(3), enable: true }]);
    assert.deepEqual(plan.disable, [{ name: 'task-1', reason: 'removed' }]);
    assert.deepEqual(plan.delete, ['task-1']);
    assert.deepEqual(plan.draining, []);
    assert.deepEqual(plan.configServers.map((s) => s.name), ['task-2', 'task-3']);
  });

  test('a Server that left while streaming is drained, kept in the config, not deleted', () => {
    const plan = planMembership(input({ desired: [server(2)], running: [running(1, { sessions: 1 }), running(2)] }));
    assert.deepEqual(plan.disable, [{ name: 'task-1', reason: 'removed' }]);
    assert.deepEqual(plan.delete, []);
    assert.deepEqual(plan.draining, ['task-1']);
    assert.deepEqual(plan.configServers.map((s) => [s.name, s.draining]), [['task-1', true], ['task-2', false]]);
    // Already in maintenance: nothing to do again while it drains.
    const again = planMembership(input({ desired: [server(2)], running: [running(1, { sessions: 1, maintenance: true }), running(2)] }));
    assert.ok(isEmptyPlan(again));
    assert.deepEqual(again.draining, ['task-1']);
  });

  test('a drain longer than the timeout cuts the stream; without a timeout it waits', () => {
    const draining = { desired: [], running: [running(1, { sessions: 1, maintenance: true })], drainingSince: new Map([['task-1', 0]]), now: 60_000 };
    assert.deepEqual(planMembership(input({ ...draining, drainTimeoutMs: 60_000 })).cut, ['task-1']);
    assert.deepEqual(planMembership(input({ ...draining, drainTimeoutMs: 60_001 })).cut, []);
    assert.deepEqual(planMembership(input(draining)).cut, []);
  });

  test('a Server busy in an old worker is held in maintenance until its stream ends there', () => {
    const held = planMembership(input({ desired: [server(1), server(2)], running: [running(1), running(2)], sessionsInOldWorkers: new Map([['task-1', 1]]) }));
    assert.deepEqual(held.disable, [{ name: 'task-1', reason: 'busy-in-old-worker' }]);
    assert.deepEqual(held.held, [{ name: 'task-1', reason: 'busy-in-old-worker' }]);
    assert.equal(held.configServers.find((s) => s.name === 'task-1')?.draining, true);

    const freed = planMembership(input({ desired: [server(1), server(2)], running: [running(1, { maintenance: true }), running(2)] }));
    assert.deepEqual(freed.enable, ['task-1']);
    assert.deepEqual(freed.held, []);
  });

  test('a Server streaming through another Proxy is held; our own stream on it is not a reason', () => {
    const busyElsewhere = new Set(['task-1', 'task-2']);
    const plan = planMembership(input({ desired: [server(1), server(2), server(3)], running: [running(1), running(2, { sessions: 1 })], busyElsewhere }));
    assert.deepEqual(plan.held, [{ name: 'task-1', reason: 'busy-elsewhere' }]);
    assert.deepEqual(plan.disable, [{ name: 'task-1', reason: 'busy-elsewhere' }]);
    // A new Server already busy elsewhere joins held.
    const joining = planMembership(input({ desired: [server(4)], running: [], busyElsewhere: new Set(['task-4']) }));
    assert.deepEqual(joining.add, [{ server: server(4), enable: false }]);
  });

  test('a Server whose address changed under the same name is a conflict (a reload moves it)', () => {
    const plan = planMembership(input({ desired: [{ ...server(1), address: '10.0.9.9' }], running: [running(1)] }));
    assert.deepEqual(plan.conflicts, ['task-1']);
  });

  test('for a reload, every Server busy now starts held in the new worker', () => {
    const plan = planMembership(input({ desired: [server(1), server(2)], running: [running(1, { sessions: 1 }), running(2)] }));
    assert.deepEqual(
      holdBusyForReload(plan.configServers, [running(1, { sessions: 1 }), running(2)]).map((s) => [s.name, s.draining]),
      [['task-1', true], ['task-2', false]],
    );
  });
  test('a Server at an address another server still streams to is held (an IP reused by a new task)', () => {
    const reused = { name: 'task-9', address: '10.0.0.1', port: 1935 };
    const plan = planMembership(input({ desired: [reused], running: [running(1, { sessions: 1 })] }));
    assert.deepEqual(plan.add, [{ server: reused, enable: false }]);
    assert.deepEqual(plan.held, [{ name: 'task-9', reason: 'address-busy' }]);
    assert.deepEqual(plan.draining, ['task-1']);
    const freed = planMembership(input({ desired: [reused], running: [running(1, { maintenance: true }), { ...running(9, { maintenance: true }), ...reused }] }));
    assert.deepEqual(freed.enable, ['task-9']);
    assert.deepEqual(freed.delete, ['task-1']);
  });

  test('a Server joining at the address of one leaving the fleet waits one sync, even when that one carries nothing', () => {
    const reused = { name: 'task-9', address: '10.0.0.1', port: 1935 };
    // task-1 (10.0.0.1) left ECS idle but is still routable in HAProxy: it is disabled and deleted in this
    // plan; until then a stream could still land on it, so task-9 joins held.
    const plan = planMembership(input({ desired: [reused], running: [running(1)] }));
    assert.deepEqual(plan.add, [{ server: reused, enable: false }]);
    assert.deepEqual(plan.held, [{ name: 'task-9', reason: 'address-busy' }]);
    assert.deepEqual(plan.disable, [{ name: 'task-1', reason: 'removed' }]);
    // Next sync: task-1 is in maintenance and idle (or gone): task-9 is enabled.
    const next = planMembership(input({ desired: [reused], running: [running(1, { maintenance: true }), { ...running(9, { maintenance: true }), ...reused }] }));
    assert.deepEqual(next.enable, ['task-9']);
    // Two Servers of the fleet at one address do not hold each other (each would wait for the other forever).
    const twins = planMembership(input({ desired: [server(1), { ...reused, name: 'task-2' }], running: [running(1), { ...running(2), ...reused, name: 'task-2' }] }));
    assert.deepEqual(twins.held, []);
  });
});
