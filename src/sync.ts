import type { Config } from './config.js';
import {
  adoptDrains,
  afterFailure,
  afterSuccess,
  backoffRemaining,
  decide,
  diffNames,
  fileAfterSteps,
  fileOf,
  guardFleet,
  healthToSet,
  INITIAL_SYNC_STATE,
  type DecideInput,
  type Decision,
  type HaproxySnapshot,
  type SyncState,
} from './core/reconcile.js';
import { planEventStep, withFleetChanges, type AppliedEventStep, type FleetChange } from './core/event-step.js';
import { forgetSettledPeers, peerServers, peersToAsk, settleClaims, type ProxyTask } from './core/ownership.js';
import { createProxyDiscovery, type ProxyDiscovery } from './discovery/proxies.js';
import type { Discovery } from './discovery/types.js';
import { findBusyServers } from './discovery/busy-check.js';
import { HaproxyDriver, type HaproxyClient, type Look } from './haproxy/driver.js';
import { ConfigValidationError } from './haproxy/process.js';
import { FailureLog, type Logger } from './log.js';
import { backendServers, PEER_BACKEND, type DropHeld, type HealthState, type RenderedServer, type RuntimeChanges, type Server, type SyncAction, type SyncOutcome, type SyncStage } from './model.js';
import { ConfigRenderer, renderSettingsFrom } from './render/template.js';

export interface SyncerDeps {
  config: Config;
  discovery: Discovery;
  haproxy: HaproxyClient;
  renderer: ConfigRenderer;
  logger: Logger;
  /** Asks the Servers' own status pages which stream through another Proxy (BUSY_CHECK_*). */
  busyCheck?: (servers: readonly Server[]) => Promise<Set<string>>;
  /** Several Proxies (PROXY_SERVICE): the others, and what their HAProxys route to. */
  proxies?: ProxyDiscovery;
  /** Clock, for drain timeouts and backoff. */
  now?: () => number;
  /** Jitter source in [0, 1), for backoff. */
  random?: () => number;
}

/** A failure tagged with the sync stage it belongs to. */
class StageError extends Error {
  constructor(
    readonly stage: SyncStage,
    readonly inner: unknown,
  ) {
    super((inner as Error)?.message ?? String(inner));
  }
}

/** Runs `fn`; what it throws belongs to `stage`. */
async function inStage<T>(stage: SyncStage, fn: () => Promise<T> | T): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw e instanceof StageError ? e : new StageError(stage, e);
  }
}

/**
 * The sync loop: discover → snapshot → decide (src/core/reconcile.ts) → apply → outcome. A failure at
 * any stage keeps what runs; only a complete, successful discovery changes the backend. Never runs
 * two syncs at once.
 */
export class Syncer {
  private state: SyncState = INITIAL_SYNC_STATE;
  private inFlight: Promise<SyncOutcome> | undefined;
  /** ECS task events' fleet changes, numbered: a sync patches the fleet it discovered with those that came after. */
  private eventChanges: Array<{ seq: number; change: FleetChange }> = [];
  private eventSeq = 0;
  /** Servers ECS is stopping (their event came): never made routable again, whatever a sync decided before it. */
  private readonly stopping = new Set<string>();
  /** Several Proxies: this one and the live ones as the last sync listed them (undefined: not known), for event steps. */
  private ownership: { self: string; proxies: readonly string[] } | undefined;
  private readonly failures: FailureLog;
  private readonly now: () => number;

  constructor(private readonly deps: SyncerDeps) {
    this.failures = new FailureLog(deps.logger);
    this.now = deps.now ?? Date.now;
  }

  get lastKnownGood(): readonly Server[] {
    return this.state.applied;
  }

  /**
   * Runs a sync, or joins the one already running. `deferConfigFile`: a runtime change is live once
   * HAProxy took it; the config file is then rewritten and validated in the background, so a change
   * that follows at once (ECS task events) does not wait for `haproxy -c`. `lookFirst` (scheduled
   * syncs, which mostly change nothing): HAProxy is read and the decision made without the lock, so an
   * event step never waits for them (BUSY_CHECK's pages, `show stat` of thousands of Servers). When
   * event steps changed HAProxy meanwhile, it decides again on what they made of it, still without the
   * lock; the lock is then held for the change alone. Only when more than event steps changed HAProxy,
   * or a reload is called for, is it read and decided again under the lock.
   */
  sync(opts: { deferConfigFile?: boolean; lookFirst?: boolean } = {}): Promise<SyncOutcome> {
    this.inFlight ??= this.runSync(opts.deferConfigFile ?? false, opts.lookFirst ?? false).finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  /**
   * An ECS task event's fleet change. Noted at once (a sync deciding now patches its fleet with it, and
   * a stopping Server is never made routable again), then applied at once when one Runtime API command
   * does it (core/event-step.ts), between syncs. The sync that follows the event does the rest.
   */
  async applyEvent(change: FleetChange): Promise<AppliedEventStep> {
    this.eventChanges.push({ seq: ++this.eventSeq, change });
    if (change.kind === 'removed') this.stopping.add(change.server.name);
    const { config, haproxy, renderer, logger } = this.deps;
    const { ownership } = this;
    const settings = { applyMode: config.applyMode, claims: config.peering !== undefined, busyCheck: this.deps.busyCheck !== undefined, ...(ownership && { ownership }) };
    const step = await haproxy.applyEventStep((known) => planEventStep(known, change, settings), {
      serverOptions: renderer.serverOptions,
      fileFor: (known) => fileOf(known, (servers, peers) => renderer.render(servers, peers)),
      ...(ownership && this.deps.proxies && { confirmClaim: (name: string) => this.confirmClaim(name, ownership.self) }),
    });
    if (step.kind === 'none') logger.debug({ server: change.server.name, change: change.kind, why: step.why }, 'ECS task event: left to the sync that follows');
    return step;
  }

  /** Resolves once no sync is running. */
  async whenIdle(): Promise<void> {
    await this.inFlight?.catch(() => undefined);
  }

  /** Shutdown: the health page answers 503 from now on (Route53 stops sending streamers here); no later sync turns it back. */
  async holdHealthDown(): Promise<void> {
    this.state = { ...this.state, healthHeldDown: true };
    await this.setHealth('down');
  }

  async setHealth(health: HealthState): Promise<void> {
    await this.deps.haproxy.setHealth(health);
    this.state = { ...this.state, health };
  }

  private async runSync(deferConfigFile: boolean, lookFirst: boolean): Promise<SyncOutcome> {
    const seqAtDiscovery = this.eventSeq;
    try {
      return await this.syncOnce(deferConfigFile, lookFirst, seqAtDiscovery);
    } finally {
      // What this sync's discovery already saw is in every later discovery too.
      this.eventChanges = this.eventChanges.filter((e) => e.seq > seqAtDiscovery);
    }
  }

  /** The fleet discovered, with the events' changes since `seq` and without the Servers ECS is stopping. */
  private fleetWithEvents(fleet: readonly Server[], seq: number): Server[] {
    const patched = withFleetChanges(fleet, this.eventChanges.filter((e) => e.seq > seq).map((e) => e.change));
    return this.stopping.size === 0 ? patched : patched.filter((server) => !this.stopping.has(server.name));
  }

  private async syncOnce(deferConfigFile: boolean, lookFirst: boolean, seqAtDiscovery: number): Promise<SyncOutcome> {
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    const { config, logger, haproxy, renderer } = this.deps;

    const wait = backoffRemaining(this.state, this.now());
    if (wait > 0) {
      logger.debug({ retryInMs: wait, consecutiveFailures: this.state.failures.count }, 'sync skipped: backing off after failures');
      await this.keepHaproxyRunning();
      const error = new Error(`discovery is backing off after ${this.state.failures.count} failed syncs; next try in ${wait} ms`);
      return { ok: false, stage: 'backoff', error, retryInMs: wait, consecutiveFailures: this.state.failures.count, durationMs: elapsed() };
    }

    let discovered: Server[];
    try {
      ({ servers: discovered } = await this.deps.discovery.discover());
    } catch (e) {
      await this.keepHaproxyRunning();
      return this.failed('discovery', e, elapsed());
    }

    // Assigned once a decision is taken below (the sync fails before they are read otherwise).
    let decision!: Decision;
    let fleet!: Server[];
    let changes: RuntimeChanges | undefined;
    let dropHeld: DropHeld | undefined;
    /** The backend as it stands after the change, when this sync read it already. */
    let after: Awaited<ReturnType<HaproxyClient['backend']>> | undefined;
    const render = (servers: readonly RenderedServer[], peers?: readonly RenderedServer[]) => {
      try {
        return renderer.render(servers, peers);
      } catch (e) {
        throw new StageError('render', e);
      }
    };
    try {
      await inStage('render', () => renderer.load());
      // The peers first, outside the lock: a slow or silent peer must not hold event steps up (their
      // answers are about the peers' HAProxys, not this one; a claim is confirmed by a read after it).
      const peering = await this.askPeers();
      const settings = { applyMode: config.applyMode, maxDropPercent: config.maxDropPercent, ...(config.serverDrainTimeoutSeconds !== undefined && { drainTimeoutMs: config.serverDrainTimeoutSeconds * 1000 }) };
      const busyCheck = config.applyMode === 'runtime' ? this.deps.busyCheck : undefined;
      /**
       * What runs → the decision, committing nothing (a look without the lock may be dropped): the
       * guarded fleet with the events' changes, BUSY_CHECK's answers, decided again with the events
       * that came meanwhile.
       */
      const decideOn = async (snapshot: HaproxySnapshot) => {
        const guarded = guardFleet(this.state, discovered, snapshot, settings);
        let seq = this.eventSeq;
        let decidedFleet = this.fleetWithEvents(guarded.fleet, seqAtDiscovery);
        const busyElsewhere = busyCheck ? await busyCheck(decidedFleet) : new Set<string>();
        // BUSY_CHECK asked about this fleet: a Server an event brings from now waits for the next sync's check.
        const checked = busyCheck && new Set(decidedFleet.map((s) => s.name));
        const decideFor = (servers: readonly Server[]) =>
          decide({ state: guarded.state, fleet: servers, snapshot, busyElsewhere, settings, now: this.now(), render, ...(peering && { peering: peering.input }) });
        let decided = decideFor(decidedFleet);
        // Events that came while this sync asked (under the lock their steps wait for it): decided again with them.
        for (let again = 0; again < 3 && seq !== this.eventSeq; again++) {
          seq = this.eventSeq;
          decidedFleet = this.fleetWithEvents(guarded.fleet, seqAtDiscovery).filter((s) => checked?.has(s.name) ?? true);
          decided = decideFor(decidedFleet);
        }
        return { drop: guarded.drop, fleet: decidedFleet, decision: decided };
      };
      /** A decision taken: its state kept, a sudden drop said. */
      const take = (made: Awaited<ReturnType<typeof decideOn>>) => {
        if (made.drop?.status === 'held') {
          dropHeld = { from: made.drop.from, to: made.drop.to, maxDropPercent: made.drop.maxDropPercent };
          logger.warn(dropHeld, `fleet dropped by more than MAX_DROP_PERCENT=${config.maxDropPercent}%: keeping the last known-good fleet until the next sync confirms it`);
        } else if (made.drop) logger.warn({ from: made.drop.from, to: made.drop.to }, 'sudden fleet drop confirmed by a second sync: applying it');
        // The health page is not the decision's: a shutdown that held it down meanwhile stands.
        this.state = { ...made.decision.state, health: this.state.health, healthHeldDown: this.state.healthHeldDown };
        decision = made.decision;
        fleet = made.fleet;
      };
      /** Servers ECS is stopping that HAProxy no longer has are forgotten. */
      const forgetGone = (snapshot: HaproxySnapshot) => {
        const present = new Set(snapshot.servers.map((s) => s.name));
        for (const name of this.stopping) if (!present.has(name)) this.stopping.delete(name);
      };
      /** A drain whose background file write failed is adopted under the lock: a look cannot decide on it. */
      const decidable = (snapshot: HaproxySnapshot) => snapshot.running && (this.stopping.size === 0 || adoptDrains(snapshot, this.stopping, render) === undefined);
      let taken = false;
      let look: Look | undefined;
      /**
       * A decision taken without the lock: what it was decided on (the look's read, or what event steps
       * made of it: sessions as last read), and `stands()`, true while no event came and nothing changed
       * HAProxy since, so that under the lock it is only applied.
       */
      let looked: { made: Awaited<ReturnType<typeof decideOn>>; snapshot: HaproxySnapshot; onKnown: boolean; stands(): boolean } | undefined;
      /** What event steps made of the look called for a reload: read under the lock, not decided on what is known. */
      let readFirst = false;
      if (lookFirst) {
        const read = await inStage('apply', () => haproxy.peek());
        const seq = this.eventSeq;
        if (decidable(read.snapshot)) {
          look = read;
          const made = await decideOn(read.snapshot);
          // Nothing to do, no event since, and nothing changed HAProxy since the read: that read stands.
          if (made.decision.change.kind === 'none' && seq === this.eventSeq && read.stillCurrent()) {
            forgetGone(read.snapshot);
            take(made);
            after = read.snapshot;
            taken = true;
          } else looked = { made, snapshot: read.snapshot, onKnown: false, stands: () => seq === this.eventSeq && read.stillCurrent() };
        }
        // Events overtook the look: decided again, still without the lock, on what their steps made of
        // it (when only they changed HAProxy since). A reload must hold every Server busy right now, and
        // what is known has sessions as last read: such a decision is read and taken under the lock.
        for (let again = 0; again < 3 && looked && !looked.stands(); again++) {
          const known = await read.knownSince();
          // Nothing to build on (more than event steps changed HAProxy since the look): read under the lock.
          if (known === undefined) look = undefined;
          const knownSeq = this.eventSeq;
          const made = known && decidable(known.snapshot) ? await decideOn(known.snapshot) : undefined;
          readFirst = made?.decision.change.kind === 'reload' || made?.decision.change.kind === 'start';
          looked = known && made && !readFirst ? { made, snapshot: known.snapshot, onKnown: true, stands: () => knownSeq === this.eventSeq && known.stillKnown() } : undefined;
        }
      }
      // From the read to the file, no event step in between (they wait): what was read is what runs.
      if (!taken) await haproxy.exclusively(async () => {
        // The file follows what runs: in the background after an event, else written before the sync ends.
        const writeFile = async (text: string) => (deferConfigFile ? haproxy.writeConfigSoon(text) : await inStage('apply', () => haproxy.writeConfig(text)));
        // The decision taken without the lock stands when nothing changed what it was decided on: the
        // lock is then held for the change alone, not for a second read and decision of thousands of Servers.
        const stands = looked !== undefined && looked.stands();
        // Else, when only event steps changed HAProxy since the look, what they made of it is known:
        // decided again on that, not on a second read of thousands of Servers under the lock.
        const known = stands || readFirst ? undefined : (await look?.knownSince())?.snapshot;
        let onKnown = stands ? looked!.onKnown : known !== undefined;
        let snapshot = stands ? looked!.snapshot : (known ?? (await inStage('apply', () => haproxy.snapshot())));
        const decideOnSnapshot = async () => {
          if (this.stopping.size > 0 && snapshot.running) {
            forgetGone(snapshot);
            // A drain whose background file write failed: the file adopts it rather than a reload
            // "repairing" a drifted file (a reload would cost maxconn 1 its guarantee).
            const text = adoptDrains(snapshot, this.stopping, render);
            if (text !== undefined) {
              await writeFile(text);
              snapshot = { ...snapshot, file: text };
            }
          }
          return decideOn(snapshot);
        };
        if (stands) {
          forgetGone(snapshot);
          take(looked!.made);
        } else {
          let made = await decideOnSnapshot();
          // A reload must hold every Server busy right now, and what is known has sessions as last read: read.
          if (onKnown && (made.decision.change.kind === 'reload' || made.decision.change.kind === 'start')) {
            onKnown = false;
            snapshot = await inStage('apply', () => haproxy.snapshot());
            made = await decideOnSnapshot();
          }
          take(made);
        }
        const { change } = decision;
        // (What is known carries sessions as last read: the outcome's backend is read after the lock then.)
        if (change.kind === 'none' && snapshot.running && !onKnown) after = snapshot;
        if (change.kind === 'start' || change.kind === 'reload') {
          await inStage('apply', () => haproxy.install(change.text, snapshot.file, change.kind));
          // What the new worker runs, which event steps then go by (unread: the next sync reads it).
          after = await haproxy.readBack().catch((e: Error) => void logger.debug({ err: e.message }, 'backend not readable right after the start or reload'));
        } else if (change.kind === 'runtime') {
          changes = await inStage('apply', () => haproxy.applySteps(change.plan, renderer.serverOptions, undefined, this.stopping, snapshot));
          if (change.peerPlan) await inStage('apply', () => haproxy.applySteps(change.peerPlan!, renderer.peerServerOptions, PEER_BACKEND));
          if (peering && changes.claimed.length > 0) {
            // Claimed (visible to peers, taking nothing): asked again, then enabled only where no peer holds it.
            const settled = settleClaims(changes.claimed, await this.deps.proxies!.readPeers(peering.asked));
            await inStage('apply', () => haproxy.settleClaims(settled.enable, settled.release, this.stopping));
          }
          // What runs now, computed from the steps HAProxy accepted (as after an event step), so the lock
          // is not held for a read of thousands of Servers; the outcome's backend is read after the lock.
          // Read back when a step was refused, or the peers' backend or claims changed too.
          let ran = haproxy.knownBackend();
          if (ran === undefined) after = ran = await inStage('apply', () => haproxy.readBack());
          if (deferConfigFile) {
            // Rendered when its write's turn comes, after the lock (at thousands of Servers a render
            // is tens of ms): written even when all steps were refused and it says what the file says.
            haproxy.writeConfigSoon(() => fileOf(ran, render));
          } else {
            const text = fileAfterSteps(ran, snapshot.file, render);
            if (text !== undefined) await writeFile(text);
          }
        }
      });
    } catch (e) {
      const { stage, inner } = e instanceof StageError ? e : new StageError('apply', e);
      return this.failed(stage === 'apply' && inner instanceof ConfigValidationError ? 'validate' : stage, inner, elapsed());
    }

    this.failures.recovered('sync recovered');
    const { added, removed } = diffNames(this.state.applied, fleet);
    this.state = afterSuccess(this.state, fleet);
    const health = healthToSet(this.state);
    if (health !== undefined) {
      await this.setHealth(health).then(
        () => logger.info({ health }, `health page: ${health === 'up' ? '200' : '503'}`),
        (e) => logger.warn({ err: (e as Error).message, health }, 'could not set the health page'),
      );
    }
    const backend = await (after ? Promise.resolve(after) : haproxy.backend()).then(
      (b) => backendServers(b.servers, b.sessionsInOldWorkers, fleet),
      (e) => void logger.debug({ err: (e as Error).message }, 'backend state not readable after the sync'),
    );
    const { change, draining, held } = decision;
    const action: SyncAction = change.kind === 'start' ? 'started' : change.kind === 'reload' ? 'reloaded' : change.kind;
    const reason = change.kind === 'start' || change.kind === 'reload' ? change.reason : undefined;
    const fields = {
      servers: fleet.length,
      added,
      removed,
      durationMs: elapsed(),
      action,
      ...(reason !== undefined && { reason }),
      ...(changes && { changes }),
      ...(config.applyMode === 'runtime' && { draining, held }),
      ...(dropHeld && { dropHeld }),
    };
    // A sync that changed something at info; a quiet one at debug, so ten-second ticks do not flood.
    if (action === 'none' && !dropHeld) logger.debug(fields, 'sync: no change');
    else logger.info(fields, `sync: ${action}${reason ? ` (${reason})` : ''}`);
    return { ok: true, ...fields, ...(backend && { backend }) };
  }

  /** An event step's claim: the peers asked (as a sync asks them after its claims); true when none holds it. */
  private async confirmClaim(name: string, self: string): Promise<boolean> {
    const { ask } = peersToAsk(this.state.peers, this.state.proxies, self, this.now());
    return settleClaims([name], await this.deps.proxies!.readPeers(ask)).enable.includes(name);
  }

  /** Several Proxies: who runs, who this Proxy is, and what each peer routes to now. */
  private async askPeers(): Promise<{ input: NonNullable<DecideInput['peering']>; asked: Array<ProxyTask & { live: boolean }> } | undefined> {
    const { proxies: discovery, config } = this.deps;
    if (!discovery || !config.peering) return undefined;
    const { self, proxies } = await discovery.discover();
    const { ask, known } = peersToAsk(this.state.peers, proxies, self, this.now());
    const answers = await discovery.readPeers(ask);
    const listed = proxies ?? this.state.proxies;
    const key = (list: readonly ProxyTask[]) => list.map((p) => `${p.taskArn}@${p.address}`).sort().join(' ');
    if (proxies && key(proxies) !== key(this.state.proxies)) {
      this.deps.logger.info({ self, proxies: proxies.map((p) => ({ task: p.taskArn, address: p.address })) }, `Proxies seen: ${proxies.length}`);
    }
    this.state = { ...this.state, peers: forgetSettledPeers(known, answers), proxies: listed };
    // Unknown (the list unreadable, or without this Proxy): event steps claim nothing, as the sync would not.
    this.ownership = self !== undefined && proxies?.some((p) => p.taskArn === self) ? { self, proxies: proxies.map((p) => p.taskArn) } : undefined;
    const view = { self, proxies: proxies?.map((p) => p.taskArn), peers: answers };
    return { input: { view, peers: peerServers(listed, self, config.peering.peerPort) }, asked: ask };
  }

  /** Counts and logs a failure (first of a kind as an error, then quietly); a failed discovery backs off. */
  private failed(stage: SyncStage, error: unknown, durationMs: number): SyncOutcome {
    const err = error instanceof Error ? error : new Error(String(error));
    const verdict = afterFailure(this.state, stage, err, this.now(), (this.deps.random ?? Math.random)());
    this.state = verdict.state;
    const { code, consecutiveFailures } = verdict;
    const fields = { stage, code, err: err.message, consecutiveFailures, servers: this.state.applied.length, durationMs };
    this.failures.failed(verdict.kind, fields, `sync failed at ${stage}; keeping the running config and the last known-good fleet`);
    return { ok: false, stage, error: err, durationMs, consecutiveFailures, ...(code !== undefined && { code }) };
  }

  /** Without a fleet to go by, HAProxy still has to run: a crashed HAProxy comes back with the last (known-good) config on disk. */
  private async keepHaproxyRunning(): Promise<void> {
    try {
      if (await this.deps.haproxy.startWithLastConfig()) this.deps.logger.warn('haproxy was not running: started it with the last known-good config');
    } catch (e) {
      this.deps.logger.error({ err: (e as Error).message }, 'haproxy is not running and could not be started with the last config');
    }
  }
}

/** The Syncer the daemon and the CLI run: HAProxy through its driver, the configured template and busy check. */
export function createSyncer(
  config: Config,
  logger: Logger,
  discovery: Discovery,
  opts: { driver?: HaproxyClient; now?: () => number; random?: () => number; proxies?: ProxyDiscovery } = {},
): Syncer {
  const { busyCheck } = config;
  return new Syncer({
    config,
    discovery,
    logger,
    haproxy: opts.driver ?? HaproxyDriver.fromConfig(config, logger),
    renderer: new ConfigRenderer(config.haproxyTemplate, renderSettingsFrom(config)),
    ...(busyCheck && { busyCheck: (servers: readonly Server[]) => findBusyServers(servers, busyCheck, logger) }),
    ...(config.peering && { proxies: opts.proxies ?? createProxyDiscovery({ peering: config.peering, logger, ...(config.peering.metadataUri && { metadataUri: config.peering.metadataUri }) }) }),
    ...(opts.now && { now: opts.now }),
    ...(opts.random && { random: opts.random }),
  });
}
