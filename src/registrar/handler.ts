/**
 * The Route 53 registrar's Lambda entry point (bundled into stacks/service.yml by dev/bundle-registrar.ts).
 *
 * Every invocation converges Route 53 to the Proxy service's running, healthy tasks, whatever woke it:
 * an ECS task state change, the schedule, or a direct invoke. The event's content is only logged. As a
 * CloudFormation custom resource it removes everything it registered when the stack is deleted.
 *
 * Settings (the stack sets them): HOSTED_ZONE_ID, RECORD_NAME, PROXY_CLUSTER, PROXY_SERVICE, STACK_NAME,
 * and optionally RECORD_TTL (60), WEIGHT (10), HEALTH_PORT (8000), HEALTH_PATH (/), LOG_LEVEL=debug.
 */
import { isIPv4 } from 'node:net';
import { createEcsDiscovery } from '../discovery/ecs.js';
import { taskIdFromArn } from '../model.js';
import { normalizeRecordName, ownerPrefix, type Endpoint, type RegistrarSettings } from './plan.js';
import { runRegistrar, type RegistrarDeps, type RunSummary } from './registrar.js';
import { createRoute53Registry } from './route53.js';

export interface RegistrarConfig {
  hostedZoneId: string;
  cluster: string;
  service: string;
  settings: RegistrarSettings;
}

type Env = Record<string, string | undefined>;

function required(env: Env, name: string, allowed: string): string {
  const value = env[name]?.trim();
  if (value === undefined || value === '') throw new Error(`${name} is not set (${allowed})`);
  return value;
}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!/^[0-9]+$/.test(raw) || value < min || value > max) throw new Error(`${name}=${JSON.stringify(raw)} is not allowed: an integer from ${min} to ${max}`);
  return value;
}

/** The registrar's settings from its environment; a bad one throws naming the variable, its value and what is allowed. */
export function registrarConfigFrom(env: Env): RegistrarConfig {
  const hostedZoneId = required(env, 'HOSTED_ZONE_ID', 'the Route 53 hosted zone id, e.g. Z0123456789ABC').replace(/^\/?hostedzone\//, '');
  if (!/^[A-Z0-9]{1,32}$/.test(hostedZoneId)) throw new Error(`HOSTED_ZONE_ID=${JSON.stringify(env.HOSTED_ZONE_ID)} is not allowed: a hosted zone id, e.g. Z0123456789ABC`);
  const recordName = normalizeRecordName(required(env, 'RECORD_NAME', 'the name streamers push to, e.g. rtmp.example.com'));
  if (!/^([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.)+$/.test(recordName)) throw new Error(`RECORD_NAME=${JSON.stringify(env.RECORD_NAME)} is not allowed: a DNS name, e.g. rtmp.example.com`);
  const healthPath = env.HEALTH_PATH?.trim() || '/';
  if (!/^\/[!-~]{0,254}$/.test(healthPath)) throw new Error(`HEALTH_PATH=${JSON.stringify(env.HEALTH_PATH)} is not allowed: a path starting with /`);
  const stackName = required(env, 'STACK_NAME', "the service stack's name: it marks the records and health checks this registrar owns");
  const region = required(env, 'AWS_REGION', 'the Region of the Proxy service');
  return {
    hostedZoneId,
    cluster: required(env, 'PROXY_CLUSTER', "the Proxy service's ECS cluster"),
    service: required(env, 'PROXY_SERVICE', 'the Proxy ECS service'),
    settings: {
      recordName,
      ttl: integer(env, 'RECORD_TTL', 60, 0, 172_800),
      weight: integer(env, 'WEIGHT', 10, 0, 255),
      healthPort: integer(env, 'HEALTH_PORT', 8000, 1, 65_535),
      healthPath,
      owner: ownerPrefix(region, stackName),
    },
  };
}

/** One JSON line per message, as CloudWatch Logs shows Lambda output best. */
function logLine(level: string) {
  return (fields: unknown, message?: string): void =>
    console.log(JSON.stringify({ level, msg: message, ...(typeof fields === 'object' && fields !== null ? fields : { value: fields }) }));
}
// LOG_LEVEL=debug adds ECS discovery's per-run detail.
const consoleLog = { info: logLine('info'), warn: logLine('warn'), debug: process.env.LOG_LEVEL === 'debug' ? logLine('debug') : () => {} };

/** The Proxy tasks that belong in DNS: RUNNING, desired RUNNING, HEALTHY (their health page answers, so the first sync is done), with a public IPv4. */
function proxyEndpoints(config: RegistrarConfig): () => Promise<Endpoint[]> {
  return async () => {
    // A new discovery per run: no description is cached between runs of a warm function.
    const discovery = createEcsDiscovery({
      cluster: config.cluster,
      service: config.service,
      serverPort: config.settings.healthPort,
      addressMode: 'public',
      requireHealthy: true,
      logger: consoleLog,
      callTimeoutMs: 10_000,
    });
    const { servers } = await discovery.discover();
    return servers.filter((s) => isIPv4(s.address)).map((s) => ({ taskId: taskIdFromArn(s.taskArn!)!, ip: s.address }));
  };
}

export function registrarDeps(config: RegistrarConfig): RegistrarDeps {
  return {
    settings: config.settings,
    registry: createRoute53Registry({ hostedZoneId: config.hostedZoneId, settings: config.settings }),
    endpoints: proxyEndpoints(config),
    log: consoleLog,
  };
}

/** What CloudFormation sends a custom resource. */
interface CustomResourceEvent {
  RequestType: 'Create' | 'Update' | 'Delete';
  ResponseURL: string;
  StackId: string;
  RequestId: string;
  LogicalResourceId: string;
  PhysicalResourceId?: string;
}

function isCustomResourceEvent(event: unknown): event is CustomResourceEvent {
  const e = event as Partial<CustomResourceEvent> | null;
  return typeof e === 'object' && e !== null && typeof e.RequestType === 'string' && typeof e.ResponseURL === 'string';
}

/** The answer CloudFormation waits for (a PUT to the pre-signed URL; S3 wants no content type). */
async function respond(event: CustomResourceEvent, physicalId: string, error?: Error): Promise<void> {
  const body = JSON.stringify({
    Status: error === undefined ? 'SUCCESS' : 'FAILED',
    Reason: error === undefined ? 'ok' : `${error.message} (see the function's log)`.slice(0, 1000),
    PhysicalResourceId: physicalId,
    StackId: event.StackId,
    RequestId: event.RequestId,
    LogicalResourceId: event.LogicalResourceId,
  });
  const answer = await fetch(event.ResponseURL, { method: 'PUT', body, headers: { 'content-type': '' }, signal: AbortSignal.timeout(10_000) });
  if (!answer.ok) throw new Error(`CloudFormation's response URL answered ${answer.status}`);
}

function describe(event: unknown): Record<string, unknown> {
  const e = (event ?? {}) as { source?: unknown; 'detail-type'?: unknown; detail?: { taskArn?: unknown; lastStatus?: unknown; desiredStatus?: unknown } };
  return { source: e.source, detailType: e['detail-type'], taskArn: e.detail?.taskArn, lastStatus: e.detail?.lastStatus, desiredStatus: e.detail?.desiredStatus };
}

export async function handler(event: unknown): Promise<RunSummary | void> {
  if (isCustomResourceEvent(event)) {
    // Create and Update have nothing to wait for (the events and the schedule register the Proxies);
    // Delete removes every record and health check this stack registered, and fails loudly if it cannot.
    let physicalId = event.PhysicalResourceId ?? `${event.LogicalResourceId}-registrations`;
    try {
      const config = registrarConfigFrom(process.env);
      physicalId = event.PhysicalResourceId ?? `${config.settings.owner}registrations`;
      if (event.RequestType === 'Delete') {
        const summary = await runRegistrar(registrarDeps(config), 'none');
        consoleLog.info({ request: event.RequestType, ...summary }, 'removed what this stack registered');
      }
      await respond(event, physicalId);
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      consoleLog.warn({ request: event.RequestType, error: error.message }, 'custom resource request failed');
      await respond(event, physicalId, error);
    }
    return;
  }
  const config = registrarConfigFrom(process.env);
  const summary = await runRegistrar(registrarDeps(config), 'all');
  consoleLog.info({ trigger: describe(event), ...summary }, 'Route 53 matches the running Proxies');
  return summary;
}
