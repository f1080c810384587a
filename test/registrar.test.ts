// The Route 53 registrar as the stack ships it: the inline code of stacks/service.yml, run verbatim
// (as the Lambda Node.js runtime loads it: CommonJS, the SDK from the runtime) with the real AWS SDK
// against the emulator's ECS, EC2 and Route 53. Events are reordered, repeated and concurrent; runs
// race each other and Route 53 fails; what is left in Route 53 is always the running, healthy Proxies.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { startEcsEmulator, type EcsEmulator } from '../dev/emulator/ecs-emulator.js';
import { PACKAGE_ROOT } from '../src/paths.js';
import { ownerPrefix } from '../src/registrar/plan.js';
import { loadTemplate, type Obj } from './helpers/cfn-template.js';
import { waitFor } from './helpers/wait.js';

const CLUSTER = 'live';
const SERVICE = 'rtmp-proxy-service';
const REGION = 'eu-west-1';
const NAME = 'rtmp.example.com.';
const OWNER = ownerPrefix(REGION, SERVICE);

type Handler = (event: unknown) => Promise<unknown>;

/** The stack's inline code in a directory of its own, loaded the way Lambda loads index.js. */
function loadShippedRegistrar(dir: string): Handler {
  const code = ((loadTemplate('stacks/service.yml').Resources as Record<string, Obj>).DnsFunction!.Properties as Obj).Code as Obj;
  const fnDir = path.join(dir, 'function');
  mkdirSync(fnDir);
  writeFileSync(path.join(fnDir, 'index.js'), code.ZipFile as string);
  // CommonJS as in Lambda (no "type": "module" above it), and the SDK the runtime would provide.
  writeFileSync(path.join(fnDir, 'package.json'), '{"type": "commonjs"}\n');
  symlinkSync(path.join(PACKAGE_ROOT, 'node_modules'), path.join(fnDir, 'node_modules'));
  return (createRequire(path.join(fnDir, 'index.js'))('./index.js') as { handler: Handler }).handler;
}

const taskId = (n: number) => n.toString(16).padStart(32, '0');
const taskArn = (n: number) => `arn:aws:ecs:${REGION}:123456789012:task/${CLUSTER}/${taskId(n)}`;
const publicIp = (n: number) => `203.0.113.${n}`;

/** An EventBridge "ECS Task State Change" event as ECS sends it (the registrar only logs its content). */
function taskEvent(n: number, lastStatus: string, desiredStatus: string, version: number): Obj {
  return {
    version: '0',
    id: `event-${n}-${version}`,
    'detail-type': 'ECS Task State Change',
    source: 'aws.ecs',
    region: REGION,
    detail: { taskArn: taskArn(n), clusterArn: `arn:aws:ecs:${REGION}:123456789012:cluster/${CLUSTER}`, group: `service:${SERVICE}`, lastStatus, desiredStatus, version },
  };
}
const scheduled = { version: '0', 'detail-type': 'Scheduled Event', source: 'aws.events', detail: {} };

describe('Route 53 registrar (the stack\'s inline code, against the emulator)', () => {
  let emu: EcsEmulator;
  let handler: Handler;
  let zoneId: string;
  const dir = mkdtempSync(path.join(tmpdir(), 'rtmp-proxy-registrar-'));
  const saved = { ...process.env };
  const logged: string[] = [];
  const consoleLog = console.log;

  before(async () => {
    emu = await startEcsEmulator({ region: REGION });
    Object.assign(process.env, {
      AWS_REGION: REGION,
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_ENDPOINT_URL_ECS: emu.url,
      AWS_ENDPOINT_URL_EC2: emu.url,
      AWS_ENDPOINT_URL_ROUTE_53: emu.url,
      // One attempt per call: a fault is seen at once (in AWS the SDK retries, then Lambda does).
      AWS_MAX_ATTEMPTS: '1',
      RECORD_NAME: 'rtmp.example.com',
      RECORD_TTL: '60',
      HEALTH_PORT: '8000',
      WEIGHT: '10',
      PROXY_CLUSTER: CLUSTER,
      PROXY_SERVICE: SERVICE,
      STACK_NAME: SERVICE,
    });
    handler = loadShippedRegistrar(dir);
    // The registrar logs JSON lines to stdout (CloudWatch Logs in AWS); kept here for assertions.
    console.log = (line: unknown) => void logged.push(String(line));
  });
  after(async () => {
    console.log = consoleLog;
    process.env = saved;
    await emu?.close();
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    emu.reset();
    zoneId = emu.createHostedZone('example.com');
    process.env.HOSTED_ZONE_ID = zoneId;
    logged.length = 0;
  });

  const proxy = (n: number, over: Record<string, string> = {}) =>
    emu.addTask({ cluster: CLUSTER, service: SERVICE, taskId: taskId(n), publicIp: publicIp(n), lastStatus: 'RUNNING', healthStatus: 'HEALTHY', ...over });

  /** Our weighted A records as task → IP, and our health checks as task → IP. */
  function registered(): { records: Record<string, string>; healthChecks: Record<string, string>; dangling: string[] } {
    const records: Record<string, string> = {};
    const referenced = new Set<string>();
    for (const r of emu.recordSets(zoneId)) {
      if (r.Type !== 'A' || !r.SetIdentifier?.startsWith(OWNER)) continue;
      records[r.SetIdentifier.slice(OWNER.length)] = r.ResourceRecords![0]!.Value!;
      referenced.add(r.HealthCheckId!);
    }
    const healthChecks: Record<string, string> = {};
    const dangling: string[] = [];
    for (const hc of emu.healthChecks()) {
      if (!hc.CallerReference!.startsWith(OWNER)) continue;
      healthChecks[hc.CallerReference!.slice(OWNER.length).replace(/\.\d+$/, '')] = hc.HealthCheckConfig!.IPAddress!;
      if (!referenced.has(hc.Id!)) dangling.push(hc.Id!);
    }
    for (const id of referenced) if (!emu.healthChecks().some((hc) => hc.Id === id)) dangling.push(`record → missing ${id}`);
    return { records, healthChecks, dangling };
  }
  const expectRegistered = (ns: number[]) => {
    const want = Object.fromEntries(ns.map((n) => [taskId(n), publicIp(n)]));
    assert.deepEqual(registered(), { records: want, healthChecks: want, dangling: [] });
  };

  it('registers the running, healthy Proxies with a public IP, and no other task', async () => {
    proxy(1);
    proxy(2, { healthStatus: 'UNKNOWN' }); // container health check not passed yet: the first sync is not done
    proxy(3, { lastStatus: 'PENDING', healthStatus: 'UNKNOWN' });
    proxy(4, { desiredStatus: 'STOPPED' }); // ECS is stopping it: it drains, no new streamers
    emu.addTask({ cluster: CLUSTER, service: SERVICE, taskId: taskId(5), lastStatus: 'RUNNING', healthStatus: 'HEALTHY' }); // no public IP
    emu.addTask({ cluster: CLUSTER, service: 'media-servers', taskId: taskId(6), publicIp: publicIp(6), lastStatus: 'RUNNING', healthStatus: 'HEALTHY' });
    await handler(scheduled);
    expectRegistered([1]);
    const [record] = emu.recordSets(zoneId).filter((r) => r.SetIdentifier?.startsWith(OWNER));
    assert.equal(record!.Name, NAME);
    assert.equal(record!.Weight, 10);
    assert.equal(record!.TTL, 60);
    const [hc] = emu.healthChecks();
    const { Type, IPAddress, Port, ResourcePath, RequestInterval, FailureThreshold } = hc!.HealthCheckConfig;
    assert.deepEqual({ Type, IPAddress, Port, ResourcePath, RequestInterval, FailureThreshold }, { Type: 'HTTP', IPAddress: publicIp(1), Port: 8000, ResourcePath: '/', RequestInterval: 10, FailureThreshold: 2 });

    // Task 2 passes its health check; the next run (event or schedule) registers it.
    emu.setTask(taskArn(2), { healthStatus: 'HEALTHY' });
    await handler(scheduled);
    expectRegistered([1, 2]);
  });

  it('a repeated event changes nothing: one run, no Route 53 write', async () => {
    proxy(1);
    await handler(taskEvent(1, 'RUNNING', 'RUNNING', 3));
    const writes = () => emu.calls().filter((c) => ['ChangeResourceRecordSets', 'CreateHealthCheck', 'DeleteHealthCheck'].includes(c.action)).length;
    const before = writes();
    await handler(taskEvent(1, 'RUNNING', 'RUNNING', 3));
    await handler(scheduled);
    assert.equal(writes(), before);
    expectRegistered([1]);
  });

  it('a STOPPED event handled before a late RUNNING one leaves no record and no health check', async () => {
    proxy(1);
    proxy(2);
    await handler(scheduled);
    expectRegistered([1, 2]);
    emu.removeTask(taskArn(1));
    // EventBridge delivers the stop first and the RUNNING event late: the late one must not bring task 1 back.
    await handler(taskEvent(1, 'STOPPED', 'STOPPED', 5));
    expectRegistered([2]);
    await handler(taskEvent(1, 'RUNNING', 'RUNNING', 2));
    expectRegistered([2]);
  });

  it('both at once: the stop and a stale RUNNING event in concurrent runs leave no record', async () => {
    proxy(1);
    proxy(2);
    await handler(scheduled);
    emu.removeTask(taskArn(1));
    await Promise.all([handler(taskEvent(1, 'RUNNING', 'RUNNING', 2)), handler(taskEvent(1, 'STOPPED', 'STOPPED', 5)), handler(taskEvent(1, 'RUNNING', 'RUNNING', 2))]);
    expectRegistered([2]);
  });

  it('a run that read the fleet before a task stopped, and writes after, corrects itself before it ends', async () => {
    proxy(1);
    proxy(2);
    // Run 1 reads both as running, but its writes reach Route 53 only after task 1 has stopped and
    // run 2 (the stop event) has finished: without reading again after its writes, run 1 would leave
    // a record pointing at task 1's released IP.
    emu.injectFault({ action: 'CreateHealthCheck', kind: 'slow', delayMs: 400 });
    const run1 = handler(scheduled);
    await waitFor(() => emu.calls('CreateHealthCheck').length >= 1, { timeoutMs: 5000, intervalMs: 5, what: 'run 1 writing' });
    emu.removeTask(taskArn(1));
    await handler(taskEvent(1, 'STOPPED', 'STOPPED', 5));
    expectRegistered([2]);
    await run1;
    expectRegistered([2]);
    const changes = logged.map((l) => JSON.parse(l) as { msg: string; pass?: number; register?: string[]; deregister?: string[] }).filter((l) => l.msg === 'changing Route 53');
    assert.ok(changes.some((l) => l.pass === 1 && l.register?.includes(`${taskId(1)}=${publicIp(1)}`)), 'run 1 wrote its stale view');
    assert.ok(changes.some((l) => l.pass === 2 && l.deregister?.includes(`${OWNER}${taskId(1)}`)), 'and took it back in its next pass');
  });

  it('many concurrent runs while Proxies come and go end with exactly the running ones', async () => {
    for (let n = 1; n <= 6; n++) proxy(n);
    const runs: Promise<unknown>[] = [];
    for (let i = 0; i < 4; i++) runs.push(handler(scheduled));
    // Changes land while those runs are in flight; each change brings its own event (and run).
    await waitFor(() => emu.calls('ListResourceRecordSets').length >= 1, { timeoutMs: 5000, intervalMs: 5, what: 'runs in flight' });
    emu.removeTask(taskArn(2));
    runs.push(handler(taskEvent(2, 'STOPPED', 'STOPPED', 4)));
    proxy(7);
    runs.push(handler(taskEvent(7, 'RUNNING', 'RUNNING', 3)));
    emu.setTask(taskArn(3), { desiredStatus: 'STOPPED' });
    runs.push(handler(taskEvent(3, 'RUNNING', 'STOPPED', 4)));
    const results = await Promise.allSettled(runs);
    // A run may give up (it is retried in AWS); whatever ran, the last run to finish read after every write.
    assert.ok(results.filter((r) => r.status === 'fulfilled').length >= 1);
    await handler(scheduled);
    expectRegistered([1, 4, 5, 6, 7]);
    // One health check per Proxy even though several runs created them at once (idempotent CallerReference).
    assert.equal(emu.healthChecks().length, 5);
  });

  it('Route 53 failing: the run fails (Lambda retries it), the next one converges and reuses what was made', async () => {
    proxy(1);
    emu.injectFault({ action: 'ChangeResourceRecordSets', kind: 'throttle', times: 1 });
    await assert.rejects(handler(scheduled), /route53:ChangeResourceRecordSets failed: Throttling/);
    assert.deepEqual(registered().records, {});
    await handler(scheduled);
    expectRegistered([1]);
    assert.equal(emu.calls('CreateHealthCheck').length, 1, 'the health check made by the failed run is reused');
  });

  it('ECS failing: nothing in Route 53 changes', async () => {
    proxy(1);
    await handler(scheduled);
    emu.removeTask(taskArn(1));
    emu.injectFault({ action: 'ListTasks', kind: 'access-denied', times: 1 });
    const writes = emu.calls('ChangeResourceRecordSets').length;
    await assert.rejects(handler(scheduled), /ecs:ListTasks failed: AccessDenied/);
    assert.equal(emu.calls('ChangeResourceRecordSets').length, writes);
    expectRegistered([1]);
  });

  it('a health check deleted by hand is replaced; a CallerReference of a deleted one is not reused', async () => {
    proxy(1);
    await handler(scheduled);
    const [first] = emu.healthChecks();
    // The task turns UNHEALTHY (its record and health check go), then HEALTHY again.
    emu.setTask(taskArn(1), { healthStatus: 'UNHEALTHY' });
    await handler(scheduled);
    expectRegistered([]);
    emu.setTask(taskArn(1), { healthStatus: 'HEALTHY' });
    await handler(scheduled);
    expectRegistered([1]);
    const [second] = emu.healthChecks();
    assert.notEqual(second!.Id, first!.Id);
    assert.equal(second!.CallerReference, `${OWNER}${taskId(1)}.2`);
  });

  it("120 Proxies: one run registers all, the next writes nothing", async () => {
    for (let n = 1; n <= 120; n++) proxy(n);
    await handler(scheduled);
    expectRegistered(Array.from({ length: 120 }, (_, i) => i + 1));
    const writes = emu.calls('ChangeResourceRecordSets').length;
    await handler(scheduled);
    assert.equal(emu.calls('ChangeResourceRecordSets').length, writes);
  });

  describe('as the stack\'s custom resource', () => {
    let url = '';
    const responses: Obj[] = [];
    const server = createServer((req: IncomingMessage, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        responses.push({ method: req.method, contentType: req.headers['content-type'], ...(JSON.parse(body) as Obj) });
        res.end();
      });
    });
    before(async () => {
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/presigned`;
    });
    after(() => new Promise<void>((resolve) => server.close(() => resolve())));
    beforeEach(() => (responses.length = 0));

    const request = (type: string, physicalId?: string) => ({
      RequestType: type,
      ResponseURL: url,
      StackId: `arn:aws:cloudformation:${REGION}:123456789012:stack/${SERVICE}/uuid`,
      RequestId: `req-${type}`,
      LogicalResourceId: 'DnsRegistrations',
      ResourceType: 'Custom::DnsRegistrations',
      ...(physicalId !== undefined && { PhysicalResourceId: physicalId }),
      ResourceProperties: { ServiceToken: 'arn', HostedZoneId: zoneId, RecordName: 'rtmp.example.com' },
    });

    it('Create answers SUCCESS at once; Delete removes every record and health check of this stack, nothing else', async () => {
      await handler(request('Create'));
      assert.equal(responses.length, 1);
      assert.equal(responses[0]!.Status, 'SUCCESS');
      assert.equal(responses[0]!.method, 'PUT');
      assert.equal(responses[0]!.contentType, '', 'S3 pre-signed URLs take no content type');
      const physicalId = responses[0]!.PhysicalResourceId as string;
      assert.ok(physicalId.startsWith(OWNER));

      proxy(1);
      proxy(2);
      await handler(scheduled);
      // Someone else's records under the same name, and a health check that is not ours.
      const { Route53Client, ChangeResourceRecordSetsCommand, CreateHealthCheckCommand } = await import('@aws-sdk/client-route-53');
      const r53 = new Route53Client({ endpoint: emu.url, region: REGION, credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
      const other = await r53.send(new CreateHealthCheckCommand({ CallerReference: 'terraform-fallback', HealthCheckConfig: { Type: 'TCP', IPAddress: '198.51.100.1', Port: 1935 } }));
      await r53.send(
        new ChangeResourceRecordSetsCommand({
          HostedZoneId: zoneId,
          ChangeBatch: { Changes: [{ Action: 'CREATE', ResourceRecordSet: { Name: NAME, Type: 'A', SetIdentifier: 'fallback', Weight: 1, TTL: 60, ResourceRecords: [{ Value: '198.51.100.1' }], HealthCheckId: other.HealthCheck!.Id } }] },
        }),
      );

      // Stack deletion: the Service (and its tasks) went first.
      for (const n of [1, 2]) emu.removeTask(taskArn(n));
      await handler(request('Delete', physicalId));
      assert.equal(responses.at(-1)!.Status, 'SUCCESS');
      assert.equal(responses.at(-1)!.PhysicalResourceId, physicalId);
      assert.deepEqual(registered(), { records: {}, healthChecks: {}, dangling: [] });
      assert.deepEqual(
        emu.recordSets(zoneId).filter((r) => r.Type === 'A').map((r) => r.SetIdentifier),
        ['fallback'],
      );
      assert.deepEqual(emu.healthChecks().map((hc) => hc.CallerReference), ['terraform-fallback']);
    });

    it('Delete removes what is registered even if tasks still run (the stack is going)', async () => {
      proxy(1);
      await handler(scheduled);
      await handler(request('Delete', `${OWNER}registrations`));
      assert.equal(responses.at(-1)!.Status, 'SUCCESS');
      assert.deepEqual(registered().records, {});
    });

    it('Delete that cannot finish answers FAILED with the reason, so CloudFormation says what was left', async () => {
      proxy(1);
      await handler(scheduled);
      emu.injectFault({ action: 'ChangeResourceRecordSets', kind: 'access-denied', times: Infinity });
      await handler(request('Delete', `${OWNER}registrations`));
      assert.equal(responses.at(-1)!.Status, 'FAILED');
      assert.match(responses.at(-1)!.Reason as string, /route53:ChangeResourceRecordSets failed: AccessDenied/);
    });

    it('a bad setting answers FAILED naming the variable', async () => {
      const zone = process.env.HOSTED_ZONE_ID;
      process.env.HOSTED_ZONE_ID = '';
      try {
        await handler(request('Delete', `${OWNER}registrations`));
        assert.equal(responses.at(-1)!.Status, 'FAILED');
        assert.match(responses.at(-1)!.Reason as string, /HOSTED_ZONE_ID is not set/);
        await assert.rejects(handler(scheduled), /HOSTED_ZONE_ID is not set/);
      } finally {
        process.env.HOSTED_ZONE_ID = zone;
      }
    });
  });
});
