// ECS task state change events end to end: the emulator's ECS emits them (the real event shape) to an
// SNS topic; the daemon subscribes a queue of its own, long-polls it with the real SDK and changes the
// real HAProxy at once, with no ECS call between changes; the full listing is the safety net.
import assert from 'node:assert/strict';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { GetQueueAttributesCommand, ListQueuesCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { startEcsEmulator, type EcsEmulator } from '../dev/emulator/ecs-emulator.js';
import { loadConfig } from '../src/config.js';
import { startDaemon, type Daemon } from '../src/daemon.js';
import { DEFAULT_HAPROXY_BIN } from '../src/paths.js';
import { proxyEnv, startBackends, tempDir, useEmulatorForAws } from './helpers/fixtures.js';
import { Cleanup } from './helpers/processes.js';
import { openHeldStream } from './helpers/tcp-backends.js';
import { waitFor } from './helpers/wait.js';
import { capturingLogger } from './helpers/logs.js';

const PROXY = { address: '127.0.50.1', rtmp: 19420, health: 19421 };
const BACKENDS = ['127.0.50.11', '127.0.50.12', '127.0.50.13', '127.0.50.14'];
const BACKEND_PORT = 19422;
const CLUSTER = 'media';
const SELF = 'arn:aws:ecs:us-east-1:123456789012:task/proxies/0000000000000000000000000000aaaa';
const PREFIX = 'rtmp-proxy-test-events-';


describe('ECS task events → HAProxy (real SQS/SNS protocol, real HAProxy)', () => {
  const cleanup = new Cleanup();
  let emu: EcsEmulator;
  let daemon: Daemon;
  let sqs: SQSClient;
  let configPath: string;
  const { logger, lines } = capturingLogger();
  const taskArns = new Map<string, string>();

  before(async () => {
    emu = await startEcsEmulator({ host: '127.0.0.1', port: 0 });
    cleanup.defer('emulator', () => emu.close());
    useEmulatorForAws(cleanup, emu.url);
    sqs = new SQSClient({ region: 'us-east-1', endpoint: emu.url, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
    await startBackends(cleanup, BACKENDS, BACKEND_PORT, { hold: true });
    const topicArn = emu.createTopic('server-events');
    emu.setEventTargets([topicArn]);
    for (const address of BACKENDS.slice(0, 2)) taskArns.set(address, emu.addTask({ cluster: CLUSTER, service: 'media-servers', address, lastStatus: 'RUNNING' }));
    const dir = await tempDir(cleanup, 'events');
    const config = loadConfig({
      DISCOVERY: 'ecs',
      ECS_CLUSTER: CLUSTER,
      ECS_SERVICE: 'media-servers',
      SERVER_PORT: String(BACKEND_PORT),
      // Every second: a tick that finds the queue down lists the tasks; one that finds it up does not.
      SYNC_SCHEDULE: '* * * * * *',
      FULL_SYNC_INTERVAL: '3600',
      EVENTS_TOPIC_ARN: topicArn,
      EVENTS_QUEUE_PREFIX: PREFIX,
      PROXY_TASK_ARN: SELF,
      METRICS_PORT: 'off',
      SHUTDOWN_GRACE_SECONDS: '0',
      ...proxyEnv(dir, PROXY),
    });
    configPath = config.haproxyConfig;
    daemon = startDaemon(config, logger);
    cleanup.defer('daemon', () => daemon.stop({ stopHaproxy: true }));
    assert.ok((await daemon.firstSync).ok, 'first sync');
    await waitFor(() => daemon.events?.eventsUp, { timeoutMs: 10_000, what: 'the daemon polling its queue' });
  });
  after(() => cleanup.run());

  const routable = async () =>
    (await daemon.driver.backend()).servers
      .filter((s) => !s.maintenance)
      .map((s) => s.address)
      .sort();
  const listings = () => emu.calls('ListTasks').length;
  const queueUrl = async () => {
    const listed = await sqs.send(new ListQueuesCommand({ QueueNamePrefix: PREFIX }));
    assert.equal(listed.QueueUrls?.length, 1, 'one queue: this Proxy\'s');
    return listed.QueueUrls![0]!;
  };

  test('its own queue, named after its task and subscribed to the topic', async () => {
    const url = await queueUrl();
    assert.ok(url.endsWith(`/${PREFIX}0000000000000000000000000000aaaa`), url);
    const [topic] = emu.topics();
    assert.equal(topic!.subscriptions.length, 1);
    assert.deepEqual(await routable(), BACKENDS.slice(0, 2));
  });

  test('a Server task that turns RUNNING is routable at once, without listing the tasks', async () => {
    const before = listings();
    taskArns.set(BACKENDS[2]!, emu.addTask({ cluster: CLUSTER, service: 'media-servers', address: BACKENDS[2]!, lastStatus: 'PENDING' }));
    emu.setTask(taskArns.get(BACKENDS[2]!)!, { lastStatus: 'RUNNING' });
    await waitFor(async () => (await routable()).includes(BACKENDS[2]!), { timeoutMs: 5000, intervalMs: 20, what: 'the new Server in HAProxy' });
    assert.equal(listings(), before, 'no ListTasks: the event did it');
    assert.ok(lines.some((l) => l.msg === 'ECS task event: Server added' && l.taskArn === taskArns.get(BACKENDS[2]!)));
  });

  test('a Server ECS begins to stop gets no new stream at once; its live stream is drained, not cut', async () => {
    const stream = await openHeldStream(PROXY.address, PROXY.rtmp);
    cleanup.defer('held stream', () => stream.close());
    const busy = stream.server;
    const before = listings();
    const reloads = () => lines.filter((l) => l.msg === 'sync: reloaded' || (typeof l.msg === 'string' && l.msg.startsWith('sync: reloaded'))).length;
    const reloadsBefore = reloads();
    emu.setTask(taskArns.get(busy)!, { desiredStatus: 'STOPPED' });
    await waitFor(async () => !(await routable()).includes(busy), { timeoutMs: 5000, intervalMs: 20, what: 'the stopping Server out of rotation' });
    assert.equal(listings(), before);
    await daemon.syncNow();
    assert.equal(reloads(), reloadsBefore, 'through the Runtime API alone: no reload (which would break maxconn 1)');
    assert.ok(await stream.alive(), 'the live stream goes on');
    const draining = (await daemon.driver.backend()).servers.find((s) => s.address === busy);
    assert.ok(draining?.maintenance && draining.sessions === 1, `draining with its stream: ${JSON.stringify(draining)}`);
    // The config file follows (written in the background): a reload or restart keeps it out of rotation.
    await daemon.driver.configWritten();
    await waitFor(async () => new RegExp(`server ${draining.name} [^\\n]* disabled\\n`).test(await readFile(configPath, 'utf8')), { timeoutMs: 5000, what: 'the file saying the Server is disabled' });
    await stream.close();
  });

  test('a task replaced by another (a deployment): the old one out, the new one in, without listing the tasks', async () => {
    const before = listings();
    const old = BACKENDS[0]!;
    emu.setTask(taskArns.get(old)!, { desiredStatus: 'STOPPED' });
    emu.removeTask(taskArns.get(old)!);
    const replacement = emu.addTask({ cluster: CLUSTER, service: 'media-servers', address: old, lastStatus: 'RUNNING' });
    taskArns.set(old, replacement);
    const name = `task-${replacement.split('/').pop()}`;
    await waitFor(async () => (await daemon.driver.backend()).servers.some((s) => s.name === name && !s.maintenance), { timeoutMs: 5000, intervalMs: 20, what: 'the replacement routable' });
    assert.equal(listings(), before);
  });

  test('duplicated, reordered, stale and foreign events change nothing; malformed ones are logged and deleted', async () => {
    const url = await queueUrl();
    const routed = await routable();
    const stopped = emu.events().filter((e) => e.detail.desiredStatus === 'STOPPED').at(-1)!;
    const runningBefore = emu.events().find((e) => e.detail.taskArn === stopped.detail.taskArn && e.detail.desiredStatus === 'RUNNING' && e.detail.lastStatus === 'RUNNING')!;
    const added = emu.events().filter((e) => e.detail.lastStatus === 'RUNNING' && e.detail.desiredStatus === 'RUNNING').at(-1)!;
    const detail = added.detail as { clusterArn: string; taskArn: string };
    const foreign = { ...added, detail: { ...added.detail, clusterArn: detail.clusterArn.replace(`cluster/${CLUSTER}`, 'cluster/other'), taskArn: detail.taskArn.replace(/[0-9a-f]{4}$/, 'ffff'), version: 99 } };
    const bodies = [
      JSON.stringify(added), // a duplicate
      JSON.stringify(runningBefore), // the stopped task's late RUNNING event
      JSON.stringify(foreign),
      'not json',
      JSON.stringify({ source: 'aws.ecs', 'detail-type': 'ECS Task State Change', detail: 'x' }),
      JSON.stringify({ pad: 'x'.repeat(200 * 1024) }),
    ];
    const effectsBefore = lines.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('ECS task event:')).length;
    for (const body of bodies) await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: body }));
    await waitFor(
      () => lines.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('ECS task event:')).length >= effectsBefore + bodies.length,
      { timeoutMs: 5000, intervalMs: 20, what: 'every message handled' },
    );
    const handled = lines.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('ECS task event:')).slice(effectsBefore);
    assert.deepEqual(
      handled.map((l) => (l.msg === 'ECS task event: fleet unchanged' ? l.effect : l.msg)),
      ['duplicate', 'stale', 'foreign', ...Array(3).fill('ECS task event: not applied (malformed), deleted')],
    );
    assert.deepEqual(await routable(), routed, 'nothing applied');
    await waitFor(
      async () => {
        const attrs = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }));
        return attrs.Attributes?.ApproximateNumberOfMessages === '0' && attrs.Attributes?.ApproximateNumberOfMessagesNotVisible === '0';
      },
      { timeoutMs: 5000, what: 'the queue empty: every message deleted' },
    );
  });

  test('a deployment: a dozen tasks replaced at once, half at the stopped tasks\' addresses: events alone, no reload, no stopping Server back in rotation, the file says what runs', async () => {
    const addresses = Array.from({ length: 12 }, (_, i) => `127.0.50.${30 + i}`);
    const nameOf = (arn: string) => `task-${arn.split('/').pop()}`;
    const first = addresses.map((address) => emu.addTask({ cluster: CLUSTER, service: 'media-servers', address, lastStatus: 'RUNNING' }));
    const inRotation = async () => new Set((await daemon.driver.backend()).servers.filter((s) => !s.maintenance).map((s) => s.name));
    await waitFor(async () => {
      const routed = await inRotation();
      return first.every((arn) => routed.has(nameOf(arn)));
    }, { timeoutMs: 10_000, intervalMs: 20, what: 'the first dozen routable' });
    const from = lines.length;
    const listed = listings();
    const replacements = first.map((arn, i) => {
      emu.setTask(arn, { desiredStatus: 'STOPPED' });
      emu.removeTask(arn);
      return emu.addTask({ cluster: CLUSTER, service: 'media-servers', address: i % 2 === 0 ? addresses[i]! : `127.0.50.${60 + i}`, lastStatus: 'RUNNING' });
    });
    await waitFor(async () => {
      const servers = (await daemon.driver.backend()).servers;
      const names = new Set(servers.map((s) => s.name));
      return replacements.every((arn) => servers.some((s) => s.name === nameOf(arn) && !s.maintenance)) && first.every((arn) => !names.has(nameOf(arn)));
    }, { timeoutMs: 15_000, intervalMs: 20, what: 'the replacements routable and the stopped tasks gone' });
    assert.equal(listings(), listed, 'no ListTasks: the events did it');
    const since = lines.slice(from);
    assert.deepEqual(since.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('sync: reloaded')), [], 'no reload');
    assert.deepEqual(since.filter((l) => (l.level as number) >= 40).map((l) => l.msg), [], 'no warning (no step refused, no add twice)');
    for (const arn of first) {
      const stopAt = since.findIndex((l) => l.msg === 'ECS task event: Server removed' && l.taskArn === arn);
      assert.ok(stopAt >= 0, `its stop event was handled: ${arn}`);
      const after = since.slice(stopAt).filter((l) => l.server === nameOf(arn) && (l.msg === 'server enabled' || l.msg === 'server added' || l.msg === 'server claimed'));
      assert.deepEqual(after, [], `${nameOf(arn)} never back in rotation after its stop event`);
    }
    // What runs, the file and the fleet agree: the sync after has nothing to do.
    await daemon.driver.configWritten();
    const next = await daemon.syncNow();
    assert.ok(next.ok && next.action === 'none', JSON.stringify(next));
    for (const arn of replacements) {
      emu.setTask(arn, { desiredStatus: 'STOPPED' });
      emu.removeTask(arn);
    }
    await waitFor(async () => {
      const names = new Set((await daemon.driver.backend()).servers.map((s) => s.name));
      return replacements.every((arn) => !names.has(nameOf(arn)));
    }, { timeoutMs: 15_000, intervalMs: 20, what: 'the replacements gone again' });
  });

  test('no ECS call between changes in steady state', async () => {
    const calls = emu.calls().filter((c) => ['ListTasks', 'DescribeTasks', 'DescribeNetworkInterfaces'].includes(c.action)).length;
    const ticks = lines.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('sync')).length;
    await waitFor(() => lines.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('sync')).length >= ticks + 3, { timeoutMs: 10_000, what: 'three scheduled syncs' });
    assert.equal(emu.calls().filter((c) => ['ListTasks', 'DescribeTasks', 'DescribeNetworkInterfaces'].includes(c.action)).length, calls);
  });

  test('the queue failing: one log line, every sync lists the tasks; back to events when it answers', async () => {
    emu.injectFault({ action: 'ReceiveMessage', kind: 'access-denied', times: Infinity });
    // An event ends the receive already waiting; the next one is refused.
    emu.setTask(taskArns.get(BACKENDS[0]!)!, { healthStatus: 'HEALTHY' });
    await waitFor(() => daemon.events?.eventsUp === false, { timeoutMs: 30_000, what: 'events down' });
    const before = listings();
    // Meanwhile a change reaches HAProxy through the listing.
    taskArns.set(BACKENDS[3]!, emu.addTask({ cluster: CLUSTER, service: 'media-servers', address: BACKENDS[3]!, lastStatus: 'RUNNING' }));
    await waitFor(async () => (await routable()).includes(BACKENDS[3]!), { timeoutMs: 10_000, what: 'the listing adds the Server' });
    assert.ok(listings() > before, 'the scheduled sync listed the tasks');
    const failures = lines.filter((l) => l.msg === 'ECS task events: the queue does not answer; every scheduled sync lists the tasks until it does');
    assert.ok(failures.length >= 1 && failures[0]!.level === 50, 'said once, as an error');
    emu.clearFaults();
    await waitFor(() => daemon.events?.eventsUp === true, { timeoutMs: 30_000, what: 'events back' });
    assert.ok(lines.some((l) => l.msg === 'ECS task events: the queue answers; changes apply as they happen'));
  });

  test('at shutdown the queue and its subscription go', async () => {
    await daemon.stop({ stopHaproxy: true });
    const listed = await sqs.send(new ListQueuesCommand({ QueueNamePrefix: PREFIX }));
    assert.deepEqual(listed.QueueUrls ?? [], []);
    assert.equal(emu.topics()[0]!.subscriptions.length, 0);
  });
});

describe('ECS task events with several Proxies (PROXY_SERVICE)', () => {
  const cleanup = new Cleanup();
  let emu: EcsEmulator;
  const PROXIES = ['127.0.50.21', '127.0.50.22'];
  const SERVERS = ['127.0.50.31', '127.0.50.32', '127.0.50.33', '127.0.50.34'];
  const PORTS = { rtmp: 19430, health: 19431, peer: 19432, peerApi: 19433, server: 19434 };
  const daemons: Daemon[] = [];
  const { logger, lines } = capturingLogger();

  before(async () => {
    emu = await startEcsEmulator({ host: '127.0.0.1', port: 0 });
    cleanup.defer('emulator', () => emu.close());
    useEmulatorForAws(cleanup, emu.url);
    await startBackends(cleanup, SERVERS, PORTS.server, { hold: true });
    const topicArn = emu.createTopic('rtmp-events');
    emu.setEventTargets([topicArn]);
    // The queue of a Proxy that crashed before it could remove it.
    const orphan = emu.createQueue('rtmp-proxy-events-00000000000000000000000000dead00');
    emu.subscribeQueue(topicArn, orphan.queueArn, { raw: true });
    for (const address of SERVERS.slice(0, 3)) emu.addTask({ cluster: 'media', service: 'rtmp-server', address, lastStatus: 'RUNNING' });
    const proxyTasks = PROXIES.map((address) => emu.addTask({ cluster: 'media', service: 'rtmp-proxy', address, lastStatus: 'RUNNING' }));
    const dir = await tempDir(cleanup, 'events-peers');
    for (const [i, address] of PROXIES.entries()) {
      const config = loadConfig({
        ECS_CLUSTER: 'media',
        ECS_SERVICE: 'rtmp-server',
        SERVER_PORT: String(PORTS.server),
        PROXY_SERVICE: 'rtmp-proxy',
        PROXY_TASK_ARN: proxyTasks[i]!,
        PEER_PORT: String(PORTS.peer),
        PEER_API_PORT: String(PORTS.peerApi),
        SYNC_SCHEDULE: '* * * * * *',
        FULL_SYNC_INTERVAL: '3600',
        EVENTS_TOPIC_ARN: topicArn,
        METRICS_PORT: 'off',
        SHUTDOWN_GRACE_SECONDS: '0',
        ...proxyEnv(`${dir}/${address}`, { address, rtmp: PORTS.rtmp, health: PORTS.health }),
      });
      const daemon = startDaemon(config, logger);
      cleanup.defer(`daemon ${address}`, () => daemon.stop({ stopHaproxy: true }));
      daemons.push(daemon);
    }
    for (const d of daemons) assert.ok((await d.firstSync).ok);
    await waitFor(() => daemons.every((d) => d.events?.eventsUp), { timeoutMs: 10_000, what: 'both Proxies polling their queues' });
  });
  after(() => cleanup.run());

  /** Which Proxies route to each Server now. */
  async function routers(): Promise<Map<string, number>> {
    const map = new Map<string, number>();
    for (const d of daemons) for (const s of (await d.driver.backend()).servers) if (!s.maintenance && s.status.startsWith('UP')) map.set(s.address, (map.get(s.address) ?? 0) + 1);
    return map;
  }
  const ecsCalls = () => emu.calls().filter((c) => ['ListTasks', 'DescribeTasks'].includes(c.action)).length;

  test("each Proxy has its own queue (a gone Proxy's removed); every Server routed by exactly one; no ECS call between changes", async () => {
    await waitFor(() => emu.queues().length === 2 && emu.topics()[0]!.subscriptions.length === 2, { timeoutMs: 10_000, what: "the gone Proxy's queue and subscription removed" });
    assert.ok(emu.queues().every((q) => !q.name.endsWith('dead00')));
    await waitFor(async () => {
      const r = await routers();
      return SERVERS.slice(0, 3).every((a) => r.get(a) === 1);
    }, { timeoutMs: 15_000, intervalMs: 100, what: 'each Server routed by one Proxy' });
    const calls = ecsCalls();
    const syncs = lines.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('sync')).length;
    await waitFor(() => lines.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('sync')).length >= syncs + 6, { timeoutMs: 10_000, what: 'three syncs each' });
    assert.equal(ecsCalls(), calls, 'neither the Servers nor the Proxies listed');
  });

  test('a new Server reaches its one owner through the event, with no listing: claimed and confirmed by the event step itself', async () => {
    const calls = ecsCalls();
    const from = lines.length;
    const arn = emu.addTask({ cluster: 'media', service: 'rtmp-server', address: SERVERS[3]!, lastStatus: 'RUNNING' });
    const name = `task-${arn.split('/').pop()}`;
    await waitFor(async () => (await routers()).get(SERVERS[3]!) === 1, { timeoutMs: 10_000, intervalMs: 50, what: 'the new Server routed by one Proxy' });
    assert.equal(ecsCalls(), calls);
    const since = lines.slice(from);
    const claimed = since.findIndex((l) => l.msg === 'server claimed' && l.server === name);
    assert.ok(claimed >= 0 && since.slice(claimed).some((l) => l.msg === 'server enabled' && l.server === name), 'claimed, then enabled');
    const claimedBySync = since.filter((l) => l.msg === 'sync: runtime' && ((l.changes as { claimed?: string[] } | undefined)?.claimed ?? []).includes(name));
    assert.deepEqual(claimedBySync, [], 'not by a sync: the owner claimed it as the event came');
  });

  test("a Proxy's own task change makes both read the Proxy list again", async () => {
    const proxyListings = () => emu.calls('ListTasks').filter((c) => (c.params as { serviceName?: string }).serviceName === 'rtmp-proxy').length;
    const before = proxyListings();
    // A third Proxy starts (its daemon never answers here): the others must see it in their list.
    emu.addTask({ cluster: 'media', service: 'rtmp-proxy', address: '127.0.50.23', lastStatus: 'RUNNING' });
    await waitFor(() => proxyListings() >= before + 2, { timeoutMs: 10_000, what: 'both Proxies listing the Proxies' });
    await waitFor(() => lines.filter((l) => l.msg === 'Proxies seen: 3').length >= 2, { timeoutMs: 10_000, what: 'both seeing three Proxies' });
  });
});

/** One Proxy with ECS task events, against an emulator of its own, one stand-in Server listening; `tasks` exist before it starts. */
async function startEventsDaemon(
  cleanup: Cleanup,
  o: { name: string; proxy: { address: string; rtmp: number; health: number }; server: string; port: number; env: Record<string, string>; tasks?: Array<Parameters<EcsEmulator['addTask']>[0]> },
) {
  const emu = await startEcsEmulator({ host: '127.0.0.1', port: 0 });
  cleanup.defer('emulator', () => emu.close());
  useEmulatorForAws(cleanup, emu.url);
  await startBackends(cleanup, [o.server], o.port, { hold: true });
  const topicArn = emu.createTopic('events');
  emu.setEventTargets([topicArn]);
  const arns = (o.tasks ?? []).map((t) => emu.addTask(t));
  const dir = await tempDir(cleanup, o.name);
  const config = loadConfig({
    ECS_CLUSTER: CLUSTER,
    SERVER_PORT: String(o.port),
    FULL_SYNC_INTERVAL: '3600',
    EVENTS_TOPIC_ARN: topicArn,
    PROXY_TASK_ARN: SELF,
    METRICS_PORT: 'off',
    SHUTDOWN_GRACE_SECONDS: '0',
    ...o.env,
    ...proxyEnv(dir, o.proxy),
  });
  const { logger, lines } = capturingLogger();
  const daemon = startDaemon(config, logger);
  cleanup.defer('daemon', () => daemon.stop({ stopHaproxy: true }));
  const first = await daemon.firstSync;
  await waitFor(() => daemon.events?.eventsUp, { timeoutMs: 10_000, what: 'events up' });
  return { emu, daemon, lines, arns, first, config };
}

describe('ECS task events with SERVER_REQUIRE_HEALTHY', () => {
  const cleanup = new Cleanup();
  const PROXY2 = { address: '127.0.50.41', rtmp: 19440, health: 19441 };
  const SERVER = '127.0.50.51';
  const PORT = 19442;

  test('a RUNNING task waits for HEALTHY, which ECS may not announce: described at each sync until it is, no listing', async () => {
    try {
      const { emu, daemon } = await startEventsDaemon(cleanup, {
        name: 'events-healthy',
        proxy: PROXY2,
        server: SERVER,
        port: PORT,
        env: { SERVER_REQUIRE_HEALTHY: 'true', SYNC_SCHEDULE: '* * * * * *' },
      });
      const task = emu.addTask({ cluster: CLUSTER, address: SERVER, lastStatus: 'RUNNING', healthStatus: 'UNKNOWN' });
      await waitFor(() => emu.calls('DescribeTasks').length >= 1, { timeoutMs: 10_000, what: 'the waiting task described' });
      const listings = emu.calls('ListTasks').length;
      // Its health turns HEALTHY with no event (EventBridge delivers nothing for it here).
      emu.setEventTargets([]);
      emu.setTask(task, { healthStatus: 'HEALTHY' });
      await waitFor(async () => (await daemon.driver.backend()).servers.some((s) => s.address === SERVER && !s.maintenance), { timeoutMs: 10_000, what: 'the Server routed once HEALTHY' });
      assert.equal(emu.calls('ListTasks').length, listings, 'described, not listed');
      const describes = emu.calls('DescribeTasks').length;
      const syncs = (await daemon.syncNow(), await daemon.syncNow(), emu.calls('DescribeTasks').length);
      assert.equal(syncs, describes, 'no more describing once it is HEALTHY');
    } finally {
      await cleanup.run();
    }
  });
});

describe('a sync after an ECS task event only when its step left something to do', () => {
  const cleanup = new Cleanup();
  const PROXY3 = { address: '127.0.50.61', rtmp: 19443, health: 19444 };
  const SERVER = '127.0.50.71';
  const PORT = 19445;

  test('a stopping Server drained by its step calls for no sync; a new task at its address (left to a sync) gets one', async () => {
    try {
      const { emu, daemon, lines, arns, first } = await startEventsDaemon(cleanup, {
        name: 'events-settled',
        proxy: PROXY3,
        server: SERVER,
        port: PORT,
        // No scheduled sync during the test (the first sync at start always runs).
        env: { SYNC_SCHEDULE: '0 0 0 1 1 *' },
        tasks: [{ cluster: CLUSTER, address: SERVER, lastStatus: 'RUNNING' }],
      });
      assert.ok(first.ok);
      const old = arns[0]!;
      const from = lines.length;
      const syncLines = () => lines.slice(from).filter((l) => typeof l.msg === 'string' && l.msg.startsWith('sync'));
      const servers = async () => (await daemon.driver.backend()).servers;
      const oldName = `task-${old.split('/').pop()}`;

      // ECS begins to stop the Server: its step drains it; nothing is left for a sync.
      emu.setTask(old, { desiredStatus: 'STOPPED' });
      await waitFor(async () => (await servers()).find((s) => s.name === oldName)?.maintenance, { timeoutMs: 5000, intervalMs: 20, what: 'the stopping Server drained' });
      // Its replacement at the same address: the step leaves that to a sync, which deletes the old
      // (idle) Server and adds the new one.
      const replacement = emu.addTask({ cluster: CLUSTER, address: SERVER, lastStatus: 'RUNNING' });
      const newName = `task-${replacement.split('/').pop()}`;
      await waitFor(
        async () => {
          const now = await servers();
          return now.some((s) => s.name === newName && !s.maintenance) && !now.some((s) => s.name === oldName);
        },
        { timeoutMs: 5000, intervalMs: 20, what: 'the replacement routable and the old Server gone' },
      );
      await waitFor(() => syncLines().length > 0, { timeoutMs: 5000, what: "the replacement's sync logged" });
      assert.ok(lines.slice(from).some((l) => l.msg === 'server drained' && l.server === oldName && l.reason === 'stopping'), 'drained by the event step');
      assert.ok(lines.slice(from).some((l) => l.msg === 'ECS task event: left to the sync that follows' && l.why === 'another Server has its address'));
      assert.equal(syncLines().length, 1, `one sync, the replacement's: ${JSON.stringify(syncLines())}`);
    } finally {
      await cleanup.run();
    }
  });
});

describe("a scheduled sync's config file, written in the background", () => {
  const cleanup = new Cleanup();
  const PROXY4 = { address: '127.0.50.81', rtmp: 19446, health: 19447 };
  const OLD = '127.0.50.91';
  const NEW = '127.0.50.92';
  const PORT = 19448;

  test("an ECS task event's step does not wait for a scheduled sync's `haproxy -c`", async () => {
    const dir = await tempDir(cleanup, 'events-gate');
    // HAProxy, except that a config check waits while the gate file exists (10 s at most).
    const gate = path.join(dir, 'checks-wait');
    const bin = path.join(dir, 'haproxy');
    writeFileSync(
      bin,
      `#!/bin/sh\nfor a in "$@"; do\n  [ "$a" = -c ] || continue\n  i=0\n  while [ -e '${gate}' ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done\ndone\nexec '${DEFAULT_HAPROXY_BIN}' "$@"\n`,
      { mode: 0o755 },
    );
    try {
      await startBackends(cleanup, [NEW], PORT, { hold: true });
      const { emu, daemon, arns, config } = await startEventsDaemon(cleanup, {
        name: 'events-deferred',
        proxy: PROXY4,
        server: OLD,
        port: PORT,
        env: { SYNC_SCHEDULE: '* * * * * *', HAPROXY_BIN: bin },
        tasks: [{ cluster: CLUSTER, address: OLD, lastStatus: 'RUNNING' }],
      });
      const servers = async () => (await daemon.driver.backend()).servers;
      const oldName = `task-${arns[0]!.split('/').pop()}`;
      writeFileSync(gate, '');
      // ECS stops the old Server: its step drains it, and the next scheduled sync deletes it (idle):
      // a runtime change, whose file then waits for its check.
      emu.setTask(arns[0]!, { desiredStatus: 'STOPPED' });
      await waitFor(async () => !(await servers()).some((s) => s.name === oldName), { timeoutMs: 5000, intervalMs: 20, what: 'the old Server deleted by a scheduled sync' });
      // Meanwhile a new task: its step goes ahead (behind the sync's lock it would wait for the check).
      const added = emu.addTask({ cluster: CLUSTER, address: NEW, lastStatus: 'RUNNING' });
      const newName = `task-${added.split('/').pop()}`;
      await waitFor(async () => (await servers()).some((s) => s.name === newName && !s.maintenance), { timeoutMs: 5000, intervalMs: 20, what: 'the new Server routable while config checks wait' });
      assert.ok(existsSync(gate), 'the checks were still held');
      rmSync(gate);
      // The file follows once the checks run: the new Server in, the old one gone.
      await waitFor(
        async () => {
          const text = await readFile(config.haproxyConfig, 'utf8');
          return text.includes(`server ${newName} `) && !text.includes(`server ${oldName} `);
        },
        { timeoutMs: 10_000, what: 'the file saying what runs' },
      );
    } finally {
      rmSync(gate, { force: true });
      await cleanup.run();
    }
  });
});

describe('a scheduled sync that changes nothing holds no event step', () => {
  const cleanup = new Cleanup();
  const PROXY5 = { address: '127.0.50.111', rtmp: 19455, health: 19456 };
  const SERVER = '127.0.50.121';
  const PORT = 19457;
  const PAGE_PORT = 19458;

  test("an ECS task event's drain lands while the sync's BUSY_CHECK waits on a status page that does not answer", async () => {
    try {
      // The Server's status page: HAProxy's own check (HTTP/1.0) is answered "not publishing"; the
      // daemon's busy check (node:http, HTTP/1.1) never is, so each sync waits its full timeout on it.
      const pending = new Set<net.Socket>();
      let daemonAsked = 0;
      const page = net.createServer((c) => {
        c.on('error', () => undefined);
        c.once('data', (d) => {
          if (!d.toString().includes('HTTP/1.1')) return void c.end('HTTP/1.0 200 OK\r\n\r\n<idle/>');
          daemonAsked++;
          pending.add(c);
          c.on('close', () => pending.delete(c));
        });
      });
      await new Promise<void>((resolve) => page.listen(PAGE_PORT, SERVER, resolve));
      cleanup.defer('status page', () => {
        for (const c of pending) c.destroy();
        return new Promise<void>((resolve) => page.close(() => resolve()));
      });
      const { emu, daemon, arns } = await startEventsDaemon(cleanup, {
        name: 'events-look',
        proxy: PROXY5,
        server: SERVER,
        port: PORT,
        env: { SYNC_SCHEDULE: '* * * * * *', BUSY_CHECK_PORT: String(PAGE_PORT) },
        tasks: [{ cluster: CLUSTER, address: SERVER, lastStatus: 'RUNNING' }],
      });
      const name = `task-${arns[0]!.split('/').pop()}`;
      const server = async () => (await daemon.driver.backend()).servers.find((s) => s.name === name);
      await waitFor(async () => (await server()) !== undefined && !(await server())!.maintenance, { timeoutMs: 10_000, what: 'the Server in rotation' });
      // A scheduled sync is asking the page (and will until its timeout): ECS begins to stop the Server.
      const asked = daemonAsked;
      await waitFor(() => daemonAsked > asked && pending.size > 0, { timeoutMs: 5000, intervalMs: 10, what: "a scheduled sync's busy check under way" });
      const waiting = [...pending][0]!;
      emu.setTask(arns[0]!, { desiredStatus: 'STOPPED' });
      await waitFor(async () => (await server())?.maintenance === true, { timeoutMs: 5000, intervalMs: 10, what: 'the stopping Server drained' });
      assert.ok(pending.has(waiting), "drained while that sync's busy check still waited on the page");
    } finally {
      await cleanup.run();
    }
  });
});
