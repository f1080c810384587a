import { readFile } from 'node:fs/promises';
import { findBusyServers } from './discovery/busy-check.js';
import { backoffMs, isSuddenDrop } from './core/guards.js';
import type { Config } from './config.js';
import type { Discovery } from './discovery/types.js';
import { readConfigFile, stageConfig, writeConfigAtomically } from './haproxy/config-file.js';
import { ensureHealthMap, setHealthState, type HealthState } from './haproxy/health-state.js';
import { ConfigValidationError, type HaproxyProcess } from './haproxy/process.js';
import { RuntimeApi, type RuntimeServer } from './haproxy/runtime-api.js';
import type { Logger } from './log.js';
import { holdBusyForReload, isEmptyPlan, planMembership, renderedFromRuntime, type MembershipPlan } from './core/plan.js';
import { compileTemplate, renderConfig, RTMP_BACKEND, serverOptions, type CompiledTemplate, type RenderSettings, type RenderedServer } from './render/render.js';
import { formatAddress, type Server } from './model.js';

/** What a sync did to HAProxy: nothing, started it, reloaded it, or changed it through the Runtime API. */
export type SyncAction = 'none' | 'started' | 'reloaded' | 'runtime';
/** Where a sync failed; `backoff`: discovery was left alone this tick after earlier failures. */
export type SyncStage = 'backoff' | 'discovery' | 'render' | 'validate' | 'apply';

export interface AppliedChanges {
  action: SyncAction;
  /** Why HAProxy was started or reloaded. */
  reason?: string;
  /** Runtime API changes, by kind. */
  changes?: { added: string[]; enabled: string[]; disabled: string[]; deleted: string[]; cut: string[] };
  /** Removed Servers still carrying a stream. */
  draining?: string[];
  /** Servers in the fleet held out of rotation, and why. */
  held?: MembershipPlan['held'];
}

export type SyncOutcome =
  | ({ ok: true; servers: number; added: string[]; removed: string[]; durationMs: number; dropHeld?: DropHeld; backend?: BackendServer[] } & AppliedChanges)
  | { ok: false; stage: SyncStage; error: Error; code?: string; durationMs: number; consecutiveFailures: number; retryInMs?: number };

/** One Server of the backend as HAProxy runs it after a sync, with every stream it carries. */
export interface BackendServer {
  name: string;
  address: string;
  port: number;
  /** ECS task ARN, when the Server came from ECS and is still in the fleet. */
  taskArn?: string;
  /** Streams on it: the current worker's plus those old workers still carry. */
  streams: number;
  /** Taking no new stream: draining, held, or out of the fleet. */
  maintenance: boolean;
  /** HAProxy's status column (UP, DOWN, MAINT, …). */
  status: string;
}

/** A sudden drop of the fleet, held back until the next successful sync confirms it. */
export interface DropHeld {
  from: number;
  to: number;
  maxDropPercent: number;
}

/** Names in `next` but not in `prev`, and the reverse. Pure. */
export function diffNames(prev: readonly Server[], next: readonly Server[]): { added: string[]; removed: string[] } {
  const before = new Set(prev.map((s) => s.name));
  const after = new Set(next.map((s) => s.name));
  return {
    added: [...after].filter((n) => !before.has(n)).sort(),
    removed: [...before].filter((n) => !after.has(n)).sort(),
  };
}

export function renderSettingsFrom(config: Config): RenderSettings {
  return {
    bindAddress: config.bindAddress,
    rtmpPort: config.rtmpPort,
    healthPort: config.healthPort,
    pidfile: config.haproxyPidfile,
    adminSocket: config.haproxySocket,
    healthPage: config.healthPage,
    healthMap: config.haproxyHealthMap,
    requireCapacity: config.healthRequireCapacity,
    ...(config.haproxyMetricsPort !== undefined && { haproxyMetricsPort: config.haproxyMetricsPort }),
    serverOptions: serverOptions({ sendProxy: config.serverSendProxy }),
  };
}

/** Reads and compiles the template, recompiling only when its text changed. */
export class TemplateSource {
  private cached: { text: string; compiled: CompiledTemplate } | undefined;
  constructor(readonly path: string) {}

  async load(): Promise<CompiledTemplate> {
    const text = await readFile(this.path, 'utf8');
    if (this.cached?.text !== text) this.cached = { text, compiled: compileTemplate(text, this.path) };
    return this.cached.compiled;
  }
}

export interface SyncerDeps {
  config: Config;
  discovery: Discovery;
  haproxy: HaproxyProcess;
  logger: Logger;
  /** Clock, for drain timeouts and backoff. */
  now?: () => number;
  /** Jitter source in [0, 1), for backoff. */
  random?: () => number;
}

/** A render stage failure, told apart from apply failures in the outcome. */
class RenderStageError extends Error {
  constructor(readonly inner: Error) {
    super(inner.message, { cause: inner });
  }
}

/**
 * One sync: discover → render → apply. A failure at any stage keeps what runs; only a complete,
 * successful discovery changes the backend. Never runs two syncs at once.
 *
 * APPLY_MODE=runtime changes membership through the admin socket (no reload, so connection counts
 * survive) and rewrites the config file to match; it reloads only for what the Runtime API cannot
 * change. APPLY_MODE=reload renders and reloads on every change, as the seed did.
 */
export class Syncer {
  private readonly template: TemplateSource;
  private readonly runtime: RuntimeApi;
  private readonly now: () => number;
  /** The fleet HAProxy was last brought to: the last known-good set. */
  private applied: Server[] = [];
  private readonly drainingSince = new Map<string, number>();
  private inFlight: Promise<SyncOutcome> | undefined;
  /** Failed syncs in a row, the kind of the last failure, and when discovery may be tried again. */
  private failures = { count: 0, kind: '', retryAt: 0 };
  /** A sudden drop seen once, waiting for the next successful sync to confirm it. */
  private pendingDrop = false;
  /** Whether `applied` was seeded from an HAProxy a previous daemon left running. */
  private seeded = false;
  /** What the health page was last told; `down` is held once shutdown began. */
  private health: HealthState | undefined;
  private healthHeldDown = false;

  constructor(private readonly deps: SyncerDeps) {
    this.template = new TemplateSource(deps.config.haproxyTemplate);
    this.runtime = new RuntimeApi(deps.config.haproxySocket);
    this.now = deps.now ?? Date.now;
  }

  get lastKnownGood(): readonly Server[] {
    return this.applied;
  }

  /** Runs a sync, or joins the one already running. */
  sync(): Promise<SyncOutcome> {
    this.inFlight ??= this.runSync().finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  /**
   * Shutdown: the health page answers 503 from now on (Route53 stops sending streamers here), and no
   * later sync turns it back.
   */
  async holdHealthDown(): Promise<void> {
    this.healthHeldDown = true;
    await this.setHealth('down');
  }

  /** Tells the running HAProxy's health page what to answer (through the master CLI if the admin socket is gone). */
  async setHealth(state: HealthState): Promise<void> {
    const { api } = await this.currentWorker();
    await setHealthState(api, this.deps.config.haproxyHealthMap, state);
    this.health = state;
  }

  /** Resolves once no sync is running. */
  async whenIdle(): Promise<void> {
    await this.inFlight?.catch(() => undefined);
  }

  /** Renders the config the current fleet gives, changing nothing. */
  async render(): Promise<string> {
    const { servers } = await this.deps.discovery.discover();
    return this.renderText(servers.map((s) => ({ ...s, draining: false })));
  }

  private async renderText(servers: readonly RenderedServer[]): Promise<string> {
    try {
      return renderConfig(await this.template.load(), this.template.path, renderSettingsFrom(this.deps.config), servers);
    } catch (e) {
      throw new RenderStageError(e as Error);
    }
  }

  private async runSync(): Promise<SyncOutcome> {
    const started = performance.now();
    const { logger, config } = this.deps;
    const elapsed = () => Math.round(performance.now() - started);

    const wait = this.failures.retryAt - this.now();
    if (wait > 0) {
      logger.debug({ retryInMs: wait, consecutiveFailures: this.failures.count }, 'sync skipped: backing off after failures');
      await this.keepHaproxyRunning();
      const error = new Error(`discovery is backing off after ${this.failures.count} failed syncs; next try in ${wait} ms`);
      return { ok: false, stage: 'backoff', error, retryInMs: wait, consecutiveFailures: this.failures.count, durationMs: elapsed() };
    }

    let servers: Server[];
    try {
      ({ servers } = await this.deps.discovery.discover());
    } catch (e) {
      await this.keepHaproxyRunning();
      return this.failed('discovery', e, elapsed());
    }

    // A daemon that restarts while HAProxy runs starts from what HAProxy runs, not from nothing: the
    // first sync's diff and the drop guard below are then about real changes.
    if (!this.seeded) {
      this.seeded = true;
      if (this.applied.length === 0 && (await this.deps.haproxy.runningPid()) !== undefined) {
        const running = await this.backendState().catch(() => []);
        this.applied = running.map(({ name, address, port, taskArn }) => ({ name, address, port, ...(taskArn && { taskArn }) }));
      }
    }

    // A sudden drop is more often a bad answer than a real scale-in: apply it only once a second
    // successful sync confirms it. A real scale-in, even to zero, takes effect one sync later.
    let dropHeld: DropHeld | undefined;
    if (isSuddenDrop(this.applied.length, servers.length, config.maxDropPercent) && !this.pendingDrop) {
      this.pendingDrop = true;
      dropHeld = { from: this.applied.length, to: servers.length, maxDropPercent: config.maxDropPercent };
      logger.warn(dropHeld, `fleet dropped by more than MAX_DROP_PERCENT=${config.maxDropPercent}%: keeping the last known-good fleet until the next sync confirms it`);
      servers = [...this.applied];
    } else {
      if (this.pendingDrop && isSuddenDrop(this.applied.length, servers.length, config.maxDropPercent)) {
        logger.warn({ from: this.applied.length, to: servers.length }, 'sudden fleet drop confirmed by a second sync: applying it');
      }
      this.pendingDrop = false;
    }

    let applied: AppliedChanges;
    try {
      await ensureHealthMap(config.haproxyHealthMap);
      applied = config.applyMode === 'runtime' ? await this.applyRuntime(servers) : await this.applyReload(servers);
    } catch (e) {
      if (e instanceof RenderStageError) return this.failed('render', e.inner, elapsed());
      return this.failed(e instanceof ConfigValidationError ? 'validate' : 'apply', e, elapsed());
    }

    if (this.failures.count > 0) {
      logger.info({ consecutiveFailures: this.failures.count, lastFailure: this.failures.kind }, 'sync recovered');
      this.failures = { count: 0, kind: '', retryAt: 0 };
    }
    const { added, removed } = diffNames(this.applied, servers);
    this.applied = servers;
    // The first successful sync (of this daemon) turns the health page to 200.
    const health: HealthState = this.healthHeldDown ? 'down' : 'up';
    if (this.health !== health) {
      await this.setHealth(health).catch((e) => logger.warn({ err: (e as Error).message, health }, 'could not set the health page'));
      if (this.health === health) logger.info({ health }, `health page: ${health === 'up' ? '200' : '503'}`);
    }
    const backend = await this.backendState().catch((e) => {
      logger.debug({ err: (e as Error).message }, 'backend state not readable after the sync');
      return undefined;
    });
    const outcome: SyncOutcome = {
      ok: true,
      servers: servers.length,
      added,
      removed,
      durationMs: elapsed(),
      ...applied,
      ...(dropHeld && { dropHeld }),
      ...(backend && { backend }),
    };
    const { ok: _ok, backend: _backend, ...fields } = outcome;
    // A sync that changed something at info; a quiet one at debug, so ten-second ticks do not flood.
    if (applied.action === 'none' && !dropHeld) logger.debug(fields, 'sync: no change');
    else logger.info(fields, `sync: ${applied.action}${applied.reason ? ` (${applied.reason})` : ''}`);
    return outcome;
  }

  /**
   * Counts the failure and logs it: the first of a kind as an error, repeats of the same kind quietly
   * (a warning every 10th), so a long outage is a few clear lines, not a flood. Discovery failures
   * back off with jitter; HAProxy failures are retried at the next tick.
   */
  private failed(stage: SyncStage, error: unknown, durationMs: number): SyncOutcome {
    const err = error instanceof Error ? error : new Error(String(error));
    const code = (err as { code?: unknown }).code;
    const kind = `${stage}:${typeof code === 'string' ? code : err.name}`;
    const count = this.failures.count + 1;
    const retryAt = stage === 'discovery' ? this.now() + backoffMs(count, (this.deps.random ?? Math.random)()) : 0;
    const repeat = this.failures.kind === kind;
    this.failures = { count, kind, retryAt };
    const fields = { stage, code, err: err.message, consecutiveFailures: count, servers: this.applied.length, durationMs };
    const msg = `sync failed at ${stage}; keeping the running config and the last known-good fleet`;
    if (!repeat) this.deps.logger.error(fields, msg);
    else if (count % 10 === 0) this.deps.logger.warn(fields, `${msg} (still failing)`);
    else this.deps.logger.debug(fields, msg);
    return { ok: false, stage, error: err, durationMs, consecutiveFailures: count, ...(typeof code === 'string' && { code }) };
  }

  /**
   * Without a fleet to go by (discovery failing), HAProxy still has to run: a crashed or killed HAProxy
   * comes back with the last config on disk, which is the last known-good one.
   */
  private async keepHaproxyRunning(): Promise<void> {
    const { config, haproxy, logger } = this.deps;
    try {
      if ((await haproxy.runningPid()) !== undefined || (await readConfigFile(config.haproxyConfig)) === undefined) return;
      await ensureHealthMap(config.haproxyHealthMap);
      await haproxy.validate(config.haproxyConfig);
      await haproxy.start();
      logger.warn({ config: config.haproxyConfig }, 'haproxy was not running: started it with the last known-good config');
    } catch (e) {
      logger.error({ err: (e as Error).message }, 'haproxy is not running and could not be started with the last config');
    }
  }

  /** APPLY_MODE=reload: render everything; write, validate, start or reload when the text changed. */
  private async applyReload(servers: Server[]): Promise<AppliedChanges> {
    const text = await this.renderText(servers.map((s) => ({ ...s, draining: false })));
    const current = await readConfigFile(this.deps.config.haproxyConfig);
    const running = (await this.deps.haproxy.runningPid()) !== undefined;
    if (running && current === text) return { action: 'none' };
    return this.writeAndRestart(text, current, running, running ? 'the rendered config changed' : 'haproxy was not running');
  }

  /** Validated write, then start (HAProxy down) or graceful reload; the file goes back if that fails. */
  private async writeAndRestart(text: string, current: string | undefined, running: boolean, reason: string): Promise<AppliedChanges> {
    const { config, haproxy } = this.deps;
    await writeConfigAtomically(config.haproxyConfig, text, (temp) => haproxy.validate(temp));
    try {
      if (!running) {
        await haproxy.start();
        return { action: 'started', reason };
      }
      await haproxy.reload();
      return { action: 'reloaded', reason };
    } catch (e) {
      // Keep the file on disk equal to what runs: put the previous config back.
      if (current !== undefined && running) await writeConfigAtomically(config.haproxyConfig, current, async () => {});
      throw e;
    }
  }

  /** APPLY_MODE=runtime: membership through the admin socket; a reload only when nothing else can. */
  private async applyRuntime(servers: Server[]): Promise<AppliedChanges> {
    const { config, haproxy } = this.deps;
    const busyElsewhere = config.busyCheck ? await findBusyServers(servers, config.busyCheck, this.deps.logger) : new Set<string>();
    const running = (await haproxy.runningPid()) !== undefined;
    const current = await readConfigFile(config.haproxyConfig);

    if (!running) {
      const plan = this.plan(servers, [], new Map(), busyElsewhere);
      return { ...(await this.writeAndRestart(await this.renderText(plan.configServers), current, false, 'haproxy was not running')), ...planSummary(plan) };
    }

    const { api, before } = await this.currentWorker();
    const plan = this.plan(servers, before, await this.oldWorkerSessions(), busyElsewhere);

    // The Runtime API changes servers only: anything else that differs needs a reload.
    const reason =
      current !== (await this.renderText(renderedFromRuntime(before)))
        ? 'the template, settings or file on disk differ from what runs'
        : plan.conflicts.length > 0
          ? `servers changed address: ${plan.conflicts.join(', ')}`
          : undefined;
    if (reason !== undefined) {
      // The new worker starts with every count at 0: a Server busy now starts held until its stream ends.
      const text = await this.renderText(holdBusyForReload(plan.configServers, before));
      return { ...(await this.writeAndRestart(text, current, true, reason)), ...planSummary(plan) };
    }

    if (isEmptyPlan(plan)) return { action: 'none', ...planSummary(plan) };
    const changes = await this.executePlan(api, plan, before);
    // The file follows what now runs, read back: a refused step leaves file and HAProxy in agreement.
    const after = await api.servers(RTMP_BACKEND);
    const text = await this.renderText(renderedFromRuntime(after));
    if (text !== current) await (await stageConfig(config.haproxyConfig, text, (temp) => haproxy.validate(temp))).commit();
    return { action: 'runtime', changes, ...planSummary(plan) };
  }

  private plan(desired: Server[], running: RuntimeServer[], sessionsInOldWorkers: Map<string, number>, busyElsewhere: Set<string>): MembershipPlan {
    const now = this.now();
    const timeout = this.deps.config.serverDrainTimeoutSeconds;
    const plan = planMembership({
      desired,
      running,
      sessionsInOldWorkers,
      busyElsewhere,
      drainingSince: this.drainingSince,
      now,
      ...(timeout !== undefined && { drainTimeoutMs: timeout * 1000 }),
    });
    for (const name of plan.draining) if (!this.drainingSince.has(name)) this.drainingSince.set(name, now);
    for (const name of this.drainingSince.keys()) if (!plan.draining.includes(name)) this.drainingSince.delete(name);
    return plan;
  }

  /**
   * The current worker's Runtime API and backend. Through the admin socket; when that does not answer
   * (its file deleted, say: a reload would not bring it back, the new worker inherits the listening
   * socket), through the master CLI, which reaches the same worker.
   */
  private async currentWorker(): Promise<{ api: RuntimeApi; before: RuntimeServer[] }> {
    const { config, haproxy, logger } = this.deps;
    try {
      return { api: this.runtime, before: await this.runtime.servers(RTMP_BACKEND) };
    } catch (e) {
      const [pid] = (await haproxy.masterStatus()).workerPids;
      if (pid === undefined) throw e;
      const api = RuntimeApi.viaMaster(config.haproxyMasterSocket, pid);
      const before = await api.servers(RTMP_BACKEND);
      logger.warn({ socket: config.haproxySocket, err: (e as Error).message, worker: pid }, 'the admin socket does not answer: using the master CLI');
      return { api, before };
    }
  }

  /** The backend as HAProxy runs it now, with every stream on each Server (old workers' included). */
  async backendState(): Promise<BackendServer[]> {
    const { before } = await this.currentWorker();
    const old = await this.oldWorkerSessions();
    const taskArns = new Map(this.applied.flatMap((s) => (s.taskArn ? [[s.name, s.taskArn] as const] : [])));
    return before.map((r) => {
      const taskArn = taskArns.get(r.name);
      return {
        name: r.name,
        address: r.address,
        port: r.port,
        ...(taskArn && { taskArn }),
        streams: r.sessions + (old.get(r.name) ?? 0),
        maintenance: r.maintenance,
        status: r.status,
      };
    });
  }

  /** Streams that workers left by earlier reloads still carry, by server name (via the master CLI). */
  private async oldWorkerSessions(): Promise<Map<string, number>> {
    const sessions = new Map<string, number>();
    const { oldWorkerPids } = await this.deps.haproxy.masterStatus();
    for (const pid of oldWorkerPids) {
      let servers: RuntimeServer[];
      try {
        servers = await RuntimeApi.viaMaster(this.deps.config.haproxyMasterSocket, pid).servers(RTMP_BACKEND);
      } catch (e) {
        this.deps.logger.debug({ pid, err: (e as Error).message }, 'old worker did not answer (it may just have exited)');
        continue;
      }
      for (const s of servers) if (s.sessions > 0) sessions.set(s.name, (sessions.get(s.name) ?? 0) + s.sessions);
    }
    return sessions;
  }

  /** Drains and holds, then adds and enables, then cuts and deletes. A refused step is logged and retried next tick. */
  private async executePlan(api: RuntimeApi, plan: MembershipPlan, running: readonly RuntimeServer[]): Promise<NonNullable<AppliedChanges['changes']>> {
    const { logger } = this.deps;
    const done = { added: [] as string[], enabled: [] as string[], disabled: [] as string[], deleted: [] as string[], cut: [] as string[] };
    const addressOf = new Map([...running, ...plan.configServers].map((s) => [s.name, formatAddress(s.address, s.port)]));
    const step = async (what: string, name: string, fn: () => Promise<void>, into: string[], why?: string) => {
      try {
        await fn();
        into.push(name);
        logger.info({ server: name, address: addressOf.get(name), ...(why && { reason: why }) }, `server ${what}`);
      } catch (e) {
        logger.warn({ server: name, err: (e as Error).message }, `server not ${what}; retrying next sync`);
      }
    };
    // Disables first: a Server leaving or held must take no new stream before anything else becomes
    // routable (the capacity gap lasts a few socket round trips).
    for (const { name, reason } of plan.disable) {
      await step(reason === 'removed' ? 'drained' : 'held', name, () => api.disableServer(RTMP_BACKEND, name), done.disabled, reason);
    }
    const options = renderSettingsFrom(this.deps.config).serverOptions;
    for (const { server, enable } of plan.add) {
      await step('added', server.name, () => api.addServer(RTMP_BACKEND, server, { enable, options }), done.added, enable ? undefined : 'held');
    }
    for (const name of plan.enable) await step('enabled', name, () => api.enableServer(RTMP_BACKEND, name), done.enabled);
    for (const name of plan.cut) {
      await step('cut', name, () => api.shutdownSessions(RTMP_BACKEND, name), done.cut, 'drain outlived SERVER_DRAIN_TIMEOUT');
    }
    for (const name of plan.delete) await step('deleted', name, () => api.deleteServer(RTMP_BACKEND, name), done.deleted);
    return done;
  }
}

function planSummary(plan: MembershipPlan): Pick<AppliedChanges, 'draining' | 'held'> {
  return { draining: plan.draining, held: plan.held };
}
