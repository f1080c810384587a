// ECS discovery through the REAL @aws-sdk clients, over HTTP, against the project's emulator.
import { test, describe, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { EC2Client } from '@aws-sdk/client-ec2';
import { ECSClient } from '@aws-sdk/client-ecs';
import { errorCode } from '../src/aws/call.js';
import { createEcsDiscovery, type EcsDiscoveryOptions } from '../src/discovery/ecs.js';
import { DiscoveryError } from '../src/discovery/types.js';
import { createLogger, silentLogger } from '../src/log.js';
import { startEcsEmulator, type EcsEmulator } from '../dev/emulator/ecs-emulator.js';

const CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' };

async function emulator(t: TestContext): Promise<EcsEmulator> {
  const emu = await startEcsEmulator({ host: '127.0.0.1', port: 0 });
  t.after(() => emu.close());
  return emu;
}

/** Real SDK clients pointed at the emulator; maxAttempts 2 keeps persistent-failure tests fast. */
function clients(t: TestContext, emu: EcsEmulator, maxAttempts = 3): { ecs: ECSClient; ec2: EC2Client } {
  const config = { region: 'us-east-1', endpoint: emu.url, credentials: CREDENTIALS, maxAttempts };
  const ecs = new ECSClient(config);
  const ec2 = new EC2Client(config);
  t.after(() => {
    ecs.destroy();
    ec2.destroy();
  });
  return { ecs, ec2 };
}

function discovery(t: TestContext, emu: EcsEmulator, opts: Partial<EcsDiscoveryOptions> & { maxAttempts?: number } = {}) {
  const { maxAttempts, ...rest } = opts;
  return createEcsDiscovery({ cluster: 'default', serverPort: 1935, addressMode: 'private', logger: silentLogger(), ...clients(t, emu, maxAttempts), ...rest });
}

async function rejection(promise: Promise<unknown>): Promise<DiscoveryError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof DiscoveryError, `expected a DiscoveryError, got ${String(err)}`);
    return err;
  }
  assert.fail('discovery resolved, expected it to reject');
}

describe('ECS discovery against the emulator (real SDK over HTTP)', () => {
  test('253 tasks: every ListTasks page, DescribeTasks in batches of at most 100', async (t) => {
    const emu = await emulator(t);
    const arns = Array.from({ length: 253 }, () => emu.addTask());
    const result = await discovery(t, emu).discover();

    assert.equal(result.servers.length, 253);
    assert.equal(result.skipped.length, 0);
    assert.deepEqual(new Set(result.servers.map((s) => s.taskArn)), new Set(arns));
    const names = result.servers.map((s) => s.name);
    assert.deepEqual(names, [...names].sort(), 'sorted by name');

    const lists = emu.calls('ListTasks');
    assert.equal(lists.length, Math.ceil(253 / 100));
    assert.deepEqual(lists.map((c) => c.page), [1, 2, 3]);
    for (const call of lists) {
      assert.equal(call.params.maxResults, 100);
      assert.equal(call.params.desiredStatus, 'RUNNING');
      assert.equal(call.params.cluster, 'default');
    }
    const batches = emu.calls('DescribeTasks').map((c) => (c.params.tasks as string[]).length);
    assert.ok(batches.every((n) => n <= 100), `batches ${batches}`);
    assert.equal(batches.reduce((a, b) => a + b, 0), 253);
    assert.equal(batches.length, 3);
    assert.equal(emu.calls('DescribeNetworkInterfaces').length, 0, 'private mode does not call EC2');
  });

  test('an empty service is an empty, successful answer with no DescribeTasks call', async (t) => {
    const emu = await emulator(t);
    const result = await discovery(t, emu).discover();
    assert.deepEqual(result, { servers: [], skipped: [] });
    assert.equal(emu.calls('ListTasks').length, 1);
    assert.equal(emu.calls('DescribeTasks').length, 0);
  });

  test('serviceName and cluster filter the tasks', async (t) => {
    const emu = await emulator(t);
    const wanted = emu.addTask({ cluster: 'media', service: 'rtmp-server', address: '10.0.0.1' });
    emu.addTask({ cluster: 'media', service: 'other', address: '10.0.0.2' });
    emu.addTask({ cluster: 'media', address: '10.0.0.3' });
    emu.addTask({ cluster: 'default', service: 'rtmp-server', address: '10.0.0.4' });
    const result = await discovery(t, emu, { cluster: 'media', service: 'rtmp-server' }).discover();
    assert.deepEqual(result.servers.map((s) => s.taskArn), [wanted]);
    assert.equal(emu.calls('ListTasks')[0]!.params.serviceName, 'rtmp-server');
    assert.equal(emu.calls('ListTasks')[0]!.params.cluster, 'media');
  });

  test('stopped and stopping tasks are not Servers', async (t) => {
    const emu = await emulator(t);
    const live = emu.addTask();
    emu.removeTask(emu.addTask()); // stopped: not listed as RUNNING
    emu.addTask({ lastStatus: 'RUNNING', desiredStatus: 'STOPPED' }); // stopping: not listed either
    const provisioning = emu.addTask({ lastStatus: 'PROVISIONING', address: null });
    const result = await discovery(t, emu).discover();
    assert.deepEqual(result.servers.map((s) => s.taskArn), [live]);
    assert.deepEqual(result.skipped.map((s) => s.taskArn), [provisioning]);
  });

  test('one throttled call is answered by the SDK retry; discovery still succeeds', async (t) => {
    const emu = await emulator(t);
    emu.addTask({ address: '10.0.0.1' });
    emu.injectFault({ action: 'DescribeTasks', kind: 'throttle' });
    const result = await discovery(t, emu).discover();
    assert.deepEqual(result.servers.map((s) => s.address), ['10.0.0.1']);
    assert.deepEqual(emu.calls('DescribeTasks').map((c) => c.fault), ['throttle', undefined], 'the emulator saw the retry');
  });

  test('a dropped connection once on page 2 is retried by the SDK', async (t) => {
    const emu = await emulator(t);
    for (let i = 0; i < 150; i++) emu.addTask();
    emu.injectFault({ action: 'ListTasks', kind: 'drop-connection', page: 2 });
    const result = await discovery(t, emu).discover();
    assert.equal(result.servers.length, 150);
    assert.deepEqual(emu.calls('ListTasks').map((c) => [c.page, c.fault]), [[1, undefined], [2, 'drop-connection'], [2, undefined]]);
  });

  const persistent: Array<{ kind: 'throttle' | 'server-error' | 'access-denied' | 'cluster-not-found' | 'expired-token' | 'malformed'; code: string; attempts: number }> = [
    { kind: 'throttle', code: 'ThrottlingException', attempts: 2 },
    { kind: 'server-error', code: 'ServerException', attempts: 2 },
    { kind: 'access-denied', code: 'AccessDeniedException', attempts: 1 },
    { kind: 'cluster-not-found', code: 'ClusterNotFoundException', attempts: 1 },
    { kind: 'expired-token', code: 'ExpiredTokenException', attempts: 1 },
    { kind: 'malformed', code: 'MalformedResponse', attempts: 1 },
  ];
  for (const { kind, code, attempts } of persistent) {
    test(`persistent ${kind} on DescribeTasks → rejects with code ${code}, never a partial answer`, async (t) => {
      const emu = await emulator(t);
      for (let i = 0; i < 150; i++) emu.addTask();
      // The first batch succeeds (a zero-delay 'slow' fault is consumed first), every later call fails:
      // a good half must not come back on its own.
      emu.injectFault({ action: 'DescribeTasks', kind: 'slow', delayMs: 0 });
      emu.injectFault({ action: 'DescribeTasks', kind, times: Infinity });
      const err = await rejection(discovery(t, emu, { maxAttempts: 2 }).discover());
      const describeCalls = emu.calls('DescribeTasks').length;
      assert.equal(err.code, code);
      assert.match(err.message, /ecs:DescribeTasks failed/);
      assert.equal(describeCalls, 1 + attempts, 'one good batch, then the SDK attempts on the failing one');
    });
  }

  test('cluster that does not exist → ClusterNotFoundException (no fault injected)', async (t) => {
    const emu = await emulator(t);
    const err = await rejection(discovery(t, emu, { cluster: 'no-such-cluster' }).discover());
    assert.equal(err.code, 'ClusterNotFoundException');
    assert.equal(emu.calls('ListTasks').length, 1, 'not retried');
  });

  test('connection dropped on every try of page 2 → NetworkError, no DescribeTasks at all', async (t) => {
    const emu = await emulator(t);
    for (let i = 0; i < 250; i++) emu.addTask();
    emu.injectFault({ action: 'ListTasks', kind: 'drop-connection', page: 2, times: Infinity });
    const err = await rejection(discovery(t, emu, { maxAttempts: 2 }).discover());
    assert.equal(err.code, 'NetworkError');
    assert.deepEqual(emu.calls('ListTasks').map((c) => c.page), [1, 2, 2]);
    assert.equal(emu.calls('DescribeTasks').length, 0);
  });

  test('persistent throttling on ListTasks page 3 → ThrottlingException', async (t) => {
    const emu = await emulator(t);
    for (let i = 0; i < 201; i++) emu.addTask();
    emu.injectFault({ action: 'ListTasks', kind: 'throttle', page: 3, times: Infinity });
    const err = await rejection(discovery(t, emu, { maxAttempts: 2 }).discover());
    assert.equal(err.code, 'ThrottlingException');
    assert.deepEqual(emu.calls('ListTasks').map((c) => c.page), [1, 2, 3, 3]);
  });

  test('nothing listening → NetworkError', async (t) => {
    const emu = await emulator(t);
    const d = discovery(t, emu, { maxAttempts: 1 });
    await emu.close();
    const err = await rejection(d.discover());
    assert.equal(err.code, 'NetworkError');
  });

  test('a hung call is cut by callTimeoutMs → Timeout', async (t) => {
    const emu = await emulator(t);
    emu.injectFault({ action: 'ListTasks', kind: 'slow', delayMs: 5000 });
    const started = Date.now();
    const err = await rejection(discovery(t, emu, { callTimeoutMs: 200 }).discover());
    assert.equal(err.code, 'Timeout');
    assert.ok(Date.now() - started < 3000, 'did not wait for the slow answer');
  });

  test('a slow answer within the deadline is fine', async (t) => {
    const emu = await emulator(t);
    emu.addTask({ address: '10.0.0.1' });
    emu.injectFault({ action: 'DescribeTasks', kind: 'slow', delayMs: 150 });
    const result = await discovery(t, emu).discover();
    assert.equal(result.servers.length, 1);
    assert.equal(emu.calls('DescribeTasks')[0]!.fault, 'slow');
  });

  test('malformed tasks are skipped and logged at warn, not fatal', async (t) => {
    const emu = await emulator(t);
    const lines: Array<Record<string, unknown>> = [];
    const logger = createLogger('debug', { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
    const good = emu.addTask({ address: '10.0.0.1' });
    const noAttachments = emu.addTask({ raw: { attachments: [] } });
    const injected = emu.addTask({ address: '10.0.0.2\n  server evil 6.6.6.6:1935' });
    const hostname = emu.addTask({ address: 'media.internal' });
    const unhealthy = emu.addTask({ address: '10.0.0.3', healthStatus: 'UNHEALTHY' });
    const disco = discovery(t, emu, { logger });
    const result = await disco.discover();

    assert.deepEqual(result.servers.map((s) => s.taskArn), [good]);
    const reasons = new Map(result.skipped.map((s) => [s.taskArn, s.reason]));
    assert.match(reasons.get(noAttachments)!, /no network interface/);
    assert.match(reasons.get(injected)!, /^invalid address/);
    assert.match(reasons.get(hostname)!, /^invalid address/);
    assert.match(reasons.get(unhealthy)!, /UNHEALTHY/);

    const warnings = lines.filter((l) => l.level === 40);
    assert.equal(warnings.length, 4, 'one warn line per skipped task');
    for (const w of warnings) {
      assert.equal(reasons.get(w.taskArn as string), w.reason);
    }

    // The next sync skips the same tasks for the same reasons: no new warnings, a flood avoided.
    await disco.discover();
    assert.equal(lines.filter((l) => l.level === 40).length, 4);
    // A task skipped for a new reason is warned about again.
    emu.setTask(unhealthy, { healthStatus: 'HEALTHY', address: 'still-a-hostname' });
    await disco.discover();
    assert.equal(lines.filter((l) => l.level === 40).length, 5);
  });

  test('IPv6 task address', async (t) => {
    const emu = await emulator(t);
    emu.addTask({ address: '2001:db8::10' });
    const result = await discovery(t, emu).discover();
    assert.deepEqual(result.servers.map((s) => s.address), ['2001:db8::10']);
  });

  test('a task forgotten between ListTasks and DescribeTasks (MISSING) is dropped, not fatal', async (t) => {
    const emu = await emulator(t);
    const stays = emu.addTask({ address: '10.0.0.1' });
    const goes = emu.addTask({ address: '10.0.0.2' });
    emu.injectFault({ action: 'DescribeTasks', kind: 'slow', delayMs: 300 });
    const pending = discovery(t, emu).discover();
    await waitUntil(() => emu.calls('DescribeTasks').length === 1, 5000);
    emu.forgetTask(goes); // while DescribeTasks is held back
    const result = await pending;
    assert.deepEqual(result.servers.map((s) => s.taskArn), [stays]);
    assert.deepEqual(result.skipped, []);
  });

  test('any other DescribeTasks failure rejects', async () => {
    const fake = {
      send: async (command: { constructor: { name: string } }) =>
        command.constructor.name === 'ListTasksCommand'
          ? { taskArns: ['arn:aws:ecs:us-east-1:1:task/default/abc'] }
          : { tasks: [], failures: [{ arn: 'arn:aws:ecs:us-east-1:1:task/default/abc', reason: 'ACCESS_DENIED' }] },
    } as unknown as ECSClient;
    const d = createEcsDiscovery({ cluster: 'default', serverPort: 1935, addressMode: 'private', ecs: fake, logger: silentLogger() });
    const err = await rejection(d.discover());
    assert.equal(err.code, 'DescribeTasksFailure:ACCESS_DENIED');
  });

  test('public mode: addresses come from EC2 DescribeNetworkInterfaces', async (t) => {
    const emu = await emulator(t);
    const a = emu.addTask({ address: '10.0.0.1', publicIp: '54.0.0.1' });
    const b = emu.addTask({ address: '10.0.0.2', publicIp: '54.0.0.2' });
    const noPublic = emu.addTask({ address: '10.0.0.3' });
    const result = await discovery(t, emu, { addressMode: 'public' }).discover();
    assert.deepEqual(
      result.servers.map((s) => [s.taskArn, s.address]).sort(),
      [[a, '54.0.0.1'], [b, '54.0.0.2']].sort(),
    );
    assert.deepEqual(result.skipped.map((s) => s.taskArn), [noPublic]);
    assert.match(result.skipped[0]!.reason, /no public IP/);
    const ec2Calls = emu.calls('DescribeNetworkInterfaces');
    assert.equal(ec2Calls.length, 1);
    assert.equal(ec2Calls[0]!.params['Filter.1.Name'], 'network-interface-id');
    const asked = Object.entries(ec2Calls[0]!.params).filter(([k]) => k.startsWith('Filter.1.Value.')).map(([, v]) => v);
    assert.deepEqual(new Set(asked), new Set(emu.tasks().map((task) => task.eniId)));
  });

  test('public mode: an ENI gone meanwhile is just absent (skipped), not an error', async (t) => {
    const emu = await emulator(t);
    const stays = emu.addTask({ publicIp: '54.0.0.1' });
    const goes = emu.addTask({ publicIp: '54.0.0.2' });
    emu.injectFault({ action: 'DescribeNetworkInterfaces', kind: 'slow', delayMs: 300 });
    const pending = discovery(t, emu, { addressMode: 'public' }).discover();
    await waitUntil(() => emu.calls('DescribeNetworkInterfaces').length === 1, 5000);
    emu.removeTask(goes); // Fargate deletes the ENI when the task stops
    const result = await pending;
    assert.deepEqual(result.servers.map((s) => s.taskArn), [stays]);
    assert.deepEqual(result.skipped.map((s) => s.taskArn), [goes]);
  });

  test('public mode: persistent EC2 throttling rejects with RequestLimitExceeded', async (t) => {
    const emu = await emulator(t);
    emu.addTask({ publicIp: '54.0.0.1' });
    emu.injectFault({ action: 'DescribeNetworkInterfaces', kind: 'throttle', times: Infinity });
    const err = await rejection(discovery(t, emu, { addressMode: 'public', maxAttempts: 2 }).discover());
    assert.equal(err.code, 'RequestLimitExceeded');
    assert.match(err.message, /ec2:DescribeNetworkInterfaces failed/);
    assert.equal(emu.calls('DescribeNetworkInterfaces').length, 2);
  });

  test('public mode: EC2 access denied rejects with UnauthorizedOperation', async (t) => {
    const emu = await emulator(t);
    emu.addTask({ publicIp: '54.0.0.1' });
    emu.injectFault({ action: 'DescribeNetworkInterfaces', kind: 'access-denied' });
    const err = await rejection(discovery(t, emu, { addressMode: 'public' }).discover());
    assert.equal(err.code, 'UnauthorizedOperation');
  });

  test('default-constructed clients follow AWS_ENDPOINT_URL_ECS / AWS_ENDPOINT_URL_EC2 and AWS_REGION', async (t) => {
    const emu = await emulator(t);
    emu.addTask({ address: '10.0.0.1', publicIp: '54.0.0.1' });
    const vars = {
      AWS_ENDPOINT_URL_ECS: emu.url,
      AWS_ENDPOINT_URL_EC2: emu.url,
      AWS_REGION: 'eu-west-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_SESSION_TOKEN: undefined,
      AWS_PROFILE: undefined,
      AWS_ENDPOINT_URL: undefined,
    };
    const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
    const restore = () => {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    };
    t.after(restore);
    for (const [k, v] of Object.entries(vars)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    const d = createEcsDiscovery({ cluster: 'default', serverPort: 1935, addressMode: 'public', logger: silentLogger() });
    const result = await d.discover();
    restore();
    assert.deepEqual(result.servers.map((s) => s.address), ['54.0.0.1']);
    assert.equal(emu.calls('ListTasks').length, 1);
    assert.equal(emu.calls('DescribeNetworkInterfaces').length, 1);
  });
});

describe('errorCode', () => {
  test('names what went wrong', () => {
    assert.equal(errorCode(Object.assign(new Error('x'), { name: 'ThrottlingException', $metadata: { httpStatusCode: 400 } })), 'ThrottlingException');
    assert.equal(errorCode(Object.assign(new Error('socket hang up'), { name: 'TimeoutError', code: 'ECONNRESET' })), 'NetworkError');
    assert.equal(errorCode(Object.assign(new Error('x'), { code: 'ECONNREFUSED' })), 'NetworkError');
    assert.equal(errorCode(Object.assign(new Error('aborted'), { name: 'AbortError' })), 'Timeout');
    assert.equal(errorCode(Object.assign(new SyntaxError('bad json'), { $metadata: { httpStatusCode: 200 } })), 'MalformedResponse');
    assert.equal(errorCode(new Error('plain')), 'UnknownError');
    assert.equal(errorCode('a string'), 'UnknownError');
  });
});

/** Poll a condition (bounded): for waiting on the emulator to have seen a call. */
async function waitUntil(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('description cache: a steady fleet costs only the ListTasks pages', () => {
  test('known Servers are not described again; new, pending and re-listed tasks are; a full refresh describes all', async (t) => {
    const emu = await startEcsEmulator({ host: '127.0.0.1', port: 0 });
    t.after(() => emu.close());
    for (let i = 0; i < 150; i++) emu.addTask({ address: `10.1.${i >> 8}.${i & 255}` });
    const pending = emu.addTask({ address: null });
    const disco = discovery(t, emu, { fullRefreshEvery: 4 });
    const describedIn = async () => {
      const before = emu.calls('DescribeTasks').length;
      const listBefore = emu.calls('ListTasks').length;
      const result = await disco.discover();
      const calls = emu.calls('DescribeTasks').slice(before);
      return { result, describes: calls.length, arns: calls.flatMap((c) => c.params.tasks as string[]), lists: emu.calls('ListTasks').length - listBefore };
    };

    const first = await describedIn();
    assert.equal(first.result.servers.length, 150);
    assert.equal(first.describes, 2, 'the first discovery describes all 151 tasks');
    assert.equal(first.lists, 2);

    const steady = await describedIn();
    assert.equal(steady.result.servers.length, 150, 'the fleet is the same from the cache');
    assert.deepEqual(steady.arns, [pending], 'only the task without an address yet is described again');
    assert.equal(steady.lists, 2);

    const joined = emu.addTask({ address: '10.1.9.9' });
    emu.setTask(pending, { address: '10.1.9.8' });
    const next = await describedIn();
    assert.deepEqual(next.arns.sort(), [joined, pending].sort());
    assert.equal(next.result.servers.length, 152);

    const stopped = next.result.servers[0]!.taskArn!;
    emu.removeTask(stopped);
    const after = await describedIn();
    assert.equal(after.describes, 0);
    assert.equal(after.result.servers.length, 151);
    assert.ok(!after.result.servers.some((s) => s.taskArn === stopped), 'a task no longer listed leaves at once');
    const refresh = await describedIn();
    assert.equal(refresh.arns.length, 151, 'every 4th discovery describes every listed task afresh');
    assert.equal((await describedIn()).describes, 0, 'steady again: ListTasks only');
  });
});
