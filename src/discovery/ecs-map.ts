/**
 * ECS task → Server: pure functions, no I/O. Everything that decides whether a task may receive a
 * stream lives here, so it is tested without AWS.
 */
import type { Attachment, Task } from '@aws-sdk/client-ecs';
import { canonicalAddress, isIpLiteral, serverNameForTask, sortServers, taskIdFromArn, type Server } from '../model.js';
import { intern } from '../intern.js';
import type { DiscoveryResult, SkippedTask } from './types.js';

export type AddressMode = 'private' | 'public';

export interface MapTaskOptions {
  serverPort: number;
  addressMode: AddressMode;
  /** Public mode: ENI id → public IP, from EC2 DescribeNetworkInterfaces. */
  publicIpByEni?: ReadonlyMap<string, string>;
  /** Only HEALTHY tasks (SERVER_REQUIRE_HEALTHY): a container health check that passed means it listens. */
  requireHealthy?: boolean;
}

export type MapTaskResult = { kind: 'server'; server: Server } | { kind: 'skip'; reason: string };

/** Attachment states in which the ENI (and its address) is gone or never came. */
const GONE_ATTACHMENT_STATUSES = new Set(['DETACHING', 'DETACHED', 'DELETED', 'FAILED']);

/** What goes into a log line when a value is unusable: short, and quoted so control characters show. */
function quote(value: string): string {
  return JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}...` : value);
}

function detail(attachment: Attachment, name: string): string | undefined {
  const value = attachment.details?.find((d) => d.name === name)?.value;
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** The task's awsvpc ENI attachment, if it has one that is not gone. */
function eniAttachmentOf(task: Task): Attachment | undefined {
  const enis = (task.attachments ?? []).filter(
    (a) => a.type === 'ElasticNetworkInterface' && !GONE_ATTACHMENT_STATUSES.has(a.status ?? ''),
  );
  return enis.find((a) => a.status === 'ATTACHED') ?? enis[0];
}

/** The ENI id of a task (public mode looks its public IP up in EC2). */
export function eniIdOf(task: Task): string | undefined {
  const attachment = eniAttachmentOf(task);
  return attachment && detail(attachment, 'networkInterfaceId');
}

const ADDRESS_DETAILS = new Set(['networkInterfaceId', 'privateIPv4Address', 'ipv6Address', 'privateIPv6Address']);

/**
 * Only what mapTask reads, so a cache of thousands of tasks does not keep the SDK's full descriptions
 * (containers, overrides, timestamps…) alive, and one copy of each status, zone and name among them.
 * mapTask gives the same answer for both.
 */
export function essentialsOf(task: Task): Task {
  const attachment = eniAttachmentOf(task);
  return {
    taskArn: task.taskArn,
    lastStatus: intern(task.lastStatus),
    desiredStatus: intern(task.desiredStatus),
    healthStatus: intern(task.healthStatus),
    availabilityZone: intern(task.availabilityZone),
    attachments: attachment
      ? [
          {
            type: intern(attachment.type),
            status: intern(attachment.status),
            details: (attachment.details ?? []).filter((d) => ADDRESS_DETAILS.has(d.name ?? '')).map((d) => ({ name: intern(d.name), value: d.value })),
          },
        ]
      : [],
  };
}

/** Distinct ENI ids of the tasks, in first-seen order. */
export function eniIdsOf(tasks: readonly Task[]): string[] {
  const ids = new Set<string>();
  for (const task of tasks) {
    const id = eniIdOf(task);
    if (id !== undefined) ids.add(id);
  }
  return [...ids];
}

/** Skip reasons of a task whose description does not carry its address (yet): describing it again may. */
export const NO_ADDRESS_YET = ['no network interface attached yet', 'no network interface id yet', 'no private address yet'] as const;

/** Part of the skip reason of a RUNNING task that SERVER_REQUIRE_HEALTHY keeps waiting for HEALTHY. */
export const AWAITING_HEALTH = 'SERVER_REQUIRE_HEALTHY waits for HEALTHY';

function statusProblem(task: Task, requireHealthy: boolean): string | undefined {
  if (task.desiredStatus !== 'RUNNING') return `desiredStatus is ${task.desiredStatus ?? 'missing'} (task is stopping or not wanted)`;
  if (task.lastStatus !== 'RUNNING') return `lastStatus is ${task.lastStatus ?? 'missing'} (not RUNNING yet)`;
  if (task.healthStatus === 'UNHEALTHY') return 'healthStatus is UNHEALTHY';
  if (requireHealthy && task.healthStatus !== 'HEALTHY') return `healthStatus is ${task.healthStatus ?? 'missing'} (${AWAITING_HEALTH})`;
  return undefined;
}

/** The address the Proxy would dial, or why there is none (yet). */
function addressOf(task: Task, opts: MapTaskOptions): { address: string } | { problem: string } {
  const attachment = eniAttachmentOf(task);
  if (!attachment) return { problem: NO_ADDRESS_YET[0] };
  if (opts.addressMode === 'public') {
    const eniId = detail(attachment, 'networkInterfaceId');
    if (eniId === undefined) return { problem: NO_ADDRESS_YET[1] };
    const publicIp = opts.publicIpByEni?.get(eniId);
    return publicIp === undefined ? { problem: `no public IP for ${quote(eniId)}` } : { address: publicIp };
  }
  // ECS names the IPv6 detail `ipv6Address`; `privateIPv6Address` is accepted too.
  const address =
    detail(attachment, 'privateIPv4Address') ?? detail(attachment, 'ipv6Address') ?? detail(attachment, 'privateIPv6Address');
  return address === undefined ? { problem: NO_ADDRESS_YET[2] } : { address };
}

/** One ECS task → a Server, or the reason it cannot take a stream now. */
export function mapTask(task: Task, opts: MapTaskOptions): MapTaskResult {
  const taskId = task.taskArn === undefined ? undefined : taskIdFromArn(task.taskArn);
  if (taskId === undefined) return { kind: 'skip', reason: `unusable taskArn ${quote(String(task.taskArn))}` };

  const problem = statusProblem(task, opts.requireHealthy ?? false);
  if (problem !== undefined) return { kind: 'skip', reason: problem };

  const found = addressOf(task, opts);
  if ('problem' in found) return { kind: 'skip', reason: found.problem };
  // The address ends up in a config file: only a plain IP literal may pass.
  if (!isIpLiteral(found.address)) return { kind: 'skip', reason: `invalid address ${quote(found.address)}` };

  const server: Server = { name: serverNameForTask(taskId), address: found.address, port: opts.serverPort, taskArn: task.taskArn! };
  if (task.availabilityZone !== undefined && task.availabilityZone !== '') server.zone = task.availabilityZone;
  return { kind: 'server', server };
}

/** Same address written two ways (IPv6 `::1` vs `0:0::1`) is the same endpoint. */
function endpointKey(server: Server): string {
  return `${canonicalAddress(server.address)}|${server.port}`;
}

/**
 * The final list: sorted by name, one Server per address:port. Two tasks claiming one endpoint
 * (stale data) keep the first by name; the others are reported as skipped.
 */
export function finalizeServers(servers: readonly Server[]): DiscoveryResult {
  const byEndpoint = new Map<string, Server>();
  const names = new Set<string>();
  const skipped: SkippedTask[] = [];
  for (const server of sortServers(servers)) {
    // HAProxy refuses two servers of one name; the same task seen twice is one Server.
    if (names.has(server.name)) {
      skipped.push({ taskArn: server.taskArn ?? server.name, reason: `duplicate server name ${server.name}` });
      continue;
    }
    names.add(server.name);
    const key = endpointKey(server);
    const holder = byEndpoint.get(key);
    if (holder === undefined) byEndpoint.set(key, server);
    else skipped.push({ taskArn: server.taskArn ?? server.name, reason: `duplicate address ${server.address}:${server.port} (also ${holder.name})` });
  }
  return { servers: [...byEndpoint.values()], skipped };
}

/**
 * All tasks → the discovery result (servers sorted and de-duplicated, skips with reasons). `mappedBefore`:
 * Servers of tasks mapped earlier (the adapter keeps those instead of their descriptions), in the same list.
 */
export function mapTasks(tasks: readonly Task[], opts: MapTaskOptions, mappedBefore: readonly Server[] = []): DiscoveryResult {
  const servers: Server[] = [...mappedBefore];
  const skipped: SkippedTask[] = [];
  for (const task of tasks) {
    const result = mapTask(task, opts);
    if (result.kind === 'server') servers.push(result.server);
    else skipped.push({ taskArn: task.taskArn ?? '(no taskArn)', reason: result.reason });
  }
  const final = finalizeServers(servers);
  return { servers: final.servers, skipped: [...skipped, ...final.skipped] };
}
