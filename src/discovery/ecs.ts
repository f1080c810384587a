/**
 * ECS discovery adapter: ListTasks (every page) → DescribeTasks (batches of 100) → in public mode
 * EC2 DescribeNetworkInterfaces → the pure mapping in ecs-map.ts. Any failed call rejects the whole
 * discovery with a DiscoveryError: a partial fleet must never replace the last known-good one.
 * Retries (throttling, 5xx, connection resets) are the SDK's own.
 *
 * Descriptions are cached: a task that already became a Server is not described again while it stays
 * listed, so a steady fleet costs only the ListTasks pages. Every `fullRefreshEvery` discoveries
 * everything is described afresh, to catch a task that turned UNHEALTHY but is still RUNNING (ECS
 * normally stops such a service task, which then leaves the list at once; HAProxy's own health
 * check takes a dead Server out within seconds either way).
 */
import type { EC2Client } from '@aws-sdk/client-ec2';
import { DescribeTasksCommand, ECSClient, ListTasksCommand, type Task } from '@aws-sdk/client-ecs';
import { AWS_CLIENT_OPTIONS, callAws, type AwsCallError } from '../aws/call.js';
import type { Logger } from '../log.js';
import type { Server } from '../model.js';
import { eniIdsOf, essentialsOf, mapTasks, type AddressMode } from './ecs-map.js';
import { DiscoveryError, type Discovery, type DiscoveryResult } from './types.js';

export interface EcsDiscoveryOptions {
  cluster: string;
  service?: string;
  serverPort: number;
  addressMode: AddressMode;
  /** Only tasks ECS reports HEALTHY (SERVER_REQUIRE_HEALTHY). */
  requireHealthy?: boolean;
  /** Default: `new ECSClient({})`, so AWS_REGION, AWS_ENDPOINT_URL_ECS and the credential chain apply. */
  ecs?: ECSClient;
  /** Default: `new EC2Client({})` (AWS_ENDPOINT_URL_EC2 applies), created only in public mode. */
  ec2?: EC2Client;
  /** Only warn and debug are used (the Route 53 registrar passes a console logger). */
  logger: Pick<Logger, 'warn' | 'debug'>;
  /** Upper bound for one API call including the SDK's retries (default 30 s), so a hung call cannot stall the sync loop. */
  callTimeoutMs?: number;
  /** Describe every task afresh once in this many discoveries (default 30: 5 minutes at the default schedule). */
  fullRefreshEvery?: number;
}

const LIST_PAGE_SIZE = 100;
const DESCRIBE_BATCH = 100;
/** EC2 filters take many values; 200 per call keeps requests small. */
const ENI_BATCH = 200;
const DEFAULT_CALL_TIMEOUT_MS = 30_000;
/** Bounds the paging loops: 1,000 pages of 100 is far past any real fleet; a token that never ends is an error. */
const MAX_PAGES = 1000;

function tooManyPages(what: string): DiscoveryError {
  return new DiscoveryError(`${what} kept answering with a nextToken past ${MAX_PAGES} pages`, 'TooManyPages');
}

export function createEcsDiscovery(opts: EcsDiscoveryOptions): Discovery {
  const ecs = opts.ecs ?? new ECSClient(AWS_CLIENT_OPTIONS);
  let ec2 = opts.ec2;
  const timeoutMs = opts.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;

  /** One API call; any failure becomes a DiscoveryError naming the call and the AWS error. */
  const call = <T>(what: string, send: (abortSignal: AbortSignal) => Promise<T>): Promise<T> =>
    callAws(what, timeoutMs, send).catch((e: AwsCallError) => {
      throw new DiscoveryError(e.message, e.code, { cause: e.cause });
    });

  async function listTaskArns(): Promise<string[]> {
    const arns = new Set<string>();
    let nextToken: string | undefined;
    let pages = 0;
    do {
      if (++pages > MAX_PAGES) throw tooManyPages('ecs:ListTasks');
      const page = await call('ecs:ListTasks', (abortSignal) =>
        ecs.send(
          new ListTasksCommand({
            cluster: opts.cluster,
            ...(opts.service !== undefined && { serviceName: opts.service }),
            desiredStatus: 'RUNNING',
            maxResults: LIST_PAGE_SIZE,
            ...(nextToken !== undefined && { nextToken }),
          }),
          { abortSignal },
        ),
      );
      for (const arn of page.taskArns ?? []) arns.add(arn);
      nextToken = page.nextToken;
    } while (nextToken);
    return [...arns];
  }

  async function describeTasks(arns: readonly string[]): Promise<Task[]> {
    const tasks: Task[] = [];
    for (let i = 0; i < arns.length; i += DESCRIBE_BATCH) {
      const batch = arns.slice(i, i + DESCRIBE_BATCH);
      const answer = await call('ecs:DescribeTasks', (abortSignal) =>
        ecs.send(new DescribeTasksCommand({ cluster: opts.cluster, tasks: batch }), { abortSignal }),
      );
      for (const failure of answer.failures ?? []) {
        // MISSING: the task stopped and was forgotten between ListTasks and DescribeTasks; it is simply gone.
        if (failure.reason === 'MISSING') continue;
        throw new DiscoveryError(
          `ecs:DescribeTasks failed for ${failure.arn ?? '?'}: ${failure.reason ?? '?'} ${failure.detail ?? ''}`.trim(),
          `DescribeTasksFailure:${failure.reason ?? 'unknown'}`,
        );
      }
      // Only what the mapping reads: the SDK's whole descriptions of 5,000 tasks would otherwise all be
      // alive until the last batch is in (the first sync's memory peak).
      for (const task of answer.tasks ?? []) tasks.push(essentialsOf(task));
    }
    return tasks;
  }

  /** ENI id → public IP. A filter (not NetworkInterfaceIds) so an ENI deleted meanwhile is just absent, not an error. */
  async function publicIps(eniIds: readonly string[]): Promise<Map<string, string>> {
    // Loaded on first use: the EC2 client costs ~65 MB of memory that private mode never needs.
    const { EC2Client, DescribeNetworkInterfacesCommand } = await import('@aws-sdk/client-ec2');
    ec2 ??= new EC2Client(AWS_CLIENT_OPTIONS);
    const client = ec2;
    const byEni = new Map<string, string>();
    for (let i = 0; i < eniIds.length; i += ENI_BATCH) {
      const batch = eniIds.slice(i, i + ENI_BATCH);
      let nextToken: string | undefined;
      let pages = 0;
      do {
        if (++pages > MAX_PAGES) throw tooManyPages('ec2:DescribeNetworkInterfaces');
        const answer = await call('ec2:DescribeNetworkInterfaces', (abortSignal) =>
          client.send(
            new DescribeNetworkInterfacesCommand({
              Filters: [{ Name: 'network-interface-id', Values: batch }],
              ...(nextToken !== undefined && { NextToken: nextToken }),
            }),
            { abortSignal },
          ),
        );
        for (const eni of answer.NetworkInterfaces ?? []) {
          const ip = eni.Association?.PublicIp;
          if (eni.NetworkInterfaceId !== undefined && ip !== undefined) byEni.set(eni.NetworkInterfaceId, ip);
        }
        nextToken = answer.NextToken;
      } while (nextToken);
    }
    return byEni;
  }

  let warnedSkips = new Map<string, string>();
  /**
   * Tasks that became Servers, by ARN: the Server each one became. Its description is not kept: the
   * mapping gives the same Server until the task is described again (a full refresh), and thousands of
   * descriptions would stay in memory between listings for nothing.
   */
  const known = new Map<string, Server>();
  const fullRefreshEvery = Math.max(1, opts.fullRefreshEvery ?? 30);
  let discoveries = 0;

  return {
    async discover(): Promise<DiscoveryResult> {
      const arns = await listTaskArns();
      const fullRefresh = discoveries++ % fullRefreshEvery === 0;
      const fresh = await describeTasks(fullRefresh ? arns : arns.filter((arn) => !known.has(arn)));
      const publicIpByEni = opts.addressMode === 'public' ? await publicIps(eniIdsOf(fresh)) : undefined;
      const mapOpts = {
        serverPort: opts.serverPort,
        addressMode: opts.addressMode,
        requireHealthy: opts.requireHealthy ?? false,
        ...(publicIpByEni && { publicIpByEni }),
      };

      // The fleet: the fresh descriptions mapped, and the Servers of known tasks still listed.
      const listed = new Set(arns);
      for (const arn of known.keys()) if (!listed.has(arn)) known.delete(arn);
      const freshArns = new Set(fresh.flatMap((t) => (t.taskArn === undefined ? [] : [t.taskArn])));
      const result = mapTasks(fresh, mapOpts, [...known].flatMap(([arn, server]) => (freshArns.has(arn) ? [] : [server])));
      // Only a task that became a Server is known; one still pending or skipped is described again.
      for (const arn of freshArns) known.delete(arn);
      for (const server of result.servers) if (server.taskArn !== undefined && freshArns.has(server.taskArn)) known.set(server.taskArn, server);
      // A task skipped for the same reason every tick is warned about once, not every 10 seconds.
      const skipped = new Map(result.skipped.map((s) => [s.taskArn, s.reason]));
      for (const [taskArn, reason] of skipped) {
        if (warnedSkips.get(taskArn) === reason) opts.logger.debug({ taskArn, reason }, 'ECS task still skipped');
        else opts.logger.warn({ taskArn, reason }, 'ECS task skipped');
      }
      warnedSkips = skipped;
      opts.logger.debug({ cluster: opts.cluster, service: opts.service, tasks: arns.length, described: fresh.length, fullRefresh, servers: result.servers.length }, 'ECS discovery done');
      return result;
    },
  };
}
