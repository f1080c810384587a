import cron from 'node-cron';
import { startCapacityPublisher, type CapacityPublisher } from './aws/capacity-metrics.js';
import { createTaskProtector } from './aws/task-protection.js';
import type { Config } from './config.js';
import { createDiscovery } from './discovery/index.js';
import { createEcsDiscovery } from './discovery/ecs.js';
import { cacheProxyList, createProxyDiscovery, readOwnTaskArn } from './discovery/proxies.js';
import { createEventDrivenDiscovery, type EventDrivenDiscovery } from './discovery/task-events.js';
import type { Discovery } from './discovery/types.js';
import { HaproxyDriver } from './haproxy/driver.js';
import type { HaproxyProcess } from './haproxy/process.js';
import { maxconnUnderBursts, parseVersion } from './haproxy/version.js';
import type { Logger } from './log.js';
import { Metrics } from './metrics.js';
import { backendServers, summaryOf, taskIdFromArn, type SyncOutcome, type SyncSummary } from './model.js';
import { NO_SOURCE_REFUSALS, sourceRefusalsToLog } from './core/source-limits.js';
import { prepareCertificate } from './haproxy/tls-certificate.js';
import path from 'node:path';
import { youngGcWhenQuiet } from './idle-gc.js';
import { createSyncer, type Syncer } from './sync.js';

export interface Daemon {
  readonly syncer: Syncer;
  readonly driver: HaproxyDriver;
  readonly haproxy: HaproxyProcess;
  readonly metrics: Metrics;
  /** A sync now, outside the schedule, observed like a scheduled one (metrics). */
  syncNow(): Promise<SyncOutcome>;
  /**
   * The first sync's outcome (the daemon keeps running and retrying even when it failed), without the
   * per-Server backend list: this promise lives as long as the daemon.
   */
  readonly firstSync: Promise<SyncSummary>;
  /** Stops syncing; with `stopHaproxy`, lets live streams finish for up to the grace period, then stops HAProxy. */
  stop(opts?: { stopHaproxy?: boolean }): Promise<void>;
  /** With EVENTS_TOPIC_ARN / EVENTS_QUEUE_URL: the ECS task events feeding the fleet. */
  readonly events?: EventDrivenDiscovery;
  /** With CAPACITY_METRICS=on: the CloudWatch publisher. */
  readonly capacity?: CapacityPublisher;
}

/** Syncs once now, then on SYNC_SCHEDULE; node-cron skips a tick while a sync still runs. */
export function startDaemon(given: Config, logger: Logger, listing: Discovery = createDiscovery(given, logger)): Daemon {
  const config = withCheckedCertificate(given, logger);
  const driver = HaproxyDriver.fromConfig(config, logger);
  let syncSoon = (): void => undefined;
  const quiet = youngGcWhenQuiet();
  let metrics: Metrics | undefined;
  // With events, the Proxy list too is read only when a Proxy's task changes (or at the full listing).
  let proxies: ReturnType<typeof cacheProxyList> | undefined;
  const events = config.events && createEvents(config, logger, listing, {
    onChange: (effect) =>
      // A stopping Server leaves rotation, a new one joins, with one Runtime API command each when
      // that is all it takes (core/event-step.ts), and the file follows in the background. A sync
      // follows at once only when the step left something to do: at thousands of Servers a sync is
      // 100s of ms of CPU and holds the driver's lock, so one per event would delay the next event's
      // step (a deployment's events come a few ms apart). The scheduled sync checks everything anyway.
      syncer.applyEvent(effect).then(
        (step) => {
          if (!step.settled) syncSoon();
          void driver.configWritten().then(quiet);
        },
        (e: Error) => {
          logger.warn({ server: effect.server.name, err: e.message }, 'ECS task event not applied at once; the sync that follows does it');
          syncSoon();
        },
      ),
    onPeerChange: () => {
      proxies?.invalidate();
      syncSoon();
    },
    onEffect: (effect) => metrics?.observeTaskEvent(effect),
    onStatus: (up) => metrics?.setEventsUp(up),
  });
  if (events && config.peering) {
    const { peering } = config;
    const fullSyncMs = config.events!.fullSyncIntervalSeconds * 1000;
    proxies = cacheProxyList(
      createProxyDiscovery({ peering, logger, ...(peering.metadataUri && { metadataUri: peering.metadataUri }) }),
      () => (events.eventsUp ? fullSyncMs : 0),
    );
  }
  const discovery = events ?? listing;
  const syncer = createSyncer(config, logger, discovery, { driver, ...(proxies && { proxies }) });
  const protector = config.taskProtection
    ? createTaskProtector({ cluster: config.ecsCluster!, minutes: config.protectionMinutes, logger })
    : undefined;
  const backend = async () => {
    const { servers, sessionsInOldWorkers } = await driver.backend();
    return backendServers(servers, sessionsInOldWorkers, syncer.lastKnownGood);
  };
  const peers = config.peering ? async () => (await driver.backend()).peers ?? [] : undefined;
  metrics = new Metrics({ backend, ...(peers && { peers }), refusals: () => driver.frontendRefusals(), configPath: config.haproxyConfig, logger, ...(events && { events: true }) });
  const sourceLimits = config.sourceMaxStreams !== undefined || config.sourceMaxConnectRate !== undefined ? watchSourceRefusals(config, driver, logger) : undefined;
  /** The last successful sync's holds: the capacity figures leave out what a peer owns. */
  let lastHeld: NonNullable<Extract<SyncOutcome, { ok: true }>['held']> = [];
  /** Every sync's outcome goes to the metrics (awaited: a scrape after a sync sees it) and the protector. */
  const observed = async (outcome: SyncOutcome) => {
    void driver.configWritten().then(quiet);
    if (outcome.ok) lastHeld = outcome.held ?? [];
    await metrics.observeSync(outcome).catch((e) => logger.debug({ err: (e as Error).message }, 'metrics not updated'));
    // Not awaited: under throttling a protection call may take seconds; it never throws.
    if (outcome.ok && protector) void protector.update(outcome.backend);
    return outcome;
  };
  const syncAndObserve = async () => observed(await syncer.sync());
  // CAPACITY_METRICS: this Proxy's share of the fleet's capacity, on a timer of its own.
  const capacity =
    config.capacityMetrics &&
    startCapacityPublisher({
      ...config.capacityMetrics,
      readBackend: backend,
      readCounters: () => driver.backendCounters(),
      held: () => lastHeld,
      logger,
    });
  // An event that changed the fleet: a sync as soon as the one running (if any) is done, since that
  // one discovered before the event; events arriving meanwhile share the next sync.
  let eventSync: Promise<void> | undefined;
  let syncAgain = false;
  let accepting = true;
  syncSoon = () => {
    if (!accepting) return;
    if (eventSync) {
      syncAgain = true;
      return;
    }
    eventSync = (async () => {
      do {
        syncAgain = false;
        await syncer.whenIdle();
        await observed(await syncer.sync({ deferConfigFile: true }));
      } while (syncAgain && accepting);
    })()
      .catch((e) => logger.error({ err: (e as Error).message }, 'sync after an ECS task event failed'))
      .finally(() => (eventSync = undefined));
  };
  // Until this daemon's first successful sync the health page answers 503 (the Syncer turns it to 200).
  const firstSync = syncer
    .setHealth('down')
    .catch((e) => logger.warn({ err: (e as Error).message }, 'could not set the health page to 503 before the first sync'))
    .then(syncAndObserve)
    .then(summaryOf)
    .finally(() => void events?.start());
  const metricsServer =
    config.metricsPort === undefined
      ? Promise.resolve(undefined)
      : metrics.serve(config.bindAddress, config.metricsPort).then(
          (s) => {
            logger.info({ url: s.url }, 'metrics served');
            return s;
          },
          (e) => {
            logger.error({ err: (e as Error).message, variable: 'METRICS_PORT', port: config.metricsPort }, 'metrics server could not listen; running without metrics');
            return undefined;
          },
        );
  // A scheduled sync looks without the driver's lock first (most change nothing), and its runtime
  // changes are live once HAProxy took them, their file written and checked in the background
  // (`haproxy -c` of thousands of Servers takes 100s of ms): an ECS task event's step does not wait
  // behind the lock for either. The tick returns nothing: node-cron keeps a tick's result until the
  // next one (at 5,000 Servers, the backend of each).
  const task = cron.schedule(
    config.syncSchedule,
    async () => {
      await observed(await syncer.sync({ deferConfigFile: true, lookFirst: true }));
    },
    { noOverlap: true, name: 'sync' },
  );
  task.on('execution:overlap', () => logger.warn('previous sync still running; skipping this tick'));
  logger.info({ schedule: config.syncSchedule, discovery: config.discovery, applyMode: config.applyMode }, 'rtmp-proxy started');
  void warnOnAffectedVersion(driver.process, logger);

  let stopping: Promise<void> | undefined;
  const stop = (opts: { stopHaproxy?: boolean } = {}) =>
    (stopping ??= (async () => {
      const deadline = Date.now() + config.shutdownGraceSeconds * 1000;
      // Protection of streams still flowing is left to run out, not lifted.
      protector?.shutdown();
      if (opts.stopHaproxy) {
        // First, so Route53 stops sending streamers here while the live ones go on.
        await syncer.holdHealthDown().then(
          () => logger.info('shutting down: the health page answers 503'),
          (e) => logger.warn({ err: (e as Error).message }, 'shutting down: could not turn the health page to 503'),
        );
      }
      await task.stop();
      await task.destroy();
      capacity?.stop();
      sourceLimits?.stop();
      accepting = false;
      await events?.stop();
      await firstSync.catch(() => undefined);
      await eventSync;
      await syncer.whenIdle();
      await driver.configWritten();
      if (opts.stopHaproxy && config.peering) {
        // Several Proxies: this one's Servers leave rotation at once (live streams go on) so the peers
        // take them over as they become idle; a streamer that still arrives is forwarded to a peer.
        await driver.disableAll().then(
          () => logger.info('shutting down: every Server out of rotation here, handed over to the peers'),
          (e) => logger.warn({ err: (e as Error).message }, 'shutting down: could not take the Servers out of rotation'),
        );
      }
      if (opts.stopHaproxy) {
        const live = await driver.waitForStreamsToEnd(deadline);
        if (live > 0) logger.warn({ streams: live, graceSeconds: config.shutdownGraceSeconds }, 'streams outlasted SHUTDOWN_GRACE_SECONDS: stopping HAProxy cuts them');
        driver.closeSession();
        await driver.process.stop({ graceMs: Math.max(0, deadline - Date.now()) });
      }
      driver.closeSession();
      await (await metricsServer)?.close();
      logger.info('rtmp-proxy stopped');
    })());
  return { syncer, driver, haproxy: driver.process, metrics, firstSync, stop, syncNow: syncAndObserve, ...(events && { events }), ...(capacity && { capacity }) };
}

/**
 * RTMPS: the certificate checked (present, a key that matches, in its validity period) and, from
 * RTMPS_CERT, written beside the admin socket. A bad one is an error naming the setting, and the
 * Proxy goes on with plain RTMP alone rather than not at all.
 */
export function withCheckedCertificate(config: Config, logger: Logger): Config {
  if (config.rtmps === undefined) return config;
  const { rtmps, ...rest } = config;
  const prepared = prepareCertificate(
    { ...(rtmps.certFile !== undefined && { file: rtmps.certFile }), ...(rtmps.certPem !== undefined && { pem: rtmps.certPem }) },
    path.join(path.dirname(config.haproxySocket), 'rtmps.pem'),
  );
  if ('problem' in prepared) {
    logger.error({ variable: prepared.variable, port: rtmps.port }, `RTMPS off: ${prepared.problem}; plain RTMP goes on`);
    return rest;
  }
  logger.info({ port: rtmps.port }, 'RTMPS on: TLS ends in HAProxy, the Servers get plain RTMP');
  return { ...rest, rtmps: { port: rtmps.port, certFile: prepared.file } };
}

/** Every 10 s, the sources the per-source limits refused, logged at most once per source per minute. */
function watchSourceRefusals(config: Config, driver: HaproxyDriver, logger: Logger): { stop(): void } {
  let state = NO_SOURCE_REFUSALS;
  const limits = { SOURCE_MAX_STREAMS: config.sourceMaxStreams ?? 'off', SOURCE_MAX_CONNECT_RATE: config.sourceMaxConnectRate ?? 'off' };
  const timer = setInterval(() => {
    driver.sourceRefusals().then(
      (counts) => {
        const result = sourceRefusalsToLog(state, counts, Date.now());
        state = result.state;
        for (const { source, refused } of result.log) logger.warn({ source, refused, ...limits }, 'connections from one source refused by its limits');
      },
      (e: Error) => logger.debug({ err: e.message }, 'could not read the per-source table'),
    );
  }, 10_000);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}

/** ECS task events feeding the fleet; the full listing becomes the periodic safety net. */
function createEvents(
  config: Config,
  logger: Logger,
  listing: Discovery,
  hooks: Pick<Parameters<typeof createEventDrivenDiscovery>[0], 'onChange' | 'onPeerChange' | 'onEffect' | 'onStatus'>,
): EventDrivenDiscovery {
  const events = config.events!;
  let self = events.taskArn;
  const selfTaskArn = async () => (self ??= events.metadataUri === undefined ? undefined : await readOwnTaskArn(events.metadataUri));
  // The Proxies still running, whose queues stay: the Proxy service's tasks (several Proxies only).
  const proxies = config.peering && createEcsDiscovery({ cluster: config.peering.cluster, service: config.peering.service, serverPort: config.peering.peerPort, addressMode: 'private', logger });
  const liveProxyTaskIds = proxies && (async () => new Set((await proxies.discover()).servers.flatMap((s) => (s.taskArn ? [taskIdFromArn(s.taskArn)!] : []))));
  logger.info({ topic: events.topicArn, queue: events.queueUrl, fullSyncIntervalSeconds: events.fullSyncIntervalSeconds }, 'ECS task events on: changes apply as they arrive, the full listing is the safety net');
  return createEventDrivenDiscovery({
    scope: { cluster: config.ecsCluster!, ...(config.ecsService !== undefined && { service: config.ecsService }), serverPort: config.serverPort, addressMode: config.serverAddress, requireHealthy: config.serverRequireHealthy },
    source: events.topicArn !== undefined
      ? { kind: 'topic', topicArn: events.topicArn, queuePrefix: events.queuePrefix, selfTaskArn, ...(liveProxyTaskIds && { liveProxyTaskIds }) }
      : { kind: 'queue', queueUrl: events.queueUrl! },
    listing,
    ...(config.peering && { peerScope: { cluster: config.peering.cluster, service: config.peering.service } }),
    fullSyncIntervalMs: events.fullSyncIntervalSeconds * 1000,
    logger,
    ...hooks,
  });
}

/** Says once, at start-up, when this HAProxy cannot keep maxconn 1 under bursts. */
async function warnOnAffectedVersion(haproxy: HaproxyProcess, logger: Logger): Promise<void> {
  const text = await haproxy.version().catch(() => undefined);
  const version = text === undefined ? undefined : parseVersion(text);
  if (version === undefined) return; // a missing binary is reported by the first sync
  const verdict = maxconnUnderBursts(version);
  if (verdict.holds) logger.info({ haproxyVersion: version.text }, 'haproxy version');
  else logger.warn({ haproxyVersion: version.text, fixedIn: verdict.fixedIn }, verdict.reason);
}
