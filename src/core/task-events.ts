/**
 * ECS task state change events → the Server fleet, pure. Events make a change reach HAProxy in about a
 * second; the full listing (a few minutes apart) stays the truth. Events come late, twice and out of
 * order, so each is weighed against what is known:
 * - a task's lifecycle only moves forward: once an event (or a listing) says it is stopping, nothing
 *   later brings it back;
 * - `detail.version` orders the events of one task: one not newer than the last applied is a duplicate
 *   or stale;
 * - an event older than the last full listing, about a task that listing did not route to, cannot be
 *   judged from the event alone: the task is described afresh ('verify').
 */
import type { Task } from '@aws-sdk/client-ecs';
import { mapTask, NO_ADDRESS_YET, type AddressMode } from '../discovery/ecs-map.js';
import type { Server } from '../model.js';

/** An SQS message body is at most 256 KiB; anything near that is not an ECS event. */
export const MAX_EVENT_BYTES = 256 * 1024;

/** One "ECS Task State Change" event, as much of it as the fleet needs. */
export interface TaskEvent {
  taskArn: string;
  clusterArn: string;
  group?: string;
  version: number;
  /** When the change happened (the event's `time`), ms since the epoch. */
  at: number;
  /** The task as the event describes it (the ECS Task shape). */
  task: Task;
}

export type ParsedMessage = { kind: 'event'; event: TaskEvent } | { kind: 'invalid'; reason: string };

const TASK_ARN = /^arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:task\/[A-Za-z0-9/_-]{1,255}$/;
const CLUSTER_ARN = /^arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:cluster\/[A-Za-z0-9_-]{1,255}$/;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * An SQS message body → an event: EventBridge's JSON, raw or inside SNS's envelope (a subscription
 * without raw delivery). Anything else is 'invalid' with the reason (logged; the message is deleted).
 */
export function parseTaskEventMessage(body: string): ParsedMessage {
  if (body.length > MAX_EVENT_BYTES) return { kind: 'invalid', reason: `message of ${body.length} characters` };
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return { kind: 'invalid', reason: 'not JSON' };
  }
  if (isObject(value) && value.Type === 'Notification' && typeof value.Message === 'string') {
    try {
      value = JSON.parse(value.Message);
    } catch {
      return { kind: 'invalid', reason: 'an SNS notification whose Message is not JSON' };
    }
  }
  if (!isObject(value)) return { kind: 'invalid', reason: 'not a JSON object' };
  if (value.source !== 'aws.ecs' || value['detail-type'] !== 'ECS Task State Change') {
    return { kind: 'invalid', reason: `not an ECS Task State Change event (source ${JSON.stringify(value.source)}, detail-type ${JSON.stringify(value['detail-type'])})`.slice(0, 200) };
  }
  const detail = value.detail;
  if (!isObject(detail)) return { kind: 'invalid', reason: 'no detail object' };
  const { taskArn, clusterArn, group, version } = detail;
  if (typeof taskArn !== 'string' || !TASK_ARN.test(taskArn)) return { kind: 'invalid', reason: 'detail.taskArn is not a task ARN' };
  if (typeof clusterArn !== 'string' || !CLUSTER_ARN.test(clusterArn)) return { kind: 'invalid', reason: 'detail.clusterArn is not a cluster ARN' };
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 0) return { kind: 'invalid', reason: 'detail.version is not a whole number' };
  if (group !== undefined && typeof group !== 'string') return { kind: 'invalid', reason: 'detail.group is not a string' };
  const at = typeof value.time === 'string' ? Date.parse(value.time) : NaN;
  if (!Number.isFinite(at)) return { kind: 'invalid', reason: 'no valid event time' };
  const event: TaskEvent = { taskArn, clusterArn, version, at, task: detail as Task };
  if (group !== undefined) event.group = group;
  return { kind: 'event', event };
}

/** What a Proxy routes: its cluster and (ECS_SERVICE) service, how it reaches the Servers. */
export interface FleetScope {
  cluster: string;
  service?: string;
  serverPort: number;
  addressMode: AddressMode;
  requireHealthy: boolean;
}

/** The Server fleet as events and full listings have shaped it. */
export interface EventFleet {
  servers: ReadonlyMap<string, Server>;
  /** The last version applied per task (tasks stopped included). */
  versions: ReadonlyMap<string, number>;
  /** Tasks known to be stopping or stopped, and since when (pruned after `forgetAfterMs`). */
  stopped: ReadonlyMap<string, number>;
  /** Servers events added after the last listing began (a listing that missed them keeps them). */
  addedByEvents: ReadonlyMap<string, number>;
  /** When the last full listing began; undefined before the first. */
  listedAt?: number;
}

export const EMPTY_EVENT_FLEET: EventFleet = { servers: new Map(), versions: new Map(), stopped: new Map(), addedByEvents: new Map() };

export type EventEffect =
  /** Another cluster or service: not this Proxy's concern. */
  | { kind: 'foreign' }
  | { kind: 'duplicate' }
  /** An event about a task already known to be stopping or stopped, or older than what was applied. */
  | { kind: 'stale' }
  /** Older than the last listing, which did not route to it: describe the task to know. */
  | { kind: 'verify' }
  /** Public addresses: the event names the ENI; its public IP must be looked up first. */
  | { kind: 'needs-public-ip'; eniId: string }
  | { kind: 'added'; server: Server }
  | { kind: 'updated'; server: Server }
  | { kind: 'removed'; reason: string; server: Server }
  /** Applied (version recorded), the fleet unchanged: e.g. a task still PENDING. */
  | { kind: 'unchanged'; reason: string }
  /**
   * SERVER_REQUIRE_HEALTHY and the task RUNNING without HEALTHY yet: ECS does not reliably send an
   * event when the health status changes, so the adapter describes such a task until it is HEALTHY.
   */
  | { kind: 'awaiting-health'; reason: string };

const STOPPING_STATUSES = new Set(['DEACTIVATING', 'STOPPING', 'DEPROVISIONING', 'STOPPED', 'DELETED']);

function clusterName(arnOrName: string): string {
  return arnOrName.includes(':cluster/') ? arnOrName.slice(arnOrName.indexOf(':cluster/') + ':cluster/'.length) : arnOrName;
}

function isStopping(task: Task): boolean {
  return task.desiredStatus === 'STOPPED' || STOPPING_STATUSES.has(task.lastStatus ?? '');
}

function sameServer(a: Server, b: Server): boolean {
  return a.name === b.name && a.address === b.address && a.port === b.port && a.zone === b.zone;
}

/**
 * One event applied to the fleet. `publicIpByEni` carries what the adapter looked up after a
 * 'needs-public-ip'; `described` marks an event built from a fresh DescribeTasks (after 'verify').
 */
export function applyTaskEvent(
  fleet: EventFleet,
  event: TaskEvent,
  scope: FleetScope,
  opts: { publicIpByEni?: ReadonlyMap<string, string>; described?: boolean } = {},
): { fleet: EventFleet; effect: EventEffect } {
  if (clusterName(event.clusterArn) !== clusterName(scope.cluster)) return { fleet, effect: { kind: 'foreign' } };
  if (scope.service !== undefined && event.group !== `service:${scope.service}`) return { fleet, effect: { kind: 'foreign' } };
  const { taskArn } = event;
  const known = fleet.versions.get(taskArn);
  if (known !== undefined && event.version === known && !opts.described) return { fleet, effect: { kind: 'duplicate' } };
  if (known !== undefined && event.version < known) return { fleet, effect: { kind: 'stale' } };
  if (fleet.stopped.has(taskArn)) return { fleet, effect: { kind: 'stale' } };

  const versions = new Map(fleet.versions).set(taskArn, event.version);
  const current = fleet.servers.get(taskArn);
  if (isStopping(event.task)) {
    const servers = new Map(fleet.servers);
    servers.delete(taskArn);
    const addedByEvents = new Map(fleet.addedByEvents);
    addedByEvents.delete(taskArn);
    const next = { ...fleet, servers, versions, addedByEvents, stopped: new Map(fleet.stopped).set(taskArn, event.at) };
    const reason = `desiredStatus ${event.task.desiredStatus ?? '?'}, lastStatus ${event.task.lastStatus ?? '?'}`;
    return { fleet: next, effect: current ? { kind: 'removed', reason, server: current } : { kind: 'unchanged', reason } };
  }
  // Older than the listing that did not route to it: that listing may have known better (or not yet).
  if (!opts.described && current === undefined && fleet.listedAt !== undefined && event.at < fleet.listedAt) {
    return { fleet, effect: { kind: 'verify' } };
  }
  const mapped = mapTask(event.task, {
    serverPort: scope.serverPort,
    addressMode: scope.addressMode,
    requireHealthy: scope.requireHealthy,
    ...(opts.publicIpByEni && { publicIpByEni: opts.publicIpByEni }),
  });
  if (mapped.kind === 'skip') {
    const eniId = scope.addressMode === 'public' && !opts.publicIpByEni ? eniIdInEvent(event.task) : undefined;
    if (eniId !== undefined && /no public IP/.test(mapped.reason)) return { fleet, effect: { kind: 'needs-public-ip', eniId } };
    // A RUNNING task whose event does not carry its address: its description does.
    if (!opts.described && event.task.lastStatus === 'RUNNING' && (NO_ADDRESS_YET as readonly string[]).includes(mapped.reason)) return { fleet, effect: { kind: 'verify' } };
    const awaitingHealth = scope.requireHealthy && event.task.lastStatus === 'RUNNING' && event.task.healthStatus !== 'HEALTHY' && event.task.healthStatus !== 'UNHEALTHY';
    if (!current) return { fleet: { ...fleet, versions }, effect: { kind: awaitingHealth ? 'awaiting-health' : 'unchanged', reason: mapped.reason } };
    const servers = new Map(fleet.servers);
    servers.delete(taskArn);
    return { fleet: { ...fleet, servers, versions }, effect: { kind: 'removed', reason: mapped.reason, server: current } };
  }
  const server = mapped.server;
  if (current && sameServer(current, server)) return { fleet: { ...fleet, versions }, effect: { kind: 'unchanged', reason: 'already routed' } };
  const next = {
    ...fleet,
    servers: new Map(fleet.servers).set(taskArn, server),
    versions,
    addedByEvents: new Map(fleet.addedByEvents).set(taskArn, event.at),
  };
  return { fleet: next, effect: current ? { kind: 'updated', server } : { kind: 'added', server } };
}

function eniIdInEvent(task: Task): string | undefined {
  for (const a of task.attachments ?? []) {
    if (a.type !== 'ElasticNetworkInterface') continue;
    const id = a.details?.find((d) => d.name === 'networkInterfaceId')?.value;
    if (id) return id;
  }
  return undefined;
}

/**
 * A full listing (begun at `startedAt`) replaces the fleet, except that a task an event stopped stays
 * out, and one an event added after the listing began stays in. Old tombstones and versions go.
 */
export function afterListing(fleet: EventFleet, listed: readonly Server[], startedAt: number, forgetAfterMs: number): EventFleet {
  const keepSince = startedAt - forgetAfterMs;
  const stopped = new Map([...fleet.stopped].filter(([, at]) => at >= keepSince));
  const servers = new Map<string, Server>();
  for (const server of listed) {
    if (server.taskArn !== undefined && !stopped.has(server.taskArn)) servers.set(server.taskArn, server);
  }
  const addedByEvents = new Map<string, number>();
  for (const [taskArn, at] of fleet.addedByEvents) {
    const server = fleet.servers.get(taskArn);
    if (at >= startedAt && server && !servers.has(taskArn)) {
      servers.set(taskArn, server);
      addedByEvents.set(taskArn, at);
    }
  }
  const versions = new Map([...fleet.versions].filter(([taskArn]) => servers.has(taskArn) || stopped.has(taskArn)));
  return { servers, versions, stopped, addedByEvents, listedAt: startedAt };
}

/** The fleet as the Syncer takes it: sorted by name, as a listing gives it. */
export function fleetServers(fleet: EventFleet): Server[] {
  return [...fleet.servers.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
