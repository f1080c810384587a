import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { Task } from '@aws-sdk/client-ecs';
import { eniIdOf, eniIdsOf, essentialsOf, finalizeServers, mapTask, mapTasks, type MapTaskOptions } from '../src/discovery/ecs-map.js';

const PRIVATE: MapTaskOptions = { serverPort: 1935, addressMode: 'private' };
const ARN = 'arn:aws:ecs:us-east-1:123456789012:task/prod/0123456789abcdef0123456789abcdef';

function task(overrides: Partial<Task> = {}, details: Record<string, string> = {}): Task {
  return {
    taskArn: ARN,
    lastStatus: 'RUNNING',
    desiredStatus: 'RUNNING',
    healthStatus: 'HEALTHY',
    availabilityZone: 'us-east-1b',
    attachments: [
      {
        id: 'att-1',
        type: 'ElasticNetworkInterface',
        status: 'ATTACHED',
        details: Object.entries({ subnetId: 'subnet-1', networkInterfaceId: 'eni-0a1', privateIPv4Address: '10.0.1.7', ...details }).map(
          ([name, value]) => ({ name, value }),
        ),
      },
    ],
    ...overrides,
  };
}

function skipReason(t: Task, opts: MapTaskOptions = PRIVATE): string {
  const result = mapTask(t, opts);
  assert.equal(result.kind, 'skip', `expected a skip, got ${JSON.stringify(result)}`);
  return result.kind === 'skip' ? result.reason : '';
}

describe('mapTask', () => {
  test('a running, healthy task with an ENI becomes a Server named after its task id', () => {
    assert.deepEqual(mapTask(task(), PRIVATE), {
      kind: 'server',
      server: { name: 'task-0123456789abcdef0123456789abcdef', address: '10.0.1.7', port: 1935, taskArn: ARN, zone: 'us-east-1b' },
    });
  });

  test('status combinations: only RUNNING/RUNNING and not UNHEALTHY is kept', () => {
    const statuses = ['PROVISIONING', 'PENDING', 'ACTIVATING', 'RUNNING', 'DEACTIVATING', 'STOPPING', 'DEPROVISIONING', 'STOPPED', undefined];
    const healths = ['HEALTHY', 'UNKNOWN', 'UNHEALTHY', undefined] as const;
    let kept = 0;
    for (const lastStatus of statuses) {
      for (const desiredStatus of ['RUNNING', 'PENDING', 'STOPPED', undefined]) {
        for (const healthStatus of healths) {
          const result = mapTask(task({ lastStatus, desiredStatus, healthStatus }), PRIVATE);
          const expected = lastStatus === 'RUNNING' && desiredStatus === 'RUNNING' && healthStatus !== 'UNHEALTHY';
          assert.equal(result.kind, expected ? 'server' : 'skip', JSON.stringify({ lastStatus, desiredStatus, healthStatus }));
          if (expected) kept++;
        }
      }
    }
    assert.equal(kept, 3); // HEALTHY, UNKNOWN, missing
  });

  test('SERVER_REQUIRE_HEALTHY: only HEALTHY is kept (a container health check passed: it listens)', () => {
    const healthy = { ...PRIVATE, requireHealthy: true };
    assert.equal(mapTask(task({ healthStatus: 'HEALTHY' }), healthy).kind, 'server');
    for (const healthStatus of ['UNKNOWN', 'UNHEALTHY', undefined] as const) {
      assert.equal(mapTask(task({ healthStatus }), healthy).kind, 'skip', String(healthStatus));
    }
    assert.match(skipReason(task({ healthStatus: 'UNKNOWN' }), healthy), /healthStatus is UNKNOWN \(SERVER_REQUIRE_HEALTHY waits for HEALTHY\)/);
    assert.match(skipReason(task({ healthStatus: undefined }), healthy), /healthStatus is missing/);
    // Off (the default): UNKNOWN, the status of a task without a container health check, is kept.
    assert.equal(mapTask(task({ healthStatus: 'UNKNOWN' }), PRIVATE).kind, 'server');
  });

  test('skip reasons say what is wrong', () => {
    assert.match(skipReason(task({ desiredStatus: 'STOPPED' })), /desiredStatus is STOPPED/);
    assert.match(skipReason(task({ lastStatus: 'PENDING' })), /lastStatus is PENDING/);
    assert.match(skipReason(task({ healthStatus: 'UNHEALTHY' })), /UNHEALTHY/);
    assert.match(skipReason(task({ lastStatus: undefined })), /lastStatus is missing/);
  });

  test('no ENI attachment, or an ENI without an address yet, is skipped (not an error)', () => {
    assert.match(skipReason(task({ attachments: undefined })), /no network interface/);
    assert.match(skipReason(task({ attachments: [] })), /no network interface/);
    assert.match(skipReason(task({ attachments: [{ type: 'ElasticNetworkInterface', status: 'PRECREATED', details: [{ name: 'subnetId', value: 's' }] }] })), /no private address yet/);
    assert.match(skipReason(task({ attachments: [{ type: 'ElasticNetworkInterface', status: 'ATTACHED' }] })), /no private address yet/);
    assert.match(skipReason(task({}, { privateIPv4Address: '' })), /no private address yet/);
    // Other attachment types (e.g. Service Connect) are not the task's address.
    assert.match(skipReason(task({ attachments: [{ type: 'Service Connect', status: 'ATTACHED', details: [{ name: 'privateIPv4Address', value: '10.0.0.1' }] }] })), /no network interface/);
    // A deleted ENI no longer carries traffic.
    assert.match(skipReason(task({ attachments: [{ type: 'ElasticNetworkInterface', status: 'DELETED', details: [{ name: 'privateIPv4Address', value: '10.0.0.1' }] }] })), /no network interface/);
  });

  test('attachment status is not required to be ATTACHED when the address is there', () => {
    const t = task();
    t.attachments![0]!.status = 'ATTACHING';
    assert.equal(mapTask(t, PRIVATE).kind, 'server');
  });

  test('anything but a plain IP literal is refused as "invalid address"', () => {
    const bad = [
      '10.0.0.1\nserver evil 6.6.6.6:1935',
      '10.0.0.1 ',
      ' 10.0.0.1',
      '1.2.3.4 ',
      '10.0.0.1 # comment',
      '#10.0.0.1',
      'media.internal',
      'localhost',
      '10.0.0.256',
      '10.0.0.1:1935',
      'fe80::1%eth0',
      '1'.repeat(300),
    ];
    for (const address of bad) {
      const reason = skipReason(task({}, { privateIPv4Address: address }));
      assert.match(reason, /^invalid address/, JSON.stringify(address));
      assert.ok(!reason.includes('\n'), 'the reason is one log-safe line');
      assert.ok(reason.length < 120, 'a long value is truncated in the reason');
    }
  });

  test('IPv6: an ipv6Address detail is used when there is no IPv4', () => {
    const t = task({}, {});
    t.attachments![0]!.details = [
      { name: 'networkInterfaceId', value: 'eni-1' },
      { name: 'ipv6Address', value: '2001:db8::7' },
    ];
    const result = mapTask(t, PRIVATE);
    assert.equal(result.kind === 'server' && result.server.address, '2001:db8::7');
    t.attachments![0]!.details = [{ name: 'privateIPv6Address', value: '::1' }];
    const loopback = mapTask(t, PRIVATE);
    assert.equal(loopback.kind === 'server' && loopback.server.address, '::1');
  });

  test('IPv4 is preferred when a task has both', () => {
    const result = mapTask(task({}, { ipv6Address: '2001:db8::7' }), PRIVATE);
    assert.equal(result.kind === 'server' && result.server.address, '10.0.1.7');
  });

  test('a task without a usable ARN is skipped', () => {
    assert.match(skipReason(task({ taskArn: undefined })), /unusable taskArn/);
    assert.match(skipReason(task({ taskArn: 'arn:aws:ecs:us-east-1:1:task/prod/bad id\n' })), /unusable taskArn/);
    assert.match(skipReason(task({ taskArn: 'arn:aws:ecs:us-east-1:1:task/prod/' })), /unusable taskArn/);
  });

  test('old-format ARNs (no cluster segment) work too', () => {
    const result = mapTask(task({ taskArn: 'arn:aws:ecs:us-east-1:1:task/c5cba4eb-5dad-405e-96db-71ef8eefe6a8' }), PRIVATE);
    assert.equal(result.kind === 'server' && result.server.name, 'task-c5cba4eb-5dad-405e-96db-71ef8eefe6a8');
  });

  test('zone is omitted when ECS does not give one', () => {
    const result = mapTask(task({ availabilityZone: undefined }), PRIVATE);
    assert.equal(result.kind, 'server');
    assert.ok(result.kind === 'server' && !('zone' in result.server));
  });
});

describe('public mode', () => {
  const publicIpByEni = new Map([['eni-0a1', '54.1.2.3']]);

  test('the address is the public IP of the task ENI', () => {
    const result = mapTask(task(), { serverPort: 1935, addressMode: 'public', publicIpByEni });
    assert.equal(result.kind === 'server' && result.server.address, '54.1.2.3');
  });

  test('no public IP (yet) for the ENI → skipped', () => {
    assert.match(skipReason(task({}, { networkInterfaceId: 'eni-other' }), { serverPort: 1935, addressMode: 'public', publicIpByEni }), /no public IP/);
    assert.match(skipReason(task(), { serverPort: 1935, addressMode: 'public' }), /no public IP/);
  });

  test('an ENI without networkInterfaceId detail → skipped', () => {
    const t = task();
    t.attachments![0]!.details = t.attachments![0]!.details!.filter((d) => d.name !== 'networkInterfaceId');
    assert.match(skipReason(t, { serverPort: 1935, addressMode: 'public', publicIpByEni }), /no network interface id/);
  });

  test('a bad public IP from EC2 is refused too', () => {
    const reason = skipReason(task(), { serverPort: 1935, addressMode: 'public', publicIpByEni: new Map([['eni-0a1', '54.1.2.3\n#']]) });
    assert.match(reason, /^invalid address/);
  });

  test('eniIdsOf lists distinct ENI ids of tasks that have one', () => {
    const a = task({}, { networkInterfaceId: 'eni-a' });
    const b = task({}, { networkInterfaceId: 'eni-b' });
    assert.deepEqual(eniIdsOf([a, b, a, task({ attachments: [] })]), ['eni-a', 'eni-b']);
    assert.equal(eniIdOf(task({ attachments: undefined })), undefined);
  });
});

describe('mapTasks / finalizeServers', () => {
  const arn = (id: string) => `arn:aws:ecs:us-east-1:1:task/prod/${id}`;

  test('duplicate addresses: the first by name is kept, the rest are reported', () => {
    const tasks = [
      task({ taskArn: arn('ccc') }, { privateIPv4Address: '10.0.0.5' }),
      task({ taskArn: arn('aaa') }, { privateIPv4Address: '10.0.0.5' }),
      task({ taskArn: arn('bbb') }, { privateIPv4Address: '10.0.0.6' }),
    ];
    const result = mapTasks(tasks, PRIVATE);
    assert.deepEqual(result.servers.map((s) => [s.name, s.address]), [['task-aaa', '10.0.0.5'], ['task-bbb', '10.0.0.6']]);
    assert.equal(result.skipped.length, 1);
    assert.equal(result.skipped[0]!.taskArn, arn('ccc'));
    assert.match(result.skipped[0]!.reason, /duplicate address 10\.0\.0\.5:1935 \(also task-aaa\)/);
  });

  test('IPv6 duplicates are found even when written differently', () => {
    const result = finalizeServers([
      { name: 'task-b', address: '2001:db8:0:0::1', port: 1935 },
      { name: 'task-a', address: '2001:db8::1', port: 1935 },
    ]);
    assert.deepEqual(result.servers.map((s) => s.name), ['task-a']);
    assert.equal(result.skipped.length, 1);
  });

  test('the same address on different ports is not a duplicate', () => {
    const result = finalizeServers([
      { name: 'a', address: '10.0.0.1', port: 1935 },
      { name: 'b', address: '10.0.0.1', port: 1936 },
    ]);
    assert.equal(result.servers.length, 2);
    assert.equal(result.skipped.length, 0);
  });

  test('the same task listed twice is one Server', () => {
    const result = mapTasks([task(), task()], PRIVATE);
    assert.equal(result.servers.length, 1);
    assert.equal(result.skipped.length, 1);
  });

  test('names and order are stable whatever the order ECS lists tasks in', () => {
    const tasks = Array.from({ length: 20 }, (_, i) =>
      task({ taskArn: arn(`t${String(i).padStart(2, '0')}x`) }, { privateIPv4Address: `10.0.2.${i + 1}` }),
    );
    const forward = mapTasks(tasks, PRIVATE);
    const reversed = mapTasks([...tasks].reverse(), PRIVATE);
    const shuffled = mapTasks(tasks.map((_, i) => tasks[(i * 7) % 20]!), PRIVATE); // 7 is coprime with 20: a permutation
    assert.equal(forward.servers.length, 20);
    assert.deepEqual(reversed, forward);
    assert.deepEqual(shuffled, forward);
    // A task leaving does not rename the others (names come from task ids, not list positions).
    const without = mapTasks(tasks.slice(1), PRIVATE);
    assert.deepEqual(without.servers, forward.servers.slice(1));
  });

  test('skipped tasks are reported with their ARN and reason, and do not stop the rest', () => {
    const result = mapTasks(
      [task({ taskArn: arn('good') }), task({ taskArn: arn('bad') }, { privateIPv4Address: 'evil\nhost' }), task({ taskArn: undefined })],
      PRIVATE,
    );
    assert.deepEqual(result.servers.map((s) => s.name), ['task-good']);
    assert.deepEqual(result.skipped.map((s) => s.taskArn), [arn('bad'), '(no taskArn)']);
  });
});

describe('essentialsOf (what the description cache keeps)', () => {
  test('mapTask answers the same for a task and its essentials, for every kind of task', () => {
    const publicOpts: MapTaskOptions = { serverPort: 1935, addressMode: 'public', publicIpByEni: new Map([['eni-0a1', '203.0.113.9']]) };
    const cases: Task[] = [
      task(),
      task({ healthStatus: 'UNHEALTHY' }),
      task({ lastStatus: 'PENDING' }),
      task({}, { privateIPv4Address: 'media.internal' }),
      task({ attachments: [] }),
      task({ taskArn: 'not-an-arn' }),
      task({}, { privateIPv4Address: '', ipv6Address: '2001:db8::7' }),
      { ...task(), containers: [{ name: 'nginx', lastStatus: 'RUNNING' }], overrides: { containerOverrides: [] }, cpu: '1024' },
    ];
    for (const t of cases) {
      for (const opts of [PRIVATE, publicOpts]) assert.deepEqual(mapTask(essentialsOf(t), opts), mapTask(t, opts), JSON.stringify(t));
      // Discovery keeps only the essentials of each description, and looks public IPs up by them.
      assert.equal(eniIdOf(essentialsOf(t)), eniIdOf(t), JSON.stringify(t));
    }
    const slim = essentialsOf(cases[7]!);
    assert.equal('containers' in slim, false, 'the rest of the description is not kept');
    assert.deepEqual(slim.attachments?.[0]?.details?.map((d) => d.name), ['networkInterfaceId', 'privateIPv4Address']);
  });
});
