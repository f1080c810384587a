/**
 * One registrar run: read the Proxy endpoints and what Route 53 holds, apply the plan, and read again,
 * until a pass finds nothing to do. The last pass of every run reads ECS and Route 53 after its own
 * writes, so a run that acted on an older view (a concurrent run, a late event) corrects itself
 * before it ends; the scheduled run catches anything else.
 */
import type { HealthCheckConfig } from '@aws-sdk/client-route-53';
import { AwsCallError } from '../aws/call.js';
import {
  callerReferenceFor,
  deleteChange,
  isEmptyPlan,
  parseCallerReference,
  planRegistrations,
  upsertChange,
  type Endpoint,
  type RegistrarSettings,
  type RegistrationPlan,
} from './plan.js';
import type { Registry } from './route53.js';

export interface RegistrarLog {
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
}

export interface RegistrarDeps {
  settings: RegistrarSettings;
  registry: Registry;
  /** The Proxy endpoints that belong in DNS now; rejects when any call fails (nothing is changed then). */
  endpoints(): Promise<Endpoint[]>;
  log: RegistrarLog;
}

export interface RunSummary {
  passes: number;
  registered: number;
  deregistered: number;
  healthChecksCreated: number;
  healthChecksDeleted: number;
  /** Endpoints in DNS at the end. */
  endpoints: number;
}

/** Enough for a run that raced another one to settle; a run that cannot settle fails and is retried. */
export const MAX_PASSES = 4;
/** Route 53 takes at most 1,000 changes per ChangeResourceRecordSets call. */
const CHANGES_PER_BATCH = 500;
/** Generations tried when CallerReferences are taken by deleted health checks. */
const MAX_GENERATION_STEPS = 5;
/** Another run changed the same records or health checks between our read and our write: read again. */
const CONFLICT_CODES = new Set(['InvalidChangeBatch', 'NoSuchHealthCheck', 'InvalidInput', 'PriorRequestNotComplete']);

/** `all`: keep Route 53 equal to the running, healthy Proxies. `none`: remove everything we own (stack deletion). */
export type RunMode = 'all' | 'none';

export async function runRegistrar(deps: RegistrarDeps, mode: RunMode): Promise<RunSummary> {
  const { settings, registry, log } = deps;
  const summary: RunSummary = { passes: 0, registered: 0, deregistered: 0, healthChecksCreated: 0, healthChecksDeleted: 0, endpoints: 0 };

  async function createHealthCheck(reference: string, config: HealthCheckConfig): Promise<string> {
    const parsed = parseCallerReference(settings, reference)!;
    for (let step = 0; ; step++) {
      const candidate = callerReferenceFor(settings, parsed.taskId, parsed.generation + step);
      try {
        const id = await registry.createHealthCheck(candidate, config);
        summary.healthChecksCreated++;
        return id;
      } catch (err) {
        // Taken by a deleted health check (or one with other settings): the next generation is free.
        if (!(err instanceof AwsCallError && err.code === 'HealthCheckAlreadyExists') || step + 1 >= MAX_GENERATION_STEPS) throw err;
      }
    }
  }

  async function apply(plan: RegistrationPlan): Promise<void> {
    const changes = [];
    for (const registration of plan.register) {
      const { healthCheck } = registration;
      const id = 'id' in healthCheck ? healthCheck.id : await createHealthCheck(healthCheck.create, healthCheck.config);
      changes.push(upsertChange(settings, registration.endpoint, id));
    }
    // Upserts and deletes go in one batch, which Route 53 applies all or nothing.
    changes.push(...plan.deregister.map(deleteChange));
    for (let i = 0; i < changes.length; i += CHANGES_PER_BATCH) await registry.changeRecords(changes.slice(i, i + CHANGES_PER_BATCH));
    summary.registered += plan.register.length;
    summary.deregistered += plan.deregister.length;
    // After the records: a health check goes only once no record of ours points at it.
    for (const id of plan.deleteHealthChecks) {
      await registry.deleteHealthCheck(id);
      summary.healthChecksDeleted++;
    }
  }

  while (summary.passes < MAX_PASSES) {
    summary.passes++;
    const endpoints = mode === 'none' ? [] : await deps.endpoints();
    const owned = await registry.readOwned();
    const plan = planRegistrations(settings, endpoints, owned);
    summary.endpoints = endpoints.length;
    if (isEmptyPlan(plan)) return summary;
    log.info(
      {
        pass: summary.passes,
        register: plan.register.map((r) => `${r.endpoint.taskId}=${r.endpoint.ip}`),
        deregister: plan.deregister.map((r) => r.SetIdentifier),
        deleteHealthChecks: plan.deleteHealthChecks,
        unchanged: plan.unchanged,
      },
      'changing Route 53',
    );
    try {
      await apply(plan);
    } catch (err) {
      if (!(err instanceof AwsCallError && CONFLICT_CODES.has(err.code))) throw err;
      log.warn({ pass: summary.passes, code: err.code, error: err.message }, 'Route 53 changed under this run; reading it again');
    }
  }
  throw new Error(`Route 53 did not settle after ${MAX_PASSES} passes (records or tasks kept changing); the next run retries`);
}
