/**
 * ECS task state change events as a discovery: the Server fleet follows the events (EventBridge →
 * SNS topic → this Proxy's own SQS queue, long-polled), and the full ECS listing runs only every
 * FULL_SYNC_INTERVAL, at start, and on every sync while the queue does not answer. Each event that
 * changes the fleet asks for a sync at once (`onChange`).
 *
 * The queue: with EVENTS_TOPIC_ARN, this Proxy creates `<EVENTS_QUEUE_PREFIX><task id>`, subscribes it
 * to the topic (raw delivery), deletes it at shutdown, and deletes the queues and subscriptions of
 * Proxies that are gone (crashed before they could), so every Proxy sees every event. With
 * EVENTS_QUEUE_URL, a queue made elsewhere is polled as it is (one Proxy, or a test).
 */
import { DescribeTasksCommand, ECSClient } from '@aws-sdk/client-ecs';
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { SNSClient } from '@aws-sdk/client-sns';
// The SQS client is loaded on first use, like SNS and EC2: without events the daemon does not carry it.
import type { Message, SQSClient } from '@aws-sdk/client-sqs';
import { setTimeout as delay } from 'node:timers/promises';
import { AWS_CLIENT_OPTIONS, callAws, type AwsCallError } from '../aws/call.js';
import {
  afterListing,
  applyTaskEvent,
  EMPTY_EVENT_FLEET,
  fleetServers,
  parseTaskEventMessage,
  type EventEffect,
  type EventFleet,
  type FleetScope,
  type TaskEvent,
} from '../core/task-events.js';
import { FailureLog, type Logger } from '../log.js';
import { AWAITING_HEALTH } from './ecs-map.js';
import { taskIdFromArn } from '../model.js';
import type { Discovery, DiscoveryResult } from './types.js';

export type EventSource =
  | { kind: 'topic'; topicArn: string; queuePrefix: string; selfTaskArn: () => Promise<string | undefined>; liveProxyTaskIds?: () => Promise<Set<string> | undefined> }
  | { kind: 'queue'; queueUrl: string };

export interface TaskEventsOptions {
  scope: FleetScope;
  source: EventSource;
  /** The full listing (the ECS discovery). */
  listing: Discovery;
  fullSyncIntervalMs: number;
  logger: Logger;
  /**
   * Called when an event changed the fleet (added, updated or removed a Server): its change is applied
   * and a sync should run now. The message is deleted once what this returns settles, so the change
   * reaches HAProxy before the queue calls that follow take the CPU.
   */
  onChange: (effect: Extract<EventEffect, { server: unknown }>) => void | Promise<void>;
  /** Several Proxies: the Proxies' own service, whose task changes go to `onPeerChange`. */
  peerScope?: { cluster: string; service: string };
  onPeerChange?: () => void;
  /** Each event's effect (metrics), and whether the queue answers. */
  onEffect?: (effect: EventEffect['kind'] | 'invalid' | 'peer') => void;
  onStatus?: (up: boolean) => void;
  sqs?: SQSClient;
  sns?: SNSClient;
  ecs?: ECSClient;
  ec2?: EC2Client;
  now?: () => number;
  /** Long-poll wait (SQS allows up to 20 s). */
  waitSeconds?: number;
  /** How long to wait before asking a failing queue again. */
  retryMs?: number;
}

export interface EventDrivenDiscovery extends Discovery {
  /** Sets the queue up and starts polling it; resolves once the first attempt is made (never rejects). */
  start(): Promise<void>;
  /** Stops polling; with a topic, unsubscribes and deletes this Proxy's queue. */
  stop(): Promise<void>;
  readonly eventsUp: boolean;
}

const CALL_TIMEOUT_MS = 10_000;
/** A stopped task's events can still arrive this long after (EventBridge retries, queue backlog). */
const FORGET_AFTER_MS = 60 * 60 * 1000;
/** SQS keeps an undeleted message invisible this long before another receive gets it again. */
const VISIBILITY_TIMEOUT_SECONDS = 30;
/** Events older than this are of no use to anyone; the full listing has long corrected them. */
const RETENTION_SECONDS = 3600;
const QUEUE_NAME_MAX = 80;

export function createEventDrivenDiscovery(opts: TaskEventsOptions): EventDrivenDiscovery {
  const { logger, scope, source } = opts;
  const now = opts.now ?? Date.now;
  let sqsLib: typeof import('@aws-sdk/client-sqs') | undefined;
  let sqsClient = opts.sqs;
  /** The SQS module and client, loaded on first use. */
  async function sqsApi(): Promise<{ L: typeof import('@aws-sdk/client-sqs'); sqs: SQSClient }> {
    sqsLib ??= await import('@aws-sdk/client-sqs');
    sqsClient ??= new sqsLib.SQSClient(AWS_CLIENT_OPTIONS);
    return { L: sqsLib, sqs: sqsClient };
  }
  let ecs = opts.ecs;
  const failures = new FailureLog(logger);
  const call = <T>(what: string, send: (signal: AbortSignal) => Promise<T>) => callAws(what, CALL_TIMEOUT_MS, send);

  let fleet: EventFleet = EMPTY_EVENT_FLEET;
  /** RUNNING tasks waiting for HEALTHY (SERVER_REQUIRE_HEALTHY): described at each sync until they are. */
  let awaitingHealth = new Set<string>();
  let lastListing: number | undefined;
  let queueUrl: string | undefined = source.kind === 'queue' ? source.queueUrl : undefined;
  let subscriptionArn: string | undefined;
  let up = false;
  const stopping = new AbortController();
  let loop: Promise<void> | undefined;

  const setUp = (value: boolean) => {
    if (up === value) return;
    up = value;
    opts.onStatus?.(value);
  };

  async function sns(): Promise<SNSClient> {
    if (opts.sns) return opts.sns;
    const { SNSClient } = await import('@aws-sdk/client-sns');
    return (opts.sns = new SNSClient(AWS_CLIENT_OPTIONS));
  }

  /** Topic mode: this Proxy's queue, subscribed to the topic; the queues of Proxies that are gone removed. */
  async function setUpQueue(): Promise<string> {
    if (source.kind === 'queue') return source.queueUrl;
    const self = await source.selfTaskArn();
    const selfId = self === undefined ? undefined : taskIdFromArn(self);
    if (selfId === undefined) throw new Error('this Proxy does not know its task yet (ECS_CONTAINER_METADATA_URI_V4 or PROXY_TASK_ARN): no queue of its own');
    const name = `${source.queuePrefix}${selfId}`.slice(0, QUEUE_NAME_MAX);
    const region = source.topicArn.split(':')[3];
    const account = source.topicArn.split(':')[4];
    const queueArn = `arn:aws:sqs:${region}:${account}:${name}`;
    // Only the topic may send to it.
    const policy = JSON.stringify({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Principal: { Service: 'sns.amazonaws.com' }, Action: 'sqs:SendMessage', Resource: queueArn, Condition: { ArnEquals: { 'aws:SourceArn': source.topicArn } } }],
    });
    const { L, sqs } = await sqsApi();
    const created = await call('sqs:CreateQueue', (abortSignal) =>
      sqs.send(
        new L.CreateQueueCommand({
          QueueName: name,
          Attributes: { Policy: policy, MessageRetentionPeriod: String(RETENTION_SECONDS), VisibilityTimeout: String(VISIBILITY_TIMEOUT_SECONDS), SqsManagedSseEnabled: 'true' },
          tags: { 'rtmp-proxy:topic': source.topicArn.split(':').pop()! },
        }),
        { abortSignal },
      ),
    );
    const url = created.QueueUrl!;
    const attrs = await call('sqs:GetQueueAttributes', (abortSignal) => sqs.send(new L.GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }), { abortSignal }));
    const arn = attrs.Attributes?.QueueArn ?? queueArn;
    const client = await sns();
    const { SubscribeCommand } = await import('@aws-sdk/client-sns');
    const subscribed = await call('sns:Subscribe', (abortSignal) =>
      client.send(new SubscribeCommand({ TopicArn: source.topicArn, Protocol: 'sqs', Endpoint: arn, Attributes: { RawMessageDelivery: 'true' }, ReturnSubscriptionArn: true }), { abortSignal }),
    );
    subscriptionArn = subscribed.SubscriptionArn;
    logger.info({ queue: name, topic: source.topicArn }, 'ECS task events: subscribed this Proxy\'s queue to the topic');
    void removeOrphans(selfId).catch((e: Error) => logger.warn({ err: e.message }, 'could not remove the event queues of Proxies that are gone'));
    return url;
  }

  /** Queues (and their subscriptions) of Proxies no longer running: they crashed before removing them. */
  async function removeOrphans(selfId: string): Promise<void> {
    if (source.kind !== 'topic' || !source.liveProxyTaskIds) return;
    const live = await source.liveProxyTaskIds();
    if (live === undefined) return;
    live.add(selfId);
    const { L, sqs } = await sqsApi();
    const listed = await call('sqs:ListQueues', (abortSignal) => sqs.send(new L.ListQueuesCommand({ QueueNamePrefix: source.queuePrefix, MaxResults: 1000 }), { abortSignal }));
    const orphans = (listed.QueueUrls ?? []).filter((url) => {
      const id = url.split('/').pop()!.slice(source.queuePrefix.length);
      return id !== '' && !live.has(id);
    });
    if (orphans.length === 0) return;
    const client = await sns();
    const { ListSubscriptionsByTopicCommand, UnsubscribeCommand } = await import('@aws-sdk/client-sns');
    const orphanNames = new Set(orphans.map((url) => url.split('/').pop()!));
    let token: string | undefined;
    for (let page = 0; page < 100; page++) {
      const subs = await call('sns:ListSubscriptionsByTopic', (abortSignal) =>
        client.send(new ListSubscriptionsByTopicCommand({ TopicArn: source.topicArn, ...(token !== undefined && { NextToken: token }) }), { abortSignal }),
      );
      for (const sub of subs.Subscriptions ?? []) {
        if (sub.Protocol === 'sqs' && orphanNames.has(sub.Endpoint?.split(':').pop() ?? '') && sub.SubscriptionArn?.startsWith('arn:')) {
          await call('sns:Unsubscribe', (abortSignal) => client.send(new UnsubscribeCommand({ SubscriptionArn: sub.SubscriptionArn }), { abortSignal }));
        }
      }
      token = subs.NextToken;
      if (!token) break;
    }
    for (const url of orphans) await call('sqs:DeleteQueue', (abortSignal) => sqs.send(new L.DeleteQueueCommand({ QueueUrl: url }), { abortSignal }));
    logger.info({ queues: [...orphanNames] }, 'removed the event queues of Proxies that are gone');
  }

  /** The task as ECS describes it now, as an event (after 'verify'); undefined: ECS no longer knows it. */
  async function describeAsEvent(event: TaskEvent): Promise<TaskEvent | 'gone'> {
    ecs ??= new ECSClient(AWS_CLIENT_OPTIONS);
    const client = ecs;
    const answer = await call('ecs:DescribeTasks', (abortSignal) => client.send(new DescribeTasksCommand({ cluster: scope.cluster, tasks: [event.taskArn] }), { abortSignal }));
    const task = answer.tasks?.[0];
    if (task === undefined) return 'gone';
    return { ...event, version: task.version ?? event.version, at: now(), task };
  }

  /** The tasks waiting for HEALTHY, described afresh (at most 100: DescribeTasks' limit; the listing covers the rest). */
  async function describeAwaitingHealth(): Promise<void> {
    ecs ??= new ECSClient(AWS_CLIENT_OPTIONS);
    const client = ecs;
    const waiting = [...awaitingHealth].slice(0, 100);
    const answer = await call('ecs:DescribeTasks', (abortSignal) => client.send(new DescribeTasksCommand({ cluster: scope.cluster, tasks: waiting }), { abortSignal })).catch((e: Error) => {
      logger.debug({ err: e.message }, 'could not describe the tasks waiting for HEALTHY; next sync');
      return undefined;
    });
    if (answer === undefined) return;
    const described = new Map((answer.tasks ?? []).map((t) => [t.taskArn, t]));
    for (const taskArn of waiting) {
      const task = described.get(taskArn);
      // Gone from ECS: its stop event (or the listing) says the rest.
      if (task === undefined) {
        awaitingHealth.delete(taskArn);
        continue;
      }
      const event: TaskEvent = { taskArn, clusterArn: task.clusterArn ?? scope.cluster, version: task.version ?? 0, at: now(), task, ...(task.group !== undefined && { group: task.group }) };
      let result = applyTaskEvent(fleet, event, scope, { described: true });
      if (result.effect.kind === 'needs-public-ip') {
        const ips = await publicIpOf(result.effect.eniId).catch(() => undefined);
        if (ips === undefined) continue;
        result = applyTaskEvent(fleet, event, scope, { described: true, publicIpByEni: ips });
      }
      fleet = result.fleet;
      if (result.effect.kind !== 'awaiting-health') awaitingHealth.delete(taskArn);
      if (result.effect.kind === 'added') logger.info({ taskArn, server: result.effect.server.name, address: result.effect.server.address }, 'ECS task turned HEALTHY: Server added');
    }
  }

  async function publicIpOf(eniId: string): Promise<Map<string, string>> {
    const { EC2Client, DescribeNetworkInterfacesCommand } = await import('@aws-sdk/client-ec2');
    opts.ec2 ??= new EC2Client(AWS_CLIENT_OPTIONS);
    const client = opts.ec2;
    const answer = await call('ec2:DescribeNetworkInterfaces', (abortSignal) =>
      client.send(new DescribeNetworkInterfacesCommand({ Filters: [{ Name: 'network-interface-id', Values: [eniId] }] }), { abortSignal }),
    );
    const ip = answer.NetworkInterfaces?.[0]?.Association?.PublicIp;
    return new Map(ip === undefined ? [] : [[eniId, ip]]);
  }

  /** One message: applied (or found invalid) → true, to delete it; a failed lookup → false, to see it again. */
  async function handle(message: Message): Promise<boolean> {
    const parsed = parseTaskEventMessage(message.Body ?? '');
    if (parsed.kind === 'invalid') {
      logger.warn({ messageId: message.MessageId, reason: parsed.reason }, 'ECS task event: not applied (malformed), deleted');
      opts.onEffect?.('invalid');
      return true;
    }
    let { event } = parsed;
    const peers = opts.peerScope;
    if (peers && event.group === `service:${peers.service}` && event.clusterArn.endsWith(`:cluster/${peers.cluster}`)) {
      // A Proxy started or stops: the Proxy list is out of date. The sync reads it again.
      logger.debug({ taskArn: event.taskArn, lastStatus: event.task.lastStatus, desiredStatus: event.task.desiredStatus }, 'ECS task event: a Proxy changed');
      opts.onEffect?.('peer');
      opts.onPeerChange?.();
      return true;
    }
    let result = applyTaskEvent(fleet, event, scope);
    try {
      if (result.effect.kind === 'verify') {
        const described = await describeAsEvent(event);
        if (described === 'gone') {
          result = applyTaskEvent(fleet, { ...event, task: { ...event.task, lastStatus: 'STOPPED', desiredStatus: 'STOPPED' } }, scope, { described: true });
        } else {
          event = described;
          result = applyTaskEvent(fleet, event, scope, { described: true });
        }
      }
      if (result.effect.kind === 'needs-public-ip') {
        result = applyTaskEvent(fleet, event, scope, { publicIpByEni: await publicIpOf(result.effect.eniId), described: true });
      }
    } catch (e) {
      logger.warn({ taskArn: event.taskArn, err: (e as Error).message }, 'ECS task event: could not look the task up; it comes back in 30 s');
      return false;
    }
    fleet = result.fleet;
    const { effect } = result;
    opts.onEffect?.(effect.kind);
    if (effect.kind === 'awaiting-health') awaitingHealth.add(event.taskArn);
    else if (effect.kind !== 'duplicate' && effect.kind !== 'foreign') awaitingHealth.delete(event.taskArn);
    const fields = { taskArn: event.taskArn, version: event.version, lastStatus: event.task.lastStatus, desiredStatus: event.task.desiredStatus };
    if (effect.kind === 'added' || effect.kind === 'updated' || effect.kind === 'removed') {
      logger.info({ ...fields, server: effect.server.name, address: effect.server.address, ...('reason' in effect && { reason: effect.reason }) }, `ECS task event: Server ${effect.kind}`);
      await opts.onChange(effect);
    } else {
      logger.debug({ ...fields, effect: effect.kind }, 'ECS task event: fleet unchanged');
    }
    return true;
  }

  async function poll(): Promise<void> {
    const wait = opts.waitSeconds ?? 20;
    const retryMs = opts.retryMs ?? 5000;
    while (!stopping.signal.aborted) {
      try {
        queueUrl ??= await setUpQueue();
        const url = queueUrl;
        const { L, sqs } = await sqsApi();
        // While not known to answer, a short poll: it says so at once rather than after a long wait.
        const waitSeconds = up ? wait : 0;
        const answer = await callAws('sqs:ReceiveMessage', (waitSeconds + 10) * 1000, (abortSignal) =>
          sqs.send(new L.ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: waitSeconds }), { abortSignal: AbortSignal.any([abortSignal, stopping.signal]) }),
        );
        if (!up) failures.recovered('ECS task events: the queue answers; changes apply as they happen');
        setUp(true);
        const done: Message[] = [];
        if (answer.Messages?.length) logger.debug({ messages: answer.Messages.length }, 'ECS task events: received');
        for (const message of answer.Messages ?? []) if (await handle(message)) done.push(message);
        if (done.length > 0) {
          await call('sqs:DeleteMessageBatch', (abortSignal) =>
            sqs.send(new L.DeleteMessageBatchCommand({ QueueUrl: url, Entries: done.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })) }), { abortSignal }),
          );
        }
      } catch (e) {
        if (stopping.signal.aborted) break;
        const err = e as AwsCallError;
        // Our queue is gone (deleted by hand, or by another Proxy that took this one for gone): make it again.
        if (source.kind === 'topic' && err.code === 'QueueDoesNotExist') queueUrl = undefined;
        setUp(false);
        failures.failed(
          `events:${err.code ?? err.name}`,
          { err: err.message, code: err.code },
          'ECS task events: the queue does not answer; every scheduled sync lists the tasks until it does',
        );
        await delay(retryMs, undefined, { signal: stopping.signal }).catch(() => undefined);
      }
    }
  }

  return {
    get eventsUp() {
      return up;
    },
    async start() {
      loop ??= poll();
    },
    async stop() {
      stopping.abort();
      await loop;
      if (source.kind !== 'topic' || queueUrl === undefined) return;
      try {
        if (subscriptionArn?.startsWith('arn:')) {
          const client = await sns();
          const { UnsubscribeCommand } = await import('@aws-sdk/client-sns');
          await call('sns:Unsubscribe', (abortSignal) => client.send(new UnsubscribeCommand({ SubscriptionArn: subscriptionArn }), { abortSignal }));
        }
        const url = queueUrl;
        const { L, sqs } = await sqsApi();
        await call('sqs:DeleteQueue', (abortSignal) => sqs.send(new L.DeleteQueueCommand({ QueueUrl: url }), { abortSignal }));
        logger.info({ queue: url }, 'ECS task events: this Proxy\'s queue removed');
      } catch (e) {
        logger.warn({ err: (e as Error).message }, 'ECS task events: could not remove this Proxy\'s queue (the next Proxy to start removes it)');
      }
    },
    async discover(): Promise<DiscoveryResult> {
      const started = now();
      if (up && lastListing !== undefined && started - lastListing < opts.fullSyncIntervalMs) {
        if (awaitingHealth.size > 0) await describeAwaitingHealth();
        return { servers: fleetServers(fleet), skipped: [] };
      }
      const listed = await opts.listing.discover();
      fleet = afterListing(fleet, listed.servers, started, FORGET_AFTER_MS);
      // What the listing saw waiting for HEALTHY is watched from now on (its event may never come).
      if (scope.requireHealthy) awaitingHealth = new Set(listed.skipped.filter((s) => s.reason.includes(AWAITING_HEALTH)).map((s) => s.taskArn));
      lastListing = started;
      return { servers: fleetServers(fleet), skipped: listed.skipped };
    },
  };
}
