import { setTimeout as delay } from 'node:timers/promises';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { formatAddress, PEER_BACKEND, RTMP_BACKEND, RTMP_FRONTEND, type HealthState, type RuntimeChanges, type RuntimeServer } from '../model.js';
import type { MembershipPlan } from '../core/plan.js';
import type { HaproxySnapshot } from '../core/reconcile.js';
import { afterEventStep, afterSyncSteps, type AppliedEventStep, type EventStep, type KnownBackend } from '../core/event-step.js';
import { ConfigFileWriter, readConfigFile, writeConfigAtomically } from './config-file.js';
import { ensureHealthMap, setHealthState } from './health-state.js';
import { HaproxyProcess, type MasterStatus } from './process.js';
import { CliSession } from './cli-session.js';
import { RuntimeApi, type SessionInfo } from './runtime-api.js';

export interface BackendSnapshot {
  servers: RuntimeServer[];
  sessionsInOldWorkers: ReadonlyMap<string, number>;
  peers?: RuntimeServer[];
}

/** What one worker told us: its servers (`show stat`) and sessions (`show sess`). */
export interface WorkerView {
  pid: number | undefined;
  servers: RuntimeServer[];
  sessions: SessionInfo[];
  /** With several Proxies: the peer Proxies (bk_peers). */
  peers?: RuntimeServer[];
}

/** Every worker, for `rtmp-proxy status`; what did not answer is said, not thrown. */
export interface WorkersView {
  masterPid: number | undefined;
  master: MasterStatus | undefined;
  masterError: string | undefined;
  adminError: string | undefined;
  current: WorkerView | undefined;
  old: WorkerView[];
  unreachableWorkers: number[];
}

export interface EventStepOptions {
  serverOptions: string;
  /** The config file for what runs. */
  fileFor: (known: KnownBackend) => string;
  /** A claim: true when the peers, asked after it, confirm that none holds the Server. */
  confirmClaim?: (name: string) => Promise<boolean>;
}

/** What the Syncer needs from HAProxy: the seam its tests replace. */
export interface HaproxyClient {
  /**
   * Runs `fn` with no ECS task event step in between (they wait): a sync reads, decides and applies
   * under it, so what it read is what runs when it acts, and the file it writes follows that.
   */
  exclusively<T>(fn: () => Promise<T>): Promise<T>;
  /** The file and what runs; under `exclusively`, also what event steps go by until the next change. */
  snapshot(): Promise<HaproxySnapshot>;
  /**
   * The same, read without the lock (a scheduled sync, which mostly changes nothing). `stillCurrent()`
   * is true while nothing changed HAProxy since the read began (no event step, no sync's change), and
   * then makes this read what event steps go by, as a snapshot under the lock does. `knownSince()`
   * (when the read does not stand): what runs without reading it again, when only event steps changed
   * HAProxy since the read began (what was known before it, with those steps), and `stillKnown()`,
   * true while nothing changed HAProxy since (no event step, sync or read); undefined otherwise.
   */
  peek(): Promise<Look>;
  /**
   * Applies a membership plan to a backend (bk_rtmp by default) step by step; a refused step is logged
   * and left for the next sync. `neverRoutable` (read before each step): Servers ECS is stopping,
   * never added enabled, enabled or claimed, whatever the plan made before their event said.
   */
  applySteps(plan: MembershipPlan, serverOptions: string, backend?: string, neverRoutable?: ReadonlySet<string>, before?: KnownBackend): Promise<RuntimeChanges>;
  /** Settles claims (core/ownership.ts): these Servers back in rotation, those back to maintenance. */
  settleClaims(enable: readonly string[], release: readonly string[], neverRoutable?: ReadonlySet<string>): Promise<void>;
  /**
   * An ECS task event's step (core/event-step.ts) at once, outside the sync, planned by `plan` from
   * what is known to run; then the config file, rendered by `fileFor`, is written in the background.
   */
  applyEventStep(plan: (known: KnownBackend | undefined) => EventStep, opts: EventStepOptions): Promise<AppliedEventStep>;
  /** The current worker's backend now, the streams old workers carry, and the peer backend when several Proxies run. */
  backend(): Promise<BackendSnapshot>;
  /** The same, read back after a sync's change (under `exclusively`): what event steps go by from now. */
  readBack(): Promise<BackendSnapshot>;
  /**
   * What event steps go by: the last read plus the steps since; undefined when what runs must be read
   * (a sync changed it and could not tell what it made of it). After `applySteps` given `before`, what
   * the steps made of it, when HAProxy accepted every one.
   */
  knownBackend(): KnownBackend | undefined;
  /** Replaces the config file once `haproxy -c` accepts the text; HAProxy is not touched. */
  writeConfig(text: string): Promise<void>;
  /**
   * The same, in the background (after a change already live through the Runtime API): the newest
   * text wins, snapshots see it at once, and a start or reload waits for it. Given as a render, it is
   * rendered only if it is still the newest when its turn comes (or a snapshot reads it first).
   */
  writeConfigSoon(text: string | (() => string)): void;
  /** Resolves once no background write is pending. */
  configWritten(): Promise<void>;
  /** Validated write, then start (not running) or graceful reload; the previous file goes back if that fails. */
  install(text: string, previous: string | undefined, how: 'start' | 'reload'): Promise<void>;
  /** Starts HAProxy with the config on disk when it is not running: true when it did. */
  startWithLastConfig(): Promise<boolean>;
  setHealth(state: HealthState): Promise<void>;
}

/** What runs, without the config file's text (0.45 MB at 5,000 Servers, read again when needed). */
function knownOf({ servers, sessionsInOldWorkers, peers }: BackendSnapshot): KnownBackend {
  return { servers, sessionsInOldWorkers, ...(peers && { peers }) };
}

/** A sync's steps of one kind sent together at most (the kept session pipelines them; a one-shot connection each without it). */
const STEPS_AT_ONCE = 16;

/** A read of HAProxy without the lock, and what can be built on it later (`HaproxyClient.peek`). */
export interface Look {
  snapshot: HaproxySnapshot;
  stillCurrent(): boolean;
  knownSince(): Promise<{ snapshot: HaproxySnapshot; stillKnown(): boolean } | undefined>;
}

/**
 * The one way into a running HAProxy: the process (master CLI), the current worker (admin socket,
 * or the master CLI when that socket does not answer), the old workers (master CLI), the config file
 * and the health map. Thin: it reads and does what it is told; the decisions are in src/core.
 */
export class HaproxyDriver implements HaproxyClient {
  private readonly admin: RuntimeApi;
  /** The admin socket's changes go through one kept connection; closed before every start and reload. */
  private readonly session: CliSession;
  /** The way to the current worker that answered last: the admin socket, or the master CLI. */
  private worker: RuntimeApi;
  private readonly configFile: ConfigFileWriter;
  /** What the current worker runs as a sync last read it, with the event steps since; undefined once a sync changed it, until its read-back. */
  private known: KnownBackend | undefined;
  /** Counts the times `known` was replaced or dropped other than by an event step: what a look can build on. */
  private knownLineage = 0;
  /** Counts changes to what runs (a sync's, an event step's), at their start and end: a read without the lock stands only if it did not move. */
  private changeCount = 0;
  /** The tail of `exclusively`'s queue. */
  private lock: Promise<unknown> = Promise.resolve();
  /** Changes holding or waiting for the lock. */
  private lockUsers = 0;

  constructor(
    readonly process: HaproxyProcess,
    private readonly opts: { configPath: string; adminSocket: string; masterSocket: string; healthMap: string; logger: Logger; timeoutMs?: number; peering?: boolean },
  ) {
    this.session = new CliSession(opts.adminSocket, opts.timeoutMs);
    this.admin = new RuntimeApi(opts.adminSocket, '', opts.timeoutMs, this.session);
    this.worker = this.admin;
    this.configFile = new ConfigFileWriter(
      opts.configPath,
      async (text) => {
        await ensureHealthMap(opts.healthMap);
        await writeConfigAtomically(opts.configPath, text, (temp) => this.process.validate(temp));
      },
      (e) => opts.logger.error({ err: e.message }, 'config file not rendered or not updated (the change is live in HAProxy); the next sync writes it'),
      // A background render of thousands of Servers takes ms of the one thread: after the changes waiting.
      () => this.lockIdle(),
    );
  }

  static fromConfig(config: Config, logger: Logger, opts: { timeoutMs?: number } = {}): HaproxyDriver {
    const process = new HaproxyProcess({
      bin: config.haproxyBin,
      configPath: config.haproxyConfig,
      pidfile: config.haproxyPidfile,
      masterSocket: config.haproxyMasterSocket,
      logger,
      ...(opts.timeoutMs !== undefined && { timeoutMs: opts.timeoutMs }),
      listeners: [
        { variable: 'RTMP_PORT', address: config.bindAddress, port: config.rtmpPort },
        { variable: 'HEALTH_PORT', address: config.bindAddress, port: config.healthPort },
        ...(config.haproxyMetricsPort !== undefined ? [{ variable: 'HAPROXY_METRICS_PORT', address: config.bindAddress, port: config.haproxyMetricsPort }] : []),
        ...(config.rtmps?.certFile !== undefined ? [{ variable: 'RTMPS_PORT', address: config.bindAddress, port: config.rtmps.port }] : []),
        ...(config.peering
          ? [
              { variable: 'PEER_PORT', address: config.bindAddress, port: config.peering.peerPort },
              { variable: 'PEER_API_PORT', address: config.bindAddress, port: config.peering.peerApiPort },
            ]
          : []),
      ],
    });
    return new HaproxyDriver(process, {
      configPath: config.haproxyConfig,
      adminSocket: config.haproxySocket,
      masterSocket: config.haproxyMasterSocket,
      healthMap: config.haproxyHealthMap,
      logger,
      peering: config.peering !== undefined,
      ...(opts.timeoutMs !== undefined && { timeoutMs: opts.timeoutMs }),
    });
  }

  /**
   * Lets go of the worker's kept CLI connection, which would keep it alive through a soft stop: before
   * HAProxy is stopped gracefully, and when the daemon stops. A later change opens another.
   */
  closeSession(): void {
    this.session.close();
  }

  async isRunning(): Promise<boolean> {
    return (await this.process.runningPid()) !== undefined;
  }

  exclusively<T>(fn: () => Promise<T>): Promise<T> {
    this.lockUsers++;
    const run = this.lock.then(fn, fn);
    const done = () => void this.lockUsers--;
    run.then(done, done);
    this.lock = run.catch(() => undefined);
    return run;
  }

  /**
   * Resolves once no change holds or waits for the lock. Bounded in turns, so that a steady stream of
   * changes holds the file back only so long (nothing under the lock waits for a background write: a
   * direct write lets the one before it go).
   */
  private async lockIdle(): Promise<void> {
    for (let turn = 0; turn < 100 && this.lockUsers > 0; turn++) await this.lock;
  }

  async snapshot(): Promise<HaproxySnapshot> {
    this.forgetKnown();
    const read = await this.whatRuns();
    if (read.running) this.known = knownOf(read);
    return read;
  }

  /** The file (a background write still pending: the file as it is about to be) and what runs. */
  private async whatRuns(): Promise<HaproxySnapshot> {
    const file = await this.configFile.read();
    if (!(await this.isRunning())) return { running: false, file, servers: [], sessionsInOldWorkers: new Map() };
    return { running: true, file, ...(await this.backend()) };
  }

  /** The backend and the streams old workers carry: what the metrics and task protection read. */
  async backend(): Promise<BackendSnapshot> {
    const { api, servers } = await this.currentWorker();
    const sessionsInOldWorkers = await this.sessionsInOldWorkers();
    return { servers, sessionsInOldWorkers, ...(this.opts.peering && { peers: await api.servers(PEER_BACKEND) }) };
  }

  async peek(): Promise<Look> {
    const at = this.changeCount;
    const lineage = this.knownLineage;
    const read = await this.whatRuns();
    return {
      snapshot: read,
      stillCurrent: () => {
        if (!read.running || this.changeCount !== at) return false;
        this.forgetKnown();
        this.known = knownOf(read);
        return true;
      },
      knownSince: async () => {
        const basis = this.known;
        if (!read.running || this.knownLineage !== lineage || basis === undefined) return undefined;
        const { servers, sessionsInOldWorkers, peers } = basis;
        const snapshot: HaproxySnapshot = { running: true, file: await this.configFile.read(), servers: [...servers], sessionsInOldWorkers, ...(peers && { peers: [...peers] }) };
        // Every change to what runs replaces `known` (an event step with what it made, anything else with undefined or a read).
        return { snapshot, stillKnown: () => this.known === basis };
      },
    };
  }

  /** What is known is dropped (to be read, or replaced by a read): a look from before cannot build on it. */
  private forgetKnown(): void {
    this.known = undefined;
    this.knownLineage++;
  }

  async readBack(): Promise<BackendSnapshot> {
    this.forgetKnown();
    const read = await this.backend();
    this.known = read;
    return read;
  }

  knownBackend(): KnownBackend | undefined {
    return this.known;
  }

  /** A sync's change: what runs is unknown from now until it is read back (or computed from its steps). */
  private changing<T>(fn: () => Promise<T>): Promise<T> {
    this.forgetKnown();
    return this.counted(fn);
  }

  /** A change to what runs, counted as it starts and as it ends (a read that overlapped it does not stand). */
  private async counted<T>(fn: () => Promise<T>): Promise<T> {
    this.changeCount++;
    try {
      return await fn();
    } finally {
      this.changeCount++;
    }
  }

  /** Connections ft_rtmp refused: per-source limits (connection rules) and the handshake gate (content rules). */
  async frontendRefusals(): Promise<{ perSource: number; handshake: number }> {
    const { api } = await this.currentWorker();
    const { connections, requests } = await api.frontendRefusals(RTMP_FRONTEND);
    return { perSource: connections, handshake: requests };
  }

  /** Per source address, the connections refused by its limits since its entry in the stick table was made. */
  async sourceRefusals(): Promise<Map<string, number>> {
    const { api } = await this.currentWorker();
    return api.stickTableCounts(RTMP_FRONTEND, 'gpc0');
  }

  /** The RTMP backend's queue and failed connections (capacity metrics). */
  async backendCounters(): Promise<{ queued: number; failedConnections: number }> {
    const { api } = await this.currentWorker();
    return api.backendCounters(RTMP_BACKEND);
  }

  /**
   * The current worker's backend, through the admin socket; when that does not answer (its file
   * deleted, say: a reload would not bring it back, the new worker inherits the listening socket),
   * through the master CLI, which reaches the same worker. Later commands go the way that answered.
   */
  private async currentWorker(): Promise<{ api: RuntimeApi; servers: RuntimeServer[] }> {
    try {
      const servers = await this.admin.servers(RTMP_BACKEND);
      this.worker = this.admin;
      return { api: this.admin, servers };
    } catch (e) {
      const pids = (await this.process.masterStatus()).workerPids;
      const pid = pids[pids.length - 1];
      if (pid === undefined) throw e;
      const api = this.viaMaster(pid);
      const servers = await api.servers(RTMP_BACKEND);
      this.opts.logger.warn({ socket: this.opts.adminSocket, err: (e as Error).message, worker: pid }, 'the admin socket does not answer: using the master CLI');
      this.worker = api;
      return { api, servers };
    }
  }

  private viaMaster(pid: number): RuntimeApi {
    return RuntimeApi.viaMaster(this.opts.masterSocket, pid, this.opts.timeoutMs);
  }

  private async sessionsInOldWorkers(): Promise<Map<string, number>> {
    const sessions = new Map<string, number>();
    for (const pid of (await this.process.masterStatus()).oldWorkerPids) {
      let servers: RuntimeServer[];
      try {
        servers = await this.viaMaster(pid).servers(RTMP_BACKEND);
      } catch (e) {
        this.opts.logger.debug({ pid, err: (e as Error).message }, 'old worker did not answer (it may just have exited)');
        continue;
      }
      for (const s of servers) if (s.sessions > 0) sessions.set(s.name, (sessions.get(s.name) ?? 0) + s.sessions);
    }
    return sessions;
  }

  /** Every worker with its servers and sessions; never throws for a socket that does not answer. */
  async workers(): Promise<WorkersView> {
    const masterPid = await this.process.runningPid();
    let master: MasterStatus | undefined;
    let masterError: string | undefined;
    try {
      master = await this.process.masterStatus();
    } catch (e) {
      masterError = `HAPROXY_MASTER_SOCKET=${this.opts.masterSocket}: ${(e as Error).message}`;
    }
    const newest = master?.workerPids[master.workerPids.length - 1];
    const view = async (api: RuntimeApi, pid: number | undefined): Promise<WorkerView> => ({
      pid,
      servers: await api.servers(RTMP_BACKEND),
      sessions: await api.sessions(),
      ...(this.opts.peering && { peers: await api.servers(PEER_BACKEND) }),
    });
    let current: WorkerView | undefined;
    let adminError: string | undefined;
    try {
      current = await view(this.admin, newest);
    } catch (e) {
      adminError = (e as Error).message;
      if (newest !== undefined) {
        current = await view(this.viaMaster(newest), newest).catch((e2: Error) => {
          masterError ??= `HAPROXY_MASTER_SOCKET=${this.opts.masterSocket}: ${e2.message}`;
          return undefined;
        });
      }
    }
    const old: WorkerView[] = [];
    const unreachableWorkers: number[] = [];
    for (const pid of master?.oldWorkerPids ?? []) {
      // An old worker may finish its last stream and exit between `show proc` and this.
      await view(this.viaMaster(pid), pid).then((w) => old.push(w), () => unreachableWorkers.push(pid));
    }
    return { masterPid, master, masterError, adminError, current, old, unreachableWorkers };
  }

  /**
   * Through the way to the current worker the snapshot before it found. With `before` (what the sync
   * decided on, bk_rtmp), what the steps made of it becomes what event steps go by, unread.
   */
  applySteps(plan: MembershipPlan, serverOptions: string, backend: string = RTMP_BACKEND, neverRoutable: ReadonlySet<string> = new Set(), before?: KnownBackend): Promise<RuntimeChanges> {
    return this.changing(() => this.stepsOf(plan, serverOptions, backend, neverRoutable, before));
  }

  private async stepsOf(plan: MembershipPlan, serverOptions: string, backend: string, neverRoutable: ReadonlySet<string>, before?: KnownBackend): Promise<RuntimeChanges> {
    const api = this.worker;
    const done: RuntimeChanges = { added: [], enabled: [], claimed: [], disabled: [], deleted: [], cut: [] };
    // As each step found it (neverRoutable changes as stop events arrive): what the steps made of `before`.
    const addedInRotation = new Set<string>();
    const notEnabled = new Set<string>();
    const addressOf = new Map(plan.configServers.map((s) => [s.name, formatAddress(s.address, s.port)]));
    type Step = { name: string; what: string; run: () => Promise<void>; why?: string | undefined };
    /**
     * One kind of step for many Servers, independent of each other: sent together (pipelined on the
     * kept session, STEPS_AT_ONCE at a time), so the lock is held for a round trip, not one per Server.
     * Those HAProxy accepted go `into` in plan order.
     */
    const phase = async (steps: Step[], into: string[]) => {
      for (let i = 0; i < steps.length; i += STEPS_AT_ONCE) {
        const chunk = steps.slice(i, i + STEPS_AT_ONCE);
        const accepted = await Promise.all(chunk.map((s) => this.step(s.what, s.name, s.run, { address: addressOf.get(s.name), ...(s.why && { reason: s.why }) })));
        chunk.forEach((s, k) => accepted[k] && into.push(s.name));
      }
    };
    // Each kind after the one before it. Disables first: a Server leaving or held must take no new
    // stream before anything else becomes routable (the capacity gap lasts a few socket round trips).
    await phase(
      plan.disable.map(({ name, reason }) => ({ name, what: reason === 'removed' ? 'drained' : 'held', run: () => api.disableServer(backend, name), why: reason })),
      done.disabled,
    );
    await phase(
      plan.add.map(({ server, enable }) => {
        const routable = enable && !neverRoutable.has(server.name);
        if (routable) addedInRotation.add(server.name);
        return { name: server.name, what: 'added', run: () => api.addServer(backend, server, { enable: routable, options: serverOptions }), why: routable ? undefined : enable ? 'stopping' : 'held' };
      }),
      done.added,
    );
    for (const name of plan.enable) if (neverRoutable.has(name)) notEnabled.add(name);
    await phase(plan.enable.filter((name) => !notEnabled.has(name)).map((name) => ({ name, what: 'enabled', run: () => api.enableServer(backend, name) })), done.enabled);
    await phase(plan.claim.filter((name) => !neverRoutable.has(name)).map((name) => ({ name, what: 'claimed', run: () => api.claimServer(backend, name) })), done.claimed);
    await phase(plan.cut.map((name) => ({ name, what: 'cut', run: () => api.shutdownSessions(backend, name), why: 'drain outlived SERVER_DRAIN_TIMEOUT' })), done.cut);
    await phase(plan.delete.map((name) => ({ name, what: 'deleted', run: () => api.deleteServer(backend, name) })), done.deleted);
    if (before && backend === RTMP_BACKEND) this.known = afterSyncSteps(before, plan, done, addedInRotation, notEnabled);
    return done;
  }

  settleClaims(enable: readonly string[], release: readonly string[], neverRoutable: ReadonlySet<string> = new Set()): Promise<void> {
    return this.changing(async () => {
      // Releases first, like disables before enables in applySteps; a Server ECS began stopping meanwhile is released too.
      for (const name of [...release, ...enable.filter((n) => neverRoutable.has(n))]) {
        await this.step('released', name, () => this.worker.disableServer(RTMP_BACKEND, name), { reason: release.includes(name) ? 'a peer holds it too' : 'stopping' });
      }
      for (const name of enable) {
        if (!neverRoutable.has(name)) await this.step('enabled', name, () => this.worker.enableServer(RTMP_BACKEND, name), { reason: 'no peer holds it' });
      }
    });
  }

  /** `plan` decides from what is known when the lock is free (a sync may have changed it meanwhile). */
  applyEventStep(plan: (known: KnownBackend | undefined) => EventStep, opts: EventStepOptions): Promise<AppliedEventStep> {
    return this.exclusively(async () => {
      const step = plan(this.known);
      const before = this.known;
      if (step.kind === 'none' || before === undefined) return { ...step, settled: false };
      return this.counted(() => this.eventStep(step, before, opts));
    });
  }

  /** An event step's commands, under the lock, from what is known to run (`before`). */
  private async eventStep(step: Exclude<EventStep, { kind: 'none' }>, before: KnownBackend, opts: EventStepOptions): Promise<AppliedEventStep> {
    const api = this.worker;
    let done: boolean;
    let routable = true;
    if (step.kind === 'drain') {
      done = await this.step('drained', step.name, () => api.disableServer(RTMP_BACKEND, step.name), { reason: 'stopping' });
    } else if (step.kind === 'add') {
      done = await this.step('added', step.server.name, () => api.addServer(RTMP_BACKEND, step.server, { enable: true, options: opts.serverOptions }), { address: formatAddress(step.server.address, step.server.port) });
    } else {
      // Claimed (visible to the peers, taking nothing), then asked: enabled only where no peer holds it.
      const { name } = step.server;
      const claim = async () => {
        await api.addServer(RTMP_BACKEND, step.server, { enable: false, options: opts.serverOptions });
        await api.claimServer(RTMP_BACKEND, name);
      };
      done = await this.step('claimed', name, claim, { address: formatAddress(step.server.address, step.server.port) });
      if (done) {
        routable = (await opts.confirmClaim?.(name).catch(() => false)) ?? false;
        done = routable
          ? await this.step('enabled', name, () => api.enableServer(RTMP_BACKEND, name), { reason: 'no peer holds it' })
          : await this.step('released', name, () => api.disableServer(RTMP_BACKEND, name), { reason: 'a peer holds it too, or did not answer' });
      }
    }
    if (!done) {
      this.forgetKnown(); // refused: what runs is not what was thought; the next sync reads it
      return { ...step, settled: false };
    }
    const known = afterEventStep(before, step, routable);
    this.known = known;
    // The file follows, rendered, written and checked in the background, after the lock: steps that
    // come together (a deployment's events) cost one render of thousands of Servers, not one each.
    // The next snapshot reads this text.
    this.writeConfigSoon(() => opts.fileFor(known));
    // A released claim: a sync asks the peers again.
    return { ...step, settled: routable };
  }

  /** One Runtime API step, logged; a refused one is a warning, left for the next sync. True when it was applied. */
  private async step(what: string, name: string, fn: () => Promise<void>, fields: Record<string, unknown>): Promise<boolean> {
    try {
      await fn();
      this.opts.logger.info({ server: name, ...fields }, `server ${what}`);
      return true;
    } catch (e) {
      this.opts.logger.warn({ server: name, err: (e as Error).message }, `server not ${what}; retrying next sync`);
      return false;
    }
  }

  /** Shutdown: every Server out of rotation at once (live streams go on), so peers take them over. */
  disableAll(): Promise<void> {
    return this.changing(async () => {
      const { api, servers } = await this.currentWorker();
      for (const s of servers) if (!s.maintenance) await api.disableServer(RTMP_BACKEND, s.name).catch(() => undefined);
    });
  }

  writeConfig(text: string): Promise<void> {
    return this.configFile.write(text);
  }

  writeConfigSoon(text: string | (() => string)): void {
    this.configFile.writeSoon(text);
  }

  configWritten(): Promise<void> {
    return this.configFile.written();
  }

  install(text: string, previous: string | undefined, how: 'start' | 'reload'): Promise<void> {
    return this.changing(() => this.installNow(text, previous, how));
  }

  private async installNow(text: string, previous: string | undefined, how: 'start' | 'reload'): Promise<void> {
    await this.configFile.write(text);
    // The session's worker is about to be an old one: the next change connects to the new one.
    this.session.close();
    try {
      if (how === 'start') await this.process.start();
      else await this.process.reload();
    } catch (e) {
      // Keep the file on disk equal to what runs: put the previous config back.
      if (previous !== undefined && how === 'reload') await writeConfigAtomically(this.opts.configPath, previous, async () => {});
      throw e;
    }
  }

  startWithLastConfig(): Promise<boolean> {
    return this.changing(() => this.startWithFileOnDisk());
  }

  private async startWithFileOnDisk(): Promise<boolean> {
    await this.configFile.written();
    if ((await this.isRunning()) || (await readConfigFile(this.opts.configPath)) === undefined) return false;
    await ensureHealthMap(this.opts.healthMap);
    await this.process.validate(this.opts.configPath);
    this.session.close();
    await this.process.start();
    return true;
  }

  /** What the health page answers from now on; the map file too, so a restart keeps it. */
  async setHealth(state: HealthState): Promise<void> {
    if (!(await this.isRunning())) {
      await ensureHealthMap(this.opts.healthMap, state);
      return;
    }
    await setHealthState((await this.currentWorker()).api, this.opts.healthMap, state);
  }

  /** Streams still flowing (current worker plus old ones) once they all ended or the deadline passed. */
  async waitForStreamsToEnd(deadline: number): Promise<number> {
    for (let polls = 0; ; polls++) {
      let live: number;
      try {
        const { oldWorkerPids } = await this.process.masterStatus();
        live = (await this.worker.frontendSessions(RTMP_FRONTEND)) + oldWorkerPids.length;
      } catch {
        return 0; // HAProxy is not answering: nothing left to wait for
      }
      if (live === 0 || Date.now() >= deadline || polls > 100_000) return live;
      await delay(Math.min(500, Math.max(1, deadline - Date.now())));
    }
  }
}
