/**
 * A small ECS (+ slivers of EC2, Route 53, SQS, SNS and CloudWatch) API emulator speaking the real wire
 * protocols, so the real `@aws-sdk/client-ecs`, `-ec2`, `-route-53`, `-sqs`, `-sns` and `-cloudwatch` run
 * unchanged against it via `endpoint` or AWS_ENDPOINT_URL_ECS / _EC2 / _ROUTE_53 / _SQS / _SNS /
 * _CLOUDWATCH. All share one port:
 *
 * - ECS, AWS JSON 1.1: `POST /` with `X-Amz-Target: AmazonEC2ContainerServiceV20141113.<Op>`.
 * - SQS, AWS JSON 1.0: `POST /` with `X-Amz-Target: AmazonSQS.<Op>` (standard queues, long polling;
 *   the state machine is in sqs.ts).
 * - CloudWatch, AWS JSON 1.0: `POST /` with `X-Amz-Target: GraniteServiceVersion20100801.<Op>`, bodies
 *   maybe gzipped (PutMetricData, GetMetricData, ListMetrics; the state machine is in cloudwatch.ts;
 *   `metricData()` and `GET /_emulator/cloudwatch` show every datapoint stored).
 * - EC2 and SNS, query protocol: `POST /` with a form body `Action=…`, XML answers; dispatched by the
 *   Action name (EC2: DescribeNetworkInterfaces; SNS: topics with SQS subscriptions, in sns.ts).
 * - Route 53, REST-XML: any method on `/2013-04-01/...` (hosted zones, record sets, health checks;
 *   the state machine is in route53.ts).
 * - Admin API (JSON) under `/_emulator/` for the demo and docker compose (see `handleAdmin`).
 *
 * ECS task state change events: every change the emulator makes to a task (addTask, setTask,
 * removeTask) bumps the task's `version` and, when event targets are set (`eventTargets` option,
 * `setEventTargets`, `PUT /_emulator/event-targets`), sends an EventBridge "ECS Task State Change"
 * event — its `detail` built by the same function as DescribeTasks' task — to each target as an
 * EventBridge rule would: an SNS topic ARN (published) or an SQS queue ARN (sent). The change is
 * visible to DescribeTasks before the event is delivered. `events()` lists what was emitted.
 *
 * Every service shares the call log and fault injection. Requests are not authenticated (the SDK
 * signs them; we do not check signatures) and no IAM or resource policy is evaluated.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { gunzipSync } from 'node:zlib';
import type { AddressInfo } from 'node:net';
import type { Task } from '@aws-sdk/client-ecs';
import { silentLogger, type Logger } from '../../src/log.js';
import { queueDoesNotExist, Sqs, SqsError, sqsErrorResponse, SQS_ACTIONS, SQS_CONTENT_TYPE, SQS_TARGET_PREFIX, type QueueSummary, type SqsAction } from './sqs.js';
import {
  CloudWatch,
  CloudWatchError,
  cloudWatchErrorResponse,
  cloudWatchFaultError,
  CLOUDWATCH_ACTIONS,
  CLOUDWATCH_CONTENT_TYPE,
  CLOUDWATCH_TARGET_PREFIX,
  PUT_METRIC_DATA_MAX_BYTES,
  requestEntityTooLarge,
  type CloudWatchAction,
  type MetricDatapoint,
} from './cloudwatch.js';
import { Sns, SnsError, snsErrorResponse, snsNotFound, SNS_ACTIONS, type SnsAction, type TopicSummary } from './sns.js';
import {
  errorResponse as route53Error,
  Route53,
  Route53Error,
  ROUTE53_ACTIONS,
  ROUTE53_PATH_PREFIX,
  type HealthCheck,
  type ResourceRecordSet,
  type Route53Action,
  type Route53Request,
} from './route53.js';

export type { HealthCheck, HostedZoneSummary, ResourceRecordSet, Route53Action } from './route53.js';
export type { QueueSummary, SqsAction } from './sqs.js';
export type { SnsAction, TopicSummary } from './sns.js';
export type { CloudWatchAction, MetricDatapoint } from './cloudwatch.js';

export type EcsAction = 'ListTasks' | 'DescribeTasks' | 'UpdateTaskProtection' | 'GetTaskProtection';
export type ApiAction = EcsAction | 'DescribeNetworkInterfaces' | Route53Action | SqsAction | SnsAction | CloudWatchAction;

export interface TaskSpec {
  cluster?: string;
  service?: string;
  /** Private IP (IPv4, or IPv6 when it contains ':'). Omitted: one is allocated. `null`: no address yet. */
  address?: string | null;
  publicIp?: string;
  az?: string;
  lastStatus?: string;
  desiredStatus?: string;
  healthStatus?: string;
  taskId?: string;
  /** Merged over the generated task as it goes on the wire, to build malformed tasks. */
  raw?: Partial<Task>;
}

export type FaultKind =
  | 'throttle'
  | 'server-error'
  | 'slow'
  | 'access-denied'
  | 'cluster-not-found'
  | 'expired-token'
  | 'malformed'
  | 'drop-connection'
  /** SQS: QueueDoesNotExist; SNS: NotFound; elsewhere the same as 'cluster-not-found'. */
  | 'queue-gone';

export interface FaultSpec {
  action?: ApiAction | '*';
  kind: FaultKind;
  /** How many matching calls it hits; default 1, Infinity allowed. */
  times?: number;
  /** For 'slow': how long to wait before answering normally (default 2000 ms). */
  delayMs?: number;
  /** Only the Nth ListTasks page (1-based). */
  page?: number;
}

export interface CallRecord {
  action: string;
  /** The decoded request: JSON body for ECS, SQS and CloudWatch (gunzipped), form fields for EC2 and SNS; for Route 53 the path ids, query fields and XML body. */
  params: Record<string, unknown>;
  /** ListTasks page number (1-based). */
  page?: number;
  fault?: FaultKind;
  at: number;
}

/** What the emulator holds for one task (a summary; the wire form is built from it). */
export interface EmulatedTask {
  taskArn: string;
  taskId: string;
  cluster: string;
  service?: string;
  address: string | null;
  publicIp?: string;
  eniId: string;
  az: string;
  lastStatus: string;
  desiredStatus: string;
  healthStatus: string;
  protection?: { enabled: boolean; expiresAt?: number };
  raw?: Partial<Task>;
  /** Starts at 1; +1 on every change the emulator makes (DescribeTasks' and the events' `version`). */
  version: number;
}

/** An EventBridge event as ECS emits it for a task ("ECS Task State Change"). */
export interface TaskStateChangeEvent {
  version: '0';
  id: string;
  'detail-type': 'ECS Task State Change';
  source: 'aws.ecs';
  account: string;
  time: string;
  region: string;
  resources: string[];
  /** The task as DescribeTasks shows it, timestamps as ISO strings, plus `updatedAt`. */
  detail: TaskStateChangeDetail;
}

/** The fields every emitted detail has (unless a task's `raw` overrides them), and the rest of the Task shape. */
export interface TaskStateChangeDetail {
  taskArn: string;
  clusterArn: string;
  /** `service:<name>` for a service's task. */
  group?: string;
  lastStatus: string;
  desiredStatus: string;
  healthStatus: string;
  version: number;
  availabilityZone: string;
  launchType: string;
  /** ISO strings. */
  createdAt: string;
  updatedAt: string;
  stoppedAt?: string;
  stoppedReason?: string;
  attachments: { id: string; type: string; status: string; details: { name: string; value: string }[] }[];
  containers: Record<string, unknown>[];
  [field: string]: unknown;
}

export interface EcsEmulator {
  url: string;
  region: string;
  accountId: string;
  close(): Promise<void>;
  addTask(spec?: TaskSpec): string;
  setTask(taskArn: string, patch: Omit<TaskSpec, 'cluster' | 'taskId'>): void;
  /** The task stops: still describable (STOPPED), no longer listed as RUNNING, its ENI is gone. */
  removeTask(taskArn: string): void;
  /** The task is forgotten entirely, as ECS does some time after it stopped (DescribeTasks: MISSING). */
  forgetTask(taskArn: string): void;
  /** An empty cluster (e.g. a service scaled to zero); clusters with tasks exist implicitly. */
  addCluster(name: string): void;
  tasks(): EmulatedTask[];
  reset(): void;
  injectFault(fault: FaultSpec): void;
  clearFaults(): void;
  calls(action?: string): CallRecord[];
  /** A Route 53 hosted zone with its apex SOA and NS, as CreateHostedZone makes it; returns the bare id ("Z…"). */
  createHostedZone(name: string): string;
  /** A zone's record sets in ListResourceRecordSets order; the id with or without `/hostedzone/`. */
  recordSets(zoneId: string): ResourceRecordSet[];
  /** Live Route 53 health checks, in creation order. */
  healthChecks(): HealthCheck[];
  /**
   * Where task state change events go: SNS topic ARNs (published) and SQS queue ARNs (sent), as
   * EventBridge rule targets. Empty: no events. Targets need not exist yet (delivery to a missing one
   * is dropped, as EventBridge would without a dead-letter queue).
   */
  setEventTargets(arns: string[]): void;
  /** The task state change events emitted so far (with targets set), oldest first. */
  events(): TaskStateChangeEvent[];
  /** An SQS queue as CreateQueue makes it (idempotent for the same attributes). */
  createQueue(name: string, attributes?: Record<string, string>): { queueUrl: string; queueArn: string };
  /** An SNS topic as CreateTopic makes it; returns its ARN. */
  createTopic(name: string): string;
  /** Subscribes an SQS queue (ARN) to a topic; `raw` sets RawMessageDelivery. Returns the subscription ARN. */
  subscribeQueue(topicArn: string, queueArn: string, opts?: { raw?: boolean }): string;
  /** SQS queues with their message counts. */
  queues(): QueueSummary[];
  /** SNS topics with their subscriptions. */
  topics(): TopicSummary[];
  /** CloudWatch datapoints stored by PutMetricData, in arrival order (timestamps in epoch ms). */
  metricData(filter?: { namespace?: string; metricName?: string }): MetricDatapoint[];
}

export interface EmulatorOptions {
  host?: string;
  port?: number;
  region?: string;
  accountId?: string;
  logger?: Logger;
  /** Initial task state change event targets (see `setEventTargets`). */
  eventTargets?: string[];
}

const ECS_TARGET_PREFIX = 'AmazonEC2ContainerServiceV20141113.';
const EC2_NAMESPACE = 'http://ec2.amazonaws.com/doc/2016-11-15/';
// SQS messages may be 1 MiB, and JSON escaping can grow them.
const MAX_BODY_BYTES = 8 * 1024 * 1024;
const LIST_TASKS_MAX = 100;
const DESCRIBE_TASKS_MAX = 100;
const UPDATE_PROTECTION_MAX = 10;

/** An AWS error as the emulator answers it; `code` becomes `__type` (ECS) or `<Code>` (EC2). */
class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

/** Fault kind → the error each service really answers with ('cluster-not-found' is NoSuchHostedZone for Route 53). */
const FAULT_ERRORS: Record<
  Exclude<FaultKind, 'slow' | 'malformed' | 'drop-connection' | 'queue-gone'>,
  { ecs: [number, string, string]; ec2: [number, string, string]; route53: [number, string, string] }
> = {
  throttle: { ecs: [400, 'ThrottlingException', 'Rate exceeded'], ec2: [503, 'RequestLimitExceeded', 'Request limit exceeded.'], route53: [400, 'Throttling', 'Rate exceeded'] },
  'server-error': {
    ecs: [500, 'ServerException', 'Service unavailable. Please try again later.'],
    ec2: [500, 'InternalError', 'An internal error has occurred'],
    route53: [500, 'InternalFailure', 'The request processing has failed because of an unknown error, exception or failure.'],
  },
  'access-denied': {
    ecs: [400, 'AccessDeniedException', 'User is not authorized to perform this action'],
    ec2: [403, 'UnauthorizedOperation', 'You are not authorized to perform this operation.'],
    route53: [403, 'AccessDenied', 'User is not authorized to perform this action'],
  },
  'cluster-not-found': {
    ecs: [400, 'ClusterNotFoundException', 'Cluster not found.'],
    ec2: [400, 'InvalidNetworkInterfaceID.NotFound', 'The networkInterface ID does not exist'],
    route53: [404, 'NoSuchHostedZone', 'No hosted zone found with ID'],
  },
  'expired-token': {
    ecs: [400, 'ExpiredTokenException', 'The security token included in the request is expired'],
    ec2: [400, 'RequestExpired', 'Request has expired.'],
    route53: [403, 'ExpiredToken', 'The security token included in the request is expired'],
  },
};

type ErrorFault = Exclude<FaultKind, 'slow' | 'malformed' | 'drop-connection'>;

/** The ECS/EC2/Route 53 answer for an error fault ('queue-gone' acts as 'cluster-not-found' there). */
function faultError(kind: ErrorFault) {
  return FAULT_ERRORS[kind === 'queue-gone' ? 'cluster-not-found' : kind];
}

/** The SQS answer for an error fault, as SQS sends it (code, query code for x-amzn-query-error). */
function sqsFaultError(kind: ErrorFault): SqsError {
  switch (kind) {
    case 'throttle':
      return new SqsError(400, 'RequestThrottled', 'Rate exceeded');
    case 'server-error':
      return new SqsError(500, 'InternalFailure', 'The request processing has failed because of an unknown error, exception or failure.', 'InternalFailure', 'com.amazon.coral.service');
    case 'access-denied':
      return new SqsError(403, 'AccessDeniedException', 'User is not authorized to perform this action', 'AccessDenied', 'com.amazon.coral.service');
    case 'expired-token':
      return new SqsError(403, 'ExpiredTokenException', 'The security token included in the request is expired', 'ExpiredToken', 'com.amazon.coral.service');
    case 'cluster-not-found':
    case 'queue-gone':
      return queueDoesNotExist();
  }
}

/** The SNS answer for an error fault. */
function snsFaultError(kind: ErrorFault): SnsError {
  switch (kind) {
    case 'throttle':
      return new SnsError(429, 'Throttled', 'Rate exceeded');
    case 'server-error':
      return new SnsError(500, 'InternalError', 'Internal Error');
    case 'access-denied':
      return new SnsError(403, 'AuthorizationError', 'User is not authorized to perform this action');
    case 'expired-token':
      return new SnsError(403, 'ExpiredToken', 'The security token included in the request is expired');
    case 'cluster-not-found':
    case 'queue-gone':
      return snsNotFound();
  }
}

interface StoredTask extends EmulatedTask {
  createdAt: number;
  /** Epoch seconds of the latest change (the events' `updatedAt`). */
  updatedAt: number;
  stoppedAt?: number;
}

interface ActiveFault extends FaultSpec {
  remaining: number;
}

export async function startEcsEmulator(opts: EmulatorOptions = {}): Promise<EcsEmulator> {
  const region = opts.region ?? 'us-east-1';
  const accountId = opts.accountId ?? '123456789012';
  const logger = opts.logger ?? silentLogger();
  const azs = [`${region}a`, `${region}b`, `${region}c`];

  let tasks = new Map<string, StoredTask>();
  let extraClusters = new Set<string>();
  let faults: ActiveFault[] = [];
  let callLog: CallRecord[] = [];
  let nextAddress = 0;
  const route53 = new Route53();
  const sqs = new Sqs(region, accountId);
  const sns = new Sns(region, accountId, (queueArn, body) => sqs.sendToArn(queueArn, body));
  const cloudwatch = new CloudWatch();
  let eventTargets: string[] = [];
  let emitted: TaskStateChangeEvent[] = [];
  const closing = new AbortController();
  let closed: Promise<void> = Promise.resolve();

  const clusterArn = (name: string) => `arn:aws:ecs:${region}:${accountId}:cluster/${name}`;
  const clusterExists = (name: string) =>
    name === 'default' || extraClusters.has(name) || [...tasks.values()].some((t) => t.cluster === name);

  /** Clusters may be given by name or ARN; omitted means "default", as in ECS. */
  function resolveCluster(value: unknown): string {
    if (value === undefined || value === null || value === '') return 'default';
    if (typeof value !== 'string') throw new ApiError(400, 'InvalidParameterException', 'cluster must be a string');
    const name = value.startsWith('arn:') ? (value.split('/').pop() ?? '') : value;
    if (!clusterExists(name)) throw new ApiError(400, 'ClusterNotFoundException', 'Cluster not found.');
    return name;
  }

  function findTask(ref: string, cluster: string): StoredTask | undefined {
    const byArn = tasks.get(ref);
    if (byArn) return byArn.cluster === cluster ? byArn : undefined;
    return [...tasks.values()].find((t) => t.taskId === ref && t.cluster === cluster);
  }

  function allocateAddress(): string {
    const n = nextAddress++;
    return `10.0.${Math.floor(n / 250) % 250}.${(n % 250) + 1}`;
  }

  function addTask(spec: TaskSpec = {}): string {
    const cluster = spec.cluster ?? 'default';
    const taskId = spec.taskId ?? randomBytes(16).toString('hex');
    const taskArn = `arn:aws:ecs:${region}:${accountId}:task/${cluster}/${taskId}`;
    if (tasks.has(taskArn)) throw new Error(`task ${taskArn} already exists`);
    const task: StoredTask = {
      taskArn,
      taskId,
      cluster,
      address: spec.address === undefined ? allocateAddress() : spec.address,
      eniId: `eni-${randomBytes(8).toString('hex').slice(0, 17)}`,
      az: spec.az ?? azs[tasks.size % azs.length]!,
      lastStatus: spec.lastStatus ?? 'RUNNING',
      desiredStatus: spec.desiredStatus ?? 'RUNNING',
      healthStatus: spec.healthStatus ?? 'UNKNOWN',
      createdAt: Date.now() / 1000,
      updatedAt: Date.now() / 1000,
      version: 1,
    };
    if (spec.service !== undefined) task.service = spec.service;
    if (spec.publicIp !== undefined) task.publicIp = spec.publicIp;
    if (spec.raw !== undefined) task.raw = spec.raw;
    tasks.set(taskArn, task);
    emitTaskEvent(task);
    return taskArn;
  }

  function mustGet(taskArn: string): StoredTask {
    const task = tasks.get(taskArn) ?? [...tasks.values()].find((t) => t.taskId === taskArn);
    if (!task) throw new Error(`no task ${taskArn}`);
    return task;
  }

  function setTask(taskArn: string, patch: Omit<TaskSpec, 'cluster' | 'taskId'>): void {
    const task = mustGet(taskArn);
    for (const [key, value] of Object.entries(patch)) {
      if (value !== undefined) (task as unknown as Record<string, unknown>)[key] = value;
    }
    changed(task);
  }

  function removeTask(taskArn: string): void {
    const task = mustGet(taskArn);
    if (task.lastStatus === 'STOPPED' && task.desiredStatus === 'STOPPED' && task.stoppedAt !== undefined) return; // no change, no event
    task.lastStatus = 'STOPPED';
    task.desiredStatus = 'STOPPED';
    task.stoppedAt = Date.now() / 1000;
    changed(task);
  }

  /** A change the emulator made: the next version, then (the change already visible) its event. */
  function changed(task: StoredTask): void {
    task.version += 1;
    task.updatedAt = Date.now() / 1000;
    emitTaskEvent(task);
  }

  function summary(task: StoredTask): EmulatedTask {
    const { createdAt: _c, updatedAt: _u, stoppedAt: _s, ...rest } = task;
    return structuredClone(rest);
  }

  // ---- task state change events ----

  function taskEvent(task: StoredTask): TaskStateChangeEvent {
    const detail: Record<string, unknown> = { ...wireTask(task), updatedAt: task.updatedAt };
    // Events carry ISO strings where the JSON 1.1 API carries epoch seconds.
    for (const key of TASK_TIMESTAMPS) {
      if (typeof detail[key] === 'number') detail[key] = new Date((detail[key] as number) * 1000).toISOString();
    }
    return {
      version: '0',
      id: randomUUID(),
      'detail-type': 'ECS Task State Change',
      source: 'aws.ecs',
      account: accountId,
      time: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
      region,
      resources: [task.taskArn],
      detail: detail as TaskStateChangeDetail,
    };
  }

  function emitTaskEvent(task: StoredTask): void {
    if (eventTargets.length === 0) return;
    const event = taskEvent(task);
    emitted.push(event);
    const body = JSON.stringify(event);
    for (const target of eventTargets) {
      let delivered: boolean;
      if (target.split(':')[2] === 'sns') {
        delivered = sns.hasTopic(target);
        if (delivered) sns.publish(target, body);
      } else {
        delivered = sqs.sendToArn(target, body);
      }
      if (!delivered) logger.warn({ target, taskArn: task.taskArn }, 'emulator: event target does not exist; event dropped');
    }
  }

  // ---- wire forms ----

  function wireTask(task: StoredTask): Record<string, unknown> {
    const details: { name: string; value: string }[] = [{ name: 'subnetId', value: 'subnet-0a1b2c3d4e5f60718' }];
    const attached = task.address !== null && task.lastStatus !== 'STOPPED';
    if (attached) {
      details.push({ name: 'networkInterfaceId', value: task.eniId }, { name: 'macAddress', value: '0e:00:00:00:00:01' });
      details.push(task.address!.includes(':') ? { name: 'ipv6Address', value: task.address! } : { name: 'privateIPv4Address', value: task.address! });
    }
    const wire: Record<string, unknown> = {
      taskArn: task.taskArn,
      clusterArn: clusterArn(task.cluster),
      taskDefinitionArn: `arn:aws:ecs:${region}:${accountId}:task-definition/rtmp-server:1`,
      lastStatus: task.lastStatus,
      desiredStatus: task.desiredStatus,
      healthStatus: task.healthStatus,
      availabilityZone: task.az,
      launchType: 'FARGATE',
      connectivity: attached ? 'CONNECTED' : 'DISCONNECTED',
      createdAt: task.createdAt,
      version: task.version,
      attachments: [
        {
          id: attachmentIdFor(task.taskId),
          type: 'ElasticNetworkInterface',
          status: task.lastStatus === 'STOPPED' ? 'DELETED' : attached ? 'ATTACHED' : 'PRECREATED',
          details,
        },
      ],
      containers: [{ name: 'rtmp', lastStatus: task.lastStatus, taskArn: task.taskArn }],
    };
    if (task.service !== undefined) {
      wire.group = `service:${task.service}`;
      wire.startedBy = `ecs-svc/${task.service}`;
    }
    if (task.lastStatus === 'STOPPED') {
      wire.stopCode = task.service !== undefined ? 'ServiceSchedulerInitiated' : 'UserInitiated';
      wire.stoppedReason = task.service !== undefined ? `Scaling activity initiated by (deployment ecs-svc/${task.service})` : 'Task stopped by user';
    }
    if (task.stoppedAt !== undefined) {
      wire.stoppingAt = task.stoppedAt;
      wire.stoppedAt = task.stoppedAt;
    }
    // `raw` may carry Dates (SDK Task type); JSON 1.1 sends timestamps as epoch seconds.
    for (const [key, value] of Object.entries(task.raw ?? {})) {
      wire[key] = value instanceof Date ? value.getTime() / 1000 : value;
    }
    return wire;
  }

  // ---- ECS operations ----

  function listTasks(body: Record<string, unknown>, page: number): unknown {
    const cluster = resolveCluster(body.cluster);
    const maxResults = body.maxResults ?? LIST_TASKS_MAX;
    if (typeof maxResults !== 'number' || !Number.isInteger(maxResults) || maxResults < 1 || maxResults > LIST_TASKS_MAX) {
      throw new ApiError(400, 'InvalidParameterException', `maxResults must be between 1 and ${LIST_TASKS_MAX}`);
    }
    const offset = body.nextToken === undefined ? 0 : decodeToken(body.nextToken).offset;
    const desiredStatus = (body.desiredStatus as string | undefined) ?? 'RUNNING';
    const matching = [...tasks.values()].filter(
      (t) =>
        t.cluster === cluster &&
        t.desiredStatus === desiredStatus &&
        (body.serviceName === undefined || t.service === body.serviceName),
    );
    const pageTasks = matching.slice(offset, offset + maxResults);
    const end = offset + pageTasks.length;
    const result: Record<string, unknown> = { taskArns: pageTasks.map((t) => t.taskArn) };
    if (end < matching.length) result.nextToken = encodeToken({ offset: end, page: page + 1 });
    return result;
  }

  function describeTasks(body: Record<string, unknown>): unknown {
    const cluster = resolveCluster(body.cluster);
    const refs = stringList(body.tasks, 'tasks');
    if (refs.length === 0) throw new ApiError(400, 'InvalidParameterException', 'Tasks cannot be empty.');
    if (refs.length > DESCRIBE_TASKS_MAX) {
      throw new ApiError(400, 'InvalidParameterException', `Tasks cannot have more than ${DESCRIBE_TASKS_MAX} elements`);
    }
    const found: unknown[] = [];
    const failures: unknown[] = [];
    for (const ref of refs) {
      const task = findTask(ref, cluster);
      if (task) found.push(wireTask(task));
      else failures.push({ arn: ref, reason: 'MISSING' });
    }
    return { tasks: found, failures };
  }

  function protectionOf(task: StoredTask): unknown {
    const p = task.protection;
    const enabled = p?.enabled === true && (p.expiresAt === undefined || p.expiresAt > Date.now() / 1000);
    return enabled ? { taskArn: task.taskArn, protectionEnabled: true, expirationDate: p!.expiresAt } : { taskArn: task.taskArn, protectionEnabled: false };
  }

  function protectionTargets(body: Record<string, unknown>, max: number, required: boolean) {
    if (body.cluster === undefined) throw new ApiError(400, 'InvalidParameterException', 'cluster is required');
    const cluster = resolveCluster(body.cluster);
    if (!required && body.tasks === undefined) {
      return { found: [...tasks.values()].filter((t) => t.cluster === cluster && t.service !== undefined), failures: [] };
    }
    const refs = stringList(body.tasks, 'tasks');
    if (refs.length < 1 || refs.length > max) throw new ApiError(400, 'InvalidParameterException', `tasks must have between 1 and ${max} elements`);
    const found: StoredTask[] = [];
    const failures: unknown[] = [];
    for (const ref of refs) {
      const task = findTask(ref, cluster);
      if (!task) failures.push({ arn: ref, reason: 'MISSING' });
      else if (task.lastStatus === 'STOPPED' || task.service === undefined) failures.push({ arn: task.taskArn, reason: 'TASK_NOT_VALID' });
      else found.push(task);
    }
    return { found, failures };
  }

  function updateTaskProtection(body: Record<string, unknown>): unknown {
    if (typeof body.protectionEnabled !== 'boolean') throw new ApiError(400, 'InvalidParameterException', 'protectionEnabled is required');
    const minutes = body.expiresInMinutes ?? 120;
    if (typeof minutes !== 'number' || !Number.isInteger(minutes) || minutes < 1 || minutes > 2880) {
      throw new ApiError(400, 'InvalidParameterException', 'expiresInMinutes must be between 1 and 2880');
    }
    const { found, failures } = protectionTargets(body, UPDATE_PROTECTION_MAX, true);
    for (const task of found) {
      task.protection = body.protectionEnabled ? { enabled: true, expiresAt: Math.floor(Date.now() / 1000) + minutes * 60 } : { enabled: false };
    }
    return { protectedTasks: found.map(protectionOf), failures };
  }

  function getTaskProtection(body: Record<string, unknown>): unknown {
    const { found, failures } = protectionTargets(body, DESCRIBE_TASKS_MAX, false);
    return { protectedTasks: found.map(protectionOf), failures };
  }

  // ---- EC2 operation ----

  function describeNetworkInterfaces(form: URLSearchParams): string {
    const ids = indexedValues(form, 'NetworkInterfaceId');
    const filterIds: string[] = [];
    for (let i = 1; form.has(`Filter.${i}.Name`); i++) {
      const name = form.get(`Filter.${i}.Name`);
      if (name !== 'network-interface-id') throw new ApiError(400, 'InvalidParameterValue', `The filter '${name}' is invalid`);
      filterIds.push(...indexedValues(form, `Filter.${i}.Value`));
    }
    const live = [...tasks.values()].filter((t) => t.address !== null && t.lastStatus !== 'STOPPED');
    for (const id of ids) {
      if (!live.some((t) => t.eniId === id)) {
        throw new ApiError(400, 'InvalidNetworkInterfaceID.NotFound', `The networkInterface ID '${id}' does not exist`);
      }
    }
    const selected = live.filter((t) => (ids.length === 0 || ids.includes(t.eniId)) && (filterIds.length === 0 || filterIds.includes(t.eniId)));
    const items = selected.map((t) => {
      const association = t.publicIp === undefined ? '' : `<association><publicIp>${xml(t.publicIp)}</publicIp><ipOwnerId>amazon</ipOwnerId></association>`;
      const ip = t.address!.includes(':') ? `<ipv6Address>${xml(t.address!)}</ipv6Address>` : `<privateIpAddress>${xml(t.address!)}</privateIpAddress>`;
      return `<item><networkInterfaceId>${xml(t.eniId)}</networkInterfaceId><availabilityZone>${xml(t.az)}</availabilityZone><status>in-use</status><interfaceType>interface</interfaceType>${ip}${association}</item>`;
    });
    return `<?xml version="1.0" encoding="UTF-8"?>\n<DescribeNetworkInterfacesResponse xmlns="${EC2_NAMESPACE}"><requestId>${randomUUID()}</requestId><networkInterfaceSet>${items.join('')}</networkInterfaceSet></DescribeNetworkInterfacesResponse>`;
  }

  // ---- faults ----

  /** The first matching fault, consumed by one use. */
  function takeFault(action: string, page: number | undefined): FaultSpec | undefined {
    const fault = faults.find((f) => (f.action === undefined || f.action === '*' || f.action === action) && (f.page === undefined || f.page === page));
    if (!fault) return undefined;
    fault.remaining -= 1;
    if (fault.remaining <= 0) faults = faults.filter((f) => f !== fault);
    return fault;
  }

  // ---- HTTP ----

  async function handleApi(req: IncomingMessage, res: ServerResponse, body: string): Promise<void> {
    const target = req.headers['x-amz-target'];
    const isEcs = typeof target === 'string';
    let action: string;
    let params: Record<string, unknown>;
    let form: URLSearchParams | undefined;
    if (isEcs) {
      action = target.startsWith(ECS_TARGET_PREFIX) ? target.slice(ECS_TARGET_PREFIX.length) : target;
      try {
        params = body === '' ? {} : (JSON.parse(body) as Record<string, unknown>);
      } catch {
        return sendEcsError(res, new ApiError(400, 'SerializationException', 'Request body is not valid JSON'));
      }
    } else {
      form = new URLSearchParams(body);
      action = form.get('Action') ?? '';
      params = Object.fromEntries(form);
    }
    const page = action === 'ListTasks' ? pageOf(params.nextToken) : undefined;
    const intercepted = await intercept(req, action, params, page);
    if (intercepted === null) return;
    const { fault } = intercepted;
    if (fault === 'malformed') {
      res.writeHead(200, { 'content-type': isEcs ? 'application/x-amz-json-1.1' : 'text/xml' });
      res.end(isEcs ? '{"taskArns": [' : '<DescribeNetworkInterfacesResponse><networkInterfaceSet><item>');
      return;
    }
    try {
      if (fault !== undefined) {
        const [status, code, message] = faultError(fault)[isEcs ? 'ecs' : 'ec2'];
        throw new ApiError(status, code, message);
      }
      if (isEcs) {
        const result = runEcs(action, params, page ?? 1);
        res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': randomUUID() });
        res.end(JSON.stringify(result));
      } else {
        if (action !== 'DescribeNetworkInterfaces') throw new ApiError(400, 'InvalidAction', `The action ${action} is not valid for this web service.`);
        const xmlBody = describeNetworkInterfaces(form!);
        res.writeHead(200, { 'content-type': 'text/xml;charset=UTF-8' });
        res.end(xmlBody);
      }
    } catch (err) {
      const apiError = err instanceof ApiError ? err : new ApiError(500, isEcs ? 'ServerException' : 'InternalError', String(err));
      if (isEcs) sendEcsError(res, apiError);
      else sendEc2Error(res, apiError);
    }
  }

  /** Route 53 (REST-XML): routed and decoded by route53.ts; logged and faulted like the other services. */
  async function handleRoute53(req: IncomingMessage, res: ServerResponse, body: string): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://emulator');
    const method = req.method ?? 'GET';
    const send = (answer: { status: number; contentType: string; body: string; headers?: Record<string, string> }) => {
      res.writeHead(answer.status, { 'content-type': answer.contentType, 'x-amzn-requestid': randomUUID(), ...answer.headers });
      res.end(answer.body);
    };
    let request: Route53Request;
    try {
      request = route53.parseRequest(method, url.pathname, url.searchParams, body);
    } catch (err) {
      callLog.push({ action: `${method} ${url.pathname}`, params: Object.fromEntries(url.searchParams), at: Date.now() });
      return send(route53Error(err));
    }
    const intercepted = await intercept(req, request.action, request.params);
    if (intercepted === null) return;
    const { fault } = intercepted;
    if (fault === 'malformed') {
      res.writeHead(200, { 'content-type': 'text/xml' });
      res.end(`<${request.action}Response><ResourceRecordSets><ResourceRecordSet>`);
      return;
    }
    if (fault !== undefined) {
      const [status, code, message] = faultError(fault).route53;
      return send(route53Error(new Route53Error(status, code, message)));
    }
    try {
      send(route53.execute(request));
    } catch (err) {
      send(route53Error(err));
    }
  }

  /**
   * Call log and the faults every service shares: logs the call, takes a matching fault, sleeps for
   * 'slow' (cancelled on close), drops the connection for 'drop-connection'. Returns the fault left to
   * answer (an error kind or 'malformed'), or `null` when the request is finished.
   */
  async function intercept(req: IncomingMessage, action: string, params: Record<string, unknown>, page?: number): Promise<{ fault?: Exclude<FaultKind, 'slow' | 'drop-connection'> } | null> {
    const faultSpec = takeFault(action, page);
    const fault = faultSpec?.kind;
    const record: CallRecord = { action, params, at: Date.now() };
    if (page !== undefined) record.page = page;
    if (fault !== undefined) record.fault = fault;
    callLog.push(record);
    logger.debug({ action, page, fault }, 'emulator call');
    if (fault === 'slow') {
      const waited = await sleep(faultSpec?.delayMs ?? 2000, true, { signal: closing.signal }).catch(() => false);
      return waited ? {} : null;
    }
    if (fault === 'drop-connection') {
      req.socket.destroy();
      return null;
    }
    return fault === undefined ? {} : { fault };
  }

  /** SQS (JSON 1.0): decoded here, executed by sqs.ts; long polls end when the client leaves or the emulator closes. */
  async function handleSqs(req: IncomingMessage, res: ServerResponse, body: string, action: string): Promise<void> {
    const send = (status: number, headers: Record<string, string>, text: string) => {
      if (res.destroyed) return;
      res.writeHead(status, headers);
      res.end(text);
    };
    const sendError = (err: SqsError) => {
      const answer = sqsErrorResponse(err);
      send(answer.status, answer.headers, answer.body);
    };
    let params: Record<string, unknown>;
    try {
      const parsed: unknown = body === '' ? {} : JSON.parse(body);
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
      params = parsed as Record<string, unknown>;
    } catch {
      callLog.push({ action, params: {}, at: Date.now() });
      return sendError(new SqsError(400, 'SerializationException', 'Request body is not valid JSON', 'SerializationException', 'com.amazon.coral.service'));
    }
    const step = await intercept(req, action, params);
    if (step === null) return;
    if (step.fault === 'malformed') return send(200, { 'content-type': SQS_CONTENT_TYPE }, '{"Messages": [{"MessageId": ');
    if (step.fault !== undefined) return sendError(sqsFaultError(step.fault));
    const gone = new AbortController();
    const onClose = () => gone.abort();
    res.once('close', onClose);
    const signal = AbortSignal.any([closing.signal, gone.signal]);
    try {
      const host = req.headers.host ?? new URL(api.url).host;
      const result = await sqs.execute(action, params, { host, signal });
      send(200, { 'content-type': SQS_CONTENT_TYPE, 'x-amzn-requestid': randomUUID() }, JSON.stringify(result));
    } catch (err) {
      if (err instanceof SqsError) return sendError(err);
      logger.error({ err, action }, 'emulator SQS operation failed');
      sendError(new SqsError(500, 'InternalFailure', String(err), 'InternalFailure', 'com.amazon.coral.service'));
    } finally {
      res.off('close', onClose);
    }
  }

  /** SNS (query protocol): executed by sns.ts. */
  async function handleSns(req: IncomingMessage, res: ServerResponse, form: URLSearchParams, action: string): Promise<void> {
    const send = (answer: { status: number; contentType: string; body: string }) => {
      res.writeHead(answer.status, { 'content-type': answer.contentType, 'x-amzn-requestid': randomUUID() });
      res.end(answer.body);
    };
    const step = await intercept(req, action, Object.fromEntries(form));
    if (step === null) return;
    if (step.fault === 'malformed') return send({ status: 200, contentType: 'text/xml', body: `<${action}Response><${action}Result><TopicArn>` });
    if (step.fault !== undefined) return send(snsErrorResponse(snsFaultError(step.fault)));
    try {
      send(sns.execute(action, form));
    } catch (err) {
      if (err instanceof SnsError) return send(snsErrorResponse(err));
      logger.error({ err, action }, 'emulator SNS operation failed');
      send(snsErrorResponse(new SnsError(500, 'InternalError', String(err))));
    }
  }

  /**
   * CloudWatch (JSON 1.0): size-checked as received (1 MiB, gzipped or not), gunzipped when the SDK
   * compressed it, decoded here, executed by cloudwatch.ts.
   */
  async function handleCloudWatch(req: IncomingMessage, res: ServerResponse, raw: Buffer, action: string): Promise<void> {
    const send = (answer: { status: number; headers: Record<string, string>; body: string }) => {
      if (res.destroyed) return;
      res.writeHead(answer.status, answer.headers);
      res.end(answer.body);
    };
    const sendError = (err: CloudWatchError) => send(cloudWatchErrorResponse(err));
    if (action === 'PutMetricData' && raw.length > PUT_METRIC_DATA_MAX_BYTES) {
      callLog.push({ action, params: {}, at: Date.now() });
      return sendError(requestEntityTooLarge(raw.length));
    }
    let params: Record<string, unknown>;
    try {
      const encoding = String(req.headers['content-encoding'] ?? '').toLowerCase();
      const text = (encoding === 'gzip' ? gunzipSync(raw, { maxOutputLength: MAX_BODY_BYTES }) : raw).toString('utf8');
      const parsed: unknown = text === '' ? {} : JSON.parse(text);
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
      params = parsed as Record<string, unknown>;
    } catch {
      callLog.push({ action, params: {}, at: Date.now() });
      return sendError(new CloudWatchError(400, 'SerializationException', 'Request body is not valid (gzipped) JSON', 'SerializationException', 'com.amazon.coral.service'));
    }
    const step = await intercept(req, action, params);
    if (step === null) return;
    if (step.fault === 'malformed') return send({ status: 200, headers: { 'content-type': CLOUDWATCH_CONTENT_TYPE }, body: '{"MetricDataResults": [{"Id": ' });
    if (step.fault !== undefined) return sendError(cloudWatchFaultError(step.fault, action));
    try {
      const result = cloudwatch.execute(action, params);
      send({ status: 200, headers: { 'content-type': CLOUDWATCH_CONTENT_TYPE, 'x-amzn-requestid': randomUUID() }, body: JSON.stringify(result) });
    } catch (err) {
      if (err instanceof CloudWatchError) return sendError(err);
      logger.error({ err, action }, 'emulator CloudWatch operation failed');
      sendError(new CloudWatchError(500, 'InternalServiceFault', String(err), 'InternalServiceError'));
    }
  }

  function setEventTargets(arns: string[]): void {
    for (const arn of arns) {
      if (typeof arn !== 'string' || !/^arn:aws[a-z-]*:(sns|sqs):[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$/.test(arn)) {
        throw new Error(`event target ${JSON.stringify(arn)} is not an SNS topic or SQS queue ARN`);
      }
    }
    eventTargets = [...arns];
  }

  function runEcs(action: string, params: Record<string, unknown>, page: number): unknown {
    switch (action) {
      case 'ListTasks':
        return listTasks(params, page);
      case 'DescribeTasks':
        return describeTasks(params);
      case 'UpdateTaskProtection':
        return updateTaskProtection(params);
      case 'GetTaskProtection':
        return getTaskProtection(params);
      default:
        throw new ApiError(400, 'UnknownOperationException', `Unknown operation ${action}`);
    }
  }

  /**
   * Admin API: GET /_emulator/tasks, POST /_emulator/tasks {TaskSpec} → {taskArn},
   * DELETE /_emulator/tasks/<id or ARN> (the task stops), POST /_emulator/faults {FaultSpec}
   * (times may be "Infinity"), DELETE /_emulator/faults, GET /_emulator/calls, POST /_emulator/reset,
   * GET /_emulator/route53 (hosted zones with their record sets, live health checks),
   * GET /_emulator/sqs (queues with message counts), GET /_emulator/sns (topics, subscriptions),
   * PUT /_emulator/event-targets {"targets": [ARN, …]}, GET /_emulator/event-targets,
   * GET /_emulator/events (task state change events emitted), GET /_emulator/cloudwatch
   * (?namespace=&metricName= optional: the CloudWatch datapoints stored, in arrival order).
   */
  function handleAdmin(req: IncomingMessage, res: ServerResponse, path: string, body: string): void {
    const send = (status: number, value: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(value) + '\n');
    };
    const json = (): Record<string, unknown> => {
      const parsed: unknown = body === '' ? {} : JSON.parse(body);
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('body must be a JSON object');
      return parsed as Record<string, unknown>;
    };
    try {
      const route = `${req.method} ${path.replace(/^\/_emulator\/tasks\/.+$/, '/_emulator/tasks/:id')}`;
      switch (route) {
        case 'GET /_emulator/tasks':
          return send(200, { tasks: api.tasks() });
        case 'POST /_emulator/tasks':
          return send(201, { taskArn: addTask(parseTaskSpec(json())) });
        case 'DELETE /_emulator/tasks/:id': {
          const ref = decodeURIComponent(path.slice('/_emulator/tasks/'.length));
          const task = tasks.get(ref) ?? [...tasks.values()].find((t) => t.taskId === ref);
          if (!task) return send(404, { error: `no task ${ref}` });
          removeTask(task.taskArn);
          return send(200, { taskArn: task.taskArn });
        }
        case 'POST /_emulator/faults':
          api.injectFault(parseFaultSpec(json()));
          return send(201, { faults: faults.length });
        case 'DELETE /_emulator/faults':
          faults = [];
          return send(200, { faults: 0 });
        case 'GET /_emulator/calls':
          return send(200, { calls: callLog });
        case 'GET /_emulator/route53':
          return send(200, { hostedZones: route53.hostedZones(), healthChecks: route53.healthChecks() });
        case 'GET /_emulator/sqs':
          return send(200, { queues: sqs.summaries(req.headers.host ?? new URL(api.url).host) });
        case 'GET /_emulator/sns':
          return send(200, { topics: sns.summaries() });
        case 'GET /_emulator/cloudwatch': {
          const query = new URL(req.url ?? '/', 'http://emulator').searchParams;
          const filter: { namespace?: string; metricName?: string } = {};
          if (query.has('namespace')) filter.namespace = query.get('namespace')!;
          if (query.has('metricName')) filter.metricName = query.get('metricName')!;
          return send(200, { metricData: cloudwatch.metricData(filter) });
        }
        case 'PUT /_emulator/event-targets': {
          const targets = json().targets;
          if (!Array.isArray(targets)) throw new Error('targets must be a list of SNS topic or SQS queue ARNs');
          setEventTargets(targets as string[]);
          return send(200, { targets: eventTargets });
        }
        case 'GET /_emulator/event-targets':
          return send(200, { targets: eventTargets });
        case 'GET /_emulator/events':
          return send(200, { events: emitted });
        case 'POST /_emulator/reset':
          api.reset();
          return send(200, {});
        default:
          return send(404, { error: `no route ${req.method} ${path}` });
      }
    } catch (err) {
      return send(400, { error: err instanceof Error ? err.message : String(err) });
    }
  }

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) req.destroy();
      else chunks.push(chunk);
    });
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const path = (req.url ?? '/').split('?')[0]!;
      const cwTarget = req.headers['x-amz-target'];
      if (req.method === 'POST' && typeof cwTarget === 'string' && cwTarget.startsWith(CLOUDWATCH_TARGET_PREFIX) && !path.startsWith('/_emulator/')) {
        // Before decoding: PutMetricData bodies may be gzipped.
        handleCloudWatch(req, res, raw, cwTarget.slice(CLOUDWATCH_TARGET_PREFIX.length)).catch((err: unknown) => {
          logger.error({ err }, 'emulator request failed');
          if (!res.headersSent) res.writeHead(500).end();
        });
        return;
      }
      const body = raw.toString('utf8');
      if (path.startsWith('/_emulator/')) return handleAdmin(req, res, path, body);
      if (path.startsWith(ROUTE53_PATH_PREFIX)) {
        handleRoute53(req, res, body).catch((err: unknown) => {
          logger.error({ err }, 'emulator request failed');
          if (!res.headersSent) res.writeHead(500).end();
        });
        return;
      }
      if (req.method !== 'POST') {
        res.writeHead(404).end();
        return;
      }
      const fail = (err: unknown) => {
        logger.error({ err }, 'emulator request failed');
        if (!res.headersSent) res.writeHead(500).end();
      };
      const target = req.headers['x-amz-target'];
      if (typeof target === 'string' && target.startsWith(SQS_TARGET_PREFIX)) {
        handleSqs(req, res, body, target.slice(SQS_TARGET_PREFIX.length)).catch(fail);
        return;
      }
      if (target === undefined) {
        // EC2 and SNS share the query protocol's form body: the Action names the service.
        const form = new URLSearchParams(body);
        const action = form.get('Action') ?? '';
        if ((SNS_ACTIONS as readonly string[]).includes(action)) {
          handleSns(req, res, form, action).catch(fail);
          return;
        }
      }
      handleApi(req, res, body).catch((err: unknown) => {
        logger.error({ err }, 'emulator request failed');
        if (!res.headersSent) res.writeHead(500).end();
      });
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  const api: EcsEmulator = {
    url: `http://${host}:${address.port}`,
    region,
    accountId,
    // Idempotent: tests may close early and again in an after() hook.
    close: () => {
      if (closing.signal.aborted) return closed;
      closing.abort();
      closed = new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      });
      return closed;
    },
    addTask,
    setTask,
    removeTask,
    forgetTask: (taskArn) => {
      tasks.delete(mustGet(taskArn).taskArn);
    },
    addCluster: (name) => {
      extraClusters.add(name);
    },
    tasks: () => [...tasks.values()].map(summary),
    reset: () => {
      tasks = new Map();
      extraClusters = new Set();
      faults = [];
      callLog = [];
      nextAddress = 0;
      route53.reset();
      sqs.reset();
      sns.reset();
      cloudwatch.reset();
      eventTargets = [];
      emitted = [];
    },
    injectFault: (fault) => {
      const times = fault.times ?? 1;
      if (!(times >= 1)) throw new Error('fault times must be >= 1');
      faults.push({ ...fault, remaining: times });
    },
    clearFaults: () => {
      faults = [];
    },
    calls: (action) => (action === undefined ? [...callLog] : callLog.filter((c) => c.action === action)),
    createHostedZone: (name) => route53.createHostedZone(name),
    recordSets: (zoneId) => route53.recordSets(zoneId),
    healthChecks: () => route53.healthChecks(),
    setEventTargets,
    events: () => structuredClone(emitted),
    createQueue: (name, attributes = {}) => {
      sqs.createQueue(name, attributes);
      return { queueUrl: sqs.queueUrl(new URL(api.url).host, name), queueArn: sqs.queueArn(name) };
    },
    createTopic: (name) => sns.createTopic(name),
    subscribeQueue: (topicArn, queueArn, subscribeOpts = {}) => sns.subscribe(topicArn, queueArn, subscribeOpts.raw === true),
    queues: () => sqs.summaries(new URL(api.url).host),
    topics: () => sns.summaries(),
    metricData: (filter) => cloudwatch.metricData(filter),
  };
  if (opts.eventTargets !== undefined) setEventTargets(opts.eventTargets);
  return api;
}

// ---- helpers ----

function sendEcsError(res: ServerResponse, err: ApiError): void {
  res.writeHead(err.status, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': randomUUID() });
  res.end(JSON.stringify({ __type: err.code, message: err.message }));
}

function sendEc2Error(res: ServerResponse, err: ApiError): void {
  res.writeHead(err.status, { 'content-type': 'text/xml;charset=UTF-8' });
  res.end(
    `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${xml(err.code)}</Code><Message>${xml(err.message)}</Message></Error></Errors><RequestID>${randomUUID()}</RequestID></Response>`,
  );
}

function xml(value: string): string {
  return value.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A stable attachment id per task, shaped like a UUID. */
function attachmentIdFor(taskId: string): string {
  const hex = (taskId.replace(/[^0-9a-f]/g, '') + '0'.repeat(32)).slice(0, 32);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** `Name.1=a&Name.2=b` → ['a', 'b'] (EC2 query lists). */
function indexedValues(form: URLSearchParams, prefix: string): string[] {
  const values: string[] = [];
  for (let i = 1; form.has(`${prefix}.${i}`); i++) values.push(form.get(`${prefix}.${i}`)!);
  return values;
}

function stringList(value: unknown, name: string): string[] {
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
    throw new ApiError(400, 'InvalidParameterException', `${name} must be a list of strings`);
  }
  return value as string[];
}

/** nextToken is opaque to clients; it carries where the next page starts and its number. */
function encodeToken(token: { offset: number; page: number }): string {
  return Buffer.from(JSON.stringify(token)).toString('base64url');
}

function decodeToken(value: unknown): { offset: number; page: number } {
  try {
    const token = JSON.parse(Buffer.from(String(value), 'base64url').toString('utf8')) as { offset: unknown; page: unknown };
    if (Number.isInteger(token.offset) && Number.isInteger(token.page)) return token as { offset: number; page: number };
  } catch {
    // fall through
  }
  throw new ApiError(400, 'InvalidParameterException', 'Invalid nextToken');
}

function pageOf(nextToken: unknown): number {
  if (nextToken === undefined) return 1;
  try {
    return decodeToken(nextToken).page;
  } catch {
    return 0;
  }
}

const TASK_SPEC_KEYS = ['cluster', 'service', 'address', 'publicIp', 'az', 'lastStatus', 'desiredStatus', 'healthStatus', 'taskId'] as const;

/** Admin input: known keys with string values (address may be null: no address yet). */
export function parseTaskSpec(input: Record<string, unknown>): TaskSpec {
  const spec: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(input)) {
    if (key === 'raw') {
      if (typeof value !== 'object' || value === null) throw new Error('raw must be an object');
      spec.raw = value;
    } else if (!(TASK_SPEC_KEYS as readonly string[]).includes(key)) {
      throw new Error(`unknown task field "${key}" (allowed: ${TASK_SPEC_KEYS.join(', ')}, raw)`);
    } else if (typeof value !== 'string' && !(key === 'address' && value === null)) {
      throw new Error(`task field "${key}" must be a string`);
    } else {
      spec[key] = value;
    }
  }
  if (typeof spec.taskId === 'string' && !/^[A-Za-z0-9-]{1,64}$/.test(spec.taskId)) throw new Error('taskId must be 1-64 letters, digits or "-"');
  return spec as TaskSpec;
}

const FAULT_KINDS: readonly FaultKind[] = ['throttle', 'server-error', 'slow', 'access-denied', 'cluster-not-found', 'expired-token', 'malformed', 'drop-connection', 'queue-gone'];
const FAULT_ACTIONS: readonly string[] = [
  'ListTasks',
  'DescribeTasks',
  'DescribeNetworkInterfaces',
  'UpdateTaskProtection',
  'GetTaskProtection',
  ...ROUTE53_ACTIONS,
  ...SQS_ACTIONS,
  ...SNS_ACTIONS,
  ...CLOUDWATCH_ACTIONS,
  '*',
];

/** Task fields that are epoch seconds in DescribeTasks and ISO strings in events. */
const TASK_TIMESTAMPS = ['createdAt', 'updatedAt', 'connectivityAt', 'pullStartedAt', 'pullStoppedAt', 'startedAt', 'stoppingAt', 'stoppedAt', 'executionStoppedAt'];

export function parseFaultSpec(input: Record<string, unknown>): FaultSpec {
  const kind = input.kind;
  if (typeof kind !== 'string' || !(FAULT_KINDS as readonly string[]).includes(kind)) throw new Error(`fault kind must be one of ${FAULT_KINDS.join(', ')}`);
  const fault: FaultSpec = { kind: kind as FaultKind };
  if (input.action !== undefined) {
    if (typeof input.action !== 'string' || !FAULT_ACTIONS.includes(input.action)) throw new Error(`fault action must be one of ${FAULT_ACTIONS.join(', ')}`);
    fault.action = input.action as ApiAction | '*';
  }
  if (input.times !== undefined) {
    const times = input.times === 'Infinity' ? Infinity : input.times;
    if (typeof times !== 'number' || !(times >= 1)) throw new Error('fault times must be a number >= 1 or "Infinity"');
    fault.times = times;
  }
  for (const key of ['delayMs', 'page'] as const) {
    const value = input[key];
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < (key === 'page' ? 1 : 0)) throw new Error(`fault ${key} must be a non-negative integer`);
    fault[key] = value;
  }
  return fault;
}
