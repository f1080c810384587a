// The ECS API emulator, checked with the REAL SDK clients (wire protocol, limits, errors, faults)
// and over plain HTTP (admin API), plus its CLI entry.
import { test, describe, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { DescribeNetworkInterfacesCommand, EC2Client } from '@aws-sdk/client-ec2';
import {
  ClusterNotFoundException,
  DescribeTasksCommand,
  ECSClient,
  GetTaskProtectionCommand,
  InvalidParameterException,
  ListTasksCommand,
  UpdateTaskProtectionCommand,
  type ListTasksCommandInput,
} from '@aws-sdk/client-ecs';
import { startEcsEmulator, type EcsEmulator, type FaultKind } from '../dev/emulator/ecs-emulator.js';
import { waitFor } from './helpers/wait.js';
import { DEFAULT_EMULATOR_PORT, parseEmulatorEnv } from '../dev/emulator/main.js';
import { sdkError } from './helpers/sdk.js';
import { exitCodeOnSigterm, startEmulatorProcess } from './helpers/emulator-process.js';

const CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' };

async function setup(t: TestContext, maxAttempts = 1): Promise<{ emu: EcsEmulator; ecs: ECSClient; ec2: EC2Client }> {
  const emu = await startEcsEmulator({ host: '127.0.0.1', port: 0, region: 'eu-central-1', accountId: '111122223333' });
  const config = { region: 'eu-central-1', endpoint: emu.url, credentials: CREDENTIALS, maxAttempts };
  const ecs = new ECSClient(config);
  const ec2 = new EC2Client(config);
  t.after(async () => {
    ecs.destroy();
    ec2.destroy();
    await emu.close();
  });
  return { emu, ecs, ec2 };
}


describe('ECS JSON 1.1 protocol', () => {
  test('tasks look real: ARN, cluster ARN, ENI attachment with a private IPv4 address', async (t) => {
    const { emu, ecs } = await setup(t);
    const arn = emu.addTask({ address: '10.9.8.7', az: 'eu-central-1b', service: 'rtmp' });
    assert.match(arn, /^arn:aws:ecs:eu-central-1:111122223333:task\/default\/[0-9a-f]{32}$/);
    const { tasks, failures } = await ecs.send(new DescribeTasksCommand({ cluster: 'default', tasks: [arn] }));
    assert.deepEqual(failures, []);
    const task = tasks![0]!;
    assert.equal(task.taskArn, arn);
    assert.equal(task.clusterArn, 'arn:aws:ecs:eu-central-1:111122223333:cluster/default');
    assert.equal(task.lastStatus, 'RUNNING');
    assert.equal(task.desiredStatus, 'RUNNING');
    assert.equal(task.availabilityZone, 'eu-central-1b');
    assert.equal(task.group, 'service:rtmp');
    assert.ok(task.createdAt instanceof Date && Math.abs(task.createdAt.getTime() - Date.now()) < 60_000, 'timestamps parse as Dates');
    const eni = task.attachments![0]!;
    assert.equal(eni.type, 'ElasticNetworkInterface');
    assert.equal(eni.status, 'ATTACHED');
    const details = Object.fromEntries(eni.details!.map((d) => [d.name, d.value]));
    assert.equal(details.privateIPv4Address, '10.9.8.7');
    assert.match(details.networkInterfaceId!, /^eni-[0-9a-f]+$/);
    assert.equal(details.networkInterfaceId, emu.tasks()[0]!.eniId);
  });

  test('ListTasks pages with an opaque nextToken; maxResults defaults to 100', async (t) => {
    const { emu, ecs } = await setup(t);
    const arns = Array.from({ length: 25 }, () => emu.addTask());
    const seen: string[] = [];
    let nextToken: string | undefined;
    let pages = 0;
    do {
      const page = await ecs.send(new ListTasksCommand({ maxResults: 10, ...(nextToken && { nextToken }) }));
      assert.ok(page.taskArns!.length <= 10);
      seen.push(...page.taskArns!);
      nextToken = page.nextToken;
      pages++;
    } while (nextToken);
    assert.equal(pages, 3);
    assert.deepEqual(seen, arns);

    for (let i = 0; i < 100; i++) emu.addTask();
    const first = await ecs.send(new ListTasksCommand({}));
    assert.equal(first.taskArns!.length, 100);
    assert.ok(first.nextToken);
  });

  test('ListTasks limits: maxResults > 100 and a forged nextToken are InvalidParameterException', async (t) => {
    const { ecs } = await setup(t);
    const tooMany = await sdkError(ecs.send(new ListTasksCommand({ maxResults: 101 })));
    assert.ok(tooMany instanceof InvalidParameterException, tooMany.name);
    const forged = await sdkError(ecs.send(new ListTasksCommand({ nextToken: 'not-a-token' })));
    assert.equal(forged.name, 'InvalidParameterException');
  });

  test('ListTasks filters by cluster (name or ARN), serviceName and desiredStatus', async (t) => {
    const { emu, ecs } = await setup(t);
    const a = emu.addTask({ cluster: 'media', service: 'rtmp' });
    const b = emu.addTask({ cluster: 'media', service: 'other' });
    const stopped = emu.addTask({ cluster: 'media', service: 'rtmp' });
    emu.removeTask(stopped);
    emu.addTask({ cluster: 'default', service: 'rtmp' });
    const list = async (input: ListTasksCommandInput) => (await ecs.send(new ListTasksCommand(input))).taskArns;
    assert.deepEqual(await list({ cluster: 'media' }), [a, b]);
    assert.deepEqual(await list({ cluster: 'arn:aws:ecs:eu-central-1:111122223333:cluster/media', serviceName: 'rtmp' }), [a]);
    assert.deepEqual(await list({ cluster: 'media', desiredStatus: 'STOPPED' }), [stopped]);
    assert.deepEqual(await list({ cluster: 'media', serviceName: 'none' }), []);
  });

  test('unknown cluster → ClusterNotFoundException, HTTP 400, as the SDK models it', async (t) => {
    const { ecs } = await setup(t);
    const err = await sdkError(ecs.send(new ListTasksCommand({ cluster: 'nope' })));
    assert.ok(err instanceof ClusterNotFoundException, `got ${err.name}`);
    assert.equal(err.$metadata.httpStatusCode, 400);
    assert.equal(err.message, 'Cluster not found.');
  });

  test('DescribeTasks: ids or ARNs, unknown → failures MISSING, > 100 or none → InvalidParameterException', async (t) => {
    const { emu, ecs } = await setup(t);
    const arn = emu.addTask();
    const id = arn.split('/').pop()!;
    const answer = await ecs.send(new DescribeTasksCommand({ tasks: [id, 'arn:aws:ecs:eu-central-1:111122223333:task/default/ffff'] }));
    assert.deepEqual(answer.tasks!.map((task) => task.taskArn), [arn]);
    assert.deepEqual(answer.failures, [{ arn: 'arn:aws:ecs:eu-central-1:111122223333:task/default/ffff', reason: 'MISSING' }]);

    const hundred = Array.from({ length: 100 }, (_, i) => `t${i}`);
    assert.equal((await ecs.send(new DescribeTasksCommand({ tasks: hundred }))).failures!.length, 100);
    const tooMany = await sdkError(ecs.send(new DescribeTasksCommand({ tasks: [...hundred, 'x'] })));
    assert.equal(tooMany.name, 'InvalidParameterException');
    const none = await sdkError(ecs.send(new DescribeTasksCommand({ tasks: [] })));
    assert.equal(none.name, 'InvalidParameterException');
  });

  test('a task in another cluster is MISSING in this one', async (t) => {
    const { emu, ecs } = await setup(t);
    const arn = emu.addTask({ cluster: 'media' });
    const answer = await ecs.send(new DescribeTasksCommand({ cluster: 'default', tasks: [arn] }));
    assert.deepEqual(answer.failures!.map((f) => f.reason), ['MISSING']);
  });

  test('task lifecycle: setTask, removeTask (STOPPED, still describable), forgetTask (MISSING)', async (t) => {
    const { emu, ecs } = await setup(t);
    const arn = emu.addTask({ lastStatus: 'PROVISIONING', address: null });
    const describe = async () => ecs.send(new DescribeTasksCommand({ tasks: [arn] }));
    let task = (await describe()).tasks![0]!;
    assert.equal(task.lastStatus, 'PROVISIONING');
    assert.equal(task.attachments![0]!.status, 'PRECREATED');
    assert.ok(!task.attachments![0]!.details!.some((d) => d.name === 'privateIPv4Address'), 'no address yet');

    emu.setTask(arn, { lastStatus: 'RUNNING', address: '10.0.0.42', healthStatus: 'HEALTHY' });
    task = (await describe()).tasks![0]!;
    assert.equal(task.lastStatus, 'RUNNING');
    assert.equal(task.healthStatus, 'HEALTHY');
    assert.ok(task.attachments![0]!.details!.some((d) => d.name === 'privateIPv4Address' && d.value === '10.0.0.42'));

    emu.removeTask(arn);
    task = (await describe()).tasks![0]!;
    assert.equal(task.lastStatus, 'STOPPED');
    assert.equal(task.desiredStatus, 'STOPPED');
    assert.ok(task.stoppedAt instanceof Date);
    assert.deepEqual((await ecs.send(new ListTasksCommand({}))).taskArns, []);

    emu.forgetTask(arn);
    assert.deepEqual((await describe()).failures!.map((f) => f.reason), ['MISSING']);
  });

  test('raw overrides make malformed tasks (Dates are sent as epoch seconds)', async (t) => {
    const { emu, ecs } = await setup(t);
    const startedAt = new Date('2024-05-01T12:00:00Z');
    const arn = emu.addTask({ raw: { attachments: [], startedAt } });
    const task = (await ecs.send(new DescribeTasksCommand({ tasks: [arn] }))).tasks![0]!;
    assert.deepEqual(task.attachments, []);
    assert.equal(task.startedAt?.toISOString(), startedAt.toISOString());
  });

  test('IPv6 tasks carry an ipv6Address detail', async (t) => {
    const { emu, ecs } = await setup(t);
    const arn = emu.addTask({ address: '2001:db8::1' });
    const details = (await ecs.send(new DescribeTasksCommand({ tasks: [arn] }))).tasks![0]!.attachments![0]!.details!;
    assert.ok(details.some((d) => d.name === 'ipv6Address' && d.value === '2001:db8::1'));
    assert.ok(!details.some((d) => d.name === 'privateIPv4Address'));
  });

  test('task protection: enable with expiry, read back, disable; at most 10 tasks per update', async (t) => {
    const { emu, ecs } = await setup(t);
    const arn = emu.addTask({ service: 'rtmp' });
    const before = Date.now();
    const updated = await ecs.send(new UpdateTaskProtectionCommand({ cluster: 'default', tasks: [arn], protectionEnabled: true, expiresInMinutes: 5 }));
    assert.equal(updated.protectedTasks![0]!.protectionEnabled, true);
    const expires = updated.protectedTasks![0]!.expirationDate!.getTime();
    assert.ok(expires >= before + 5 * 60_000 - 1000 && expires <= Date.now() + 5 * 60_000 + 1000, `expiry ${new Date(expires).toISOString()}`);
    assert.deepEqual(emu.tasks()[0]!.protection?.enabled, true);

    const got = await ecs.send(new GetTaskProtectionCommand({ cluster: 'default', tasks: [arn] }));
    assert.equal(got.protectedTasks![0]!.protectionEnabled, true);

    await ecs.send(new UpdateTaskProtectionCommand({ cluster: 'default', tasks: [arn], protectionEnabled: false }));
    const after = await ecs.send(new GetTaskProtectionCommand({ cluster: 'default', tasks: [arn] }));
    assert.equal(after.protectedTasks![0]!.protectionEnabled, false);

    const eleven = Array.from({ length: 11 }, () => emu.addTask({ service: 'rtmp' }));
    const err = await sdkError(ecs.send(new UpdateTaskProtectionCommand({ cluster: 'default', tasks: eleven, protectionEnabled: true })));
    assert.equal(err.name, 'InvalidParameterException');
    const missing = await ecs.send(new UpdateTaskProtectionCommand({ cluster: 'default', tasks: ['nope'], protectionEnabled: true }));
    assert.deepEqual(missing.failures!.map((f) => f.reason), ['MISSING']);
    assert.equal(emu.calls('UpdateTaskProtection').length, 4);
  });
});

describe('EC2 query protocol', () => {
  test('DescribeNetworkInterfaces by id and by filter; public IP in Association', async (t) => {
    const { emu, ec2 } = await setup(t);
    emu.addTask({ address: '10.0.0.1', publicIp: '54.1.1.1' });
    emu.addTask({ address: '10.0.0.2' });
    const [withIp, without] = emu.tasks();
    const byId = await ec2.send(new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: [withIp!.eniId, without!.eniId] }));
    const summary = byId.NetworkInterfaces!.map((n) => [n.NetworkInterfaceId, n.PrivateIpAddress, n.Association?.PublicIp]);
    assert.deepEqual(summary, [
      [withIp!.eniId, '10.0.0.1', '54.1.1.1'],
      [without!.eniId, '10.0.0.2', undefined],
    ]);
    const byFilter = await ec2.send(
      new DescribeNetworkInterfacesCommand({ Filters: [{ Name: 'network-interface-id', Values: [withIp!.eniId, 'eni-00000000'] }] }),
    );
    assert.deepEqual(byFilter.NetworkInterfaces!.map((n) => n.NetworkInterfaceId), [withIp!.eniId]);
    assert.equal(emu.calls('DescribeNetworkInterfaces')[0]!.params['NetworkInterfaceId.1'], withIp!.eniId);
  });

  test('an unknown ENI id is an error for the whole call, as in EC2', async (t) => {
    const { ec2 } = await setup(t);
    const err = await sdkError(ec2.send(new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: ['eni-0123'] })));
    assert.equal(err.name, 'InvalidNetworkInterfaceID.NotFound');
    assert.equal(err.$metadata.httpStatusCode, 400);
  });

  test('unsupported filters are refused', async (t) => {
    const { ec2 } = await setup(t);
    const err = await sdkError(ec2.send(new DescribeNetworkInterfacesCommand({ Filters: [{ Name: 'vpc-id', Values: ['vpc-1'] }] })));
    assert.equal(err.name, 'InvalidParameterValue');
  });
});

describe('fault injection', () => {
  const expected: Array<[FaultKind, string, number | undefined, string, number | undefined]> = [
    ['throttle', 'ThrottlingException', 400, 'RequestLimitExceeded', 503],
    ['server-error', 'ServerException', 500, 'InternalError', 500],
    ['access-denied', 'AccessDeniedException', 400, 'UnauthorizedOperation', 403],
    ['cluster-not-found', 'ClusterNotFoundException', 400, 'InvalidNetworkInterfaceID.NotFound', 400],
    ['expired-token', 'ExpiredTokenException', 400, 'RequestExpired', 400],
  ];
  for (const [kind, ecsName, ecsStatus, ec2Name, ec2Status] of expected) {
    test(`${kind}: ECS ${ecsName}, EC2 ${ec2Name}, as the SDK parses them`, async (t) => {
      const { emu, ecs, ec2 } = await setup(t);
      emu.injectFault({ kind, times: 2 });
      const ecsErr = await sdkError(ecs.send(new ListTasksCommand({})));
      assert.equal(ecsErr.name, ecsName);
      assert.equal(ecsErr.$metadata.httpStatusCode, ecsStatus);
      const ec2Err = await sdkError(ec2.send(new DescribeNetworkInterfacesCommand({})));
      assert.equal(ec2Err.name, ec2Name);
      assert.equal(ec2Err.$metadata.httpStatusCode, ec2Status);
      // Used up: the next call is answered normally.
      assert.deepEqual((await ecs.send(new ListTasksCommand({}))).taskArns, []);
    });
  }

  test('malformed answers fail to parse in the SDK; dropped connections fail at the socket', async (t) => {
    const { emu, ecs, ec2 } = await setup(t);
    emu.injectFault({ kind: 'malformed', times: 2 });
    assert.equal((await sdkError(ecs.send(new ListTasksCommand({})))).$metadata.httpStatusCode, 200);
    assert.equal((await sdkError(ec2.send(new DescribeNetworkInterfacesCommand({})))).$metadata.httpStatusCode, 200);
    emu.injectFault({ kind: 'drop-connection' });
    const dropped = (await sdkError(ecs.send(new ListTasksCommand({})))) as Error & { code?: string };
    assert.equal(dropped.code, 'ECONNRESET');
  });

  test('times counts matching calls only; action and page narrow the match; Infinity lasts', async (t) => {
    const { emu, ecs } = await setup(t);
    for (let i = 0; i < 30; i++) emu.addTask();
    emu.injectFault({ action: 'DescribeTasks', kind: 'throttle', times: 2 });
    emu.injectFault({ action: 'ListTasks', kind: 'server-error', page: 2, times: Infinity });

    const page1 = await ecs.send(new ListTasksCommand({ maxResults: 10 })); // page 1: not hit
    for (let i = 0; i < 3; i++) {
      const err = await sdkError(ecs.send(new ListTasksCommand({ maxResults: 10, nextToken: page1.nextToken! })));
      assert.equal(err.name, 'ServerException');
    }
    assert.equal((await sdkError(ecs.send(new DescribeTasksCommand({ tasks: ['x'] })))).name, 'ThrottlingException');
    assert.equal((await sdkError(ecs.send(new DescribeTasksCommand({ tasks: ['x'] })))).name, 'ThrottlingException');
    await ecs.send(new DescribeTasksCommand({ tasks: ['x'] })); // third call: fault used up

    emu.clearFaults();
    const page2 = await ecs.send(new ListTasksCommand({ maxResults: 10, nextToken: page1.nextToken! }));
    assert.equal(page2.taskArns!.length, 10);
    assert.deepEqual(
      emu.calls('ListTasks').map((c) => [c.page, c.fault]),
      [[1, undefined], [2, 'server-error'], [2, 'server-error'], [2, 'server-error'], [2, undefined]],
    );
    assert.equal(emu.calls('DescribeTasks').length, 3);
    assert.equal(emu.calls().length, 8);
  });

  test("'*' matches every action; slow answers after delayMs", async (t) => {
    const { emu, ecs } = await setup(t);
    emu.injectFault({ action: '*', kind: 'slow', delayMs: 250 });
    const started = Date.now();
    await ecs.send(new ListTasksCommand({}));
    assert.ok(Date.now() - started >= 240, 'answer was held back');
    assert.equal(emu.calls('ListTasks')[0]!.fault, 'slow');
  });

  test('the SDK retries a throttle by itself (default 3 attempts) and the emulator logs each try', async (t) => {
    const { emu, ecs } = await setup(t, 3);
    emu.injectFault({ action: 'ListTasks', kind: 'throttle', times: 2 });
    const answer = await ecs.send(new ListTasksCommand({}));
    assert.equal(answer.$metadata.attempts, 3);
    assert.deepEqual(emu.calls('ListTasks').map((c) => c.fault), ['throttle', 'throttle', undefined]);
  });

  test('reset clears tasks, faults and the call log', async (t) => {
    const { emu, ecs } = await setup(t);
    emu.addTask();
    emu.injectFault({ kind: 'throttle', times: Infinity });
    await sdkError(ecs.send(new ListTasksCommand({})));
    emu.reset();
    assert.deepEqual(emu.tasks(), []);
    assert.deepEqual(emu.calls(), []);
    assert.deepEqual((await ecs.send(new ListTasksCommand({}))).taskArns, []);
  });

  test('close() does not wait for a slow answer', async (t) => {
    const { emu, ecs } = await setup(t);
    emu.injectFault({ kind: 'slow', delayMs: 10_000 });
    const pending = ecs.send(new ListTasksCommand({})).catch((err: unknown) => err);
    await waitFor(() => emu.calls().length > 0, { timeoutMs: 5000, intervalMs: 5, what: 'the emulator to receive the call' });
    const started = Date.now();
    await emu.close();
    assert.ok(Date.now() - started < 2000);
    assert.ok((await pending) instanceof Error);
  });
});

describe('admin API (HTTP JSON under /_emulator/)', () => {
  test('add, list, stop tasks; inject and clear faults; read calls', async (t) => {
    const { emu, ecs } = await setup(t);
    const admin = (method: string, path: string, body?: unknown) =>
      fetch(`${emu.url}/_emulator/${path}`, { method, ...(body !== undefined && { body: JSON.stringify(body) }) });

    const created = await admin('POST', 'tasks', { address: '10.1.2.3', service: 'rtmp' });
    assert.equal(created.status, 201);
    const { taskArn } = (await created.json()) as { taskArn: string };
    assert.deepEqual((await ecs.send(new ListTasksCommand({ serviceName: 'rtmp' }))).taskArns, [taskArn]);

    const listed = (await (await admin('GET', 'tasks')).json()) as { tasks: Array<{ taskArn: string; address: string }> };
    assert.deepEqual(listed.tasks.map((x) => [x.taskArn, x.address]), [[taskArn, '10.1.2.3']]);

    const fault = await admin('POST', 'faults', { action: 'ListTasks', kind: 'access-denied', times: 'Infinity' });
    assert.equal(fault.status, 201);
    assert.equal((await sdkError(ecs.send(new ListTasksCommand({})))).name, 'AccessDeniedException');
    assert.equal((await sdkError(ecs.send(new ListTasksCommand({})))).name, 'AccessDeniedException');
    assert.equal((await admin('DELETE', 'faults')).status, 200);

    const id = taskArn.split('/').pop()!;
    assert.equal((await admin('DELETE', `tasks/${id}`)).status, 200);
    assert.deepEqual((await ecs.send(new ListTasksCommand({}))).taskArns, []);
    assert.equal((await admin('DELETE', `tasks/${encodeURIComponent(taskArn)}`)).status, 200, 'by ARN too');
    assert.equal((await admin('DELETE', 'tasks/nope')).status, 404);

    const calls = (await (await admin('GET', 'calls')).json()) as { calls: Array<{ action: string; fault?: string }> };
    assert.deepEqual(calls.calls.map((c) => [c.action, c.fault]), [
      ['ListTasks', undefined],
      ['ListTasks', 'access-denied'],
      ['ListTasks', 'access-denied'],
      ['ListTasks', undefined],
    ]);

    assert.equal((await admin('POST', 'reset')).status, 200);
    assert.deepEqual(emu.tasks(), []);
  });

  test('bad input is a 400 that says what is wrong; unknown routes are 404', async (t) => {
    const { emu } = await setup(t);
    const post = async (path: string, body: string) => {
      const res = await fetch(`${emu.url}/_emulator/${path}`, { method: 'POST', body });
      return { status: res.status, error: ((await res.json()) as { error?: string }).error ?? '' };
    };
    assert.deepEqual(await post('tasks', '{"adress":"10.0.0.1"}'), { status: 400, error: 'unknown task field "adress" (allowed: cluster, service, address, publicIp, az, lastStatus, desiredStatus, healthStatus, taskId, raw)' });
    assert.match((await post('tasks', '{"address":5}')).error, /"address" must be a string/);
    assert.match((await post('tasks', 'not json')).error, /JSON/);
    assert.match((await post('faults', '{"kind":"explode"}')).error, /fault kind must be one of/);
    assert.match((await post('faults', '{"kind":"throttle","times":0}')).error, /times/);
    assert.match((await post('faults', '{"kind":"throttle","action":"RunTask"}')).error, /fault action/);
    assert.equal((await fetch(`${emu.url}/_emulator/nothing`)).status, 404);
    assert.deepEqual(emu.tasks(), []);
  });
});

describe('CLI entry (dev/emulator/main.ts)', () => {
  test('environment: defaults, and errors that name the variable, value and what is allowed', () => {
    const ok = parseEmulatorEnv({});
    assert.deepEqual(ok, { ok: true, value: { host: '0.0.0.0', port: DEFAULT_EMULATOR_PORT, region: 'us-east-1', tasks: [], cluster: 'default', logLevel: 'info' } });
    const seeded = parseEmulatorEnv({ EMULATOR_TASKS: ' 10.0.0.1, 10.0.0.2 ,', EMULATOR_SERVICE: 'rtmp', EMULATOR_PORT: '0' });
    assert.ok(seeded.ok);
    assert.deepEqual(seeded.value.tasks, ['10.0.0.1', '10.0.0.2']);

    const bad = parseEmulatorEnv({ EMULATOR_PORT: '70000', EMULATOR_TASKS: '10.0.0.1,media.local', EMULATOR_CLUSTER: 'a b', EMULATOR_HOST: 'x y' });
    assert.equal(bad.ok, false);
    const errors = bad.ok ? [] : bad.errors;
    assert.equal(errors.length, 4);
    assert.ok(errors.some((e) => e.startsWith('EMULATOR_PORT="70000"') && e.includes('0-65535')));
    assert.ok(errors.some((e) => e.startsWith('EMULATOR_TASKS: "media.local"')));
    assert.ok(errors.some((e) => e.startsWith('EMULATOR_CLUSTER="a b"')));
    assert.ok(errors.some((e) => e.startsWith('EMULATOR_HOST="x y"')));
  });

  test('runs as a process: seeds tasks, answers the SDK, exits 0 on SIGTERM', async (t) => {
    const { child, started } = await startEmulatorProcess(t, { EMULATOR_HOST: '127.0.0.1', EMULATOR_PORT: '0', EMULATOR_TASKS: '10.0.0.1,10.0.0.2', EMULATOR_CLUSTER: 'media', EMULATOR_SERVICE: 'rtmp' });
    const { url, msg } = started;
    assert.equal(msg, 'ECS emulator listening');

    const ecs = new ECSClient({ region: 'us-east-1', endpoint: url, credentials: CREDENTIALS });
    t.after(() => ecs.destroy());
    const listed = await ecs.send(new ListTasksCommand({ cluster: 'media', serviceName: 'rtmp' }));
    assert.equal(listed.taskArns!.length, 2);
    ecs.destroy();

    assert.equal(await exitCodeOnSigterm(child), 0);
  });
});
