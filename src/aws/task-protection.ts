/**
 * ECS task scale-in protection for the Server tasks that carry a stream through this Proxy
 * (TASK_PROTECTION=true). A pure planner and a thin UpdateTaskProtection adapter.
 *
 * Input: the backend as HAProxy runs it after each successful sync (`SyncOutcome.backend`). A Server
 * with `streams > 0` and a `taskArn` carries a stream through this Proxy.
 *
 * - A stream starts on a Server: protect its task for PROTECTION_MINUTES.
 * - It goes on: renew once less than a third of PROTECTION_MINUTES is left (see RENEW_FRACTION).
 * - It ends, or the Server left the backend/fleet: lift the protection — only on tasks this Proxy
 *   protected itself and whose protection from us has not lapsed yet.
 * - On shutdown: stop updating; protection on streams still flowing runs out by itself.
 *
 * Who owns a Server's protection across Proxies. Each Proxy counts only its own connections, and a
 * Server takes one stream at a time, so at any moment at most one Proxy sees `streams > 0` on it: the
 * Proxy whose stream it is. That Proxy protects, renews and lifts; the others, seeing no stream of
 * theirs, never touch it (they never protected it, so it is not in their state). ECS keeps a single
 * protection flag per task, not a count per caller, so the one handover that matters is a Server whose
 * stream ended here and, before our lift, started through another Proxy B: lifting then would strip
 * the protection B set. With the busy check on, such a Server is held in maintenance here (streams 0,
 * maintenance) — the planner then defers the lift (keeps the entry, calls nothing) until the Server is
 * idle and back in rotation, or forgets it once our own protection has lapsed. What remains is a race of
 * milliseconds (B's stream starting and B's sync protecting it between our sync and our lift call).
 * Without the busy check two Proxies can double-book a Server anyway (see README, "Across Proxies").
 */
import { ECSClient, UpdateTaskProtectionCommand } from '@aws-sdk/client-ecs';
import { FailureLog, type Logger } from '../log.js';
import type { BackendServer } from '../model.js';
import { AWS_CLIENT_OPTIONS, AwsCallError, callAws } from './call.js';

/** UpdateTaskProtection takes at most 10 tasks per call. */
export const PROTECTION_BATCH = 10;
/** Renew once less than this part of PROTECTION_MINUTES is left. */
export const RENEW_FRACTION = 1 / 3;
const DEFAULT_CALL_TIMEOUT_MS = 10_000;

/** What this Proxy protected: until when (ms since the epoch, our clock, taken before the call). */
export interface ProtectionEntry {
  until: number;
  /**
   * The call that set it got no answer (timeout, dropped connection, 5xx): ECS may or may not have
   * applied it. Retried while the stream lasts; lifted when it ends, as if it had been applied.
   */
  uncertain?: boolean;
}
export type ProtectionState = ReadonlyMap<string, ProtectionEntry>;

export interface ProtectionPlan {
  /** Streaming here, not protected by us yet (or not known to be): protect. */
  protect: string[];
  /** Streaming here, our protection runs out within the renew window (or has lapsed): protect again. */
  renew: string[];
  /** Protected by us, no stream here any more (or the Server left): lift. */
  unprotect: string[];
  /** Protected by us, but our protection has lapsed already: drop from the state, no call (someone else may have protected it since). */
  forget: string[];
  /** Protected by us, no stream here, but held idle (likely streaming through another Proxy now): neither lifted nor forgotten yet. */
  deferred: string[];
}

/**
 * The renew window, in ms. A third of PROTECTION_MINUTES: renewals cost one call per streaming task
 * every two thirds of the period, and a renewal that fails (throttled, AWS down) has a third of the
 * period — 20 minutes at the default 60, one minute of syncs even at 3 — to be retried at every
 * update before the protection lapses. A fixed margin (say 5 minutes) would either renew at every
 * sync (PROTECTION_MINUTES ≤ 5) or leave a thin margin on long periods; a fraction scales with both.
 */
export function renewWindowMs(minutes: number): number {
  return minutes * 60_000 * RENEW_FRACTION;
}

/** Plans the UpdateTaskProtection calls for one backend snapshot. Pure; every list sorted. */
export function planProtection(state: ProtectionState, backend: readonly BackendServer[], now: number, minutes: number): ProtectionPlan {
  const plan: ProtectionPlan = { protect: [], renew: [], unprotect: [], forget: [], deferred: [] };
  // A task could show under two names (e.g. its address moved): sum its streams.
  const streams = new Map<string, number>();
  const heldIdle = new Set<string>();
  for (const s of backend) {
    if (s.taskArn === undefined) continue;
    streams.set(s.taskArn, (streams.get(s.taskArn) ?? 0) + s.streams);
    if (s.maintenance) heldIdle.add(s.taskArn);
  }
  for (const [arn, n] of streams) if (n > 0) heldIdle.delete(arn);

  const window = renewWindowMs(minutes);
  for (const arn of [...streams.keys()].sort()) {
    if (streams.get(arn)! <= 0) continue;
    const entry = state.get(arn);
    if (entry === undefined || entry.uncertain) plan.protect.push(arn);
    else if (entry.until - now <= window) plan.renew.push(arn);
  }
  for (const arn of [...state.keys()].sort()) {
    if ((streams.get(arn) ?? 0) > 0) continue;
    if (state.get(arn)!.until <= now) plan.forget.push(arn);
    else if (heldIdle.has(arn)) plan.deferred.push(arn);
    else plan.unprotect.push(arn);
  }
  return plan;
}

/** Splits a list into calls of at most `size`. Pure. */
export function batches<T>(items: readonly T[], size: number = PROTECTION_BATCH): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

export interface ProtectionFailure {
  action: 'protect' | 'unprotect';
  /** AWS error name, 'NetworkError', 'Timeout', 'MalformedResponse', or ECS's per-task failure reason. */
  code: string;
  tasks: string[];
}

export interface ProtectionReport {
  protected: string[];
  renewed: string[];
  lifted: string[];
  forgotten: string[];
  deferred: string[];
  failures: ProtectionFailure[];
  /** Tasks this Proxy holds protected after the update. */
  holding: number;
  /** Why nothing was done: shut down, no backend snapshot, or another update still running. */
  skipped?: 'shutdown' | 'no-backend' | 'busy' | 'error';
  durationMs: number;
}

export interface TaskProtectorOptions {
  /** The Server tasks' cluster (name or ARN): config.ecsCluster. */
  cluster: string;
  /** PROTECTION_MINUTES (1..2880). */
  minutes: number;
  /** Default: `new ECSClient({ retryMode: 'adaptive' })`: AWS_REGION, AWS_ENDPOINT_URL_ECS and the credential chain apply. */
  ecs?: ECSClient;
  logger: Logger;
  now?: () => number;
  /** Upper bound of one UpdateTaskProtection call including the SDK's retries (default 10 s). */
  callTimeoutMs?: number;
}

export interface TaskProtector {
  /**
   * Brings protection in line with the backend of a successful sync. Never throws: a failed call
   * keeps its intent and is retried at the next update. `undefined` (no snapshot) changes nothing.
   */
  update(backend: readonly BackendServer[] | undefined): Promise<ProtectionReport>;
  /** Stops further updates. Protection on streams still flowing is left to run out, not lifted. */
  shutdown(): void;
  /** What this Proxy protected and until when. */
  state(): ProtectionState;
}

export function createTaskProtector(opts: TaskProtectorOptions): TaskProtector {
  const ecs = opts.ecs ?? new ECSClient(AWS_CLIENT_OPTIONS);
  const now = opts.now ?? Date.now;
  const timeoutMs = opts.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
  const { logger, cluster, minutes } = opts;
  const state = new Map<string, ProtectionEntry>();
  /** Tasks ECS refused to protect (e.g. TASK_NOT_VALID: not in a service): not asked again while that stream lasts. */
  const refused = new Map<string, string>();
  const failures = new FailureLog(logger);
  let stopped = false;
  let inFlight: Promise<ProtectionReport> | undefined;

  const noteFailure = (action: string, code: string, fields: Record<string, unknown>) =>
    failures.failed(`${action}:${code}`, { action, code, ...fields }, `task protection: ${action} failed (${code}); kept, retried at the next update`);

  async function call(enabled: boolean, tasks: string[]) {
    const command = new UpdateTaskProtectionCommand({
      cluster,
      tasks,
      protectionEnabled: enabled,
      ...(enabled && { expiresInMinutes: minutes }),
    });
    return callAws('ecs:UpdateTaskProtection', timeoutMs, (abortSignal) => ecs.send(command, { abortSignal }));
  }

  async function run(backend: readonly BackendServer[]): Promise<ProtectionReport> {
    const started = now();
    const report: ProtectionReport = { protected: [], renewed: [], lifted: [], forgotten: [], deferred: [], failures: [], holding: 0, durationMs: 0 };
    const streaming = new Set(backend.filter((s) => s.taskArn !== undefined && s.streams > 0).map((s) => s.taskArn!));
    for (const arn of refused.keys()) if (!streaming.has(arn)) refused.delete(arn);

    const plan = planProtection(state, backend, started, minutes);
    for (const arn of plan.forget) state.delete(arn);
    report.forgotten = plan.forget;
    report.deferred = plan.deferred;
    const renewing = new Set(plan.renew);
    // Protecting streams first: an unprotected stream is at risk, an idle task left protected is not.
    const enable = [...plan.protect, ...plan.renew].filter((arn) => !refused.has(arn));
    const work: Array<{ enabled: boolean; tasks: string[] }> = [
      ...batches(enable).map((tasks) => ({ enabled: true, tasks })),
      ...batches(plan.unprotect).map((tasks) => ({ enabled: false, tasks })),
    ];

    for (const [i, { enabled, tasks }] of work.entries()) {
      if (stopped && !enabled) break; // after shutdown(): never lift
      const action = enabled ? 'protect' : 'unprotect';
      const sentAt = now();
      try {
        const answer = await call(enabled, tasks);
        failures.recovered('task protection: UpdateTaskProtection answers again');
        const failed = new Map((answer.failures ?? []).map((f) => [f.arn ?? '', f.reason ?? 'UNKNOWN']));
        for (const arn of tasks) {
          const reason = failed.get(arn);
          if (reason === undefined) {
            if (enabled) {
              state.set(arn, { until: sentAt + minutes * 60_000 });
              (renewing.has(arn) ? report.renewed : report.protected).push(arn);
            } else {
              state.delete(arn);
              report.lifted.push(arn);
            }
          } else if (enabled) {
            // Not protected (MISSING, TASK_NOT_VALID): ECS will not take it while this stream lasts.
            refused.set(arn, reason);
            report.failures.push({ action, code: reason, tasks: [arn] });
            noteFailure(action, reason, { task: arn });
          } else {
            // Gone or stopped: nothing left to lift.
            state.delete(arn);
            report.lifted.push(arn);
            logger.debug({ task: arn, reason }, 'task protection: task gone before its protection was lifted');
          }
        }
      } catch (err) {
        const code = err instanceof AwsCallError ? err.code : 'UnknownError';
        report.failures.push({ action, code, tasks });
        noteFailure(action, code, { tasks: tasks.length, err: (err as Error).message });
        // No answer: ECS may have protected them. Remember that, so an ended stream still lifts it.
        if (enabled && !(err instanceof AwsCallError && err.refused)) {
          for (const arn of tasks) if (!state.has(arn) || state.get(arn)!.uncertain) state.set(arn, { until: sentAt + minutes * 60_000, uncertain: true });
        }
        // Throttled or failing: leave the remaining batches to the next update (their intent is in the plan, recomputed then).
        const left = work.slice(i + 1);
        if (left.length > 0) logger.debug({ batches: left.length }, 'task protection: remaining calls wait for the next update');
        break;
      }
    }

    report.holding = state.size;
    report.durationMs = now() - started;
    const changed = report.protected.length + report.renewed.length + report.lifted.length + report.forgotten.length;
    if (changed > 0) {
      logger.info(
        { protected: report.protected, renewed: report.renewed, lifted: report.lifted, forgotten: report.forgotten, holding: report.holding, minutes },
        'task protection updated',
      );
    }
    return report;
  }

  const skip = (skipped: NonNullable<ProtectionReport['skipped']>): ProtectionReport => ({
    protected: [],
    renewed: [],
    lifted: [],
    forgotten: [],
    deferred: [],
    failures: [],
    holding: state.size,
    skipped,
    durationMs: 0,
  });

  return {
    async update(backend) {
      if (stopped) return skip('shutdown');
      if (backend === undefined) return skip('no-backend'); // unknown is not "no streams": never lift on it
      if (inFlight) return skip('busy'); // the next sync's update catches up
      inFlight = run(backend)
        .catch((err: unknown) => {
          // Defensive: run() handles call failures itself; nothing may escape update().
          logger.error({ err: (err as Error).message }, 'task protection: update failed');
          return skip('error');
        })
        .finally(() => (inFlight = undefined));
      return inFlight;
    },
    shutdown() {
      if (!stopped && state.size > 0) logger.info({ holding: state.size, minutes }, 'task protection: stopped; protection on live streams is left to run out');
      stopped = true;
    },
    state: () => new Map(state),
  };
}
