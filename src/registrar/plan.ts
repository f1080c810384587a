/**
 * The Route 53 registrar's decision, pure: from the Proxy endpoints that should be in DNS (running,
 * healthy tasks and their public IPs) and what Route 53 holds, the changes that make Route 53 match.
 * Level-triggered: nothing here depends on which event woke the registrar, so a late, duplicated or
 * reordered event cannot leave anything behind.
 *
 * What the registrar owns, it marks: its weighted A records' SetIdentifier and its health checks'
 * CallerReference both start with `ownerPrefix(region, stack)`. Records and health checks without
 * the mark (another stack's, or a hand-made fallback record under the same name) are never touched.
 */
import { createHash } from 'node:crypto';
import type { Change, HealthCheck, HealthCheckConfig, ResourceRecordSet } from '@aws-sdk/client-route-53';

export interface RegistrarSettings {
  /** The record name, lower-case with the trailing dot, as Route 53 lists it. */
  recordName: string;
  ttl: number;
  weight: number;
  healthPort: number;
  healthPath: string;
  /** Marks what this registrar owns (see ownerPrefix). */
  owner: string;
}

/** A Proxy task that belongs in DNS: its task id and public IPv4 address. */
export interface Endpoint {
  taskId: string;
  ip: string;
}

/** What Route 53 holds that carries this registrar's mark. */
export interface OwnedState {
  records: ResourceRecordSet[];
  healthChecks: HealthCheck[];
}

/** A record to write, with the health check it uses: an existing one, or one to create first. */
export interface Registration {
  endpoint: Endpoint;
  healthCheck: { id: string } | { create: string; config: HealthCheckConfig };
}

export interface RegistrationPlan {
  register: Registration[];
  /** Records to delete, exactly as Route 53 listed them (a DELETE must match every value). */
  deregister: ResourceRecordSet[];
  /** Owned health checks no record will use once the record changes are applied. */
  deleteHealthChecks: string[];
  /** Endpoints whose record and health check are already right. */
  unchanged: number;
}

/** Route 53 allows 64 characters of CallerReference: the mark (20) + a 32-character ECS task id + a generation. */
const OWNER_HASH_LENGTH = 8;

/**
 * The mark for one service stack: its Region and name, hashed short enough to fit a CallerReference.
 * The same stack name in two Regions can share a hosted zone (Route 53 is global) without either one
 * deleting the other's records.
 */
export function ownerPrefix(region: string, stackName: string): string {
  const hash = createHash('sha256').update(`${region}/${stackName}`).digest('hex').slice(0, OWNER_HASH_LENGTH);
  return `rtmp-proxy-${hash}-`;
}

/** Route 53 lists names in lower case with the trailing dot. */
export function normalizeRecordName(name: string): string {
  return name.trim().toLowerCase().replace(/\.?$/, '.');
}

export function setIdentifierFor(settings: RegistrarSettings, taskId: string): string {
  return `${settings.owner}${taskId}`;
}

/**
 * A deleted health check's CallerReference cannot be used again, so a task that needs a new health
 * check (its first one was deleted, or the settings changed) takes the next generation: `<mark><task>`,
 * then `<mark><task>.2`, `.3`, …
 */
export function callerReferenceFor(settings: RegistrarSettings, taskId: string, generation: number): string {
  return generation <= 1 ? `${settings.owner}${taskId}` : `${settings.owner}${taskId}.${generation}`;
}

/** The task id and generation a CallerReference carries, if it bears this registrar's mark. */
export function parseCallerReference(settings: RegistrarSettings, reference: string): { taskId: string; generation: number } | undefined {
  if (!reference.startsWith(settings.owner)) return undefined;
  const match = /^([A-Za-z0-9-]{1,64})(?:\.([1-9][0-9]{0,5}))?$/.exec(reference.slice(settings.owner.length));
  if (!match) return undefined;
  return { taskId: match[1]!, generation: match[2] === undefined ? 1 : Number(match[2]) };
}

/** The record's owner task, if the record is one of ours (our name, type A, our mark). */
export function ownedTaskOf(settings: RegistrarSettings, record: ResourceRecordSet): string | undefined {
  if (normalizeRecordName(record.Name ?? '') !== settings.recordName || record.Type !== 'A') return undefined;
  const id = record.SetIdentifier ?? '';
  return id.startsWith(settings.owner) && id.length > settings.owner.length ? id.slice(settings.owner.length) : undefined;
}

/** Route 53 probes the Proxy's health page: 503 while it cannot place a stream, so DNS steers past it. */
export function healthCheckConfigFor(settings: RegistrarSettings, ip: string): HealthCheckConfig {
  return { Type: 'HTTP', IPAddress: ip, Port: settings.healthPort, ResourcePath: settings.healthPath, RequestInterval: 10, FailureThreshold: 2 };
}

function healthCheckFits(settings: RegistrarSettings, check: HealthCheck, ip: string): boolean {
  const want = healthCheckConfigFor(settings, ip);
  const have = check.HealthCheckConfig;
  return (
    have !== undefined &&
    have.Type === want.Type &&
    have.IPAddress === want.IPAddress &&
    have.Port === want.Port &&
    (have.ResourcePath ?? '') === want.ResourcePath &&
    have.RequestInterval === want.RequestInterval &&
    have.FailureThreshold === want.FailureThreshold
  );
}

function recordFits(settings: RegistrarSettings, record: ResourceRecordSet, endpoint: Endpoint, healthCheckId: string): boolean {
  const values = (record.ResourceRecords ?? []).map((r) => r.Value);
  return (
    values.length === 1 &&
    values[0] === endpoint.ip &&
    record.TTL === settings.ttl &&
    record.Weight === settings.weight &&
    record.HealthCheckId === healthCheckId
  );
}

export function planRegistrations(settings: RegistrarSettings, endpoints: readonly Endpoint[], owned: OwnedState): RegistrationPlan {
  const recordByTask = new Map<string, ResourceRecordSet>();
  for (const record of owned.records) {
    const taskId = ownedTaskOf(settings, record);
    if (taskId !== undefined) recordByTask.set(taskId, record);
  }
  const checksByTask = new Map<string, { check: HealthCheck; generation: number }[]>();
  for (const check of owned.healthChecks) {
    const parsed = parseCallerReference(settings, check.CallerReference ?? '');
    if (parsed === undefined || check.Id === undefined) continue;
    const list = checksByTask.get(parsed.taskId) ?? [];
    list.push({ check, generation: parsed.generation });
    checksByTask.set(parsed.taskId, list);
  }

  const plan: RegistrationPlan = { register: [], deregister: [], deleteHealthChecks: [], unchanged: 0 };
  const usedChecks = new Set<string>();
  const wanted = new Set<string>();
  for (const endpoint of [...endpoints].sort((a, b) => a.taskId.localeCompare(b.taskId))) {
    if (wanted.has(endpoint.taskId)) continue;
    wanted.add(endpoint.taskId);
    const record = recordByTask.get(endpoint.taskId);
    const checks = (checksByTask.get(endpoint.taskId) ?? []).sort((a, b) => a.generation - b.generation);
    const fitting = checks.filter(({ check }) => healthCheckFits(settings, check, endpoint.ip));
    // Prefer the health check the record already uses; any other fitting one (made by a run that
    // stopped before its record change, or by a concurrent run) is reused rather than duplicated.
    const reuse = fitting.find(({ check }) => check.Id === record?.HealthCheckId) ?? fitting[0];
    if (reuse !== undefined) {
      usedChecks.add(reuse.check.Id!);
      if (record !== undefined && recordFits(settings, record, endpoint, reuse.check.Id!)) plan.unchanged++;
      else plan.register.push({ endpoint, healthCheck: { id: reuse.check.Id! } });
    } else {
      const generation = Math.max(0, ...checks.map((c) => c.generation)) + 1;
      plan.register.push({
        endpoint,
        healthCheck: { create: callerReferenceFor(settings, endpoint.taskId, generation), config: healthCheckConfigFor(settings, endpoint.ip) },
      });
    }
  }
  for (const [taskId, record] of [...recordByTask].sort(([a], [b]) => a.localeCompare(b))) {
    if (!wanted.has(taskId)) plan.deregister.push(record);
  }
  for (const { check } of [...checksByTask.values()].flat()) {
    if (!usedChecks.has(check.Id!)) plan.deleteHealthChecks.push(check.Id!);
  }
  plan.deleteHealthChecks.sort();
  return plan;
}

export function isEmptyPlan(plan: RegistrationPlan): boolean {
  return plan.register.length === 0 && plan.deregister.length === 0 && plan.deleteHealthChecks.length === 0;
}

/** The weighted A record for one endpoint. */
export function upsertChange(settings: RegistrarSettings, endpoint: Endpoint, healthCheckId: string): Change {
  return {
    Action: 'UPSERT',
    ResourceRecordSet: {
      Name: settings.recordName,
      Type: 'A',
      SetIdentifier: setIdentifierFor(settings, endpoint.taskId),
      Weight: settings.weight,
      TTL: settings.ttl,
      ResourceRecords: [{ Value: endpoint.ip }],
      HealthCheckId: healthCheckId,
    },
  };
}

export function deleteChange(record: ResourceRecordSet): Change {
  return { Action: 'DELETE', ResourceRecordSet: record };
}
