// ECS task state change events → the fleet (src/core/task-events.ts): parsing what arrives on the
// queue, and weighing each event against what is known (duplicates, reordering, stops being final,
// events older than the last listing, foreign clusters and services).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Task } from '@aws-sdk/client-ecs';
import {
  afterListing,
  applyTaskEvent,
  EMPTY_EVENT_FLEET,
  fleetServers,
  MAX_EVENT_BYTES,
  parseTaskEventMessage,
  type EventFleet,
  type FleetScope,
  type TaskEvent,
} from '../src/core/task-events.js';
import type { Server } from '../src/model.js';

const CLUSTER = 'arn:aws:ecs:eu-west-1:123456789012:cluster/media';
const arn = (n: number) => `arn:aws:ecs:eu-west-1:123456789012:task/media/${n.toString(16).padStart(32, '0')}`;
const scope: FleetScope = { cluster: 'media', serverPort: 1935, addressMode: 'private', requireHealthy: false };
const T0 = Date.parse('2026-11-27T10:00:00Z');

function task(n: number, over: Partial<Task> = {}): Task {
  return {
    taskArn: arn(n),
    clusterArn: CLUSTER,
    group: 'service:media-servers',
    lastStatus: 'RUNNING',
    desiredStatus: 'RUNNING',
    healthStatus: 'HEALTHY',
    availabilityZone: 'eu-west-1a',
    attachments: [{ type: 'ElasticNetworkInterface', status: 'ATTACHED', details: [{ name: 'networkInterfaceId', value: `eni-${n}` }, { name: 'privateIPv4Address', value: `10.0.0.${n}` }] }],
    ...over,
  };
}
function event(n: number, version: number, over: Partial<Task> = {}, at = T0 + version * 1000): TaskEvent {
  const t = task(n, over);
  return { taskArn: t.taskArn!, clusterArn: t.clusterArn!, group: t.group!, version, at, task: t };
}
function wire(e: TaskEvent): Record<string, unknown> {
  return { version: '0', id: 'x', 'detail-type': 'ECS Task State Change', source: 'aws.ecs', account: '123456789012', time: new Date(e.at).toISOString(), region: 'eu-west-1', resources: [e.taskArn], detail: { ...e.task, version: e.version } };
}
const server = (n: number): Server => ({ name: `task-${n.toString(16).padStart(32, '0')}`, address: `10.0.0.${n}`, port: 1935, taskArn: arn(n), zone: 'eu-west-1a' });

/** Events applied in order; the effects and the fleet's addresses. */
function run(fleet: EventFleet, events: TaskEvent[], s: FleetScope = scope) {
  const effects: string[] = [];
  for (const e of events) {
    const result = applyTaskEvent(fleet, e, s);
    fleet = result.fleet;
    effects.push(result.effect.kind);
  }
  return { effects, addresses: fleetServers(fleet).map((x) => x.address), fleet };
}

describe('parseTaskEventMessage', () => {
  it('takes EventBridge JSON, raw or in an SNS envelope', () => {
    const e = event(1, 3);
    const raw = parseTaskEventMessage(JSON.stringify(wire(e)));
    assert.equal(raw.kind, 'event');
    const enveloped = parseTaskEventMessage(JSON.stringify({ Type: 'Notification', MessageId: 'm', TopicArn: 'arn:aws:sns:eu-west-1:123456789012:t', Message: JSON.stringify(wire(e)) }));
    assert.deepEqual(enveloped, raw);
    if (raw.kind === 'event') {
      assert.equal(raw.event.taskArn, arn(1));
      assert.equal(raw.event.version, 3);
      assert.equal(raw.event.at, e.at);
      assert.equal(raw.event.group, 'service:media-servers');
    }
  });

  const invalid: [string, string, RegExp][] = [
    ['not JSON', 'hello', /not JSON/],
    ['a JSON array', '[1,2]', /not a JSON object/],
    ['another event type', JSON.stringify({ ...wire(event(1, 1)), 'detail-type': 'ECS Container Instance State Change' }), /not an ECS Task State Change/],
    ['another source', JSON.stringify({ ...wire(event(1, 1)), source: 'custom.app' }), /not an ECS Task State Change/],
    ['no detail', JSON.stringify({ ...wire(event(1, 1)), detail: 'x' }), /no detail object/],
    ['a task ARN that is not one', JSON.stringify({ ...wire(event(1, 1)), detail: { ...task(1), taskArn: 'task/../../etc', version: 1 } }), /detail\.taskArn/],
    ['no version', JSON.stringify({ ...wire(event(1, 1)), detail: { ...task(1) } }), /detail\.version/],
    ['no time', JSON.stringify({ ...wire(event(1, 1)), time: 'yesterday' }), /event time/],
    ['an SNS envelope around garbage', JSON.stringify({ Type: 'Notification', Message: '{' }), /SNS notification/],
    ['huge', JSON.stringify({ pad: 'x'.repeat(MAX_EVENT_BYTES) }), /message of \d+ characters/],
  ];
  for (const [name, body, reason] of invalid) {
    it(`refuses ${name}`, () => {
      const parsed = parseTaskEventMessage(body);
      assert.equal(parsed.kind, 'invalid');
      if (parsed.kind === 'invalid') assert.match(parsed.reason, reason);
    });
  }
});

describe('applyTaskEvent', () => {
  const cases: { name: string; events: TaskEvent[]; effects: string[]; addresses: string[]; scope?: FleetScope; start?: EventFleet }[] = [
    { name: 'a task turning RUNNING is added', events: [event(1, 1, { lastStatus: 'PENDING', healthStatus: 'UNKNOWN' }), event(1, 2)], effects: ['unchanged', 'added'], addresses: ['10.0.0.1'] },
    { name: 'the same event twice: the second is a duplicate', events: [event(1, 2), event(1, 2)], effects: ['added', 'duplicate'], addresses: ['10.0.0.1'] },
    {
      name: 'ECS begins to stop it (desiredStatus STOPPED): removed at once, while it still runs',
      events: [event(1, 2), event(1, 3, { desiredStatus: 'STOPPED' })],
      effects: ['added', 'removed'],
      addresses: [],
    },
    {
      name: 'reordered: the stop arrives before the late RUNNING, which is stale',
      events: [event(1, 4, { lastStatus: 'STOPPED', desiredStatus: 'STOPPED' }), event(1, 2)],
      effects: ['unchanged', 'stale'],
      addresses: [],
    },
    {
      name: 'a stop is final even when a later version claims RUNNING',
      events: [event(1, 2), event(1, 3, { lastStatus: 'DEACTIVATING', desiredStatus: 'STOPPED' }), event(1, 9)],
      effects: ['added', 'removed', 'stale'],
      addresses: [],
    },
    { name: 'an older version after a newer one is stale', events: [event(1, 5), event(1, 3, { healthStatus: 'UNHEALTHY' })], effects: ['added', 'stale'], addresses: ['10.0.0.1'] },
    { name: 'a routed task turning UNHEALTHY is removed', events: [event(1, 2), event(1, 3, { healthStatus: 'UNHEALTHY' })], effects: ['added', 'removed'], addresses: [] },
    { name: 'a new address for the same task is an update', events: [event(1, 2), event(1, 3, { attachments: [{ type: 'ElasticNetworkInterface', status: 'ATTACHED', details: [{ name: 'privateIPv4Address', value: '10.0.0.99' }] }] })], effects: ['added', 'updated'], addresses: ['10.0.0.99'] },
    {
      name: 'another cluster, or another service when ECS_SERVICE is set, is foreign',
      scope: { ...scope, service: 'media-servers' },
      events: [event(1, 2, { clusterArn: 'arn:aws:ecs:eu-west-1:123456789012:cluster/other' }), event(2, 2, { group: 'service:other' }), event(3, 2)],
      effects: ['foreign', 'foreign', 'added'],
      addresses: ['10.0.0.3'],
    },
    {
      name: 'SERVER_REQUIRE_HEALTHY: RUNNING but UNKNOWN health waits',
      scope: { ...scope, requireHealthy: true },
      events: [event(1, 2, { healthStatus: 'UNKNOWN' }), event(1, 3, { healthStatus: undefined }), event(1, 4)],
      effects: ['awaiting-health', 'awaiting-health', 'added'],
      addresses: ['10.0.0.1'],
    },
    {
      name: 'a RUNNING task whose event carries no address: verify by describing it (a PENDING one just waits)',
      events: [event(1, 2, { attachments: [] }), event(2, 2, { lastStatus: 'PENDING', attachments: [] })],
      effects: ['verify', 'unchanged'],
      addresses: [],
    },
    {
      name: 'older than the last listing, about a task it did not route to: verify by describing it',
      start: afterListing(EMPTY_EVENT_FLEET, [], T0 + 10_000, 3_600_000),
      events: [event(1, 2)],
      effects: ['verify'],
      addresses: [],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const { effects, addresses } = run(c.start ?? EMPTY_EVENT_FLEET, c.events, c.scope);
      assert.deepEqual({ effects, addresses }, { effects: c.effects, addresses: c.addresses });
    });
  }

  it('public addresses: asks for the ENI\'s public IP, then adds with it', () => {
    const publicScope: FleetScope = { ...scope, addressMode: 'public' };
    const e = event(1, 2);
    const first = applyTaskEvent(EMPTY_EVENT_FLEET, e, publicScope);
    assert.deepEqual(first.effect, { kind: 'needs-public-ip', eniId: 'eni-1' });
    const second = applyTaskEvent(EMPTY_EVENT_FLEET, e, publicScope, { publicIpByEni: new Map([['eni-1', '203.0.113.1']]), described: true });
    assert.equal(second.effect.kind, 'added');
    assert.deepEqual(fleetServers(second.fleet).map((s) => s.address), ['203.0.113.1']);
  });

  it('a described task (after verify) is applied even at a version already seen', () => {
    const listed = afterListing(EMPTY_EVENT_FLEET, [], T0 + 10_000, 3_600_000);
    const result = applyTaskEvent(listed, event(1, 2), scope, { described: true });
    assert.equal(result.effect.kind, 'added');
  });
});

describe('afterListing', () => {
  it('replaces the fleet with the listing, but a task an event stopped stays out and one an event added after the listing began stays in', () => {
    let { fleet } = run(EMPTY_EVENT_FLEET, [event(1, 2), event(2, 2)]);
    // The listing began at T0+5s; meanwhile task 1 stopped (event) and task 3 started (event at T0+6s).
    fleet = applyTaskEvent(fleet, event(1, 6, { desiredStatus: 'STOPPED' }), scope).fleet;
    fleet = applyTaskEvent(fleet, event(3, 6), scope).fleet;
    const next = afterListing(fleet, [server(1), server(2), server(4)], T0 + 5000, 3_600_000);
    assert.deepEqual(fleetServers(next).map((s) => s.address), ['10.0.0.2', '10.0.0.3', '10.0.0.4']);
    assert.equal(next.listedAt, T0 + 5000);
    // A later listing that has task 3 takes over; one that does not (and began after its event) drops it.
    const later = afterListing(next, [server(2), server(4)], T0 + 60_000, 3_600_000);
    assert.deepEqual(fleetServers(later).map((s) => s.address), ['10.0.0.2', '10.0.0.4']);
  });

  it('forgets stopped tasks after a while, keeps their versions meanwhile', () => {
    const { fleet } = run(EMPTY_EVENT_FLEET, [event(1, 3, { desiredStatus: 'STOPPED' })]);
    const soon = afterListing(fleet, [], T0 + 60_000, 3_600_000);
    assert.ok(soon.stopped.has(arn(1)) && soon.versions.get(arn(1)) === 3);
    const muchLater = afterListing(soon, [], T0 + 2 * 3_600_000, 3_600_000);
    assert.ok(!muchLater.stopped.has(arn(1)) && !muchLater.versions.has(arn(1)));
  });
});
